/* testutil.h — helpers shared by the cmocka tests: comparisons, reference
 * computations in double, configs and models, one training step, the
 * hand-derived updates of the rule tests, datasets, same-bits checks of the
 * threading tests, files and error messages.  A helper that two test files
 * need lives here, once; what only one file needs stays in that file.
 * Everything is static inline (or marked unused), so a test takes what it
 * uses and no more. */
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
#include <unistd.h>
#include <cmocka.h>

#include "bpfree.h"
#include "internal.h"

/* C classes for end-to-end tests: each class a random prototype plus
 * noise, the first C inputs blank (FF writes the label there).  Its own LCG,
 * independent of bp_rng, so the data never moves when bp_rng does (the golden
 * digests and the checkpoint tests depend on it). */
static inline void tu_prototype_data(bpfree_dataset *tr, bpfree_dataset *te, int D, int C,
                                     int ntrain, int ntest) {
    bpfree_error e;
    assert_int_equal(bpfree_data_alloc(tr, ntrain, D, C, 0, &e), 0);
    assert_int_equal(bpfree_data_alloc(te, ntest, D, C, 0, &e), 0);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    float *proto = malloc((size_t)C * D * sizeof(float));
    assert_non_null(proto);
#define LCG() ((s = s * 6364136223846793005ull + 1442695040888963407ull), (float)(s >> 40) / 16777216.0f)
    for (int c = 0; c < C; c++)
        for (int j = 0; j < D; j++) proto[(size_t)c * D + j] = j < C ? 0.0f : LCG();
    bpfree_dataset *sets[2] = {tr, te};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < sets[k]->n; i++) {
            int c = (int)(LCG() * C) % C;
            sets[k]->labels[i] = c;
            for (int j = C; j < D; j++)
                sets[k]->x[(size_t)i * D + j] = 0.6f * proto[(size_t)c * D + j] + 0.4f * LCG();
        }
#undef LCG
    free(proto);
}

/* 1 if the data set NAME is where bpfree looks for it: $BPFREE_DATA/NAME or
 * ./data/NAME (src/data/dir.c's order, less its last resort) */
/* n images of 1 x side x side in four classes, a bright quadrant each plus
 * noise (bp_rng from seed: the label, then the pixels, sample by sample) */
static inline void tu_quadrants(bpfree_dataset *ds, int n, int side, uint64_t seed) {
    bpfree_error e;
    assert_int_equal(bpfree_data_alloc(ds, n, side * side, 4, 0, &e), 0);
    ds->channels = 1, ds->height = side, ds->width = side;
    bp_rng r;
    bp_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        const int c = (int)bp_rng_below(&r, 4);
        ds->labels[i] = c;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                const int quad = (y >= side / 2) * 2 + (x >= side / 2);
                ds->x[(size_t)i * side * side + y * side + x] =
                    (quad == c ? 0.8f : 0.1f) + 0.3f * bp_rng_uniform(&r);
            }
    }
    snprintf(ds->name, sizeof ds->name, "quadrants");
}

static inline int tu_have_data(const char *name) {
    char p[1024];
    const char *env = getenv("BPFREE_DATA");
    if (env && *env) {
        snprintf(p, sizeof p, "%s/%s", env, name);
        if (access(p, F_OK) == 0) return 1;
    }
    snprintf(p, sizeof p, "data/%s", name);
    return access(p, F_OK) == 0;
}

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
    case BPFREE_ACT_ELU: return z > 0 ? z : expm1(z);
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
    case BPFREE_ACT_ELU: return z > 0 ? 1.0 : exp(z);
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

/* rule's default config (its own activation, loss, optimizer, schedule) on
 * D inputs and C classes with nh hidden layers of the given widths, batch B,
 * one BLAS thread. */
static inline bpfree_config tu_default_config(const char *rule, int D, int C, int nh,
                                              const int *hidden, int B) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, rule, D, C, &err), BPFREE_OK);
    cfg.n_hidden = nh;
    for (int i = 0; i < nh; i++) cfg.hidden[i] = hidden[i];
    cfg.batch = B;
    cfg.threads = 1;
    return cfg;
}

/* A small config for rule: nh hidden layers of the given widths, plain SGD
 * (no momentum, decay or schedule) at lr, one BLAS thread, `epochs` epochs,
 * and bpfree's mean signal scaling for the one-pass rules (the by-hand
 * references average the hidden signal over the batch). */
static inline bpfree_config tu_sgd_config(const char *rule, int D, int C, int nh,
                                          const int *hidden, bpfree_act act, bpfree_loss loss,
                                          int B, float lr, uint64_t seed, int epochs) {
    bpfree_config cfg = tu_default_config(rule, D, C, nh, hidden, B);
    cfg.act = act;
    cfg.loss = loss;
    cfg.seed = seed;
    cfg.epochs = epochs;
    cfg.optim.kind = BPFREE_OPTIM_SGD;
    cfg.optim.lr = lr;
    cfg.optim.momentum = 0.0f;
    cfg.optim.nesterov = 0;
    cfg.optim.weight_decay = 0.0f;
    cfg.optim.sched = BPFREE_SCHED_NONE;
    cfg.signal_scaling = BPFREE_SIGNAL_MEAN;
    return cfg;
}
/* Make a fresh directory $TMPDIR/bpfree-TAG.XXXXXX (or under /tmp) into buf;
 * 0 on success. */
static inline int tu_mkdtemp(char *buf, size_t cap, const char *tag) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/bpfree-%s.XXXXXX", t && *t ? t : "/tmp", tag);
    return mkdtemp(buf) ? 0 : -1;
}
/* m trained for `epochs` epochs on ds (fails the test on an error, naming
 * `what`); its training loss of the first and of the last epoch */
static inline void tu_train_losses(bpfree_model *m, const bpfree_dataset *ds, int epochs,
                                   const char *what, double *first, double *last) {
    for (int ep = 0; ep < epochs; ep++) {
        bpfree_epoch_stats st;
        bpfree_error e;
        if (bpfree_train_epoch(m, ds, &st, &e)) fail_msg("%s: %s", what, e.msg);
        if (ep == 0) *first = st.train_loss;
        *last = st.train_loss;
    }
}

/* m saved to a fresh temporary file and loaded back (the file and its
 * directory removed); fails the test if either step fails */
static inline bpfree_model *tu_reload(const bpfree_model *m, const char *tag) {
    char dir[256], path[300];
    bpfree_error e;
    bpfree_model *back = NULL;
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, tag), 0);
    snprintf(path, sizeof path, "%s/m.bpf", dir);
    if (bpfree_model_save(m, path, &e) || bpfree_model_load(path, &back, &e)) fail_msg("%s", e.msg);
    unlink(path);
    rmdir(dir);
    return back;
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
/* ---------------------------------------------------------------- layers */

/* The memory of one layer outside a model: parameters (W, b, and with
 * L->bn gamma, beta), their gradients, the running statistics and the
 * kind's workspace for `rows` samples, wired into L (bn_train 1,
 * statistics reset); W and b are left zero. */
typedef struct tu_layer_mem {
    float *p, *g, *rm, *rv, *ws;
    int *wsi;
} tu_layer_mem;

static inline void tu_layer_attach(bp_layer *L, int rows, tu_layer_mem *f) {
    const size_t np = bp_layer_n_params(L), nw = bp_layer_n_weights(L), U = (size_t)L->units;
    size_t nf, ni;
    L->kind->ws_size(L, rows, &nf, &ni);
    f->p = calloc(np, sizeof(float));
    f->g = calloc(np, sizeof(float));
    f->rm = calloc(U, sizeof(float));
    f->rv = calloc(U, sizeof(float));
    f->ws = calloc(nf ? nf : 1, sizeof(float));
    f->wsi = ni ? calloc(ni, sizeof(int)) : NULL;
    L->W = f->p, L->b = f->p + nw, L->gW = f->g, L->gb = f->g + nw;
    if (L->bn) {
        L->gamma = L->b + U, L->beta = L->gamma + U, L->ggamma = L->gb + U, L->gbeta = L->ggamma + U;
        L->rmean = f->rm, L->rvar = f->rv, L->bn_train = 1;
        bp_bn_init(L);
    }
    L->ws = f->ws, L->wsi = f->wsi, L->ws_rows = rows;
}

static inline void tu_layer_detach(tu_layer_mem *f) {
    free(f->p), free(f->g), free(f->rm), free(f->rv), free(f->ws), free(f->wsi);
}

/* ---------------------------------------------------------------- models */

/* bpfree_model_new on cfg, which must succeed.  keep_grads: the model keeps
 * the gradient each step used (for tests that read it); else the steps may
 * consume it, as in training. */
static inline bpfree_model *tu_new_model(const bpfree_config *cfg, int keep_grads) {
    bpfree_error err = {0};
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(cfg, &m, &err);
    if (st) printf("  bpfree_model_new(%s): %s\n", cfg->rule, err.msg);
    assert_int_equal(st, BPFREE_OK);
    assert_non_null(m);
    if (keep_grads) m->keep_grads = 1;
    return m;
}

/* The model of tu_sgd_config, keeping its gradients: the rule tests read
 * the gradient a step used. */
static inline bpfree_model *tu_sgd_model(const char *rule, int D, int C, int nh, const int *hidden,
                                         bpfree_act act, bpfree_loss loss, int B, float lr,
                                         uint64_t seed, int epochs) {
    bpfree_config cfg = tu_sgd_config(rule, D, C, nh, hidden, act, loss, B, lr, seed, epochs);
    return tu_new_model(&cfg, 1);
}

/* One training step of the rule on the batch in m->xb/yb/lb/ib (what the
 * engine does per batch, without its gather); returns the loss. */
static inline double tu_step_once(bpfree_model *m, int B) {
    double loss = 0.0;
    long correct = 0;
    bp_optim_begin_step(&m->optim, m->cfg.optim.lr);
    assert_int_equal(m->rule->train_batch(m, B, &loss, &correct), BPFREE_OK);
    assert_true(correct >= 0 && correct <= B);
    return loss;
}

static inline void *tu_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

/* Largest |a - b| (NaN if any difference is NaN), for failure messages. */
static inline double tu_maxdiff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d || d != d) d = fabs((double)a[i] - b[i]);
    return d;
}

/* ------------------------------------------- hand-derived rule updates */

/* Softmax CE in double on scores S (B,C): returns the mean loss and
 * dS = (softmax(S) - y) / B. */
static inline double ref_softmax_ce(const double *S, const float *y, int B, int C, double *dS) {
    double total = 0.0;
    for (int r = 0; r < B; r++) {
        const double *s = S + (size_t)r * C;
        double mx = s[0];
        for (int c = 1; c < C; c++) mx = s[c] > mx ? s[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += exp(s[c] - mx);
        double lse = mx + log(sum);
        for (int c = 0; c < C; c++) {
            double p = exp(s[c] - lse), yc = y[(size_t)r * C + c];
            total -= yc * (s[c] - lse);
            dS[(size_t)r * C + c] = (p - yc) / B;
        }
    }
    return total / B;
}

/* The output's prediction p of one row of logits: softmax (CE), sigmoid
 * (BCE) or identity (MSE). */
static inline void ref_predict_row(bpfree_loss loss, const double *z, int C, double *p) {
    if (loss == BPFREE_LOSS_CE) {
        double mx = z[0], s = 0.0;
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < C; c++) s += (p[c] = exp(z[c] - mx));
        for (int c = 0; c < C; c++) p[c] /= s;
    } else if (loss == BPFREE_LOSS_BCE) {
        for (int c = 0; c < C; c++) p[c] = 1.0 / (1.0 + exp(-z[c]));
    } else {
        for (int c = 0; c < C; c++) p[c] = z[c];
    }
}

/* Compare the library's update of tensor `name` with a reference gradient. */
static inline void check_tensor_update(const bpfree_model *m, const float *p0, const char *name,
                                       const float *want, const char *ctx) {
    int t = find_tensor(m, name);
    size_t n = m->tensors[t].n;
    float *g = malloc(n * sizeof(float));
    assert_non_null(g);
    recovered_grad(m, p0, t, g);
    char what[128];
    snprintf(what, sizeof what, "%s: update of %s / lr vs hand-derived gradient", ctx, name);
    assert_true(tu_close(what, g, want, n, 1e-5, 1e-3));
    snprintf(what, sizeof what, "%s: stored gradient of %s vs hand-derived gradient", ctx, name);
    assert_true(tu_close(what, bp_tensor_grad(m, t), want, n, 1e-6, 1e-4));
    if (tu_maxabs(want, n) <= 1e-3) printf("  %s: reference gradient of %s is ~0\n", ctx, name);
    assert_true(tu_maxabs(want, n) > 1e-3);
    free(g);
}

/* Compare the update of every trainable tensor (and the stored gradient)
 * with a reference gradient g laid out like m->params.  Tensors whose
 * reference is all zero must not move at all. */
static inline int check_all_updates(const bpfree_model *m, const float *p0, const float *gref,
                                    const char *ctx) {
    int ok = 1;
    char what[160];
    for (int t = 0; t < m->n_tensors; t++) {
        const bp_tensor *x = &m->tensors[t];
        if (!x->trainable) continue;
        float *g = tu_xmalloc(x->n * sizeof(float));
        recovered_grad(m, p0, t, g);
        snprintf(what, sizeof what, "%s: update of %s / lr vs hand-derived gradient", ctx,
                 x->name);
        ok &= tu_close(what, g, gref + x->off, x->n, 1e-5, 1e-3);
        snprintf(what, sizeof what, "%s: stored gradient of %s vs hand-derived gradient", ctx,
                 x->name);
        ok &= tu_close(what, bp_tensor_grad(m, t), gref + x->off, x->n, 1e-6, 1e-4);
        free(g);
    }
    return ok;
}

/* 1 if the recovered gradient of tensor `name` clearly differs from the
 * alternative reference `alt` (laid out like m->params). */
static inline int update_differs(const bpfree_model *m, const float *p0, const char *name,
                                 const float *alt, const char *ctx, const char *alt_what) {
    int t = find_tensor(m, name);
    const bp_tensor *x = &m->tensors[t];
    float *g = tu_xmalloc(x->n * sizeof(float));
    recovered_grad(m, p0, t, g);
    int d = clearly_differs(g, alt + x->off, x->n, 1e-5, 1e-3);
    if (!d)
        printf("  %s: update of %s also matches %s (largest diff %g): the check cannot tell\n",
               ctx, name, alt_what, tu_maxdiff(g, alt + x->off, x->n));
    free(g);
    return d;
}

/* Reference update of a rule that updates the hidden layers during the
 * forward pass (DRTP, F³, LLO), in double, from the parameters p0 before
 * the step, on x (B,D) with targets y (B,C):
 *   hidden layer l: h_l = f(h_{l-1} W_l^T + b_l) with p0 — each layer's
 *     input is the previous layer's activation from before its update;
 *     delta_h_l = (1/B) E B_l with B_l the state tensor "B{l}" (C, n_l)
 *     (E (B,C); NULL: no signal, the layer does not learn);
 *     dz = delta_h_l ⊙ f'(z_l); gW = dz^T h_{l-1}; gb = sum dz;
 *   output layer: its true gradient, dz = (p - y)/B.
 * g is laid out like m->params.  If z_out is not NULL it gets the logits. */
static inline void ref_onepass(const bpfree_model *m, const float *p0, const float *x,
                               const float *y, const double *E, int B, float *g, double *z_out) {
    const int nh = m->cfg.n_hidden, C = m->cfg.outputs;
    memset(g, 0, m->n_params * sizeof(float));
    double *h = tu_xmalloc((size_t)B * m->cfg.inputs * sizeof(double));
    for (size_t i = 0; i < (size_t)B * m->cfg.inputs; i++) h[i] = x[i];
    for (int l = 0; l <= nh; l++) {
        const bp_layer *L = &m->layers[l];
        const int I = L->in, O = L->out;
        const float *W = p0 + L->off, *b = W + (size_t)O * I;
        double *z = tu_xmalloc((size_t)B * O * sizeof(double));
        double *hn = tu_xmalloc((size_t)B * O * sizeof(double));
        double *dz = tu_xmalloc((size_t)B * O * sizeof(double));
        ref_dense(h, W, b, B, I, O, l < nh ? m->cfg.act : BPFREE_ACT_IDENTITY, z, hn);
        int learn = 1;
        if (l < nh) {
            if (E) {
                char name[16];
                snprintf(name, sizeof name, "B%d", l + 1);
                int tf = find_tensor(m, name);
                assert_false(m->tensors[tf].trainable);
                assert_int_equal(m->tensors[tf].n, (size_t)C * O);
                const float *Bf = bp_tensor_ptr(m, tf);
                for (int r = 0; r < B; r++)
                    for (int k = 0; k < O; k++) {
                        double s = 0.0;
                        for (int c = 0; c < C; c++)
                            s += E[(size_t)r * C + c] * Bf[(size_t)c * O + k];
                        size_t j = (size_t)r * O + k;
                        dz[j] = s / B * ref_df(m->cfg.act, z[j], hn[j]);
                    }
            } else {
                learn = 0;
            }
        } else {
            double p[64];
            assert_true(C <= 64);
            for (int r = 0; r < B; r++) {
                ref_predict_row(m->cfg.loss, z + (size_t)r * C, C, p);
                for (int c = 0; c < C; c++)
                    dz[(size_t)r * C + c] = (p[c] - y[(size_t)r * C + c]) / B;
            }
            if (z_out) memcpy(z_out, z, (size_t)B * C * sizeof(double));
        }
        if (learn) ref_param_grads(dz, h, B, I, O, g + L->off, g + L->off + (size_t)O * I);
        free(h);
        free(z);
        free(dz);
        h = hn;
    }
    free(h);
}

/* Double-precision forward of the model's net with parameters p + eps V and
 * every layer's output + eps u_l: writes the output (B, C) into y.  Keeps
 * z and h of every layer when zs/hs are given (hs[0] = the input). */
static inline void ref_forward(const bpfree_model *m, const float *x, int B, double eps,
                               const float *V, float *const *u, double *y, double **zs,
                               double **hs) {
    const int L = m->n_layers;
    int in = m->cfg.inputs;
    double *cur = malloc(sizeof(double) * (size_t)B * in);
    assert_non_null(cur);
    for (size_t i = 0; i < (size_t)B * in; i++) cur[i] = x[i];
    if (hs) memcpy(hs[0], cur, sizeof(double) * (size_t)B * in);
    for (int l = 0; l < L; l++) {
        const bp_layer *Ly = &m->layers[l];
        const int O = Ly->out, I = Ly->in;
        const size_t nw = (size_t)O * I;
        const float *Vw = V ? V + Ly->off : NULL, *Vb = V ? V + Ly->off + nw : NULL;
        double *nxt = malloc(sizeof(double) * (size_t)B * O);
        assert_non_null(nxt);
        for (int r = 0; r < B; r++)
            for (int o = 0; o < O; o++) {
                double z = (double)Ly->b[o] + (Vb ? eps * Vb[o] : 0.0);
                for (int k = 0; k < I; k++) {
                    double w = (double)Ly->W[(size_t)o * I + k] +
                               (Vw ? eps * Vw[(size_t)o * I + k] : 0.0);
                    z += cur[(size_t)r * I + k] * w;
                }
                double h = ref_f(Ly->act, z);
                if (u && u[l]) h += eps * u[l][(size_t)r * O + o];
                if (zs) zs[l][(size_t)r * O + o] = z;
                nxt[(size_t)r * O + o] = h;
            }
        if (hs) memcpy(hs[l + 1], nxt, sizeof(double) * (size_t)B * O);
        free(cur);
        cur = nxt;
    }
    memcpy(y, cur, sizeof(double) * (size_t)B * m->cfg.outputs);
    free(cur);
}

/* ------------------------------------------------------------- datasets */

/* A dataset of n samples, D features, C classes with class-dependent means
 * (sep on the class's own columns plus N(0, 0.5²) noise; the first C
 * samples are one of each class), and, if index_stride > 0, dataset indices
 * index_stride * i + 1 (so the index differs from the position, as after a
 * split). */
static inline void tu_make_indexed_dataset(bpfree_dataset *ds, int n, int D, int C, float sep,
                                           uint64_t seed, int index_stride) {
    bpfree_error err = {0};
    assert_int_equal(bpfree_data_alloc(ds, n, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = i < C ? i : (int)bp_rng_below(&r, (uint32_t)C); /* every class appears */
        ds->labels[i] = c;
        for (int k = 0; k < D; k++)
            ds->x[(size_t)i * D + k] = (k % C == c ? sep : 0.0f) + 0.5f * bp_rng_normal(&r);
        if (index_stride > 0) ds->index[i] = index_stride * i + 1;
    }
    snprintf(ds->name, sizeof ds->name, "synthetic");
}

/* ------------------------------------------------------------- learning */

/* `rule` learns a teacher problem — label = argmax(x A) for a fixed random
 * A (D, C) — with two hidden layers of 16 ReLU: 30 epochs of Adam at lr
 * (feedback learning rate 3e-3; fb_ema: FDFA's exponential average, eq. 8,
 * at 0.02) end below 0.8x the first epoch's training loss. */
static inline void tu_rule_learns(const char *rule, float lr, int fb_ema) {
    enum { N = 256, D = 8, C = 3, B = 16, EPOCHS = 30 };
    const int hidden[] = {16, 16};
    bpfree_error err = {0};
    bpfree_dataset ds;
    assert_int_equal(bpfree_data_alloc(&ds, N, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, 4242);
    float A[D * C];
    tu_fill_uniform(&r, A, D * C, -1.0f, 1.0f);
    tu_fill_uniform(&r, ds.x, (size_t)N * D, -1.0f, 1.0f);
    for (int i = 0; i < N; i++) {
        float s[C] = {0};
        for (int c = 0; c < C; c++)
            for (int k = 0; k < D; k++) s[c] += ds.x[(size_t)i * D + k] * A[k * C + c];
        ds.labels[i] = bp_argmax(s, C);
    }
    bpfree_config cfg = tu_sgd_config(rule, D, C, 2, hidden, BPFREE_ACT_RELU, BPFREE_LOSS_CE, B,
                                      lr, 1, 2);
    cfg.optim.kind = BPFREE_OPTIM_ADAM;
    cfg.optim.lr = lr;
    cfg.fb_lr = 3e-3f;
    if (fb_ema) {
        cfg.fb_optim = BPFREE_FB_EMA;
        cfg.fb_lr = 0.02f;
    }
    bpfree_model *m = tu_new_model(&cfg, 1);
    double first = 0.0, last = 0.0, acc = 0.0;
    for (int ep = 0; ep < EPOCHS; ep++) {
        bpfree_epoch_stats st;
        bpfree_status s = bpfree_train_epoch(m, &ds, &st, &err);
        if (s) printf("  %s: %s\n", rule, err.msg);
        assert_int_equal(s, BPFREE_OK);
        if (ep == 0) first = st.train_loss;
        last = st.train_loss;
        acc = st.train_acc;
    }
    printf("  %-7s train loss %.3f -> %.3f (train accuracy %.1f%%)\n", rule, first, last,
           100 * acc);
    assert_true(last < 0.8 * first);
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}
/* ------------------------------------------- same bits, several threads */

static inline int tu_same(const float *a, const float *b, size_t n) {
    return n == 0 || memcmp(a, b, n * sizeof(float)) == 0;
}

/* Parameters and optimizer moments. */
static inline int tu_same_params(const bpfree_model *a, const bpfree_model *b) {
    if (a->n_params != b->n_params) return 0;
    const size_t n = a->n_params;
    return tu_same(a->params, b->params, n) && tu_same(a->opt_m, b->opt_m, n) &&
           (!a->opt_v ? !b->opt_v : (b->opt_v && tu_same(a->opt_v, b->opt_v, n)));
}

/* Both models' whole state: parameters, gradients, optimizer moments. */
static inline int tu_same_state(const bpfree_model *a, const bpfree_model *b) {
    return tu_same_params(a, b) && tu_same(a->grads, b->grads, a->n_params);
}

/* The optimizers a fused step must reproduce bit for bit: Adam, AdamW, SGD
 * with momentum, Nesterov + decay. */
static const bpfree_optim_config tu_optims[] __attribute__((unused)) = {
    {.kind = BPFREE_OPTIM_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
    {.kind = BPFREE_OPTIM_ADAM, .lr = 2e-3f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f,
     .weight_decay = 0.01f, .decoupled = 1},
    {.kind = BPFREE_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f,
     .eps = 1e-8f},
    {.kind = BPFREE_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .nesterov = 1,
     .weight_decay = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
};
#define TU_N_OPTIMS (sizeof tu_optims / sizeof *tu_optims)

/* RULE with its defaults on dd inputs and 10 classes, hidden layers of 200
 * and h2, batch 128, split threading on `threads` threads */
static inline bpfree_model *tu_split_net(const char *rule, int dd, int h2, uint64_t seed,
                                         int threads) {
    const int hidden[] = {200, h2};
    bpfree_config cfg = tu_default_config(rule, dd, 10, 2, hidden, 128);
    cfg.seed = seed;
    cfg.threads = threads;
    cfg.threading = BPFREE_THREADING_SPLIT;
    return tu_new_model(&cfg, 0);
}

/* FLOPs of one product op(A) (M, K) op(B) (K, N), as the profiler counts. */
static inline double tu_flops(int M, int N, int K) { return 2.0 * M * N * K; }

/* ------------------------------------------------------ files and errors */

/* Expect `s` to be `code` with every one of the NULL-terminated keys in the
 * message; print the message if not. */
static inline void tu_expect_error(bpfree_status s, const bpfree_error *e, bpfree_status code,
                                   ...) {
    if (s != code) print_message("  got status %d (%s): %s\n", s, bpfree_strerror(s), e->msg);
    assert_int_equal(s, code);
    va_list ap;
    va_start(ap, code);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
        if (!strstr(e->msg, k)) print_message("  message \"%s\" lacks \"%s\"\n", e->msg, k);
        assert_non_null(strstr(e->msg, k));
    }
    va_end(ap);
}

/* cmocka group teardown of a test program whose group setup made a scratch
 * directory (tu_mkdtemp) and left its path in *state: the directory goes,
 * with everything in it. */
static inline int tu_rm_scratch(void **state) {
    rm_tree(*state);
    return 0;
}

/* Number of entries in dir whose name contains `part` (NULL: all entries);
 * those with `part` are printed (a leftover file). */
static inline int tu_count_entries(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!part || strstr(e->d_name, part)) {
            if (part) print_message("  leftover file: %s/%s\n", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}
#endif
