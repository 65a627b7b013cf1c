/* test_optim.c — bp_optim_step against hand computations in double with
 * PyTorch's semantics (SGD: plain, momentum, Nesterov, L2 decay; Adam:
 * bias-corrected, L2 or decoupled decay), and the learning-rate schedules. */
#include "testutil.h"

enum { N = 7 };

static const float P0[N] = {0.5f, -1.25f, 2.0f, 0.0f, -0.3f, 1.7f, -2.2f};
static const float G1[N] = {0.1f, -0.4f, 0.25f, 1.5f, -0.02f, 0.0f, 0.8f};
static const float G2[N] = {-0.3f, 0.2f, 0.05f, 0.9f, 0.6f, -0.7f, 0.01f};

static bpfree_optim_config sgd_cfg(float lr, float mu, int nesterov, float wd) {
    return (bpfree_optim_config){.kind = BPFREE_OPTIM_SGD, .lr = lr, .momentum = mu,
                                 .nesterov = nesterov, .weight_decay = wd,
                                 .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                 .sched = BPFREE_SCHED_NONE};
}

/* The update p_new - p_old must match (tolerance on the update, not on p,
 * so a small lr does not hide an error). */
static void check_update(const char *what, const float *p_new, const double *want,
                         const float *p_old) {
    float got_d[N], want_d[N];
    for (int i = 0; i < N; i++) {
        got_d[i] = (float)((double)p_new[i] - (double)p_old[i]);
        want_d[i] = (float)(want[i] - (double)p_old[i]);
    }
    assert_true(tu_close(what, got_d, want_d, N, 3e-7, 1e-4));
    assert_true(tu_maxabs(want_d, N) > 1e-4); /* the step did something */
}

/* Runs two SGD steps with gradients G1, G2 and compares each with PyTorch's
 * formulas (dampening 0):
 *   g' = g + wd p;  buf = mu buf + g' (buf = g' at the first step);
 *   p -= lr (nesterov ? g' + mu buf : buf)    (mu = 0: p -= lr g'). */
static void run_sgd(float lr, float mu, int nesterov, float wd) {
    bp_optim o = {.cfg = sgd_cfg(lr, mu, nesterov, wd)};
    float p[N], buf[N] = {0}, prev[N];
    double rp[N], rbuf[N] = {0};
    memcpy(p, P0, sizeof p);
    for (int i = 0; i < N; i++) rp[i] = P0[i];
    const float *gs[2] = {G1, G2};
    for (int step = 0; step < 2; step++) {
        const float *g = gs[step];
        for (int i = 0; i < N; i++) {
            double gi = (double)g[i] + (double)wd * rp[i];
            if (mu == 0.0f) {
                rp[i] -= (double)lr * gi;
                continue;
            }
            rbuf[i] = step == 0 ? gi : (double)mu * rbuf[i] + gi;
            rp[i] -= (double)lr * (nesterov ? gi + (double)mu * rbuf[i] : rbuf[i]);
        }
        memcpy(prev, p, sizeof p);
        bp_optim_begin_step(&o, lr);
        bp_optim_step(&o, p, g, buf, NULL, N);
        char what[128];
        snprintf(what, sizeof what, "sgd lr=%g mu=%g nesterov=%d wd=%g, step %d", (double)lr,
                 (double)mu, nesterov, (double)wd, step + 1);
        check_update(what, p, rp, prev);
        /* the gradient must be left alone */
        assert_true(memcmp(g, step ? G2 : G1, sizeof G1) == 0);
    }
}

static void test_sgd_plain(void **state) {
    (void)state;
    run_sgd(0.1f, 0.0f, 0, 0.0f);
    /* one exact case: p = 0.5, g = 0.1, lr = 0.1 -> 0.49 */
    bp_optim o = {.cfg = sgd_cfg(0.1f, 0.0f, 0, 0.0f)};
    float p = 0.5f, g = 0.1f, m = 0.0f;
    bp_optim_begin_step(&o, 0.1f);
    bp_optim_step(&o, &p, &g, &m, NULL, 1);
    assert_float_equal(p, 0.49f, 1e-7f);
}

static void test_sgd_weight_decay(void **state) {
    (void)state;
    run_sgd(0.1f, 0.0f, 0, 0.05f);
}

static void test_sgd_momentum(void **state) {
    (void)state;
    run_sgd(0.1f, 0.9f, 0, 0.0f);
    run_sgd(0.05f, 0.5f, 0, 0.01f);
}

static void test_sgd_nesterov(void **state) {
    (void)state;
    run_sgd(0.1f, 0.9f, 1, 0.0f);
    run_sgd(0.1f, 0.9f, 1, 0.02f);
}

/* The lr given to bp_optim_begin_step (the scheduled one) is the one used,
 * not cfg.lr. */
static void test_step_uses_scheduled_lr(void **state) {
    (void)state;
    bp_optim o = {.cfg = sgd_cfg(1.0f, 0.0f, 0, 0.0f)};
    float p = 1.0f, g = 1.0f, m = 0.0f;
    bp_optim_begin_step(&o, 0.25f);
    bp_optim_step(&o, &p, &g, &m, NULL, 1);
    assert_float_equal(p, 0.75f, 1e-7f);
}

/* Two Adam steps against PyTorch's formula in double:
 *   g' = g + wd p (L2)  or  p -= lr wd p first (decoupled, AdamW);
 *   m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
static void run_adam(float lr, float b1, float b2, float eps, float wd, int decoupled,
                     float gscale) {
    bp_optim o = {.cfg = {.kind = BPFREE_OPTIM_ADAM, .lr = lr, .beta1 = b1, .beta2 = b2,
                          .eps = eps, .weight_decay = wd, .decoupled = decoupled,
                          .sched = BPFREE_SCHED_NONE}};
    float p[N], m[N] = {0}, v[N] = {0}, prev[N], g[N];
    double rp[N], rm[N] = {0}, rv[N] = {0};
    memcpy(p, P0, sizeof p);
    for (int i = 0; i < N; i++) rp[i] = P0[i];
    for (int step = 0; step < 2; step++) {
        const float *gs = step ? G2 : G1;
        for (int i = 0; i < N; i++) g[i] = gs[i] * gscale;
        const int t = step + 1;
        for (int i = 0; i < N; i++) {
            double gi = g[i];
            if (decoupled) rp[i] -= (double)lr * wd * rp[i];
            else gi += (double)wd * rp[i];
            rm[i] = b1 * rm[i] + (1.0 - b1) * gi;
            rv[i] = b2 * rv[i] + (1.0 - b2) * gi * gi;
            double mhat = rm[i] / (1.0 - pow(b1, t)), vhat = rv[i] / (1.0 - pow(b2, t));
            rp[i] -= (double)lr * mhat / (sqrt(vhat) + eps);
        }
        memcpy(prev, p, sizeof p);
        bp_optim_begin_step(&o, lr);
        assert_int_equal(o.t, t);
        bp_optim_step(&o, p, g, m, v, N);
        char what[256];
        snprintf(what, sizeof what, "adam lr=%g b=(%g,%g) eps=%g wd=%g decoupled=%d g*%g, step %d",
                 (double)lr, (double)b1, (double)b2, (double)eps, (double)wd, decoupled,
                 (double)gscale, t);
        check_update(what, p, rp, prev);
        float fm[N], fv[N];
        for (int i = 0; i < N; i++) {
            fm[i] = (float)rm[i];
            fv[i] = (float)rv[i];
        }
        assert_true(tu_close("adam first moment", m, fm, N, 1e-9, 1e-5));
        assert_true(tu_close("adam second moment", v, fv, N, 1e-12, 1e-5));
    }
}

static void test_adam(void **state) {
    (void)state;
    run_adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 1.0f);
    run_adam(0.01f, 0.8f, 0.99f, 1e-8f, 0.0f, 0, 1.0f);
}

/* Gradients of order 1e-3 with eps = 1e-3: eps must be added to
 * sqrt(vhat) (after bias correction), not to v or before correction. */
static void test_adam_eps_placement(void **state) {
    (void)state;
    run_adam(0.01f, 0.9f, 0.999f, 1e-3f, 0.0f, 0, 1e-2f);
}

static void test_adam_weight_decay(void **state) {
    (void)state;
    run_adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, 0, 1.0f);
    run_adam(0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, 1, 1.0f);
}

/* ------------------------------------------------------------ schedules */

static void test_sched_none(void **state) {
    (void)state;
    bpfree_optim_config c = sgd_cfg(0.1f, 0.0f, 0, 0.0f);
    const double es[] = {0.0, 0.5, 3.7, 9.99, 10.0};
    for (size_t i = 0; i < sizeof es / sizeof *es; i++)
        assert_float_equal(bp_sched_lr(&c, es[i], 10), 0.1f, 0.0f);
}

static void test_sched_step(void **state) {
    (void)state;
    bpfree_optim_config c = sgd_cfg(0.1f, 0.0f, 0, 0.0f);
    c.sched = BPFREE_SCHED_STEP;
    c.step_epochs = 3;
    c.gamma = 0.5f;
    /* lr * gamma^floor(e / 3) */
    const double es[] = {0.0, 1.5, 2.999, 3.0, 5.9, 6.0, 7.5, 9.0, 11.99};
    for (size_t i = 0; i < sizeof es / sizeof *es; i++) {
        float want = (float)(0.1 * pow(0.5, floor(es[i] / 3.0)));
        float got = bp_sched_lr(&c, es[i], 12);
        if (fabsf(got - want) > 1e-7f * want)
            printf("  step schedule at e=%g: %g, expected %g\n", es[i], (double)got, (double)want);
        assert_float_equal(got, want, 1e-7f * want);
    }
}

static void test_sched_cooldown(void **state) {
    (void)state;
    bpfree_optim_config c = sgd_cfg(0.1f, 0.0f, 0, 0.0f);
    c.sched = BPFREE_SCHED_COOLDOWN;
    c.cooldown = 0.3f;
    c.lr_min = 0.01f;
    const int epochs = 10;
    /* constant until (1 - 0.3) * 10 = 7, then linear to lr_min at 10 */
    const double es[] = {0.0, 3.0, 6.99, 7.0, 7.75, 8.5, 9.25, 9.999, 10.0};
    for (size_t i = 0; i < sizeof es / sizeof *es; i++) {
        double start = (1.0 - 0.3) * epochs;
        double f = es[i] <= start ? 0.0 : (es[i] - start) / (epochs - start);
        float want = (float)(0.1 + (0.01 - 0.1) * f);
        float got = bp_sched_lr(&c, es[i], epochs);
        if (fabsf(got - want) > 2e-6f)
            printf("  cooldown schedule at e=%g: %g, expected %g\n", es[i], (double)got,
                   (double)want);
        assert_float_equal(got, want, 2e-6f);
    }
    /* the midpoint of the cooldown is halfway between lr and lr_min */
    assert_float_equal(bp_sched_lr(&c, 8.5, epochs), 0.055f, 2e-6f);
    assert_float_equal(bp_sched_lr(&c, 10.0, epochs), 0.01f, 1e-7f);

    /* cooldown = 1: linear from the first batch */
    c.cooldown = 1.0f;
    c.lr_min = 0.0f;
    assert_float_equal(bp_sched_lr(&c, 0.0, 4), 0.1f, 1e-7f);
    assert_float_equal(bp_sched_lr(&c, 1.0, 4), 0.075f, 1e-7f);
    assert_float_equal(bp_sched_lr(&c, 2.0, 4), 0.05f, 1e-7f);
    assert_float_equal(bp_sched_lr(&c, 4.0, 4), 0.0f, 1e-7f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_step_uses_scheduled_lr),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adam_eps_placement),
        cmocka_unit_test(test_adam_weight_decay),
        cmocka_unit_test(test_sched_none),
        cmocka_unit_test(test_sched_step),
        cmocka_unit_test(test_sched_cooldown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
