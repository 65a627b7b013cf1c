/* bench/peak.c — the machine's fp32 multiply-add limit, measured.
 *
 * Every speed in BENCHMARKS.md is given as a fraction of this number, taken
 * in the same run.  A loop of independent fused multiply-adds on registers
 * (no memory traffic): ACC accumulators, each FMA depending only on its own
 * accumulator from ACC instructions before, so that the FMA units' latency
 * is hidden and only their throughput counts.  Run for the widest vector
 * unit the CPU has (AVX-512: 16 lanes, AVX2: 8 lanes), on 1 thread and on
 * N threads at once (one per core, each its own loop), median of --reps
 * rounds of at least --min-ms each.
 *
 *   build/bench-peak [--threads 1,2] [--reps 7] [--min-ms 200]
 *
 * Prints Markdown, then one line per ISA and thread count that scripts read:
 *   peak isa=avx512 threads=1 gflops=217.3
 * Peak = 2 (multiply and add) x lanes x FMAs per cycle x clock: the clock
 * under load is what this measures, turbo included, so it is the number a
 * product can reach on this machine, not the data sheet's.
 */
#include "benchutil.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACC 12       /* independent accumulators: > latency (4) x units (2) */
#define INNER 100000 /* iterations of the FMA block between clock reads */

/* Each returns the multiply-adds done (lanes x FMAs) and a value that
 * depends on every accumulator, so the compiler keeps the loop. */
__attribute__((target("avx512f"))) static double fma512(long iters, float *sink) {
    __m512 a[ACC], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < ACC; i++) s = _mm512_add_ps(s, a[i]);
    float out[16];
    _mm512_storeu_ps(out, s);
    *sink += out[0];
    return (double)iters * ACC * 16;
}

__attribute__((target("avx2,fma"))) static double fma256(long iters, float *sink) {
    __m256 a[ACC], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    __m256 s = a[0];
    for (int i = 1; i < ACC; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink += out[0];
    return (double)iters * ACC * 8;
}

typedef struct {
    int wide;
    double min_s, gflops;
    float sink;
} job;

/* one round: FMA blocks until min_s has passed; GFLOP/s (2 flops an FMA) */
static void *round_of(void *p) {
    job *j = p;
    double fmas = 0.0;
    const double t0 = bench_now();
    double t = t0;
    while (t - t0 < j->min_s) {
        fmas += j->wide ? fma512(INNER, &j->sink) : fma256(INNER, &j->sink);
        t = bench_now();
    }
    j->gflops = 2.0 * fmas / (t - t0) * 1e-9;
    return NULL;
}

/* median over reps of the summed GFLOP/s of `threads` loops run at once */
static double measure(int wide, int threads, int reps, double min_s) {
    double r[64];
    job jobs[64];
    pthread_t th[64];
    for (int k = 0; k < reps; k++) {
        for (int t = 0; t < threads; t++) jobs[t] = (job){wide, min_s, 0.0, 0.0f};
        for (int t = 1; t < threads; t++) pthread_create(&th[t], NULL, round_of, &jobs[t]);
        round_of(&jobs[0]);
        double sum = jobs[0].gflops;
        for (int t = 1; t < threads; t++) {
            pthread_join(th[t], NULL);
            sum += jobs[t].gflops;
        }
        r[k] = sum;
    }
    qsort(r, (size_t)reps, sizeof *r, bench_cmp_double);
    return r[reps / 2];
}

int main(int argc, char **argv) {
    int reps = 7, threads[8], nt = 0;
    double min_ms = 200.0;
    const char *ts = "1,2";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--threads") && v) ts = argv[++i];
        else if (!strcmp(argv[i], "--reps") && v) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && v) min_ms = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads 1,2] [--reps 7] [--min-ms 200]\n", argv[0]);
            return 2;
        }
    }
    nt = bench_split_ints(ts, threads, 8);
    if (nt <= 0 || reps < 1 || reps > 64 || min_ms <= 0.0) {
        fprintf(stderr, "bench-peak: bad --threads, --reps (1..64) or --min-ms\n");
        return 2;
    }
    __builtin_cpu_init();
    const int has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2") &&
                                                                  __builtin_cpu_supports("fma");
    printf("## fp32 FMA peak (median of %d rounds of >= %.0f ms)\n\n", reps, min_ms);
    printf("| ISA | threads | GFLOP/s | per thread |\n|---|---:|---:|---:|\n");
    for (int w = 1; w >= 0; w--) {
        if ((w && !has512) || (!w && !has2)) continue;
        for (int k = 0; k < nt; k++) {
            if (threads[k] < 1 || threads[k] > 64) continue;
            const double g = measure(w, threads[k], reps, min_ms * 1e-3);
            printf("| %s | %d | %.1f | %.1f |\n", w ? "AVX-512" : "AVX2", threads[k], g,
                   g / threads[k]);
            fprintf(stderr, "peak isa=%s threads=%d gflops=%.1f\n", w ? "avx512" : "avx2",
                    threads[k], g);
        }
    }
    if (!has512 && !has2) printf("(neither AVX2+FMA nor AVX-512: no peak measured)\n");
    return 0;
}
