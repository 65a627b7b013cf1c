/* test_pepita.c — PEPITA (000 §III-H, eq. 5): a second forward pass on the
 * input modulated by the error through a fixed random F, no backward pass.
 * One step on a tiny net built through the public API equals the update
 * derived by hand in double — hidden layer (1/B) (h^s - h^m)^T x^m, last
 * layer (1/B) e_m^T h^m, biases still — and the check tells it from the
 * unmodulated input, a DFA-like f'(z) and the standard pass's error.
 * SGD without momentum, weight decay or schedule, so one step is
 * p_new = p_old - lr g and g = (p_old - p_new)/lr. */
#include "testutil.h"

enum { D = 6, Hn = 4, C = 3, B = 5 };

/* One pass of the net (D -> Hn -> C) in double on the input x (B, D): the
 * hidden layer's z1 and h1, the logits z2 (o2: the same, the output being
 * the identity) and e = softmax(z2) - y per sample. */
static void ref_pass(const double *x, const float *W1, const float *b1, const float *W2,
                     const float *b2, bpfree_act act, const float *y, double *z1, double *h1,
                     double *z2, double *o2, double *e) {
    ref_dense(x, W1, b1, B, D, Hn, act, z1, h1);
    ref_dense(h1, W2, b2, B, Hn, C, BPFREE_ACT_IDENTITY, z2, o2);
    for (int r = 0; r < B; r++) {
        double p[C];
        ref_predict_row(BPFREE_LOSS_CE, z2 + r * C, C, p);
        for (int c = 0; c < C; c++) e[r * C + c] = p[c] - y[r * C + c];
    }
}

static void pepita_check(bpfree_act act, bpfree_init init, float fscale, uint64_t seed) {
    const int hidden[] = {Hn};
    char ctx[80];
    snprintf(ctx, sizeof ctx, "pepita %s/%s F x%g", bpfree_act_name(act), bpfree_init_name(init),
             (double)fscale);
    bpfree_config cfg =
        tu_sgd_config("pepita", D, C, 1, hidden, act, BPFREE_LOSS_CE, B, 0.5f, seed, 5);
    cfg.init = init;
    cfg.pepita_f = fscale;
    bpfree_model *m = tu_new_model(&cfg, 1);
    assert_int_equal(m->n_layers, 2);
    tu_fill_batch(m, B, seed + 1, -1.0f, 1.0f);
    int tF = find_tensor(m, "F");
    assert_false(m->tensors[tF].trainable);
    assert_int_equal(m->tensors[tF].n, (size_t)D * C);
    const float *F = bp_tensor_ptr(m, tF); /* (D, C) */
    /* F = pepita_f * U(+-sqrt(6/D)) */
    double fb = fscale * sqrt(6.0 / D);
    assert_true(tu_maxabs(F, (size_t)D * C) <= fb * (1 + 1e-6));
    assert_true(tu_maxabs(F, (size_t)D * C) > 0.3 * fb);

    float *p0 = copy_floats(m->params, m->n_params);
    const bp_layer *L1 = &m->layers[0], *L2 = &m->layers[1];
    const float *W1 = p0 + L1->off, *b1 = W1 + Hn * D, *W2 = p0 + L2->off, *b2 = W2 + C * Hn;
    double x[B * D], z1[B * Hn], h1[B * Hn], z2[B * C], o2[B * C], e[B * C];
    double xm[B * D], zm1[B * Hn], hm1[B * Hn], zm2[B * C], om2[B * C], em[B * C];
    for (int i = 0; i < B * D; i++) x[i] = m->xb[i];
    /* standard pass and e = softmax(z^s) - y* per sample */
    ref_pass(x, W1, b1, W2, b2, act, m->yb, z1, h1, z2, o2, e);
    /* x^m = x + e F^T */
    for (int r = 0; r < B; r++)
        for (int d = 0; d < D; d++) {
            double s = x[r * D + d];
            for (int c = 0; c < C; c++) s += e[r * C + c] * F[d * C + c];
            xm[r * D + d] = s;
        }
    /* modulated pass */
    ref_pass(xm, W1, b1, W2, b2, act, m->yb, zm1, hm1, zm2, om2, em);
    /* dW_1 = (1/B) (h1^s - h1^m)^T x^m; dW_2 = (1/B) e_m^T h1^m; gb = 0 */
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    float *alt = tu_xmalloc(m->n_params * sizeof(float));
    memset(g, 0, m->n_params * sizeof(float));
    double dz1[B * Hn], dz2[B * C];
    float gbf[Hn > C ? Hn : C];
    for (int i = 0; i < B * Hn; i++) dz1[i] = (h1[i] - hm1[i]) / B;
    for (int i = 0; i < B * C; i++) dz2[i] = em[i] / B;
    ref_param_grads(dz1, xm, B, D, Hn, g + L1->off, gbf);
    ref_param_grads(dz2, hm1, B, Hn, C, g + L2->off, gbf);

    double loss = tu_step_once(m, B);
    assert_true(isfinite(loss));
    assert_true(check_all_updates(m, p0, g, ctx));
    assert_true(tu_maxabs(g + L1->off, Hn * D) > 1e-4);
    assert_true(tu_maxabs(g + L2->off, C * Hn) > 1e-3);
    /* biases did not move */
    assert_true(memcmp(L1->b, p0 + L1->off + Hn * D, Hn * sizeof(float)) == 0);
    assert_true(memcmp(L2->b, p0 + L2->off + C * Hn, C * sizeof(float)) == 0);

    if (fscale >= 0.5f) { /* the check tells the alternatives apart */
        /* hidden layer on the standard input x instead of x^m */
        memcpy(alt, g, m->n_params * sizeof(float));
        ref_param_grads(dz1, x, B, D, Hn, alt + L1->off, gbf);
        assert_true(update_differs(m, p0, "W1", alt, ctx, "the unmodulated input x"));
        /* hidden layer with f'(z) (a DFA-like chain rule) */
        double dzf[B * Hn];
        for (int i = 0; i < B * Hn; i++) dzf[i] = dz1[i] * ref_df(act, z1[i], h1[i]);
        ref_param_grads(dzf, xm, B, D, Hn, alt + L1->off, gbf);
        if (act != BPFREE_ACT_RELU) /* ReLU' is 0/1: may coincide where all active */
            assert_true(update_differs(m, p0, "W1", alt, ctx, "(h^s - h^m) ⊙ f'(z)"));
        /* last layer with the standard pass's error */
        memcpy(alt, g, m->n_params * sizeof(float));
        for (int i = 0; i < B * C; i++) dz2[i] = e[i] / B;
        ref_param_grads(dz2, hm1, B, Hn, C, alt + L2->off, gbf);
        assert_true(update_differs(m, p0, "W2", alt, ctx, "the standard pass's error"));
    }
    free(p0);
    free(g);
    free(alt);
    bpfree_model_free(m);
}

static void test_pepita_update(void **state) {
    (void)state;
    pepita_check(BPFREE_ACT_RELU, BPFREE_INIT_HE_UNIFORM, 0.05f, 51); /* the rule's defaults */
    pepita_check(BPFREE_ACT_TANH, BPFREE_INIT_HE_UNIFORM, 0.05f, 52);
    pepita_check(BPFREE_ACT_TANH, BPFREE_INIT_KAIMING_UNIFORM, 1.0f, 53); /* biases != 0 */
    pepita_check(BPFREE_ACT_RELU, BPFREE_INIT_HE_UNIFORM, 0.5f, 54);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pepita_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
