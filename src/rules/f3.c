/* f3.c — Feed-Forward with delayed Feedback (Flügel et al., paper 001,
 * Algorithm 1 and eq. 1).
 *
 * Hidden layer i receives  delta_h_i = B_i^T e^{t-1}[x]  — the error stored
 * for this very sample x in the previous epoch — and updates at once, during
 * the forward pass (lines 4–8); the output layer trains on its true gradient
 * (eq. 1, i = K).  After the step, the sample's row of the store becomes this
 * step's error (line 9), computed from this step's forward pass, before the
 * output layer's update.
 *
 * Sign convention (the authors' code): the store holds e = y* - y, which
 * continues its initial value e^0 = y* (line 1), and B^T e is injected as the
 * gradient at the hidden output, exactly as DRTP's +B^T y*.  So the first
 * epoch is DRTP, and the sign never flips between epochs.
 *
 * Variants (001 §3.2): --f3-error loss stores -dL/dy instead (for BCE,
 * (y* - y) / (y (1 - y)): large and unbounded near 0 and 1, as the paper's
 * F³-Loss); --f3-onehot keeps only the target class's entry; --f3-softmax
 * takes softmax of the output before the error.  The store holds C floats
 * per training sample, indexed by the sample's dataset index, so it survives
 * shuffling. */
#include "rules/rules.h"
#include "engine/dist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* the classes a stored error may have (a row of them lives on the stack) */
#define BP_F3_MAX_C 4096

typedef struct f3_state {
    bp_onepass p;
    int fb[BPFREE_MAX_LAYERS];
    float *store; /* (n_store, C): e^{t-1} per dataset index */
    int n_store;
    float *eb;    /* (B, C): the batch's rows of the store */
} f3_state;

static bpfree_status f3_reserve(bpfree_model *m, bpfree_error *err) {
    f3_state *s = m->rs;
    return bp_feedback_reserve(m, s->fb, err);
}

static bpfree_status f3_init(bpfree_model *m, bpfree_error *err) {
    if (m->cfg.outputs > BP_F3_MAX_C)
        return bp_fail(err, BPFREE_EINVAL, "f3 stores at most %d outputs per sample (got %d)",
                       BP_F3_MAX_C, m->cfg.outputs);
    f3_state *s = m->rs;
    (void)err;
    bp_feedback_init(m, s->fb);
    bp_scratch(m, &s->eb, (size_t)m->rows * m->cfg.outputs); /* the batch's stored errors */
    bp_work_reserve(m, &s->p);
    return BPFREE_OK;
}

/* The store is sized by the training set the first time it is seen, and
 * starts as the one-hot targets (Algorithm 1, line 1: e^0 = Y*). */
static bpfree_status f3_begin_epoch(bpfree_model *m, const bpfree_dataset *ds, bpfree_error *err) {
    f3_state *s = m->rs;
    const int C = m->cfg.outputs;
    const int need = bp_data_index_rows(ds, "f3", err);
    if (need < 0) return BPFREE_EINVAL;
    if (s->store) {
        if (need > s->n_store)
            return bp_fail(err, BPFREE_EINVAL,
                           "f3: the delayed-error store was sized for dataset indices < %d at the "
                           "first epoch; this training set has index %d",
                           s->n_store, need - 1);
        return BPFREE_OK;
    }
    if (!(s->store = bp_alloc_floats(&m->mem, (size_t)need * C, "F3 delayed-error store", err)))
        return BPFREE_ENOMEM;
    s->n_store = need;
    for (int i = 0; i < ds->n; i++) {
        float *row = s->store + (size_t)(ds->index ? ds->index[i] : i) * C;
        if (ds->y) memcpy(row, ds->y + (size_t)i * C, (size_t)C * sizeof(float));
        else row[ds->labels[i]] = 1.0f;
    }
    return BPFREE_OK;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* out = softmax(v), max-shifted */
static void softmax_row(const float *v, int C, float *out) {
    float mx = v[0], sum = 0.0f;
    for (int k = 1; k < C; k++) mx = v[k] > mx ? v[k] : mx;
    for (int k = 0; k < C; k++) sum += (out[k] = expf(v[k] - mx));
    for (int k = 0; k < C; k++) out[k] /= sum;
}

/* The delayed error of one sample (001 §3.2, the authors' code).  y is the
 * network's output — softmax(z) with CE, sigmoid(z) with BCE, z with MSE —
 * and q = softmax(y) with --f3-softmax ("softmax to the output y^{t-1}"),
 * else q = y.  F³-Error stores e = y* - q.  F³-Loss stores e = -dL/dy of
 * the loss on q with the authors' mean reduction (1/(B C) for BCE and MSE,
 * 1/B for CE), through softmax's Jacobian when q = softmax(y):
 *     dL/dy_j = q_j (g_j - sum_k g_k q_k),  g = dL/dq.
 * So with MSE F³-Loss is F³-Error times 2/(B C): the two differ exactly by
 * their step size (001 §4.2). */
static void f3_error_row(const bpfree_config *c, const float *z, const float *t, int B, int C,
                         float *e) {
    float y[BP_F3_MAX_C], q[BP_F3_MAX_C];
    if (c->loss == BPFREE_LOSS_CE) softmax_row(z, C, y);
    else if (c->loss == BPFREE_LOSS_BCE)
        for (int k = 0; k < C; k++) y[k] = 1.0f / (1.0f + expf(-z[k]));
    else memcpy(y, z, (size_t)C * sizeof(float));
    if (c->f3_softmax) softmax_row(y, C, q);
    else memcpy(q, y, (size_t)C * sizeof(float));
    if (!c->f3_loss) {
        for (int k = 0; k < C; k++) e[k] = t[k] - q[k];
    } else {
        float g[BP_F3_MAX_C]; /* dL/dq */
        const float inv = c->loss == BPFREE_LOSS_CE ? 1.0f / (float)B : 1.0f / ((float)B * C);
        for (int k = 0; k < C; k++) {
            if (c->loss == BPFREE_LOSS_BCE) {
                const float v = clampf(q[k], 1e-7f, 1.0f - 1e-7f);
                g[k] = (v - t[k]) / (v * (1.0f - v)) * inv;
            } else if (c->loss == BPFREE_LOSS_MSE) {
                g[k] = 2.0f * (q[k] - t[k]) * inv;
            } else {
                g[k] = -t[k] / clampf(q[k], 1e-7f, 1.0f) * inv;
            }
        }
        float dot = 0.0f;
        if (c->f3_softmax)
            for (int k = 0; k < C; k++) dot += g[k] * q[k];
        for (int k = 0; k < C; k++) e[k] = -(c->f3_softmax ? q[k] * (g[k] - dot) : g[k]);
    }
    if (c->f3_onehot)
        for (int k = 0; k < C; k++)
            if (t[k] == 0.0f) e[k] = 0.0f;
}

static bpfree_status f3_train(bpfree_model *m, int B, double *loss, long *correct) {
    f3_state *s = m->rs;
    const int C = m->cfg.outputs;
    for (int r = 0; r < B; r++) /* e^{t-1}[x] for each sample of the batch */
        memcpy(s->eb + (size_t)r * C, s->store + (size_t)m->ib[r] * C, (size_t)C * sizeof(float));
    bp_onepass_train(m, &s->p, s->fb, s->eb, B, loss, correct); /* lines 4–8, eq. 1 */
    for (int r = 0; r < B; r++)                                  /* line 9 */
        f3_error_row(&m->cfg, s->p.z + (size_t)r * C, m->yb + (size_t)r * C,
                     bp_dist_rows(m, B), C, s->store + (size_t)m->ib[r] * C);
    return BPFREE_OK;
}

/* pipelined: stage 0 reads the batch's stored errors, the output layer's
 * stage writes the new ones (a sample is in one batch per epoch, so the
 * two never touch the same row at once) */
static void f3_pipe_begin(bpfree_model *m, bp_pipe_batch *b) {
    const f3_state *s = m->rs;
    const int C = m->cfg.outputs;
    for (int r = 0; r < b->rows; r++)
        memcpy(b->aux + (size_t)r * C, s->store + (size_t)b->ib[r] * C, (size_t)C * sizeof(float));
}

static void f3_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                          float *out, bp_pipe_batch *b) {
    f3_state *s = m->rs;
    const int C = m->cfg.outputs;
    bp_onepass_layer(m, o, w, i, in, out, s->fb, b->aux, b);
    if (i == m->n_layers - 1)
        for (int r = 0; r < b->rows; r++)
            f3_error_row(&m->cfg, w->z + (size_t)r * C, b->y + (size_t)r * C, b->rows, C,
                         s->store + (size_t)b->ib[r] * C);
}

static void f3_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    bp_onepass_predict(m, &((f3_state *)m->rs)->p, x, B, scores);
}

static void f3_describe(const bpfree_model *m, char *buf, size_t cap) {
    const f3_state *s = m->rs;
    double mib = (double)s->n_store * m->cfg.outputs * sizeof(float) / 1048576.0;
    snprintf(buf, cap, "F3 delayed-error store: C x |X| = %d x %d floats (%.2f MiB); error %s%s%s",
             m->cfg.outputs, s->n_store, mib, m->cfg.f3_loss ? "loss" : "y* - y",
             m->cfg.f3_onehot ? ", one-hot" : "", m->cfg.f3_softmax ? ", softmax" : "");
}

/* checkpoints: the store's row count, then its rows */
static size_t f3_extra_bytes(const bpfree_model *m) {
    const f3_state *s = m->rs;
    return s->store ? sizeof(int) + (size_t)s->n_store * m->cfg.outputs * sizeof(float) : 0;
}

static void f3_extra_save(const bpfree_model *m, void *dst) {
    const f3_state *s = m->rs;
    memcpy(dst, &s->n_store, sizeof(int));
    memcpy((char *)dst + sizeof(int), s->store, f3_extra_bytes(m) - sizeof(int));
}

static bpfree_status f3_extra_load(bpfree_model *m, const void *src, size_t bytes,
                                   bpfree_error *err) {
    f3_state *s = m->rs;
    const size_t C = (size_t)m->cfg.outputs;
    int n;
    if (bytes < sizeof n) return bp_fail(err, BPFREE_EFORMAT, "f3: store section too short");
    memcpy(&n, src, sizeof n);
    if (n <= 0 || (bytes - sizeof n) / sizeof(float) / C != (size_t)n ||
        (bytes - sizeof n) % (C * sizeof(float)) != 0)
        return bp_fail(err, BPFREE_EFORMAT, "f3: store section of %zu bytes does not hold %d rows",
                       bytes, n);
    bp_free(&m->mem, s->store);
    if (!(s->store = bp_alloc_floats(&m->mem, (size_t)n * C, "F3 delayed-error store", err)))
        return BPFREE_ENOMEM;
    s->n_store = n;
    memcpy(s->store, (const char *)src + sizeof n, bytes - sizeof n);
    return BPFREE_OK;
}

/* data-parallel ranks exchange the rows of the samples each trained on
 * once per epoch (a row written in epoch t is read in epoch t + 1) */
static float *f3_sample_state(bpfree_model *m, size_t *rows, size_t *width) {
    f3_state *s = m->rs;
    *rows = (size_t)s->n_store;
    *width = (size_t)m->cfg.outputs;
    return s->store;
}

const float *bp_f3_store(const bpfree_model *m) { return ((const f3_state *)m->rs)->store; }

/* the store is sized by the first epoch's data, not at build */
static void f3_free(bpfree_model *m) {
    f3_state *s = m->rs;
    if (s) bp_free(&m->mem, s->store);
}

/* the F³ paper's setup, and its feedback init: U(±1/sqrt(n_l)), the
 * authors' code (kaiming-uniform as a weight of fan-in n_l) */
static void f3_defaults(bpfree_config *c) {
    bp_defaults_f3_paper(c);
    c->feedback_init = BPFREE_INIT_KAIMING_UNIFORM;
}

static const char *f3_error_name(int v) { return v == 0 ? "error" : v == 1 ? "loss" : "?"; }
static int f3_error_parse(const char *s) {
    return !strcmp(s, "error") ? 0 : !strcmp(s, "loss") ? 1 : -1;
}

static const bp_setting f3_settings[] = {
    BP_ROW_NAME("f3-error", "f3_loss", "stored error: error (y* - y, F³-Error) or loss (-dL/dy, "
                "F³-Loss)", "error", f3_loss, 0, 0, f3_error_name, f3_error_parse),
    BP_ROW_NUM("f3-onehot", "f3_onehot", NULL, "keep only the target class's error", "0",
               BP_SET_FLAG, f3_onehot, 0, 1, 0, 0),
    BP_ROW_NUM("f3-softmax", "f3_softmax", NULL, "softmax on the output before the error", "0",
               BP_SET_FLAG, f3_softmax, 0, 1, 0, 0),
};

const bp_rule bp_rule_f3 = {
    .info = {.name = "f3",
             .title = "Feed-Forward with delayed Feedback",
             .paper = "Flügel et al. 2024, Algorithm 1, eq. 1",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "no",
             .locality = "non-local", /* survey §IV-D: delayed global error */
             .update_locking = "none"},
    .defaults = f3_defaults,
    .reserve = f3_reserve,
    .init = f3_init,
    .begin_epoch = f3_begin_epoch,
    .train_batch = f3_train,
    .pipe_layer = f3_pipe_layer,
    .pipe_begin = f3_pipe_begin,
    .predict = f3_predict,
    .describe = f3_describe,
    .free = f3_free,
    .extra_bytes = f3_extra_bytes,
    .extra_save = f3_extra_save,
    .extra_load = f3_extra_load,
    .sample_state = f3_sample_state,
    .state_size = sizeof(f3_state),
    .caps = BP_CAP_FEEDBACK | BP_CAP_DIRECT | BP_CAP_ANY_LAYER | BP_CAP_LAYERWISE | BP_CAP_ONEPASS,
    .settings = f3_settings,
    .n_settings = (int)(sizeof f3_settings / sizeof *f3_settings),
};
