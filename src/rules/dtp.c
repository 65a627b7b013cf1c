/* dtp.c — difference target propagation (Lee, Zhang, Fischer, Bengio 2015;
 * survey 000 §III-C).
 *
 * Layers learn towards targets, not gradients.  Every hidden layer l > 1 has
 * a learned approximate inverse G_l(h_l) = f(V_l h_l + c_l) ~ h_{l-1}
 * (000: G_l(F_l(h_{l-1})) ~ h_{l-1}).  Per batch:
 *   1. forward: h_l = F_l(h_{l-1});
 *   2. the top hidden layer's target is a step down the global loss,
 *          h^_top = h_top - eta^ dL/dh_top
 *      (per sample; 000 writes it at the last layer L — Lee et al.'s
 *      Algorithm 1 takes it at the last hidden layer and trains the output
 *      layer on its own gradient, which is what we do: inverting the
 *      10-wide output into a 1000-wide layer would lose nearly everything);
 *   3. the difference correction, top down (000 §III-C):
 *          h^_{l-1} = h_{l-1} + G_l(h^_l) - G_l(h_l);
 *   4. each inverse steps on its reconstruction loss with noise (Lee et al.):
 *          h~ = h_{l-1} + eps, eps ~ N(0, dtp_noise^2),
 *          L_inv = ||G_l(F_l(h~)) - h~||^2   (F_l held fixed);
 *   5. each hidden layer steps on L_l = ||F_l(h_{l-1}) - h^_l||^2 (batch
 *      mean) through its own f' only; the output layer on its true gradient.
 * (The order of Lee et al.'s Algorithm 1: targets, then the inverses, then
 * the forward layers, all from this batch's forward pass.)
 * Only the top hidden target uses a transported weight matrix (dL/dh_top =
 * e W_L, through the output layer alone). */
#include "rules/rules.h"
#include "engine/dist.h"

#include <stdio.h>
#include <string.h>

typedef struct dtp_state {
    float *h[BPFREE_MAX_LAYERS + 1];   /* h[0] = input, h[l+1] = layer l's output */
    float *hat[BPFREE_MAX_LAYERS];     /* target of hidden layer l (B, n_l) */
    float *e;                          /* (B, C) output error */
    float *g1, *g2;                    /* (B, max width) G_l outputs */
    float *d;                          /* (B, max width) a signal */
    float *ht, *f;                     /* (B, max width) noisy input, F_l of it */
    int G[BPFREE_MAX_LAYERS];          /* inverse of hidden layer l (l >= 1) */
} dtp_state;

static void inverse_layer(const bpfree_model *m, int l, bp_layer *G) {
    const dtp_state *s = m->rs;
    bp_aux_layer(m, s->G[l], m->layers[l].out, m->layers[l - 1].out, m->cfg.act, G);
}

static bpfree_status dtp_reserve(bpfree_model *m, bpfree_error *err) {
    dtp_state *s = m->rs;
    for (int l = 1; l < m->cfg.n_hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "G%d", l + 1); /* G_l of 000, 1-based */
        s->G[l] = bp_aux_reserve(m, name, m->layers[l].out, m->layers[l - 1].out);
        if (s->G[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

static bpfree_status dtp_init(bpfree_model *m, bpfree_error *err) {
    dtp_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m);
    (void)err;
    for (int l = 1; l < m->cfg.n_hidden; l++) {
        bp_layer G;
        inverse_layer(m, l, &G);
        bp_aux_init(m, &G, m->cfg.init);
    }
    bp_acts_reserve(m, s->h);
    for (int l = 0; l < m->cfg.n_hidden; l++) bp_scratch(m, &s->hat[l], B * m->layers[l].out);
    bp_scratch(m, &s->e, B * m->cfg.outputs);
    float **bufs[] = {&s->g1, &s->g2, &s->d, &s->ht, &s->f};
    for (int i = 0; i < 5; i++) bp_scratch(m, bufs[i], B * W);
    return BPFREE_OK;
}

/* steps 2-3: every hidden layer's target into hat[] */
static void targets(bpfree_model *m, int B) {
    dtp_state *s = m->rs;
    const int L = m->n_layers, top = m->cfg.n_hidden - 1, n = m->layers[top].out;
    const bp_layer *Out = &m->layers[L - 1];
    /* dL/dh_top per sample = B e W_L (the output layer is linear: dz = e) */
    bp_layer_input_grad(Out, NULL, s->e, s->d, B);
    const float step = m->cfg.dtp_eta * (float)B;
    for (size_t i = 0; i < (size_t)B * n; i++) s->hat[top][i] = s->h[top + 1][i] - step * s->d[i];
    for (int l = top; l >= 1; l--) { /* h^_{l-1} = h_{l-1} + G_l(h^_l) - G_l(h_l) */
        bp_layer G;
        inverse_layer(m, l, &G);
        bp_layer_forward(&G, s->hat[l], s->g1, B);
        bp_layer_forward(&G, s->h[l + 1], s->g2, B);
        const size_t k = (size_t)B * m->layers[l - 1].out;
        for (size_t i = 0; i < k; i++) s->hat[l - 1][i] = s->h[l][i] + s->g1[i] - s->g2[i];
    }
}

/* step 4: G_l on ||G_l(F_l(h~)) - h~||^2, h~ = h_{l-1} + noise */
static void train_inverse(bpfree_model *m, int l, int B) {
    dtp_state *s = m->rs;
    const size_t k = (size_t)B * m->layers[l - 1].out;
    bp_dist_normal_rows(m, s->ht, (size_t)m->layers[l - 1].out, B); /* global batch's draws */
    for (size_t i = 0; i < k; i++) s->ht[i] = s->h[l][i] + m->cfg.dtp_noise * s->ht[i];
    bp_layer_forward(&m->layers[l], s->ht, s->f, B);
    bp_layer G;
    inverse_layer(m, l, &G);
    bp_layer_forward(&G, s->f, s->g1, B);
    for (size_t i = 0; i < k; i++) s->d[i] = 2.0f * (s->g1[i] - s->ht[i]) / (float)B;
    bp_aux_backward_step(m, s->G[l], &G, s->f, s->g1, s->d, B);
}

static bpfree_status dtp_train(bpfree_model *m, int B, double *loss, long *correct) {
    dtp_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs, nh = m->cfg.n_hidden;
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e);
    targets(m, B);
    for (int l = 1; l < nh; l++) train_inverse(m, l, B);
    for (int l = 0; l < nh; l++) { /* dL_l/dh_l = 2 (h_l - h^_l) / B */
        const size_t k = (size_t)B * m->layers[l].out;
        for (size_t i = 0; i < k; i++) s->d[i] = 2.0f * (s->h[l + 1][i] - s->hat[l][i]) / (float)B;
        bp_layer_backward_step(m, l, s->h[l], s->h[l + 1], s->d, B);
    }
    bp_layer_backward_step(m, L - 1, s->h[L - 1], s->h[L], s->e, B);
    return BPFREE_OK;
}

static void dtp_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    dtp_state *s = m->rs;
    (void)heads;
    bp_forward_pingpong(m, x, B, s->g1, s->g2, scores);
}

/* Lee et al. train tanh nets; the step and the noise are bpfree's (README) */
static void dtp_defaults(bpfree_config *c) { c->act = BPFREE_ACT_TANH; }

static const bp_setting dtp_settings[] = {
    BP_ROW_NUM("dtp-eta", "dtp_eta", "F", "step eta^ of the top target h - eta^ dL/dh",
               "0.1", BP_SET_FLOAT, dtp_eta, 0, BP_SET_BIG, BP_SET_LO_OPEN, 0),
    BP_ROW_NUM("dtp-noise", "dtp_noise", "F",
               "std of the noise in the inverses' reconstruction loss", "0.1",
               BP_SET_FLOAT, dtp_noise, 0, BP_SET_BIG, 0, 0),
};

const bp_rule bp_rule_dtp = {
    .info = {.name = "dtp",
             .title = "Difference Target Propagation",
             .paper = "Lee et al. 2015; survey Huang et al. 2025 §III-C",
             .output_layer = 1,
             .weight_transport = "no",       /* 000 Table I: learned inverses */
             .frozen_activities = "yes",     /* Fig. 8 (a) */
             .locality = "non-local",        /* targets travel down layer by layer */
             .update_locking = "backward"},
    .defaults = dtp_defaults,
    .reserve = dtp_reserve,
    .init = dtp_init,
    .train_batch = dtp_train,
    .predict = dtp_predict,
    .state_size = sizeof(dtp_state),
    .layer_note = " (DTP's inverses G_l are dense layers over the flattened features of the layer above)",
    .caps = 0,
    .settings = dtp_settings,
    .n_settings = (int)(sizeof dtp_settings / sizeof *dtp_settings),
};
