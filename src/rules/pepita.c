/* pepita.c — Present the Error to Perturb the Input To modulate Activity
 * (Dellaferrera & Kreiman 2022; survey Huang et al. 2025 §III-H, eq. 5).
 *
 * Two forward passes.  The standard pass gives h_l^s and the output error
 * e = y^s - y*.  The modulated pass runs on x^m = x + F e (F fixed random,
 * (D, C), 0.05 * U(±sqrt(6/D)) as in the authors' code) and gives h_l^m.
 * Hidden layers:  dW_l = (h_l^s - h_l^m) ⊗ h_{l-1}^m   (eq. 5: no f');
 * the last layer: dW_L = e^m ⊗ h_{L-1}^m with the modulated pass's error.
 * On a convolution block (a documented variant: the paper's nets are dense)
 * h^s - h^m at the block's pooled output goes back through the pooling
 * only — the modulated pass's max-pool choices, or the average's spread —
 * never through f', and is the block's dz for its kernels: eq. 5's form,
 * one layer at a time, through the kind's own output_grad with the
 * activation taken as the identity.
 * No biases (the authors' nets have none): they are set to zero at build,
 * whatever --init, and never trained.  A layer is stepped as soon as the
 * modulated pass has gone through it. */
#include "rules/rules.h"

#include <math.h>
#include <string.h>

typedef struct pepita_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* standard pass: every layer's output */
    float *hm[2];                    /* modulated pass ping-pong (B, max width) */
    float *xm;                       /* (B, D) modulated input */
    float *e;                        /* (B, C) error */
    float *dz;                       /* (B, max width) */
    int F;                           /* state tensor F (D, C) */
} pepita_state;

static void pepita_defaults(bpfree_config *c) {
    c->init = BPFREE_INIT_HE_UNIFORM;
    c->epochs = 100;
    c->optim.kind = BPFREE_OPTIM_SGD;
    c->optim.lr = 0.01f;
    c->optim.momentum = 0.9f;
    c->optim.sched = BPFREE_SCHED_MULTISTEP;
    c->optim.gamma = 0.1f;
    c->optim.milestones[0] = 60;
    c->optim.milestones[1] = 90;
}

static bpfree_status pepita_reserve(bpfree_model *m, bpfree_error *err) {
    pepita_state *s = m->rs;
    s->F = bp_model_reserve(m, "F", (size_t)m->cfg.inputs * m->cfg.outputs, 0);
    bp_tensor_shape(m, s->F, m->cfg.inputs); /* (D, C) */
    return s->F < 0 ? bp_fail(err, BPFREE_EINVAL, "too many tensors") : BPFREE_OK;
}

static bpfree_status pepita_init(bpfree_model *m, bpfree_error *err) {
    pepita_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), D = (size_t)m->cfg.inputs;
    float *F = bp_tensor_ptr(m, s->F);
    const float a = m->cfg.pepita_f * sqrtf(6.0f / (float)D); /* F (D, C) */
    for (size_t i = 0; i < D * (size_t)m->cfg.outputs; i++)
        F[i] = a * (2.0f * bp_rng_uniform(&m->rng) - 1.0f);
    for (int l = 0; l < m->n_layers; l++) /* no biases, whatever --init drew */
        memset(m->layers[l].b, 0, (size_t)m->layers[l].units * sizeof(float));
    (void)err;
    bp_acts_reserve(m, s->h);
    bp_scratch(m, &s->hm[0], B * W); /* modulated activations */
    bp_scratch(m, &s->hm[1], B * W);
    bp_scratch(m, &s->xm, B * D);    /* modulated input */
    bp_scratch(m, &s->e, B * m->cfg.outputs); /* output error */
    bp_scratch(m, &s->dz, B * W);    /* deltas */
    return BPFREE_OK;
}

/* e (B, C) = p - y for the output layer's logits z (softmax / sigmoid /
 * identity); returns the batch's mean loss. */
static double output_error(const bpfree_model *m, const float *z, int B, float *e) {
    const int C = m->cfg.outputs;
    /* bp_loss gives (p - y)/B; PEPITA uses the per-sample error p - y */
    const double loss = bp_loss(m->cfg.loss, z, m->yb, B, C, e);
    for (size_t i = 0; i < (size_t)B * C; i++) e[i] *= (float)B;
    return loss;
}

static bpfree_status pepita_train(bpfree_model *m, int B, double *loss, long *correct) {
    pepita_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs, D = m->cfg.inputs;
    /* 1. standard pass: h^s and e = y^s - y* */
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += output_error(m, s->h[L], B, s->e);
    /* 2. x^m = x + e F^T  (x^m = x + F e per sample) */
    memcpy(s->xm, m->xb, (size_t)B * D * sizeof(float));
    bpfree_gemm(0, 1, B, D, C, 1.0f, s->e, C, bp_tensor_ptr(m, s->F), C, 1.0f, s->xm, D);
    /* 3. modulated pass, each layer updated once its h^m exists */
    const float *in = s->xm;
    const float inv = 1.0f / (float)B;
    for (int l = 0; l < L; l++) {
        bp_layer *Ly = &m->layers[l];
        const int O = Ly->out;
        float *hm = s->hm[l % 2];
        bp_layer_forward(Ly, in, hm, B);
        float *dz = s->dz;
        if (l < L - 1) { /* eq. 5: dz = (h^s - h^m) / B, no activation derivative */
            for (size_t i = 0; i < (size_t)B * O; i++) s->dz[i] = (s->h[l + 1][i] - hm[i]) * inv;
            bp_layer id = *Ly; /* a pooled block routes it back through its pooling */
            id.act = BPFREE_ACT_IDENTITY;
            dz = bp_layer_output_grad(&id, hm, s->dz, B);
        } else { /* last layer: the modulated pass's error */
            output_error(m, hm, B, s->dz);
            for (size_t i = 0; i < (size_t)B * O; i++) s->dz[i] *= inv;
        }
        bp_layer_grad_units(Ly, in, dz, B, 0, (size_t)Ly->units, 0.0f);
        memset(Ly->gb, 0, (size_t)Ly->units * sizeof(float)); /* no biases */
        bp_layer_step(m, l);
        in = hm;
    }
    return BPFREE_OK;
}

static void pepita_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    pepita_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->hm[0], s->hm[1], scores);
}

static const bp_setting pepita_settings[] = {
    BP_ROW_NUM("pepita-f", "pepita_f", "F", "the input projection F = F * U(±sqrt(6/D)), (D, C)",
               "0.05", BP_SET_FLOAT, pepita_f, 0, BP_SET_BIG, BP_SET_LO_OPEN, 0),
};

const bp_rule bp_rule_pepita = {
    .info = {.name = "pepita",
             .title = "PEPITA (error-modulated forward)",
             .paper = "Dellaferrera & Kreiman 2022; survey Huang et al. 2025 §III-H eq. 5",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes",
             .locality = "single-layer",
             .update_locking = "forward"},
    .defaults = pepita_defaults,
    .reserve = pepita_reserve,
    .init = pepita_init,
    .train_batch = pepita_train,
    .predict = pepita_predict,
    .state_size = sizeof(pepita_state),
    /* BN refused: two forward passes a batch would count it twice in the
     * running statistics */
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER | BP_CAP_NO_BN,
    .settings = pepita_settings,
    .n_settings = 1,
};
