/* test_nn.c — central-difference checks of the building blocks: every
 * activation's derivative, every loss's dL/dz, and the dense layer's
 * gW, gb and dx.  Steps h ~ 1e-3 on float inputs; each finite difference
 * divides by the step actually taken in float.  Every check also asserts
 * that the analytic gradient is not all zero, so it cannot pass vacuously. */
#include "testutil.h"

#define H 1e-3

static const char *act_names[] = {"relu", "tanh", "sigmoid", "identity", "elu"};
_Static_assert(sizeof act_names / sizeof *act_names == BPFREE_ACT_COUNT, "act names");

/* ----------------------------------------------------------- activations */


/* bp_act_f against libm in double, bp_act_forward on an array likewise. */
static void test_act_values(void **state) {
    (void)state;
    const float zs[] = {-4.0f, -2.5f, -1.3f, -0.4f, 0.0f, 0.3f, 0.9f, 2.1f, 5.0f};
    const size_t n = sizeof zs / sizeof *zs;
    for (int a = 0; a < BPFREE_ACT_COUNT; a++) {
        float got[16], arr[16], want[16];
        memcpy(arr, zs, sizeof zs);
        bp_act_forward((bpfree_act)a, arr, n);
        for (size_t i = 0; i < n; i++) {
            got[i] = bp_act_f((bpfree_act)a, zs[i]);
            want[i] = (float)ref_f((bpfree_act)a, zs[i]);
        }
        char what[64];
        snprintf(what, sizeof what, "bp_act_f(%s)", act_names[a]);
        assert_true(tu_close(what, got, want, n, 1e-6, 1e-6));
        snprintf(what, sizeof what, "bp_act_forward(%s)", act_names[a]);
        assert_true(tu_close(what, arr, want, n, 1e-6, 1e-6));
    }
}

/* f'(z) by bp_act_df and by bp_act_backward (from h = f(z)) against
 * (f(z+h) - f(z-h)) / 2h, at points away from ReLU's kink. */
static void test_act_derivatives(void **state) {
    (void)state;
    const float zs[] = {-2.5f, -1.3f, -0.4f, -0.05f, 0.05f, 0.3f, 0.9f, 2.1f};
    const size_t n = sizeof zs / sizeof *zs;
    for (int a = 0; a < BPFREE_ACT_COUNT; a++) {
        float df[16], fd[16], hb[16], dback[16];
        for (size_t i = 0; i < n; i++) {
            float zp = (float)(zs[i] + H), zm = (float)(zs[i] - H);
            double fp = bp_act_f((bpfree_act)a, zp), fm = bp_act_f((bpfree_act)a, zm);
            fd[i] = (float)((fp - fm) / ((double)zp - (double)zm));
            df[i] = bp_act_df((bpfree_act)a, zs[i]);
            hb[i] = bp_act_f((bpfree_act)a, zs[i]);
            dback[i] = 1.0f;
        }
        bp_act_backward((bpfree_act)a, hb, dback, n);
        char what[96];
        snprintf(what, sizeof what, "bp_act_df(%s) vs central difference", act_names[a]);
        assert_true(tu_close(what, df, fd, n, 1e-4, 1e-3));
        snprintf(what, sizeof what, "bp_act_backward(%s) vs bp_act_df", act_names[a]);
        assert_true(tu_close(what, dback, df, n, 1e-7, 1e-6));
        assert_true(tu_maxabs(df, n) > 0.1);
    }
    /* PyTorch's convention at the kink: relu'(0) = 0 */
    assert_true(bp_act_df(BPFREE_ACT_RELU, 0.0f) == 0.0f);
}

/* A NaN pre-activation must stay NaN through every activation (as in
 * PyTorch, where relu(nan) = nan): an activation that maps NaN to a number
 * hides corrupted weights from the NaN guard, which watches the loss. */
static void test_act_nan_propagates(void **state) {
    (void)state;
    int ok = 1;
    for (int a = 0; a < BPFREE_ACT_COUNT; a++) {
        float h = NAN;
        bp_act_forward((bpfree_act)a, &h, 1);
        if (!isnan(h)) {
            printf("  %s(NaN) = %g, expected NaN\n", act_names[a], (double)h);
            ok = 0;
        }
    }
    assert_true(ok);
}

/* distance in units in the last place between two finite floats */
static long ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    const int64_t oa = ia < 0 ? -(int64_t)(ia & 0x7fffffff) : ia;
    const int64_t ob = ib < 0 ? -(int64_t)(ib & 0x7fffffff) : ib;
    return (long)(oa > ob ? oa - ob : ob - oa);
}

/* tanh, sigmoid and ELU are bpfree's own vectorised code (src/nn/act.c), not
 * libm's: within 2 ulp of the double-precision value over [-12, 12] and on
 * tiny arguments, through the vector loop (whole arrays), with the special
 * values in the middle of an array. */
static void test_act_vectorised_ulp(void **state) {
    (void)state;
    enum { N = 480001 };
    float *x = malloc(N * sizeof *x), *h = malloc(N * sizeof *h);
    assert_non_null(x);
    assert_non_null(h);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(N - 1);
    for (int i = 0; i < 4000; i++) /* tiny and moderate, both signs: 1e-30 .. ~0.3 */
        x[i] = (i % 2 ? -1.0f : 1.0f) * 1e-30f * powf(1.035f, (float)(i / 2));
    const bpfree_act acts[] = {BPFREE_ACT_TANH, BPFREE_ACT_SIGMOID, BPFREE_ACT_ELU};
    for (int k = 0; k < 3; k++) {
        memcpy(h, x, N * sizeof *h);
        bp_act_forward(acts[k], h, N);
        long worst = 0;
        float at = 0.0f;
        for (int i = 0; i < N; i++) {
            const double z = x[i];
            const float want = (float)(k == 0   ? tanh(z)
                                       : k == 1 ? 1.0 / (1.0 + exp(-z))
                                                : (z > 0 ? z : expm1(z)));
            const long u = ulps(h[i], want);
            if (u > worst) worst = u, at = x[i];
        }
        printf("  %s: at most %ld ulp (at %g)\n", act_names[acts[k]], worst, (double)at);
        assert_true(worst <= 2);
    }
    /* special values inside a vector */
    float sp[32];
    for (int i = 0; i < 32; i++) sp[i] = 0.5f;
    sp[3] = NAN, sp[5] = INFINITY, sp[6] = -INFINITY, sp[7] = -0.0f, sp[9] = 1e4f, sp[10] = -1e4f;
    float t[32];
    memcpy(t, sp, sizeof sp);
    bp_act_forward(BPFREE_ACT_TANH, t, 32);
    assert_true(isnan(t[3]));
    assert_true(t[5] == 1.0f && t[6] == -1.0f && t[9] == 1.0f && t[10] == -1.0f);
    assert_true(t[7] == 0.0f && signbit(t[7]));
    memcpy(t, sp, sizeof sp);
    bp_act_forward(BPFREE_ACT_SIGMOID, t, 32);
    assert_true(isnan(t[3]));
    assert_true(t[5] == 1.0f && t[6] == 0.0f && t[9] == 1.0f && t[10] == 0.0f);
    assert_true(t[7] == 0.5f);
    memcpy(t, sp, sizeof sp);
    bp_act_forward(BPFREE_ACT_ELU, t, 32);
    assert_true(isnan(t[3]));
    assert_true(t[5] == INFINITY && t[6] == -1.0f && t[9] == 1e4f && t[10] == -1.0f);
    assert_true(t[7] == 0.0f && signbit(t[7]));
    free(x);
    free(h);
}

/* ---------------------------------------------------------------- losses */

static const char *loss_names[] = {"ce", "bce", "mse"};

/* Independent loss in double (mean over the batch). */
static double ref_loss(bpfree_loss l, const float *z, const float *y, int B, int C) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *zb = z + (size_t)b * C, *yb = y + (size_t)b * C;
        if (l == BPFREE_LOSS_CE) {
            double s = 0.0;
            for (int c = 0; c < C; c++) s += exp((double)zb[c]);
            for (int c = 0; c < C; c++) total -= yb[c] * ((double)zb[c] - log(s));
        } else if (l == BPFREE_LOSS_BCE) {
            for (int c = 0; c < C; c++) {
                double s = 1.0 / (1.0 + exp(-(double)zb[c]));
                total -= yb[c] * log(s) + (1.0 - yb[c]) * log(1.0 - s);
            }
        } else {
            for (int c = 0; c < C; c++) total += 0.5 * ((double)zb[c] - yb[c]) * ((double)zb[c] - yb[c]);
        }
    }
    return total / B;
}

static void check_loss(bpfree_loss l, uint64_t seed) {
    enum { B = 4, C = 5 };
    float z[B * C], y[B * C], dz[B * C], fd[B * C];
    bp_rng r;
    bp_rng_seed(&r, seed);
    tu_fill_uniform(&r, z, B * C, -2.0f, 2.0f);
    memset(y, 0, sizeof y);
    if (l == BPFREE_LOSS_CE) {
        for (int b = 0; b < B; b++) y[b * C + (int)bp_rng_below(&r, C)] = 1.0f;
    } else if (l == BPFREE_LOSS_BCE) {
        /* soft targets in [0, 1], as BCE allows */
        tu_fill_uniform(&r, y, B * C, 0.0f, 1.0f);
    } else {
        tu_fill_uniform(&r, y, B * C, -1.0f, 1.0f);
    }
    double L = bp_loss(l, z, y, B, C, dz);
    double Lref = ref_loss(l, z, y, B, C);
    if (fabs(L - Lref) > 1e-6 * (1.0 + fabs(Lref)))
        printf("  %s loss value %.9g, reference %.9g\n", loss_names[l], L, Lref);
    assert_true(fabs(L - Lref) <= 1e-6 * (1.0 + fabs(Lref)));
    /* the returned loss must not depend on whether dz is asked for */
    assert_true(bp_loss(l, z, y, B, C, NULL) == L);
    for (int i = 0; i < B * C; i++) {
        float z0 = z[i];
        float zp = (float)(z0 + H), zm = (float)(z0 - H);
        z[i] = zp;
        double lp = bp_loss(l, z, y, B, C, NULL);
        z[i] = zm;
        double lm = bp_loss(l, z, y, B, C, NULL);
        z[i] = z0;
        fd[i] = (float)((lp - lm) / ((double)zp - (double)zm));
    }
    char what[96];
    snprintf(what, sizeof what, "%s: dz vs central difference of the batch-mean loss",
             loss_names[l]);
    assert_true(tu_close(what, dz, fd, B * C, 2e-6, 1e-3));
    assert_true(tu_maxabs(dz, B * C) > 1e-2);
}

static void test_loss_gradients(void **state) {
    (void)state;
    for (int l = 0; l < BPFREE_LOSS_COUNT; l++) check_loss((bpfree_loss)l, 100 + l);
}

/* Saturated logits must not overflow: CE and BCE stay finite at |z| = 100. */
static void test_loss_extreme_logits(void **state) {
    (void)state;
    const float z[] = {100.0f, -100.0f, 0.0f, -100.0f, 100.0f, 0.0f};
    const float y[] = {0, 1, 0, 1, 0, 0};
    float dz[6];
    for (int l = 0; l < BPFREE_LOSS_COUNT; l++) {
        double L = bp_loss((bpfree_loss)l, z, y, 2, 3, dz);
        if (!isfinite(L) || !bp_check_finite(dz, 6))
            printf("  loss %s on saturated logits = %g\n", loss_names[l], L);
        assert_true(isfinite(L));
        assert_true(bp_check_finite(dz, 6));
    }
    /* CE row 0: -log softmax(z)_1 = lse - z_1 ~= 200 */
    double ce = bp_loss(BPFREE_LOSS_CE, z, y, 1, 3, NULL);
    assert_true(fabs(ce - 200.0) < 1e-3);
}

/* ----------------------------------------------------------- dense layer */

enum { DB = 4, DI = 6, DO = 5 };

/* L = sum(h ⊙ R) in double, h = f(x W^T + b) from the library's forward. */
static double dense_objective(const bp_layer *L, const float *x, const float *R) {
    float h[DB * DO];
    bp_layer_forward(L, x, h, DB);
    double s = 0.0;
    for (int i = 0; i < DB * DO; i++) s += (double)h[i] * R[i];
    return s;
}

/* Central difference of dense_objective with respect to v[0..n). */
static void fd_grad(const bp_layer *L, const float *x, const float *R, float *v, size_t n,
                    float *out) {
    for (size_t i = 0; i < n; i++) {
        float v0 = v[i];
        float vp = (float)(v0 + H), vm = (float)(v0 - H);
        v[i] = vp;
        double lp = dense_objective(L, x, R);
        v[i] = vm;
        double lm = dense_objective(L, x, R);
        v[i] = v0;
        out[i] = (float)((lp - lm) / ((double)vp - (double)vm));
    }
}

static void check_dense(bpfree_act act, uint64_t seed) {
    float *W = malloc(DO * DI * sizeof(float)), *b = malloc(DO * sizeof(float));
    float *gW = malloc(DO * DI * sizeof(float)), *gb = malloc(DO * sizeof(float));
    float x[DB * DI], R[DB * DO], h[DB * DO], dh[DB * DO], dx[DB * DI];
    float fdW[DO * DI], fdb[DO], fdx[DB * DI];
    assert_non_null(W);
    assert_non_null(b);
    assert_non_null(gW);
    assert_non_null(gb);
    bp_layer L;
    bp_dense_setup(&L, DI, DO, act);
    L.W = W;
    L.b = b;
    L.gW = gW;
    L.gb = gb;
    bp_rng r;
    bp_rng_seed(&r, seed);
    /* Redraw until no pre-activation is within 0.02 of ReLU's kink (a step
     * of 1e-3 in any W, b or x moves z by at most ~1e-3 here). */
    for (int tries = 0;; tries++) {
        assert_true(tries < 1000);
        tu_fill_uniform(&r, W, DO * DI, -0.8f, 0.8f);
        tu_fill_uniform(&r, b, DO, -0.5f, 0.5f);
        tu_fill_uniform(&r, x, DB * DI, -1.0f, 1.0f);
        int ok = 1;
        for (int i = 0; i < DB && ok; i++)
            for (int o = 0; o < DO && ok; o++) {
                double z = b[o];
                for (int k = 0; k < DI; k++) z += (double)x[i * DI + k] * W[o * DI + k];
                if (fabs(z) < 0.02) ok = 0;
            }
        if (ok) break;
    }
    tu_fill_uniform(&r, R, DB * DO, -1.0f, 1.0f);

    /* forward against a plain double computation */
    float want[DB * DO];
    for (int i = 0; i < DB; i++)
        for (int o = 0; o < DO; o++) {
            double z = b[o];
            for (int k = 0; k < DI; k++) z += (double)x[i * DI + k] * W[o * DI + k];
            want[i * DO + o] = (float)ref_f(act, z);
        }
    bp_layer_forward(&L, x, h, DB);
    char what[64];
    snprintf(what, sizeof what, "dense(%s) forward", act_names[act]);
    assert_true(tu_close(what, h, want, DB * DO, 1e-6, 1e-5));

    /* gradients must overwrite, not accumulate: fill them with garbage */
    for (int i = 0; i < DO * DI; i++) gW[i] = 1e3f;
    for (int i = 0; i < DO; i++) gb[i] = -1e3f;
    for (int i = 0; i < DB * DI; i++) dx[i] = 1e3f;
    memcpy(dh, R, sizeof R); /* overwritten with dz */
    bp_layer_backward(&L, x, h, dh, dx, DB);

    fd_grad(&L, x, R, W, DO * DI, fdW);
    fd_grad(&L, x, R, b, DO, fdb);
    fd_grad(&L, x, R, x, DB * DI, fdx);
    snprintf(what, sizeof what, "dense(%s) gW vs central difference", act_names[act]);
    assert_true(tu_close(what, gW, fdW, DO * DI, 5e-4, 5e-3));
    snprintf(what, sizeof what, "dense(%s) gb vs central difference", act_names[act]);
    assert_true(tu_close(what, gb, fdb, DO, 5e-4, 5e-3));
    snprintf(what, sizeof what, "dense(%s) dx vs central difference", act_names[act]);
    assert_true(tu_close(what, dx, fdx, DB * DI, 5e-4, 5e-3));
    assert_true(tu_maxabs(gW, DO * DI) > 1e-2);
    assert_true(tu_maxabs(gb, DO) > 1e-2);
    assert_true(tu_maxabs(dx, DB * DI) > 1e-2);

    /* dx = NULL computes the same gW and gb */
    float gW1[DO * DI], gb1[DO];
    memcpy(gW1, gW, sizeof gW1);
    memcpy(gb1, gb, sizeof gb1);
    memcpy(dh, R, sizeof R);
    bp_layer_backward(&L, x, h, dh, NULL, DB);
    assert_true(tu_close("gW (dx NULL)", gW, gW1, DO * DI, 0, 0));
    assert_true(tu_close("gb (dx NULL)", gb, gb1, DO, 0, 0));
    free(W);
    free(b);
    free(gW);
    free(gb);
}

static void test_dense_gradients(void **state) {
    (void)state;
    bpfree_set_threads(1);
    for (int a = 0; a < BPFREE_ACT_COUNT; a++) check_dense((bpfree_act)a, 7 + a);
}

/* bp_dense_forward_grouped and bp_dense_grad_paired (Forward-Forward's
 * first layer: rows of one image that differ in the first k inputs only)
 * against the plain forward and grad_units on the same rows, for a shape
 * with blocks of several sizes (r not a multiple of anything) */
static void test_dense_grouped(void **state) {
    (void)state;
    enum { I = 37, O = 23, R = 13, G = 4, K = 5 };
    static float W[O * I], b[O], gW[O * I], gb[O], gW2[O * I], gb2[O];
    static float x[G * R * I], h[G * R * O], h2[G * R * O], dz[2 * R * O], dz2[2 * R * O];
    bp_layer L;
    bp_dense_setup(&L, I, O, BPFREE_ACT_RELU);
    L.W = W;
    L.b = b;
    L.gW = gW;
    L.gb = gb;
    bp_rng r;
    bp_rng_seed(&r, 7);
    tu_fill_uniform(&r, W, O * I, -0.5f, 0.5f);
    tu_fill_uniform(&r, b, O, -0.5f, 0.5f);
    tu_fill_uniform(&r, x, R * I, -1.0f, 1.0f);
    for (int g = 1; g < G; g++) /* group g: row i's inputs, new values in the first K */
        for (int i = 0; i < R; i++) {
            float *row = x + ((size_t)g * R + i) * I;
            memcpy(row, x + (size_t)i * I, I * sizeof(float));
            tu_fill_uniform(&r, row, K, -1.0f, 1.0f);
        }
    bp_layer_forward(&L, x, h, G * R);
    bp_dense_forward_grouped(&L, x, h2, R, G, K, 0);
    assert_true(tu_close("grouped forward vs plain", h2, h, G * R * O, 1e-5, 1e-5));
    assert_true(tu_maxabs(h, G * R * O) > 0.1f);
    /* group 0's product given (bp_dense_product, as FF keeps it for a frozen
     * layer): the same bits as computing it */
    static float h3[G * R * O];
    memset(h3, 0, sizeof h3);
    bp_dense_product(&L, x, h3, R);
    bp_dense_forward_grouped(&L, x, h3, R, G, K, 1);
    assert_memory_equal(h3, h2, sizeof h3);
    /* a wrong given product is used, not recomputed */
    h3[0] += 1.0f;
    bp_dense_forward_grouped(&L, x, h3, R, G, K, 1);
    assert_true(fabs((double)h3[0] - h2[0]) > 0.5);
    /* a group that differs outside the first K columns is not what it computes */
    x[(size_t)R * I + K] += 1.0f;
    bp_layer_forward(&L, x, h, 2 * R);
    bp_dense_forward_grouped(&L, x, h2, R, 2, K, 0);
    double off = 0.0;
    for (int i = 0; i < 2 * R * O; i++) off = fmax(off, fabs((double)h2[i] - h[i]));
    assert_true(off > 1e-2);
    x[(size_t)R * I + K] -= 1.0f;
    /* the gradient of the first two groups, overwriting (beta 0) and adding */
    tu_fill_uniform(&r, dz, 2 * R * O, -1.0f, 1.0f);
    for (float beta = 0.0f; beta <= 1.0f; beta += 1.0f) {
        for (int i = 0; i < O * I; i++) gW[i] = beta ? 0.25f : 1e3f;
        for (int i = 0; i < O; i++) gb[i] = beta ? -0.5f : 1e3f;
        memcpy(dz2, dz, sizeof dz);
        bp_layer_grad_units(&L, x, dz2, 2 * R, 0, O, beta);
        memcpy(gW2, gW, sizeof gW);
        memcpy(gb2, gb, sizeof gb);
        for (int i = 0; i < O * I; i++) gW[i] = beta ? 0.25f : 1e3f;
        for (int i = 0; i < O; i++) gb[i] = beta ? -0.5f : 1e3f;
        memcpy(dz2, dz, sizeof dz);
        bp_dense_grad_paired(&L, x, dz2, R, K, beta);
        assert_true(tu_close("paired gW vs plain", gW, gW2, O * I, 1e-5, 1e-5));
        assert_true(tu_close("paired gb vs plain", gb, gb2, O, 1e-5, 1e-5));
        assert_true(tu_maxabs(gW2, O * I) > 0.1f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_values),
        cmocka_unit_test(test_act_derivatives),
        cmocka_unit_test(test_act_nan_propagates),
        cmocka_unit_test(test_act_vectorised_ulp),
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_loss_extreme_logits),
        cmocka_unit_test(test_dense_gradients),
        cmocka_unit_test(test_dense_grouped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
