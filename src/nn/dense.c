/* dense.c — the dense layer kind, h = f(x W^T + b): forward, turning a
 * signal at its output into its own gradient (and, for chain-rule rules, a
 * signal at its input), its forward-mode tangent and its initialisation. */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

/* Both passes work on a range [a, b) of output units, so that with
 * BPFREE_THREADING_SPLIT each thread computes its units' product and does
 * their element-wise work while the results are in its cache; [0, O) on one
 * thread is the plain pass.  The element-wise work gives the same numbers
 * however it is split; the products may not — OpenBLAS's edge kernels round
 * a slice of a product differently from the whole (tests/test_threads.c checks
 * the split exactly on data whose sums are exact). */

typedef struct {
    const bp_layer *L;
    const float *x, *h;
    float *out;
    int B;
    int z_only; /* forward_part: stop at the pre-activation (no BN, no f) */
} dense_job;

/* h[:, a:b] = f(x W[a:b]^T + b[a:b]) */
static void forward_part(void *ctx, size_t a, size_t b) {
    const dense_job *j = ctx;
    const bp_layer *L = j->L;
    const int I = L->in, O = L->out, B = j->B, w = (int)(b - a);
    float *h = j->out;
    for (int r = 0; r < B; r++)
        memcpy(h + (size_t)r * O + a, L->b + a, (size_t)w * sizeof(float));
    bp_gemm_slice(a == 0, B, O, 0, 1, B, w, I, 1.0f, j->x, I, L->W + a * (size_t)I, I, 1.0f,
                  h + a, O);
    if (j->z_only) return;
    if (L->bn) bp_bn_forward(L, h, B, a, b); /* per column: stays in the part */
    bp_act_forward_cols(L->act, h, B, O, a, b);
}

/* x (B, I), W (O, I), b (O) -> h (B, O) = f(x W^T + b). */
static void dense_forward(const bp_layer *L, const float *x, float *h, int B) {
    dense_job j = {L, x, NULL, h, B, 0};
    /* one row (one image predicted) streams the whole W for few flops: worth
     * both cores' caches from a quarter of the usual size (784-1000-10, one
     * image: 89 us on 1 thread, 46 us on 2 — BENCHMARKS "Session 7") */
    const double work = (double)B * L->out * L->in * (B == 1 ? 4.0 : 1.0);
    bp_split_for(work, (size_t)L->out, BP_UNIT_GRAIN, forward_part, &j);
}

/* gW[a:b] (b-a, I) = dz[:, a:b]^T x (+ beta gW[a:b]); all units at once go
 * through bpfree_gemm, which splits the product itself when that pays */
static void dense_grad_units(const bp_layer *L, const float *x, const float *dz, int B,
                             size_t a, size_t b, float beta) {
    const int I = L->in, O = L->out;
    if (a == 0 && b == (size_t)O)
        bpfree_gemm(1, 0, O, I, B, 1.0f, dz, O, x, I, beta, L->gW, I);
    else
        bp_gemm_slice(a == 0, O, I, 1, 0, (int)(b - a), I, B, 1.0f, dz + a, O, x, I, beta,
                      L->gW + a * (size_t)I, I);
    bp_bias_grad(L->gb, dz, B, O, a, b, beta);
}

/* dx (B, I) = dz (B, O) W (O, I) */
static void dense_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx,
                             int B) {
    bpfree_gemm(0, 0, B, L->in, L->out, 1.0f, dz, L->out, W, L->in, 0.0f, dx, L->in);
}

static void dense_tangent(const bp_layer *L, const float *x, const float *h, const float *din,
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
    /* with batch normalisation vb holds b's, gamma's and beta's perturbations */
    if (L->bn) bp_bn_tangent(L, dout, B, vb ? vb + O : NULL, vb ? vb + 2 * (size_t)O : NULL);
    bp_act_backward(L->act, h, dout, n); /* ⊙ f'(z) */
    if (u)
        for (size_t i = 0; i < n; i++) dout[i] += u[i];
}

/* W (O, I) as a weight of fan-in I; with KAIMING_UNIFORM the bias too,
 * U(±1/sqrt(I)) as PyTorch's nn.Linear (other inits leave biases at 0) */
static void dense_init(const bp_layer *L, bp_rng *r, float *w, float *b, bpfree_init how,
                       float std) {
    bp_init_fill(r, w, L->out, L->in, how, std);
    if (!b || how != BPFREE_INIT_KAIMING_UNIFORM) return;
    const float a = 1.0f / sqrtf((float)L->in);
    for (int o = 0; o < L->out; o++) b[o] = a * (2.0f * bp_rng_uniform(r) - 1.0f);
}

/* units a..b: dz = dh ⊙ f'(z) on their columns, in place */
static void dense_output_grad(const bp_layer *L, const float *h, const float *dh, float *dz,
                              int B, size_t a, size_t b) {
    (void)dh; /* == dz */
    bp_act_backward_cols(L->act, h, dz, B, L->out, a, b);
    if (L->bn) bp_bn_backward(L, dz, B, a, b);
}

/* only batch normalisation needs a workspace (bn.c) */
static void dense_ws_size(const bp_layer *L, int rows, size_t *floats, size_t *ints) {
    *floats = bp_bn_ws_floats(L, rows);
    *ints = 0;
}

static float *dense_dz_of(const bp_layer *L, float *dh) {
    (void)L;
    return dh;
}

/* Grouped rows (see nn.h): group 0 through the forward's own product, group
 * g from it by the product of its difference in the first k columns,
 * x_g[:, :k] W[:, :k]^T - x_0[:, :k] W[:, :k]^T. */
void bp_dense_product(const bp_layer *L, const float *x, float *z, int r) {
    dense_job j = {L, x, NULL, z, r, 1};
    bp_split_for((double)r * L->out * L->in, (size_t)L->out, BP_UNIT_GRAIN, forward_part, &j);
}

void bp_dense_forward_grouped(const bp_layer *L, const float *x, float *h, int r, int groups,
                              int k, int first_given) {
    const int I = L->in, O = L->out;
    if (!first_given) bp_dense_product(L, x, h, r);
    for (int g = 1; g < groups; g++) {
        float *hg = h + (size_t)g * r * O;
        memcpy(hg, h, (size_t)r * O * sizeof(float));
        bpfree_gemm(0, 1, r, O, k, 1.0f, x + (size_t)g * r * I, I, L->W, I, 1.0f, hg, O);
        bpfree_gemm(0, 1, r, O, k, -1.0f, x, I, L->W, I, 1.0f, hg, O);
    }
    bp_act_forward(L->act, h, (size_t)groups * r * O);
}

/* gW = dz^T x over the 2r paired rows = (dz[:r] + dz[r:])^T x[:r] plus, in
 * the first k columns, dz[r:]^T (x[r:, :k] - x[:r, :k]); gb the column sums */
void bp_dense_grad_paired(const bp_layer *L, const float *x, float *dz, int r, int k,
                          float beta) {
    const int I = L->in, O = L->out;
    for (size_t q = 0; q < (size_t)r * O; q++) dz[q] += dz[(size_t)r * O + q];
    dense_grad_units(L, x, dz, r, 0, (size_t)O, beta);
    const float *dn = dz + (size_t)r * O;
    bpfree_gemm(1, 0, O, k, r, 1.0f, dn, O, x + (size_t)r * I, I, 1.0f, L->gW, I);
    bpfree_gemm(1, 0, O, k, r, -1.0f, dn, O, x, I, 1.0f, L->gW, I);
}

const bp_layer_kind bp_kind_dense = {
    .name = "dense",
    .forward = dense_forward,
    .output_grad = dense_output_grad,
    .dz_of = dense_dz_of,
    .split_units = 1,
    .input_grad = dense_input_grad,
    .grad_units = dense_grad_units,
    .tangent = dense_tangent,
    .init = dense_init,
    .ws_size = dense_ws_size,
};

void bp_dense_setup(bp_layer *L, int in, int out, bpfree_act act) {
    memset(L, 0, sizeof *L);
    L->kind = &bp_kind_dense;
    L->in = in;
    L->out = out;
    L->units = out;
    L->unit_w = (size_t)in;
    L->zcols = out;
    L->act = act;
}
