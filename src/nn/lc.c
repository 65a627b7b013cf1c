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

/* The taps of position p, for stride 1: for each input channel ci and kernel
 * row ki, a run of K consecutive pixels of one input row, cut where it leaves
 * the image (zeros there).  The geometry is worked out once a position; a
 * window wholly inside the image is copied as K x K blocks (window_inside).
 * (A call and a memcpy of K floats per run and sample was half of an LC
 * epoch.) */
typedef struct {
    int K, oy, ix0, kj0, kj1; /* kernel columns kj0..kj1 lie inside the image */
} pos_runs;

static pos_runs runs_of(const bp_geom *g, size_t p) {
    const int K = g->k, ox = (int)(p % (size_t)g->cw), ix0 = ox * g->stride - g->pad;
    return (pos_runs){K, (int)(p / (size_t)g->cw), ix0, ix0 < 0 ? -ix0 : 0,
                      ix0 + K > g->iw ? g->iw - ix0 : K};
}

/* the run (ci, ki): its first pixel inside (column kj0) in a sample, or -1
 * if the kernel row is in the padding */
static long run_pixel(const bp_geom *g, const pos_runs *r, int ci, int ki) {
    const int iy = r->oy * g->stride - g->pad + ki;
    if (iy < 0 || iy >= g->ih || r->kj1 <= r->kj0) return -1;
    return ((long)ci * g->ih + iy) * g->iw + r->ix0 + r->kj0;
}

/* whether position p's K x K window lies wholly inside the image; if so, *at
 * = its top-left pixel's index in a channel plane */
static int window_inside(const bp_geom *g, const pos_runs *r, size_t *at) {
    const int iy0 = r->oy * g->stride - g->pad;
    if (r->kj0 != 0 || r->kj1 != r->K || iy0 < 0 || iy0 + r->K > g->ih) return 0;
    *at = (size_t)iy0 * g->iw + (size_t)r->ix0;
    return 1;
}

/* X_p (n, T) of a position whose K x K window lies inside the image: for
 * each sample, channel and kernel row, K pixels from `at` on (inlined, so a
 * constant K unrolls) */
static inline void gather_inside(const float *restrict x, size_t in, size_t at, size_t plane,
                                 int iw, int ic, int K, int n, float *restrict X, size_t T) {
    for (int j = 0; j < n; j++) {
        float *d = X + (size_t)j * T;
        const float *xs = x + (size_t)j * in + at;
        for (int ci = 0; ci < ic; ci++, xs += plane)
            for (int ki = 0; ki < K; ki++, d += K)
                for (int k = 0; k < K; k++) d[k] = xs[(size_t)ki * iw + k];
    }
}

/* X_p (n, T): the taps position p sees in samples x[0..n) (larger strides
 * go tap by tap) */
static void gather_x(const bp_layer *L, const float *x, int n, size_t p, float *X) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), in = (size_t)L->in;
    if (g->stride != 1) {
        for (int j = 0; j < n; j++)
            for (size_t t = 0; t < T; t++) {
                const long at = tap_at(g, p, t);
                X[(size_t)j * T + t] = at < 0 ? 0.0f : x[(size_t)j * in + (size_t)at];
            }
        return;
    }
    const pos_runs r = runs_of(g, p);
    const int K = r.K, w = r.kj1 - r.kj0;
    size_t at;
    if (window_inside(g, &r, &at)) {
        const size_t plane = (size_t)g->ih * g->iw;
        switch (K) { /* fixed sizes unroll into vector moves */
        case 4: gather_inside(x, in, at, plane, g->iw, g->ic, 4, n, X, T); return;
        case 8: gather_inside(x, in, at, plane, g->iw, g->ic, 8, n, X, T); return;
        default: gather_inside(x, in, at, plane, g->iw, g->ic, K, n, X, T); return;
        }
    }
    for (int j = 0; j < n; j++) /* sample by sample: reads stay in one sample's pages */
        for (int ci = 0; ci < g->ic; ci++)
            for (int ki = 0; ki < K; ki++) {
                float *d = X + (size_t)j * T + ((size_t)ci * K + ki) * K;
                const long pix = run_pixel(g, &r, ci, ki);
                if (pix < 0) {
                    for (int k = 0; k < K; k++) d[k] = 0.0f;
                    continue;
                }
                for (int k = 0; k < r.kj0; k++) d[k] = 0.0f;
                const float *xs = x + (size_t)j * in + pix;
                for (int k = 0; k < w; k++) d[r.kj0 + k] = xs[k];
                for (int k = r.kj1; k < K; k++) d[k] = 0.0f;
            }
}

/* gather_inside's transpose: dx += the K x K blocks of dX_p */
static inline void scatter_inside(const float *restrict X, size_t T, int n, int ic, int K, int iw,
                                  size_t plane, size_t at, float *restrict dx, size_t in) {
    for (int j = 0; j < n; j++) {
        const float *sr = X + (size_t)j * T;
        float *ds = dx + (size_t)j * in + at;
        for (int ci = 0; ci < ic; ci++, ds += plane)
            for (int ki = 0; ki < K; ki++, sr += K)
                for (int k = 0; k < K; k++) ds[(size_t)ki * iw + k] += sr[k];
    }
}

/* dx of samples [0..n) += dX_p (n, T) where its taps came from */
static void scatter_x(const bp_layer *L, const float *X, int n, size_t p, float *dx) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), in = (size_t)L->in;
    if (g->stride != 1) {
        for (int j = 0; j < n; j++)
            for (size_t t = 0; t < T; t++) {
                const long at = tap_at(g, p, t);
                if (at >= 0) dx[(size_t)j * in + (size_t)at] += X[(size_t)j * T + t];
            }
        return;
    }
    const pos_runs r = runs_of(g, p);
    const int K = r.K, w = r.kj1 - r.kj0;
    size_t at;
    if (window_inside(g, &r, &at)) {
        const size_t plane = (size_t)g->ih * g->iw;
        switch (K) {
        case 4: scatter_inside(X, T, n, g->ic, 4, g->iw, plane, at, dx, in); return;
        case 8: scatter_inside(X, T, n, g->ic, 8, g->iw, plane, at, dx, in); return;
        default: scatter_inside(X, T, n, g->ic, K, g->iw, plane, at, dx, in); return;
        }
    }
    for (int j = 0; j < n; j++)
        for (int ci = 0; ci < g->ic; ci++)
            for (int ki = 0; ki < K; ki++) {
                const long pix = run_pixel(g, &r, ci, ki);
                if (pix < 0) continue;
                const float *sr = X + (size_t)j * T + ((size_t)ci * K + ki) * K + r.kj0;
                float *d = dx + (size_t)j * in + pix;
                for (int k = 0; k < w; k++) d[k] += sr[k];
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
