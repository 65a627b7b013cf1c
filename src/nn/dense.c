/* dense.c — the dense layer: forward, and turning a signal at its output
 * into its own gradient (and, for chain-rule rules, a signal at its input). */
#include "internal.h"

#include <string.h>

/* x (B, I), W (O, I), b (O) -> h (B, O) = f(x W^T + b). */
void bp_dense_forward(const bp_dense *L, const float *x, float *h, int B) {
    const int I = L->in, O = L->out;
    for (int r = 0; r < B; r++) memcpy(h + (size_t)r * O, L->b, (size_t)O * sizeof(float));
    bpfree_gemm(0, 1, B, O, I, 1.0f, x, I, L->W, I, 1.0f, h, O);
    bp_act_forward(L->act, h, (size_t)B * O);
}

/* dh (B, O) -> dz in place; gW (O, I) = dz^T x; gb (O) = sum_b dz;
 * dx (B, I) = dz W if asked. */
void bp_dense_backward(const bp_dense *L, const float *x, const float *h, float *dh,
                       float *dx, int B) {
    const int I = L->in, O = L->out;
    bp_act_backward(L->act, h, dh, (size_t)B * O);
    bpfree_gemm(1, 0, O, I, B, 1.0f, dh, O, x, I, 0.0f, L->gW, I);
    for (int o = 0; o < O; o++) L->gb[o] = 0.0f;
    for (int r = 0; r < B; r++) {
        const float *d = dh + (size_t)r * O;
        for (int o = 0; o < O; o++) L->gb[o] += d[o];
    }
    if (dx) bpfree_gemm(0, 0, B, I, O, 1.0f, dh, O, L->W, I, 0.0f, dx, I);
}
