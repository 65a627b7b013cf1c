/* act.c — activations.  The backward pass computes f'(z) from h = f(z), so a
 * layer keeps only its output. */
#include "nn/nn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* tanh and the logistic function in a form the compiler vectorises (libm's
 * tanhf and expf are scalar calls: they made tanh nets spend a third of an
 * epoch outside the matrix products).  Both rest on e^y - 1 for y >= 0:
 * y = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, so r is exact to a few
 * ulp), expm1(r) by its Taylor series to r^7 (truncation < 2^-27 relative),
 * and e^y - 1 = 2^n (expm1(r) + 1) - 1 = 2^n expm1(r) + (2^n - 1), which
 * keeps tanh's small arguments accurate.  2^n comes from the exponent bits:
 * adding 1.5·2^23 rounds y/ln2 to an integer held in the low mantissa bits.
 * Error measured against double precision over [-12, 12]: see
 * tests/test_nn.c.  NaN propagates; the same input gives the same output on
 * every vector width (no FMA contraction in ISO C mode). */

/* e^y - 1 for 0 <= y <= 88 (or NaN) */
static inline float expm1_pos(float y) {
    const float magic = 0x1.8p23f, inv_ln2 = 0x1.715476p+0f;
    const float ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    const float t = y * inv_ln2 + magic;
    const float nf = t - magic;
    const uint32_t n = bp_f32_bits(t) - bp_f32_bits(magic); /* round(y / ln2) */
    const float r = (y - nf * ln2_hi) - nf * ln2_lo;
    const float p =
        r + r * r *
                (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                              r * (1.0f / 720 + r * (1.0f / 5040))))));
    const float two_n = bp_bits_f32((n + 127u) << 23);
    return two_n * p + (two_n - 1.0f);
}

/* tanh x = sign(x) em1 / (em1 + 2), em1 = e^{2|x|} - 1; |x| >= 10 gives 1 */
static inline float tanh_v(float x) {
    float ax = fabsf(x);
    ax = ax > 10.0f ? 10.0f : ax;
    const float em1 = expm1_pos(2.0f * ax);
    return copysignf(em1 / (em1 + 2.0f), x);
}

/* 1 / (1 + e^-x) = u / (u + 1) for x >= 0 and 1 / (u + 1) for x < 0, with
 * u = e^{|x|}; beyond |x| = 87 it is 1, or 0 (true value below 1.7e-38) */
static inline float sigmoid_v(float x) {
    const float ax = fabsf(x), axc = ax > 87.0f ? 87.0f : ax;
    const float u = expm1_pos(axc) + 1.0f;
    const float pos = u / (u + 1.0f), neg = ax > 87.0f ? 0.0f : 1.0f / (u + 1.0f);
    return x < 0.0f ? neg : pos;
}

/* ELU (alpha 1): x for x > 0, else e^x - 1 = -em1 / (em1 + 1) with
 * em1 = e^{-x} - 1; below -20 it is -1 (true value within 2.1e-9 of it) */
static inline float elu_v(float x) {
    float ax = -x;
    ax = ax > 20.0f ? 20.0f : ax;
    const float em1 = expm1_pos(ax < 0.0f ? 0.0f : ax);
    const float neg = -(em1 / (em1 + 1.0f));
    return x > 0.0f ? x : (ax == ax ? neg : x); /* NaN passes */
}

/* big arrays go over the threads (BPFREE_THREADING_SPLIT): element-wise, so
 * the same numbers however they are split */
#define ACT_GRAIN ((size_t)1 << 15)

typedef struct {
    bpfree_act a;
    const float *h;
    float *d;
} act_job;

static void act_one(bpfree_act a, float *h, size_t n);
static void act_back_one(bpfree_act a, const float *h, float *d, size_t n);

static void forward_part(void *ctx, size_t i, size_t j) {
    const act_job *k = ctx;
    act_one(k->a, k->d + i, j - i);
}

static void backward_part(void *ctx, size_t i, size_t j) {
    const act_job *k = ctx;
    act_back_one(k->a, k->h + i, k->d + i, j - i);
}

void bp_act_forward(bpfree_act a, float *h, size_t n) {
    if (a == BPFREE_ACT_IDENTITY) return;
    act_job k = {a, NULL, h};
    bp_split_for((double)n * 64, n, ACT_GRAIN, forward_part, &k);
}

void bp_act_backward(bpfree_act a, const float *h, float *d, size_t n) {
    if (a == BPFREE_ACT_IDENTITY) return;
    act_job k = {a, h, d};
    bp_split_for((double)n * 64, n, ACT_GRAIN, backward_part, &k);
}

void bp_act_forward_cols(bpfree_act a, float *h, int B, int O, size_t c0, size_t c1) {
    if (c1 - c0 == (size_t)O) bp_act_forward(a, h, (size_t)B * O);
    else
        for (int r = 0; r < B; r++) bp_act_forward(a, h + (size_t)r * O + c0, c1 - c0);
}

void bp_act_backward_cols(bpfree_act a, const float *h, float *d, int B, int O, size_t c0,
                          size_t c1) {
    if (c1 - c0 == (size_t)O) bp_act_backward(a, h, d, (size_t)B * O);
    else
        for (int r = 0; r < B; r++)
            bp_act_backward(a, h + (size_t)r * O + c0, d + (size_t)r * O + c0, c1 - c0);
}

static void act_one(bpfree_act a, float *h, size_t n) {
    switch (a) {
    case BPFREE_ACT_RELU:
        for (size_t i = 0; i < n; i++) h[i] = h[i] < 0.0f ? 0.0f : h[i]; /* NaN passes, as in PyTorch */
        break;
    case BPFREE_ACT_TANH:
        for (size_t i = 0; i < n; i++) h[i] = tanh_v(h[i]);
        break;
    case BPFREE_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) h[i] = sigmoid_v(h[i]);
        break;
    case BPFREE_ACT_ELU:
        for (size_t i = 0; i < n; i++) h[i] = elu_v(h[i]);
        break;
    case BPFREE_ACT_IDENTITY:
    case BPFREE_ACT_COUNT:
        break;
    }
}

static void act_back_one(bpfree_act a, const float *h, float *d, size_t n) {
    switch (a) {
    case BPFREE_ACT_RELU: /* f'(0) = 0, as PyTorch */
        for (size_t i = 0; i < n; i++) d[i] = h[i] > 0.0f ? d[i] : 0.0f;
        break;
    case BPFREE_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= 1.0f - h[i] * h[i];
        break;
    case BPFREE_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= h[i] * (1.0f - h[i]);
        break;
    case BPFREE_ACT_ELU: /* f'(z) = 1 for z > 0, e^z = h + 1 below */
        for (size_t i = 0; i < n; i++) d[i] *= h[i] > 0.0f ? 1.0f : h[i] + 1.0f;
        break;
    case BPFREE_ACT_IDENTITY:
    case BPFREE_ACT_COUNT:
        break;
    }
}

float bp_act_f(bpfree_act a, float z) {
    bp_act_forward(a, &z, 1);
    return z;
}

float bp_act_df(bpfree_act a, float z) {
    float h = bp_act_f(a, z), d = 1.0f;
    bp_act_backward(a, &h, &d, 1);
    return d;
}
