/* feedback.c — per-layer matrices (C, n_l) between a layer and the classes:
 * fixed random feedback B_l in the state block (dfa, drtp, f3; learned by
 * dkp, fdfa), and trainable local heads M_l (mf, lg-fg-a).  A head reads
 * the layer's output (n_l = out); a feedback matrix reaches the layer's
 * signal point (n_l = bp_layer_sig_cols: the pre-pool maps with
 * --feedback-point pre-pool). */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

static int mat_cols(const bpfree_model *m, int l, int at_sig) {
    return at_sig ? bp_layer_sig_cols(&m->layers[l]) : m->layers[l].out;
}

static bpfree_status mats_reserve(bpfree_model *m, const char *prefix, int n, int trainable,
                                  int at_sig, int *t, bpfree_error *err) {
    for (int l = 0; l < n; l++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", prefix, l + 1);
        t[l] = bp_model_reserve(m, name, (size_t)m->cfg.outputs * mat_cols(m, l, at_sig), trainable);
        if (t[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
        bp_tensor_shape(m, t[l], m->cfg.outputs);
    }
    return BPFREE_OK;
}

bpfree_status bp_layer_mats_reserve(bpfree_model *m, const char *prefix, int n, int trainable,
                                    int *t, bpfree_error *err) {
    return mats_reserve(m, prefix, n, trainable, 0, t, err);
}

/* (C, n_l), drawn like the weight of a layer n_l -> C */
static void mats_init(bpfree_model *m, const int *t, int n, bpfree_init how, int at_sig) {
    for (int l = 0; l < n; l++)
        bp_init_fill(&m->rng, bp_tensor_ptr(m, t[l]), m->cfg.outputs, mat_cols(m, l, at_sig), how,
                     m->cfg.init_std);
}

void bp_layer_mats_init(bpfree_model *m, const int *t, int n, bpfree_init how) {
    mats_init(m, t, n, how, 0);
}

bpfree_status bp_feedback_reserve(bpfree_model *m, int *fb, bpfree_error *err) {
    return mats_reserve(m, "B", m->cfg.n_hidden, 0, 1, fb, err);
}

void bp_feedback_init(bpfree_model *m, const int *fb) {
    mats_init(m, fb, m->cfg.n_hidden, m->cfg.feedback_init, 1);
}

void bp_feedback_signal(const bpfree_model *m, const int *fb, int l, float alpha,
                        const float *e, int B, float *dh) {
    const int n = bp_layer_sig_cols(&m->layers[l]), C = m->cfg.outputs;
    /* dh (B, n) = alpha e (B, C) B_l (C, n) */
    bpfree_gemm(0, 0, B, n, C, alpha, e, C, bp_tensor_ptr(m, fb[l]), n, 0.0f, dh, n);
}

