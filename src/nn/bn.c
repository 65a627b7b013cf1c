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

/* one unit's batch mean and biased variance, two passes in double */
static void unit_stats(const bp_layer *L, const float *z, int B, size_t c, double *mu,
                       double *var) {
    const size_t np = (size_t)L->zcols / (size_t)L->units;
    const double n = (double)B * (double)np;
    double s = 0.0, ss = 0.0;
    for (int r = 0; r < B; r++)
        for (size_t p = 0; p < np; p++) s += AT(z, r, c, p);
    *mu = s / n;
    for (int r = 0; r < B; r++)
        for (size_t p = 0; p < np; p++) {
            const double d = AT(z, r, c, p) - *mu;
            ss += d * d;
        }
    *var = ss / n;
}

void bp_bn_forward(const bp_layer *L, float *z, int B, size_t a, size_t b) {
    const size_t np = (size_t)L->zcols / (size_t)L->units;
    const double n = (double)B * (double)np;
    for (size_t c = a; c < b; c++) {
        const float g = L->gamma[c], be = L->beta[c];
        if (!L->bn_train) { /* the running estimates: a fixed affine map */
            const float is = (float)(1.0 / sqrt((double)L->rvar[c] + BN_EPS)), m = L->rmean[c];
            for (int r = 0; r < B; r++)
                for (size_t p = 0; p < np; p++) AT(z, r, c, p) = g * (AT(z, r, c, p) - m) * is + be;
            continue;
        }
        double mu, var;
        unit_stats(L, z, B, c, &mu, &var);
        const float is = (float)(1.0 / sqrt(var + BN_EPS)), m = (float)mu;
        float *zh = ws_zhat(L);
        ws_istd(L)[c] = is;
        for (int r = 0; r < B; r++)
            for (size_t p = 0; p < np; p++) {
                const float v = (AT(z, r, c, p) - m) * is;
                AT(zh, r, c, p) = v;
                AT(z, r, c, p) = g * v + be;
            }
        L->rmean[c] = (float)((1.0 - BN_MOMENTUM) * L->rmean[c] + BN_MOMENTUM * mu);
        L->rvar[c] = (float)((1.0 - BN_MOMENTUM) * L->rvar[c] +
                             BN_MOMENTUM * (n > 1.0 ? var * n / (n - 1.0) : var));
    }
}

/* units a..b: dy (the gradient at y, B x zcols) becomes dz, in place:
 *   dz = gamma istd / N (N dy - sum dy - zhat sum(dy zhat))
 * and ggamma = sum(dy zhat), gbeta = sum dy (overwritten) */
void bp_bn_backward(const bp_layer *L, float *d, int B, size_t a, size_t b) {
    const size_t np = (size_t)L->zcols / (size_t)L->units;
    const double n = (double)B * (double)np;
    const float *zh = ws_zhat(L);
    for (size_t c = a; c < b; c++) {
        double sd = 0.0, sdz = 0.0;
        for (int r = 0; r < B; r++)
            for (size_t p = 0; p < np; p++) {
                sd += AT(d, r, c, p);
                sdz += (double)AT(d, r, c, p) * AT(zh, r, c, p);
            }
        L->ggamma[c] = (float)sdz;
        L->gbeta[c] = (float)sd;
        const float k = L->gamma[c] * ws_istd(L)[c], md = (float)(sd / n), mz = (float)(sdz / n);
        for (int r = 0; r < B; r++)
            for (size_t p = 0; p < np; p++)
                AT(d, r, c, p) = k * (AT(d, r, c, p) - md - AT(zh, r, c, p) * mz);
    }
}

/* all units: t (the tangent at z, B x zcols) becomes the tangent at y,
 *   t_y = gamma istd (t - mean t - zhat mean(t zhat)) + vg zhat + vbe
 * (the batch's statistics move with t: eq. of the backward pass, forward);
 * vg, vbe (units) the perturbations of gamma and beta, or NULL */
void bp_bn_tangent(const bp_layer *L, float *t, int B, const float *vg, const float *vbe) {
    const size_t np = (size_t)L->zcols / (size_t)L->units;
    const double n = (double)B * (double)np;
    const float *zh = ws_zhat(L);
    for (size_t c = 0; c < (size_t)L->units; c++) {
        double st = 0.0, stz = 0.0;
        for (int r = 0; r < B; r++)
            for (size_t p = 0; p < np; p++) {
                st += AT(t, r, c, p);
                stz += (double)AT(t, r, c, p) * AT(zh, r, c, p);
            }
        const float k = L->gamma[c] * ws_istd(L)[c], mt = (float)(st / n), mz = (float)(stz / n);
        const float g = vg ? vg[c] : 0.0f, be = vbe ? vbe[c] : 0.0f;
        for (int r = 0; r < B; r++)
            for (size_t p = 0; p < np; p++) {
                const float zv = AT(zh, r, c, p);
                AT(t, r, c, p) = k * (AT(t, r, c, p) - mt - zv * mz) + g * zv + be;
            }
    }
}

void bp_bn_init(const bp_layer *L) {
    for (int c = 0; c < L->units; c++) {
        L->gamma[c] = 1.0f;
        L->beta[c] = 0.0f;
        L->rmean[c] = 0.0f;
        L->rvar[c] = 1.0f;
    }
}
