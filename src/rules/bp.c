/* bp.c — backpropagation (survey 000, §III-A): the signal reaching hidden
 * layer l is W_{l+1}^T delta_z_{l+1}, the chain rule.  Every layer's output
 * is kept until the backward pass reaches it: memory grows with depth. */
#include "internal.h"

typedef struct bp_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l (B, O_l) */
    float *d[2];                     /* delta ping-pong (B, max width) */
} bp_state;

static bpfree_status bp_init(bpfree_model *m, bpfree_error *err) {
    bp_state *s = bp_alloc(&m->mem, sizeof *s);
    if (!s) return bp_fail(err, BPFREE_ENOMEM, "out of memory (bp state)");
    m->rs = s;
    const size_t B = (size_t)m->batch, W = (size_t)bp_max_width(m);
    bpfree_status st = bp_acts_alloc(m, s->h, err);
    if (st) return st;
    for (int i = 0; i < 2; i++)
        if (!(s->d[i] = bp_alloc_floats(&m->mem, B * W, "deltas", err))) return BPFREE_ENOMEM;
    return BPFREE_OK;
}

static bpfree_status bp_train(bpfree_model *m, int B, double *loss, long *correct) {
    bp_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    float *dcur = s->d[0], *dnext = s->d[1];
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, dcur);
    /* Layer l's gradient and the signal at its input use its current W; its
     * step comes after, so the result equals computing all gradients first. */
    for (int l = L - 1; l >= 0; l--) {
        bp_dense_backward(&m->layers[l], s->h[l], s->h[l + 1], dcur, l > 0 ? dnext : NULL, B);
        bp_layer_step(m, l);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    return BPFREE_OK;
}

static void bp_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    bp_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->d[0], s->d[1], scores);
}

static void bp_free_state(bpfree_model *m) {
    bp_state *s = m->rs;
    if (!s) return;
    bp_acts_free(m, s->h);
    bp_free(&m->mem, s->d[0]);
    bp_free(&m->mem, s->d[1]);
    bp_free(&m->mem, s);
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
};
