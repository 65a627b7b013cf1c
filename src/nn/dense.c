/* dense.c — the dense layer: forward, and turning a signal at its output
 * into its own gradient (and, for chain-rule rules, a signal at its input). */
#include "internal.h"

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
    if (w == O) bp_act_forward(L->act, h, (size_t)B * O);
    else
        for (int r = 0; r < B; r++) bp_act_forward(L->act, h + (size_t)r * O + a, (size_t)w);
}

/* x (B, I), W (O, I), b (O) -> h (B, O) = f(x W^T + b). */
void bp_dense_forward(const bp_dense *L, const float *x, float *h, int B) {
    dense_job j = {L, x, NULL, h, B};
    const int O = L->out;
    if (O >= 64 && bp_split_width((double)B * O * L->in) > 1)
        bp_par_for((size_t)O, 32, forward_part, &j);
    else forward_part(&j, 0, (size_t)O);
}

/* units a..b: dz = dh ⊙ f'(z), gW[a:b] = dz[:, a:b]^T x, gb[a:b] */
static void backward_part(void *ctx, size_t a, size_t b) {
    const dense_job *j = ctx;
    const bp_dense *L = j->L;
    const int I = L->in, O = L->out, B = j->B, w = (int)(b - a);
    float *dh = j->out;
    if (w == O) bp_act_backward(L->act, j->h, dh, (size_t)B * O);
    else
        for (int r = 0; r < B; r++)
            bp_act_backward(L->act, j->h + (size_t)r * O + a, dh + (size_t)r * O + a, (size_t)w);
    bp_gemm_slice(a == 0, O, I, 1, 0, w, I, B, 1.0f, dh + a, O, j->x, I, 0.0f,
                  L->gW + a * (size_t)I, I);
    bp_bias_grad(L->gb, dh, B, O, a, b);
}

/* dh (B, O) -> dz in place; gW (O, I) = dz^T x; gb (O) = sum_b dz;
 * dx (B, I) = dz W if asked. */
void bp_dense_backward(const bp_dense *L, const float *x, const float *h, float *dh,
                       float *dx, int B) {
    const int I = L->in, O = L->out;
    dense_job j = {L, x, h, dh, B};
    if (O >= 64 && bp_split_width((double)B * O * I) > 1)
        bp_par_for((size_t)O, 32, backward_part, &j);
    else backward_part(&j, 0, (size_t)O);
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
