/* test_rules.c — the learning rules on tiny nets built through the public
 * API, checked through the model's internal fields:
 *   a. BP's gradients equal central differences of the batch loss;
 *   b. MF's update of W_i, b_i, M_i equals the local gradient of layer i's
 *      own softmax cross-entropy (003, eqs. 5-8), no gradient crosses
 *      layers, and layer i+1 sees layer i's pre-update activation;
 *   c. DFA's update equals e B_l carried to each hidden layer (002 §2.4 eq. 6);
 *   d. training is bit-for-bit deterministic for a seed;
 *   e. a non-finite loss stops training with BPFREE_ENAN;
 *   f. MF's memory does not grow with depth beyond its parameters; BP's does.
 * All with SGD, no momentum, no weight decay, schedule NONE: one step is
 * p_new = p_old - lr g, so g = (p_old - p_new) / lr. */
#include "testutil.h"

#define H 1e-3

/* ------------------------------------------------------------- helpers */

static bpfree_model *make_model(const char *rule, int D, int C, int nh, const int *hidden,
                                bpfree_act act, bpfree_loss loss, int B, float lr,
                                uint64_t seed) {
    bpfree_config cfg = tu_sgd_config(rule, D, C, nh, hidden, act, loss, B, lr, seed, 2);
    bpfree_error err = {0};
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(&cfg, &m, &err);
    if (st) printf("  bpfree_model_new(%s): %s\n", rule, err.msg);
    assert_int_equal(st, BPFREE_OK);
    assert_non_null(m);
    m->keep_grads = 1; /* these tests read the gradient a step used */
    return m;
}

/* One training step on the batch in m->xb/yb/lb; returns the loss. */
static double step_once(bpfree_model *m, int B) {
    double loss = 0.0;
    long correct = 0;
    bp_optim_begin_step(&m->optim, m->cfg.optim.lr);
    assert_int_equal(m->rule->train_batch(m, B, &loss, &correct), BPFREE_OK);
    assert_true(correct >= 0 && correct <= B);
    return loss;
}






/* Softmax CE in double on scores S (B,C): returns the mean loss and
 * dS = (softmax(S) - y) / B. */
static double ref_softmax_ce(const double *S, const float *y, int B, int C, double *dS) {
    double total = 0.0;
    for (int r = 0; r < B; r++) {
        const double *s = S + (size_t)r * C;
        double mx = s[0];
        for (int c = 1; c < C; c++) mx = s[c] > mx ? s[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += exp(s[c] - mx);
        double lse = mx + log(sum);
        for (int c = 0; c < C; c++) {
            double p = exp(s[c] - lse), yc = y[(size_t)r * C + c];
            total -= yc * (s[c] - lse);
            dS[(size_t)r * C + c] = (p - yc) / B;
        }
    }
    return total / B;
}

static double maxdiff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d;
}

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
    bpfree_model *m = make_model("bp", D, C, 2, hidden, act, loss, B, lr, seed);
    assert_int_equal(m->n_layers, 3);
    tu_fill_batch(m, B, seed + 1000, -1.0f, 1.0f);
    const size_t np = m->n_params;
    assert_int_equal(np, 4 * 5 + 4 + 3 * 4 + 3 + 3 * 3 + 3);
    float *p0 = copy_floats(m->params, np), scores[B * C];
    double l0 = batch_loss(m, B, scores);

    double l_train = step_once(m, B);
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

/* ----------------------------------------------------------- b. MF */

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

/* Compare the library's update of tensor `name` with a reference gradient. */
static void check_tensor_update(const bpfree_model *m, const float *p0, const char *name,
                                const float *want, const char *ctx) {
    int t = find_tensor(m, name);
    size_t n = m->tensors[t].n;
    float *g = malloc(n * sizeof(float));
    assert_non_null(g);
    recovered_grad(m, p0, t, g);
    char what[128];
    snprintf(what, sizeof what, "%s: update of %s / lr vs hand-derived gradient", ctx, name);
    assert_true(tu_close(what, g, want, n, 1e-5, 1e-3));
    snprintf(what, sizeof what, "%s: stored gradient of %s vs hand-derived gradient", ctx, name);
    assert_true(tu_close(what, bp_tensor_grad(m, t), want, n, 1e-6, 1e-4));
    if (tu_maxabs(want, n) <= 1e-3) printf("  %s: reference gradient of %s is ~0\n", ctx, name);
    assert_true(tu_maxabs(want, n) > 1e-3);
    free(g);
}

static void mf_check(bpfree_act act, uint64_t seed) {
    enum { H1 = 5, H2 = 4 };
    const int hidden[] = {H1, H2};
    const float lr = 0.5f;
    const char *ctx = bpfree_act_name(act);
    bpfree_model *m = make_model("mf", MD, MC, 2, hidden, act, BPFREE_LOSS_CE, MB, lr, seed);
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

    double loss = step_once(m, MB);
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
                   maxdiff(g, aW2, H2 * H1));
        assert_true(differs);
    }

    /* No gradient crosses layers: a 1-hidden-layer MF model with the same
     * W1, b1, M1 (copied over: init order differs) and the same batch makes
     * exactly the same update of layer 1. */
    {
        const int h1[] = {H1};
        bpfree_model *m1 = make_model("mf", MD, MC, 1, h1, act, BPFREE_LOSS_CE, MB, lr, seed);
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
        step_once(m1, MB);
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

/* ---------------------------------------------------------- c. DFA */

static void dfa_check(int nh, const int *hidden, bpfree_act act, uint64_t seed) {
    enum { D = 5, C = 3, B = 6 };
    const float lr = 0.5f;
    const char *ctx = bpfree_act_name(act);
    bpfree_model *m = make_model("dfa", D, C, nh, hidden, act, BPFREE_LOSS_CE, B, lr, seed);
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

    step_once(m, B);

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
        float *gW = malloc((size_t)n * I * sizeof(float)), *gb = malloc((size_t)n * sizeof(float));
        float *gW_bp = malloc((size_t)n * I * sizeof(float)), *gb_bp = malloc(n * sizeof(float));
        assert_non_null(dz);
        assert_non_null(dz_bp);
        assert_non_null(gW);
        assert_non_null(gb);
        assert_non_null(gW_bp);
        assert_non_null(gb_bp);
        /* delta_h = e B_l (B, n);  dz = delta_h ⊙ f'(z_l) */
        for (int r = 0; r < B; r++)
            for (int k = 0; k < n; k++) {
                double s = 0.0;
                for (int c = 0; c < C; c++) s += e[r * C + c] * Bf[(size_t)c * n + k];
                size_t j = (size_t)r * n + k;
                dz[j] = s * ref_df(act, z[l + 1][j], h[l + 1][j]);
            }
        ref_param_grads(dz, h[l], B, I, n, gW, gb);
        snprintf(name, sizeof name, "W%d", l + 1);
        snprintf(what, sizeof what, "dfa %s %d hidden", ctx, nh);
        check_tensor_update(m, p0, name, gW, what);
        snprintf(name, sizeof name, "b%d", l + 1);
        check_tensor_update(m, p0, name, gb, what);

        /* The check discriminates DFA from BP: with the transported weights
         * (last hidden layer: delta_h = e W_out) the W gradient differs. */
        if (l == nh - 1) {
            const bp_layer *Lo = &m->layers[nh];
            const float *Wo = p0 + Lo->off; /* (C, n) */
            for (int r = 0; r < B; r++)
                for (int k = 0; k < n; k++) {
                    double s = 0.0;
                    for (int c = 0; c < C; c++) s += e[r * C + c] * Wo[(size_t)c * n + k];
                    size_t j = (size_t)r * n + k;
                    dz_bp[j] = s * ref_df(act, z[l + 1][j], h[l + 1][j]);
                }
            ref_param_grads(dz_bp, h[l], B, I, n, gW_bp, gb_bp);
            snprintf(name, sizeof name, "W%d", l + 1);
            const float *g = bp_tensor_grad(m, find_tensor(m, name));
            int differs = clearly_differs(g, gW_bp, (size_t)n * I, 1e-5, 1e-3);
            if (!differs)
                printf("  %s: DFA update equals BP's (largest diff %g)\n", what,
                       maxdiff(g, gW_bp, (size_t)n * I));
            assert_true(differs);
        }
        free(dz);
        free(dz_bp);
        free(gW);
        free(gb);
        free(gW_bp);
        free(gb_bp);
    }
    /* output layer: its true gradient, dW = e^T h_L, db = sum e */
    {
        const int I = width[nh];
        float *gW = malloc((size_t)C * I * sizeof(float)), gb[C];
        assert_non_null(gW);
        ref_param_grads(e, h[nh], B, I, C, gW, gb);
        snprintf(name, sizeof name, "W%d", nh + 1);
        snprintf(what, sizeof what, "dfa %s %d hidden, output layer", ctx, nh);
        check_tensor_update(m, p0, name, gW, what);
        snprintf(name, sizeof name, "b%d", nh + 1);
        check_tensor_update(m, p0, name, gb, what);
        free(gW);
    }
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

/* ---------------------------------------------------- d. determinism */

/* Model with the rule's own default optimizer (Adam + cooldown for most),
 * two small hidden layers. */
static bpfree_model *make_default(const char *rule, int D, int C, uint64_t seed) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, rule, D, C, &err), BPFREE_OK);
    cfg.n_hidden = 2;
    cfg.hidden[0] = 16;
    cfg.hidden[1] = 12;
    cfg.batch = 32;
    cfg.epochs = 2;
    cfg.seed = seed;
    cfg.threads = 1;
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(&cfg, &m, &err);
    if (st) printf("  %s: %s\n", rule, err.msg);
    assert_int_equal(st, BPFREE_OK);
    return m;
}

static void train_two_epochs(bpfree_model *m, const bpfree_dataset *ds) {
    bpfree_error err = {0};
    for (int e = 0; e < 2; e++) {
        bpfree_epoch_stats st;
        bpfree_status s = bpfree_train_epoch(m, ds, &st, &err);
        if (s) printf("  train: %s\n", err.msg);
        assert_int_equal(s, BPFREE_OK);
        assert_int_equal(st.epoch, e);
        assert_true(isfinite(st.train_loss));
    }
    assert_int_equal(bpfree_model_epochs_done(m), 2);
}

static void test_determinism(void **state) {
    (void)state;
    enum { N = 150, D = 10, C = 4 }; /* 150 = 4 full batches of 32 + 22 */
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, D, C, 5);
    const char *rules[] = {"bp", "mf", "dfa"};
    for (int i = 0; i < 3; i++) {
        bpfree_model *a = make_default(rules[i], D, C, 42);
        bpfree_model *b = make_default(rules[i], D, C, 42);
        bpfree_model *c = make_default(rules[i], D, C, 43);
        float *init = copy_floats(a->params, a->n_params);
        train_two_epochs(a, &ds);
        train_two_epochs(b, &ds);
        train_two_epochs(c, &ds);
        assert_int_equal(a->n_params, b->n_params);
        int same = memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
        if (!same)
            printf("  %s: same seed, parameters differ by up to %g\n", rules[i],
                   maxdiff(a->params, b->params, a->n_params));
        assert_true(same);
        assert_true(memcmp(a->state, b->state, (a->n_state ? a->n_state : 1) * sizeof(float)) ==
                    0);
        /* training changed the parameters, and another seed gives others */
        assert_true(memcmp(a->params, init, a->n_params * sizeof(float)) != 0);
        if (memcmp(a->params, c->params, a->n_params * sizeof(float)) == 0)
            printf("  %s: seeds 42 and 43 give identical parameters\n", rules[i]);
        assert_true(memcmp(a->params, c->params, a->n_params * sizeof(float)) != 0);
        free(init);
        bpfree_model_free(a);
        bpfree_model_free(b);
        bpfree_model_free(c);
    }
    bpfree_data_free(&ds);
}

/* ------------------------------------------------------- e. NaN guard */

/* Trains up to 5 epochs; 1 if training stopped with BPFREE_ENAN and a
 * message naming the epoch. */
static int stops_with_nan(bpfree_model *m, const bpfree_dataset *ds, const char *ctx) {
    bpfree_error err = {0};
    bpfree_status st = BPFREE_OK;
    int e = 0;
    for (; e < 5 && st == BPFREE_OK; e++) st = bpfree_train_epoch(m, ds, NULL, &err);
    if (st != BPFREE_ENAN) {
        printf("  %s: status %d after %d epochs (parameters %s), expected BPFREE_ENAN\n", ctx,
               (int)st, e, bp_check_finite(m->params, m->n_params) ? "finite" : "NOT finite");
        return 0;
    }
    if (err.code != BPFREE_ENAN || !strstr(err.msg, "epoch")) {
        printf("  %s: code %d, message without 'epoch': %s\n", ctx, (int)err.code, err.msg);
        return 0;
    }
    return 1;
}

enum { NN = 64, ND = 10, NC = 4 };

/* Every rule, with a NaN in one input sample and activation `act`. */
static int nan_data_all_rules(bpfree_act act) {
    const char *rules[] = {"bp", "mf", "dfa"};
    const int hidden[] = {16, 12};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        char ctx[64];
        bpfree_dataset ds;
        tu_make_dataset(&ds, NN, ND, NC, 9);
        ds.x[3 * ND + 2] = NAN;
        bpfree_model *m =
            make_model(rules[i], ND, NC, 2, hidden, act, BPFREE_LOSS_CE, 16, 0.01f, 1);
        snprintf(ctx, sizeof ctx, "%s/%s, NaN in the data", rules[i], bpfree_act_name(act));
        ok &= stops_with_nan(m, &ds, ctx);
        bpfree_model_free(m);
        bpfree_data_free(&ds);
    }
    return ok;
}

static void test_nan_guard_nan_data_tanh(void **state) {
    (void)state;
    assert_true(nan_data_all_rules(BPFREE_ACT_TANH));
}

/* ReLU (the default activation) must not swallow the NaN: if it maps NaN to
 * 0, the NaN still reaches W1 through gW = dz^T x, every later forward pass
 * gives z = NaN -> 0, the loss stays finite and training goes on with NaN
 * weights. */
static void test_nan_guard_nan_data_relu(void **state) {
    (void)state;
    assert_true(nan_data_all_rules(BPFREE_ACT_RELU));
}

/* A learning rate that blows the weights up.  Identity hidden units, so
 * nothing saturates (tanh would keep the hidden outputs in [-1, 1] and the
 * logits, though ~1e30, finite) and nothing dies (ReLU): after one step
 * every weight is ~1e30 and the logits of a 3-layer product overflow. */
static void test_nan_guard_huge_lr(void **state) {
    (void)state;
    const char *rules[] = {"bp", "mf", "dfa"};
    const int hidden[] = {16, 12};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        char ctx[64];
        bpfree_dataset ds;
        tu_make_dataset(&ds, NN, ND, NC, 9);
        bpfree_model *m = make_model(rules[i], ND, NC, 2, hidden, BPFREE_ACT_IDENTITY,
                                     BPFREE_LOSS_CE, 16, 1e30f, 1);
        snprintf(ctx, sizeof ctx, "%s, lr 1e30", rules[i]);
        ok &= stops_with_nan(m, &ds, ctx);
        bpfree_model_free(m);
        bpfree_data_free(&ds);
    }
    assert_true(ok);
}

/* ------------------------------------------------------------ f. memory */

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
        cmocka_unit_test(test_bp_gradients),   cmocka_unit_test(test_mf_local_updates),
        cmocka_unit_test(test_dfa_updates),    cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_nan_guard_nan_data_tanh),
        cmocka_unit_test(test_nan_guard_nan_data_relu),
        cmocka_unit_test(test_nan_guard_huge_lr),
        cmocka_unit_test(test_memory_vs_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
