/* lc.c — the locally connected block kind: a convolution's geometry (K x K
 * kernels, stride, padding, then optional pooling), but every output
 * position p of every channel c has its own kernel W[c][p] (ic K K) and
 * bias b[c][p] — unshared weights, as the "locally connected" nets of
 * Mono-Forward's Table 1 (003).  One unit per (channel, position); the
 * weights are (oc, positions, ic K K).
 *
 * Lowering: the samples' im2col, then at each position p one GEMM over a
 * chunk of samples,
 *   Z_p (S, oc) = X_p (S, taps) W_p^T           X_p: the taps position p sees
 * where W_p are the rows W[c][p] (np taps apart); gradients likewise:
 *   gW_p += dZ_p^T X_p,   dX_p = dZ_p W_p  (then col2im).
 * Workspace: as a convolution (pre-pool activations, dz, argmax) plus one
 * chunk's col and the per-position X_p, Z_p. */
#include "nn/block.h"

#include <math.h>
#include <string.h>


#define CHUNK_FLOATS ((size_t)1 << 20)

/* samples per chunk: col (taps, S np) within CHUNK_FLOATS */
static int chunk(const bp_layer *L) {
    size_t s = CHUNK_FLOATS / (bp_ntaps(&L->g) * bp_npos(&L->g));
    s = s < 1 ? 1 : s;
    return s > (size_t)L->ws_rows ? L->ws_rows : (int)s;
}

/* workspace after the shared part: col (T, S np), X (S, T), Z (S, oc) */
static float *ws_col(const bp_layer *L) { return bp_block_ws_tail(L); }
static float *ws_x(const bp_layer *L) {
    return ws_col(L) + bp_ntaps(&L->g) * bp_npos(&L->g) * (size_t)chunk(L);
}
static float *ws_z(const bp_layer *L) { return ws_x(L) + bp_ntaps(&L->g) * (size_t)chunk(L); }

/* X_p (n, T) from col (T, n np) */
static void gather_x(const bp_layer *L, const float *col, int n, size_t p, float *X) {
    const size_t T = bp_ntaps(&L->g), np = bp_npos(&L->g), ld = np * (size_t)n;
    for (int j = 0; j < n; j++)
        for (size_t t = 0; t < T; t++) X[(size_t)j * T + t] = col[t * ld + (size_t)j * np + p];
}

/* z rows (zld apart) of n samples += (or =) the product with weights Wt of
 * inputs x, plus bias if given */
static void lc_product(const bp_layer *L, const float *Wt, const float *bias, const float *x,
                       int n, float *z, size_t zld, int accumulate) {
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), np = bp_npos(g), ld = np * (size_t)n;
    float *col = ws_col(L), *X = ws_x(L), *Z = ws_z(L);
    if (Wt)
        for (int j = 0; j < n; j++)
            bp_im2col_ld(g, x + (size_t)j * L->in, col + (size_t)j * np, ld);
    else
        memset(Z, 0, (size_t)n * g->oc * sizeof(float));
    for (size_t p = 0; p < np; p++) {
        if (Wt) {
            gather_x(L, col, n, p, X);
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
    bp_block_tangent(L, x, h, din, V, vb, u, dout, B, lc_product);
}

static void lc_grad_units(const bp_layer *L, const float *x, const float *dz, int B, size_t a,
                          size_t b, float beta) {
    (void)a, (void)b;
    const bp_geom *g = &L->g;
    const size_t T = bp_ntaps(g), np = bp_npos(g);
    const int S = chunk(L);
    float *col = ws_col(L), *X = ws_x(L), *Z = ws_z(L);
    if (beta == 0.0f) {
        memset(L->gW, 0, bp_layer_n_weights(L) * sizeof(float));
        memset(L->gb, 0, (size_t)L->units * sizeof(float));
    }
    for (int s0 = 0; s0 < B; s0 += S) {
        const int n = B - s0 < S ? B - s0 : S;
        const size_t ld = np * (size_t)n;
        for (int j = 0; j < n; j++)
            bp_im2col_ld(g, x + (size_t)(s0 + j) * L->in, col + (size_t)j * np, ld);
        for (size_t p = 0; p < np; p++) {
            gather_x(L, col, n, p, X);
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
    float *col = ws_col(L), *X = ws_x(L), *Z = ws_z(L);
    memset(dx, 0, (size_t)B * L->in * sizeof(float));
    for (int s = 0; s < B; s++) { /* one sample: col (T, np) of its taps' gradients */
        for (size_t p = 0; p < np; p++) {
            gather_dz(L, dz + (size_t)s * L->zcols, 1, p, Z);
            /* dX_p (1, T) = dZ_p (1, oc) W_p (oc, T) */
            bpfree_gemm(0, 0, 1, (int)T, g->oc, 1.0f, Z, g->oc, W + p * T, (int)(np * T), 0.0f, X,
                        (int)T);
            for (size_t t = 0; t < T; t++) col[t * np + p] = X[t];
        }
        bp_col2im(g, col, dx + (size_t)s * L->in);
    }
}

static void lc_ws_size(const bp_layer *L, int rows, size_t *floats, size_t *ints) {
    bp_layer tmp = *L;
    tmp.ws_rows = rows;
    const size_t S = (size_t)chunk(&tmp), T = bp_ntaps(&L->g), np = bp_npos(&L->g);
    *floats = bp_block_ws_floats(L, rows) + S * T * np + S * T + S * (size_t)L->g.oc;
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
