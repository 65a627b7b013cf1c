/* bench/epoch.c — seconds per training epoch on MNIST, side by side.
 *
 * For each configuration (rule x batch x threads) it builds a fresh model
 * (same seed) and times one full epoch of 60,000 samples; the configurations
 * are run in turn, `reps` rounds, so that machine noise hits all of them
 * alike, and the median of each is printed with samples/s and the ratio to
 * bp at the same batch and thread count.
 *
 *   build/bench-epoch [--reps 3] [--rules bp,mf] [--batches 64,256]
 *                     [--threads 1,2] [--layers 1000,1000] [--data mnist]
 */
#include "bpfree.h"
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXC 64

static int split_strs(char *s, char **out, int cap) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

int main(int argc, char **argv) {
    int reps = 3, batches[8], threads[8], nb, nt, nr;
    char rules_s[256] = "bp,mf", *rules[16];
    const char *data = "mnist", *layers = "1000,1000";
    const char *bs = "64,256", *ts = "1,2";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rules")) snprintf(rules_s, sizeof rules_s, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--batches")) bs = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) ts = argv[i + 1];
        else if (!strcmp(argv[i], "--layers")) layers = argv[i + 1];
        else if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else {
            fprintf(stderr, "bench-epoch: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    nb = bench_split_ints(bs, batches, 8);
    nt = bench_split_ints(ts, threads, 8);
    nr = split_strs(rules_s, rules, 16);
    int widths[BPFREE_MAX_LAYERS], nw = bench_split_ints(layers, widths, BPFREE_MAX_LAYERS);

    bpfree_error err;
    bpfree_dataset train = {0}, test = {0};
    char dir[4096];
    if (bpfree_data_resolve(data, NULL, dir, sizeof dir, &err) ||
        bpfree_data_load_dir(dir, &train, &test, &err)) {
        fprintf(stderr, "bench-epoch: %s\n", err.msg);
        return 1;
    }
    int nc = 0;
    struct { const char *rule; int batch, threads; double t[32]; } cf[MAXC];
    for (int r = 0; r < nr; r++)
        for (int b = 0; b < nb; b++)
            for (int t = 0; t < nt && nc < MAXC; t++) {
                cf[nc].rule = rules[r];
                cf[nc].batch = batches[b];
                cf[nc].threads = threads[t];
                nc++;
            }
    if (reps > 32) reps = 32;
    fprintf(stderr, "bench-epoch: %d configurations x %d rounds, one epoch of %d samples each\n",
            nc, reps, train.n);
    for (int k = 0; k < reps; k++)
        for (int c = 0; c < nc; c++) {
            bpfree_config cfg;
            bpfree_model *m;
            bpfree_epoch_stats st;
            if (bpfree_config_default(&cfg, cf[c].rule, train.dim, train.classes, &err)) {
                fprintf(stderr, "bench-epoch: %s\n", err.msg);
                return 1;
            }
            cfg.n_hidden = nw;
            memcpy(cfg.hidden, widths, sizeof(int) * nw);
            cfg.batch = cf[c].batch;
            cfg.threads = cf[c].threads;
            cfg.epochs = 1;
            if (bpfree_model_new(&cfg, &m, &err) || bpfree_train_epoch(m, &train, &st, &err)) {
                fprintf(stderr, "bench-epoch: %s\n", err.msg);
                return 1;
            }
            cf[c].t[k] = st.seconds;
            fprintf(stderr, "  round %d  %-4s batch %4d threads %d: %.2f s\n", k + 1, cf[c].rule,
                    cf[c].batch, cf[c].threads, st.seconds);
            bpfree_model_free(m);
        }
    printf("| rule | batch | threads | median s/epoch | samples/s | time / bp |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    double med[MAXC];
    for (int c = 0; c < nc; c++) {
        qsort(cf[c].t, (size_t)reps, sizeof(double), bench_cmp_double);
        med[c] = cf[c].t[reps / 2];
    }
    for (int c = 0; c < nc; c++) {
        double base = 0;
        for (int d = 0; d < nc; d++)
            if (!strcmp(cf[d].rule, "bp") && cf[d].batch == cf[c].batch &&
                cf[d].threads == cf[c].threads)
                base = med[d];
        printf("| %s | %d | %d | %.2f | %.0f | ", cf[c].rule, cf[c].batch, cf[c].threads, med[c],
               train.n / med[c]);
        if (base > 0) printf("%.2f |\n", med[c] / base);
        else printf("– |\n");
    }
    bpfree_data_free(&train);
    bpfree_data_free(&test);
    return 0;
}
