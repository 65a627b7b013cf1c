/* bench/infer.c — inference speed of a bp model, against GEMM alone.
 *
 * Builds bp's default model, 784-1000-1000-10 ReLU (random initial weights:
 * the time of a forward pass does not depend on their values), and times
 *   - bpfree_predict on the 10,000 MNIST test images in one call (median of
 *     --reps calls), for a model built with the default training batch (64)
 *     and for one built with batch 10,000 (--model-batches): bpfree_predict
 *     works in chunks of the model's batch, whose buffers are sized at build;
 *   - bpfree_predict on one image (median of --reps1 calls, microseconds);
 *   - the same three matrix products alone with bpfree_gemm, on the same
 *     shapes and with the same arguments as the dense layer's forward
 *     (x W^T, beta = 1 onto the broadcast bias): (n x 784)(784 x 1000),
 *     (n x 1000)(1000 x 1000), (n x 1000)(1000 x 10); for n = 1 also with
 *     cblas_sgemv, the matrix-vector product a single row could use.
 * gemm_ratio = seconds of the products alone, in the same chunks of the
 * model's batch / seconds of bpfree_predict: what the bias, the activation
 * and the call cost (1 = nothing).  whole_ratio = the same products in one
 * piece of 10,000 rows / bpfree_predict: the fraction of GEMM speed reached,
 * chunking included.  Targets of issue 6: one image in <= 100 us; 10,000
 * images at >= 90% of GEMM speed (whole_ratio >= 0.9).
 *
 *   build/bench-infer [--threads 1] [--reps 7] [--reps1 2000] [--data mnist]
 *                     [--model-batches 64,10000]
 *
 * Without the MNIST files (scripts/fetch-data.sh) it uses 10,000 random
 * images and says so.
 */
#include "bpfree.h"
#include "benchutil.h"

#if defined(BPFREE_DNNL)
/* no CBLAS: the one-row product below is dnnl_sgemm through bpfree_gemm */
#elif defined(BPFREE_BLIS)
#include <blis.h> /* declares the CBLAS API too (make BLAS=blis) */
#else
#include <cblas.h>
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D_IN 784
#define HID 1000
#define C_OUT 10

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float *randoms(size_t n, uint64_t *s, float scale) {
    float *v = malloc(n * sizeof *v);
    if (v)
        for (size_t i = 0; i < n; i++)
            v[i] = scale * ((float)(splitmix(s) >> 40) * (2.0f / 16777216.0f) - 1.0f);
    return v;
}

/* The forward's products alone, on rows [0, n) in chunks of `chunk` rows,
 * as bp_layer_forward calls them: h (rows, O) += x (rows, I) W^T. */
typedef struct gemm_set {
    float *W[3], *h[2], *out;
} gemm_set;
static const int g_in[3] = {D_IN, HID, HID}, g_out[3] = {HID, HID, C_OUT};

static void gemms(const gemm_set *g, const float *x, int n, int chunk) {
    for (int b0 = 0; b0 < n; b0 += chunk) {
        const int rows = n - b0 < chunk ? n - b0 : chunk;
        const float *in = x + (size_t)b0 * D_IN;
        for (int l = 0; l < 3; l++) {
            float *o = l == 2 ? g->out : g->h[l];
            bpfree_gemm(0, 1, rows, g_out[l], g_in[l], 1.0f, in, g_in[l], g->W[l], g_in[l], 1.0f,
                        o, g_out[l]);
            in = o;
        }
    }
}

static void gemvs(const gemm_set *g, const float *x) {
    const float *in = x;
    for (int l = 0; l < 3; l++) {
        float *o = l == 2 ? g->out : g->h[l];
        /* o (O) += W (O, I) x (I) */
#ifdef BPFREE_DNNL
        bpfree_gemm(0, 1, 1, g_out[l], g_in[l], 1.0f, in, g_in[l], g->W[l], g_in[l], 1.0f, o,
                    g_out[l]);
#else
        cblas_sgemv(CblasRowMajor, CblasNoTrans, g_out[l], g_in[l], 1.0f, g->W[l], g_in[l], in, 1,
                    1.0f, o, 1);
#endif
        in = o;
    }
}

static int build(int batch, int threads, bpfree_model **m) {
    bpfree_config cfg;
    bpfree_error err = {0};
    if (bpfree_config_default(&cfg, "bp", D_IN, C_OUT, &err)) goto fail;
    cfg.batch = batch > 0 ? batch : cfg.batch;
    cfg.threads = threads;
    if (bpfree_model_new(&cfg, m, &err)) goto fail;
    return 0;
fail:
    fprintf(stderr, "bench-infer: %s\n", err.msg);
    return 1;
}

int main(int argc, char **argv) {
    int threads = 1, reps = 7, reps1 = 2000, nm = 0, mb[8];
    const char *data = "mnist", *mbs = "64,10000";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-infer: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps1")) reps1 = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--model-batches")) mbs = argv[i + 1];
        else {
            fprintf(stderr, "bench-infer: unknown option %s (--threads N --reps N --reps1 N "
                            "--data NAME|DIR --model-batches B1,B2,...)\n", argv[i]);
            return 2;
        }
    }
    for (const char *p = mbs; *p && nm < 8; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
        mb[nm++] = atoi(p);
    int bad_mb = nm == 0;
    for (int k = 0; k < nm; k++) bad_mb |= mb[k] < 1;
    if (reps < 1 || reps > 1000 || reps1 < 1 || threads < 0 || bad_mb) {
        fprintf(stderr, "bench-infer: bad --reps/--reps1/--threads/--model-batches\n");
        return 2;
    }

    /* the test images */
    bpfree_error err = {0};
    bpfree_dataset train = {0}, test = {0};
    char dir[4096];
    const float *x;
    float *xrand = NULL;
    int n = 10000;
    uint64_t seed = 7;
    if (!bpfree_data_resolve(data, NULL, dir, sizeof dir, &err) &&
        !bpfree_data_load_dir(dir, &train, &test, &err) && test.dim == D_IN) {
        bpfree_data_free(&train); /* only the test set is needed */
        x = test.x;
        n = test.n;
        fprintf(stderr, "bench-infer: %d test images of %s\n", n, dir);
    } else {
        fprintf(stderr, "bench-infer: no %s data (%s): 10,000 random images instead\n", data,
                err.msg);
        bpfree_data_free(&train);
        bpfree_data_free(&test);
        if (!(xrand = randoms((size_t)n * D_IN, &seed, 1.0f))) return 1;
        x = xrand;
    }
    const double flops = 2.0 * n * ((double)D_IN * HID + (double)HID * HID + (double)HID * C_OUT);

    /* scratch for the products alone, and scores */
    gemm_set g = {0};
    float *scores = malloc((size_t)n * C_OUT * sizeof(float));
    float *scores2 = malloc((size_t)n * C_OUT * sizeof(float));
    int ok = scores && scores2;
    for (int l = 0; l < 3 && ok; l++)
        ok = (g.W[l] = randoms((size_t)g_out[l] * g_in[l], &seed, 0.03f)) != NULL;
    for (int l = 0; l < 2 && ok; l++) ok = (g.h[l] = calloc((size_t)n * HID, sizeof(float))) != NULL;
    if (ok) ok = (g.out = calloc((size_t)n * C_OUT, sizeof(float))) != NULL;
    if (!ok) {
        fprintf(stderr, "bench-infer: out of memory\n");
        return 1;
    }

    /* a model per batch size (same seed, hence the same weights), and one
     * with the default training batch for the single image */
    bpfree_model *ms[8] = {0}, *m1 = NULL;
    if (build(0, threads, &m1)) return 1;
    for (int k = 0; k < nm; k++)
        if (build(mb[k], threads, &ms[k])) return 1;
    const int default_batch = bpfree_model_config(m1)->batch;
    threads = bpfree_set_threads(threads); /* the number in force, for the record */

    /* 1. n images in one call; GEMM alone in the same chunks, and in one piece */
    double *t = malloc(sizeof(double) * (size_t)(reps > reps1 ? reps : reps1));
    if (!t) return 1;
    double sec_pred[8], sec_gemm[8], sec_whole = 0.0, maxdiff = 0.0;
    for (int k = 0; k <= nm; k++) {
        const int chunk = k < nm ? mb[k] : n;
        if (k < nm) {
            float *out = k ? scores2 : scores;
            if (bpfree_predict(ms[k], x, n, out, &err)) { /* warm-up */
                fprintf(stderr, "bench-infer: %s\n", err.msg);
                return 1;
            }
            for (int r = 0; r < reps; r++) {
                double t0 = bench_now();
                bpfree_predict(ms[k], x, n, out, &err);
                t[r] = bench_now() - t0;
            }
            sec_pred[k] = median(t, reps);
            for (size_t i = 0; k > 0 && i < (size_t)n * C_OUT; i++) {
                double d = fabs((double)scores[i] - (double)scores2[i]);
                if (d > maxdiff || d != d) maxdiff = d;
            }
        }
        gemms(&g, x, n, chunk);
        for (int r = 0; r < reps; r++) {
            double t0 = bench_now();
            gemms(&g, x, n, chunk);
            t[r] = bench_now() - t0;
        }
        if (k < nm) sec_gemm[k] = median(t, reps);
        else sec_whole = median(t, reps);
    }

    /* 2. one image; each call takes the next test image */
    float one[C_OUT];
    for (int r = 0; r < 50; r++) bpfree_predict(m1, x + (size_t)(r % n) * D_IN, 1, one, &err);
    for (int r = 0; r < reps1; r++) {
        double t0 = bench_now();
        bpfree_predict(m1, x + (size_t)(r % n) * D_IN, 1, one, &err);
        t[r] = bench_now() - t0;
    }
    const double us_pred1 = 1e6 * median(t, reps1);
    for (int r = 0; r < reps1 + 50; r++) {
        double t0 = bench_now();
        gemms(&g, x + (size_t)(r % n) * D_IN, 1, 1);
        if (r >= 50) t[r - 50] = bench_now() - t0;
    }
    const double us_gemm1 = 1e6 * median(t, reps1);
    for (int r = 0; r < reps1 + 50; r++) {
        double t0 = bench_now();
        gemvs(&g, x + (size_t)(r % n) * D_IN);
        if (r >= 50) t[r - 50] = bench_now() - t0;
    }
    const double us_gemv1 = 1e6 * median(t, reps1);

    printf("bench-infer: bp 784-1000-1000-10 ReLU, threads %d, median of %d (batch) / %d "
           "(one image) calls; GEMM alone in one piece of %d rows: %.4f s (%.1f GFLOP/s)\n",
           threads, reps, reps1, n, sec_whole, flops / sec_whole * 1e-9);
    /* gemm_ratio: against the products in the same chunks; whole_ratio:
     * against the products in one piece of n rows */
    for (int k = 0; k < nm; k++)
        printf("bpfree: infer batch=%d seconds=%.4f gflops=%.1f model_batch=%d "
               "gemm_alone_seconds=%.4f gemm_ratio=%.3f whole_ratio=%.3f\n",
               n, sec_pred[k], flops / sec_pred[k] * 1e-9, mb[k], sec_gemm[k],
               sec_gemm[k] / sec_pred[k], sec_whole / sec_pred[k]);
    printf("bpfree: infer batch=1 microseconds=%.1f model_batch=%d gemm_alone_microseconds=%.1f "
           "gemv_alone_microseconds=%.1f\n",
           us_pred1, default_batch, us_gemm1, us_gemv1);
    if (nm > 1)
        printf("check: the models' scores differ by at most %.3g (same weights, other chunks)\n",
               maxdiff);
    printf("targets (issue 6): one image <= 100 us: %s (%.1f us)", us_pred1 <= 100.0 ? "met" : "NOT met",
           us_pred1);
    for (int k = 0; k < nm; k++)
        printf("; %d images at >= 90%% of GEMM speed with a batch-%d model: %s (%.0f%%)", n, mb[k],
               sec_whole / sec_pred[k] >= 0.9 ? "met" : "NOT met", 100 * sec_whole / sec_pred[k]);
    printf("\n");

    bpfree_model_free(m1);
    for (int k = 0; k < nm; k++) bpfree_model_free(ms[k]);
    bpfree_data_free(&test);
    free(xrand);
    free(scores);
    free(scores2);
    free(t);
    for (int l = 0; l < 3; l++) free(g.W[l]);
    free(g.h[0]);
    free(g.h[1]);
    free(g.out);
    return 0;
}
