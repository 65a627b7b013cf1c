/* testutil.h — helpers shared by the cmocka tests. */
#ifndef BPFREE_TESTUTIL_H
#define BPFREE_TESTUTIL_H
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpfree.h"
#include "internal.h"

/* Compare a (computed) with ref elementwise: |a - r| <= atol + rtol |r|.
 * Prints the largest difference and the first mismatching index. */
static inline int tu_close(const char *what, const float *a, const float *ref, size_t n,
                           double atol, double rtol) {
    size_t first = (size_t)-1, worst = 0;
    double maxd = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (!(d <= atol + rtol * fabs((double)ref[i])) && first == (size_t)-1) first = i;
        if (d > maxd || d != d) { maxd = d; worst = i; }
    }
    if (first != (size_t)-1) {
        printf("  %s: mismatch at [%zu]: %g vs ref %g; largest diff %g at [%zu]\n", what,
               first, (double)a[first], (double)ref[first], maxd, worst);
        return 0;
    }
    return 1;
}

/* Largest |v| — used to guard gradient checks against a vacuous pass. */
static inline double tu_maxabs(const float *v, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) if (fabs((double)v[i]) > m) m = fabs((double)v[i]);
    return m;
}

static inline void tu_fill_uniform(bp_rng *r, float *v, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * bp_rng_uniform(r);
}
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove a directory tree made by a test (mkdtemp). */
static inline void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Reference activation in double. */
static inline double ref_f(bpfree_act a, double z) {
    switch (a) {
    case BPFREE_ACT_RELU: return z > 0 ? z : 0;
    case BPFREE_ACT_TANH: return tanh(z);
    case BPFREE_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    default: return z;
    }
}
/* A malloc'd copy of n floats. */
static inline float *copy_floats(const float *v, size_t n) {
    float *c = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(c);
    memcpy(c, v, n * sizeof(float));
    return c;
}

/* g = (p_old - p_new) / lr for tensor t: the gradient an SGD step (no
 * momentum, no decay) applied. */
static inline void recovered_grad(const bpfree_model *m, const float *p_old, int t, float *g) {
    const bp_tensor *x = &m->tensors[t];
    const float *p_new = m->params + x->off;
    for (size_t i = 0; i < x->n; i++)
        g[i] = (float)(((double)p_old[x->off + i] - (double)p_new[i]) / m->cfg.optim.lr);
}

/* f'(z) from z and h = f(z), in double. */
static inline double ref_df(bpfree_act a, double z, double h) {
    switch (a) {
    case BPFREE_ACT_RELU: return z > 0 ? 1.0 : 0.0;
    case BPFREE_ACT_TANH: return 1.0 - h * h;
    case BPFREE_ACT_SIGMOID: return h * (1.0 - h);
    default: return 1.0;
    }
}

/* Dense layer in double: z (B,O) = x (B,I) W^T + b, h = f(z). */
static inline void ref_dense(const double *x, const float *W, const float *b, int B, int I, int O,
                             bpfree_act act, double *z, double *h) {
    for (int r = 0; r < B; r++)
        for (int o = 0; o < O; o++) {
            double s = b[o];
            for (int k = 0; k < I; k++) s += x[(size_t)r * I + k] * W[(size_t)o * I + k];
            z[(size_t)r * O + o] = s;
            h[(size_t)r * O + o] = ref_f(act, s);
        }
}

/* Index of the tensor named `name` (fails the test if there is none). */
static inline int find_tensor(const bpfree_model *m, const char *name) {
    for (int t = 0; t < m->n_tensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0) return t;
    printf("  no tensor named '%s'\n", name);
    fail();
    return -1;
}

/* Given dz (B,O) and the layer input x (B,I): gW (O,I) = dz^T x, gb = sum dz. */
static inline void ref_param_grads(const double *dz, const double *x, int B, int I, int O, float *gW,
                            float *gb) {
    for (int o = 0; o < O; o++) {
        double sb = 0.0;
        for (int r = 0; r < B; r++) sb += dz[(size_t)r * O + o];
        gb[o] = (float)sb;
        for (int k = 0; k < I; k++) {
            double s = 0.0;
            for (int r = 0; r < B; r++) s += dz[(size_t)r * O + o] * x[(size_t)r * I + k];
            gW[(size_t)o * I + k] = (float)s;
        }
    }
}

/* 1 if some element of a is outside 10x the tolerance atol + rtol |ref|:
 * shows that a check with that tolerance tells a from ref. */
static inline int clearly_differs(const float *a, const float *ref, size_t n, double atol, double rtol) {
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - ref[i]) > 10.0 * (atol + rtol * fabs((double)ref[i]))) return 1;
    return 0;
}

/* A small config for rule: nh hidden layers of the given widths, plain SGD
 * (no momentum, decay or schedule) at lr, one BLAS thread, `epochs` epochs. */
static inline bpfree_config tu_sgd_config(const char *rule, int D, int C, int nh,
                                          const int *hidden, bpfree_act act, bpfree_loss loss,
                                          int B, float lr, uint64_t seed, int epochs) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, rule, D, C, &err), BPFREE_OK);
    cfg.n_hidden = nh;
    for (int i = 0; i < nh; i++) cfg.hidden[i] = hidden[i];
    cfg.act = act;
    cfg.loss = loss;
    cfg.batch = B;
    cfg.seed = seed;
    cfg.threads = 1;
    cfg.epochs = epochs;
    cfg.optim.kind = BPFREE_OPTIM_SGD;
    cfg.optim.lr = lr;
    cfg.optim.momentum = 0.0f;
    cfg.optim.nesterov = 0;
    cfg.optim.weight_decay = 0.0f;
    cfg.optim.sched = BPFREE_SCHED_NONE;
    return cfg;
}
/* Make a fresh directory $TMPDIR/bpfree-TAG.XXXXXX (or under /tmp) into buf;
 * 0 on success. */
static inline int tu_mkdtemp(char *buf, size_t cap, const char *tag) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/bpfree-%s.XXXXXX", t && *t ? t : "/tmp", tag);
    return mkdtemp(buf) ? 0 : -1;
}
/* A synthetic classification set: n samples of D features, C classes drawn
 * uniformly, features 0.8 on the class's own columns (k % C == c) plus
 * N(0, 0.5²) noise, so that training has something to learn. */
static inline void tu_make_dataset(bpfree_dataset *ds, int n, int D, int C, uint64_t seed) {
    bpfree_error err = {0};
    assert_int_equal(bpfree_data_alloc(ds, n, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = (int)bp_rng_below(&r, (uint32_t)C);
        ds->labels[i] = c;
        for (int k = 0; k < D; k++)
            ds->x[(size_t)i * D + k] = (k % C == c ? 0.8f : 0.0f) + 0.5f * bp_rng_normal(&r);
    }
    snprintf(ds->name, sizeof ds->name, "synthetic");
}
/* A random batch in m->xb/yb/lb/ib: inputs uniform in [lo, hi], labels
 * uniform over the classes, one-hot targets, indices 0..B-1. */
static inline void tu_fill_batch(bpfree_model *m, int B, uint64_t seed, float lo, float hi) {
    const int D = m->cfg.inputs, C = m->cfg.outputs;
    bp_rng r;
    bp_rng_seed(&r, seed);
    tu_fill_uniform(&r, m->xb, (size_t)B * D, lo, hi);
    memset(m->yb, 0, (size_t)B * C * sizeof(float));
    for (int b = 0; b < B; b++) {
        m->lb[b] = (int)bp_rng_below(&r, (uint32_t)C);
        m->ib[b] = b;
        m->yb[(size_t)b * C + m->lb[b]] = 1.0f;
    }
}
#endif
