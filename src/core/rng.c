/* rng.c — xoshiro256** (Blackman & Vigna) seeded through splitmix64.
 * Owned by the model: no global generator anywhere in the library. */
#include "core/core.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void bp_rng_seed(bp_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0f;
}

uint64_t bp_rng_u64(bp_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* 24 random bits: exactly representable floats in [0, 1). */
float bp_rng_uniform(bp_rng *r) { return (float)(bp_rng_u64(r) >> 40) * 0x1.0p-24f; }

float bp_rng_normal(bp_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1, u2 = (double)(bp_rng_u64(r) >> 11) * 0x1.0p-53;
    do u1 = (double)(bp_rng_u64(r) >> 11) * 0x1.0p-53; while (u1 <= 0.0);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return (float)(rad * cos(th));
}

/* Lemire's multiply-shift with rejection: unbiased. */
uint32_t bp_rng_below(bp_rng *r, uint32_t n) {
    uint64_t m = (uint64_t)(uint32_t)(bp_rng_u64(r) >> 32) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t thresh = (uint32_t)(-n) % n;
        while (lo < thresh) {
            m = (uint64_t)(uint32_t)(bp_rng_u64(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void bp_rng_shuffle(bp_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)bp_rng_below(r, (uint32_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void bp_init_fill(bp_rng *r, float *w, int fan_out, int fan_in, bpfree_init how, float std) {
    size_t n = (size_t)fan_out * (size_t)fan_in;
    float a = 0.0f;
    switch (how) {
    case BPFREE_INIT_KAIMING_UNIFORM: a = 1.0f / sqrtf((float)fan_in); break;
    case BPFREE_INIT_HE_UNIFORM: a = sqrtf(6.0f / (float)fan_in); break;
    case BPFREE_INIT_XAVIER_UNIFORM: a = sqrtf(6.0f / (float)(fan_in + fan_out)); break;
    case BPFREE_INIT_NORMAL:
        for (size_t i = 0; i < n; i++) w[i] = std * bp_rng_normal(r);
        return;
    case BPFREE_INIT_LECUN_NORMAL: {
        const float s = 1.0f / sqrtf((float)fan_in);
        for (size_t i = 0; i < n; i++) w[i] = s * bp_rng_normal(r);
        return;
    }
    case BPFREE_INIT_TRINOMIAL:
        for (size_t i = 0; i < n; i++) w[i] = (float)bp_rng_below(r, 3) - 1.0f;
        return;
    case BPFREE_INIT_BINOMIAL:
        for (size_t i = 0; i < n; i++) w[i] = (float)bp_rng_below(r, 2);
        return;
    case BPFREE_INIT_PM_IDENTITY: /* 001 §4.3: [I, -I, I, ...] along the larger dimension */
        for (int o = 0; o < fan_out; o++)
            for (int i = 0; i < fan_in; i++) {
                int small = fan_out <= fan_in ? o : i, big = fan_out <= fan_in ? i : o;
                int k = fan_out <= fan_in ? fan_out : fan_in;
                w[(size_t)o * fan_in + i] = big % k != small ? 0.0f : (big / k) % 2 ? -1.0f : 1.0f;
            }
        return;
    case BPFREE_INIT_ZEROS:
    case BPFREE_INIT_COUNT:
        for (size_t i = 0; i < n; i++) w[i] = 0.0f;
        return;
    }
    for (size_t i = 0; i < n; i++) w[i] = a * (2.0f * bp_rng_uniform(r) - 1.0f);
}

/* ------------------------------------------------ many normals at once
 *
 * Forward-gradient rules draw a normal per weight or activation per step
 * (fg-w: 1.8 M per step on 784-1000-1000-10), so the scalar Box–Muller in
 * double (libm log, sin, cos) cost more than the products.  Here the random
 * bits are drawn first (the generator is sequential) and split into two
 * 24-bit integers, then a branch-free float Box–Muller in one vector loop
 * turns each pair into two normals:
 *   u1 = (k1 + 1) 2^-24 in (0, 1] (no rejection), u2 = k2 2^-24 in [0, 1),
 *   rad = sqrt(-2 ln u1), and the pair rad·cos(2π u2), rad·sin(2π u2).
 * ln: u1 = m 2^e with m in [√½, √2), ln m = 2 atanh s, s = (m-1)/(m+1),
 * |s| <= 0.172, series to s^9 (truncation < 4e-10).  sin/cos: 4 u2 = q + ½
 * + g exactly (q = quadrant = k2's top two bits, |g| <= ½), 2π u2 =
 * (q + ½) π/2 + c with c = g π/2 in [-π/4, π/4]; sin and cos of c by their
 * series to c^9 / c^10, rotated by the quadrant's angle (±√½, ±√½).  Both
 * are within a few ulp; what matters here is that the draws are normal to
 * float precision — the tests check the moments, the tails and every draw
 * against libm's Box–Muller on the same bits.
 *
 * The loop is int32 and float only, without calls (an earlier form read
 * the u64 bits and called floorf, so at the default -march=x86-64 it stayed
 * scalar: 9.5 ns a normal; now 2.2 with SSE2).  On x86-64 with glibc it is
 * also built for AVX2 and AVX-512F, picked at load time (1.0 ns a normal,
 * then most of it the generator's bits).  Every clone does the same IEEE
 * operations in the same order — no FMA contraction under -std=c11, no
 * -ffast-math — so the draws are the same bit for bit on any CPU. */

#define NORMAL_BLOCK 512 /* pairs per block: bits on the stack, then one vector loop */

#if defined(__x86_64__) && defined(__GLIBC__) && (defined(__clang__) || __GNUC__ >= 6)
#define NORMAL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#ifdef __clang__ /* clang contracts a*b+c into an FMA by default, where the clone has one */
#pragma clang fp contract(off)
#endif
#else
#define NORMAL_CLONES
#endif

/* ln x for x in [2^-24, 1] */
static inline float ln_unit(float x) {
    const uint32_t b = bp_f32_bits(x);
    /* m in [√½, √2): take the exponent of x / √½ */
    const int32_t e = (int32_t)((b + (0x3f800000u - 0x3f3504f3u)) >> 23) - 127;
    const float m = bp_bits_f32(b - ((uint32_t)e << 23));
    const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    const float lnm =
        2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
    return (float)e * 0x1.62e430p-1f + lnm;
}

/* One block of pairs from two arrays of 24-bit integers, k1 (u1) and k2
 * (u2): int32 in, floats out, no calls, the quadrant from k2's top two bits
 * (the value floor(4 u2) had) — a loop the compiler vectorises at any -march. */
NORMAL_CLONES static void normal_block(const int32_t *k1, const int32_t *k2, float *out, int pairs) {
    const float pi_2 = 0x1.921fb6p+0f, r2 = 0x1.6a09e6p-1f; /* π/2, √½ */
    for (int i = 0; i < pairs; i++) {
        const float u1 = (float)(k1[i] + 1) * 0x1.0p-24f;
        const int32_t qi = k2[i] >> 22;                          /* quadrant, 0..3 */
        const float t = (float)k2[i] * 0x1.0p-22f;               /* 4 u2 */
        const float g = t - (float)qi - 0.5f, c = g * pi_2, c2 = c * c;
        const float sc = c * (1.0f - c2 * (1.0f / 6 - c2 * (1.0f / 120 - c2 * (1.0f / 5040 -
                                                                               c2 * (1.0f / 362880)))));
        const float cc = 1.0f - c2 * (0.5f - c2 * (1.0f / 24 - c2 * (1.0f / 720 -
                                                                     c2 * (1.0f / 40320 - c2 * (1.0f / 3628800)))));
        /* the quadrant's angle (q + ½) π/2: cos = ±√½, sin = ±√½ */
        const float cb = ((qi + 1) & 2) ? -r2 : r2, sb = (qi & 2) ? -r2 : r2;
        const float rad = sqrtf(-2.0f * ln_unit(u1));
        out[2 * i] = rad * (cb * cc - sb * sc);     /* cos(b + c) */
        out[2 * i + 1] = rad * (sb * cc + cb * sc); /* sin(b + c) */
    }
}

void bp_normal_fill(bp_rng *r, float *v, size_t n) {
    int32_t k1[NORMAL_BLOCK], k2[NORMAL_BLOCK];
    float tmp[2];
    while (n >= 2) {
        const int pairs = n / 2 < NORMAL_BLOCK ? (int)(n / 2) : NORMAL_BLOCK;
        for (int i = 0; i < pairs; i++) { /* the generator is sequential: bits first */
            const uint64_t k = bp_rng_u64(r);
            k1[i] = (int32_t)(k >> 40);
            k2[i] = (int32_t)((k >> 8) & 0xffffffu);
        }
        normal_block(k1, k2, v, pairs);
        v += 2 * (size_t)pairs;
        n -= 2 * (size_t)pairs;
    }
    if (n) { /* an odd count: the first of one more pair */
        const uint64_t k = bp_rng_u64(r);
        k1[0] = (int32_t)(k >> 40);
        k2[0] = (int32_t)((k >> 8) & 0xffffffu);
        normal_block(k1, k2, tmp, 1);
        v[0] = tmp[0];
    }
}
