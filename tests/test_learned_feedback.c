/* test_learned_feedback.c — direct feedback whose matrices learn (002):
 * DKP (Direct Kolen-Pollack) and FDFA (forward direct feedback alignment),
 * on tiny nets built through the public API:
 *   a. FDFA's feedback of the last hidden layer approaches W_out for a
 *      linear output (eq. 13), with the exponential average (eq. 8) and with
 *      Adam (eqs. 9-10); B is updated before it is used;
 *   b. DKP's feedback update and its hidden signal equal a hand computation
 *      over two steps;
 *   c. dkp and fdfa (Adam and eq. 8 feedback) each reduce the training loss
 *      on a small synthetic problem. */
#include "testutil.h"

/* tu_sgd_config's model (cross-entropy, keeping its gradients), its config
 * changed by tweak (if not NULL) first. */
static bpfree_model *make_model(const char *rule, int D, int C, int nh, const int *hidden,
                                bpfree_act act, int B, float lr, uint64_t seed,
                                void (*tweak)(bpfree_config *)) {
    bpfree_config cfg = tu_sgd_config(rule, D, C, nh, hidden, act, BPFREE_LOSS_CE, B, lr, seed, 2);
    if (tweak) tweak(&cfg);
    return tu_new_model(&cfg, 1);
}

static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* ------------------------------------------------ a. FDFA feedback -> W_L */

static void fb_ema(bpfree_config *c) {
    c->fb_optim = BPFREE_FB_EMA;
    c->fb_lr = 0.01f;
}

static void fb_adam(bpfree_config *c) {
    c->fb_optim = BPFREE_FB_ADAM;
    c->fb_lr = 2e-3f;
}

static void fdfa_feedback_case(void (*tweak)(bpfree_config *), const char *what) {
    enum { D = 6, C = 3, B = 16, STEPS = 3000 };
    const int hidden[] = {8, 5};
    /* lr 1e-20: the forward weights do not move (p - 1e-20 g == p) */
    bpfree_model *m = make_model("fdfa", D, C, 2, hidden, BPFREE_ACT_TANH, B, 1e-20f, 3, tweak);
    const int tB2 = find_tensor(m, "B2"), tB1 = find_tensor(m, "B1");
    const float *B2 = bp_tensor_ptr(m, tB2), *W3 = m->layers[2].W;
    const size_t n = m->tensors[tB2].n;
    assert_int_equal(n, (size_t)C * 5);
    assert_true(tu_maxabs(B2, n) == 0.0); /* line 3: B starts at zero */
    float *w0 = malloc(m->n_params * sizeof(float));
    assert_non_null(w0);
    memcpy(w0, m->params, m->n_params * sizeof(float));
    tu_fill_batch(m, B, 1000, -1.0f, 1.0f);
    tu_step_once(m, B);
    /* B is updated before it is used: the first step already moves layer 1 */
    assert_true(tu_maxabs(m->layers[0].gW, (size_t)8 * D) > 0.0);
    assert_true(tu_maxabs(bp_tensor_ptr(m, tB1), m->tensors[tB1].n) > 0.0);
    for (int s = 1; s < STEPS; s++) {
        tu_fill_batch(m, B, 1000 + (uint64_t)s, -1.0f, 1.0f);
        tu_step_once(m, B);
    }
    assert_memory_equal(w0, m->params, m->n_params * sizeof(float)); /* forward frozen */
    double cs = cosine(B2, W3, n);
    printf("  fdfa (%s): cos(B_2, W_3) = %.4f after %d steps\n", what, cs, STEPS);
    assert_true(cs > 0.95);
    free(w0);
    bpfree_model_free(m);
}

static void test_fdfa_feedback_learns_w_out_ema(void **state) {
    (void)state;
    fdfa_feedback_case(fb_ema, "eq. 8, alpha 0.01");
}

static void test_fdfa_feedback_learns_w_out_adam(void **state) {
    (void)state;
    fdfa_feedback_case(fb_adam, "Adam, alpha 2e-3");
}

/* ------------------------------------------------------ b. DKP by hand */

#define DKP_ALPHA 0.05f
#define DKP_WD 0.1f

static void dkp_sgd(bpfree_config *c) {
    c->fb_optim = BPFREE_FB_SGD;
    c->fb_lr = DKP_ALPHA;
    c->fb_wd = DKP_WD;
}

static void test_dkp_update_by_hand(void **state) {
    (void)state;
    enum { D = 5, C = 3, B = 6 };
    const int hidden[] = {4, 3};
    const int nh = 2;
    bpfree_model *m = make_model("dkp", D, C, 2, hidden, BPFREE_ACT_TANH, B, 0.1f, 9, dkp_sgd);
    int tb[2] = {find_tensor(m, "B1"), find_tensor(m, "B2")};
    for (int l = 0; l < nh; l++)
        assert_true(tu_maxabs(bp_tensor_ptr(m, tb[l]), m->tensors[tb[l]].n) == 0.0);
    /* reference forward (double) of the parameters before each step */
    double *zs[3], *hs[4], y[B * C], e[B * C];
    const int widths[] = {D, 4, 3, C};
    for (int l = 0; l < 4; l++) hs[l] = malloc(sizeof(double) * B * widths[l]);
    for (int l = 0; l < 3; l++) zs[l] = malloc(sizeof(double) * B * widths[l + 1]);
    for (int step = 0; step < 2; step++) {
        tu_fill_batch(m, B, 500 + (uint64_t)step, -1.0f, 1.0f);
        ref_forward(m, m->xb, B, 0.0, NULL, NULL, y, zs, hs);
        for (int r = 0; r < B; r++) { /* e = (softmax(y) - onehot) / B */
            double mx = y[r * C], s = 0.0;
            for (int c = 1; c < C; c++) mx = y[r * C + c] > mx ? y[r * C + c] : mx;
            for (int c = 0; c < C; c++) s += exp(y[r * C + c] - mx);
            for (int c = 0; c < C; c++)
                e[r * C + c] = (exp(y[r * C + c] - mx) / s - m->yb[r * C + c]) / B;
        }
        float Bwant[2][C * 4], gwant[2][4 * D];
        for (int l = 0; l < nh; l++) {
            const int n = widths[l + 1], I = widths[l];
            const float *Bl = bp_tensor_ptr(m, tb[l]);
            /* B_new = B - alpha (e^T h_l + wd B) */
            for (int c = 0; c < C; c++)
                for (int k = 0; k < n; k++) {
                    double gr = 0.0;
                    for (int r = 0; r < B; r++) gr += e[r * C + c] * hs[l + 1][r * n + k];
                    Bwant[l][c * n + k] =
                        (float)(Bl[c * n + k] - DKP_ALPHA * (gr + DKP_WD * Bl[c * n + k]));
                }
            /* hidden gW_l = ((e B_old) ⊙ f')^T h_{l-1} */
            for (int o = 0; o < n; o++)
                for (int k = 0; k < I; k++) {
                    double s = 0.0;
                    for (int r = 0; r < B; r++) {
                        double dh = 0.0;
                        for (int c = 0; c < C; c++) dh += e[r * C + c] * Bl[c * n + o];
                        double hh = hs[l + 1][r * n + o];
                        s += dh * (1.0 - hh * hh) * hs[l][r * I + k];
                    }
                    gwant[l][o * I + k] = (float)s;
                }
        }
        tu_step_once(m, B);
        for (int l = 0; l < nh; l++) {
            const int n = widths[l + 1], I = widths[l];
            if (!tu_close("dkp feedback", bp_tensor_ptr(m, tb[l]), Bwant[l], (size_t)C * n, 1e-6,
                          1e-4) ||
                !tu_close("dkp hidden gradient", m->layers[l].gW, gwant[l], (size_t)n * I, 1e-6,
                          1e-4)) {
                printf("  step %d, hidden layer %d\n", step + 1, l + 1);
                fail();
            }
            assert_true(tu_maxabs(bp_tensor_ptr(m, tb[l]), (size_t)C * n) > 1e-4);
            /* step 1: B was zero, so the hidden layers got no signal */
            if (step == 0) assert_true(tu_maxabs(m->layers[l].gW, (size_t)n * I) == 0.0);
            else assert_true(tu_maxabs(m->layers[l].gW, (size_t)n * I) > 1e-6);
        }
    }
    for (int l = 0; l < 4; l++) free(hs[l]);
    for (int l = 0; l < 3; l++) free(zs[l]);
    bpfree_model_free(m);
}

/* ---------------------------------------------------------- c. learning */

static void test_learned_feedback_learns(void **state) {
    (void)state;
    tu_rule_learns("dkp", 3e-3f, 0);
    tu_rule_learns("fdfa", 3e-3f, 0);
    tu_rule_learns("fdfa", 3e-3f, 1);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdfa_feedback_learns_w_out_ema),
        cmocka_unit_test(test_fdfa_feedback_learns_w_out_adam),
        cmocka_unit_test(test_dkp_update_by_hand),
        cmocka_unit_test(test_learned_feedback_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
