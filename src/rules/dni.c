/* dni.c — decoupled neural interfaces with synthetic gradients (Jaderberg
 * et al. 2017; survey 000 §III-E).
 *
 * Every hidden layer l has a synthetic-gradient module M_{l+1} that predicts
 * the gradient at its output from what the layer sent (and, cDNI, the label):
 *     grad^h_l = M_{l+1}(h_l, c)                          (000 §III-E)
 * and the layer updates from the prediction at once, before the next layer
 * runs:  grad W_l = (grad^h_l ⊙ f'(z_l)) ⊗ h_{l-1}.  The module learns by
 * ||grad^h_l - grad h_l||^2 once layer l+1 has its own signal dz_{l+1}
 * (synthetic, or the true output error for the last hidden layer) and sends
 * it back through its weights:  grad h_l = dz_{l+1} W_{l+1}^T — the
 * bootstrapped target of the paper (Fig. 2), so only layers l and l+1 are
 * alive at a time.  The output layer trains on its true gradient.
 *
 * The modules predict the per-sample gradient (B times the batch-mean
 * gradient the layers use), so their scale does not depend on the batch.
 * A module is linear (dni_hidden = 0) or has one ReLU layer of dni_hidden
 * units; its last layer starts at zero (the paper), so every hidden layer
 * first gets no signal.  dni_cond feeds [h_l, y] (cDNI).  --pipeline runs
 * layer l on batch k+1 while layer l+1 is on batch k (see dni_layer for how
 * module l, trained in layer l+1's stage, is handed back). */
#include "rules/rules.h"

#include <stdio.h>
#include <string.h>

typedef struct dni_state {
    bp_work w;                       /* sequential: a[2] layer outputs, d a layer's signal */
    float *t;                        /* (B, max width) a module's target (sequential) */
    float *dhid;                     /* (B, dni_hidden) (sequential) */
    float *u[BPFREE_MAX_LAYERS];     /* module l's input [h_l, y] (cond only) */
    float *hid[BPFREE_MAX_LAYERS];   /* module l's hidden activity */
    float *pred[BPFREE_MAX_LAYERS];  /* module l's prediction (B, n_l) */
    int to[BPFREE_MAX_LAYERS];       /* module l's output layer (tensor) */
    int th[BPFREE_MAX_LAYERS];       /* module l's hidden layer (tensor) */
} dni_state;

static int module_in(const bpfree_model *m, int l) {
    return m->layers[l].out + (m->cfg.dni_cond ? m->cfg.outputs : 0);
}

static bpfree_status dni_reserve(bpfree_model *m, bpfree_error *err) {
    dni_state *s = m->rs;
    const int H = m->cfg.dni_hidden;
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        char name[32];
        const int n = m->layers[l].out, in = module_in(m, l);
        snprintf(name, sizeof name, "SG%d", l + 1);
        s->to[l] = bp_aux_reserve(m, name, H ? H : in, n);
        snprintf(name, sizeof name, "SGH%d", l + 1);
        s->th[l] = H ? bp_aux_reserve(m, name, in, H) : 0;
        if (s->to[l] < 0 || s->th[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

static bpfree_status dni_init(bpfree_model *m, bpfree_error *err) {
    dni_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m);
    const int H = m->cfg.dni_hidden;
    (void)err;
    for (int l = 0; l < m->cfg.n_hidden; l++) { /* the output layers stay zero */
        bp_layer Lh;
        if (!H) continue;
        bp_aux_layer(m, s->th[l], module_in(m, l), H, BPFREE_ACT_RELU, &Lh);
        bp_aux_init(m, &Lh, m->cfg.init);
    }
    bp_work_reserve(m, &s->w);
    bp_scratch(m, &s->t, B * W);
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        if (m->cfg.dni_cond) bp_scratch(m, &s->u[l], B * module_in(m, l));
        if (H) bp_scratch(m, &s->hid[l], B * H);
        bp_scratch(m, &s->pred[l], B * m->layers[l].out);
    }
    if (H) bp_scratch(m, &s->dhid, B * H);
    return BPFREE_OK;
}

/* module l's layers (Lh unused when linear) */
static void module_layers(const bpfree_model *m, int l, bp_layer *Lh, bp_layer *Lo) {
    const dni_state *s = m->rs;
    const int H = m->cfg.dni_hidden, in = module_in(m, l);
    if (H) bp_aux_layer(m, s->th[l], in, H, BPFREE_ACT_RELU, Lh);
    bp_aux_layer(m, s->to[l], H ? H : in, m->layers[l].out, BPFREE_ACT_IDENTITY, Lo);
}

/* pred[l] (B, n_l) = M_{l+1}(h_l, y): the per-sample synthetic gradient */
static void module_forward(bpfree_model *m, int l, const float *h, const float *y, int B) {
    dni_state *s = m->rs;
    const int n = m->layers[l].out, C = m->cfg.outputs;
    bp_layer Lh, Lo;
    module_layers(m, l, &Lh, &Lo);
    const float *u = h;
    if (m->cfg.dni_cond) { /* [h_l, y] */
        for (int r = 0; r < B; r++) {
            memcpy(s->u[l] + (size_t)r * (n + C), h + (size_t)r * n, (size_t)n * sizeof(float));
            memcpy(s->u[l] + (size_t)r * (n + C) + n, y + (size_t)r * C,
                   (size_t)C * sizeof(float));
        }
        u = s->u[l];
    }
    if (m->cfg.dni_hidden) {
        bp_layer_forward(&Lh, u, s->hid[l], B);
        u = s->hid[l];
    }
    bp_layer_forward(&Lo, u, s->pred[l], B);
}

/* Module l steps on ||pred - t||^2 / (2B) with clock o; h = its layer's
 * output, dhid (B, dni_hidden) scratch; t is overwritten. */
static void module_train(bpfree_model *m, const bp_optim *o, int l, const float *h, float *t,
                         float *dhid, int B) {
    dni_state *s = m->rs;
    const int n = m->layers[l].out;
    const float *u = m->cfg.dni_cond ? s->u[l] : h;
    bp_layer Lh, Lo;
    module_layers(m, l, &Lh, &Lo);
    float *d = t; /* d = (pred - t) / B, in place of t */
    for (size_t i = 0; i < (size_t)B * n; i++) d[i] = (s->pred[l][i] - d[i]) / (float)B;
    if (!m->cfg.dni_hidden) {
        bp_aux_backward_step_with(m, o, s->to[l], &Lo, u, s->pred[l], d, B);
        return;
    }
    bp_layer_input_grad(&Lo, NULL, d, dhid, B); /* through the output layer, before its step */
    bp_aux_backward_step_with(m, o, s->to[l], &Lo, s->hid[l], s->pred[l], d, B);
    bp_aux_backward_step_with(m, o, s->th[l], &Lh, u, s->hid[l], dhid, B);
}

/* Layer i on one batch, sequentially or as a pipeline stage with its own
 * clock o and scratch w.  A hidden layer steps on its module's prediction at
 * once; layer i > 0 then computes module i-1's bootstrapped target and trains
 * it (000 §III-E; Jaderberg et al. Fig. 2) — module i-1 belongs to layer i-1,
 * but its target needs W_i, so it learns here, in layer i's stage.  The
 * hand-over (bp_pipe_done / bp_pipe_await, deterministic): layer i-1 runs its
 * module on batch k+1 only after layer i has trained it on batch k — the
 * sequential order, so pipelined runs give the same numbers; layer i-1's
 * forward pass and layer i's weight step still overlap. */
static void dni_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                      float *out, bp_pipe_batch *b) {
    dni_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs, B = b->rows;
    const size_t BW = (size_t)m->rows * (size_t)bp_max_width(m);
    float *t = w->rs ? w->rs : s->t, *dhid = w->rs ? w->rs + BW : s->dhid;
    const bp_layer *Ly = &m->layers[i];
    bp_layer_forward(Ly, in, out, B);
    if (i < L - 1) { /* the synthetic gradient, as soon as h_i exists */
        bp_pipe_await(b, i); /* module i has learned from the batch before */
        module_forward(m, i, out, b->y, B);
        const float *p = s->pred[i];
        for (size_t j = 0; j < (size_t)B * Ly->out; j++) w->d[j] = p[j] / (float)B;
    } else {
        b->correct = bp_count_correct(out, b->lb, B, C);
        b->loss = bp_loss(m->cfg.loss, out, b->y, B, C, w->d); /* the true error */
    }
    float *dz = bp_layer_output_grad(Ly, out, w->d, B);
    if (i > 0) { /* module i-1's target: B dz_i W_i^T, with W_i before its step */
        const int n = m->layers[i - 1].out;
        bp_layer_input_grad(Ly, NULL, dz, t, B);
        for (size_t j = 0; j < (size_t)B * n; j++) t[j] *= (float)B;
        module_train(m, o, i - 1, in, t, dhid, B);
        bp_pipe_done(b, i - 1); /* layer i-1 may run module i-1 on the next batch */
    }
    bp_layer_grad_step(m, i, in, dz, B, o);
}

static bpfree_status dni_train(bpfree_model *m, int B, double *loss, long *correct) {
    dni_state *s = m->rs;
    bp_pipe_batch b = {.rows = B, .y = m->yb, .lb = m->lb, .ib = m->ib};
    const float *in = m->xb;
    for (int i = 0; i < m->n_layers; i++) {
        float *a = s->w.a[i % 2];
        dni_layer(m, &m->optim, &s->w, i, in, a, &b);
        in = a;
    }
    *loss += b.loss;
    *correct += b.correct;
    return BPFREE_OK;
}

/* --pipeline: a stage's own target and module-hidden scratch */
static void dni_pipe_need(const bpfree_model *m, bp_pipe_need *n) {
    n->scratch = (size_t)m->rows * ((size_t)bp_max_width(m) + (size_t)m->cfg.dni_hidden);
}

static void dni_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    dni_state *s = m->rs;
    (void)heads;
    bp_forward_pingpong(m, x, B, s->w.a[0], s->w.a[1], scores);
}

static const bp_setting dni_settings[] = {
    BP_ROW_NUM("dni-hidden", "dni_hidden", "N",
               "hidden ReLU units of each synthetic-gradient module (0 = linear)", "0",
               BP_SET_INT, dni_hidden, 0, 1 << 16, 0, 0),
    BP_ROW_NUM("dni-cond", "dni_cond", "N",
               "1 = condition the modules on the label, [h, y] (cDNI); 0 = plain DNI", "1",
               BP_SET_INT, dni_cond, 0, 1, 0, 0),
};

const bp_rule bp_rule_dni = {
    .info = {.name = "dni",
             .title = "Decoupled Neural Interfaces",
             .paper = "Jaderberg et al. 2017; survey Huang et al. 2025 §III-E",
             .output_layer = 1,
             .weight_transport = "yes",      /* 000 Table I: targets through W_{l+1}^T */
             .frozen_activities = "no",      /* Fig. 8 (b.2): layers l and l+1 only */
             .locality = "single-layer",     /* Fig. 9 (b.1) */
             .update_locking = "none"},      /* 000: forward unlocking (Fig. 10 d) */
    .reserve = dni_reserve,
    .init = dni_init,
    .train_batch = dni_train,
    .pipe_layer = dni_layer,
    .pipe_handback = 1, /* module i goes back from layer i+1's stage to layer i's */
    .pipe_need = dni_pipe_need,
    .predict = dni_predict,
    .state_size = sizeof(dni_state),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
    .settings = dni_settings,
    .n_settings = (int)(sizeof dni_settings / sizeof *dni_settings),
};
