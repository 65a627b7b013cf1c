/* test_diagnose.c — --diagnose alignment: BP against itself is 0 degrees,
 * measuring does not change training, rules without an output layer are
 * refused, and a rule that leaves a layer alone reports NaN for it.
 * --diagnose variance: deterministic rules have none, forward gradients
 * have plenty, FDFA's (eq. 8 average) scales with alpha^2 (002 Fig. 5),
 * measuring leaves training bit-identical, rules with private state are
 * refused. */
#include "testutil.h"

static void make_data(bpfree_dataset *ds, int n, int D, int C) {
    bpfree_error err;
    assert_int_equal(bpfree_data_alloc(ds, n, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, 7);
    for (int i = 0; i < n; i++) {
        ds->labels[i] = i % C;
        for (int j = 0; j < D; j++)
            ds->x[(size_t)i * D + j] = bp_rng_normal(&r) * 0.5f + (j % C == i % C ? 1.0f : 0.0f);
    }
}

static bpfree_model *build_fb(const char *rule, int diag, float fb_lr, bpfree_error *err);
static bpfree_model *build(const char *rule, int diag, bpfree_error *err) {
    return build_fb(rule, diag, 0.0f, err);
}

static bpfree_model *build_fb(const char *rule, int diag, float fb_lr, bpfree_error *err) {
    const int hidden[] = {16, 8};
    bpfree_config cfg = tu_default_config(rule, 12, 3, 2, hidden, 10);
    cfg.act = BPFREE_ACT_TANH;
    cfg.diagnose = diag;
    cfg.diag_every = 2;
    cfg.diag_draws = 8;
    if (fb_lr > 0.0f) {
        cfg.fb_optim = BPFREE_FB_EMA;
        cfg.fb_lr = fb_lr;
    }
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(&cfg, &m, err);
    return st == BPFREE_OK ? m : NULL;
}

/* `rule` built twice, measuring nothing (a) and measuring diag (b), both
 * trained two epochs on ds; the second epoch's stats in sa, sb. */
static void train_pair(const char *rule, int diag, const bpfree_dataset *ds, bpfree_model **a,
                       bpfree_model **b, bpfree_epoch_stats *sa, bpfree_epoch_stats *sb) {
    bpfree_error err;
    *a = build(rule, 0, &err);
    *b = build(rule, diag, &err);
    assert_non_null(*a);
    assert_non_null(*b);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(bpfree_train_epoch(*a, ds, sa, &err), BPFREE_OK);
        assert_int_equal(bpfree_train_epoch(*b, ds, sb, &err), BPFREE_OK);
    }
}

static void test_bp_against_itself_is_zero(void **state) {
    (void)state;
    bpfree_dataset ds = {0};
    make_data(&ds, 60, 12, 3);
    bpfree_error err;
    bpfree_model *m = build("bp", BPFREE_DIAG_ALIGNMENT, &err);
    assert_non_null(m);
    bpfree_epoch_stats st;
    assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
    assert_int_equal(st.n_align, 3);
    for (int l = 0; l < 3; l++) {
        if (!(st.align_deg[l] < 0.1)) printf("  layer %d: %g degrees\n", l, st.align_deg[l]);
        assert_true(st.align_deg[l] < 0.1);
    }
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

static void test_measuring_does_not_change_training(void **state) {
    (void)state;
    const char *rules[] = {"bp", "dfa", "f3", "fdfa", "fg-a"};
    bpfree_dataset ds = {0};
    make_data(&ds, 60, 12, 3);
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        bpfree_model *a, *b;
        bpfree_epoch_stats sa, sb;
        train_pair(rules[i], BPFREE_DIAG_ALIGNMENT, &ds, &a, &b, &sa, &sb);
        assert_int_equal(sa.n_align, 0);
        assert_int_equal(sb.n_align, 3);
        int same = memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
        if (!same) printf("  %s: parameters differ when alignment is measured\n", rules[i]);
        assert_true(same);
        assert_true(sa.train_loss == sb.train_loss);
        /* a rule other than bp is not perfectly aligned with BP in its hidden layers */
        if (strcmp(rules[i], "bp") != 0) assert_true(sb.align_deg[0] > 1.0);
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    bpfree_data_free(&ds);
}

static void test_refusals_and_untouched_layers(void **state) {
    (void)state;
    bpfree_error err;
    assert_null(build("mf", BPFREE_DIAG_ALIGNMENT, &err));
    assert_int_equal(err.code, BPFREE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "output layer"));
    bpfree_dataset ds = {0};
    make_data(&ds, 60, 12, 3);
    bpfree_model *m = build("llo", BPFREE_DIAG_ALIGNMENT, &err);
    assert_non_null(m);
    bpfree_epoch_stats st;
    assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
    assert_true(isnan(st.align_deg[0]) && isnan(st.align_deg[1])); /* frozen */
    assert_true(st.align_deg[2] < 0.1);                           /* true gradient */
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

static void test_variance(void **state) {
    (void)state;
    bpfree_dataset ds = {0};
    make_data(&ds, 60, 12, 3);
    bpfree_error err;
    /* measuring leaves training bit-identical */
    const char *rules[] = {"bp", "fg-a", "fg-w", "lg-fg-a", "pepita"};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        bpfree_model *a, *b;
        bpfree_epoch_stats sa, sb;
        train_pair(rules[i], BPFREE_DIAG_VARIANCE, &ds, &a, &b, &sa, &sb);
        int same = memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
        if (!same) printf("  %s: parameters differ when variance is measured\n", rules[i]);
        assert_true(same);
        assert_int_equal(sb.n_var, 3);
        if (strcmp(rules[i], "bp") == 0 || strcmp(rules[i], "pepita") == 0)
            for (int l = 0; l < 3; l++) assert_true(sb.var_norm[l] == 0.0);
        else
            assert_true(sb.var_norm[0] > 0.05); /* a forward gradient is noisy */
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    /* FDFA with eq. 8: the spread of one step is alpha^2 Var(d v) */
    double raw[2];
    const float alphas[2] = {0.01f, 0.001f};
    for (int i = 0; i < 2; i++) {
        bpfree_model *m = build_fb("fdfa", BPFREE_DIAG_VARIANCE, alphas[i], &err);
        assert_non_null(m);
        bpfree_epoch_stats st;
        assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
        raw[i] = st.var_raw[0];
        bpfree_model_free(m);
    }
    double ratio = raw[0] / raw[1];
    if (!(ratio > 50.0 && ratio < 200.0)) printf("  fdfa variance ratio for alpha x10: %g\n", ratio);
    assert_true(ratio > 50.0 && ratio < 200.0);
    /* refusals: private state */
    assert_null(build("f3", BPFREE_DIAG_VARIANCE, &err));
    assert_int_equal(err.code, BPFREE_EUNSUPPORTED);
    assert_null(build("dkp", BPFREE_DIAG_VARIANCE, &err));
    assert_non_null(strstr(err.msg, "dkp"));
    bpfree_data_free(&ds);
}

/* --grad-noise V (Bacho & Chu 2024 Fig. 7): BP's gradient with noise of
 * variance V mean(g^2) over a layer's weights and biases has normalised
 * variance about V/(1+V) (measured over K draws: (K-1)/K of it; the biases'
 * larger gradients make it larger in narrow layers); the noise is deterministic per seed and threads,
 * changes training, and 0 changes nothing (the golden digests hold that). */
static void test_grad_noise(void **state) {
    (void)state;
    bpfree_dataset ds = {0};
    make_data(&ds, 60, 12, 3);
    bpfree_error err;
    const float V[] = {0.25f, 1.0f, 4.0f};
    double prev[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        bpfree_model *m[2];
        bpfree_epoch_stats st[2];
        for (int k = 0; k < 2; k++) {
            const int hidden[] = {16, 8};
            bpfree_config cfg = tu_default_config("bp", 12, 3, 2, hidden, 10);
            cfg.grad_noise = V[i];
            cfg.diagnose = BPFREE_DIAG_VARIANCE;
            cfg.diag_every = 1;
            cfg.diag_draws = 8;
            cfg.threads = 1 + k; /* 2 threads: the noise is drawn in one order */
            assert_int_equal(bpfree_model_new(&cfg, &m[k], &err), BPFREE_OK);
            assert_int_equal(bpfree_train_epoch(m[k], &ds, &st[k], &err), BPFREE_OK);
        }
        /* layer 1 (12 x 16 weights, 16 biases): the weights set the scale */
        const double want = V[i] / (1.0 + V[i]) * 7.0 / 8.0;
        if (fabs(st[0].var_norm[0] - want) > 0.25 * want)
            printf("  grad-noise %g: layer 1 var_norm %g, want about %g\n", (double)V[i],
                   st[0].var_norm[0], want);
        assert_true(fabs(st[0].var_norm[0] - want) <= 0.25 * want);
        for (int l = 0; l < 3; l++) { /* more noise, more variance, in every layer */
            assert_true(st[0].var_norm[l] > prev[l]);
            prev[l] = st[0].var_norm[l];
        }
        /* one thread or two: the same numbers (the noise and the unfused step) */
        assert_memory_equal(m[0]->params, m[1]->params, m[0]->n_params * sizeof(float));
        bpfree_model_free(m[0]);
        bpfree_model_free(m[1]);
    }
    bpfree_set_threads(1);
    bpfree_data_free(&ds);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bp_against_itself_is_zero),
        cmocka_unit_test(test_measuring_does_not_change_training),
        cmocka_unit_test(test_refusals_and_untouched_layers),
        cmocka_unit_test(test_variance),
        cmocka_unit_test(test_grad_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
