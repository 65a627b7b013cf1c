/* bn.c — batch normalisation of a layer's pre-activation (Ioffe & Szegedy
 * 2015), the stage between a layer's product and its activation: per unit
 * (a dense layer's output neuron, a convolution's channel: its `np`
 * positions of every sample count as samples, as PyTorch's BatchNorm2d)
 *     zhat = (z - mu) / sqrt(var + eps),   y = gamma zhat + beta
 * with mu, var (biased) over the batch while training, and the running
 * estimates (momentum 0.1, unbiased variance, as PyTorch) otherwise.  The
 * FDFA authors' shallow CNN normalises every hidden layer this way (002
 * Table 2; its code: conv -> BatchNorm -> ReLU).
 *
 * A layer with BN (L->bn) has 2 units more parameters after its biases,
 * gamma then beta, and the running mean and variance in the model's state
 * block (L->rmean, L->rvar).  Its workspace holds zhat (rows, zcols) then
 * each unit's 1 / sqrt(var + eps) (units): at ws for a dense layer, after
 * the pre-pool buffers of a pooled image block (block.h).  What
 * the rules see does not change: a signal at the layer's output goes back
 * through the activation and then through the normalisation (output_grad),
 * which also writes gamma's and beta's gradients; the forward-mode tangent
 * goes through the normalisation with the batch's statistics, as autograd's
 * would.  All three work on a range of units, so a dense layer's threads
 * keep their column ranges. */
#include "nn/nn.h"

#include <math.h>

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

static float *ws_zhat(const bp_layer *L) {
    return L->ws + (L->g.pool ? 2 * (size_t)L->ws_rows * L->zcols : 0);
}
static float *ws_istd(const bp_layer *L) { return ws_zhat(L) + (size_t)L->ws_rows * L->zcols; }

size_t bp_bn_ws_floats(const bp_layer *L, int rows) {
    return L->bn ? (size_t)rows * L->zcols + (size_t)L->units : 0;
}

/* element (r, unit c, position p) of a (B, zcols) array */
#define AT(a, r, c, p) ((a)[(size_t)(r) * L->zcols + (size_t)(c) * np + (p)])

/* The per-unit sums over the batch (and a channel's positions), in a fixed
 * order so the same data give the same bits, and written so the compiler
 * vectorises them (perf: scalar double sums were 22% of a 002-CNN epoch):
 *   SUM  sum x        DEV  sum (x - mu)^2        DOT  sum x y
 * A channel's positions in a row are summed in 8 float lanes, each row's
 * total then added in double; a dense layer's column sums run along the
 * row, into a double per unit. */
enum { SUM, DEV, DOT };
#define LANES 8

static double seg(int kind, const float *x, const float *y, float mu, size_t n) {
    float l[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const float v = x[i + k];
            l[k] += kind == SUM ? v : kind == DEV ? (v - mu) * (v - mu) : v * y[i + k];
        }
    double s = 0.0;
    for (int k = 0; k < LANES; k++) s += l[k];
    for (; i < n; i++) {
        const float v = x[i];
        s += kind == SUM ? v : kind == DEV ? (double)(v - mu) * (v - mu) : (double)v * y[i];
    }
    return s;
}

/* out[c - a] for units a..b (at most BN_CHUNK) of x (and y) (B, zcols);
 * mu[c - a] for DEV */
#define BN_CHUNK 64
static void reduce(const bp_layer *L, int kind, const float *x, const float *y, const float *mu,
                   int B, size_t a, size_t b, double *out) {
    const size_t np = (size_t)L->zcols / (size_t)L->units, w = b - a;
    for (size_t k = 0; k < w; k++) out[k] = 0.0;
    if (np > 1) {
        for (size_t c = a; c < b; c++)
            for (int r = 0; r < B; r++)
                out[c - a] += seg(kind, &AT(x, r, c, 0), y ? &AT(y, r, c, 0) : NULL,
                                  mu ? mu[c - a] : 0.0f, np);
        return;
    }
    for (int r = 0; r < B; r++) {
        const float *xr = x + (size_t)r * L->zcols + a, *yr = y ? y + (size_t)r * L->zcols + a : NULL;
        for (size_t k = 0; k < w; k++) {
            const float v = xr[k];
            out[k] += kind == SUM ? (double)v
                      : kind == DEV ? (double)(v - mu[k]) * (v - mu[k]) : (double)v * yr[k];
        }
    }
}

/* units a..b, in chunks of BN_CHUNK: the running statistics, or the batch's
 * (zhat and 1/std kept for the way back) */
static void forward_chunk(const bp_layer *L, float *z, int B, size_t a, size_t b) {
    const size_t np = (size_t)L->zcols / (size_t)L->units;
    const double n = (double)B * (double)np;
    float m[BN_CHUNK], is[BN_CHUNK];
    double s[BN_CHUNK];
    if (L->bn_train) {
        reduce(L, SUM, z, NULL, NULL, B, a, b, s);
        for (size_t c = a; c < b; c++) m[c - a] = (float)(s[c - a] / n);
        reduce(L, DEV, z, NULL, m, B, a, b, s);
    }
    for (size_t c = a; c < b; c++) {
        const size_t k = c - a;
        const double var = L->bn_train ? s[k] / n : (double)L->rvar[c];
        if (!L->bn_train) m[k] = L->rmean[c];
        is[k] = (float)(1.0 / sqrt(var + BN_EPS));
        if (!L->bn_train) continue;
        ws_istd(L)[c] = is[k];
        L->rmean[c] = (float)((1.0 - BN_MOMENTUM) * L->rmean[c] + BN_MOMENTUM * m[k]);
        L->rvar[c] = (float)((1.0 - BN_MOMENTUM) * L->rvar[c] +
                             BN_MOMENTUM * (n > 1.0 ? var * n / (n - 1.0) : var));
    }
    float *zh = ws_zhat(L);
    for (int r = 0; r < B; r++)
        for (size_t c = a; c < b; c++) {
            const size_t k = c - a;
            const float g = L->gamma[c], be = L->beta[c];
            float *zr = &AT(z, r, c, 0), *hr = L->bn_train ? &AT(zh, r, c, 0) : NULL;
            for (size_t p = 0; p < np; p++) {
                const float v = (zr[p] - m[k]) * is[k];
                if (hr) hr[p] = v;
                zr[p] = g * v + be;
            }
        }
}

void bp_bn_forward(const bp_layer *L, float *z, int B, size_t a, size_t b) {
    for (size_t c = a; c < b; c += BN_CHUNK)
        forward_chunk(L, z, B, c, b - c < BN_CHUNK ? b : c + BN_CHUNK);
}

/* units a..b (a chunk): d (the gradient at y, or the tangent at z)
 * becomes, in place,  k (d - mean d - zhat mean(d zhat)) + g zhat + be
 * with k = gamma / std; the two sums go to s1, s2 (each unit's) */
static void through(const bp_layer *L, float *d, int B, size_t a, size_t b, const float *g,
                    const float *be, double *s1, double *s2) {
    const size_t np = (size_t)L->zcols / (size_t)L->units;
    const double n = (double)B * (double)np;
    const float *zh = ws_zhat(L);
    float k[BN_CHUNK], md[BN_CHUNK], mz[BN_CHUNK];
    reduce(L, SUM, d, NULL, NULL, B, a, b, s1);
    reduce(L, DOT, d, zh, NULL, B, a, b, s2);
    for (size_t c = a; c < b; c++) {
        k[c - a] = L->gamma[c] * ws_istd(L)[c];
        md[c - a] = (float)(s1[c - a] / n);
        mz[c - a] = (float)(s2[c - a] / n);
    }
    for (int r = 0; r < B; r++)
        for (size_t c = a; c < b; c++) {
            const size_t j = c - a;
            const float gg = g ? g[c] : 0.0f, bb = be ? be[c] : 0.0f;
            float *dr = &AT(d, r, c, 0);
            const float *zr = &AT(zh, r, c, 0);
            for (size_t p = 0; p < np; p++)
                dr[p] = k[j] * (dr[p] - md[j] - zr[p] * mz[j]) + gg * zr[p] + bb;
        }
}

/* units a..b: dy (the gradient at y, B x zcols) becomes dz, in place:
 *   dz = gamma istd / N (N dy - sum dy - zhat sum(dy zhat))
 * and ggamma = sum(dy zhat), gbeta = sum dy (overwritten) */
void bp_bn_backward(const bp_layer *L, float *d, int B, size_t a, size_t b) {
    double s1[BN_CHUNK], s2[BN_CHUNK];
    for (size_t c = a; c < b; c += BN_CHUNK) {
        const size_t e = b - c < BN_CHUNK ? b : c + BN_CHUNK;
        through(L, d, B, c, e, NULL, NULL, s1, s2);
        for (size_t u = c; u < e; u++) {
            L->ggamma[u] = (float)s2[u - c];
            L->gbeta[u] = (float)s1[u - c];
        }
    }
}

/* all units: t (the tangent at z, B x zcols) becomes the tangent at y,
 *   t_y = gamma istd (t - mean t - zhat mean(t zhat)) + vg zhat + vbe
 * (the batch's statistics move with t: the backward pass's map, forward);
 * vg, vbe (units) the perturbations of gamma and beta, or NULL */
void bp_bn_tangent(const bp_layer *L, float *t, int B, const float *vg, const float *vbe) {
    double s1[BN_CHUNK], s2[BN_CHUNK];
    for (size_t c = 0; c < (size_t)L->units; c += BN_CHUNK)
        through(L, t, B, c, (size_t)L->units - c < BN_CHUNK ? (size_t)L->units : c + BN_CHUNK,
                vg, vbe, s1, s2);
}

void bp_bn_init(const bp_layer *L) {
    for (int c = 0; c < L->units; c++) {
        L->gamma[c] = 1.0f;
        L->beta[c] = 0.0f;
        L->rmean[c] = 0.0f;
        L->rvar[c] = 1.0f;
    }
}
