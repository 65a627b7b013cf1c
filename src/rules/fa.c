/* fa.c — feedback alignment (Lillicrap et al. 2016; survey 000 §III-D).
 * The backward chain of BP with each W_l^T replaced by a fixed random B_l of
 * W_l's shape (O, I):  delta_h_{l-1} = delta_z_l B_l.  The output layer's
 * own gradient is exact; every layer waits for the backward pass. */
#include "internal.h"

#include <stdio.h>

typedef struct fa_state {
    float *h[BPFREE_MAX_LAYERS + 1];
    float *d[2];
    int fb[BPFREE_MAX_LAYERS]; /* B_l (O_l, I_l) for l >= 1; layer 0 sends no signal */
} fa_state;

static bpfree_status fa_reserve(bpfree_model *m, bpfree_error *err) {
    fa_state *s = bp_alloc(&m->mem, sizeof *s);
    if (!s) return bp_fail(err, BPFREE_ENOMEM, "out of memory (fa state)");
    m->rs = s;
    for (int l = 1; l < m->n_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "B%d", l + 1);
        s->fb[l] = bp_model_reserve(m, name, (size_t)m->layers[l].out * m->layers[l].in, 0);
        if (s->fb[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

static bpfree_status fa_init(bpfree_model *m, bpfree_error *err) {
    fa_state *s = m->rs;
    const size_t B = (size_t)m->batch, W = (size_t)bp_max_width(m);
    for (int l = 1; l < m->n_layers; l++) /* drawn like W_l itself */
        bp_init_fill(&m->rng, bp_tensor_ptr(m, s->fb[l]), m->layers[l].out, m->layers[l].in,
                     m->cfg.feedback_init, m->cfg.init_std);
    bpfree_status st = bp_acts_alloc(m, s->h, err);
    if (st) return st;
    for (int i = 0; i < 2; i++)
        if (!(s->d[i] = bp_alloc_floats(&m->mem, B * W, "deltas", err))) return BPFREE_ENOMEM;
    return BPFREE_OK;
}

static bpfree_status fa_train(bpfree_model *m, int B, double *loss, long *correct) {
    fa_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    float *dcur = s->d[0], *dnext = s->d[1];
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, dcur);
    for (int l = L - 1; l >= 0; l--) {
        const bp_dense *Ly = &m->layers[l];
        bp_dense_backward(Ly, s->h[l], s->h[l + 1], dcur, NULL, B); /* dcur is now dz_l */
        if (l > 0) /* delta_h_{l-1} (B, I) = dz_l (B, O) B_l (O, I) */
            bpfree_gemm(0, 0, B, Ly->in, Ly->out, 1.0f, dcur, Ly->out,
                        bp_tensor_ptr(m, s->fb[l]), Ly->in, 0.0f, dnext, Ly->in);
        bp_layer_step(m, l);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    return BPFREE_OK;
}

static void fa_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    fa_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->d[0], s->d[1], scores);
}

static void fa_free(bpfree_model *m) {
    fa_state *s = m->rs;
    if (!s) return;
    bp_acts_free(m, s->h);
    bp_free(&m->mem, s->d[0]);
    bp_free(&m->mem, s->d[1]);
    bp_free(&m->mem, s);
    m->rs = NULL;
}

const bp_rule bp_rule_fa = {
    .info = {.name = "fa",
             .title = "Feedback Alignment",
             .paper = "Lillicrap et al. 2016; survey 000 §III-D",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes",
             .locality = "non-local",
             .update_locking = "backward"},
    .reserve = fa_reserve,
    .init = fa_init,
    .train_batch = fa_train,
    .predict = fa_predict,
    .free = fa_free,
};
