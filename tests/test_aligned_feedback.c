/* test_aligned_feedback.c — the aligned-feedback members of the FA family
 * (issue 20): uSF's backward chain is FA's with B_l = s_l sign(W_l) of the
 * weights in force (s_l = mean |W_l| or --usf-scale); Kolen–Pollack's B_l
 * gets the same update as W_l and both decay, so B - W shrinks by exactly
 * (1 - lr lambda) per step and B approaches W; both learn. */
#include "testutil.h"

enum { D = 12, C = 4, BATCH = 10 };
static const int HIDDEN[] = {9, 7};

/* FA's B_l (tensor "B<l+1>") set to v */
static void set_fa_feedback(bpfree_model *fa, int l, const float *v) {
    char name[8];
    snprintf(name, sizeof name, "B%d", l + 1);
    const int t = find_tensor(fa, name);
    assert_true(t >= 0);
    memcpy(bp_tensor_ptr(fa, t), v, fa->tensors[t].n * sizeof(float));
}

/* one step of uSF equals one step of FA with B_l = s sign(W_l), for the
 * default scale (mean |W_l|) and a fixed one */
static void test_usf_is_fa_with_signs(void **state) {
    (void)state;
    const float scales[] = {0.0f, 0.25f};
    for (int k = 0; k < 2; k++) {
        bpfree_config cu = tu_sgd_config("usf", D, C, 2, HIDDEN, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                         BATCH, 0.1f, 3, 1);
        cu.usf_scale = scales[k];
        bpfree_config cf = tu_sgd_config("fa", D, C, 2, HIDDEN, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                         BATCH, 0.1f, 3, 1);
        bpfree_model *u = tu_new_model(&cu, 1), *f = tu_new_model(&cf, 1);
        memcpy(f->params, u->params, u->n_params * sizeof(float));
        for (int l = 1; l < u->n_layers; l++) {
            const bp_layer *L = &u->layers[l];
            const size_t n = bp_layer_n_weights(L);
            double mean = 0.0;
            for (size_t i = 0; i < n; i++) mean += fabs(L->W[i]);
            const float s = scales[k] > 0 ? scales[k] : (float)(mean / n);
            float *B = tu_xmalloc(n * sizeof(float));
            int pos = 0, neg = 0;
            for (size_t i = 0; i < n; i++) {
                B[i] = L->W[i] > 0 ? s : L->W[i] < 0 ? -s : 0.0f;
                pos += B[i] > 0, neg += B[i] < 0;
            }
            assert_true(pos > 0 && neg > 0);
            set_fa_feedback(f, l, B);
            free(B);
        }
        tu_fill_batch(u, BATCH, 17, -1.0f, 1.0f);
        tu_fill_batch(f, BATCH, 17, -1.0f, 1.0f);
        const double lu = tu_step_once(u, BATCH), lf = tu_step_once(f, BATCH);
        assert_true(lu == lf);
        assert_true(tu_same_params(u, f));
        bpfree_model_free(u);
        bpfree_model_free(f);
    }
}

/* ||W - B|| over a run: after every step exactly (1 - lr lambda) of the one
 * before, whatever the gradient; B approaches W */
static void test_kp_feedback_approaches_w(void **state) {
    (void)state;
    bpfree_config c = tu_sgd_config("kp", D, C, 2, HIDDEN, BPFREE_ACT_RELU, BPFREE_LOSS_CE, BATCH,
                                    0.05f, 5, 1);
    c.kp_decay = 2.0f; /* lr lambda = 0.1 a step */
    bpfree_model *m = tu_new_model(&c, 1);
    double d0 = 0.0;
    const int t = find_tensor(m, "D2");
    assert_true(t >= 0);
    const float *Dm = bp_tensor_ptr(m, t);
    for (size_t i = 0; i < m->tensors[t].n; i++) d0 += (double)Dm[i] * Dm[i];
    assert_true(d0 > 0.0);
    for (int k = 1; k <= 20; k++) {
        tu_fill_batch(m, BATCH, 100 + k, -1.0f, 1.0f);
        tu_step_once(m, BATCH);
        /* B = W - D after the step: the next backward's feedback */
        double dd = 0.0, bw = 0.0, ww = 0.0;
        const bp_layer *L = &m->layers[1];
        for (size_t i = 0; i < m->tensors[t].n; i++) {
            dd += (double)Dm[i] * Dm[i];
            const double b = (double)L->W[i] - Dm[i];
            bw += (b - L->W[i]) * (b - L->W[i]);
            ww += (double)L->W[i] * L->W[i];
        }
        const double want = d0 * pow(1.0 - 0.1, 2.0 * k); /* squared norms */
        assert_true(fabs(dd - want) <= 1e-4 * want + 1e-12);
        if (k == 20) assert_true(sqrt(bw) < 0.15 * sqrt(d0)); /* 0.9^20 = 0.12 */
        (void)ww;
    }
    bpfree_model_free(m);
}

/* with B = W (D = 0), a KP step is a BP step followed by the decay */
static void test_kp_with_zero_difference_is_bp(void **state) {
    (void)state;
    bpfree_config ck = tu_sgd_config("kp", D, C, 2, HIDDEN, BPFREE_ACT_TANH, BPFREE_LOSS_CE, BATCH,
                                     0.05f, 9, 1);
    ck.kp_decay = 0.0f;
    bpfree_config cb = tu_sgd_config("bp", D, C, 2, HIDDEN, BPFREE_ACT_TANH, BPFREE_LOSS_CE, BATCH,
                                     0.05f, 9, 1);
    bpfree_model *k = tu_new_model(&ck, 1), *b = tu_new_model(&cb, 1);
    memcpy(k->params, b->params, b->n_params * sizeof(float));
    for (int l = 1; l < k->n_layers; l++) {
        char name[8];
        snprintf(name, sizeof name, "D%d", l + 1);
        const int t = find_tensor(k, name);
        memset(bp_tensor_ptr(k, t), 0, k->tensors[t].n * sizeof(float));
    }
    tu_fill_batch(k, BATCH, 23, -1.0f, 1.0f);
    tu_fill_batch(b, BATCH, 23, -1.0f, 1.0f);
    assert_true(tu_step_once(k, BATCH) == tu_step_once(b, BATCH));
    assert_true(tu_same_params(k, b));
    bpfree_model_free(k);
    bpfree_model_free(b);
}

static void test_usf_learns(void **state) {
    (void)state;
    tu_rule_learns("usf", 3e-3f, 0);
}

static void test_kp_learns(void **state) {
    (void)state;
    tu_rule_learns("kp", 3e-3f, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usf_is_fa_with_signs),
        cmocka_unit_test(test_kp_feedback_approaches_w),
        cmocka_unit_test(test_kp_with_zero_difference_is_bp),
        cmocka_unit_test(test_usf_learns),
        cmocka_unit_test(test_kp_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
