/* bench/memory.c — peak bytes a model allocates, by rule and depth.
 *
 * Builds each model (all buffers are allocated at build; none per batch),
 * runs one training step on a random batch so anything lazily sized is
 * counted too, and prints the library allocator's peak next to the bytes
 * that parameters, gradients and optimizer state account for.  The rest is
 * activations and workspaces: it grows with depth for bp and dfa, which keep
 * every layer's output, and stays flat for mf, which keeps one layer's.
 *
 *   build/bench-memory [--width 1000] [--batch 10000] [--depths 2,4,8,15]
 *                      [--rules bp,dfa,mf]
 */
#include "bpfree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int width = 1000, batch = 10000, depths[16], nd = 0;
    char depth_s[128] = "2,4,8,15", rules_s[128] = "bp,dfa,mf";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--depths")) snprintf(depth_s, sizeof depth_s, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--rules")) snprintf(rules_s, sizeof rules_s, "%s", argv[i + 1]);
        else {
            fprintf(stderr, "bench-memory: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    char *save = NULL;
    for (char *t = strtok_r(depth_s, ",", &save); t && nd < 16; t = strtok_r(NULL, ",", &save))
        depths[nd++] = atoi(t);
    printf("| rule | hidden layers | peak MiB | params+grads+optimizer MiB | activations+workspace MiB |\n");
    printf("|---|---:|---:|---:|---:|\n");
    char *rsave = NULL;
    for (char *rule = strtok_r(rules_s, ",", &rsave); rule; rule = strtok_r(NULL, ",", &rsave)) {
        double first = 0, last = 0;
        for (int d = 0; d < nd; d++) {
            bpfree_config cfg;
            bpfree_model *m;
            bpfree_error err;
            bpfree_dataset ds = {0};
            if (bpfree_config_default(&cfg, rule, 784, 10, &err)) goto fail;
            cfg.n_hidden = depths[d];
            for (int i = 0; i < depths[d]; i++) cfg.hidden[i] = width;
            cfg.batch = batch;
            cfg.threads = 1;
            if (bpfree_data_alloc(&ds, batch, 784, 10, 0, &err) ||
                bpfree_model_new(&cfg, &m, &err))
                goto fail;
            for (int i = 0; i < batch; i++) {
                ds.labels[i] = i % 10;
                ds.x[(size_t)i * 784 + (size_t)(i % 784)] = 1.0f;
            }
            /* one epoch = one batch */
            if (bpfree_train_epoch(m, &ds, NULL, &err)) goto fail;
            double peak = bpfree_model_peak_bytes(m) / 1048576.0;
            int adam = cfg.optim.kind == BPFREE_OPTIM_ADAM;
            double pmem = (double)bpfree_model_param_count(m) * sizeof(float) * (adam ? 4 : 3) / 1048576.0;
            printf("| %s | %d | %.1f | %.1f | %.1f |\n", rule, depths[d], peak, pmem, peak - pmem);
            if (d == 0) first = peak - pmem;
            last = peak - pmem;
            bpfree_model_free(m);
            bpfree_data_free(&ds);
            continue;
        fail:
            fprintf(stderr, "bench-memory: %s\n", err.msg);
            return 1;
        }
        if (nd > 1)
            fprintf(stderr, "%s: activation memory slope %.1f MiB per hidden layer\n", rule,
                    (last - first) / (depths[nd - 1] - depths[0]));
    }
    return 0;
}
