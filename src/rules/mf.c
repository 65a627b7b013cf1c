/* mf.c — Mono-Forward (Gong, Li, Abdulla; paper 003, Algorithm 1, eqs. 5–8).
 *
 * Every hidden layer i has a projection M_i (C, n_i), no bias.  Its goodness
 *     G_i = a_i M_i^T                    (eq. 5)     (B, C)
 * feeds a local softmax cross-entropy L_i (eq. 6).  W_i, b_i (eq. 7) and M_i
 * (eq. 8) are updated from L_i alone, as soon as layer i's forward is done;
 * a_i — computed before the update, as Algorithm 1 line 10 passes it — then
 * goes to layer i+1.  No gradient crosses layers, so only one layer's input
 * and output are alive at a time: memory does not grow with depth.
 *
 * There is no separate output layer: the last layer's M is the classifier.
 * The raw input has no projection of its own (003 does not say; bpfree's
 * choice).  Prediction: FF = sum of all G_i ("FF pred"), BP = last G only. */
#include "rules/rules.h"

#include <stdio.h>
#include <string.h>

typedef struct mf_state {
    bp_work w; /* a ping-pong, d = dL/da, z = G, dz = dL/dG */
    int M[BPFREE_MAX_LAYERS];
} mf_state;

static void mf_defaults(bpfree_config *c) { (void)c; }

static int mf_n_heads(const bpfree_model *m) { return m->cfg.n_hidden; }

static bpfree_status mf_reserve(bpfree_model *m, bpfree_error *err) {
    mf_state *s = m->rs;
    return bp_layer_mats_reserve(m, "M", m->cfg.n_hidden, 1, s->M, err); /* M_i (C, n_i) */
}

static bpfree_status mf_init(bpfree_model *m, bpfree_error *err) {
    mf_state *s = m->rs;
    bp_layer_mats_init(m, s->M, m->cfg.n_hidden, m->cfg.init); /* like a layer n_i -> C */
    (void)err;
    bp_work_reserve(m, &s->w);
    return BPFREE_OK;
}

/* G (B, C) = a (B, n) M^T, M (C, n)   (eq. 5) */
static void goodness(const float *a, const float *M, int B, int n, int C, float *G) {
    bpfree_gemm(0, 1, B, C, n, 1.0f, a, n, M, n, 0.0f, G, C);
}

static void add_into(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* Algorithm 1, lines 4-10, for layer i on one batch: a = f(in W^T + b), its
 * goodness and local loss, W_i, b_i, M_i stepped with `opt`.  Adds G into
 * scores if given; leaves G in w->z; returns the layer's loss. */
static double mf_layer(bpfree_model *m, const bp_optim *opt, bp_work *w, int i, const float *in,
                       float *a, const float *y, int B, float *scores) {
    mf_state *s = m->rs;
    const bp_layer *L = &m->layers[i];
    const int n = L->out, C = m->cfg.outputs;
    const float *M = bp_tensor_ptr(m, s->M[i]);
    bp_layer_forward(L, in, a, B);                           /* lines 4–5 */
    goodness(a, M, B, n, C, w->z);                           /* line 6, eq. 5 */
    if (scores) add_into(scores, w->z, (size_t)B * C);
    const double li = bp_loss(m->cfg.loss, w->z, y, B, C, w->dz); /* line 7, eq. 6 */
    /* eq. 8: dL/dM (C, n) = dG^T a */
    bpfree_gemm(1, 0, C, n, B, 1.0f, w->dz, C, a, n, 0.0f, bp_tensor_grad(m, s->M[i]), n);
    /* eq. 7: dL/da (B, n) = dG M, then through f' into W_i, b_i */
    bpfree_gemm(0, 0, B, n, C, 1.0f, w->dz, C, M, n, 0.0f, w->d, n);
    bp_layer_backward_step_with(m, i, in, a, w->d, B, opt); /* through f', line 8 */
    bp_step_range(m, opt, m->tensors[s->M[i]].off, m->tensors[s->M[i]].n); /* line 9 */
    return li;
}

static bpfree_status mf_train(bpfree_model *m, int B, double *loss, long *correct) {
    mf_state *s = m->rs;
    const int C = m->cfg.outputs, nl = m->n_layers;
    const size_t BC = (size_t)B * C;
    /* greedy schedule: layers before `active` are frozen, later ones idle */
    const int active = m->cfg.greedy_epochs > 0 ? m->epochs_done / m->cfg.greedy_epochs : -1;
    const int last = active >= 0 ? (active < nl ? active : nl - 1) : nl - 1;
    const int ff = m->cfg.predict == BPFREE_PREDICT_FF && active < 0;
    const float *in = m->xb;
    double li = 0.0;
    if (ff) memset(m->scores, 0, BC * sizeof(float));
    for (int i = 0; i <= last; i++) {
        float *a = s->w.a[i % 2];
        if (active >= 0 && i < active) bp_layer_forward(&m->layers[i], in, a, B); /* frozen */
        else li = mf_layer(m, &m->optim, &s->w, i, in, a, m->yb, B, ff ? m->scores : NULL);
        in = a;                                              /* line 10 */
    }
    *loss += li;
    *correct += bp_count_correct(ff ? m->scores : s->w.z, m->lb, B, C);
    return BPFREE_OK;
}

/* --pipeline: layer i on one batch (src/core/pipeline.c); the last layer
 * reports the batch's loss and prediction, as mf_train does. */
static void mf_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                          float *out, bp_pipe_batch *b) {
    const int ff = m->cfg.predict == BPFREE_PREDICT_FF;
    const double li = mf_layer(m, o, w, i, in, out, b->y, b->rows, ff ? b->scores : NULL);
    if (i == m->n_layers - 1) {
        b->loss = li;
        b->correct = bp_count_correct(ff ? b->scores : w->z, b->lb, b->rows, m->cfg.outputs);
    }
}

static void mf_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    mf_state *s = m->rs;
    const int C = m->cfg.outputs, nl = m->n_layers;
    const size_t BC = (size_t)B * C;
    const float *in = x;
    memset(scores, 0, BC * sizeof(float));
    for (int i = 0; i < nl; i++) {
        const bp_layer *L = &m->layers[i];
        float *a = s->w.a[i % 2];
        /* heads are laid out (n_heads, m->rows, C) */
        float *G = heads ? heads + (size_t)i * m->rows * C : s->w.z;
        bp_layer_forward(L, in, a, B);
        goodness(a, bp_tensor_ptr(m, s->M[i]), B, L->out, C, G);
        if (m->cfg.predict == BPFREE_PREDICT_FF) add_into(scores, G, BC);
        else if (i == nl - 1) memcpy(scores, G, BC * sizeof(float));
        in = a;
    }
}

/* --predict: FF = the sum of every layer's goodness, BP = the last layer's */
const char *bpfree_predict_name(bpfree_predict_mode p) {
    return p == BPFREE_PREDICT_FF ? "ff" : p == BPFREE_PREDICT_BP ? "bp" : "?";
}

int bpfree_predict_parse(const char *s) {
    return !s ? -1 : !strcmp(s, "ff") ? BPFREE_PREDICT_FF : !strcmp(s, "bp") ? BPFREE_PREDICT_BP : -1;
}

static const char *predict_n(int v) { return bpfree_predict_name((bpfree_predict_mode)v); }

static const bp_setting mf_settings[] = {
    BP_ROW_NAME("predict", "predict", "prediction: ff (sum of every layer's goodness) or bp (the "
                "last layer's)", "ff", predict, 0, 0, predict_n, bpfree_predict_parse),
};

static const char *mf_prediction(const bpfree_config *c) { return bpfree_predict_name(c->predict); }

const bp_rule bp_rule_mf = {
    .info = {.name = "mf",
             .title = "Mono-Forward",
             .paper = "Gong, Li, Abdulla 2025, Algorithm 1, eqs. 5-8",
             .output_layer = 0,
             .weight_transport = "no",
             .frozen_activities = "no",
             .locality = "single-layer",
             .update_locking = "none"},
    .defaults = mf_defaults,
    .reserve = mf_reserve,
    .init = mf_init,
    .train_batch = mf_train,
    .pipe_layer = mf_pipe_layer,
    .predict = mf_predict,
    .n_heads = mf_n_heads,
    .caps = BP_CAP_GREEDY | BP_CAP_ANY_LAYER | BP_CAP_LAYERWISE,
    .settings = mf_settings,
    .n_settings = (int)(sizeof mf_settings / sizeof *mf_settings),
    .prediction = mf_prediction,
    .state_size = sizeof(mf_state),
};
