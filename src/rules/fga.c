/* fga.c — activity-perturbed forward gradient, FG-A (Ren et al. 2023;
 * paper 002 §2.3 eqs. 4-5, Appendix D, Algorithm 3).
 *
 * Per batch, every layer's output gets a Gaussian perturbation per sample,
 * u_l ~ N(0, I) of shape (B, n_l) (line 9).  The tangent (tangent.c, lines
 * 12-15) is
 *     d_l = (d_{l-1} W_l^T) ⊙ f'(z_l) + u_l,
 * each sample's directional derivative of the loss is the scalar (eq. 4)
 *     dL_b = e_b · d_L[b],   e = dL/dy_L (the batch mean's, 1/B inside)
 * and layer l steps with (eq. 5, line 20)
 *     g(W_l) = sum_b (dL_b u_l[b] ⊙ f'(z_l[b])) ⊗ h_{l-1}[b],
 *     g(b_l) = sum_b  dL_b u_l[b] ⊙ f'(z_l[b]),
 * i.e. dL_b u_l[b] — an unbiased estimate of dL_b/dh_l (Theorem 3) — is the
 * signal at layer l's output, turned into an update by the layer itself.
 *
 * By default (--fg-output forward) the output layer is perturbed too (eq. 4
 * sums over every l <= L; the output is linear, so d_L = d_{L-1} W_L^T +
 * u_L).  Algorithm 3 perturbs only l < L (lines 13-15) yet steps every
 * layer with its u_l (line 20), which leaves the output layer an estimate
 * of mean zero — it would never learn (NOTES).  Perturbing it keeps the
 * rule a pure forward gradient, unbiased for every layer.  The other
 * reading, --fg-output exact, perturbs only the hidden layers and hands the
 * output layer its true gradient e ⊗ h_{L-1}, as fdfa (Algorithm 1 line 20)
 * and lg-fg-a do.  Line 20 prints the vector d^(L) where the scalar dL is
 * meant (NOTES); bpfree uses dL. */
#include "rules/rules.h"
#include "engine/dist.h"

#include <string.h>

typedef struct fga_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l */
    float *u[BPFREE_MAX_LAYERS];     /* (B, n_l) perturbations, then the signals dL u_l */
    float *t[2];                     /* tangent ping-pong (B, max width) */
    float *dout, *e;                 /* (B, C) */
    float *dl;                       /* (B) */
} fga_state;

static bpfree_status fga_init(bpfree_model *m, bpfree_error *err) {
    fga_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    (void)err;
    bp_acts_reserve(m, s->h);
    for (int l = 0; l < m->n_layers; l++) bp_scratch(m, &s->u[l], B * m->layers[l].out);
    bp_scratch(m, &s->t[0], B * W); /* tangents */
    bp_scratch(m, &s->t[1], B * W);
    bp_scratch(m, &s->dout, B * C); /* output tangent */
    bp_scratch(m, &s->e, B * C);    /* output error */
    bp_scratch(m, &s->dl, B);       /* directional derivatives */
    return BPFREE_OK;
}

/* u (B, n) := dl_b u[b], row by row. */
static void scale_rows(float *u, const float *dl, int B, int n) {
    for (int r = 0; r < B; r++) {
        float *ur = u + (size_t)r * n;
        for (int k = 0; k < n; k++) ur[k] *= dl[r];
    }
}

static bpfree_status fga_train(bpfree_model *m, int B, double *loss, long *correct) {
    fga_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    bp_perturb p;
    memset(&p, 0, sizeof p);
    const int exact = m->cfg.fg_output == BPFREE_FGOUT_EXACT;
    const int np = exact ? L - 1 : L;  /* the perturbed layers */
    for (int l = 0; l < np; l++) {     /* line 9, every layer (eq. 4) or the hidden ones */
        bp_dist_normal_rows(m, s->u[l], (size_t)m->layers[l].out, B); /* global batch's draws */
        p.u[l] = s->u[l];
    }
    bp_tangent_forward(m, &p, m->xb, s->h, s->t, s->dout, B); /* lines 10-16 */
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e);
    bp_tangent_dot(s->e, s->dout, B, C, s->dl);                /* line 17 */
    for (int l = 0; l < np; l++) {                             /* lines 19-20 */
        const bp_layer *Ly = &m->layers[l];
        scale_rows(s->u[l], s->dl, B, Ly->out);                /* dL_b u_l[b] */
        bp_layer_backward_step(m, l, s->h[l], s->h[l + 1], s->u[l], B);
    }
    if (exact) /* the output layer on its true gradient (fdfa's Algorithm 1 line 20) */
        bp_layer_backward_step(m, L - 1, s->h[L - 1], s->h[L], s->e, B);
    return BPFREE_OK;
}

static void fga_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    fga_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->t[0], s->t[1], scores);
}

static const char *fgout_name(int v) {
    return v == BPFREE_FGOUT_FORWARD ? "forward" : v == BPFREE_FGOUT_EXACT ? "exact" : "?";
}
static int fgout_parse(const char *s) {
    return !strcmp(s, "forward") ? BPFREE_FGOUT_FORWARD
           : !strcmp(s, "exact") ? BPFREE_FGOUT_EXACT : -1;
}

static const bp_setting fga_settings[] = {
    BP_ROW_NAME("fg-output", "fg_output",
                "the output layer's step: forward (perturbed as the hidden layers, eq. 4: a pure "
                "forward gradient) or exact (its true gradient, as fdfa and lg-fg-a; Algorithm 3 "
                "leaves it open)",
                "forward", fg_output, 0, 0, fgout_name, fgout_parse),
};

/* The setup that reproduces 002 Table 1's FG-A (README, "FG-A reproduces"):
 * the authors' [-1, 1] inputs (Normalize(0.5, 0.5) in both their scripts)
 * and Algorithm 3's perturbations with the output layer on its true
 * gradient, on Appendix A's optimizer, batch and 100 epochs. */
static const char *const fga_paper_kv[] = {
    "layers", "800,800,800", "act", "relu", "fg-output", "exact", "norm", "symmetric",
    "optim", "adam", "lr", "0.0001", "sched", "step", "step-epochs", "1", "gamma", "0.95",
    "batch", "64", "epochs", "100", NULL};

static const bpfree_preset fga_presets[] = {
    {"fg-a-paper",
     "Bacho & Chu 2024 Table 1's FG-A: 784-800-800-800-10 ReLU, pixels in [-1, 1] as the "
     "authors' scripts, only the hidden layers perturbed and the output layer on its true "
     "gradient, Adam 1e-4 x 0.95 per epoch, batch 64, 100 epochs (Appendix A)",
     "fg-a", fga_paper_kv},
};

const bp_rule bp_rule_fga = {
    .info = {.name = "fg-a",
             .title = "Forward Gradient (activities)",
             .paper = "Ren et al. 2023; Bacho & Chu 2024 §2.3 eqs. 4-5, Appendix D Algorithm 3",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes", /* each layer keeps h and u until dL is known */
             .locality = "non-local",
             .update_locking = "forward"},
    .defaults = bp_defaults_fdfa_paper, /* 002 Appendix A */
    .init = fga_init,
    .train_batch = fga_train,
    .predict = fga_predict,
    .state_size = sizeof(fga_state),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
    .settings = fga_settings,
    .n_settings = (int)(sizeof fga_settings / sizeof *fga_settings),
    .presets = fga_presets,
    .n_presets = (int)(sizeof fga_presets / sizeof *fga_presets),
};
