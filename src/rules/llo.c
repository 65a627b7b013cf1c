/* llo.c — last layer only (the baseline of 001 §4): hidden layers keep
 * their initial weights; only the output layer learns, on its true gradient.
 * It shows how much a rule's hidden-layer signal actually adds. */
#include "rules/rules.h"

typedef struct llo_state {
    bp_onepass p; /* first: bp_onepass_rule_predict/free rely on it */
} llo_state;

static bpfree_status llo_init(bpfree_model *m, bpfree_error *err) {
    (void)err;
    llo_state *s = m->rs;
    bp_work_reserve(m, &s->p);
    return BPFREE_OK;
}

static bpfree_status llo_train(bpfree_model *m, int B, double *loss, long *correct) {
    llo_state *s = m->rs;
    bp_onepass_train(m, &s->p, NULL, NULL, B, loss, correct); /* no signal: frozen */
    return BPFREE_OK;
}

static void llo_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i,
                           const float *in, float *out, bp_pipe_batch *b) {
    bp_onepass_layer(m, o, w, i, in, out, NULL, NULL, b);
}

const bp_rule bp_rule_llo = {
    .info = {.name = "llo",
             .title = "Last Layer Only",
             .paper = "baseline of Flügel et al. 2024 §4",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "no",
             .locality = "single-layer",
             .update_locking = "none"},
    .defaults = bp_defaults_f3_paper,
    .init = llo_init,
    .train_batch = llo_train,
    .pipe_layer = llo_pipe_layer,
    .predict = bp_onepass_rule_predict,
    .state_size = sizeof(llo_state),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER | BP_CAP_LAYERWISE | BP_CAP_ONEPASS,
};
