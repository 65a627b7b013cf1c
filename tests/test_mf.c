/* test_mf.c — Mono-Forward (003) on tiny nets built through the public API,
 * checked through the model's internal fields:
 *   a. MF's update of W_i, b_i, M_i equals the local gradient of layer i's
 *      own softmax cross-entropy (003, eqs. 5-8), no gradient crosses
 *      layers, and layer i+1 sees layer i's pre-update activation;
 *   b. MF's memory does not grow with depth beyond its parameters; BP's does.
 * SGD, no momentum, no weight decay, schedule NONE: one step is
 * p_new = p_old - lr g, so g = (p_old - p_new) / lr. */
#include "testutil.h"

/* ------------------------------------------------ a. local updates */

enum { MD = 6, MC = 3, MB = 8 };

/* Layer i of MF in double: a = f(in W^T + b), G = a M^T,
 * dG = (softmax(G) - y)/B, gM = dG^T a, da = dG M, dz = da ⊙ f'(z),
 * gW = dz^T in, gb = sum dz.  `a` (B,O) is returned for the next layer. */
static double ref_mf_layer(const double *in, int I, int O, const float *W, const float *b,
                           const float *M, const float *y, bpfree_act act, double *a,
                           float *gW, float *gb, float *gM) {
    const int B = MB, C = MC;
    double *z = malloc((size_t)B * O * sizeof(double));
    double *G = malloc((size_t)B * C * sizeof(double)), *dG = malloc((size_t)B * C * sizeof(double));
    double *dz = malloc((size_t)B * O * sizeof(double));
    assert_non_null(z);
    assert_non_null(G);
    assert_non_null(dG);
    assert_non_null(dz);
    ref_dense(in, W, b, B, I, O, act, z, a);
    for (int r = 0; r < B; r++)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int k = 0; k < O; k++) s += a[(size_t)r * O + k] * M[(size_t)c * O + k];
            G[(size_t)r * C + c] = s;
        }
    double loss = ref_softmax_ce(G, y, B, C, dG);
    for (int c = 0; c < C; c++)
        for (int k = 0; k < O; k++) {
            double s = 0.0;
            for (int r = 0; r < B; r++) s += dG[(size_t)r * C + c] * a[(size_t)r * O + k];
            gM[(size_t)c * O + k] = (float)s;
        }
    for (int r = 0; r < B; r++)
        for (int k = 0; k < O; k++) {
            double da = 0.0;
            for (int c = 0; c < C; c++) da += dG[(size_t)r * C + c] * M[(size_t)c * O + k];
            size_t j = (size_t)r * O + k;
            dz[j] = da * ref_df(act, z[j], a[j]);
        }
    ref_param_grads(dz, in, B, I, O, gW, gb);
    free(z);
    free(G);
    free(dG);
    free(dz);
    return loss;
}

static void mf_check(bpfree_act act, uint64_t seed) {
    enum { H1 = 5, H2 = 4 };
    const int hidden[] = {H1, H2};
    const float lr = 0.5f;
    const char *ctx = bpfree_act_name(act);
    bpfree_model *m = tu_sgd_model("mf", MD, MC, 2, hidden, act, BPFREE_LOSS_CE, MB, lr, seed, 2);
    /* no output layer: the last hidden layer's M is the classifier */
    assert_int_equal(m->n_layers, 2);
    tu_fill_batch(m, MB, seed + 77, -1.0f, 1.0f);
    const size_t np = m->n_params;
    assert_int_equal(np, H1 * MD + H1 + H2 * H1 + H2 + MC * H1 + MC * H2);
    float *p0 = copy_floats(m->params, np);
    const float *W1 = p0 + m->tensors[find_tensor(m, "W1")].off;
    const float *b1 = p0 + m->tensors[find_tensor(m, "b1")].off;
    const float *M1 = p0 + m->tensors[find_tensor(m, "M1")].off;
    const float *W2 = p0 + m->tensors[find_tensor(m, "W2")].off;
    const float *b2 = p0 + m->tensors[find_tensor(m, "b2")].off;
    const float *M2 = p0 + m->tensors[find_tensor(m, "M2")].off;

    double x[MB * MD], a1[MB * H1], a2[MB * H2];
    for (int i = 0; i < MB * MD; i++) x[i] = m->xb[i];
    float gW1[H1 * MD], gb1[H1], gM1[MC * H1], gW2[H2 * H1], gb2[H2], gM2[MC * H2];
    ref_mf_layer(x, MD, H1, W1, b1, M1, m->yb, act, a1, gW1, gb1, gM1);
    /* layer 2's input: layer 1's activation before its update (Alg. 1 l.10) */
    double l2 = ref_mf_layer(a1, H1, H2, W2, b2, M2, m->yb, act, a2, gW2, gb2, gM2);

    double loss = tu_step_once(m, MB);
    /* the loss reported is the last layer's */
    if (fabs(loss - l2) > 1e-5 * (1.0 + l2)) printf("  mf loss %g, want %g\n", loss, l2);
    assert_true(fabs(loss - l2) <= 1e-5 * (1.0 + l2));

    check_tensor_update(m, p0, "W1", gW1, ctx);
    check_tensor_update(m, p0, "b1", gb1, ctx);
    check_tensor_update(m, p0, "M1", gM1, ctx);
    check_tensor_update(m, p0, "W2", gW2, ctx);
    check_tensor_update(m, p0, "b2", gb2, ctx);
    check_tensor_update(m, p0, "M2", gM2, ctx);

    /* The check above can tell pre- from post-update input: layer 2's
     * gradient computed from layer 1's *updated* activation differs from
     * the library's by far more than the tolerance. */
    {
        const float *W1n = m->params + m->tensors[find_tensor(m, "W1")].off;
        const float *b1n = m->params + m->tensors[find_tensor(m, "b1")].off;
        double z1n[MB * H1], a1n[MB * H1], a2n[MB * H2];
        float aW2[H2 * H1], ab2[H2], aM2[MC * H2], g[H2 * H1];
        ref_dense(x, W1n, b1n, MB, MD, H1, act, z1n, a1n);
        ref_mf_layer(a1n, H1, H2, W2, b2, M2, m->yb, act, a2n, aW2, ab2, aM2);
        recovered_grad(m, p0, find_tensor(m, "W2"), g);
        int differs = clearly_differs(g, aW2, H2 * H1, 1e-5, 1e-3);
        if (!differs)
            printf("  %s: post-update input gives the same W2 gradient (largest diff %g)\n", ctx,
                   tu_maxdiff(g, aW2, H2 * H1));
        assert_true(differs);
    }

    /* No gradient crosses layers: a 1-hidden-layer MF model with the same
     * W1, b1, M1 (copied over: init order differs) and the same batch makes
     * exactly the same update of layer 1. */
    {
        const int h1[] = {H1};
        bpfree_model *m1 = tu_sgd_model("mf", MD, MC, 1, h1, act, BPFREE_LOSS_CE, MB, lr, seed, 2);
        const char *names[] = {"W1", "b1", "M1"};
        for (int k = 0; k < 3; k++) {
            int t2 = find_tensor(m, names[k]), t1 = find_tensor(m1, names[k]);
            assert_int_equal(m->tensors[t2].n, m1->tensors[t1].n);
            memcpy(m1->params + m1->tensors[t1].off, p0 + m->tensors[t2].off,
                   m->tensors[t2].n * sizeof(float));
        }
        memcpy(m1->xb, m->xb, sizeof(float) * MB * MD);
        memcpy(m1->yb, m->yb, sizeof(float) * MB * MC);
        memcpy(m1->lb, m->lb, sizeof(int) * MB);
        tu_step_once(m1, MB);
        for (int k = 0; k < 3; k++) {
            int t2 = find_tensor(m, names[k]), t1 = find_tensor(m1, names[k]);
            char what[96];
            snprintf(what, sizeof what, "%s: %s after one step, 1 vs 2 hidden layers", ctx,
                     names[k]);
            assert_true(tu_close(what, m1->params + m1->tensors[t1].off,
                                 m->params + m->tensors[t2].off, m->tensors[t2].n, 1e-7, 1e-6));
        }
        bpfree_model_free(m1);
    }
    free(p0);
    bpfree_model_free(m);
}

static void test_mf_local_updates(void **state) {
    (void)state;
    mf_check(BPFREE_ACT_TANH, 21);
    mf_check(BPFREE_ACT_SIGMOID, 22);
    mf_check(BPFREE_ACT_RELU, 23);
}

/* ------------------------------------------------------------ b. memory */

/* Peak bytes of a model with `nh` hidden layers of 256 (D = 784, C = 10,
 * batch 512, the rule's default optimizer) after building it and training
 * one epoch of 64 samples; also its parameter count and the bytes it keeps
 * per parameter (parameter, gradient, optimizer state: 3 floats for SGD,
 * 4 for Adam). */
static size_t peak_for(const char *rule, int nh, const bpfree_dataset *ds, size_t *np,
                       size_t *per_param) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, rule, 784, 10, &err), BPFREE_OK);
    cfg.n_hidden = nh;
    for (int i = 0; i < nh; i++) cfg.hidden[i] = 256;
    cfg.batch = 512;
    cfg.threads = 1;
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    assert_int_equal(bpfree_train_epoch(m, ds, NULL, &err), BPFREE_OK);
    *np = bpfree_model_param_count(m);
    *per_param = sizeof(float) * (cfg.optim.kind == BPFREE_OPTIM_ADAM ? 4 : 3);
    size_t peak = bpfree_model_peak_bytes(m);
    assert_true(peak >= bpfree_model_bytes(m));
    bpfree_model_free(m);
    return peak;
}

static void test_memory_vs_depth(void **state) {
    (void)state;
    bpfree_dataset ds;
    tu_make_dataset(&ds, 64, 784, 10, 3);
    /* One hidden activation buffer of the batch: (512, 256) floats. */
    const size_t act = (size_t)512 * 256 * sizeof(float);
    size_t np_mf2, np_mf8, np_bp2, np_bp8, pp_mf, pp_bp;
    size_t mf2 = peak_for("mf", 2, &ds, &np_mf2, &pp_mf);
    size_t mf8 = peak_for("mf", 8, &ds, &np_mf8, &pp_mf);
    size_t bp2 = peak_for("bp", 2, &ds, &np_bp2, &pp_bp);
    size_t bp8 = peak_for("bp", 8, &ds, &np_bp8, &pp_bp);
    /* Six more layers add (256*256 + 256) weights and biases each, and MF
     * also a (10, 256) projection each. */
    assert_int_equal(np_bp8 - np_bp2, 6 * (256 * 256 + 256));
    assert_int_equal(np_mf8 - np_mf2, 6 * (256 * 256 + 256 + 10 * 256));
    /* Growth beyond what the extra parameters themselves cost (parameter,
     * gradient, optimizer state).  MF keeps one layer's input and output
     * alive (buffers of the widest layer), whatever the depth, so its extra
     * growth is well under one activation buffer.  BP keeps every layer's
     * output for the backward pass: six more layers cost at least six more
     * (512, 256) activation buffers. */
    long mf_extra = (long)(mf8 - mf2) - (long)((np_mf8 - np_mf2) * pp_mf);
    long bp_extra = (long)(bp8 - bp2) - (long)((np_bp8 - np_bp2) * pp_bp);
    int ok = mf_extra < (long)act && bp_extra >= 6 * (long)act && bp8 - bp2 > mf8 - mf2;
    if (!ok)
        printf("  peak bytes: mf 2 layers %zu, 8 layers %zu (growth beyond parameters %ld);\n"
           "              bp 2 layers %zu, 8 layers %zu (growth beyond parameters %ld)\n",
           mf2, mf8, mf_extra, bp2, bp8, bp_extra);
    assert_true(mf_extra < (long)act);
    assert_true(bp_extra >= 6 * (long)act);
    /* and BP's total growth exceeds MF's, although MF adds a projection per
     * layer */
    assert_true(bp8 - bp2 > mf8 - mf2);
    bpfree_data_free(&ds);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mf_local_updates),
        cmocka_unit_test(test_memory_vs_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
