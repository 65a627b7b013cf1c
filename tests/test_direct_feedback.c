/* test_direct_feedback.c — the rules whose hidden layers get the error (or
 * the target) straight from the output through a fixed random matrix, no
 * chain of layers: DFA, DRTP and LLO (the last layer only), on tiny nets
 * built through the public API and checked through the model's internal
 * fields:
 *   a. DFA's update equals e B_l carried to each hidden layer (002 §2.4
 *      eq. 6), not BP's e W_out;
 *   b. DRTP's hidden update is (1/B) y* B_l carried through f' (positive
 *      sign), on the previous layer's pre-update activation; the output
 *      layer's is its true gradient;
 *   c. LLO leaves the hidden layers untouched;
 *   d. the feedback initialisations (001 §4.3), down to the feedback
 *      matrices of a model.
 * Hand computations in double; SGD without momentum, weight decay or
 * schedule, so one step is p_new = p_old - lr g and g = (p_old - p_new)/lr. */
#include "testutil.h"

/* ----------------------------------------------------------- a. DFA */

/* The error e (B, C) carried to a hidden layer of n units by the matrix
 * F (C, n), in double: dz = (e F) ⊙ f'(z), from the layer's z and h. */
static void ref_carry(const double *e, const float *F, const double *z, const double *h,
                      bpfree_act act, int B, int C, int n, double *dz) {
    for (int r = 0; r < B; r++)
        for (int k = 0; k < n; k++) {
            double s = 0.0;
            for (int c = 0; c < C; c++) s += e[r * C + c] * F[(size_t)c * n + k];
            size_t j = (size_t)r * n + k;
            dz[j] = s * ref_df(act, z[j], h[j]);
        }
}

/* Layer k's (from 1) update and stored gradient against those of its
 * signal dz (B, O) on its input x (B, I): gW = dz^T x, gb = sum dz. */
static void check_layer_update(const bpfree_model *m, const float *p0, int k, const double *dz,
                               const double *x, int B, int I, int O, const char *what) {
    float *gW = malloc((size_t)O * I * sizeof(float)), *gb = malloc((size_t)O * sizeof(float));
    assert_non_null(gW);
    assert_non_null(gb);
    ref_param_grads(dz, x, B, I, O, gW, gb);
    char name[16];
    snprintf(name, sizeof name, "W%d", k);
    check_tensor_update(m, p0, name, gW, what);
    snprintf(name, sizeof name, "b%d", k);
    check_tensor_update(m, p0, name, gb, what);
    free(gW);
    free(gb);
}

static void dfa_check(int nh, const int *hidden, bpfree_act act, uint64_t seed) {
    enum { D = 5, C = 3, B = 6 };
    const float lr = 0.5f;
    const char *ctx = bpfree_act_name(act);
    bpfree_model *m = tu_sgd_model("dfa", D, C, nh, hidden, act, BPFREE_LOSS_CE, B, lr, seed, 2);
    assert_int_equal(m->n_layers, nh + 1);
    tu_fill_batch(m, B, seed + 5, -1.0f, 1.0f);
    float *p0 = copy_floats(m->params, m->n_params);

    /* forward in double, keeping every layer's z and h */
    double *h[BPFREE_MAX_LAYERS + 1], *z[BPFREE_MAX_LAYERS + 1];
    int width[BPFREE_MAX_LAYERS + 1];
    width[0] = D;
    h[0] = malloc((size_t)B * D * sizeof(double));
    assert_non_null(h[0]);
    for (int i = 0; i < B * D; i++) h[0][i] = m->xb[i];
    for (int l = 0; l <= nh; l++) {
        const bp_layer *L = &m->layers[l];
        width[l + 1] = L->out;
        h[l + 1] = malloc((size_t)B * L->out * sizeof(double));
        z[l + 1] = malloc((size_t)B * L->out * sizeof(double));
        assert_non_null(h[l + 1]);
        assert_non_null(z[l + 1]);
        ref_dense(h[l], p0 + L->off, p0 + L->off + (size_t)L->out * L->in, B, L->in, L->out,
                  l < nh ? act : BPFREE_ACT_IDENTITY, z[l + 1], h[l + 1]);
    }
    assert_int_equal(width[nh + 1], C);
    double e[B * C];
    ref_softmax_ce(h[nh + 1], m->yb, B, C, e); /* e = (softmax(z) - y) / B */

    tu_step_once(m, B);

    char name[16], what[128];
    for (int l = 0; l < nh; l++) {
        const int n = width[l + 1], I = width[l];
        snprintf(name, sizeof name, "B%d", l + 1);
        int tf = find_tensor(m, name);
        assert_false(m->tensors[tf].trainable);
        assert_int_equal(m->tensors[tf].n, (size_t)C * n);
        const float *Bf = bp_tensor_ptr(m, tf); /* (C, n) */
        double *dz = malloc((size_t)B * n * sizeof(double));
        double *dz_bp = malloc((size_t)B * n * sizeof(double));
        float *gW_bp = malloc((size_t)n * I * sizeof(float)), *gb_bp = malloc(n * sizeof(float));
        assert_non_null(dz);
        assert_non_null(dz_bp);
        assert_non_null(gW_bp);
        assert_non_null(gb_bp);
        /* delta_h = e B_l (B, n);  dz = delta_h ⊙ f'(z_l) */
        ref_carry(e, Bf, z[l + 1], h[l + 1], act, B, C, n, dz);
        snprintf(what, sizeof what, "dfa %s %d hidden", ctx, nh);
        check_layer_update(m, p0, l + 1, dz, h[l], B, I, n, what);

        /* The check discriminates DFA from BP: with the transported weights
         * (last hidden layer: delta_h = e W_out) the W gradient differs. */
        if (l == nh - 1) {
            const bp_layer *Lo = &m->layers[nh];
            const float *Wo = p0 + Lo->off; /* (C, n) */
            ref_carry(e, Wo, z[l + 1], h[l + 1], act, B, C, n, dz_bp);
            ref_param_grads(dz_bp, h[l], B, I, n, gW_bp, gb_bp);
            snprintf(name, sizeof name, "W%d", l + 1);
            const float *g = bp_tensor_grad(m, find_tensor(m, name));
            int differs = clearly_differs(g, gW_bp, (size_t)n * I, 1e-5, 1e-3);
            if (!differs)
                printf("  %s: DFA update equals BP's (largest diff %g)\n", what,
                       tu_maxdiff(g, gW_bp, (size_t)n * I));
            assert_true(differs);
        }
        free(dz);
        free(dz_bp);
        free(gW_bp);
        free(gb_bp);
    }
    /* output layer: its true gradient, dW = e^T h_L, db = sum e */
    snprintf(what, sizeof what, "dfa %s %d hidden, output layer", ctx, nh);
    check_layer_update(m, p0, nh + 1, e, h[nh], B, width[nh], C, what);
    for (int l = 0; l <= nh + 1; l++) {
        free(h[l]);
        if (l > 0) free(z[l]);
    }
    free(p0);
    bpfree_model_free(m);
}

static void test_dfa_updates(void **state) {
    (void)state;
    const int one[] = {4}, two[] = {6, 4};
    dfa_check(1, one, BPFREE_ACT_TANH, 31);
    dfa_check(1, one, BPFREE_ACT_SIGMOID, 32);
    /* two hidden layers: each gets e B_l directly, not through layer 2 */
    dfa_check(2, two, BPFREE_ACT_TANH, 33);
}

/* ---------------------------------------------------------- b. DRTP */

static void drtp_check(bpfree_act act, bpfree_loss loss, uint64_t seed) {
    enum { D = 5, C = 3, B = 6 };
    const int hidden[] = {6, 4};
    char ctx[64];
    snprintf(ctx, sizeof ctx, "drtp %s/%s", bpfree_act_name(act), bpfree_loss_name(loss));
    bpfree_model *m = tu_sgd_model("drtp", D, C, 2, hidden, act, loss, B, 0.5f, seed, 5);
    assert_int_equal(m->n_layers, 3);
    tu_fill_batch(m, B, seed + 3, -1.0f, 1.0f);
    float *p0 = copy_floats(m->params, m->n_params);
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    float *alt = tu_xmalloc(m->n_params * sizeof(float));
    double E[B * C];
    for (int i = 0; i < B * C; i++) E[i] = m->yb[i]; /* delta_h_l = (1/B) y* B_l */
    ref_onepass(m, p0, m->xb, m->yb, E, B, g, NULL);
    tu_step_once(m, B);
    assert_true(check_all_updates(m, p0, g, ctx));
    for (int l = 1; l <= 3; l++) {
        char name[8];
        snprintf(name, sizeof name, "W%d", l);
        const bp_tensor *x = &m->tensors[find_tensor(m, name)];
        if (tu_maxabs(g + x->off, x->n) <= 1e-3) printf("  %s: reference %s ~0\n", ctx, name);
        assert_true(tu_maxabs(g + x->off, x->n) > 1e-3);
    }
    /* the check tells the sign: -y* B_l is not accepted */
    for (int i = 0; i < B * C; i++) E[i] = -m->yb[i];
    ref_onepass(m, p0, m->xb, m->yb, E, B, alt, NULL);
    assert_true(update_differs(m, p0, "W1", alt, ctx, "the sign-flipped -y* B_1"));
    /* and it tells pre- from post-update input: layer 2's gradient from
     * layer 1's updated activation differs */
    {
        float *p1 = copy_floats(p0, m->n_params);
        const bp_layer *L1 = &m->layers[0];
        memcpy(p1 + L1->off, m->params + L1->off,
               ((size_t)L1->out * L1->in + L1->out) * sizeof(float));
        for (int i = 0; i < B * C; i++) E[i] = m->yb[i];
        ref_onepass(m, p1, m->xb, m->yb, E, B, alt, NULL);
        assert_true(update_differs(m, p0, "W2", alt, ctx, "the post-update input of layer 2"));
        free(p1);
    }
    free(p0);
    free(g);
    free(alt);
    bpfree_model_free(m);
}

static void test_drtp_update(void **state) {
    (void)state;
    drtp_check(BPFREE_ACT_TANH, BPFREE_LOSS_BCE, 41); /* the original setup */
    drtp_check(BPFREE_ACT_TANH, BPFREE_LOSS_CE, 42);
    drtp_check(BPFREE_ACT_SIGMOID, BPFREE_LOSS_BCE, 43);
    drtp_check(BPFREE_ACT_RELU, BPFREE_LOSS_CE, 44);
}

/* ----------------------------------------------------------- c. LLO */

static void test_llo_freezes_hidden_layers(void **state) {
    (void)state;
    enum { D = 6, C = 3, B = 5 };
    const int hidden[] = {7, 5};
    bpfree_model *m = tu_sgd_model("llo", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, B,
                                   0.5f, 61, 5);
    float *init = copy_floats(m->params, m->n_params);
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    /* first step: the output layer on its true gradient, nothing else */
    tu_fill_batch(m, B, 1, -1.0f, 1.0f);
    ref_onepass(m, init, m->xb, m->yb, NULL, B, g, NULL);
    tu_step_once(m, B);
    assert_true(check_all_updates(m, init, g, "llo, step 1"));
    for (int s = 1; s < 6; s++) {
        tu_fill_batch(m, B - (s % 2), 1 + (uint64_t)s, -1.0f, 1.0f);
        tu_step_once(m, B - (s % 2));
    }
    bpfree_dataset ds;
    bpfree_error err = {0};
    tu_make_indexed_dataset(&ds, 23, D, C, 0.8f, 3, 0);
    assert_int_equal(bpfree_train_epoch(m, &ds, NULL, &err), BPFREE_OK);
    for (int l = 0; l < 2; l++) {
        const bp_layer *L = &m->layers[l];
        size_t n = (size_t)L->out * L->in + L->out;
        int same = memcmp(m->params + L->off, init + L->off, n * sizeof(float)) == 0;
        if (!same)
            printf("  llo: hidden layer %d moved by up to %g\n", l + 1,
                   tu_maxdiff(m->params + L->off, init + L->off, n));
        assert_true(same);
    }
    const bp_layer *Lo = &m->layers[2];
    size_t no = (size_t)Lo->out * Lo->in;
    assert_true(memcmp(m->params + Lo->off, init + Lo->off, no * sizeof(float)) != 0);
    assert_true(memcmp(Lo->b, init + Lo->off + no, (size_t)Lo->out * sizeof(float)) != 0);
    bpfree_data_free(&ds);
    free(init);
    free(g);
    bpfree_model_free(m);
}

/* ---------------------------------------- d. feedback initialisations */

static void test_feedback_inits(void **state) {
    (void)state;
    bp_rng r;
    bp_rng_seed(&r, 4);
    enum { FO = 300, FI = 400, N = FO * FI };
    float *w = tu_xmalloc(N * sizeof(float));

    /* trinomial: exactly -1, 0, 1, each about a third of the time */
    bp_init_fill(&r, w, FO, FI, BPFREE_INIT_TRINOMIAL, 0.0f);
    long cnt[3] = {0, 0, 0}, other = 0;
    for (int i = 0; i < N; i++) {
        if (w[i] == -1.0f) cnt[0]++;
        else if (w[i] == 0.0f) cnt[1]++;
        else if (w[i] == 1.0f) cnt[2]++;
        else other++;
    }
    if (other) printf("  trinomial: %ld values outside {-1, 0, 1}\n", other);
    assert_int_equal(other, 0);
    for (int k = 0; k < 3; k++) {
        /* N/3 = 40000, sd ~163: +-1200 is > 7 sd */
        if (labs(cnt[k] - N / 3) > 1200)
            printf("  trinomial: %ld / %ld / %ld of -1 / 0 / 1\n", cnt[0], cnt[1], cnt[2]);
        assert_true(labs(cnt[k] - N / 3) <= 1200);
    }

    /* binomial: exactly 0 and 1, about half each */
    bp_init_fill(&r, w, FO, FI, BPFREE_INIT_BINOMIAL, 0.0f);
    long ones = 0;
    other = 0;
    for (int i = 0; i < N; i++) {
        if (w[i] == 1.0f) ones++;
        else if (w[i] != 0.0f) other++;
    }
    assert_int_equal(other, 0);
    if (labs(ones - N / 2) > 1500) printf("  binomial: %ld ones of %d\n", ones, N);
    assert_true(labs(ones - N / 2) <= 1500); /* sd ~173 */

    /* pm-identity: [I, -I, I(partial)] along the larger dimension */
    {
        static const float want37[3 * 7] = {
            1, 0, 0, -1, 0,  0,  1, /* */
            0, 1, 0, 0,  -1, 0,  0, /* */
            0, 0, 1, 0,  0,  -1, 0,
        };
        static const float want73[7 * 3] = {
            1,  0,  0, /* */ 0,  1, 0, /* */ 0, 0, 1,  /* I */
            -1, 0,  0, /* */ 0, -1, 0, /* */ 0, 0, -1, /* -I */
            1,  0,  0,                                  /* I, partial */
        };
        float v[21];
        for (int i = 0; i < 21; i++) v[i] = 42.0f;
        bp_init_fill(&r, v, 3, 7, BPFREE_INIT_PM_IDENTITY, 0.0f);
        assert_true(tu_close("pm-identity 3x7", v, want37, 21, 0.0, 0.0));
        for (int i = 0; i < 21; i++) v[i] = 42.0f;
        bp_init_fill(&r, v, 7, 3, BPFREE_INIT_PM_IDENTITY, 0.0f);
        assert_true(tu_close("pm-identity 7x3", v, want73, 21, 0.0, 0.0));
        /* square: the identity */
        float sq[16], id[16];
        for (int i = 0; i < 16; i++) id[i] = i % 5 == 0;
        bp_init_fill(&r, sq, 4, 4, BPFREE_INIT_PM_IDENTITY, 0.0f);
        assert_true(tu_close("pm-identity 4x4", sq, id, 16, 0.0, 0.0));
    }

    /* kaiming-uniform within +-1/sqrt(fan_in), he-uniform within
     * +-sqrt(6/fan_in), and both fill their range */
    {
        const int fo = 50, fi = 37;
        const double ka = 1.0 / sqrt((double)fi), he = sqrt(6.0 / fi);
        bp_init_fill(&r, w, fo, fi, BPFREE_INIT_KAIMING_UNIFORM, 0.0f);
        double mk = tu_maxabs(w, (size_t)fo * fi);
        if (!(mk <= ka * (1 + 1e-6) && mk > 0.95 * ka))
            printf("  kaiming: max |w| %g, bound %g\n", mk, ka);
        assert_true(mk <= ka * (1 + 1e-6) && mk > 0.95 * ka);
        bp_init_fill(&r, w, fo, fi, BPFREE_INIT_HE_UNIFORM, 0.0f);
        double mh = tu_maxabs(w, (size_t)fo * fi);
        if (!(mh <= he * (1 + 1e-6) && mh > 0.95 * he))
            printf("  he: max |w| %g, bound %g\n", mh, he);
        assert_true(mh <= he * (1 + 1e-6) && mh > 0.95 * he);
    }
    assert_int_equal(bpfree_init_parse("kaiming"), BPFREE_INIT_KAIMING_UNIFORM);
    assert_int_equal(bpfree_init_parse("kaiming-uniform"), BPFREE_INIT_KAIMING_UNIFORM);
    assert_int_equal(bpfree_init_parse("trinomial"), BPFREE_INIT_TRINOMIAL);
    assert_int_equal(bpfree_init_parse("binomial"), BPFREE_INIT_BINOMIAL);
    assert_int_equal(bpfree_init_parse("pm-identity"), BPFREE_INIT_PM_IDENTITY);
    assert_int_equal(bpfree_init_parse("he-uniform"), BPFREE_INIT_HE_UNIFORM);

    /* through a model: --feedback-init reaches the feedback matrices of
     * DRTP and F³ (B_l is (C, n_l): pm-identity of a 3 x 5 matrix) */
    {
        const int hidden[] = {5, 8};
        const char *rules[] = {"drtp", "f3"};
        for (int k = 0; k < 2; k++) {
            bpfree_config c = tu_sgd_config(rules[k], 4, 3, 2, hidden, BPFREE_ACT_TANH,
                                            BPFREE_LOSS_CE, 4, 0.1f, 1, 5);
            c.feedback_init = BPFREE_INIT_PM_IDENTITY;
            bpfree_model *m = tu_new_model(&c, 1);
            float want[3 * 8];
            bp_init_fill(&r, want, 3, 5, BPFREE_INIT_PM_IDENTITY, 0.0f);
            assert_true(tu_close("model B1 pm-identity", bp_tensor_ptr(m, find_tensor(m, "B1")),
                                 want, 15, 0.0, 0.0));
            bp_init_fill(&r, want, 3, 8, BPFREE_INIT_PM_IDENTITY, 0.0f);
            assert_true(tu_close("model B2 pm-identity", bp_tensor_ptr(m, find_tensor(m, "B2")),
                                 want, 24, 0.0, 0.0));
            bpfree_model_free(m);
            c.feedback_init = BPFREE_INIT_TRINOMIAL;
            m = tu_new_model(&c, 1);
            const float *b2 = bp_tensor_ptr(m, find_tensor(m, "B2"));
            for (int i = 0; i < 24; i++)
                assert_true(b2[i] == -1.0f || b2[i] == 0.0f || b2[i] == 1.0f);
            bpfree_model_free(m);
        }
    }
    free(w);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dfa_updates),
        cmocka_unit_test(test_drtp_update),
        cmocka_unit_test(test_llo_freezes_hidden_layers),
        cmocka_unit_test(test_feedback_inits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
