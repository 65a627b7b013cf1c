/* bench/gemm.c — GFLOP/s of bpfree_gemm on the very products one training
 * step of 784-1000-1000-10 makes, shape by shape, and what they add up to
 * per step for bp, mf and dfa.
 *
 * The shapes, transposes and leading dimensions are those of the library's
 * calls: forward x W^T (src/nn/dense.c bp_layer_forward), the signal dz W
 * (src/rules/common.c chain_pass), the gradient dz^T x
 * (bp_layer_backward, bp_layer_grad_step), and the 10-wide products: the output layer, MF's
 * goodness G = a M^T, dM = dG^T a and da = dG M (src/rules/mf.c), DFA's
 * e B_l (common.c bp_feedback_signal).  Each shape is timed alone on its own
 * buffers (so they are warm in cache, as between the calls of a step), in
 * rounds, the median of the rounds shown.
 *
 *   build/bench-gemm [--threads 1,2] [--batches 64,256] [--reps 9]
 *                    [--min-ms 20] [--peak 265]
 *
 *   --min-ms  each round repeats a shape for at least this long
 *   --peak    GFLOP/s of one core at full FMA rate (265: Zen 5, AVX-512, the
 *             project's machine); the "% peak" columns divide by peak x threads
 *
 * Prints Markdown: one table of shapes per batch, then the per-step sums.
 * Which BLAS, which kernel it picked and the environment that steers it
 * (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, BLIS_ARCH_TYPE) come first.
 */
#include "bpfree.h"
#include "benchutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(BPFREE_DNNL)
#include <oneapi/dnnl/dnnl.h>
#elif defined(BPFREE_BLIS)
#include <blis.h>
#else
#include <cblas.h>
#endif

#define MAXS 16
#define MAXT 4
#define MAXR 64

enum { R_BP, R_MF, R_DFA, NRULES };
static const char *rule_name[NRULES] = {"bp", "mf", "dfa"};

typedef struct shape {
    char what[64];   /* which product */
    char expr[32];   /* the product, in the layer's letters */
    int ta, tb, M, N, K, lda, ldb, ldc;
    int narrow;      /* M or N or K is the 10 outputs */
    int calls[NRULES]; /* calls per training step */
    float *A, *B, *C;
    long inner;      /* calls per timed round */
    double t[MAXT][MAXR]; /* seconds per call, per thread count, per round */
} shape;

static double median(const double *v, int n) {
    double s[MAXR];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, bench_cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static float *filled(size_t n, unsigned *seed) {
    float *v = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (!v) {
        fprintf(stderr, "bench-gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        v[i] = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f; /* [-1, 1) */
    }
    return v;
}

static void add(shape *s, int *n, const char *what, const char *expr, int ta, int tb, int M,
                int N, int K, int lda, int ldb, int ldc, int narrow, int bp, int mf, int dfa) {
    shape *x = &s[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->what, sizeof x->what, "%s", what);
    snprintf(x->expr, sizeof x->expr, "%s", expr);
    x->ta = ta, x->tb = tb, x->M = M, x->N = N, x->K = K;
    x->lda = lda, x->ldb = ldb, x->ldc = ldc;
    x->narrow = narrow;
    x->calls[R_BP] = bp, x->calls[R_MF] = mf, x->calls[R_DFA] = dfa;
}

/* The products of one step of 784-1000-1000-10 at batch B (D inputs, H hidden
 * units per layer, C classes), with the number of calls each rule makes. */
static int step_shapes(shape *s, int B) {
    const int D = 784, H = 1000, C = 10;
    int n = 0;
    add(s, &n, "forward, layer 1", "x W1ᵀ", 0, 1, B, H, D, D, D, H, 0, 1, 1, 1);
    add(s, &n, "forward, layer 2", "h1 W2ᵀ", 0, 1, B, H, H, H, H, H, 0, 1, 1, 1);
    add(s, &n, "forward output; MF goodness", "h2 W3ᵀ, a Mᵀ", 0, 1, B, C, H, H, H, C, 1, 1, 2,
        1);
    add(s, &n, "signal from 10 wide: bp, MF, DFA", "dz3 W3, dG M, e B", 0, 0, B, H, C, C, H, H,
        1, 1, 2, 2);
    add(s, &n, "bp signal into layer 1", "dz2 W2", 0, 0, B, H, H, H, H, H, 0, 1, 0, 0);
    add(s, &n, "gradient output; MF dM", "dz3ᵀ h2, dGᵀ a", 1, 0, C, H, B, C, H, H, 1, 1, 2, 1);
    add(s, &n, "gradient layer 2", "dz2ᵀ h1", 1, 0, H, H, B, H, H, H, 0, 1, 1, 1);
    add(s, &n, "gradient layer 1", "dz1ᵀ x", 1, 0, H, D, B, H, D, D, 0, 1, 1, 1);
    return n;
}

static void alloc_shape(shape *s, unsigned *seed) {
    const size_t a = (size_t)(s->ta ? s->K : s->M) * s->lda;
    const size_t b = (size_t)(s->tb ? s->N : s->K) * s->ldb;
    const size_t c = (size_t)s->M * s->ldc;
    s->A = filled(a, seed);
    s->B = filled(b, seed);
    s->C = filled(c, seed);
}

static void free_shape(shape *s) {
    free(s->A);
    free(s->B);
    free(s->C);
}

static double flops(const shape *s) { return 2.0 * s->M * (double)s->N * s->K; }

static void call(const shape *s) {
    bpfree_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, s->A, s->lda, s->B, s->ldb, 0.0f, s->C,
                s->ldc);
}

/* seconds per call: `inner` calls back to back */
static double round_time(const shape *s) {
    const double t0 = bench_now();
    for (long i = 0; i < s->inner; i++) call(s);
    return (bench_now() - t0) / (double)s->inner;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v ? v : "unset";
}

static void print_blas(void) {
#if defined(BPFREE_DNNL)
    const dnnl_version_t *v = dnnl_version();
    printf("BLAS: oneDNN %d.%d.%d (%s), dnnl_sgemm, effective ISA code 0x%x (ONEDNN_MAX_CPU_ISA=%s)\n",
           v->major, v->minor, v->patch, v->hash, (unsigned)dnnl_get_effective_cpu_isa(),
           env("ONEDNN_MAX_CPU_ISA"));
#elif defined(BPFREE_BLIS)
    bli_init(); /* before bli_arch_query_id, which aborts on an unregistered arch otherwise */
    printf("BLAS: BLIS %s, sub-configuration `%s` (BLIS_ARCH_TYPE=%s)\n",
           bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()),
           env("BLIS_ARCH_TYPE"));
#else
    printf("BLAS: %s, core `%s` (OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s)\n",
           openblas_get_config(), openblas_get_corename(), env("OPENBLAS_CORETYPE"),
           env("OPENBLAS_L2_SIZE"));
#endif
}

int main(int argc, char **argv) {
    int reps = 9, threads[MAXT], batches[8];
    double min_ms = 20.0, peak = 265.0;
    const char *ts = "1,2", *bs = "64,256";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(argv[i], "--threads")) ts = argv[++i];
        else if (v && !strcmp(argv[i], "--batches")) bs = argv[++i];
        else if (v && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else if (v && !strcmp(argv[i], "--min-ms")) min_ms = atof(argv[++i]);
        else if (v && !strcmp(argv[i], "--peak")) peak = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-gemm [--threads 1,2] [--batches 64,256] [--reps 9] "
                            "[--min-ms 20] [--peak 265]\n");
            return 1;
        }
    }
    const int nt = bench_split_ints(ts, threads, MAXT), nb = bench_split_ints(bs, batches, 8);
    if (reps < 1) reps = 1;
    if (reps > MAXR) reps = MAXR;
    for (int t = 0; t < nt; t++)
        if (threads[t] < 1) {
            fprintf(stderr, "bench-gemm: threads must be >= 1\n");
            return 1;
        }
    for (int b = 0; b < nb; b++)
        if (batches[b] < 1) {
            fprintf(stderr, "bench-gemm: batches must be >= 1\n");
            return 1;
        }
    bpfree_set_threads(1);
    print_blas();
    printf("%d rounds per shape (median), each >= %.0f ms; %% peak = GFLOP/s / (%.0f x "
           "threads)\n\n",
           reps, min_ms, peak);

    unsigned seed = 12345;
    for (int bi = 0; bi < nb; bi++) {
        const int B = batches[bi];
        shape s[MAXS];
        const int ns = step_shapes(s, B);
        for (int i = 0; i < ns; i++) alloc_shape(&s[i], &seed);
        /* calibrate on one thread: calls per round for >= min_ms */
        bpfree_set_threads(1);
        for (int i = 0; i < ns; i++) {
            call(&s[i]);
            s[i].inner = 1;
            const double t = round_time(&s[i]);
            s[i].inner = (long)ceil(min_ms * 1e-3 / (t > 1e-9 ? t : 1e-9));
            if (s[i].inner < 1) s[i].inner = 1;
        }
        /* rounds: every shape in turn, so that noise hits them alike */
        for (int ti = 0; ti < nt; ti++) {
            bpfree_set_threads(threads[ti]);
            for (int i = 0; i < ns; i++) call(&s[i]); /* wake the threads */
            for (int r = 0; r < reps; r++)
                for (int i = 0; i < ns; i++) s[i].t[ti][r] = round_time(&s[i]);
        }
        bpfree_set_threads(1);

        printf("### batch %d\n\n| product | op | M×N×K | transposes | calls/step bp, mf, dfa |", B);
        for (int ti = 0; ti < nt; ti++) printf(" GFLOP/s %d thr | %% peak |", threads[ti]);
        printf("\n|---|---|---|---|---|");
        for (int ti = 0; ti < nt; ti++) printf("---:|---:|");
        printf("\n");
        for (int i = 0; i < ns; i++) {
            printf("| %s | %s | %d×%d×%d | %s%s | %d, %d, %d |", s[i].what, s[i].expr, s[i].M,
                   s[i].N, s[i].K, s[i].ta ? "T" : "N", s[i].tb ? "T" : "N", s[i].calls[R_BP],
                   s[i].calls[R_MF], s[i].calls[R_DFA]);
            for (int ti = 0; ti < nt; ti++) {
                const double g = flops(&s[i]) / median(s[i].t[ti], reps) * 1e-9;
                printf(" %.1f | %.0f%% |", g, 100.0 * g / (peak * threads[ti]));
            }
            printf("\n");
        }

        /* "most a 10-wide kernel could save": the 10-wide products' time
         * minus what they would take at the other products' rate */
        printf("\nPer training step (the calls above, summed; medians):\n\n"
               "| rule | threads | GEMM MFLOP/step | GEMM ms/step | GFLOP/s | 10-wide: share of "
               "FLOPs | 10-wide: share of GEMM time | most a 10-wide kernel at the big products' "
               "rate could save |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int rl = 0; rl < NRULES; rl++)
            for (int ti = 0; ti < nt; ti++) {
                double f = 0, fn = 0, t = 0, tn = 0;
                for (int i = 0; i < ns; i++) {
                    const int c = s[i].calls[rl];
                    const double dt = median(s[i].t[ti], reps) * c;
                    f += flops(&s[i]) * c;
                    t += dt;
                    if (s[i].narrow) {
                        fn += flops(&s[i]) * c;
                        tn += dt;
                    }
                }
                const double big_rate = (f - fn) / (t - tn);
                const double save = fmax(0.0, tn - fn / big_rate); /* 0: as fast already */
                printf("| %s | %d | %.1f | %.3f | %.1f | %.2f%% | %.1f%% | %.1f%% |\n",
                       rule_name[rl], threads[ti], f * 1e-6, t * 1e3, f / t * 1e-9,
                       100.0 * fn / f, 100.0 * tn / t, 100.0 * save / t);
            }
        printf("\n");
        for (int i = 0; i < ns; i++) free_shape(&s[i]);
    }
    return 0;
}
