/* drtp.c — direct random target projection (Frenkel et al. 2021; survey
 * 000 §III-F).  Hidden layer l receives the target itself through a fixed
 * random B_l:  delta_h_l = B_l^T y*  (positive sign, as the authors' code),
 * and updates at once, before later layers run — no layer waits for the
 * output.  The output layer trains on its true gradient.  The original setup
 * uses a sigmoid output with binary cross-entropy (--loss bce). */
#include "rules/rules.h"

typedef struct drtp_state {
    bp_onepass p; /* first: bp_onepass_rule_predict/free rely on it */
    int fb[BPFREE_MAX_LAYERS];
} drtp_state;

static bpfree_status drtp_reserve(bpfree_model *m, bpfree_error *err) {
    drtp_state *s = m->rs;
    return bp_feedback_reserve(m, s->fb, err);
}

static bpfree_status drtp_init(bpfree_model *m, bpfree_error *err) {
    drtp_state *s = m->rs;
    (void)err;
    bp_feedback_init(m, s->fb);
    bp_work_reserve(m, &s->p);
    return BPFREE_OK;
}

static bpfree_status drtp_train(bpfree_model *m, int B, double *loss, long *correct) {
    drtp_state *s = m->rs;
    bp_onepass_train(m, &s->p, s->fb, m->yb, B, loss, correct); /* y* B_l */
    return BPFREE_OK;
}

static void drtp_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i,
                            const float *in, float *out, bp_pipe_batch *b) {
    bp_onepass_layer(m, o, w, i, in, out, ((drtp_state *)m->rs)->fb, b->y, b);
}

const bp_rule bp_rule_drtp = {
    .info = {.name = "drtp",
             .title = "Direct Random Target Projection",
             .paper = "Frenkel et al. 2021; survey Huang et al. 2025 §III-F",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "no",
             .locality = "single-layer",
             .update_locking = "none"},
    .defaults = bp_defaults_f3_paper,
    .reserve = drtp_reserve,
    .init = drtp_init,
    .train_batch = drtp_train,
    .pipe_layer = drtp_pipe_layer,
    .predict = bp_onepass_rule_predict,
    .state_size = sizeof(drtp_state),
    .caps = BP_CAP_FEEDBACK | BP_CAP_DIRECT | BP_CAP_VARIANCE | BP_CAP_ANY_LAYER | BP_CAP_LAYERWISE | BP_CAP_ONEPASS,
};
