/* bench/memory.c — memory a model needs to train, by rule and depth
 * (003 Figs. 1–3: peak memory against the number of hidden layers).
 *
 * Two numbers per configuration:
 *   - the library allocator's peak (bpfree_model_peak_bytes): every buffer
 *     a model owns, split into parameters + gradients + optimizer state and
 *     the rest (activations, workspaces, batch buffers, fixed rule state
 *     such as feedback matrices, F³'s per-sample error store);
 *   - the process's peak resident set (getrusage ru_maxrss), which also
 *     holds the code, libc and OpenBLAS buffers, and the training data.
 * ru_maxrss is a high-water mark for the whole process, so an RSS number
 * needs a process of its own per configuration: that is `--one`, which
 * bench/memory.sh runs once per configuration.
 *
 *   build/bench-memory --one RULE DEPTH WIDTH BATCH [--steps 2] [--threads 1]
 *                      [--span 60000]
 *       One configuration: D-WIDTH x DEPTH-C (D = 784, C = 10, ReLU, the
 *       rule's own optimizer and loss), trained for --steps steps of one
 *       full batch of random data.  Prints one tab-separated line (columns
 *       as --tsv-header prints them) on stdout, a readable one on stderr.
 *   build/bench-memory --tsv-header
 *   build/bench-memory [--width 1000] [--batch 10000] [--depths 2,4,8,15]
 *                      [--rules bp,dfa,mf]
 *       All configurations in this one process: allocator numbers only
 *       (a Markdown table), no RSS.
 *
 * The data: exactly BATCH random samples (uniform pixels in [0, 1), random
 * labels), so that every step runs on a full batch and the data stay as
 * small as a full batch allows (BATCH x 784 floats: 29.9 MiB at 10,000).
 * Each epoch is then one step.  F³ keeps one row of C floats per training
 * sample, indexed by the sample's dataset index and sized by the largest
 * index it sees (src/rules/f3.c, f3_begin_epoch); the samples' indices are
 * spread over [0, --span) so the store is as large as for a training set of
 * --span samples (60,000: MNIST's) without holding 60,000 images in memory.
 * Other rules ignore the indices.
 *
 * Every model buffer is zeroed when allocated (bp_alloc), so it is resident
 * from the build on; the steps add the lazily sized buffers (the sample
 * order, F³'s store) and OpenBLAS's packing buffers, touched by the first
 * large product.
 */
#include "bpfree.h"
#include "benchutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define D_IN 784
#define N_CLASSES 10
#define MIB (1024.0 * 1024.0)

typedef struct result {
    size_t peak, build, pgo, data; /* bytes */
    long rss_start, rss_data, rss_peak; /* KiB */
    size_t params;
    double step_s; /* seconds per step (median not needed: a sanity figure) */
    char optim[8];
} result;

static long maxrss_kib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Bytes of parameters, their gradients and optimizer state: the model holds
 * one block of each (parameters, gradients, first moments, and Adam's second
 * moments), n_params floats each.  The FF rules also give their one-pass
 * head (C x sum of widths + C) its own Adam moments. */
static size_t pgo_bytes(const bpfree_model *m) {
    const bpfree_config *c = bpfree_model_config(m);
    const int adam = c->optim.kind == BPFREE_OPTIM_ADAM;
    size_t b = bpfree_model_param_count(m) * sizeof(float) * (adam ? 4 : 3);
    if (!strcmp(c->rule, "ff") || !strcmp(c->rule, "cff-fixed") ||
        !strcmp(c->rule, "cff-adaptive")) {
        size_t sumw = 0;
        for (int l = 0; l < c->n_hidden; l++) sumw += (size_t)c->hidden[l];
        b += 2 * ((size_t)c->outputs * sumw + (size_t)c->outputs) * sizeof(float);
    }
    return b;
}

/* Build RULE with DEPTH hidden layers of WIDTH at BATCH, train `steps`
 * steps on BATCH random samples whose indices span [0, span). */
static int measure(const char *rule, int depth, int width, int batch, int steps, int threads,
                   int span, result *r, bpfree_error *err) {
    memset(r, 0, sizeof *r);
    r->rss_start = maxrss_kib();
    bpfree_config cfg;
    bpfree_model *m = NULL;
    bpfree_dataset ds = {0};
    if (bpfree_config_default(&cfg, rule, D_IN, N_CLASSES, err)) return 1;
    cfg.n_hidden = depth;
    for (int i = 0; i < depth; i++) cfg.hidden[i] = width;
    cfg.act = BPFREE_ACT_RELU; /* 003's MLPs; f3's default is tanh (same memory) */
    cfg.batch = batch;
    cfg.threads = threads;
    cfg.epochs = steps;
    if (bpfree_data_alloc(&ds, batch, D_IN, N_CLASSES, 0, err)) return 1;
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)batch * D_IN; i++)
        ds.x[i] = (float)(splitmix(&s) >> 40) * (1.0f / 16777216.0f);
    const int stride = span > batch ? span / batch : 1;
    for (int i = 0; i < batch; i++) {
        ds.labels[i] = (int)(splitmix(&s) % N_CLASSES);
        ds.index[i] = i * stride;
    }
    r->data = (size_t)batch * (D_IN * sizeof(float) + 2 * sizeof(int));
    r->rss_data = maxrss_kib();
    if (bpfree_model_new(&cfg, &m, err)) {
        bpfree_data_free(&ds);
        return 1;
    }
    r->build = bpfree_model_bytes(m);
    double t0 = bench_now();
    for (int k = 0; k < steps; k++)
        if (bpfree_train_epoch(m, &ds, NULL, err)) { /* one epoch = one full batch */
            bpfree_model_free(m);
            bpfree_data_free(&ds);
            return 1;
        }
    r->step_s = steps > 0 ? (bench_now() - t0) / steps : 0.0;
    r->peak = bpfree_model_peak_bytes(m);
    r->pgo = pgo_bytes(m);
    r->params = bpfree_model_param_count(m);
    snprintf(r->optim, sizeof r->optim, "%s", bpfree_optim_name(cfg.optim.kind));
    r->rss_peak = maxrss_kib();
    bpfree_model_free(m);
    bpfree_data_free(&ds);
    return 0;
}

static const char *const tsv_header =
    "rule\tdepth\twidth\tbatch\tpeak_bytes\tpgo_bytes\trest_bytes\tbuild_bytes\tdata_bytes\t"
    "rss_start_kib\trss_data_kib\trss_peak_kib\tparams\toptim\tstep_s";

static int run_one(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench-memory --one RULE DEPTH WIDTH BATCH [--steps N] "
                        "[--threads N] [--span N]\n");
        return 2;
    }
    const char *rule = argv[2];
    int depth = atoi(argv[3]), width = atoi(argv[4]), batch = atoi(argv[5]);
    int steps = 2, threads = 1, span = 60000;
    for (int i = 6; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-memory: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--span")) span = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench-memory: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (depth < 1 || width < 1 || batch < 1 || steps < 1 || threads < 0) {
        fprintf(stderr, "bench-memory: depth, width, batch and steps must be >= 1\n");
        return 2;
    }
    result r;
    bpfree_error err = {0};
    if (measure(rule, depth, width, batch, steps, threads, span, &r, &err)) {
        fprintf(stderr, "bench-memory: %s %dx%d batch %d: %s\n", rule, depth, width, batch,
                err.msg);
        return 1;
    }
    printf("%s\t%d\t%d\t%d\t%zu\t%zu\t%zu\t%zu\t%zu\t%ld\t%ld\t%ld\t%zu\t%s\t%.3f\n", rule, depth,
           width, batch, r.peak, r.pgo, r.peak - r.pgo, r.build, r.data, r.rss_start, r.rss_data,
           r.rss_peak, r.params, r.optim, r.step_s);
    fprintf(stderr,
            "bench-memory: %-4s %2d x %d batch %d: peak %.1f MiB (params+grads+%s %.1f, rest "
            "%.1f); RSS peak %.1f MiB (at start %.1f, with data %.1f); %.2f s/step\n",
            rule, depth, width, batch, r.peak / MIB, r.optim, r.pgo / MIB, (r.peak - r.pgo) / MIB,
            r.rss_peak / 1024.0, r.rss_start / 1024.0, r.rss_data / 1024.0, r.step_s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--one")) return run_one(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--tsv-header")) {
        puts(tsv_header);
        return 0;
    }
    int width = 1000, batch = 10000, depths[16], nd = 0;
    char depth_s[128] = "2,4,8,15", rules_s[128] = "bp,dfa,mf";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench-memory: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--depths")) snprintf(depth_s, sizeof depth_s, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--rules")) snprintf(rules_s, sizeof rules_s, "%s", argv[i + 1]);
        else {
            fprintf(stderr, "bench-memory: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    char *save = NULL;
    for (char *t = strtok_r(depth_s, ",", &save); t && nd < 16; t = strtok_r(NULL, ",", &save))
        depths[nd++] = atoi(t);
    printf("| rule | hidden layers | peak MiB | params+grads+optimizer MiB | rest MiB |\n");
    printf("|---|---:|---:|---:|---:|\n");
    char *rsave = NULL;
    for (char *rule = strtok_r(rules_s, ",", &rsave); rule; rule = strtok_r(NULL, ",", &rsave)) {
        double first = 0, last = 0;
        for (int d = 0; d < nd; d++) {
            result r;
            bpfree_error err = {0};
            if (measure(rule, depths[d], width, batch, 1, 1, 60000, &r, &err)) {
                fprintf(stderr, "bench-memory: %s\n", err.msg);
                return 1;
            }
            printf("| %s | %d | %.1f | %.1f | %.1f |\n", rule, depths[d], r.peak / MIB,
                   r.pgo / MIB, (r.peak - r.pgo) / MIB);
            if (d == 0) first = (double)(r.peak - r.pgo) / MIB;
            last = (double)(r.peak - r.pgo) / MIB;
        }
        if (nd > 1)
            fprintf(stderr, "%s: non-parameter memory slope %.1f MiB per hidden layer\n", rule,
                    (last - first) / (depths[nd - 1] - depths[0]));
    }
    return 0;
}
