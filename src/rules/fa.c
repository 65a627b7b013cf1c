/* fa.c — feedback alignment (Lillicrap et al. 2016; survey Huang et al. 2025 §III-D).
 * The backward chain of BP with each W_l^T replaced by a fixed random B_l of
 * W_l's shape (O, I):  delta_h_{l-1} = delta_z_l B_l.  The output layer's
 * own gradient is exact; every layer waits for the backward pass. */
#include "rules/rules.h"

#include <stdio.h>

typedef struct fa_state {
    bp_chain c;
    int fb[BPFREE_MAX_LAYERS];           /* B_l (O_l, I_l) for l >= 1; layer 0 sends no signal */
    const float *back[BPFREE_MAX_LAYERS]; /* their pointers, for bp_chain_train */
} fa_state;

static bpfree_status fa_reserve(bpfree_model *m, bpfree_error *err) {
    fa_state *s = m->rs;
    for (int l = 1; l < m->n_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "B%d", l + 1);
        s->fb[l] = bp_model_reserve(m, name, bp_layer_n_weights(&m->layers[l]), 0);
        if (s->fb[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
        bp_tensor_shape(m, s->fb[l], m->layers[l].units);
    }
    return BPFREE_OK;
}

static bpfree_status fa_init(bpfree_model *m, bpfree_error *err) {
    fa_state *s = m->rs;
    for (int l = 1; l < m->n_layers; l++) { /* drawn like W_l itself (no bias) */
        const bp_layer *L = &m->layers[l];
        float *Bl = bp_tensor_ptr(m, s->fb[l]);
        bp_layer_init(L, &m->rng, Bl, NULL, m->cfg.feedback_init, m->cfg.init_std);
        s->back[l] = Bl;
    }
    (void)err;
    bp_chain_reserve(m, &s->c);
    return BPFREE_OK;
}

static bpfree_status fa_train(bpfree_model *m, int B, double *loss, long *correct) {
    fa_state *s = m->rs;
    bp_chain_train(m, &s->c, s->back, B, loss, correct);
    return BPFREE_OK;
}

static void fa_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    fa_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->c.d[0], s->c.d[1], scores);
}

const bp_rule bp_rule_fa = {
    .info = {.name = "fa",
             .title = "Feedback Alignment",
             .paper = "Lillicrap et al. 2016; survey Huang et al. 2025 §III-D",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes",
             .locality = "non-local",
             .update_locking = "backward"},
    .reserve = fa_reserve,
    .init = fa_init,
    .train_batch = fa_train,
    .predict = fa_predict,
    .state_size = sizeof(fa_state),
    .caps = BP_CAP_FEEDBACK | BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
};
