/* conv.c — the convolution block kind: a K x K convolution (stride, zero
 * padding) with one bias per output channel, the activation, then optional
 * max or average pooling Q x Q with stride Q — "15C5-P2" of the FDFA paper
 * (002 Table 2), "conv 3x3 same, ReLU, average pooling" of Mono-Forward's
 * CNN (003 §4).  A block is one layer to the rules: they deliver their signal
 * at its (pooled) output and the block carries it back through pooling and
 * the activation itself (output_grad).
 *
 * Layout: a sample's input is C x H x W row-major, so is its output; the
 * weights are (oc, ic, K, K) as PyTorch's Conv2d, one unit per output
 * channel.  The products go through bpfree_gemm on an im2col lowering of
 * one sample at a time: col (ic K K, ch cw) holds, for each kernel tap, the
 * input pixel each output position sees (0 in the padding); then
 *   z = W col + b          (oc, ch cw)            forward
 *   gW += dz col^T         (oc, ic K K)           weight gradient
 *   col = W^T dz, col2im   -> dx (ic, ih, iw)     input gradient
 * conv_ref.c holds the plain loops every one of these is tested against.
 *
 * Workspace (rows R): with pooling, the pre-pool activations a (R, zcols)
 * and the gradient dz there (R, zcols), and for max pooling the argmax of
 * each pooled output (R, out) ints; always one sample's col. */
#include "nn/block.h"

#include <math.h>
#include <string.h>



static float *ws_col(const bp_layer *L) { return bp_block_ws_tail(L); }

/* The products run on chunks of S samples at once — col (taps, S positions)
 * and its result (oc, S positions) — so that each is one GEMM big enough to
 * run near the BLAS's speed (and to be split over threads), and the two
 * buffers stay within CHUNK_FLOATS each. */
#define CHUNK_FLOATS ((size_t)1 << 20)

static int chunk_samples(const bp_layer *L) {
    const size_t per = bp_ntaps(&L->g) * bp_npos(&L->g), zper = (size_t)L->zcols;
    size_t s = CHUNK_FLOATS / (per > zper ? per : zper);
    if (s < 1) s = 1;
    return s > (size_t)L->ws_rows ? L->ws_rows : (int)s;
}

/* the chunk's result buffer (oc, S positions), after col */
static float *ws_res(const bp_layer *L) {
    return ws_col(L) + bp_ntaps(&L->g) * bp_npos(&L->g) * (size_t)chunk_samples(L);
}

/* col (taps, S np) for samples x[0..S): sample j's positions at column j np */
static void im2col_chunk(const bp_layer *L, const float *x, int S, float *col) {
    const size_t np = bp_npos(&L->g), ld = np * (size_t)S;
    for (int j = 0; j < S; j++) bp_im2col_ld(&L->g, x + (size_t)j * L->in, col + (size_t)j * np, ld);
}

/* col (taps, positions) of one sample x (ic, ih, iw), tap rows ld apart */
void bp_im2col_ld(const bp_geom *g, const float *x, float *col, size_t ld) {
    const int K = g->k, S = g->stride, P = g->pad;
    const size_t np = ld;
    for (int ci = 0; ci < g->ic; ci++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(ci * K + ki) * K + kj) * np;
                const float *xc = x + (size_t)ci * g->ih * g->iw;
                for (int oy = 0; oy < g->ch; oy++) {
                    const int iy = oy * S - P + ki;
                    float *r = row + (size_t)oy * g->cw;
                    if (iy < 0 || iy >= g->ih) {
                        memset(r, 0, (size_t)g->cw * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)iy * g->iw;
                    if (S == 1) { /* ix = ox - P + kj: one run inside, zeros around */
                        const int lo = P - kj > 0 ? P - kj : 0;
                        int hi = g->iw + P - kj < g->cw ? g->iw + P - kj : g->cw;
                        hi = hi > lo ? hi : lo;
                        for (int ox = 0; ox < lo; ox++) r[ox] = 0.0f;
                        memcpy(r + lo, xr + lo - P + kj, (size_t)(hi - lo) * sizeof(float));
                        for (int ox = hi; ox < g->cw; ox++) r[ox] = 0.0f;
                        continue;
                    }
                    for (int ox = 0; ox < g->cw; ox++) {
                        const int ix = ox * S - P + kj;
                        r[ox] = ix >= 0 && ix < g->iw ? xr[ix] : 0.0f;
                    }
                }
            }
}

void bp_im2col(const bp_geom *g, const float *x, float *col) { bp_im2col_ld(g, x, col, bp_npos(g)); }

/* dx (ic, ih, iw) += the taps of col (taps, positions) where they came from */
void bp_col2im(const bp_geom *g, const float *col, float *dx) {
    const int K = g->k, S = g->stride, P = g->pad;
    const size_t np = bp_npos(g);
    for (int ci = 0; ci < g->ic; ci++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(ci * K + ki) * K + kj) * np;
                float *xc = dx + (size_t)ci * g->ih * g->iw;
                for (int oy = 0; oy < g->ch; oy++) {
                    const int iy = oy * S - P + ki;
                    if (iy < 0 || iy >= g->ih) continue;
                    for (int ox = 0; ox < g->cw; ox++) {
                        const int ix = ox * S - P + kj;
                        if (ix >= 0 && ix < g->iw)
                            xc[(size_t)iy * g->iw + ix] += row[(size_t)oy * g->cw + ox];
                    }
                }
            }
}

/* z of samples x[0..S) into zs (each sample's (oc, np) at its row of width
 * zld), W given: Z (oc, S np) = W col (+ bias), then spread to the rows */
static void conv_chunk(const bp_layer *L, const float *W, const float *bias, const float *x,
                       int S, float *zs, size_t zld, int accumulate) {
    const bp_geom *g = &L->g;
    const size_t np = bp_npos(g), T = bp_ntaps(g), ld = np * (size_t)S;
    float *col = ws_col(L), *Z = ws_res(L);
    if (W) {
        im2col_chunk(L, x, S, col);
        bpfree_gemm(0, 0, g->oc, (int)ld, (int)T, 1.0f, W, (int)T, col, (int)ld, 0.0f, Z, (int)ld);
    } else {
        memset(Z, 0, (size_t)g->oc * ld * sizeof(float));
    }
    for (int j = 0; j < S; j++)
        for (int c = 0; c < g->oc; c++) {
            float *zr = zs + (size_t)j * zld + (size_t)c * np;
            const float *Zr = Z + (size_t)c * ld + (size_t)j * np;
            const float b0 = bias ? bias[c] : 0.0f;
            if (accumulate)
                for (size_t p = 0; p < np; p++) zr[p] += Zr[p] + b0;
            else
                for (size_t p = 0; p < np; p++) zr[p] = Zr[p] + b0;
        }
}

static void im2col_grad_units(const bp_layer *L, const float *x, const float *dz, int B, size_t a,
                              size_t b, float beta) {
    const bp_geom *g = &L->g;
    const size_t np = bp_npos(g), T = bp_ntaps(g);
    const int S = chunk_samples(L);
    float *col = ws_col(L), *D = ws_res(L);
    if (beta == 0.0f) {
        memset(L->gW + a * T, 0, (b - a) * T * sizeof(float));
        for (size_t c = a; c < b; c++) L->gb[c] = 0.0f;
    }
    for (int s0 = 0; s0 < B; s0 += S) {
        const int n = B - s0 < S ? B - s0 : S;
        const size_t ld = np * (size_t)n;
        im2col_chunk(L, x + (size_t)s0 * L->in, n, col);
        /* D (b-a, n np): the chunk's dz of channels a..b, sample by sample */
        for (int j = 0; j < n; j++)
            for (size_t c = a; c < b; c++)
                memcpy(D + (c - a) * ld + (size_t)j * np, dz + (size_t)(s0 + j) * L->zcols + c * np,
                       np * sizeof(float));
        /* gW[a:b] (b-a, T) += D (b-a, n np) col^T (n np, T) */
        bpfree_gemm(0, 1, (int)(b - a), (int)T, (int)ld, 1.0f, D, (int)ld, col, (int)ld, 1.0f,
                    L->gW + a * T, (int)T);
        for (size_t c = a; c < b; c++) {
            float sum = 0.0f;
            for (size_t p = 0; p < ld; p++) sum += D[(c - a) * ld + p];
            L->gb[c] += sum;
        }
    }
}

static void im2col_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx, int B) {
    const bp_geom *g = &L->g;
    const size_t np = bp_npos(g), T = bp_ntaps(g);
    const int S = chunk_samples(L);
    float *col = ws_col(L), *D = ws_res(L);
    memset(dx, 0, (size_t)B * L->in * sizeof(float));
    for (int s0 = 0; s0 < B; s0 += S) {
        const int n = B - s0 < S ? B - s0 : S;
        const size_t ld = np * (size_t)n;
        for (int j = 0; j < n; j++) /* D (oc, n np) */
            for (int c = 0; c < g->oc; c++)
                memcpy(D + (size_t)c * ld + (size_t)j * np,
                       dz + (size_t)(s0 + j) * L->zcols + (size_t)c * np, np * sizeof(float));
        /* col (T, n np) = W^T (T, oc) D (oc, n np) */
        bpfree_gemm(1, 0, (int)T, (int)ld, g->oc, 1.0f, W, (int)T, D, (int)ld, 0.0f, col, (int)ld);
        for (int j = 0; j < n; j++) { /* sample j's taps, gathered to one sample's col */
            float *one = D; /* D is free again */
            for (size_t t = 0; t < T; t++)
                memcpy(one + t * np, col + t * ld + (size_t)j * np, np * sizeof(float));
            bp_col2im(g, one, dx + (size_t)(s0 + j) * L->in);
        }
    }
}

static void im2col_forward(const bp_layer *L, const float *x, float *h, int B) {
    bp_block_forward(L, x, h, B, chunk_samples(L), conv_chunk);
}

/* the fast path where there is one (conv_dnnl.c), else im2col */
static void conv_forward(const bp_layer *L, const float *x, float *h, int B) {
    if (!bp_conv_fast_forward(L, x, h, B)) im2col_forward(L, x, h, B);
}

static void conv_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx, int B) {
    if (!bp_conv_fast_input_grad(L, W, dz, dx, B)) im2col_input_grad(L, W, dz, dx, B);
}

static void conv_grad_units(const bp_layer *L, const float *x, const float *dz, int B, size_t a,
                            size_t b, float beta) {
    if (a != 0 || b != (size_t)L->units || !bp_conv_fast_grad(L, x, dz, B, beta))
        im2col_grad_units(L, x, dz, B, a, b, beta);
}

/* channels a..b */
static void conv_output_grad(const bp_layer *L, const float *h, const float *dh, float *dz, int B,
                             size_t a, size_t b) {
    bp_block_output_grad(L, h, dh, dz, B, a, b);
}

static void conv_tangent(const bp_layer *L, const float *x, const float *h, const float *din,
                         const float *V, const float *vb, const float *u, float *dout, int B) {
    bp_block_tangent(L, x, h, din, V, vb, u, dout, B, chunk_samples(L), conv_chunk);
}

static void conv_ws_size(const bp_layer *L, int rows, size_t *floats, size_t *ints) {
    bp_layer tmp = *L;
    tmp.ws_rows = rows;
    const size_t S = (size_t)chunk_samples(&tmp), per = bp_ntaps(&L->g) * bp_npos(&L->g);
    const size_t res = S * ((size_t)L->zcols > per ? (size_t)L->zcols : per);
    const size_t tail = S * per + res, fast = bp_conv_fast_ws(&tmp, rows);
    *floats = bp_block_ws_floats(L, rows) + (fast > tail ? fast : tail); /* one or the other */
    *ints = L->g.pool == BP_POOL_MAX ? (size_t)rows * L->out : 0;
}

/* the im2col path alone: every backend's reference for the fast path */
const bp_layer_kind bp_kind_conv_im2col = {
    .name = "conv",
    .forward = im2col_forward,
    .output_grad = conv_output_grad,
    .dz_of = bp_block_dz_of,
    .input_grad = im2col_input_grad,
    .grad_units = im2col_grad_units,
    .tangent = conv_tangent,
    .init = bp_block_init,
    .ws_size = conv_ws_size,
    .split_units = 0,
};

const bp_layer_kind bp_kind_conv = {
    .name = "conv",
    .forward = conv_forward,
    .output_grad = conv_output_grad,
    .dz_of = bp_block_dz_of,
    .input_grad = conv_input_grad,
    .grad_units = conv_grad_units,
    .tangent = conv_tangent,
    .init = bp_block_init,
    .ws_size = conv_ws_size,
    .split_units = 0, /* one col buffer per layer */
};

int bp_geom_setup(bp_geom *g, int ic, int ih, int iw, int oc, int k, int stride, int same,
                  int pool, int q) {
    memset(g, 0, sizeof *g);
    g->ic = ic, g->ih = ih, g->iw = iw, g->oc = oc, g->k = k, g->stride = stride;
    g->pad = same ? (k - 1) / 2 : 0;
    if (ic < 1 || ih < 1 || iw < 1 || oc < 1 || k < 1 || stride < 1) return -1;
    g->ch = (ih + 2 * g->pad - k) / stride + 1;
    g->cw = (iw + 2 * g->pad - k) / stride + 1;
    if (ih + 2 * g->pad < k || iw + 2 * g->pad < k) return -1;
    g->pool = pool;
    g->q = pool ? q : 1;
    if (pool && (q < 1 || g->ch < q || g->cw < q)) return -1;
    g->oh = g->ch / g->q;
    g->ow = g->cw / g->q;
    return 0;
}

void bp_conv_setup(bp_layer *L, const bp_geom *g, bpfree_act act) {
    bp_block_setup(L, &bp_kind_conv, g, act, g->oc); /* a unit per output channel */
}
