/* core.h — the primitives every other part builds on: errors, counted
 * memory, random numbers, threads, the product wrapper's helpers and vector
 * kernels.  Depends on nothing but the public header.  Shapes follow
 * bpfree.h: row-major, batch-major; a weight W is (O, I). */
#ifndef BPFREE_CORE_H
#define BPFREE_CORE_H

#include "bpfree.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------- errors */

/* Fill err (if not NULL) with code and a printf-style message; returns code. */
bpfree_status bp_fail(bpfree_error *err, bpfree_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------- memory */

/* Every allocation of a model goes through one counter, which is how the
 * papers' memory claims are measured.  fail_after >= 0 makes the
 * (fail_after+1)-th allocation fail (tests of the ENOMEM paths). */
typedef struct bp_mem {
    size_t cur, peak;
    long n_allocs;
    long fail_after;
} bp_mem;

void bp_mem_init(bp_mem *m);
/* 64-byte aligned, zeroed; NULL on failure.  m may be NULL (uncounted). */
void *bp_alloc(bp_mem *m, size_t bytes);
void bp_free(bp_mem *m, void *p);
/* malloc that the failure injection below reaches too (free() it). */
void *bp_malloc(size_t bytes);
/* Tests: n more allocations (bp_alloc, bp_malloc) succeed, then all fail;
 * -1 turns it off.  bp_mem_allocs_seen: allocations since it was set. */
void bp_mem_fail_after(long n);
long bp_mem_allocs_seen(void);
/* Convenience: n floats, with error message naming `what`. */
float *bp_alloc_floats(bp_mem *m, size_t n, const char *what, bpfree_error *err);

/* ---------------------------------------------------------------- RNG */

/* xoshiro256** seeded by splitmix64: owned by whoever draws from it. */
typedef struct bp_rng {
    uint64_t s[4];
    int has_spare;
    float spare;
} bp_rng;

void bp_rng_seed(bp_rng *r, uint64_t seed);
uint64_t bp_rng_u64(bp_rng *r);
float bp_rng_uniform(bp_rng *r);           /* [0, 1) */
float bp_rng_normal(bp_rng *r);            /* N(0, 1), Box-Muller */
uint32_t bp_rng_below(bp_rng *r, uint32_t n); /* uniform integer in [0, n) */
void bp_rng_shuffle(bp_rng *r, int *a, int n);

/* Fill w (rows=fan_out, cols=fan_in) with an initialisation. */
void bp_init_fill(bp_rng *r, float *w, int fan_out, int fan_in, bpfree_init how,
                  float std);

/* Products that do not go through bpfree_gemm (the oneDNN convolution
 * primitives) report themselves to the profile (bpfree_profile's conv_*):
 * bp_profile_now() is a clock reading when profiling is on, else 0;
 * bp_profile_conv adds a call of `flops` that began at t0. */
double bp_profile_now(void);
void bp_profile_conv(double flops, double t0);

/* n draws of N(0, 1) from r (vectorised Box-Muller). */
void bp_normal_fill(bp_rng *r, float *v, size_t n);

/* ------------------------------------------------------------ threads */

/* Element-wise passes split over the --threads cores (src/core/par.c):
 * fn(ctx, a, b) runs on [a, b) parts of [0, n), at least `grain` each. */
void bp_par_threads(int n);
void bp_par_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b), void *ctx);
/* threads a bp_par_for would use now: 1 inside a part (no nesting) */
int bp_par_width(void);
/* parts to split work of `macs` multiply-adds into: 1 unless threading is
 * BPFREE_THREADING_SPLIT, the pool has several threads and the work is big
 * enough (src/core/gemm.c) */
int bp_split_width(double macs);
/* fn over [0, n) split over the pool (parts of >= grain) when
 * bp_split_width(work) > 1, else fn(ctx, 0, n) on this thread */
void bp_split_for(double work, size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b),
                  void *ctx);
/* oneDNN build: sets this thread's OpenMP team for its next oneDNN call —
 * 1 with split threading (bpfree's pool owns the cores), --threads with
 * blas threading (src/core/gemm.c) */
void bp_dnnl_threads_here(void);
/* one BLAS call for a slice of a product (M, N) x K of a whole (fullM,
 * fullN) x K: profiled as the whole product when `record` (part 0 does,
 * the others do not), never split further */
void bp_gemm_slice(int record, int fullM, int fullN, int ta, int tb, int M, int N, int K,
                   float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc);

/* --------------------------------------------------------------- names */

/* Enum <-> name through a table of n names: "?" for a value out of range,
 * -1 for an unknown name.  BP_NAMES defines a public bpfree_FN_name/_parse
 * pair over a table whose length the compiler knows. */
const char *bp_name_of(const char *const *t, int n, int v);
int bp_name_parse(const char *const *t, int n, const char *s);
#define BP_NAMES(fn, type, table)                                                          \
    const char *bpfree_##fn##_name(type v) {                                               \
        return bp_name_of(table, (int)(sizeof table / sizeof *table), (int)v);             \
    }                                                                                      \
    int bpfree_##fn##_parse(const char *s) {                                               \
        return bp_name_parse(table, (int)(sizeof table / sizeof *table), s);               \
    }

/* ------------------------------------------------------ vector kernels */

/* A float's bits and back (no aliasing of the two types). */
static inline uint32_t bp_f32_bits(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bp_bits_f32(uint32_t u) {
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

/* 1 if every value is finite. */
int bp_check_finite(const float *v, size_t n);
/* sum of squares, vectorised with fixed-order lanes (src/core/vec.c) */
double bp_sumsq(const float *x, int n);
/* largest element of x[0..n), n >= 1 (NaNs are skipped unless x[0] is one) */
float bp_maxval(const float *x, int n);

#endif /* BPFREE_CORE_H */
