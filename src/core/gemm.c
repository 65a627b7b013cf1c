/* gemm.c — the one place that calls the matrix-product library, and its
 * naive reference.  The library is chosen at build time (make BLAS=...):
 * oneDNN's dnnl_sgemm (-DBPFREE_DNNL, the default: it picks its kernels by
 * CPU feature detection, AVX-512 here), or CBLAS from OpenBLAS, or from BLIS
 * (-DBPFREE_BLIS).  Only the thread count is set differently. */
#include "core/core.h"

#if defined(BPFREE_DNNL)
#include <oneapi/dnnl/dnnl.h>
/* Debian's oneDNN runs its products on OpenMP (libgomp).  Declared here, not
 * from <omp.h>, so that no -fopenmp is needed to build bpfree. */
extern void omp_set_num_threads(int n);
#elif defined(BPFREE_BLIS)
#include <blis.h> /* bli_thread_set_num_threads; declares the CBLAS API too */
#else
#include <cblas.h>
#endif
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void prof_record(int ta, int tb, int M, int N, int K, int acc, double dt);
static double now_seconds(void);
static int prof_on(void);

/* "split" (the default with --threads N > 1) or "blas": see below */
static int threading = BPFREE_THREADING_SPLIT, threads_now = 1;

#ifdef BPFREE_DNNL
/* OpenMP's thread count is a property of the calling thread: each thread
 * of bpfree's pool starts with OpenMP's default (every core), so each sets
 * its own before its first product, and again when the setting changes. */
static _Thread_local int omp_threads_here;

void bp_dnnl_threads_here(void) {
    const int want = threading == BPFREE_THREADING_SPLIT ? 1 : threads_now;
    if (omp_threads_here != want) {
        omp_set_num_threads(want);
        omp_threads_here = want;
    }
}

static void blas_call(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
    bp_dnnl_threads_here();
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb,
                                  beta, C, ldc);
    if (st != dnnl_success) { /* only arguments bpfree itself got wrong */
        fprintf(stderr, "bpfree: dnnl_sgemm(%c%c, %d x %d x %d, ld %d %d %d) failed: status %d\n",
                ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, lda, ldb, ldc, (int)st);
        abort();
    }
}
#else
/* One BLAS call, no splitting, no profiling. */
static void blas_call(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 1 || N == 1) {
        /* a vector result: sgemv, several times faster than a one-row sgemm
         * in OpenBLAS 0.3.21 (one image through 784-1000-1000-10: ~440 ->
         * ~80 us).  y is cleared first so that beta = 0 never reads it. */
        if (beta == 0.0f) {
            if (M == 1) memset(C, 0, (size_t)N * sizeof(float));
            else
                for (int i = 0; i < M; i++) C[(size_t)i * ldc] = 0.0f;
        }
        if (M == 1) /* c (N) = op(B)^T a, a = row of op(A) */
            cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N,
                        alpha, B, ldb, A, ta ? lda : 1, beta, C, 1);
        else /* c (M) = op(A) b, b = column of op(B) */
            cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? K : M, ta ? M : K,
                        alpha, A, lda, B, tb ? 1 : ldb, beta, C, ldc);
    } else {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}
#endif

void bp_gemm_slice(int record, int fullM, int fullN, int ta, int tb, int M, int N, int K,
                   float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc) {
    const int timed = record && prof_on();
    const double t0 = timed ? now_seconds() : 0.0;
    blas_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (timed) prof_record(ta, tb, fullM, fullN, K, beta != 0.0f, now_seconds() - t0);
}

/* ------------------------------------------------------------ threading
 * "split" (the default with --threads N > 1): the BLAS runs on one thread
 * and bpfree splits the work itself over its pool (src/core/par.c) — a
 * product by columns of C (or rows, when C is narrow), a dense layer's
 * forward and gradient passes by output units, with the element-wise work
 * of each part (bias, activation, derivative, bias gradient, optimizer step)
 * done by the thread that computed that part, while it is in its cache.
 * "blas": the library's own threads for the products (oneDNN's OpenMP team,
 * OpenBLAS's or BLIS's threads), the pool for the optimizer step only.
 * Measured in BENCHMARKS.md. */

/* below this many multiply-adds a product is not worth splitting */
#define SPLIT_MIN_MACS (1L << 20)

int bp_split_width(double macs) {
    if (threading != BPFREE_THREADING_SPLIT || macs < (double)SPLIT_MIN_MACS) return 1;
    return bp_par_width();
}

void bp_split_for(double work, size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b),
                  void *ctx) {
    if (bp_split_width(work) > 1) bp_par_for(n, grain, fn, ctx);
    else fn(ctx, 0, n);
}

typedef struct {
    int ta, tb, M, N, K, by_rows;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
} gemm_job;

static void gemm_part(void *ctx, size_t a, size_t b) {
    const gemm_job *j = ctx;
    const int n = (int)(b - a);
    if (j->by_rows) /* rows a..b of C: rows of op(A) */
        bp_gemm_slice(a == 0, j->M, j->N, j->ta, j->tb, n, j->N, j->K, j->alpha,
                      j->ta ? j->A + a : j->A + a * (size_t)j->lda, j->lda, j->B, j->ldb, j->beta,
                      j->C + a * (size_t)j->ldc, j->ldc);
    else /* columns a..b of C: columns of op(B) */
        bp_gemm_slice(a == 0, j->M, j->N, j->ta, j->tb, j->M, n, j->K, j->alpha, j->A, j->lda,
                      j->tb ? j->B + a * (size_t)j->ldb : j->B + a, j->ldb, j->beta, j->C + a,
                      j->ldc);
}

void bpfree_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    if (M > 1 && N > 1 && (M >= 64 || N >= 64) &&
        bp_split_width((double)M * N * (double)K) > 1) {
        gemm_job j = {ta, tb, M, N, K, N < 64, alpha, beta, A, B, lda, ldb, ldc, C};
        bp_par_for((size_t)(j.by_rows ? M : N), 32, gemm_part, &j);
        return;
    }
    bp_gemm_slice(1, M, N, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* C (M,N) = alpha op(A) op(B) + beta C; op(A)[i][k] = ta ? A[k*lda+i] : A[i*lda+k]. */
void bpfree_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

int bpfree_set_threads(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    const int blas = threading == BPFREE_THREADING_SPLIT ? 1 : n;
#if defined(BPFREE_DNNL)
    (void)blas; /* set per calling thread, in blas_call */
#elif defined(BPFREE_BLIS)
    bli_thread_set_num_threads(blas);
#else
    openblas_set_num_threads(blas);
#endif
    bp_par_threads(n);
    threads_now = n;
    return n;
}

int bpfree_set_threading(bpfree_threading t) {
    if (t != BPFREE_THREADING_SPLIT && t != BPFREE_THREADING_BLAS) return -1;
    threading = t;
    bpfree_set_threads(threads_now);
    return 0;
}

bpfree_threading bpfree_get_threading(void) { return (bpfree_threading)threading; }

/* ------------------------------------------------------------ profiling
 * When on, every bpfree_gemm call is timed and counted by shape, so a
 * benchmark can say how much of a training step is matrix products and how
 * long those same products take alone (bpfree_profile_replay). */

#define PROF_SHAPES 128

typedef struct {
    int ta, tb, M, N, K, acc; /* acc: beta != 0 (C accumulated, not overwritten) */
    long calls;
    double seconds, alone; /* alone: from the last replay, < 0 before one */
} prof_shape;

static struct {
    atomic_int on;
    pthread_mutex_t lock;
    prof_shape shape[PROF_SHAPES];
    int n, dropped;
    long conv_calls;            /* bp_profile_conv: products outside bpfree_gemm */
    double conv_seconds, conv_flops;
} prof = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void prof_record(int ta, int tb, int M, int N, int K, int acc, double dt) {
    pthread_mutex_lock(&prof.lock);
    int i = 0;
    while (i < prof.n && !(prof.shape[i].ta == ta && prof.shape[i].tb == tb &&
                           prof.shape[i].M == M && prof.shape[i].N == N &&
                           prof.shape[i].K == K && prof.shape[i].acc == acc))
        i++;
    if (i == prof.n) {
        if (prof.n < PROF_SHAPES)
            prof.shape[prof.n++] = (prof_shape){ta, tb, M, N, K, acc, 0, 0.0, -1.0};
        else i = -1;
    }
    if (i >= 0) {
        prof.shape[i].calls++;
        prof.shape[i].seconds += dt;
    } else {
        prof.dropped++;
    }
    pthread_mutex_unlock(&prof.lock);
}

double bp_profile_now(void) { return prof_on() ? now_seconds() : 0.0; }

void bp_profile_conv(double flops, double t0) {
    if (t0 <= 0.0) return;
    const double dt = now_seconds() - t0;
    pthread_mutex_lock(&prof.lock);
    prof.conv_calls++;
    prof.conv_seconds += dt;
    prof.conv_flops += flops;
    pthread_mutex_unlock(&prof.lock);
}

void bpfree_profile_start(int reset) {
    if (reset) {
        pthread_mutex_lock(&prof.lock);
        prof.n = 0;
        prof.dropped = 0;
        prof.conv_calls = 0;
        prof.conv_seconds = prof.conv_flops = 0.0;
        pthread_mutex_unlock(&prof.lock);
    }
    atomic_store(&prof.on, 1);
}

void bpfree_profile_stop(bpfree_profile *out) {
    atomic_store(&prof.on, 0);
    pthread_mutex_lock(&prof.lock);
    bpfree_profile p = {0};
    for (int i = 0; i < prof.n; i++) {
        const prof_shape *s = &prof.shape[i];
        p.calls += s->calls;
        p.seconds += s->seconds;
        p.flops += 2.0 * s->M * s->N * (double)s->K * (double)s->calls;
    }
    p.shapes = prof.n;
    p.dropped = prof.dropped;
    p.conv_calls = prof.conv_calls;
    p.conv_seconds = prof.conv_seconds;
    p.conv_flops = prof.conv_flops;
    pthread_mutex_unlock(&prof.lock);
    if (out) *out = p;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bpfree_profile_replay(int reps) {
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < prof.n; i++) {
        const prof_shape *s = &prof.shape[i];
        size_t a = (size_t)s->M * s->K, b = (size_t)s->K * s->N, c = (size_t)s->M * s->N;
        na = a > na ? a : na;
        nb = b > nb ? b : nb;
        nc = c > nc ? c : nc;
    }
    /* scratch from the allocator training uses (huge pages for big blocks) */
    float *A = bp_alloc(NULL, na * sizeof(float)), *B = bp_alloc(NULL, nb * sizeof(float)),
          *C = bp_alloc(NULL, nc * sizeof(float));
    double total = -1.0;
    if (A && B && C) {
        /* small deterministic values: no denormals, no overflow (C is
         * cleared before each shape; accumulating calls add a few hundred
         * products of at most 0.0064 K) */
        for (size_t i = 0; i < na; i++) A[i] = (float)((int)(i % 17) - 8) * 0.01f;
        for (size_t i = 0; i < nb; i++) B[i] = (float)((int)(i % 13) - 6) * 0.01f;
        total = 0.0;
        for (int i = 0; i < prof.n; i++) {
            const prof_shape *s = &prof.shape[i];
            const int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
            double t[64];
            /* the same number of calls back to back, as in a step, `reps`
             * times, with the same beta (0: the BLAS clears C first) */
            const long inner = s->calls < 8 ? s->calls : 8;
            memset(C, 0, (size_t)s->M * s->N * sizeof(float));
            for (int r = 0; r < reps; r++) {
                double t0 = now_seconds();
                for (long k = 0; k < inner; k++)
                    bpfree_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb,
                                s->acc ? 1.0f : 0.0f, C, s->N);
                t[r] = (now_seconds() - t0) / (double)inner;
            }
            qsort(t, (size_t)reps, sizeof *t, cmp_dbl);
            prof.shape[i].alone = t[reps / 2] * (double)s->calls;
            total += prof.shape[i].alone;
        }
    }
    bp_free(NULL, A);
    bp_free(NULL, B);
    bp_free(NULL, C);
    return total;
}

static int cmp_shape_seconds(const void *a, const void *b) {
    const bpfree_profile_shape *x = a, *y = b;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds); /* descending */
}

int bpfree_profile_shapes(bpfree_profile_shape *out, int max) {
    pthread_mutex_lock(&prof.lock);
    const int n = prof.n;
    bpfree_profile_shape all[PROF_SHAPES];
    for (int i = 0; i < n; i++) {
        const prof_shape *s = &prof.shape[i];
        all[i] = (bpfree_profile_shape){.ta = s->ta, .tb = s->tb, .M = s->M, .N = s->N,
                                        .K = s->K, .accumulate = s->acc, .calls = s->calls,
                                        .seconds = s->seconds, .alone = s->alone};
    }
    pthread_mutex_unlock(&prof.lock);
    qsort(all, (size_t)n, sizeof *all, cmp_shape_seconds);
    for (int i = 0; i < n && i < max; i++) out[i] = all[i];
    return n;
}

static int prof_on(void) { return atomic_load_explicit(&prof.on, memory_order_relaxed); }
