/* bp.c — backpropagation (survey 000, §III-A): the signal reaching hidden
 * layer l is W_{l+1}^T delta_z_{l+1}, the chain rule.  Every layer's output
 * is kept until the backward pass reaches it: memory grows with depth. */
#include "rules/rules.h"

static bpfree_status bp_init(bpfree_model *m, bpfree_error *err) {
    bp_chain *c = bp_alloc(&m->mem, sizeof *c);
    if (!c) return bp_fail(err, BPFREE_ENOMEM, "out of memory (bp state)");
    m->rs = c;
    return bp_chain_alloc(m, c, err);
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

static void bp_free_state(bpfree_model *m) {
    if (!m->rs) return;
    bp_chain_free(m, m->rs);
    bp_free(&m->mem, m->rs);
    m->rs = NULL;
}

const bp_rule bp_rule_bp = {
    .info = {.name = "bp",
             .title = "Backpropagation",
             .paper = "Rumelhart et al. 1986; survey 000 §III-A",
             .output_layer = 1,
             .weight_transport = "yes",
             .frozen_activities = "yes",
             .locality = "non-local",
             .update_locking = "backward"},
    .init = bp_init,
    .train_batch = bp_train,
    .predict = bp_predict,
    .free = bp_free_state,
    .caps = BP_CAP_VARIANCE,
};
