/* lc.c — the locally connected block kind: a convolution's geometry (K x K
 * kernels, stride, padding, then optional pooling), but every output
 * position p of every channel c has its own kernel W[c][p] (ic K K) and
 * bias b[c][p] — unshared weights, as the "locally connected" nets of
 * Mono-Forward's Table 1 (003).  One unit per (channel, position); the
 * weights are (oc, positions, ic K K).
 *
 * Lowering: at each position p, the taps it sees for every sample of the
 * batch, X_p (B, taps), gathered straight from the input; then one GEMM
 *   Z_p (B, oc) = X_p (B, taps) W_p^T           W_p: the rows W[c][p] (np taps apart)
 * and likewise  gW_p += dZ_p^T X_p,   dX_p = dZ_p W_p  (then scattered back
 * to the input pixels).  (An im2col of chunks of samples was 10x slower on
 * 003 Table 1's nets: a 512-tap layer fitted 6 samples in a chunk, so its
 * products were 6-row GEMMs, and the input gradient one GEMV a sample.)
 * Workspace: as a convolution (pre-pool activations, dz, argmax) plus X
 * (rows, taps) and Z (rows, oc). */
#include "nn/block.h"

#include <math.h>
#include <string.h>

/* the whole batch at once: the products' rows are the samples */
static int chunk(const bp_layer *L) { return L->ws_rows; }

/* workspace after the shared part: X (R, T), Z (R, oc) */
static float *ws_x(const bp_layer *L) { return bp_block_ws_tail(L); }
static float *ws_z(const bp_layer *L) { return ws_x(L) + bp_ntaps(&L->g) * (size_t)L->ws_rows; }

/* the input pixel tap t of position p reads (its index in a sample), or -1
 * in the padding */
static long tap_at(const bp_geom *g, size_t p, size_t t) {
    const int K = g->k, oy = (int)(p / (size_t)g->cw), ox = (int)(p % (size_t)g->cw);
    const int ci = (int)(t / (size_t)(K * K)), ki = (int)(t / (size_t)K) % K, kj = (int)(t % (size_t)K);
    const int iy = oy * g->stride - g->pad + ki, ix = ox * g->stride - g->pad + kj;
    if (iy < 0 || iy >= g->ih || ix < 0 || ix >= g->iw) return -1;
    return ((long)ci * g->ih + iy) * g->iw + ix;
}

/* The taps of position p in one sample: for each input channel and kernel
 * row, a run of K pixels of one input row (kernel columns are consecutive
 * pixels at stride 1), cut where it leaves the image (zeros there).  fn is
 * called once a run with the run's first pixel index in the sample, the
 * first tap, and the kernel columns kj0..kj1 that are inside. */
typedef void (*run_fn)(void *ctx, long pix, size_t tap, int kj0, int kj1);

static void taps_runs(const bp_geom *g, size_t p, run_fn fn, void *ctx) {
    const int K = g->k, oy = (int)(p / (size_t)g->cw), ox = (int)(p % (size_t)g->cw);
    const int ix0 = ox * g->stride - g->pad;
    const int kj0 = ix0 < 0 ? -ix0 : 0, kj1 = ix0 + K > g->iw ? g->iw - ix0 : K;
    for (int ci = 0; ci < g->ic; ci++)
        for (int ki = 0; ki < K; ki++) {
            const int iy = oy * g->stride - g->pad + ki;
            const size_t tap = ((size_t)ci * K + ki) * K;
            const int in = iy >= 0 && iy < g->ih;
            fn(ctx, in ? ((long)ci * g->ih + iy) * g->iw + ix0 : 0, tap, in ? kj0 : K, in ? kj1 : K);
        }
}

typedef struct {
    const bp_geom *g;
    const float *xs; /* one sample's input */
    float *row;      /* its row of X_p */
    float *ds;       /* scatter: its input gradient */
} run_ctx;

static void gather_run(void *ctx, long pix, size_t tap, int kj0, int kj1) {
    const run_ctx *c = ctx;
    const int K = c->g->k;
    float *r = c->row + tap;
    for (int k = 0; k < kj0 && k < K; k++) r[k] = 0.0f;
    if (kj1 > kj0) memcpy(r + kj0, c->xs + pix + kj0, (size_t)(kj1 - kj0) * sizeof(float));
    for (int k = kj1 > kj0 ? kj1 : kj0; k < K; k++) r[k] = 0.0f;
}

static void scatter_run(void *ctx, long pix, size_t tap, int kj0, int kj1) {
    const run_ctx *c = ctx;
    for (int k = kj0; k < kj1; k++) c->ds[pix + k] += c->row[tap + k];
}

/* X_p (n, T): the taps position p sees in samples x[0..n) (stride 1: runs
 * of K consecutive pixels; larger strides go tap by tap) */
static void gather_x(const bp_layer *L, const float *x, int n, size_t p, float *X) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g);
    for (int j = 0; j < n; j++) {
        run_ctx c = {g, x + (size_t)j * L->in, X + (size_t)j * T, NULL};
        if (g->stride == 1) {
            taps_runs(g, p, gather_run, &c);
            continue;
        }
        for (size_t t = 0; t < T; t++) {
            const long at = tap_at(g, p, t);
            c.row[t] = at < 0 ? 0.0f : c.xs[at];
        }
    }
}

/* dx of samples [0..n) += dX_p (n, T) where its taps came from */
static void scatter_x(const bp_layer *L, const float *X, int n, size_t p, float *dx) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g);
    for (int j = 0; j < n; j++) {
        run_ctx c = {g, NULL, (float *)X + (size_t)j * T, dx + (size_t)j * L->in};
        if (g->stride == 1) {
            taps_runs(g, p, scatter_run, &c);
            continue;
        }
        for (size_t t = 0; t < T; t++) {
            const long at = tap_at(g, p, t);
            if (at >= 0) c.ds[at] += c.row[t];
        }
    }
}

/* z rows (zld apart) of n samples += (or =) the product with weights Wt of
 * inputs x, plus bias if given */
static void lc_product(const bp_layer *L, const float *Wt, const float *bias, const float *x,
                       int n, float *z, size_t zld, int accumulate) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), np = bp_npos(g);
    float *X = ws_x(L), *Z = ws_z(L);
    if (!Wt) memset(Z, 0, (size_t)n * g->oc * sizeof(float));
    for (size_t p = 0; p < np; p++) {
        if (Wt) {
            gather_x(L, x, n, p, X);
            bpfree_gemm(0, 1, n, g->oc, (int)T, 1.0f, X, (int)T, Wt + p * T, (int)(np * T), 0.0f,
                        Z, g->oc);
        }
        for (int j = 0; j < n; j++)
            for (int c = 0; c < g->oc; c++) {
                float *zz = z + (size_t)j * zld + (size_t)c * np + p;
                const float v = Z[(size_t)j * g->oc + c] + (bias ? bias[(size_t)c * np + p] : 0.0f);
                *zz = accumulate ? *zz + v : v;
            }
    }
}

/* dZ_p (n, oc) of the chunk from dz rows */
static void gather_dz(const bp_layer *L, const float *dz, int n, size_t p, float *Z) {
    const size_t np = bp_npos(&L->g);
    for (int j = 0; j < n; j++)
        for (int c = 0; c < L->g.oc; c++)
            Z[(size_t)j * L->g.oc + c] = dz[(size_t)j * L->zcols + (size_t)c * np + p];
}

static void lc_forward(const bp_layer *L, const float *x, float *h, int B) {
    bp_block_forward(L, x, h, B, chunk(L), lc_product);
}

/* every unit (split_units = 0): all channels */
static void lc_output_grad(const bp_layer *L, const float *h, const float *dh, float *dz, int B,
                           size_t a, size_t b) {
    (void)a, (void)b;
    bp_block_output_grad(L, h, dh, dz, B, 0, (size_t)L->g.oc);
}

static void lc_tangent(const bp_layer *L, const float *x, const float *h, const float *din,
                       const float *V, const float *vb, const float *u, float *dout, int B) {
    bp_block_tangent(L, x, h, din, V, vb, u, dout, B, chunk(L), lc_product);
}

static void lc_grad_units(const bp_layer *L, const float *x, const float *dz, int B, size_t a,
                          size_t b, float beta) {
    (void)a, (void)b;
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), np = bp_npos(g);
    const int S = chunk(L);
    float *X = ws_x(L), *Z = ws_z(L);
    if (beta == 0.0f) {
        memset(L->gW, 0, bp_layer_n_weights(L) * sizeof(float));
        memset(L->gb, 0, (size_t)L->units * sizeof(float));
    }
    for (int s0 = 0; s0 < B; s0 += S) {
        const int n = B - s0 < S ? B - s0 : S;
        for (size_t p = 0; p < np; p++) {
            gather_x(L, x + (size_t)s0 * L->in, n, p, X);
            gather_dz(L, dz + (size_t)s0 * L->zcols, n, p, Z);
            /* gW_p (oc, T; rows np T apart) += dZ_p^T (oc, n) X_p (n, T) */
            bpfree_gemm(1, 0, g->oc, (int)T, n, 1.0f, Z, g->oc, X, (int)T, 1.0f, L->gW + p * T,
                        (int)(np * T));
            for (int c = 0; c < g->oc; c++) {
                float sum = 0.0f;
                for (int j = 0; j < n; j++) sum += Z[(size_t)j * g->oc + c];
                L->gb[(size_t)c * np + p] += sum;
            }
        }
    }
}

static void lc_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx, int B) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), np = bp_npos(g);
    const int S = chunk(L);
    float *X = ws_x(L), *Z = ws_z(L);
    memset(dx, 0, (size_t)B * L->in * sizeof(float));
    for (int s0 = 0; s0 < B; s0 += S) {
        const int n = B - s0 < S ? B - s0 : S;
        for (size_t p = 0; p < np; p++) {
            gather_dz(L, dz + (size_t)s0 * L->zcols, n, p, Z);
            /* dX_p (n, T) = dZ_p (n, oc) W_p (oc, T) */
            bpfree_gemm(0, 0, n, (int)T, g->oc, 1.0f, Z, g->oc, W + p * T, (int)(np * T), 0.0f, X,
                        (int)T);
            scatter_x(L, X, n, p, dx + (size_t)s0 * L->in);
        }
    }
}

static void lc_ws_size(const bp_layer *L, int rows, size_t *floats, size_t *ints) {
    bp_layer tmp = *L;
    tmp.ws_rows = rows;
    const size_t S = (size_t)chunk(&tmp), T = bp_ntaps(&L->g);
    *floats = bp_block_ws_floats(L, rows) + S * T + S * (size_t)L->g.oc;
    *ints = L->g.pool == BP_POOL_MAX ? (size_t)rows * L->out : 0;
}

const bp_layer_kind bp_kind_lc = {
    .name = "lc",
    .forward = lc_forward,
    .output_grad = lc_output_grad,
    .dz_of = bp_block_dz_of,
    .input_grad = lc_input_grad,
    .grad_units = lc_grad_units,
    .tangent = lc_tangent,
    .init = bp_block_init,
    .ws_size = lc_ws_size,
    .split_units = 0,
};

void bp_lc_setup(bp_layer *L, const bp_geom *g, bpfree_act act) {
    bp_block_setup(L, &bp_kind_lc, g, act, g->oc * g->ch * g->cw); /* a unit per (channel, position) */
}
