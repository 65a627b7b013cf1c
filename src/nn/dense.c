/* dense.c — the dense layer: forward, and turning a signal at its output
 * into its own gradient (and, for chain-rule rules, a signal at its input). */
#include "nn/nn.h"

#include <string.h>

/* Both passes work on a range [a, b) of output units, so that with
 * BPFREE_THREADING_SPLIT each thread computes its units' product and does
 * their element-wise work while the results are in its cache; [0, O) on one
 * thread is the plain pass.  The element-wise work gives the same numbers
 * however it is split; the products may not — OpenBLAS's edge kernels round
 * a slice of a product differently from the whole (tests/test_perf.c checks
 * the split exactly on data whose sums are exact). */

typedef struct {
    const bp_dense *L;
    const float *x, *h;
    float *out;
    int B;
} dense_job;

/* h[:, a:b] = f(x W[a:b]^T + b[a:b]) */
static void forward_part(void *ctx, size_t a, size_t b) {
    const dense_job *j = ctx;
    const bp_dense *L = j->L;
    const int I = L->in, O = L->out, B = j->B, w = (int)(b - a);
    float *h = j->out;
    for (int r = 0; r < B; r++)
        memcpy(h + (size_t)r * O + a, L->b + a, (size_t)w * sizeof(float));
    bp_gemm_slice(a == 0, B, O, 0, 1, B, w, I, 1.0f, j->x, I, L->W + a * (size_t)I, I, 1.0f,
                  h + a, O);
    bp_act_forward_cols(L->act, h, B, O, a, b);
}

/* x (B, I), W (O, I), b (O) -> h (B, O) = f(x W^T + b). */
void bp_dense_forward(const bp_dense *L, const float *x, float *h, int B) {
    dense_job j = {L, x, NULL, h, B};
    bp_split_for((double)B * L->out * L->in, (size_t)L->out, BP_UNIT_GRAIN, forward_part, &j);
}

void bp_dense_grad_units(const bp_dense *L, const float *x, const float *dz, int B, size_t a,
                         size_t b, float beta) {
    const int I = L->in, O = L->out;
    bp_gemm_slice(a == 0, O, I, 1, 0, (int)(b - a), I, B, 1.0f, dz + a, O, x, I, beta,
                  L->gW + a * (size_t)I, I);
    bp_bias_grad(L->gb, dz, B, O, a, b);
}

/* units a..b: dz = dh ⊙ f'(z), gW[a:b] = dz[:, a:b]^T x, gb[a:b] */
static void backward_part(void *ctx, size_t a, size_t b) {
    const dense_job *j = ctx;
    bp_act_backward_cols(j->L->act, j->h, j->out, j->B, j->L->out, a, b);
    bp_dense_grad_units(j->L, j->x, j->out, j->B, a, b, 0.0f);
}

/* dh (B, O) -> dz in place; gW (O, I) = dz^T x; gb (O) = sum_b dz;
 * dx (B, I) = dz W if asked. */
void bp_dense_backward(bp_dense *L, const float *x, const float *h, float *dh, float *dx,
                       int B) {
    const int I = L->in, O = L->out;
    L->gzero = 0; /* gW written whole below */
    dense_job j = {L, x, h, dh, B};
    bp_split_for((double)B * O * I, (size_t)O, BP_UNIT_GRAIN, backward_part, &j);
    if (dx) bpfree_gemm(0, 0, B, I, O, 1.0f, dh, O, L->W, I, 0.0f, dx, I);
}

/* gb[a:b] = sum over the B rows of dz[:, a:b] (row-major, O wide) */
void bp_bias_grad(float *gb, const float *dz, int B, int O, size_t a, size_t b) {
    for (size_t o = a; o < b; o++) gb[o] = 0.0f;
    for (int r = 0; r < B; r++) {
        const float *d = dz + (size_t)r * O;
        for (size_t o = a; o < b; o++) gb[o] += d[o];
    }
}

void bp_tangent_dense(const bp_dense *L, const float *x, const float *h, const float *din,
                      const float *V, const float *vb, const float *u, float *dout, int B) {
    const int I = L->in, O = L->out;
    const size_t n = (size_t)B * O;
    /* dout (B, O) = din (B, I) W^T (I, O) */
    if (din) bpfree_gemm(0, 1, B, O, I, 1.0f, din, I, L->W, I, 0.0f, dout, O);
    else memset(dout, 0, n * sizeof(float));
    /* += x (B, I) V^T (I, O) + vb: the weight perturbation's effect on z */
    if (V) bpfree_gemm(0, 1, B, O, I, 1.0f, x, I, V, I, 1.0f, dout, O);
    if (vb)
        for (int r = 0; r < B; r++) {
            float *d = dout + (size_t)r * O;
            for (int o = 0; o < O; o++) d[o] += vb[o];
        }
    bp_act_backward(L->act, h, dout, n); /* ⊙ f'(z) */
    if (u)
        for (size_t i = 0; i < n; i++) dout[i] += u[i];
}
