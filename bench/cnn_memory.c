/* bench/cnn_memory.c — memory a CNN needs to train, by rule and depth
 * (003 Fig. 3b: peak memory against the number of convolutional layers,
 * CIFAR-10, batch 256, blocks of 64, 128, 256, 512 and 512 channels).
 *
 *   build/bench-cnn-memory [--rules bp,mf,dfa,drtp,f3] [--batch 256] [--depth 5]
 *
 * Each block is "3x3 same convolution, ReLU, 2x2 average pooling" (003 §4) on
 * 3 x 32 x 32 inputs of random pixels; depth d uses the first d blocks of
 * 64-128-256-512-512.  One training step on one full batch, then the
 * library allocator's peak (bpfree_model_peak_bytes) split into parameters
 * + gradients + optimizer moments (4 floats per parameter with Adam) and
 * the rest: activations, the blocks' workspaces (pre-pool maps, im2col),
 * batch buffers and rule state.  A Markdown table on stdout.  The numbers
 * are counts of bytes asked for, the same on every run and machine load. */
#include "bpfree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int CHANNELS[] = {64, 128, 256, 512, 512};

static int run(const char *rule, int depth, int batch, double *params_mib, double *rest_mib) {
    char arch[128] = "";
    for (int l = 0; l < depth; l++)
        snprintf(arch + strlen(arch), sizeof arch - strlen(arch), "%s%dC3s-A2", l ? "-" : "",
                 CHANNELS[l]);
    bpfree_config c;
    bpfree_error e;
    bpfree_dataset ds = {0};
    if (bpfree_config_default(&c, rule, 3 * 32 * 32, 10, &e) ||
        bpfree_data_alloc(&ds, batch, 3 * 32 * 32, 10, 0, &e)) {
        fprintf(stderr, "%s: %s\n", rule, e.msg);
        return -1;
    }
    ds.channels = 3, ds.height = ds.width = 32;
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)batch * ds.dim; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ds.x[i] = (float)(s >> 40) / 16777216.0f;
    }
    for (int i = 0; i < batch; i++) ds.labels[i] = i % 10;
    c.in_channels = 3, c.in_height = c.in_width = 32;
    c.batch = batch;
    c.threads = 1;
    c.optim.kind = BPFREE_OPTIM_ADAM; /* 003: Adam for every rule */
    c.norm = BPFREE_NORM_SCALE;
    bpfree_model *m = NULL;
    if (bpfree_config_set(&c, "arch", arch, &e) || bpfree_model_new(&c, &m, &e) ||
        bpfree_train_epoch(m, &ds, NULL, &e)) {
        fprintf(stderr, "%s %s: %s\n", rule, arch, e.msg);
        bpfree_model_free(m);
        bpfree_data_free(&ds);
        return -1;
    }
    const double p = 4.0 * (double)bpfree_model_param_count(m) * sizeof(float);
    *params_mib = p / 1048576.0;
    *rest_mib = ((double)bpfree_model_peak_bytes(m) - p) / 1048576.0;
    bpfree_model_free(m);
    bpfree_data_free(&ds);
    return 0;
}

int main(int argc, char **argv) {
    const char *rules = "bp,mf,dfa,drtp,f3";
    int batch = 256, depth = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rules")) rules = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--depth")) depth = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench-cnn-memory [--rules R,R] [--batch N] [--depth D]\n");
            return 2;
        }
    }
    if (depth < 1 || depth > 5 || batch < 1) return 2;
    printf("| rule | blocks | parameters + gradients + Adam (MiB) | everything else (MiB) |\n");
    printf("|---|---:|---:|---:|\n");
    char list[256];
    snprintf(list, sizeof list, "%s", rules);
    for (char *r = strtok(list, ","); r; r = strtok(NULL, ","))
        for (int d = 1; d <= depth; d++) {
            double pm, rm;
            if (run(r, d, batch, &pm, &rm)) return 1;
            printf("| %s | %d | %.1f | %.1f |\n", r, d, pm, rm);
            fflush(stdout);
        }
    return 0;
}
