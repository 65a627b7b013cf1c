/* block.c — the parts every image block kind shares (block.h): the
 * forward pass around the kind's product, the way back through pooling and
 * the activation, the forward-mode tangent, the init and the setup. */
#include "nn/block.h"

#include <math.h>
#include <string.h>

/* one row of max-pooling windows, ow of them: each window's max and where
 * it is, the first of equal values row by row.  Branch-free (selects, not
 * jumps: the comparisons are data, a branch on them is mispredicted half
 * the time) and over the windows of the row, so the compiler vectorises it;
 * this pass was 15-18% of a 002-CNN epoch. */
static void max_row(const float *a, int cw, int Q, int ow, int k0, float *out, int *arg) {
    for (int ox = 0; ox < ow; ox++) {
        const float *w = a + ox * Q;
        float best = w[0];
        int where = 0;
        for (int i = 0; i < Q; i++)
            for (int j = 0; j < Q; j++) {
                const float v = w[i * cw + j];
                const int gt = v > best;
                where = gt ? i * cw + j : where;
                best = gt ? v : best;
            }
        out[ox] = best;
        arg[ox] = k0 + ox * Q + where;
    }
}

/* pooled (oc, oh, ow) of a (oc, ch, cw); max records each window's argmax
 * (an index into a's channel) */
void bp_pool_fwd(const bp_geom *g, const float *a, float *out, int *arg) {
    const int Q = g->q, cw = g->cw;
    const float inv = 1.0f / (float)(Q * Q);
    for (int c = 0; c < g->oc; c++) {
        const float *ac = a + (size_t)c * g->ch * cw;
        float *oc = out + (size_t)c * g->oh * g->ow;
        for (int oy = 0; oy < g->oh; oy++) {
            if (g->pool == BP_POOL_MAX) {
                max_row(ac + oy * Q * cw, cw, Q, g->ow, oy * Q * cw, oc + oy * g->ow,
                        arg + ((size_t)c * g->oh + oy) * g->ow);
                continue;
            }
            for (int ox = 0; ox < g->ow; ox++) {
                const int k0 = oy * Q * cw + ox * Q;
                float sum = 0.0f;
                for (int i = 0; i < Q; i++)
                    for (int j = 0; j < Q; j++) sum += ac[k0 + i * cw + j];
                oc[oy * g->ow + ox] = sum * inv;
            }
        }
    }
}

/* dz (channels a..b of one sample, ch x cw each) = dh routed back through
 * the pooling (zero where no pooled output looked) */
void bp_pool_bwd(const bp_geom *g, const float *dh, const int *arg, float *dz, size_t a,
                     size_t b) {
    const int Q = g->q;
    const size_t np = bp_npos(g), po = (size_t)g->oh * g->ow;
    const float inv = 1.0f / (float)(Q * Q);
    for (size_t c = a; c < b; c++) {
        float *dc = dz + c * np;
        memset(dc, 0, np * sizeof(float));
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const size_t o = c * po + (size_t)oy * g->ow + ox;
                if (g->pool == BP_POOL_MAX) {
                    dc[arg[o]] += dh[o];
                    continue;
                }
                for (int i = 0; i < Q; i++)
                    for (int j = 0; j < Q; j++) dc[(oy * Q + i) * g->cw + ox * Q + j] += dh[o] * inv;
            }
    }
}

/* the same pooling applied to a tangent t (oc, ch, cw): max takes the value
 * at the forward's argmax, average the window's mean */
void bp_pool_linear(const bp_geom *g, const float *t, const int *arg, float *out) {
    const int Q = g->q;
    const size_t np = bp_npos(g);
    for (int c = 0; c < g->oc; c++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const size_t o = ((size_t)c * g->oh + oy) * g->ow + ox;
                if (g->pool == BP_POOL_MAX) {
                    out[o] = t[c * np + (size_t)arg[o]];
                    continue;
                }
                float sum = 0.0f;
                for (int i = 0; i < Q; i++)
                    for (int j = 0; j < Q; j++) sum += t[c * np + (size_t)(oy * Q + i) * g->cw + ox * Q + j];
                out[o] = sum * (1.0f / (float)(Q * Q));
            }
}

static void pool_rows(const bp_layer *L, float *h, int s0, int n) {
    for (int s = s0; s < s0 + n; s++)
        bp_pool_fwd(&L->g, bp_block_ws_a(L) + (size_t)s * L->zcols, h + (size_t)s * L->out,
                    L->wsi ? L->wsi + (size_t)s * L->out : NULL);
}

void bp_block_finish(const bp_layer *L, float *h, int B) {
    float *z = L->g.pool ? bp_block_ws_a(L) : h;
    if (L->bn) bp_bn_forward(L, z, B, 0, (size_t)L->units);
    bp_act_forward(L->act, z, (size_t)B * L->zcols);
    if (L->g.pool) pool_rows(L, h, 0, B);
}

void bp_block_forward(const bp_layer *L, const float *x, float *h, int B, int S,
                      bp_block_product product) {
    const bp_geom *g = &L->g;
    for (int s0 = 0; s0 < B; s0 += S) {
        const int n = B - s0 < S ? B - s0 : S;
        float *z = g->pool ? bp_block_ws_a(L) + (size_t)s0 * L->zcols : h + (size_t)s0 * L->out;
        product(L, L->W, L->b, x + (size_t)s0 * L->in, n, z, (size_t)L->zcols, 0);
        if (L->bn) continue; /* the batch's statistics need every chunk */
        bp_act_forward(L->act, z, (size_t)n * L->zcols);
        if (g->pool) pool_rows(L, h, s0, n);
    }
    if (L->bn) bp_block_finish(L, h, B);
}

float *bp_block_dz_of(const bp_layer *L, float *dh) { return L->g.pool ? bp_block_ws_dz(L) : dh; }

void bp_block_output_grad(const bp_layer *L, const float *h, const float *dh, float *dz, int B,
                          size_t c0, size_t c1) {
    const bp_geom *g = &L->g;
    const size_t np = bp_npos(g);
    for (int s = 0; s < B; s++) {
        float *dzs = dz + (size_t)s * L->zcols;
        const float *act =
            g->pool ? bp_block_ws_a(L) + (size_t)s * L->zcols : h + (size_t)s * L->out;
        if (g->pool)
            bp_pool_bwd(g, dh + (size_t)s * L->out, L->wsi ? L->wsi + (size_t)s * L->out : NULL,
                        dzs, c0, c1);
        bp_act_backward(L->act, act + c0 * np, dzs + c0 * np, (c1 - c0) * np);
    }
    if (L->bn) bp_bn_backward(L, dz, B, c0, c1);
}

/* dz of channels c0..c1 = sig ⊙ f'(z) for a signal at the pre-pool
 * activations, then batch normalisation's way back: no pooling, the signal
 * entered before it */
void bp_block_sig_grad(const bp_layer *L, const float *sig, float *dz, int B, size_t c0,
                       size_t c1) {
    const size_t np = bp_npos(&L->g), zc = (size_t)L->zcols;
    for (int s = 0; s < B; s++) {
        float *dzs = dz + (size_t)s * zc;
        memcpy(dzs + c0 * np, sig + (size_t)s * zc + c0 * np, (c1 - c0) * np * sizeof(float));
        bp_act_backward(L->act, bp_block_ws_a(L) + (size_t)s * zc + c0 * np, dzs + c0 * np,
                        (c1 - c0) * np);
    }
    if (L->bn) bp_bn_backward(L, dz, B, c0, c1);
}

/* rows s0..s0+n of T (zcols each): the tangent at z of those samples,
 * product(din; W) + product(x; V, vb), as one product per chunk (the
 * forward's chunk of S samples, not a product per sample) */
static void tangent_z(const bp_layer *L, const float *x, const float *din, const float *V,
                      const float *vb, int s0, int n, float *T, bp_block_product product) {
    const size_t zc = (size_t)L->zcols;
    float *ts = T + (size_t)s0 * zc;
    memset(ts, 0, (size_t)n * zc * sizeof(float));
    if (din) product(L, L->W, NULL, din + (size_t)s0 * L->in, n, ts, zc, 1);
    if (V || vb) product(L, V, vb, x + (size_t)s0 * L->in, n, ts, zc, 1);
}

/* sample s: ts (its tangent at the pre-activation) through f' and the
 * pooling into dout, plus u at the signal point (before the pooling with
 * sig_pre, else after) */
static void tangent_out(const bp_layer *L, const float *h, const float *u, int s, float *ts,
                        float *dout) {
    const size_t zc = (size_t)L->zcols;
    const float *act = L->g.pool ? bp_block_ws_a(L) + s * zc : h + (size_t)s * L->out;
    bp_act_backward(L->act, act, ts, zc);
    if (u && L->sig_pre)
        for (size_t k = 0; k < zc; k++) ts[k] += u[(size_t)s * zc + k];
    float *os = dout + (size_t)s * L->out;
    if (L->g.pool) bp_pool_linear(&L->g, ts, L->wsi ? L->wsi + (size_t)s * L->out : NULL, os);
    if (u && !L->sig_pre)
        for (int k = 0; k < L->out; k++) os[k] += u[(size_t)s * L->out + k];
}

/* The tangent at z of all B samples first, chunk by chunk (with pooling in
 * dz's space, free now, else in dout itself); with batch normalisation its
 * tangent next (the statistics couple the samples; vb then holds the
 * biases', gamma's and beta's perturbations, units each); then f', u and
 * the pooling sample by sample. */
void bp_block_tangent(const bp_layer *L, const float *x, const float *h, const float *din,
                      const float *V, const float *vb, const float *u, float *dout, int B, int S,
                      bp_block_product product) {
    const size_t zc = (size_t)L->zcols;
    float *T = L->g.pool ? bp_block_ws_dz(L) : dout; /* (B, zcols) */
    for (int s0 = 0; s0 < B; s0 += S)
        tangent_z(L, x, din, V, vb, s0, B - s0 < S ? B - s0 : S, T, product);
    if (L->bn)
        bp_bn_tangent(L, T, B, vb ? vb + L->units : NULL, vb ? vb + 2 * (size_t)L->units : NULL);
    for (int s = 0; s < B; s++) tangent_out(L, h, u, s, T + (size_t)s * zc, dout);
}

void bp_block_init(const bp_layer *L, bp_rng *r, float *w, float *b, bpfree_init how,
                   float std) {
    const int fan_in = (int)bp_ntaps(&L->g);
    bp_init_fill(r, w, L->units, fan_in, how, std);
    if (!b || how != BPFREE_INIT_KAIMING_UNIFORM) return;
    const float a = 1.0f / sqrtf((float)fan_in);
    for (int k = 0; k < L->units; k++) b[k] = a * (2.0f * bp_rng_uniform(r) - 1.0f);
}

void bp_block_setup(bp_layer *L, const bp_layer_kind *kind, const bp_geom *g, bpfree_act act,
                    int units) {
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->g = *g;
    L->in = g->ic * g->ih * g->iw;
    L->zcols = g->oc * g->ch * g->cw;
    L->out = g->oc * g->oh * g->ow;
    L->units = units;
    L->unit_w = bp_ntaps(g);
    L->act = act;
}
