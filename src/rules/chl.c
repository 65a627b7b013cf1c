/* chl.c — contrastive Hebbian learning in a layered network (Xie and Seung
 * 2003; survey 000 §III-B).
 *
 * The net is a dynamical system: every layer also receives feedback
 * gamma W_{l+1}^T h_{l+1} from the layer above (000 §III-B, symmetric
 * weights), so its activity obeys the layer equations
 *     h_l = f_l(W_l h_{l-1} + gamma W_{l+1}^T h_{l+1} + b_l),   l = 1..L
 * (no feedback into the output layer L).  Two phases settle them to a fixed
 * point, by sweeps over the layers bottom up (each layer from its
 * neighbours' latest values), starting from the feed-forward pass:
 *   free:    input clamped to x;
 *   clamped: input clamped to x and the output to the target y (from the
 *            free fixed point; with the default MSE loss y is what the output
 *            regresses to).
 * A phase stops when no activity moved by more than chl_tol in a sweep, or
 * after chl_iters sweeps (counted: the run summary reports the sweeps taken).
 * Then, for every layer (000 §III-B, the contrastive update)
 *     delta W_l = gamma^{l-L} (h_l^c ⊗ h_{l-1}^c - h_l^f ⊗ h_{l-1}^f)
 * (batch mean; and h_l^c - h_l^f for b_l); gamma^{l-L} undoes the
 * attenuation of the feedback over L - l layers, and for small gamma the
 * update approaches BP's gradient (Xie and Seung).  The model's gradient is
 * minus that.  Prediction is the free phase's output.  Layers are dense:
 * a layer's pre-activation is its forward pass with the identity. */
#include "rules/rules.h"
#include "engine/dist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct chl_state {
    float *hf[BPFREE_MAX_LAYERS + 1];  /* free phase: hf[0] = x, hf[l+1] = layer l */
    float *hc[BPFREE_MAX_LAYERS + 1];  /* clamped phase */
    float *z0;                         /* (B, n_0) layer 0's drive from the clamped input */
    float *z, *fb;                     /* (B, max width) */
    /* sweeps to settle, over the training batches so far */
    long batches, sweeps_free, sweeps_clamped, unsettled, max_sweeps;
    int last_free, last_clamped; /* of the last training batch */
} chl_state;

float *const *bp_chl_states(const bpfree_model *m, int clamped, int *sweeps) {
    const chl_state *s = m->rs;
    if (sweeps) *sweeps = clamped ? s->last_clamped : s->last_free;
    return clamped ? s->hc : s->hf;
}

static bpfree_status chl_init(bpfree_model *m, bpfree_error *err) {
    chl_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m);
    (void)err;
    bp_acts_reserve(m, s->hf);
    bp_acts_reserve(m, s->hc);
    bp_scratch(m, &s->z0, B * m->layers[0].out);
    bp_scratch(m, &s->z, B * W);
    bp_scratch(m, &s->fb, B * W);
    return BPFREE_OK;
}

/* z (B, out) = layer l's affine part h_{l-1} W_l^T + b_l */
static void affine(const bpfree_model *m, int l, const float *x, float *z, int B) {
    bp_layer lin = m->layers[l];
    lin.act = BPFREE_ACT_IDENTITY;
    bp_layer_forward(&lin, x, z, B);
}

/* One sweep of the layer equations over layers 0..last on states h (h[0]
 * the input); returns the largest change of any activity. */
static float sweep(bpfree_model *m, float **h, int last, int B) {
    chl_state *s = m->rs;
    const int L = m->n_layers;
    const float g = m->cfg.chl_gamma;
    float delta = 0.0f;
    for (int l = 0; l <= last; l++) {
        const bp_layer *Ly = &m->layers[l];
        const size_t k = (size_t)B * Ly->out;
        if (l == 0) memcpy(s->z, s->z0, k * sizeof(float));
        else affine(m, l, h[l], s->z, B);
        if (l < L - 1) { /* + gamma W_{l+1}^T h_{l+1}: h_{l+2} (B, n') W_{l+1} */
            bp_layer_input_grad(&m->layers[l + 1], NULL, h[l + 2], s->fb, B);
            for (size_t i = 0; i < k; i++) s->z[i] += g * s->fb[i];
        }
        bp_act_forward(Ly->act, s->z, k);
        float *o = h[l + 1];
        for (size_t i = 0; i < k; i++) {
            const float d = fabsf(s->z[i] - o[i]);
            delta = d > delta ? d : delta;
            o[i] = s->z[i];
        }
    }
    return delta;
}

/* Settle h (its current values the start) with layers 0..last free; the
 * sweeps taken, or chl_iters + 1 if it did not settle. */
static int settle(bpfree_model *m, float **h, int last, int B) {
    for (int it = 1; it <= m->cfg.chl_iters; it++)
        if (bp_dist_max(m, sweep(m, h, last, B)) <= m->cfg.chl_tol) return it; /* global batch */
    return m->cfg.chl_iters + 1;
}

/* The free phase on x (B rows): h from the feed-forward pass, settled. */
static int free_phase(bpfree_model *m, const float *x, float **h, int B) {
    chl_state *s = m->rs;
    h[0] = (float *)x;
    bp_forward_all(m, x, h, B);
    affine(m, 0, x, s->z0, B); /* the clamped input's drive never changes */
    return settle(m, h, m->n_layers - 1, B);
}

static void count(chl_state *s, int nf, int nc, int iters) {
    s->last_free = nf;
    s->last_clamped = nc;
    s->batches++;
    s->sweeps_free += nf;
    s->sweeps_clamped += nc;
    s->unsettled += (nf > iters) + (nc > iters);
    if (nf > s->max_sweeps) s->max_sweeps = nf;
    if (nc > s->max_sweeps) s->max_sweeps = nc;
}

/* gW_l, gb_l = -gamma^{l-L} (h_l^c ⊗ h_{l-1}^c - h_l^f ⊗ h_{l-1}^f) / B, then the step */
static void contrastive_step(bpfree_model *m, int l, int B) {
    chl_state *s = m->rs;
    const bp_layer *Ly = &m->layers[l];
    const size_t k = (size_t)B * Ly->out;
    const float c = powf(m->cfg.chl_gamma, (float)(l - (m->n_layers - 1))) / (float)B;
    for (size_t i = 0; i < k; i++) s->z[i] = -c * s->hc[l + 1][i];
    bp_layer_grad_units(Ly, s->hc[l], s->z, B, 0, (size_t)Ly->units, 0.0f);
    for (size_t i = 0; i < k; i++) s->z[i] = c * s->hf[l + 1][i];
    bp_layer_grad_units(Ly, s->hf[l], s->z, B, 0, (size_t)Ly->units, 1.0f);
    bp_layer_step(m, l);
}

static bpfree_status chl_train(bpfree_model *m, int B, double *loss, long *correct) {
    chl_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    const int nf = free_phase(m, m->xb, s->hf, B);
    *correct += bp_count_correct(s->hf[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->hf[L], m->yb, B, C, NULL);
    s->hc[0] = m->xb; /* the clamped phase starts at the free fixed point */
    for (int l = 1; l <= L; l++)
        memcpy(s->hc[l], s->hf[l], (size_t)B * m->layers[l - 1].out * sizeof(float));
    memcpy(s->hc[L], m->yb, (size_t)B * C * sizeof(float)); /* output clamped to y */
    const int nc = L > 1 ? settle(m, s->hc, L - 2, B) : 0;
    count(s, nf, nc, m->cfg.chl_iters);
    for (int l = 0; l < L; l++) contrastive_step(m, l, B);
    return BPFREE_OK;
}

static void chl_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    chl_state *s = m->rs;
    (void)heads;
    free_phase(m, x, s->hf, B);
    memcpy(scores, s->hf[m->n_layers], (size_t)B * m->cfg.outputs * sizeof(float));
}

static void chl_describe(const bpfree_model *m, char *buf, size_t cap) {
    const chl_state *s = m->rs;
    const double n = s->batches ? (double)s->batches : 1.0;
    snprintf(buf, cap,
             "CHL: gamma %g; sweeps to settle per batch: free %.2f, clamped %.2f (mean), max "
             "%ld; %ld of %ld phases not settled within %d sweeps (tol %g)",
             m->cfg.chl_gamma, s->sweeps_free / n, s->sweeps_clamped / n, s->max_sweeps,
             s->unsettled, 2 * s->batches, m->cfg.chl_iters, m->cfg.chl_tol);
}

/* Xie and Seung: sigmoid units, squared error; the clamped output is y */
static void chl_defaults(bpfree_config *c) {
    c->act = BPFREE_ACT_SIGMOID;
    c->loss = BPFREE_LOSS_MSE;
}

static const bp_setting chl_settings[] = {
    BP_ROW_NUM("chl-gamma", "chl_gamma", "F", "feedback strength gamma (gamma W^T)", "0.1",
               BP_SET_FLOAT, chl_gamma, 0, 1, BP_SET_LO_OPEN, 0),
    BP_ROW_NUM("chl-iters", "chl_iters", "N", "at most N sweeps to settle each phase",
               "50", BP_SET_INT, chl_iters, 1, 1 << 20, 0, 0),
    BP_ROW_NUM("chl-tol", "chl_tol", "F",
               "settled when no activity moves more than F in a sweep", "1e-6",
               BP_SET_FLOAT, chl_tol, 0, BP_SET_BIG, 0, 0),
};

const bp_rule bp_rule_chl = {
    .info = {.name = "chl",
             .title = "Contrastive Hebbian Learning",
             .paper = "Xie & Seung 2003; survey Huang et al. 2025 §III-B",
             .output_layer = 1,
             .weight_transport = "yes",      /* 000 Table I: symmetric feedback gamma W^T */
             .frozen_activities = "yes",     /* Fig. 8 (a) */
             .locality = "multi-layer",      /* Fig. 9 (b.2) */
             .update_locking = "forward"},   /* 000 §IV-B4: backwards unlocking */
    .defaults = chl_defaults,
    .init = chl_init,
    .train_batch = chl_train,
    .predict = chl_predict,
    .describe = chl_describe,
    .state_size = sizeof(chl_state),
    .layer_note = " (CHL settles the layer equations with feedback gamma W^T, written for dense layers (a layer's pre-activation is its forward with the identity))",
    .caps = BP_CAP_VARIANCE,
    .settings = chl_settings,
    .n_settings = (int)(sizeof chl_settings / sizeof *chl_settings),
};
