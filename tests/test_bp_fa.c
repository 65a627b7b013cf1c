/* test_bp_fa.c — backpropagation and feedback alignment, the rules that
 * carry the error back through the chain of layers, on tiny nets built
 * through the public API and checked through the model's internal fields:
 *   a. BP's gradients equal central differences of the batch loss;
 *   b. FA with B_l = W_l is BP, bit for bit.
 * SGD, no momentum, no weight decay, schedule NONE: one step is
 * p_new = p_old - lr g, so g = (p_old - p_new) / lr. */
#include "testutil.h"

#define H 1e-3

/* ------------------------------------------------------- a. BP gradients */

/* Mean batch loss of the current parameters by a plain forward pass. */
static double batch_loss(bpfree_model *m, int B, float *scores) {
    bpfree_error err = {0};
    assert_int_equal(bpfree_predict(m, m->xb, B, scores, &err), BPFREE_OK);
    return bp_loss(m->cfg.loss, scores, m->yb, B, m->cfg.outputs, NULL);
}

static void bp_gradcheck(bpfree_act act, bpfree_loss loss, uint64_t seed) {
    enum { D = 5, C = 3, B = 6 };
    const int hidden[] = {4, 3};
    const float lr = 0.5f;
    bpfree_model *m = tu_sgd_model("bp", D, C, 2, hidden, act, loss, B, lr, seed, 2);
    assert_int_equal(m->n_layers, 3);
    tu_fill_batch(m, B, seed + 1000, -1.0f, 1.0f);
    const size_t np = m->n_params;
    assert_int_equal(np, 4 * 5 + 4 + 3 * 4 + 3 + 3 * 3 + 3);
    float *p0 = copy_floats(m->params, np), scores[B * C];
    double l0 = batch_loss(m, B, scores);

    double l_train = tu_step_once(m, B);
    /* the training loss is the loss before the update */
    assert_true(fabs(l_train - l0) <= 1e-6 * (1.0 + fabs(l0)));

    float *g_lib = copy_floats(m->grads, np), *g_rec = malloc(np * sizeof(float));
    float *g_fd = malloc(np * sizeof(float));
    assert_non_null(g_rec);
    assert_non_null(g_fd);
    for (size_t i = 0; i < np; i++)
        g_rec[i] = (float)(((double)p0[i] - (double)m->params[i]) / lr);

    /* central differences around the pre-update parameters */
    memcpy(m->params, p0, np * sizeof(float));
    for (size_t i = 0; i < np; i++) {
        float pp = (float)(p0[i] + H), pm = (float)(p0[i] - H);
        m->params[i] = pp;
        double lp = batch_loss(m, B, scores);
        m->params[i] = pm;
        double lm = batch_loss(m, B, scores);
        m->params[i] = p0[i];
        g_fd[i] = (float)((lp - lm) / ((double)pp - (double)pm));
    }
    char what[96];
    for (int t = 0; t < m->n_tensors; t++) {
        const bp_tensor *x = &m->tensors[t];
        snprintf(what, sizeof what, "bp %s/%s: grad of %s vs central difference",
                 bpfree_act_name(act), bpfree_loss_name(loss), x->name);
        assert_true(tu_close(what, g_lib + x->off, g_fd + x->off, x->n, 2e-4, 1e-2));
        snprintf(what, sizeof what, "bp %s/%s: update of %s / lr vs central difference",
                 bpfree_act_name(act), bpfree_loss_name(loss), x->name);
        assert_true(tu_close(what, g_rec + x->off, g_fd + x->off, x->n, 2e-4, 1e-2));
        /* every tensor, the first layer's included, got a real gradient */
        if (tu_maxabs(g_lib + x->off, x->n) <= 1e-4)
            printf("  %s: gradient of %s is all ~0\n", what, x->name);
        assert_true(tu_maxabs(g_lib + x->off, x->n) > 1e-4);
    }
    free(p0);
    free(g_lib);
    free(g_rec);
    free(g_fd);
    bpfree_model_free(m);
}

static void test_bp_gradients(void **state) {
    (void)state;
    bp_gradcheck(BPFREE_ACT_TANH, BPFREE_LOSS_CE, 1);
    bp_gradcheck(BPFREE_ACT_SIGMOID, BPFREE_LOSS_CE, 2);
    bp_gradcheck(BPFREE_ACT_TANH, BPFREE_LOSS_MSE, 3);
    bp_gradcheck(BPFREE_ACT_SIGMOID, BPFREE_LOSS_MSE, 4);
    bp_gradcheck(BPFREE_ACT_SIGMOID, BPFREE_LOSS_BCE, 5);
    bp_gradcheck(BPFREE_ACT_IDENTITY, BPFREE_LOSS_CE, 6);
}

/* --------------------------------------------------- b. FA with B = W is BP */

/* Copy every layer's W_l (l >= 2) into FA's feedback tensor "B{l}". */
static void fa_copy_w_into_b(bpfree_model *fa) {
    for (int l = 1; l < fa->n_layers; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l + 1);
        int t = find_tensor(fa, name);
        const bp_layer *L = &fa->layers[l];
        assert_false(fa->tensors[t].trainable);
        assert_int_equal(fa->tensors[t].n, (size_t)L->out * L->in);
        memcpy(bp_tensor_ptr(fa, t), L->W, (size_t)L->out * L->in * sizeof(float));
    }
}

/* Returns 1 if after `steps` steps on the same batches FA's parameters are
 * bit-identical to BP's.  recopy: copy W into B before every step (FA then
 * is BP: B_l^T = W_l^T in the chain rule at every step); else only once at
 * the start (B keeps the initial W while W moves). */
static int fa_vs_bp(bpfree_config cfg, int steps, int recopy, int verbose) {
    snprintf(cfg.rule, sizeof cfg.rule, "bp");
    bpfree_model *bp = tu_new_model(&cfg, 1);
    snprintf(cfg.rule, sizeof cfg.rule, "fa");
    bpfree_model *fa = tu_new_model(&cfg, 1);
    assert_int_equal(bp->n_params, fa->n_params);
    assert_int_equal(bp->n_layers, fa->n_layers);
    memcpy(fa->params, bp->params, bp->n_params * sizeof(float));
    fa_copy_w_into_b(fa);
    int same = 1;
    for (int s = 0; s < steps && same; s++) {
        const int B = cfg.batch - (s % 2); /* a partial batch now and then */
        tu_fill_batch(bp, B, 500 + (uint64_t)s, -1.0f, 1.0f);
        tu_fill_batch(fa, B, 500 + (uint64_t)s, -1.0f, 1.0f);
        if (recopy) fa_copy_w_into_b(fa);
        double lb = tu_step_once(bp, B), lf = tu_step_once(fa, B);
        same = memcmp(bp->params, fa->params, bp->n_params * sizeof(float)) == 0 && lb == lf;
        if (!same && verbose)
            printf("  fa (B = W) vs bp, %s/%s: step %d: losses %.9g vs %.9g, parameters "
                   "differ by up to %g\n",
                   bpfree_act_name(cfg.act), bpfree_optim_name(cfg.optim.kind), s + 1, lf, lb,
                   tu_maxdiff(fa->params, bp->params, bp->n_params));
    }
    bpfree_model_free(bp);
    bpfree_model_free(fa);
    return same;
}

static void test_fa_with_transported_weights_is_bp(void **state) {
    (void)state;
    const int hidden[] = {7, 6, 5};
    /* SGD (p_new = p_old - lr g) and the rule's Adam, tanh and ReLU, three
     * hidden layers so that B2, B3, B4 all carry the signal */
    bpfree_config c1 = tu_sgd_config("bp", 8, 4, 3, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, 6,
                                     0.3f, 11, 5);
    bpfree_config c2 = tu_sgd_config("bp", 8, 4, 3, hidden, BPFREE_ACT_RELU, BPFREE_LOSS_CE, 6,
                                     0.3f, 12, 5);
    bpfree_config c3 = c1;
    c3.optim.kind = BPFREE_OPTIM_ADAM;
    c3.optim.lr = 1e-2f;
    c3.optim.beta1 = 0.9f;
    c3.optim.beta2 = 0.999f;
    c3.optim.eps = 1e-8f;
    assert_true(fa_vs_bp(c1, 8, 1, 1));
    assert_true(fa_vs_bp(c2, 8, 1, 1));
    assert_true(fa_vs_bp(c3, 8, 1, 1));
    /* the comparison can fail: B fixed at the initial W is no longer W^T
     * once W has moved */
    assert_false(fa_vs_bp(c1, 8, 0, 0));
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bp_gradients),
        cmocka_unit_test(test_fa_with_transported_weights_is_bp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
