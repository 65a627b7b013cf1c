/* dkp.c — Direct Kolen–Pollack (Webster, Choi, Ahn 2021; paper 002 §2.4,
 * §5 and Appendix A).
 *
 * DFA (dfa.c, 002 eq. 6) whose feedback matrices learn.  Hidden layer l gets
 *     delta_h_l = e B_l,     e = dL/dy_L (B, C), B_l (C, n_l),
 * exactly as DFA, and B_l learns by the Kolen–Pollack principle: it takes
 * the update a direct connection from h_l to the output would take,
 *     grad B_l = e^T h_l  (C, n_l; batch mean, e holds the 1/B)  + fb_wd B_l,
 * and the decay makes B forget its start, so it comes to track the forward
 * path ("the convergence of Kolen–Pollack learning primarily relies on the
 * principle of weight decay", 002 §5).  For the last hidden layer the direct
 * connection is W_L itself, whose gradient is e^T h_{L-1}: B_{L-1} gets W_L's
 * gradient.  In Kolen–Pollack proper both take the same steps under the same
 * decay, so their difference decays and B -> W.  Here, by default, only B
 * decays and it has its own optimizer and rate (fb_lr), so B comes to follow
 * W_L's recent updates rather than to equal W_L; `--wd` decays W as well.
 *
 * B_l starts at zero (cfg.feedback_init, default zeros), lives in the state
 * block and steps with its own optimizer (fblearn.c: Adam at alpha = fb_lr by
 * default, 002 Appendix A).  B and W are updated side by side from the same
 * forward pass, as Kolen–Pollack's forward and backward weights are: the
 * hidden layers' signal uses B before this batch's feedback step.  The
 * output layer trains on its true gradient.
 *
 * 002 gives no value for the decay; the DKP authors' code uses 0 and they
 * recommend 1e-6, bpfree's default: an L2 term in B's gradient (decoupled
 * from optim.weight_decay).  B's rate alpha stays constant as in their code
 * (--fb-schedule follow lets the lr schedule scale it). */
#include "rules/rules.h"

#include <string.h>

typedef struct dkp_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l */
    float *e;                        /* (B, C) output error */
    float *dh;                       /* (B, max width) signal at a hidden output */
    bp_fblearn f;
} dkp_state;

/* 002 Appendix A: Adam, lambda = alpha = 1e-4, x0.95 per epoch, feedback
 * from zero, 800-unit layers; 30 epochs instead of 100. */
static void dkp_defaults(bpfree_config *c) {
    bp_defaults_learned_feedback(c);
    c->fb_wd = 1e-6f; /* the authors recommend 1e-6 (their code's default is 0) */
}

static bpfree_status dkp_reserve(bpfree_model *m, bpfree_error *err) {
    dkp_state *s = m->rs;
    return bp_fblearn_reserve(m, &s->f, err);
}

static bpfree_status dkp_init(bpfree_model *m, bpfree_error *err) {
    dkp_state *s = m->rs;
    const size_t B = (size_t)m->rows;
    if (m->cfg.fb_optim == BPFREE_FB_EMA)
        return bp_fail(err, BPFREE_EINVAL,
                       "dkp: the feedback optimizer must be adam or sgd (ema is fdfa's eq. 8)");
    bpfree_status st = bp_fblearn_init(m, &s->f, err);
    if (st) return st;
    bp_acts_reserve(m, s->h);
    bp_scratch(m, &s->e, B * m->cfg.outputs);  /* output error */
    bp_scratch(m, &s->dh, B * bp_max_width(m)); /* hidden signal */
    return BPFREE_OK;
}

static bpfree_status dkp_train(bpfree_model *m, int B, double *loss, long *correct) {
    dkp_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e);
    bp_fblearn_begin(m, &s->f);
    for (int l = 0; l < L - 1; l++) {
        const bp_layer *Ly = &m->layers[l];
        const int n = bp_layer_sig_cols(Ly);
        bp_feedback_signal(m, s->f.fb, l, 1.0f, s->e, B, s->dh); /* e B_l, as DFA */
        /* grad B_l (C, n) = e^T h_l, from the activation before the step, at
         * the signal point (the pre-pool maps with --feedback-point pre-pool) */
        bpfree_gemm(1, 0, C, n, B, 1.0f, s->e, C, bp_layer_sig_act(Ly, s->h[l + 1]), n, 0.0f,
                    s->f.g, n);
        bp_layer_signal_step(m, l, s->h[l], s->h[l + 1], s->dh, B, NULL);
        bp_fblearn_step(m, &s->f, l);
    }
    bp_layer_backward_step(m, L - 1, s->h[L - 1], s->h[L], s->e, B);
    return BPFREE_OK;
}

static void dkp_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    dkp_state *s = m->rs;
    bp_forward_all(m, x, s->h, B);
    memcpy(scores, s->h[m->n_layers], (size_t)B * m->cfg.outputs * sizeof(float));
}

const bp_rule bp_rule_dkp = {
    .info = {.name = "dkp",
             .title = "Direct Kolen-Pollack",
             .paper = "Webster, Choi, Ahn 2021; Bacho & Chu 2024 §2.4, §5, Appendix A",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes", /* as DFA */
             .locality = "non-local",
             .update_locking = "forward"},
    .defaults = dkp_defaults,
    .reserve = dkp_reserve,
    .init = dkp_init,
    .train_batch = dkp_train,
    .predict = dkp_predict,
    .state_size = sizeof(dkp_state),
    .caps = BP_CAP_FEEDBACK | BP_CAP_DIRECT | BP_CAP_LEARNED_FEEDBACK | BP_CAP_ANY_LAYER,
};
