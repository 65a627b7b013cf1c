/* fdfa.c — Forward Direct Feedback Alignment (Bacho & Chu, paper 002,
 * Algorithm 1, eqs. 7-15).
 *
 * Per batch (lines 9-17): every hidden layer's output gets a Gaussian
 * perturbation per sample, v_l ~ N(0, I) of shape (B, n_l); the output
 * layer gets none.  The tangent (tangent.c) carried to the output,
 *     d_l = (d_{l-1} W_l^T) ⊙ f'(z_l) + v_l   (l < L),   d_L = d_{L-1} W_L^T,
 * gives each sample's vector of directional derivatives of the logits
 * (eq. 7), d_L (B, C).  Then, all from this one forward pass:
 *   - output layer: its true gradient e^T h_{L-1} (line 20);
 *   - feedback (line 22 with eq. 8's sign, PLUS: NOTES, FDFA (002)): the
 *     target is the batch mean of d_L ⊗ v_l,  T_l = (1/B) d_L^T v_l (C, n_l),
 *     and B_l steps on  grad B_l = B_l - T_l  (eqs. 9-10) with its own
 *     optimizer (Adam at alpha = fb_lr by default, 002 Appendix A), or with
 *     --fb-optim ema, B_l = (1 - alpha) B_l + alpha T_l exactly (eq. 8);
 *   - hidden layer l: delta_h_l = e B_l with the B_l just updated (line 23,
 *     eq. 14; NOTES: B is updated before it is used), as DFA.
 * B_l starts at zero (line 3; cfg.feedback_init, default zeros).  With a
 * linear output, E[T_{L-1}] = W_L (eq. 13), so B_{L-1} learns W_L. */
#include "rules/rules.h"
#include "engine/dist.h"

#include <string.h>

typedef struct fdfa_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l */
    float *v[BPFREE_MAX_LAYERS];     /* (B, n_l) perturbations of hidden layers, at
                                        their signal points (bp_layer_sig_cols) */
    float *t[2];                     /* tangent ping-pong (B, max width) */
    float *dout;                     /* (B, C) d_L */
    float *e;                        /* (B, C) output error */
    float *dh;                       /* (B, max width) signal at a hidden output */
    bp_fblearn f;
} fdfa_state;

/* 002 Appendix A: Adam for weights and feedback, lambda = alpha = 1e-4,
 * x0.95 per epoch, B from zero, 800-unit ReLU layers and a linear output
 * (Table B.5: the 4-layer net has three hidden layers).  100 epochs in the
 * paper; bpfree's default is 30. */
static void fdfa_defaults(bpfree_config *c) {
    bp_defaults_learned_feedback(c);
    c->fb_wd = 0.0f;
}

static bpfree_status fdfa_reserve(bpfree_model *m, bpfree_error *err) {
    fdfa_state *s = m->rs;
    return bp_fblearn_reserve(m, &s->f, err);
}

static bpfree_status fdfa_init(bpfree_model *m, bpfree_error *err) {
    fdfa_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    bpfree_status st = bp_fblearn_init(m, &s->f, err);
    if (st) return st;
    bp_acts_reserve(m, s->h);
    for (int l = 0; l < m->cfg.n_hidden; l++) bp_scratch(m, &s->v[l], B * bp_layer_sig_cols(&m->layers[l]));
    bp_scratch(m, &s->t[0], B * W); /* tangents */
    bp_scratch(m, &s->t[1], B * W);
    bp_scratch(m, &s->dout, B * C); /* output tangent */
    bp_scratch(m, &s->e, B * C);    /* output error */
    bp_scratch(m, &s->dh, B * W);   /* hidden signal */
    return BPFREE_OK;
}

static bpfree_status fdfa_train(bpfree_model *m, int B, double *loss, long *correct) {
    fdfa_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    bp_perturb p;
    memset(&p, 0, sizeof p);
    for (int l = 0; l < L - 1; l++) { /* line 10, hidden layers only (lines 14-16) */
        bp_dist_normal_rows(m, s->v[l], (size_t)bp_layer_sig_cols(&m->layers[l]), B); /* global batch's draws */
        p.u[l] = s->v[l];
    }
    bp_tangent_forward(m, &p, m->xb, s->h, s->t, s->dout, B); /* lines 11-17 */
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e); /* line 18 */
    /* line 20: the output layer on its true gradient */
    bp_layer_backward_step(m, L - 1, s->h[L - 1], s->h[L], s->e, B);
    bp_fblearn_begin(m, &s->f);
    const float alpha = s->f.opt.lr;
    const int ema = m->cfg.fb_optim == BPFREE_FB_EMA;
    for (int l = 0; l < L - 1; l++) {
        const int n = bp_layer_sig_cols(&m->layers[l]);
        float *Bl = bp_tensor_ptr(m, s->f.fb[l]), *g = s->f.g;
        const size_t nb = (size_t)C * n;
        /* T_l (C, n) = (1/B) d_L^T (C, B) v_l (B, n): the mean of d ⊗ v */
        bpfree_gemm(1, 0, C, n, B, 1.0f / (float)B, s->dout, C, s->v[l], n, 0.0f, g, n);
        if (ema) { /* eq. 8 */
            bp_dist_mean(m, g, nb); /* data-parallel: T of the global batch */
            for (size_t i = 0; i < nb; i++) Bl[i] = (1.0f - alpha) * Bl[i] + alpha * g[i];
        } else {   /* eqs. 9-10: grad B = B - T */
            for (size_t i = 0; i < nb; i++) g[i] = Bl[i] - g[i];
            bp_fblearn_step(m, &s->f, l);
        }
        bp_feedback_signal(m, s->f.fb, l, 1.0f, s->e, B, s->dh); /* eq. 14: e B_l */
        bp_layer_signal_step(m, l, s->h[l], s->h[l + 1], s->dh, B, NULL); /* line 23, eq. 15 */
    }
    return BPFREE_OK;
}

static void fdfa_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    fdfa_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->t[0], s->t[1], scores);
}

/* Adam or SGD feedback keeps moments of its own in rule memory, which a
 * redraw of the step for --diagnose variance would change; EMA keeps none. */
static bpfree_status fdfa_check(const bpfree_config *c, bpfree_error *err) {
    if ((c->diagnose & BPFREE_DIAG_VARIANCE) && c->fb_optim != BPFREE_FB_EMA)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--diagnose variance redraws a step from saved state; rule fdfa with "
                       "Adam/SGD feedback keeps moments of its own that a redraw would change "
                       "(use --fb-optim ema)");
    return BPFREE_OK;
}

const bp_rule bp_rule_fdfa = {
    .info = {.name = "fdfa",
             .title = "Forward Direct Feedback Alignment",
             .paper = "Bacho & Chu 2024, Algorithm 1, eqs. 7-15",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes", /* as DFA: activations held until e is known */
             .locality = "non-local",
             .update_locking = "forward"},
    .defaults = fdfa_defaults,
    .reserve = fdfa_reserve,
    .init = fdfa_init,
    .train_batch = fdfa_train,
    .predict = fdfa_predict,
    .state_size = sizeof(fdfa_state),
    /* --diagnose variance: only with EMA feedback (fdfa_check) */
    .caps = BP_CAP_FEEDBACK | BP_CAP_DIRECT | BP_CAP_LEARNED_FEEDBACK | BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
    .check = fdfa_check,
};
