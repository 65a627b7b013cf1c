/* feedback.c — per-layer matrices (C, n_l) between a layer and the classes:
 * fixed random feedback B_l in the state block (dfa, drtp, f3; learned by
 * dkp, fdfa), and trainable local heads M_l (mf, lg-fg-a). */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

bpfree_status bp_layer_mats_reserve(bpfree_model *m, const char *prefix, int n, int trainable,
                                    int *t, bpfree_error *err) {
    for (int l = 0; l < n; l++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", prefix, l + 1);
        t[l] = bp_model_reserve(m, name, (size_t)m->cfg.outputs * m->layers[l].out, trainable);
        if (t[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
        bp_tensor_shape(m, t[l], m->cfg.outputs);
    }
    return BPFREE_OK;
}

void bp_layer_mats_init(bpfree_model *m, const int *t, int n, bpfree_init how) {
    /* (C, n_l), drawn like the weight of a layer n_l -> C */
    for (int l = 0; l < n; l++)
        bp_init_fill(&m->rng, bp_tensor_ptr(m, t[l]), m->cfg.outputs, m->layers[l].out, how,
                     m->cfg.init_std);
}

bpfree_status bp_feedback_reserve(bpfree_model *m, int *fb, bpfree_error *err) {
    return bp_layer_mats_reserve(m, "B", m->cfg.n_hidden, 0, fb, err);
}

void bp_feedback_init(bpfree_model *m, const int *fb) {
    bp_layer_mats_init(m, fb, m->cfg.n_hidden, m->cfg.feedback_init);
}

void bp_feedback_signal(const bpfree_model *m, const int *fb, int l, float alpha,
                        const float *e, int B, float *dh) {
    const int n = m->layers[l].out, C = m->cfg.outputs;
    /* dh (B, n) = alpha e (B, C) B_l (C, n) */
    bpfree_gemm(0, 0, B, n, C, alpha, e, C, bp_tensor_ptr(m, fb[l]), n, 0.0f, dh, n);
}

