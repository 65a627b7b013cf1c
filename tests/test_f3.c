/* test_f3.c — F³ (001, Algorithm 1, eq. 1), DRTP with the error each sample
 * made in the previous epoch fed back in place of its target, on tiny nets
 * built through the public API and checked through the model's internal
 * fields:
 *   a. the first epoch is DRTP, bit for bit;
 *   b. later epochs use the error stored for the very same sample in the
 *      previous epoch, whatever the shuffling, step by step and through
 *      bpfree_train_epoch (F³-Error);
 *   c. the stored sign learns;
 *   d. the stored error of the OneHot and Softmax variants;
 *   e. the stored error of F³-Loss.
 * Hand computations in double; SGD without momentum, weight decay or
 * schedule, so one step is p_new = p_old - lr g and g = (p_old - p_new)/lr. */
#include "testutil.h"

/* Rows order[0..B) of ds into the batch buffers, as the engine's gather. */
static void fill_from(bpfree_model *m, const bpfree_dataset *ds, const int *order, int B) {
    const int D = m->cfg.inputs, C = m->cfg.outputs;
    memset(m->yb, 0, (size_t)B * C * sizeof(float));
    for (int r = 0; r < B; r++) {
        int i = order[r];
        memcpy(m->xb + (size_t)r * D, ds->x + (size_t)i * D, (size_t)D * sizeof(float));
        m->lb[r] = ds->labels[i];
        m->ib[r] = ds->index ? ds->index[i] : i;
        m->yb[(size_t)r * C + ds->labels[i]] = 1.0f;
    }
}

/* a. The first epoch is DRTP: the store starts at the one-hot targets. */
static void f3_first_epoch_is_drtp(bpfree_config cfg, const bpfree_dataset *ds) {
    bpfree_error err = {0};
    snprintf(cfg.rule, sizeof cfg.rule, "f3");
    bpfree_model *f = tu_new_model(&cfg, 1);
    snprintf(cfg.rule, sizeof cfg.rule, "drtp");
    bpfree_model *d = tu_new_model(&cfg, 1);
    float *init = copy_floats(f->params, f->n_params);
    assert_int_equal(f->n_params, d->n_params);
    assert_int_equal(f->n_state, d->n_state);
    bpfree_epoch_stats sf, sd;
    assert_int_equal(bpfree_train_epoch(f, ds, &sf, &err), BPFREE_OK);
    assert_int_equal(bpfree_train_epoch(d, ds, &sd, &err), BPFREE_OK);
    int same = memcmp(f->params, d->params, f->n_params * sizeof(float)) == 0;
    if (!same)
        printf("  f3 vs drtp (%s, %s), epoch 1: parameters differ by up to %g\n",
               bpfree_loss_name(cfg.loss), bpfree_optim_name(cfg.optim.kind),
               tu_maxdiff(f->params, d->params, f->n_params));
    assert_true(same);
    assert_true(memcmp(f->state, d->state, f->n_state * sizeof(float)) == 0);
    assert_true(sf.train_loss == sd.train_loss);
    assert_true(memcmp(f->params, init, f->n_params * sizeof(float)) != 0);
    /* from the second epoch on F³ feeds back the stored errors: they part */
    assert_int_equal(bpfree_train_epoch(f, ds, &sf, &err), BPFREE_OK);
    assert_int_equal(bpfree_train_epoch(d, ds, &sd, &err), BPFREE_OK);
    assert_true(memcmp(f->params, d->params, f->n_params * sizeof(float)) != 0);
    free(init);
    bpfree_model_free(f);
    bpfree_model_free(d);
}

static void test_f3_first_epoch_is_drtp(void **state) {
    (void)state;
    bpfree_dataset ds;
    tu_make_indexed_dataset(&ds, 50, 9, 4, 0.8f, 7, 0); /* 50 = 6 batches of 8 + 2 */
    const int hidden[] = {10, 7};
    bpfree_config c = tu_sgd_config("f3", 9, 4, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, 8,
                                     0.2f, 3, 5);
    f3_first_epoch_is_drtp(c, &ds);
    c.loss = BPFREE_LOSS_BCE;
    f3_first_epoch_is_drtp(c, &ds);
    /* the rule's default optimizer (Adam, cooldown schedule) */
    bpfree_config a;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&a, "f3", 9, 4, &err), BPFREE_OK);
    a.n_hidden = 2;
    a.hidden[0] = 10;
    a.hidden[1] = 7;
    a.batch = 8;
    a.threads = 1;
    a.epochs = 3;
    a.seed = 5;
    f3_first_epoch_is_drtp(a, &ds);
    bpfree_data_free(&ds);
}

/* The error F³ stores for one sample (001 §3.2), from its logits z and
 * target t, in double:
 *   y = softmax(z) with --f3-softmax or CE, else sigmoid(z) (BCE) or z (MSE);
 *   F³-Error: e = y* - y;  F³-Loss (BCE): e = -dL/dy = (y* - y)/(y (1 - y));
 *   F³-OneHot: entries of non-target classes are 0. */
/* q = softmax(y) (--f3-softmax) or y */
static void ref_q(const bpfree_config *c, const double *y, int C, double *q) {
    if (!c->f3_softmax) {
        memcpy(q, y, sizeof(double) * (size_t)C);
        return;
    }
    double mx = y[0], s = 0.0;
    for (int k = 1; k < C; k++) mx = y[k] > mx ? y[k] : mx;
    for (int k = 0; k < C; k++) s += (q[k] = exp(y[k] - mx));
    for (int k = 0; k < C; k++) q[k] /= s;
}

/* the authors' loss on q with its mean reduction: over B C for BCE and MSE,
 * over B for CE */
static double ref_f3_loss(const bpfree_config *c, const double *y, const float *t, int B, int C) {
    double q[64], L = 0.0;
    ref_q(c, y, C, q);
    for (int k = 0; k < C; k++) {
        if (c->loss == BPFREE_LOSS_BCE) L -= t[k] * log(q[k]) + (1.0 - t[k]) * log(1.0 - q[k]);
        else if (c->loss == BPFREE_LOSS_MSE) L += (q[k] - t[k]) * (q[k] - t[k]);
        else L -= t[k] * log(q[k]);
    }
    return c->loss == BPFREE_LOSS_CE ? L / B : L / ((double)B * C);
}

/* The error F³ stores (001 §3.2 as the authors' code computes it): the
 * output y (softmax / sigmoid / identity of z), q = softmax(y) with
 * --f3-softmax; F³-Error y* - q; F³-Loss -dL/dy, here by central
 * differences of the loss in y — independent of the closed form in f3.c. */
static void ref_f3_error(const bpfree_config *c, const double *z, const float *t, int B, int C,
                         double *e) {
    double y[64] = {0}, q[64];
    ref_predict_row(c->loss, z, C, y);
    ref_q(c, y, C, q);
    for (int k = 0; k < C; k++) {
        if (c->f3_loss) {
            const double h = 1e-6, keep = y[k];
            y[k] = keep + h;
            const double up = ref_f3_loss(c, y, t, B, C);
            y[k] = keep - h;
            const double dn = ref_f3_loss(c, y, t, B, C);
            y[k] = keep;
            e[k] = -(up - dn) / (2.0 * h);
        } else {
            e[k] = t[k] - q[k];
        }
        if (c->f3_onehot && t[k] == 0.0f) e[k] = 0.0;
    }
}

/* b/d/e, driven step by step: epochs over ds in orders of our own
 * (a different permutation each epoch), batches of B.  Before every step the
 * expected update is computed by hand with E = the error expected in the
 * store for each sample of the batch (by its dataset index): the one-hot
 * target in the first epoch, then the error of that sample's own forward
 * pass in the previous epoch.  After the step that sample's expected row
 * becomes this step's error (Algorithm 1, line 9). */
static void f3_store_check(bpfree_config cfg, const char *ctx, uint64_t seed) {
    enum { N = 12, D = 6, C = 3, B = 4, EPOCHS = 3 };
    bpfree_error err = {0};
    bpfree_dataset ds;
    tu_make_indexed_dataset(&ds, N, D, C, 0.8f, seed, 3); /* dataset index 3 i + 1 */
    cfg.inputs = D;
    cfg.outputs = C;
    cfg.batch = B;
    bpfree_model *m = tu_new_model(&cfg, 1);
    const int n_store = 3 * (N - 1) + 2;
    double *store = tu_xmalloc((size_t)n_store * C * sizeof(double));
    for (int i = 0; i < n_store * C; i++) store[i] = NAN; /* never read */
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++) store[(size_t)ds.index[i] * C + c] = c == ds.labels[i];
    double *E = tu_xmalloc((size_t)B * C * sizeof(double));
    double *Ealt = tu_xmalloc((size_t)B * C * sizeof(double));
    double *z = tu_xmalloc((size_t)B * C * sizeof(double));
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    float *alt = tu_xmalloc(m->n_params * sizeof(float));
    int order[N];
    bp_rng r;
    bp_rng_seed(&r, seed + 99);
    for (int ep = 0; ep < EPOCHS; ep++) {
        for (int i = 0; i < N; i++) order[i] = i;
        bp_rng_shuffle(&r, order, N);
        assert_int_equal(m->rule->begin_epoch(m, &ds, &err), BPFREE_OK);
        for (int b0 = 0; b0 < N; b0 += B) {
            fill_from(m, &ds, order + b0, B);
            for (int k = 0; k < B; k++)
                for (int c = 0; c < C; c++) {
                    E[k * C + c] = store[(size_t)m->ib[k] * C + c];
                    assert_false(isnan(E[k * C + c]));
                }
            float *p0 = copy_floats(m->params, m->n_params);
            ref_onepass(m, p0, m->xb, m->yb, E, B, g, z);
            tu_step_once(m, B);
            char what[128];
            snprintf(what, sizeof what, "%s, epoch %d, batch %d", ctx, ep + 1, b0 / B + 1);
            if (!check_all_updates(m, p0, g, what)) fail();
            if (ep >= 1 && b0 == 0) {
                /* the check can fail: the one-hot targets (DRTP) ... */
                for (int i = 0; i < B * C; i++) Ealt[i] = m->yb[i];
                ref_onepass(m, p0, m->xb, m->yb, Ealt, B, alt, NULL);
                assert_true(update_differs(m, p0, "W1", alt, what, "y* B_1 (DRTP)"));
                /* ... and another sample's stored error */
                for (int k = 0; k < B; k++)
                    for (int c = 0; c < C; c++) Ealt[k * C + c] = E[((k + 1) % B) * C + c];
                ref_onepass(m, p0, m->xb, m->yb, Ealt, B, alt, NULL);
                assert_true(update_differs(m, p0, "W1", alt, what, "the next row's error"));
            }
            for (int k = 0; k < B; k++)
                ref_f3_error(&m->cfg, z + (size_t)k * C, m->yb + (size_t)k * C, B, C,
                             store + (size_t)m->ib[k] * C);
            free(p0);
        }
    }
    free(store);
    free(E);
    free(Ealt);
    free(z);
    free(g);
    free(alt);
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

static bpfree_config f3_cfg(bpfree_loss loss, int f3_loss, int onehot, int softmax,
                            bpfree_act act, uint64_t seed) {
    const int hidden[] = {7, 5};
    bpfree_config c = tu_sgd_config("f3", 6, 3, 2, hidden, act, loss, 4, 0.5f, seed, 5);
    c.f3_loss = f3_loss;
    c.f3_onehot = onehot;
    c.f3_softmax = softmax;
    return c;
}

/* b: F³-Error y* - softmax(z) (CE) and y* - sigmoid(z) (BCE) */
static void test_f3_uses_each_samples_stored_error(void **state) {
    (void)state;
    f3_store_check(f3_cfg(BPFREE_LOSS_CE, 0, 0, 0, BPFREE_ACT_TANH, 61), "f3 ce, y* - softmax(z)",
                   61);
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 0, 0, 0, BPFREE_ACT_TANH, 62),
                   "f3 bce, y* - sigmoid(z)", 62);
    f3_store_check(f3_cfg(BPFREE_LOSS_CE, 0, 0, 0, BPFREE_ACT_RELU, 63),
                   "f3 ce relu, y* - softmax(z)", 63);
}

/* d: --f3-onehot keeps only the target entry; --f3-softmax stores
 * y* - softmax(y), softmax of the sigmoid output with BCE (001 §3.2: softmax
 * "to the output y^{t-1}"; the authors' target - softmax(output)). */
static void test_f3_onehot_and_softmax_variants(void **state) {
    (void)state;
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 0, 1, 0, BPFREE_ACT_TANH, 71),
                   "f3 bce one-hot, (y* - sigmoid(z)) at the target only", 71);
    f3_store_check(f3_cfg(BPFREE_LOSS_CE, 0, 1, 0, BPFREE_ACT_TANH, 72),
                   "f3 ce one-hot, (y* - softmax(z)) at the target only", 72);
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 0, 0, 1, BPFREE_ACT_TANH, 73),
                   "f3 bce softmax, y* - softmax(sigmoid(z))", 73);
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 0, 1, 1, BPFREE_ACT_TANH, 74),
                   "f3 bce one-hot softmax", 74);
}

/* e: F³-Loss with BCE stores -dL/dy = (y* - y)/(y (1 - y)) / (B C), the
 * authors' mean reduction; with --f3-softmax, the gradient of
 * BCE(softmax(y)) in y (their delayed_loss_softmax). */
static void test_f3_loss_variant_bce(void **state) {
    (void)state;
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 1, 0, 0, BPFREE_ACT_TANH, 81),
                   "f3-loss bce, (y* - y)/(y(1 - y))", 81);
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 1, 1, 0, BPFREE_ACT_SIGMOID, 82),
                   "f3-loss bce one-hot", 82);
    f3_store_check(f3_cfg(BPFREE_LOSS_BCE, 1, 0, 1, BPFREE_ACT_TANH, 83),
                   "f3-loss bce softmax, -d BCE(softmax(y)) / dy", 83);
    f3_store_check(f3_cfg(BPFREE_LOSS_MSE, 1, 0, 0, BPFREE_ACT_TANH, 84),
                   "f3-loss mse, 2 (y* - y) / (B C)", 84);
    f3_store_check(f3_cfg(BPFREE_LOSS_CE, 1, 0, 1, BPFREE_ACT_TANH, 85),
                   "f3-loss ce softmax", 85);
}

/* --signal-scaling authors (the F³ authors' code, f3's default): a hidden
 * layer's SGD step is B times the mean-scaled one, the output layer's 1/C
 * of it (BCE averaged over the classes too) */
static void test_f3_authors_scaling(void **state) {
    (void)state;
    enum { B = 4, C = 3 };
    bpfree_config cm = f3_cfg(BPFREE_LOSS_BCE, 0, 0, 0, BPFREE_ACT_TANH, 95);
    bpfree_config ca = cm;
    ca.signal_scaling = BPFREE_SIGNAL_AUTHORS;
    bpfree_model *mm = tu_new_model(&cm, 1), *ma = tu_new_model(&ca, 1);
    bpfree_dataset ds;
    tu_make_dataset(&ds, B, 6, C, 9);
    float *p0 = copy_floats(mm->params, mm->n_params);
    bpfree_error err;
    assert_int_equal(bpfree_train_epoch(mm, &ds, NULL, &err), BPFREE_OK);
    assert_int_equal(bpfree_train_epoch(ma, &ds, NULL, &err), BPFREE_OK);
    const double want[] = {B, B, 1.0 / C}; /* W1, W2 hidden; W3 the output */
    for (int l = 0; l < 3; l++) {
        const bp_layer *La = &ma->layers[l], *Lm = &mm->layers[l];
        const size_t off = La->off, n = bp_layer_n_weights(La);
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double da = La->W[i] - p0[off + i], dm = Lm->W[i] - p0[off + i];
            num += da * dm;
            den += dm * dm;
        }
        assert_true(den > 0.0);
        if (fabs(num / den - want[l]) > 1e-3 * want[l])
            printf("  layer %d: update ratio %g, want %g\n", l + 1, num / den, want[l]);
        assert_true(fabs(num / den - want[l]) <= 1e-3 * want[l]);
    }
    free(p0);
    bpfree_model_free(mm);
    bpfree_model_free(ma);
    bpfree_data_free(&ds);
}

/* 001 §4.2: with MSE, F³-Loss is F³-Error times 2 / (B C) — the same
 * direction, another step size */
static void test_f3_loss_and_error_differ_by_step_size(void **state) {
    (void)state;
    bpfree_config ce = f3_cfg(BPFREE_LOSS_MSE, 0, 0, 0, BPFREE_ACT_TANH, 91);
    bpfree_config cl = f3_cfg(BPFREE_LOSS_MSE, 1, 0, 0, BPFREE_ACT_TANH, 91);
    bpfree_model *me = tu_new_model(&ce, 1), *ml = tu_new_model(&cl, 1);
    bpfree_dataset ds;
    tu_make_dataset(&ds, 8, 6, 3, 5);
    bpfree_error err;
    /* batch 4 of 8 samples: the store after one epoch holds each sample's error */
    assert_int_equal(bpfree_train_epoch(me, &ds, NULL, &err), BPFREE_OK);
    assert_int_equal(bpfree_train_epoch(ml, &ds, NULL, &err), BPFREE_OK);
    assert_true(tu_same_params(me, ml)); /* epoch 1 stores, uses one-hot targets */
    const float *se = bp_f3_store(me), *sl = bp_f3_store(ml);
    const double want = 2.0 / (4.0 * 3.0);
    int bad = 0, nonzero = 0;
    for (int i = 0; i < 8 * 3; i++) {
        nonzero += se[i] != 0.0f;
        bad += fabs(sl[i] - want * se[i]) > 1e-6 * (1.0 + fabs(se[i]));
    }
    assert_true(nonzero > 12);
    assert_int_equal(bad, 0);
    bpfree_model_free(me);
    bpfree_model_free(ml);
    bpfree_data_free(&ds);
}

/* b through the engine: bpfree_train_epoch with one batch of the whole
 * training set (so every epoch is one step and the update is a sum over the
 * samples, whatever order the engine shuffled them into), dataset indices
 * that differ from the positions.  Each epoch's update must use, for each
 * sample, the error of that sample's forward pass in the previous epoch. */
static void f3_epoch_check(bpfree_loss loss, int f3_loss, int onehot, int softmax,
                           uint64_t seed) {
    enum { N = 20, D = 6, C = 3, EPOCHS = 4 };
    bpfree_error err = {0};
    bpfree_dataset ds;
    tu_make_indexed_dataset(&ds, N, D, C, 0.8f, seed, 2); /* index 2 i + 1 */
    const int hidden[] = {8, 5};
    bpfree_config cfg =
        tu_sgd_config("f3", D, C, 2, hidden, BPFREE_ACT_TANH, loss, N, 0.5f, seed, 5);
    cfg.f3_loss = f3_loss;
    cfg.f3_onehot = onehot;
    cfg.f3_softmax = softmax;
    bpfree_model *m = tu_new_model(&cfg, 1);
    double *E = tu_xmalloc((size_t)N * C * sizeof(double));
    double *z = tu_xmalloc((size_t)N * C * sizeof(double));
    float *Y = tu_xmalloc((size_t)N * C * sizeof(float));
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++) Y[i * C + c] = E[i * C + c] = c == ds.labels[i];
    int moved = 0; /* epochs whose order was not the identity */
    for (int ep = 0; ep < EPOCHS; ep++) {
        float *p0 = copy_floats(m->params, m->n_params);
        ref_onepass(m, p0, ds.x, Y, E, N, g, z); /* in dataset order */
        bpfree_epoch_stats st;
        assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
        char what[128];
        snprintf(what, sizeof what,
                 "f3 (%s, %s%s%s) through bpfree_train_epoch, batch = n, epoch %d",
                 bpfree_loss_name(loss), f3_loss ? "loss" : "error", onehot ? ", one-hot" : "",
                 softmax ? ", softmax" : "", ep + 1);
        if (!check_all_updates(m, p0, g, what)) fail();
        for (int r = 0; r < N; r++) moved |= m->ib[r] != 2 * r + 1;
        /* each sample's next row, kept here by position */
        for (int i = 0; i < N; i++)
            ref_f3_error(&m->cfg, z + (size_t)i * C, Y + (size_t)i * C, N, C, E + (size_t)i * C);
        free(p0);
    }
    assert_true(moved); /* the engine did shuffle */
    free(E);
    free(z);
    free(Y);
    free(g);
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

static void test_f3_through_train_epoch(void **state) {
    (void)state;
    f3_epoch_check(BPFREE_LOSS_BCE, 0, 0, 0, 91);
    f3_epoch_check(BPFREE_LOSS_CE, 0, 0, 0, 92);
    f3_epoch_check(BPFREE_LOSS_BCE, 0, 1, 0, 93);
    f3_epoch_check(BPFREE_LOSS_BCE, 0, 0, 1, 94);
    f3_epoch_check(BPFREE_LOSS_BCE, 1, 0, 0, 95);
}

/* c. The stored sign learns: four Gaussian blobs in 20-D, 400 samples,
 * one hidden layer of 32 tanh, sigmoid outputs with BCE, Adam 1e-2. */
static void blobs(bpfree_dataset *ds, uint64_t seed) {
    enum { N = 400, D = 20, C = 4 };
    bpfree_error err = {0};
    assert_int_equal(bpfree_data_alloc(ds, N, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, seed);
    float mu[C][D];
    for (int c = 0; c < C; c++)
        for (int k = 0; k < D; k++) mu[c][k] = 1.0f * bp_rng_normal(&r);
    for (int i = 0; i < N; i++) {
        int c = i % C;
        ds->labels[i] = c;
        for (int k = 0; k < D; k++) ds->x[(size_t)i * D + k] = mu[c][k] + 0.7f * bp_rng_normal(&r);
    }
    snprintf(ds->name, sizeof ds->name, "blobs");
}

/* Train 5 epochs; the loss on the training set after each epoch and the
 * accuracy after the last. */
static void train5(const char *rule, const bpfree_dataset *ds, double loss[5], double *acc5) {
    bpfree_error err = {0};
    const int hidden[] = {32};
    bpfree_config c = tu_sgd_config(rule, 20, 4, 1, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_BCE,
                                    32, 1e-2f, 17, 5);
    c.optim.kind = BPFREE_OPTIM_ADAM;
    c.optim.beta1 = 0.9f;
    c.optim.beta2 = 0.999f;
    c.optim.eps = 1e-8f;
    bpfree_model *m = tu_new_model(&c, 1);
    for (int e = 0; e < 5; e++) {
        assert_int_equal(bpfree_train_epoch(m, ds, NULL, &err), BPFREE_OK);
        bpfree_eval ev;
        assert_int_equal(bpfree_evaluate(m, ds, &ev, &err), BPFREE_OK);
        loss[e] = ev.loss;
        *acc5 = ev.acc;
    }
    bpfree_model_free(m);
}

/* F³-Error's hidden signal B^T (y* - y) shrinks as the net fits, so after a
 * few epochs F³ is behind DRTP (whose signal B^T y* never shrinks) on this
 * problem: about 1.5-2x DRTP's loss after 5 epochs over 12 seeds.  What a
 * sign error (storing y - y* after starting from y*: the hidden layers then
 * climb the loss from epoch 2 on) does instead — measured with the store
 * negated after every epoch, 12 seeds — is to make the loss rise again
 * within epochs 2-5, end above the last-layer-only baseline (hidden layers
 * that hurt) and 5-8x above DRTP.  The assertions sit between the two:
 * F³'s loss falls every epoch, ends below 0.4x its first epoch, below 0.75x
 * LLO's and below 3x DRTP's (12 seeds: at most 0.22x, 0.50x, 2.0x). */
static void test_f3_sign_learns(void **state) {
    (void)state;
    bpfree_dataset ds;
    blobs(&ds, 2024);
    double f[5], d[5], l[5], fa, da, la;
    train5("f3", &ds, f, &fa);
    train5("drtp", &ds, d, &da);
    train5("llo", &ds, l, &la);
    int falls = 1;
    for (int e = 1; e < 5; e++) falls &= f[e] < f[e - 1];
    int ok = falls && f[4] < 0.4 * f[0] && f[4] < 0.75 * l[4] && f[4] < 3.0 * d[4] && fa >= 0.95;
    if (!ok) {
        printf("  blobs, bce/tanh: training loss after epochs 1..5 (accuracy after 5)\n");
        const char *nm[] = {"f3", "drtp", "llo"};
        const double *v[] = {f, d, l}, acc[] = {fa, da, la};
        for (int k = 0; k < 3; k++)
            printf("    %-5s %.4f %.4f %.4f %.4f %.4f (%.3f)\n", nm[k], v[k][0], v[k][1],
                   v[k][2], v[k][3], v[k][4], acc[k]);
    }
    assert_true(falls);              /* later epochs, fed e = y* - y, keep learning */
    assert_true(f[4] < 0.4 * f[0]);
    assert_true(f[4] < 0.75 * l[4]); /* the hidden layers help, not hurt */
    assert_true(f[4] < 3.0 * d[4]);  /* not far behind the targets alone */
    assert_true(fa >= 0.95);
    bpfree_data_free(&ds);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f3_first_epoch_is_drtp),
        cmocka_unit_test(test_f3_uses_each_samples_stored_error),
        cmocka_unit_test(test_f3_onehot_and_softmax_variants),
        cmocka_unit_test(test_f3_loss_variant_bce),
        cmocka_unit_test(test_f3_loss_and_error_differ_by_step_size),
        cmocka_unit_test(test_f3_authors_scaling),
        cmocka_unit_test(test_f3_through_train_epoch),
        cmocka_unit_test(test_f3_sign_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
