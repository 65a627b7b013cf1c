/* bp.c — backpropagation (survey 000, §III-A): the signal reaching hidden
 * layer l is W_{l+1}^T delta_z_{l+1}, the chain rule.  Every layer's output
 * is kept until the backward pass reaches it: memory grows with depth. */
#include "rules/rules.h"

static bpfree_status bp_init(bpfree_model *m, bpfree_error *err) {
    (void)err;
    bp_chain_reserve(m, m->rs);
    return BPFREE_OK;
}

static bpfree_status bp_train(bpfree_model *m, int B, double *loss, long *correct) {
    bp_chain_train(m, m->rs, NULL, B, loss, correct); /* NULL: the transported W */
    return BPFREE_OK;
}

static void bp_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    bp_chain *c = m->rs;
    bp_forward_pingpong(m, x, B, c->d[0], c->d[1], scores);
}

const bp_rule bp_rule_bp = {
    .info = {.name = "bp",
             .title = "Backpropagation",
             .paper = "Rumelhart et al. 1986; survey Huang et al. 2025 §III-A",
             .output_layer = 1,
             .weight_transport = "yes",
             .frozen_activities = "yes",
             .locality = "non-local",
             .update_locking = "backward"},
    .init = bp_init,
    .train_batch = bp_train,
    .predict = bp_predict,
    .state_size = sizeof(bp_chain),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
};
