/* rng.c — xoshiro256** (Blackman & Vigna) seeded through splitmix64.
 * Owned by the model: no global generator anywhere in the library. */
#include "internal.h"

#include <math.h>

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
