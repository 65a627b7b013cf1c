/* feedback.c — fixed random feedback matrices B_l (C, n_l) in the state
 * block (fa, dfa, drtp, f3): reserved, drawn and projected. */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

bpfree_status bp_feedback_reserve(bpfree_model *m, int *fb, bpfree_error *err) {
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "B%d", l + 1);
        fb[l] = bp_model_reserve(m, name, (size_t)m->cfg.outputs * m->cfg.hidden[l], 0);
        if (fb[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

void bp_feedback_init(bpfree_model *m, const int *fb) {
    /* B_l (C, n_l) is drawn like the weight of a layer n_l -> C */
    for (int l = 0; l < m->cfg.n_hidden; l++)
        bp_init_fill(&m->rng, bp_tensor_ptr(m, fb[l]), m->cfg.outputs, m->layers[l].out,
                     m->cfg.feedback_init, m->cfg.init_std);
}

void bp_feedback_signal(const bpfree_model *m, const int *fb, int l, float alpha,
                        const float *e, int B, float *dh) {
    const int n = m->layers[l].out, C = m->cfg.outputs;
    /* dh (B, n) = alpha e (B, C) B_l (C, n) */
    bpfree_gemm(0, 0, B, n, C, alpha, e, C, bp_tensor_ptr(m, fb[l]), n, 0.0f, dh, n);
}

