/* tinyfoa.c — TinyFoA, memory-efficient forward-only learning (Huang and
 * Aminifar, AAAI 2025; survey 000 §III-J).
 *
 * Every hidden layer l has a fixed random auxiliary classifier B_l (C, n_l)
 * and learns from its own local loss L_CE(B_l h_l, y), as soon as its own
 * forward is done (layer l+1 gets h_l from before the update):
 *     e_l = dL_CE/d(h_l B_l^T) = (softmax(h_l B_l^T) - y) / B    (B, C)
 *     delta_h_l = e_l B_l                                          (B, n_l)
 * and, per slice, 000 §III-J's
 *     grad W_l^(i,j) = (B_l^(j))^T e_l  ⊗  h_{l-1}^(i)
 * i.e. the signal e_l B_l^(j) at output slice j (through f') times input
 * slice i.  The slices partition W_l: computed and stepped one output slice
 * j at a time (the unit ranges of bp_layer_grad_units, all input slices i of
 * it in one product), they give the numbers of the unsliced update (tested)
 * while only one slice's gradient is being written.  (In bpfree the gradient
 * block is allocated for the whole model when it is built, so the slices
 * change the order of work, not the counted peak; see README.)  Update
 * unlocked, so --pipeline runs layer l on batch k+1 while l+1 is on batch k.
 * The output layer trains on its true gradient (its own CE).
 *
 * --tinyfoa-binary: the forward pass uses W_l^b = (1/n) sum_i |W_l^i| ·
 * Sign(W_l) (000 §III-J, one scale per layer); the update goes to the real
 * W_l (straight-through).  The binarised copy lives in one workspace. */
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct tinyfoa_state {
    bp_work w;                 /* a ping-pong, d = delta_h, z = logits, dz = e */
    float *wb;                 /* binarised weights of one layer, or unused */
    int fb[BPFREE_MAX_LAYERS]; /* B_l (C, n_l), fixed */
} tinyfoa_state;

static bpfree_status tinyfoa_reserve(bpfree_model *m, bpfree_error *err) {
    tinyfoa_state *s = m->rs;
    return bp_feedback_reserve(m, s->fb, err);
}

static size_t max_weights(const bpfree_model *m) {
    size_t n = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (bp_layer_n_weights(&m->layers[l]) > n) n = bp_layer_n_weights(&m->layers[l]);
    return n;
}

static bpfree_status tinyfoa_init(bpfree_model *m, bpfree_error *err) {
    tinyfoa_state *s = m->rs;
    (void)err;
    bp_feedback_init(m, s->fb);
    bp_work_reserve(m, &s->w);
    if (m->cfg.tinyfoa_binary) bp_scratch(m, &s->wb, max_weights(m));
    return BPFREE_OK;
}

/* Layer l as the forward pass sees it: itself, or (binary) a copy whose W is
 * alpha Sign(W), alpha = mean |W| (000 §III-J), written into wb. */
static const bp_layer *forward_view(const bpfree_model *m, int l, bp_layer *tmp, float *wb) {
    const bp_layer *L = &m->layers[l];
    if (!m->cfg.tinyfoa_binary) return L;
    const size_t n = bp_layer_n_weights(L);
    double a = 0.0;
    for (size_t i = 0; i < n; i++) a += fabsf(L->W[i]);
    const float alpha = (float)(a / (double)n);
    for (size_t i = 0; i < n; i++) wb[i] = L->W[i] > 0.0f ? alpha : L->W[i] < 0.0f ? -alpha : 0.0f;
    *tmp = *L;
    tmp->W = wb;
    return tmp;
}

/* The update of layer l from the signal dh (B, out) at its output, in N_s
 * output slices, each computed and stepped (optimizer clock o) before the
 * next. */
static void slice_update(bpfree_model *m, const bp_optim *o, int l, const float *x,
                         const float *h, float *dh, int B) {
    const bp_layer *L = &m->layers[l];
    const int U = L->units;
    const int ns = m->cfg.tinyfoa_slices < U ? m->cfg.tinyfoa_slices : U;
    if (ns <= 1) {
        bp_layer_backward_step_with(m, l, x, h, dh, B, o);
        return;
    }
    float *dz = bp_layer_dz(L, dh);
    const size_t uw = L->unit_w, nw = bp_layer_n_weights(L);
    for (int j = 0; j < ns; j++) {
        const size_t a = (size_t)U * j / ns, b = (size_t)U * (j + 1) / ns;
        L->kind->output_grad(L, h, dh, dz, B, a, b); /* slice j: delta ⊙ f' */
        bp_layer_grad_units(L, x, dz, B, a, b, 0.0f);
        bp_step_range(m, o, L->off + a * uw, (b - a) * uw);
        bp_step_range(m, o, L->off + nw + a, b - a);
    }
}

/* Layer i on one batch (sequential, or a pipeline stage with its own clock
 * o and scratch w): a hidden layer learns from its fixed classifier's CE at
 * once and `out` (from before the update) goes on; the output layer from its
 * own CE, setting b->loss and b->correct. */
static void tinyfoa_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                          float *out, bp_pipe_batch *b) {
    const tinyfoa_state *s = m->rs;
    const int C = m->cfg.outputs, B = b->rows, n = m->layers[i].out;
    bp_layer tmp;
    const bp_layer *view = forward_view(m, i, &tmp, w->rs ? w->rs : s->wb);
    if (i == m->n_layers - 1) {
        bp_layer_forward(view, in, w->z, B);
        b->correct = bp_count_correct(w->z, b->lb, B, C);
        b->loss = bp_loss(m->cfg.loss, w->z, b->y, B, C, w->dz);
        slice_update(m, o, i, in, w->z, w->dz, B);
        return;
    }
    bp_layer_forward(view, in, out, B);
    const float *Bl = bp_tensor_ptr(m, s->fb[i]);
    bpfree_gemm(0, 1, B, C, n, 1.0f, out, n, Bl, n, 0.0f, w->z, C); /* B_l h_l */
    bp_loss(m->cfg.loss, w->z, b->y, B, C, w->dz);                  /* its local CE */
    bp_feedback_signal(m, s->fb, i, 1.0f, w->dz, B, w->d);          /* e_l B_l */
    slice_update(m, o, i, in, out, w->d, B);
}

static bpfree_status tinyfoa_train(bpfree_model *m, int B, double *loss, long *correct) {
    tinyfoa_state *s = m->rs;
    bp_pipe_batch b = {.rows = B, .y = m->yb, .lb = m->lb, .ib = m->ib};
    const float *in = m->xb;
    for (int i = 0; i < m->n_layers; i++) {
        float *a = s->w.a[i % 2];
        tinyfoa_layer(m, &m->optim, &s->w, i, in, a, &b);
        in = a;
    }
    *loss += b.loss;
    *correct += b.correct;
    return BPFREE_OK;
}

/* --pipeline: a stage's scratch holds its own binarised copy */
static void tinyfoa_pipe_need(const bpfree_model *m, bp_pipe_need *n) {
    n->scratch = m->cfg.tinyfoa_binary ? max_weights(m) : 0;
}

static void tinyfoa_predict(bpfree_model *m, const float *x, int B, float *scores,
                            float *heads) {
    tinyfoa_state *s = m->rs;
    const float *in = x;
    bp_layer tmp;
    (void)heads;
    for (int l = 0; l < m->n_layers; l++) {
        float *o = l == m->n_layers - 1 ? scores : s->w.a[l % 2];
        bp_layer_forward(forward_view(m, l, &tmp, s->wb), in, o, B);
        in = o;
    }
}

static void tinyfoa_describe(const bpfree_model *m, char *buf, size_t cap) {
    snprintf(buf, cap, "TinyFoA: fixed random classifier per hidden layer, %d slice%s per layer%s",
             m->cfg.tinyfoa_slices, m->cfg.tinyfoa_slices == 1 ? "" : "s",
             m->cfg.tinyfoa_binary ? ", binarised forward weights" : "");
}

static const bp_setting tinyfoa_settings[] = {
    BP_ROW_NUM("tinyfoa-slices", NULL, "N",
               "N_s output slices per layer, each computed and stepped in turn", "4",
               BP_SET_INT, tinyfoa_slices, 1, 1 << 20, 0, 0),
    BP_ROW_NUM("tinyfoa-binary", "tinyfoa_binary", NULL,
               "forward with binarised weights mean|W| Sign(W) (straight-through)", "0",
               BP_SET_FLAG, tinyfoa_binary, 0, 1, 0, 0),
};

const bp_rule bp_rule_tinyfoa = {
    .info = {.name = "tinyfoa",
             .title = "TinyFoA",
             .paper = "Huang & Aminifar 2025; survey Huang et al. 2025 §III-J",
             .output_layer = 1,
             .weight_transport = "no",       /* 000 Table I: fixed random matrices */
             .frozen_activities = "no",      /* non-frozen, Fig. 8 (b.2) */
             .locality = "single-layer",
             .update_locking = "none"},      /* update unlocking, Fig. 10 (c) */
    .reserve = tinyfoa_reserve,
    .init = tinyfoa_init,
    .train_batch = tinyfoa_train,
    .pipe_layer = tinyfoa_layer,
    .pipe_need = tinyfoa_pipe_need,
    .predict = tinyfoa_predict,
    .describe = tinyfoa_describe,
    .state_size = sizeof(tinyfoa_state),
    .caps = BP_CAP_FEEDBACK | BP_CAP_VARIANCE | BP_CAP_ANY_LAYER | BP_CAP_LAYERWISE | BP_CAP_NO_BN,
    .settings = tinyfoa_settings,
    .n_settings = (int)(sizeof tinyfoa_settings / sizeof *tinyfoa_settings),
};
