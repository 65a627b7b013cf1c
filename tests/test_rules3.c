/* test_rules3.c — forward gradients and learned feedback (paper 002):
 *   a. the forward-mode tangent (tangent.c) equals J v by central
 *      differences of the network output along the same direction, for
 *      weight, activity and both perturbations, with tanh and ReLU;
 *   b. FG-W and FG-A are unbiased: the mean of K estimates approaches BP's
 *      gradient, and the error shrinks with K (64 vs 4096); LG-FG-A's is
 *      unbiased for each block's own loss;
 *   c. FDFA's feedback of the last hidden layer approaches W_out for a
 *      linear output (eq. 13), with the exponential average (eq. 8) and with
 *      Adam (eqs. 9-10); B is updated before it is used;
 *   d. DKP's feedback update and its hidden signal equal a hand computation
 *      over two steps;
 *   e. fg-w, fg-a, lg-fg-a, dkp and fdfa each reduce the training loss on a
 *      small synthetic problem. */
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

static bpfree_model *make_model(const char *rule, int D, int C, int nh, const int *hidden,
                                bpfree_act act, int B, float lr, uint64_t seed,
                                void (*tweak)(bpfree_config *)) {
    bpfree_config cfg = tu_sgd_config(rule, D, C, nh, hidden, act, BPFREE_LOSS_CE, B, lr, seed, 2);
    bpfree_error err = {0};
    if (tweak) tweak(&cfg);
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(&cfg, &m, &err);
    if (st) printf("  bpfree_model_new(%s): %s\n", rule, err.msg);
    assert_int_equal(st, BPFREE_OK);
    m->keep_grads = 1; /* these tests read the gradient a step used */
    return m;
}

static double step_once(bpfree_model *m, int B) {
    double loss = 0.0;
    long correct = 0;
    bp_optim_begin_step(&m->optim, m->cfg.optim.lr);
    assert_int_equal(m->rule->train_batch(m, B, &loss, &correct), BPFREE_OK);
    return loss;
}

static double norm2(const double *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return sqrt(s);
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

/* Double-precision forward of the model's net with parameters p + eps V and
 * every layer's output + eps u_l: writes the output (B, C) into y.  Keeps
 * z and h of every layer when zs/hs are given (hs[0] = the input). */
static void ref_forward(const bpfree_model *m, const float *x, int B, double eps, const float *V,
                        float *const *u, double *y, double **zs, double **hs) {
    const int L = m->n_layers;
    int in = m->cfg.inputs;
    double *cur = malloc(sizeof(double) * (size_t)B * in);
    assert_non_null(cur);
    for (size_t i = 0; i < (size_t)B * in; i++) cur[i] = x[i];
    if (hs) memcpy(hs[0], cur, sizeof(double) * (size_t)B * in);
    for (int l = 0; l < L; l++) {
        const bp_layer *Ly = &m->layers[l];
        const int O = Ly->out, I = Ly->in;
        const size_t nw = (size_t)O * I;
        const float *Vw = V ? V + Ly->off : NULL, *Vb = V ? V + Ly->off + nw : NULL;
        double *nxt = malloc(sizeof(double) * (size_t)B * O);
        assert_non_null(nxt);
        for (int r = 0; r < B; r++)
            for (int o = 0; o < O; o++) {
                double z = (double)Ly->b[o] + (Vb ? eps * Vb[o] : 0.0);
                for (int k = 0; k < I; k++) {
                    double w = (double)Ly->W[(size_t)o * I + k] +
                               (Vw ? eps * Vw[(size_t)o * I + k] : 0.0);
                    z += cur[(size_t)r * I + k] * w;
                }
                double h = ref_f(Ly->act, z);
                if (u && u[l]) h += eps * u[l][(size_t)r * O + o];
                if (zs) zs[l][(size_t)r * O + o] = z;
                nxt[(size_t)r * O + o] = h;
            }
        if (hs) memcpy(hs[l + 1], nxt, sizeof(double) * (size_t)B * O);
        free(cur);
        cur = nxt;
    }
    memcpy(y, cur, sizeof(double) * (size_t)B * m->cfg.outputs);
    free(cur);
}

/* ---------------------------------------------------------- a. tangent */

static void tangent_case(bpfree_act act, int weights, int acts, uint64_t seed) {
    enum { D = 5, C = 3, B = 4 };
    const int hidden[] = {6, 4};
    const double eps = 1e-4;
    bpfree_model *m = make_model("fg-a", D, C, 2, hidden, act, B, 0.1f, seed, NULL);
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

/* ------------------------------------------------------- b. unbiasedness */

/* Relative error ||mean_K g - g_bp|| / ||g_bp|| at K = 64 and K = 4096. */
static void unbiased_case(const char *rule, double max_err) {
    enum { D = 5, C = 3, B = 6, K1 = 64, K2 = 4096 };
    const int hidden[] = {4, 3};
    bpfree_model *m = make_model(rule, D, C, 2, hidden, BPFREE_ACT_TANH, B, 0.1f, 5, NULL);
    bpfree_model *bp = make_model("bp", D, C, 2, hidden, BPFREE_ACT_TANH, B, 0.1f, 5, NULL);
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
    step_once(bp, B);
    for (size_t i = 0; i < np; i++) g[i] = bp->grads[i];
    const double gn = norm2(g, np);
    assert_true(gn > 1e-3);
    double err1 = 0.0, err2 = 0.0;
    for (int k = 1; k <= K2; k++) {
        memcpy(m->params, p0, np * sizeof(float));
        step_once(m, B);
        for (size_t i = 0; i < np; i++) sum[i] += m->grads[i];
        if (k == K1 || k == K2) {
            for (size_t i = 0; i < np; i++) diff[i] = sum[i] / k - g[i];
            *(k == K1 ? &err1 : &err2) = norm2(diff, np) / gn;
        }
    }
    printf("  %s: relative error of the mean estimate: K=%d %.3f, K=%d %.3f\n", rule, K1, err1,
           K2, err2);
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
    unbiased_case("fg-w", 0.25);
}

static void test_fga_unbiased(void **state) {
    (void)state;
    unbiased_case("fg-a", 0.25);
}

/* LG-FG-A: layer 1's estimate is unbiased for the gradient of its own head's
 * loss (which Mono-Forward computes exactly with the same W1, b1, M1), the
 * last hidden layer's for the network loss (BP's gradient), and the output
 * layer and M1 get their true gradients at every draw. */
static void test_lgfga_unbiased_local(void **state) {
    (void)state;
    enum { D = 5, C = 3, B = 6, K = 4096 };
    const int hidden[] = {4, 3};
    bpfree_model *m = make_model("lg-fg-a", D, C, 2, hidden, BPFREE_ACT_TANH, B, 0.1f, 8, NULL);
    bpfree_model *bp = make_model("bp", D, C, 2, hidden, BPFREE_ACT_TANH, B, 0.1f, 8, NULL);
    bpfree_model *mf = make_model("mf", D, C, 2, hidden, BPFREE_ACT_TANH, B, 0.1f, 8, NULL);
    assert_int_equal(m->n_params, bp->n_params + (size_t)C * 4); /* + M1 (C, 4) */
    const int tM = find_tensor(m, "M1"), tMf = find_tensor(mf, "M1");
    const size_t nnet = bp->n_params, n1 = (size_t)4 * D + 4, nM = (size_t)C * 4;
    memcpy(bp->params, m->params, nnet * sizeof(float));
    memcpy(mf->params, m->params, n1 * sizeof(float)); /* W1, b1 */
    memcpy(bp_tensor_ptr(mf, tMf), bp_tensor_ptr(m, tM), nM * sizeof(float));
    tu_fill_batch(m, B, 31, -1.0f, 1.0f);
    tu_fill_batch(bp, B, 31, -1.0f, 1.0f);
    tu_fill_batch(mf, B, 31, -1.0f, 1.0f);
    step_once(bp, B);
    step_once(mf, B);
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
        step_once(m, B);
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

/* ------------------------------------------------ c. FDFA feedback -> W_L */

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
    step_once(m, B);
    /* B is updated before it is used: the first step already moves layer 1 */
    assert_true(tu_maxabs(m->layers[0].gW, (size_t)8 * D) > 0.0);
    assert_true(tu_maxabs(bp_tensor_ptr(m, tB1), m->tensors[tB1].n) > 0.0);
    for (int s = 1; s < STEPS; s++) {
        tu_fill_batch(m, B, 1000 + (uint64_t)s, -1.0f, 1.0f);
        step_once(m, B);
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

/* ------------------------------------------------------ d. DKP by hand */

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
        step_once(m, B);
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

/* ---------------------------------------------------------- e. learning */

static float g_lr;

static void learn_cfg(bpfree_config *c) {
    c->optim.kind = BPFREE_OPTIM_ADAM;
    c->optim.lr = g_lr;
    c->fb_lr = 3e-3f;
}

static void fdfa_ema_cfg(bpfree_config *c) {
    learn_cfg(c);
    c->fb_optim = BPFREE_FB_EMA;
    c->fb_lr = 0.02f;
}

/* A teacher problem: label = argmax(x A) for a fixed random A (D, C). */
static void learn_case(const char *rule, float lr, void (*tweak)(bpfree_config *)) {
    enum { N = 256, D = 8, C = 3, B = 16, EPOCHS = 30 };
    const int hidden[] = {16, 16};
    bpfree_error err = {0};
    bpfree_dataset ds;
    assert_int_equal(bpfree_data_alloc(&ds, N, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, 4242);
    float A[D * C];
    tu_fill_uniform(&r, A, D * C, -1.0f, 1.0f);
    tu_fill_uniform(&r, ds.x, (size_t)N * D, -1.0f, 1.0f);
    for (int i = 0; i < N; i++) {
        float s[C] = {0};
        for (int c = 0; c < C; c++)
            for (int k = 0; k < D; k++) s[c] += ds.x[(size_t)i * D + k] * A[k * C + c];
        ds.labels[i] = bp_argmax(s, C);
    }
    g_lr = lr;
    bpfree_model *m = make_model(rule, D, C, 2, hidden, BPFREE_ACT_RELU, B, lr, 1, tweak);
    double first = 0.0, last = 0.0, acc = 0.0;
    for (int ep = 0; ep < EPOCHS; ep++) {
        bpfree_epoch_stats st;
        bpfree_status s = bpfree_train_epoch(m, &ds, &st, &err);
        if (s) printf("  %s: %s\n", rule, err.msg);
        assert_int_equal(s, BPFREE_OK);
        if (ep == 0) first = st.train_loss;
        last = st.train_loss;
        acc = st.train_acc;
    }
    printf("  %-7s train loss %.3f -> %.3f (train accuracy %.1f%%)\n", rule, first, last,
           100 * acc);
    assert_true(last < 0.8 * first);
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

static void test_rules_learn(void **state) {
    (void)state;
    learn_case("fg-w", 1e-2f, learn_cfg); /* 3e-2 overshoots */
    learn_case("fg-a", 1e-2f, learn_cfg);
    learn_case("lg-fg-a", 1e-2f, learn_cfg);
    learn_case("dkp", 3e-3f, learn_cfg);
    learn_case("fdfa", 3e-3f, learn_cfg);
    learn_case("fdfa", 3e-3f, fdfa_ema_cfg);
}

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
    long tail3 = 0, tail4 = 0, below[9] = {0};
    const double zs[9] = {-2.5, -2, -1, -0.5, 0, 0.5, 1, 2, 2.5};
    for (int i = 0; i < N; i++) {
        const double x = v[i];
        assert_true(isfinite(x));
        m1 += x, m2 += x * x, m4 += x * x * x * x;
        tail3 += fabs(x) > 3.0;
        tail4 += fabs(x) > 4.0;
        for (int k = 0; k < 9; k++) below[k] += x <= zs[k];
        if (i % 2 == 1) pair += (double)v[i - 1] * x;
    }
    m1 /= N, m2 /= N, m4 /= N, pair /= N / 2;
    printf("  mean %.5f  var %.5f  E x^4 %.4f  pair corr %.5f  P(|x|>3) %.6f  P(|x|>4) %.2e\n",
           m1, m2, m4, pair, (double)tail3 / N, (double)tail4 / N);
    /* tolerances ~ 5 standard errors at N = 2e6 */
    assert_true(fabs(m1) < 0.0036);
    assert_true(fabs(m2 - 1.0) < 0.005);
    assert_true(fabs(m4 - 3.0) < 0.035);
    assert_true(fabs(pair) < 0.005);
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

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_fill),
        cmocka_unit_test(test_tangent_tanh),
        cmocka_unit_test(test_tangent_relu),
        cmocka_unit_test(test_fgw_unbiased),
        cmocka_unit_test(test_fga_unbiased),
        cmocka_unit_test(test_lgfga_unbiased_local),
        cmocka_unit_test(test_fdfa_feedback_learns_w_out_ema),
        cmocka_unit_test(test_fdfa_feedback_learns_w_out_adam),
        cmocka_unit_test(test_dkp_update_by_hand),
        cmocka_unit_test(test_rules_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
