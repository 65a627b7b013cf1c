/* test_forward_gradient.c — forward gradients (002): FG-W, FG-A and LG-FG-A
 * estimate the gradient from one forward-mode directional derivative along
 * a random direction, no backward pass:
 *   a. bp_normal_fill, the directions' draws, is N(0, 1) to float
 *      precision (moments, CDF, tails; each draw against libm's Box–Muller
 *      in double) and independent of how a count is split into calls;
 *   b. the forward-mode tangent (tangent.c) equals J v by central
 *      differences of the network output along the same direction, for
 *      weight, activity and both perturbations, with tanh and ReLU;
 *   c. FG-W and FG-A are unbiased: the mean of K estimates approaches BP's
 *      gradient, and the error shrinks with K (64 vs 4096); FG-A with
 *      --fg-output exact too, its output layer exact at every draw; LG-FG-A's
 *      is unbiased for each block's own loss;
 *   d. fg-w, fg-a and lg-fg-a each reduce the training loss on a small
 *      synthetic problem. */
#include "testutil.h"

/* ------------------------------------------------------- a. the draws */

/* bp_normal_fill (the draws of every forward-gradient rule): N(0, 1) to
 * float precision — mean, variance, fourth moment, the CDF at 9 points, the
 * tails, no correlation within a Box–Muller pair — and the same numbers
 * however a count is split into calls of even size. */
static void test_normal_fill(void **state) {
    (void)state;
    enum { N = 2000001 };
    float *v = malloc(N * sizeof *v), *w = malloc(N * sizeof *w);
    assert_non_null(v);
    assert_non_null(w);
    bp_rng r;
    bp_rng_seed(&r, 12345);
    bp_normal_fill(&r, v, N);
    double m1 = 0, m2 = 0, m4 = 0, pair = 0;
    long tail2 = 0, tail3 = 0, tail4 = 0, below[9] = {0};
    const double zs[9] = {-2.5, -2, -1, -0.5, 0, 0.5, 1, 2, 2.5};
    for (int i = 0; i < N; i++) {
        const double x = v[i];
        assert_true(isfinite(x));
        m1 += x, m2 += x * x, m4 += x * x * x * x;
        assert_true(fabs(x) < 5.7686); /* sqrt(-2 ln 2^-24): u1 >= 2^-24 */
        tail2 += fabs(x) > 2.0;
        tail3 += fabs(x) > 3.0;
        tail4 += fabs(x) > 4.0;
        for (int k = 0; k < 9; k++) below[k] += x <= zs[k];
        if (i % 2 == 1) pair += (double)v[i - 1] * x;
    }
    m1 /= N, m2 /= N, m4 /= N, pair /= N / 2;
    printf("  mean %.5f  var %.5f  E x^4 %.4f  pair corr %.5f  P(|x|>2) %.5f  P(|x|>3) %.6f  "
           "P(|x|>4) %.2e\n", m1, m2, m4, pair, (double)tail2 / N, (double)tail3 / N,
           (double)tail4 / N);
    /* tolerances ~ 5 standard errors at N = 2e6 */
    assert_true(fabs(m1) < 0.0036);
    assert_true(fabs(m2 - 1.0) < 0.005);
    assert_true(fabs(m4 - 3.0) < 0.035);
    assert_true(fabs(pair) < 0.005);
    assert_true(fabs((double)tail2 / N - 0.0455003) < 0.00074);
    assert_true(fabs((double)tail3 / N - 0.0026998) < 0.00019);
    assert_true(fabs((double)tail4 / N - 6.334e-5) < 2.9e-5);
    for (int k = 0; k < 9; k++) {
        const double phi = 0.5 * erfc(-zs[k] / sqrt(2.0));
        assert_true(fabs((double)below[k] / N - phi) < 0.0018);
    }
    /* the same stream in pieces of even size (and an odd tail) */
    bp_rng_seed(&r, 12345);
    bp_normal_fill(&r, w, 1000);
    bp_normal_fill(&r, w + 1000, 2);
    bp_normal_fill(&r, w + 1002, N - 1002);
    assert_true(memcmp(v, w, N * sizeof *v) == 0);
    free(v);
    free(w);
}

/* Every draw of bp_normal_fill against Box–Muller in double with libm's
 * log, cos and sin on the same bits (one u64 a pair: u1 = (k >> 40) + 1,
 * u2 = bits 8..31, each times 2^-24): the vector polynomials are within
 * 2e-6 (|z| < 5.77: a few float ulp), whichever clone the CPU picked. */
static void test_normal_fill_reference(void **state) {
    (void)state;
    enum { N = 1000000 };
    float *v = malloc(N * sizeof *v);
    assert_non_null(v);
    bp_rng r, q;
    bp_rng_seed(&r, 2024);
    q = r;
    bp_normal_fill(&r, v, N);
    double worst = 0.0;
    for (int i = 0; i < N; i += 2) {
        const uint64_t k = bp_rng_u64(&q);
        const double u1 = ((double)(k >> 40) + 1.0) * 0x1.0p-24;
        const double u2 = (double)((k >> 8) & 0xffffffu) * 0x1.0p-24;
        const double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        worst = fmax(worst, fmax(fabs(v[i] - rad * cos(th)), fabs(v[i + 1] - rad * sin(th))));
    }
    printf("  largest difference from libm's Box-Muller in double: %.2e\n", worst);
    assert_true(worst < 2e-6);
    /* and the generator is left where the reference's is */
    assert_true(bp_rng_u64(&r) == bp_rng_u64(&q));
    free(v);
}

/* ------------------------------------------------------- b. tangent */

static void tangent_case(bpfree_act act, int weights, int acts, uint64_t seed) {
    enum { D = 5, C = 3, B = 4 };
    const int hidden[] = {6, 4};
    const double eps = 1e-4;
    bpfree_model *m = tu_sgd_model("fg-a", D, C, 2, hidden, act, BPFREE_LOSS_CE, B, 0.1f, seed, 2);
    const int L = m->n_layers;
    tu_fill_batch(m, B, seed + 1, -1.0f, 1.0f);
    bp_rng r;
    bp_rng_seed(&r, seed + 2);
    float *V = calloc(m->n_params, sizeof(float));
    float *u[BPFREE_MAX_LAYERS] = {0};
    assert_non_null(V);
    bp_perturb p;
    memset(&p, 0, sizeof p);
    for (int l = 0; l < L; l++) {
        const bp_layer *Ly = &m->layers[l];
        if (weights) {
            bp_normal_fill(&r, V + Ly->off, (size_t)Ly->out * Ly->in + Ly->out);
            p.V[l] = V + Ly->off;
            p.vb[l] = V + Ly->off + (size_t)Ly->out * Ly->in;
        }
        if (acts) {
            u[l] = malloc(sizeof(float) * B * Ly->out);
            assert_non_null(u[l]);
            bp_normal_fill(&r, u[l], (size_t)B * Ly->out);
            p.u[l] = u[l];
        }
    }
    /* the library's tangent */
    float *h[BPFREE_MAX_LAYERS + 1] = {0}, *t[2], dout[B * C];
    for (int l = 0; l < L; l++) h[l + 1] = malloc(sizeof(float) * B * m->layers[l].out);
    t[0] = malloc(sizeof(float) * B * bp_max_width(m));
    t[1] = malloc(sizeof(float) * B * bp_max_width(m));
    bp_tangent_forward(m, &p, m->xb, h, t, dout, B);
    /* the forward part is the plain forward */
    float plain[B * C];
    bp_forward_pingpong(m, m->xb, B, t[0], t[1], plain);
    assert_memory_equal(plain, h[L], sizeof plain);
    /* central differences in double */
    double yp[B * C], ym[B * C];
    float fd[B * C];
    ref_forward(m, m->xb, B, eps, weights ? V : NULL, acts ? u : NULL, yp, NULL, NULL);
    ref_forward(m, m->xb, B, -eps, weights ? V : NULL, acts ? u : NULL, ym, NULL, NULL);
    for (int i = 0; i < B * C; i++) fd[i] = (float)((yp[i] - ym[i]) / (2 * eps));
    assert_true(tu_maxabs(fd, B * C) > 0.1); /* not vacuous */
    if (!tu_close("tangent vs central differences", dout, fd, B * C, 2e-4, 2e-3)) {
        printf("  act %s, weights %d, activities %d\n", bpfree_act_name(act), weights, acts);
        fail();
    }
    for (int l = 0; l < L; l++) {
        free(h[l + 1]);
        free(u[l]);
    }
    free(t[0]);
    free(t[1]);
    free(V);
    bpfree_model_free(m);
}

static void test_tangent_tanh(void **state) {
    (void)state;
    tangent_case(BPFREE_ACT_TANH, 1, 0, 11);
    tangent_case(BPFREE_ACT_TANH, 0, 1, 12);
    tangent_case(BPFREE_ACT_TANH, 1, 1, 13);
}

static void test_tangent_relu(void **state) {
    (void)state;
    tangent_case(BPFREE_ACT_RELU, 1, 0, 21);
    tangent_case(BPFREE_ACT_RELU, 0, 1, 22);
    tangent_case(BPFREE_ACT_RELU, 1, 1, 23);
}

/* ---------------------------------------------------- c. unbiasedness */

static double norm2(const double *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return sqrt(s);
}

/* Relative error ||mean_K g - g_bp|| / ||g_bp|| at K = 64 and K = 4096.
 * fg_exact: fg-a's --fg-output exact, whose output layer (W3, b3) gets BP's
 * gradient at every draw. */
static void unbiased_case(const char *rule, int fg_exact, double max_err) {
    enum { D = 5, C = 3, B = 6, K1 = 64, K2 = 4096 };
    const int hidden[] = {4, 3};
    bpfree_model *m = tu_sgd_model(rule, D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                   B, 0.1f, 5, 2);
    if (fg_exact) m->cfg.fg_output = BPFREE_FGOUT_EXACT;
    bpfree_model *bp = tu_sgd_model("bp", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                    B, 0.1f, 5, 2);
    const size_t np = m->n_params;
    assert_int_equal(np, bp->n_params);
    tu_fill_batch(m, B, 77, -1.0f, 1.0f);
    tu_fill_batch(bp, B, 77, -1.0f, 1.0f);
    float *p0 = malloc(np * sizeof(float));
    double *sum = calloc(np, sizeof(double)), *g = malloc(np * sizeof(double)),
           *diff = malloc(np * sizeof(double));
    assert_non_null(p0);
    assert_non_null(sum);
    memcpy(p0, m->params, np * sizeof(float));
    memcpy(bp->params, p0, np * sizeof(float));
    tu_step_once(bp, B);
    for (size_t i = 0; i < np; i++) g[i] = bp->grads[i];
    const double gn = norm2(g, np);
    assert_true(gn > 1e-3);
    double err1 = 0.0, err2 = 0.0;
    for (int k = 1; k <= K2; k++) {
        memcpy(m->params, p0, np * sizeof(float));
        tu_step_once(m, B);
        for (size_t i = 0; i < np; i++) sum[i] += m->grads[i];
        if (fg_exact && k == 1) {
            const size_t o = m->layers[2].off, n = (size_t)C * 3 + C;
            assert_true(tu_close("fg-a exact output layer", m->grads + o, bp->grads + o, n, 1e-6,
                                 1e-4));
            double off = 0.0; /* layer 1's is an estimate, not BP's */
            for (size_t i = 0; i < (size_t)4 * D + 4; i++) off += fabs(m->grads[i] - bp->grads[i]);
            assert_true(off > 1e-3);
        }
        if (k == K1 || k == K2) {
            for (size_t i = 0; i < np; i++) diff[i] = sum[i] / k - g[i];
            *(k == K1 ? &err1 : &err2) = norm2(diff, np) / gn;
        }
    }
    printf("  %s%s: relative error of the mean estimate: K=%d %.3f, K=%d %.3f\n", rule,
           fg_exact ? " (exact output)" : "", K1, err1, K2, err2);
    assert_true(err2 < max_err);
    assert_true(err2 < err1 / 3.0); /* ~1/sqrt(K): 8x in theory */
    free(p0);
    free(sum);
    free(g);
    free(diff);
    bpfree_model_free(m);
    bpfree_model_free(bp);
}

static void test_fgw_unbiased(void **state) {
    (void)state;
    unbiased_case("fg-w", 0, 0.25);
}

static void test_fga_unbiased(void **state) {
    (void)state;
    unbiased_case("fg-a", 0, 0.25);
    unbiased_case("fg-a", 1, 0.25);
}

/* LG-FG-A: layer 1's estimate is unbiased for the gradient of its own head's
 * loss (which Mono-Forward computes exactly with the same W1, b1, M1), the
 * last hidden layer's for the network loss (BP's gradient), and the output
 * layer and M1 get their true gradients at every draw. */
static void test_lgfga_unbiased_local(void **state) {
    (void)state;
    enum { D = 5, C = 3, B = 6, K = 4096 };
    const int hidden[] = {4, 3};
    bpfree_model *m = tu_sgd_model("lg-fg-a", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                   B, 0.1f, 8, 2);
    bpfree_model *bp = tu_sgd_model("bp", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                    B, 0.1f, 8, 2);
    bpfree_model *mf = tu_sgd_model("mf", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                    B, 0.1f, 8, 2);
    assert_int_equal(m->n_params, bp->n_params + (size_t)C * 4); /* + M1 (C, 4) */
    const int tM = find_tensor(m, "M1"), tMf = find_tensor(mf, "M1");
    const size_t nnet = bp->n_params, n1 = (size_t)4 * D + 4, nM = (size_t)C * 4;
    memcpy(bp->params, m->params, nnet * sizeof(float));
    memcpy(mf->params, m->params, n1 * sizeof(float)); /* W1, b1 */
    memcpy(bp_tensor_ptr(mf, tMf), bp_tensor_ptr(m, tM), nM * sizeof(float));
    tu_fill_batch(m, B, 31, -1.0f, 1.0f);
    tu_fill_batch(bp, B, 31, -1.0f, 1.0f);
    tu_fill_batch(mf, B, 31, -1.0f, 1.0f);
    tu_step_once(bp, B);
    tu_step_once(mf, B);
    float *p0 = malloc(m->n_params * sizeof(float));
    double *sum = calloc(nnet, sizeof(double)), *ref = malloc(nnet * sizeof(double)),
           *diff = malloc(nnet * sizeof(double));
    assert_non_null(p0);
    assert_non_null(sum);
    memcpy(p0, m->params, m->n_params * sizeof(float));
    for (size_t i = 0; i < nnet; i++) ref[i] = i < n1 ? mf->grads[i] : bp->grads[i];
    const size_t out_off = m->layers[2].off, nout = (size_t)C * 3 + C;
    for (int k = 0; k < K; k++) {
        memcpy(m->params, p0, m->n_params * sizeof(float));
        tu_step_once(m, B);
        for (size_t i = 0; i < nnet; i++) sum[i] += m->grads[i];
        if (k == 0) { /* exact every draw: the output layer and M1 */
            assert_true(tu_close("lg-fg-a output layer", m->grads + out_off,
                                 bp->grads + out_off, nout, 1e-6, 1e-4));
            assert_true(tu_close("lg-fg-a M1", bp_tensor_grad(m, tM), bp_tensor_grad(mf, tMf), nM,
                                 1e-6, 1e-4));
        }
    }
    /* layer 1 against its local gradient, layer 2 against BP's */
    const size_t parts[2][2] = {{0, n1}, {m->layers[1].off, (size_t)3 * 4 + 3}};
    for (int q = 0; q < 2; q++) {
        const size_t o = parts[q][0], n = parts[q][1];
        for (size_t i = 0; i < n; i++) diff[i] = sum[o + i] / K - ref[o + i];
        double err = norm2(diff, n) / norm2(ref + o, n);
        printf("  lg-fg-a layer %d: relative error of the mean of %d estimates %.3f\n", q + 1, K,
               err);
        assert_true(norm2(ref + o, n) > 1e-4);
        assert_true(err < 0.15);
    }
    free(p0);
    free(sum);
    free(ref);
    free(diff);
    bpfree_model_free(m);
    bpfree_model_free(bp);
    bpfree_model_free(mf);
}

/* ---------------------------------------------------------- d. learning */

static void test_forward_gradients_learn(void **state) {
    (void)state;
    tu_rule_learns("fg-w", 1e-2f, 0); /* 3e-2 overshoots */
    tu_rule_learns("fg-a", 1e-2f, 0);
    tu_rule_learns("lg-fg-a", 1e-2f, 0);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_fill),
        cmocka_unit_test(test_normal_fill_reference),
        cmocka_unit_test(test_tangent_tanh),
        cmocka_unit_test(test_tangent_relu),
        cmocka_unit_test(test_fgw_unbiased),
        cmocka_unit_test(test_fga_unbiased),
        cmocka_unit_test(test_lgfga_unbiased_local),
        cmocka_unit_test(test_forward_gradients_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
