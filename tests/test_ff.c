/* test_ff.c — Forward-Forward and Collaborative FF (src/rules/ff.c):
 *   a. label embedding (value, image max) and the neutral label;
 *   b. negatives never carry the true label (random and hard), and follow
 *      the distribution they are drawn from;
 *   c. one step of ff updates every layer by the gradient of its own loss
 *      softplus(theta - G+) + softplus(G- - theta) (003 eq. 4), against
 *      central differences in double (sum/mean goodness, RMS/L2 norm,
 *      theta = width / number, label value / max);
 *   d. cff: layer l's update is the gradient of its collaborative loss with
 *      the other layers' goodness held constant (004 eq. 5): it differs from
 *      the gradient that flows through them, and L_1 sends nothing to W_2;
 *      greedy cff leaves the frozen layer untouched;
 *   e. cff-adaptive: gamma_l moves by -eta dL_l/dgamma_l and lowers L_l
 *      (004 eq. 7); cff-fixed keeps it;
 *   f. peer normalisation adds lambda (r_j - mean r) to dL/db_j;
 *   g. the batched all-label prediction equals C separate passes, for every
 *      head (goodness, one-pass, per layer), and skip-first drops layer 1;
 *   h. no allocation during training or prediction;
 *   i. greedy training past layer 1 keeps layer 1's products of the
 *      positive rows, and rebuilds them when W_1 or the data change.
 * SGD, no momentum, no decay, schedule NONE: g = (p_old - p_new) / lr. */
#include "testutil.h"
#include "rules/ff.h"

#define MAXW 64
#define MAXB 16

/* ------------------------------------------------------------- helpers */

static void base_config(bpfree_config *cfg, const char *rule, int D, int C, int nh,
                        const int *hidden, int B, float lr) {
    bpfree_error err;
    assert_int_equal(bpfree_config_default(cfg, rule, D, C, &err), BPFREE_OK);
    cfg->n_hidden = nh;
    for (int i = 0; i < nh; i++) cfg->hidden[i] = hidden[i];
    cfg->act = BPFREE_ACT_TANH; /* smooth: no kinks under central differences */
    cfg->batch = B;
    cfg->seed = 11;
    cfg->threads = 1;
    cfg->epochs = 2;
    cfg->optim.kind = BPFREE_OPTIM_SGD;
    cfg->optim.lr = lr;
    cfg->optim.momentum = 0.0f;
    cfg->optim.weight_decay = 0.0f;
    cfg->optim.sched = BPFREE_SCHED_NONE;
}

static bpfree_model *build(const bpfree_config *cfg) {
    bpfree_model *m = NULL;
    bpfree_error err;
    bpfree_status st = bpfree_model_new(cfg, &m, &err);
    if (st) printf("  bpfree_model_new: %s\n", err.msg);
    assert_int_equal(st, BPFREE_OK);
    return m;
}

/* Inputs in [0, 1] (like pixels), labels in [0, C). */
static void step_once(bpfree_model *m, int B) {
    double loss = 0.0;
    long correct = 0;
    bp_optim_begin_step(&m->optim, m->cfg.optim.lr);
    assert_int_equal(m->rule->train_batch(m, B, &loss, &correct), BPFREE_OK);
    assert_true(isfinite(loss) && loss > 0.0);
}

/* ------------------------------------------------ reference, in double */

static void ref_norm(bpfree_ff_norm how, double *v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i] * v[i];
    double d = how == BPFREE_FF_RMS ? sqrt(s / n) + 1e-8 : sqrt(s) + 1e-4;
    for (int i = 0; i < n; i++) v[i] /= d;
}

/* Goodness of every layer for one embedded input row x (D), with the
 * parameter block p laid out as in m. */
static void ref_goodness(const bpfree_model *m, const float *p, const float *x, double *G) {
    const bpfree_config *c = &m->cfg;
    double in[MAXW * 2], out[MAXW];
    int n = c->inputs;
    assert_true(n <= 2 * MAXW);
    for (int i = 0; i < n; i++) in[i] = x[i];
    for (int l = 0; l < c->n_hidden; l++) {
        const bp_layer *L = &m->layers[l];
        const float *W = p + L->off, *b = W + (size_t)L->out * L->in;
        ref_norm(c->ff_norm, in, n);
        double g = 0.0;
        for (int o = 0; o < L->out; o++) {
            double z = b[o];
            for (int i = 0; i < n; i++) z += (double)W[(size_t)o * n + i] * in[i];
            out[o] = ref_f(L->act, z);
            g += out[o] * out[o];
        }
        G[l] = c->ff_goodness == BPFREE_FF_MEAN ? g / L->out : g;
        n = L->out;
        for (int i = 0; i < n; i++) in[i] = out[i];
    }
}

static double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* The batch: embedded positive and negative rows (B, D) each. */
typedef struct ref_batch {
    int B;
    float pos[MAXB * 2 * MAXW], neg[MAXB * 2 * MAXW];
} ref_batch;

/* Layer l's loss (004 eq. 8 with theta; 003 eq. 4 when gamma = 0):
 * 1/(2B) sum_b softplus(theta - Gc+_b) + softplus(Gc-_b - theta),
 * Gc = G_l + gamma alpha sum_{k != l, k < nk} G_k.  G_l comes from params
 * `pl`, the other layers' G_k from `pk` (pass the same block for both to
 * let the gradient flow through them). */
static double ref_layer_loss(const bpfree_model *m, const ref_batch *rb, int l, const float *pl,
                             const float *pk, double gamma, int nk) {
    const bpfree_config *c = &m->cfg;
    const int D = c->inputs, L = c->n_hidden;
    const double th = c->ff_theta_width ? m->layers[l].out : c->ff_theta;
    double total = 0.0;
    for (int b = 0; b < rb->B; b++)
        for (int sgn = 0; sgn < 2; sgn++) {
            const float *x = (sgn ? rb->neg : rb->pos) + (size_t)b * D;
            double Gl[BPFREE_MAX_LAYERS], Gk[BPFREE_MAX_LAYERS];
            ref_goodness(m, pl, x, Gl);
            ref_goodness(m, pk, x, Gk);
            double S = 0.0;
            for (int k = 0; k < nk && k < L; k++)
                if (k != l) S += c->cff_alpha * Gk[k];
            double gc = Gl[l] + gamma * S;
            total += sgn ? ref_softplus(gc - th) : ref_softplus(th - gc);
        }
    return total / (2.0 * rb->B);
}

/* Central difference of layer l's loss over every W_l, b_l entry.
 * through_others = 1 lets the perturbation reach the other layers' G_k. */
static void ref_layer_grad(const bpfree_model *m, const ref_batch *rb, int l, const float *p0,
                           double gamma, int nk, int through_others, float *g) {
    const bp_layer *L = &m->layers[l];
    const size_t n = (size_t)L->out * L->in + L->out;
    float *p = copy_floats(p0, m->n_params);
    const double h = 1e-3;
    for (size_t i = 0; i < n; i++) {
        float keep = p[L->off + i];
        p[L->off + i] = keep + (float)h;
        double hp = (double)p[L->off + i] - keep;
        double lp = ref_layer_loss(m, rb, l, p, through_others ? p : p0, gamma, nk);
        p[L->off + i] = keep - (float)h;
        double hm = keep - (double)p[L->off + i];
        double lm = ref_layer_loss(m, rb, l, p, through_others ? p : p0, gamma, nk);
        p[L->off + i] = keep;
        g[i] = (float)((lp - lm) / (hp + hm));
    }
    free(p);
}

/* The positive/negative rows the rule saw.  With C = 2 the only wrong label
 * is 1 - y, whichever way negatives are drawn. */
static void ref_rows(const bpfree_model *m, int B, ref_batch *rb) {
    const int D = m->cfg.inputs;
    assert_int_equal(m->cfg.outputs, 2);
    assert_true(B <= MAXB && D <= 2 * MAXW);
    rb->B = B;
    for (int b = 0; b < B; b++) {
        bp_ff_embed(&m->cfg, m->xb + (size_t)b * D, m->lb[b], rb->pos + (size_t)b * D);
        bp_ff_embed(&m->cfg, m->xb + (size_t)b * D, 1 - m->lb[b], rb->neg + (size_t)b * D);
    }
}

/* The model of cfg on a batch of B inputs in [0, 1] drawn from seed; the
 * rows the rule will see in rb. */
static bpfree_model *build_on_batch(const bpfree_config *cfg, int B, uint64_t seed,
                                    ref_batch *rb) {
    bpfree_model *m = build(cfg);
    tu_fill_batch(m, B, seed, 0.0f, 1.0f);
    ref_rows(m, B, rb);
    return m;
}

/* A cff rule on 10 inputs, 2 classes, hidden layers of 6 and 5, batch B,
 * SGD at 0.05, theta 1 (not the width), gamma as given. */
static void cff_config(bpfree_config *cfg, const char *rule, float gamma, int B) {
    const int hidden[] = {6, 5};
    base_config(cfg, rule, 10, 2, 2, hidden, B, 0.05f);
    cfg->ff_theta_width = 0;
    cfg->ff_theta = 1.0f;
    cfg->cff_gamma = gamma;
}

/* Step g of layer l: (p_old - p_new) / lr. */
static void taken_grad(const bpfree_model *m, int l, const float *p0, const float *p1, float *g) {
    const bp_layer *L = &m->layers[l];
    const size_t n = (size_t)L->out * L->in + L->out;
    for (size_t i = 0; i < n; i++)
        g[i] = (p0[L->off + i] - p1[L->off + i]) / m->cfg.optim.lr;
}

/* ---------------------------------------------------------- a. embedding */

static void test_embed(void **state) {
    (void)state;
    bpfree_config c;
    const int hidden[] = {4};
    base_config(&c, "ff", 9, 3, 1, hidden, 4, 0.1f);
    float x[9] = {0.5f, 0.25f, 0.125f, 0.3f, 0.9f, 0.2f, 0.7f, 0.0f, 0.1f}, out[9];
    bp_ff_embed(&c, x, 1, out);
    const float want[9] = {0, 1, 0, 0.3f, 0.9f, 0.2f, 0.7f, 0.0f, 0.1f};
    assert_true(tu_close("one-hot label", out, want, 9, 0, 0));
    /* the label value */
    c.ff_label = 2.5f;
    bp_ff_embed(&c, x, 2, out);
    assert_true(out[0] == 0.0f && out[1] == 0.0f && out[2] == 2.5f && out[3] == 0.3f);
    /* "max": the row's largest value (0.9 here, outside the label inputs) */
    c.ff_label_max = 1;
    bp_ff_embed(&c, x, 0, out);
    assert_true(out[0] == 0.9f && out[1] == 0.0f && out[2] == 0.0f);
    /* neutral: 0.1 in every label input, whatever the label value */
    bp_ff_embed(&c, x, -1, out);
    const float neutral[9] = {0.1f, 0.1f, 0.1f, 0.3f, 0.9f, 0.2f, 0.7f, 0.0f, 0.1f};
    assert_true(tu_close("neutral label", out, neutral, 9, 0, 0));
    /* in place */
    memcpy(out, x, sizeof x);
    c.ff_label_max = 0;
    c.ff_label = 1.0f;
    bp_ff_embed(&c, out, 0, out);
    assert_true(out[0] == 1.0f && out[1] == 0.0f && out[2] == 0.0f && out[4] == 0.9f);
}

/* --------------------------------------------------------- b. negatives */

static void test_negatives(void **state) {
    (void)state;
    enum { N = 20000, C = 5 };
    int *lab = malloc(N * sizeof(int)), *neg = malloc(N * sizeof(int));
    float *p = malloc((size_t)N * C * sizeof(float));
    assert_non_null(lab);
    assert_non_null(neg);
    assert_non_null(p);
    bp_rng r;
    bp_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) lab[i] = (int)bp_rng_below(&r, C);
    /* random: never the true label, each wrong label about 1/(C-1) */
    long cnt[C][C] = {{0}};
    bp_ff_negatives(&r, BPFREE_FF_NEG_RANDOM, lab, NULL, N, C, neg);
    for (int i = 0; i < N; i++) {
        assert_true(neg[i] >= 0 && neg[i] < C);
        assert_int_not_equal(neg[i], lab[i]);
        cnt[lab[i]][neg[i]]++;
    }
    for (int y = 0; y < C; y++) {
        long tot = 0;
        for (int k = 0; k < C; k++) tot += cnt[y][k];
        for (int k = 0; k < C; k++)
            if (k != y) assert_true(fabs((double)cnt[y][k] / tot - 0.25) < 0.04);
    }
    /* hard: the true label has almost all the mass, y+1 most of the rest */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < C; k++)
            p[(size_t)i * C + k] = k == lab[i] ? 0.97f : k == (lab[i] + 1) % C ? 0.024f : 0.002f;
    long next = 0;
    bp_ff_negatives(&r, BPFREE_FF_NEG_HARD, lab, p, N, C, neg);
    for (int i = 0; i < N; i++) {
        assert_true(neg[i] >= 0 && neg[i] < C);
        assert_int_not_equal(neg[i], lab[i]);
        next += neg[i] == (lab[i] + 1) % C;
    }
    /* 0.024 / (0.024 + 3 * 0.002) = 0.8 */
    assert_true(fabs((double)next / N - 0.8) < 0.02);
    /* hard, all the mass on the true label: falls back to uniform wrong */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < C; k++) p[(size_t)i * C + k] = k == lab[i] ? 1.0f : 0.0f;
    bp_ff_negatives(&r, BPFREE_FF_NEG_HARD, lab, p, N, C, neg);
    for (int i = 0; i < N; i++) assert_int_not_equal(neg[i], lab[i]);
    /* and in a model: hard negatives never carry the true label either */
    free(lab);
    free(neg);
    free(p);
}

/* ------------------------------------------------- c. ff local gradients */

static void check_ff_gradients(bpfree_ff_goodness good, bpfree_ff_norm norm, int theta_width,
                               int label_max) {
    bpfree_config cfg;
    const int hidden[] = {6, 5}, B = 5;
    base_config(&cfg, "ff", 10, 2, 2, hidden, B, 0.05f);
    cfg.ff_goodness = good;
    cfg.ff_norm = norm;
    cfg.ff_theta_width = theta_width;
    cfg.ff_theta = good == BPFREE_FF_MEAN ? 0.3f : 1.5f;
    cfg.ff_label_max = label_max;
    ref_batch rb;
    bpfree_model *m = build_on_batch(&cfg, B, 5, &rb);
    float *p0 = copy_floats(m->params, m->n_params);
    step_once(m, B);
    for (int l = 0; l < 2; l++) {
        const size_t n = (size_t)m->layers[l].out * m->layers[l].in + m->layers[l].out;
        float *g = malloc(n * sizeof(float)), *num = malloc(n * sizeof(float));
        assert_non_null(g);
        assert_non_null(num);
        taken_grad(m, l, p0, m->params, g);
        ref_layer_grad(m, &rb, l, p0, 0.0, 0, 0, num);
        char what[96];
        snprintf(what, sizeof what, "ff layer %d (%s, %s, theta %s, label %s)", l + 1,
                 bpfree_ff_goodness_name(good), bpfree_ff_norm_name(norm),
                 theta_width ? "width" : "number", label_max ? "max" : "1");
        assert_true(tu_maxabs(num, n) > 1e-4); /* not vacuous */
        assert_true(tu_close(what, g, num, n, 2e-4, 2e-3));
        free(g);
        free(num);
    }
    free(p0);
    bpfree_model_free(m);
}

static void test_ff_gradients(void **state) {
    (void)state;
    check_ff_gradients(BPFREE_FF_SUM, BPFREE_FF_RMS, 1, 0);
    check_ff_gradients(BPFREE_FF_SUM, BPFREE_FF_RMS, 0, 0);
    check_ff_gradients(BPFREE_FF_MEAN, BPFREE_FF_L2, 0, 1);
    check_ff_gradients(BPFREE_FF_MEAN, BPFREE_FF_RMS, 0, 0);
}

/* ------------------------------------------- d. cff: no cross-layer flow */

static void test_cff_no_cross_gradient(void **state) {
    (void)state;
    bpfree_config cfg;
    const int hidden[] = {6, 5}, B = 5;
    cff_config(&cfg, "cff-fixed", 0.7f, B);
    cfg.cff_alpha = 1.3f;
    ref_batch rb;
    bpfree_model *m = build_on_batch(&cfg, B, 9, &rb);
    float *p0 = copy_floats(m->params, m->n_params);
    step_once(m, B);
    for (int l = 0; l < 2; l++) {
        const size_t n = (size_t)m->layers[l].out * m->layers[l].in + m->layers[l].out;
        float *g = malloc(n * sizeof(float)), *held = malloc(n * sizeof(float)),
              *flow = malloc(n * sizeof(float));
        assert_non_null(g);
        assert_non_null(held);
        assert_non_null(flow);
        taken_grad(m, l, p0, m->params, g);
        /* the collaborative loss of layer l, other layers' G held constant */
        ref_layer_grad(m, &rb, l, p0, 0.7, 2, 0, held);
        assert_true(tu_maxabs(held, n) > 1e-4);
        assert_true(tu_close(l ? "cff layer 2" : "cff layer 1", g, held, n, 2e-4, 2e-3));
        if (l == 0) {
            /* letting W_1's change flow into G_2 gives another gradient: the
             * check above can tell them apart */
            ref_layer_grad(m, &rb, 0, p0, 0.7, 2, 1, flow);
            double d = 0.0;
            for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)flow[i] - held[i]));
            assert_true(d > 10 * (2e-4 + 2e-3 * tu_maxabs(held, n)));
        } else {
            /* L_1 depends on W_2 through gamma alpha G_2, but sends it
             * nothing: W_2's step is L_2's gradient alone, not that of
             * L_1 + L_2 */
            /* dL_1/dW_2 by central differences */
            const bp_layer *L2 = &m->layers[1];
            float *pp = copy_floats(p0, m->n_params);
            double dmax = 0.0;
            for (size_t i = 0; i < n; i++) {
                float keep = pp[L2->off + i];
                pp[L2->off + i] = keep + 1e-3f;
                double lp = ref_layer_loss(m, &rb, 0, pp, pp, 0.7, 2);
                pp[L2->off + i] = keep - 1e-3f;
                double lm = ref_layer_loss(m, &rb, 0, pp, pp, 0.7, 2);
                pp[L2->off + i] = keep;
                dmax = fmax(dmax, fabs((lp - lm) / 2e-3));
            }
            free(pp);
            /* dL_1/dW_2 is far from zero, so "W_2 got L_1's gradient too"
             * would have failed the check above */
            assert_true(dmax > 10 * (2e-4 + 2e-3 * tu_maxabs(held, n)));
        }
        free(g);
        free(held);
        free(flow);
    }
    free(p0);
    bpfree_model_free(m);

    /* greedy: while layer 2 trains, layer 1 does not move at all */
    base_config(&cfg, "cff-adaptive", 10, 2, 2, hidden, B, 0.05f);
    cfg.greedy_epochs = 1;
    m = build(&cfg);
    tu_fill_batch(m, B, 4, 0.0f, 1.0f);
    m->epochs_done = 1; /* layer 2's turn */
    p0 = copy_floats(m->params, m->n_params);
    step_once(m, B);
    const bp_layer *L1 = &m->layers[0], *L2 = &m->layers[1];
    assert_memory_equal(p0 + L1->off, m->params + L1->off,
                        ((size_t)L1->out * L1->in + L1->out) * sizeof(float));
    assert_memory_not_equal(p0 + L2->off, m->params + L2->off,
                            ((size_t)L2->out * L2->in + L2->out) * sizeof(float));
    float gam[4];
    assert_int_equal(bpfree_model_gammas(m, gam, 4), 2);
    assert_true(gam[0] == 1.0f); /* layer 1 is not trained now */
    assert_true(gam[1] != 1.0f);
    free(p0);
    bpfree_model_free(m);

    /* greedy, layer 1's turn: layer 2 is not trained yet and contributes
     * G_2 = 0, so layer 1 learns exactly as in ff, gamma_1 does not move
     * (its dL/dgamma = 0) and W_2 stays.  A prediction first leaves real
     * layer-2 goodness in the rule's buffers, which must not leak in. */
    cfg.cff_alpha = 4.0f; /* makes G_2 at its initial weights visible */
    m = build(&cfg);
    L1 = &m->layers[0];
    L2 = &m->layers[1];
    tu_fill_batch(m, B, 6, 0.0f, 1.0f);
    float sc[5 * 2];
    m->rule->predict(m, m->xb, B, sc, NULL);
    ref_rows(m, B, &rb);
    p0 = copy_floats(m->params, m->n_params);
    step_once(m, B);
    const size_t n1 = (size_t)L1->out * L1->in + L1->out;
    float *g = malloc(n1 * sizeof(float)), *num = malloc(n1 * sizeof(float));
    assert_non_null(g);
    assert_non_null(num);
    taken_grad(m, 0, p0, m->params, g);
    ref_layer_grad(m, &rb, 0, p0, 1.0, 1, 0, num); /* only layer 1 exists yet */
    assert_true(tu_close("greedy cff layer 1", g, num, n1, 2e-4, 2e-3));
    ref_layer_grad(m, &rb, 0, p0, 1.0, 2, 0, num); /* with G_2 at its initial weights */
    assert_true(clearly_differs(g, num, n1, 2e-4, 2e-3));
    assert_memory_equal(p0 + L2->off, m->params + L2->off,
                        ((size_t)L2->out * L2->in + L2->out) * sizeof(float));
    assert_int_equal(bpfree_model_gammas(m, gam, 4), 2);
    assert_true(gam[0] == 1.0f && gam[1] == 1.0f);
    free(g);
    free(num);
    free(p0);
    bpfree_model_free(m);
}

/* ------------------------------------------------- e. gamma's direction */

static void test_gamma_direction(void **state) {
    (void)state;
    bpfree_config cfg;
    const int hidden[] = {6, 5}, B = 5;
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        cff_config(&cfg, adaptive ? "cff-adaptive" : "cff-fixed", 0.8f, B);
        cfg.cff_gamma_lr = 0.5f;
        ref_batch rb;
        bpfree_model *m = build_on_batch(&cfg, B, 21, &rb);
        float *p0 = copy_floats(m->params, m->n_params);
        float g0[2], g1[2];
        assert_int_equal(bpfree_model_gammas(m, g0, 2), 2);
        assert_true(g0[0] == 0.8f && g0[1] == 0.8f);
        step_once(m, B);
        assert_int_equal(bpfree_model_gammas(m, g1, 2), 2);
        for (int l = 0; l < 2; l++) {
            if (!adaptive) {
                assert_true(g1[l] == g0[l]); /* eq. 6 */
                continue;
            }
            const double h = 1e-4;
            double dl = (ref_layer_loss(m, &rb, l, p0, p0, g0[l] + h, 2) -
                         ref_layer_loss(m, &rb, l, p0, p0, g0[l] - h, 2)) /
                        (2 * h);
            double want = g0[l] - 0.5 * dl; /* eq. 7 */
            if (fabs(g1[l] - want) > 1e-4 + 1e-3 * fabs(0.5 * dl))
                printf("  gamma_%d: %g, want %g (dL/dgamma %g)\n", l + 1, (double)g1[l], want, dl);
            assert_true(fabs(dl) > 1e-3);
            assert_true(fabs(g1[l] - want) <= 1e-4 + 1e-3 * fabs(0.5 * dl));
            /* and the move lowers L_l (weights as before the step) */
            assert_true(ref_layer_loss(m, &rb, l, p0, p0, g1[l], 2) <
                        ref_layer_loss(m, &rb, l, p0, p0, g0[l], 2));
        }
        free(p0);
        bpfree_model_free(m);
    }
    /* ff has no gamma */
    base_config(&cfg, "ff", 10, 2, 2, hidden, B, 0.05f);
    bpfree_model *m = build(&cfg);
    float g[2];
    assert_int_equal(bpfree_model_gammas(m, g, 2), 0);
    bpfree_model_free(m);
}

/* ------------------------------------------------------------ f. peer */

static void test_peer_normalisation(void **state) {
    (void)state;
    bpfree_config cfg;
    const int hidden[] = {6, 5}, B = 4;
    float *gb[3];
    float r0[11], r1[11];
    for (int i = 0; i < 11; i++) r0[i] = 0.05f * (float)(i % 4) + 0.01f * (float)i;
    /* 0: off, 1: on (mean updated after the step), 2: on, updated before */
    for (int with = 0; with < 3; with++) {
        base_config(&cfg, "ff", 10, 2, 2, hidden, B, 0.05f);
        cfg.ff_peer = with ? 0.03f : 0.0f;
        cfg.ff_peer_update = with == 2 ? BPFREE_FF_PEER_BEFORE : BPFREE_FF_PEER_AFTER;
        bpfree_model *m = build(&cfg);
        tu_fill_batch(m, B, 8, 0.0f, 1.0f);
        int tp = -1;
        for (int t = 0; t < m->n_tensors; t++)
            if (!strcmp(m->tensors[t].name, "peer_mean")) tp = t;
        assert_true(tp >= 0);
        memcpy(bp_tensor_ptr(m, tp), r0, sizeof r0);
        step_once(m, B);
        gb[with] = copy_floats(m->layers[0].gb, 6);
        /* r <- 0.9 r + 0.1 mean of positive activity: moved, and not by the
         * negative rows' (checked loosely: r stays a running mean) */
        const float *r = bp_tensor_ptr(m, tp);
        int moved = 0;
        for (int j = 0; j < 11; j++) moved |= r[j] != r0[j];
        assert_true(moved);
        if (with == 2) memcpy(r1, r, sizeof r1);
        bpfree_model_free(m);
    }
    /* after: the term uses the previous mean r0; before: the mean that has
     * taken in this batch, r1 (what the step leaves in the tensor) */
    const float *rs[3] = {NULL, r0, r1};
    for (int w = 1; w < 3; w++) {
        double mean = 0.0;
        for (int j = 0; j < 6; j++) mean += rs[w][j];
        mean /= 6;
        for (int j = 0; j < 6; j++) {
            double want = 0.03 * (rs[w][j] - mean); /* summed over B rows of lambda(r - rbar)/B */
            assert_true(fabs((gb[w][j] - gb[0][j]) - want) < 1e-6);
        }
        assert_true(fabs(gb[w][0] - gb[0][0]) > 1e-4); /* the term is there */
    }
    assert_true(fabs(gb[2][0] - gb[1][0]) > 1e-6); /* and before is not after */
    for (int w = 0; w < 3; w++) free(gb[w]);
}

/* ---------------------------------------------------- g. prediction */

static void ref_scores(bpfree_model *m, const float *x, int n, int skip, float *good,
                       float *one, float *layer) {
    const bpfree_config *c = &m->cfg;
    const int D = c->inputs, C = c->outputs, L = c->n_hidden;
    float *e = malloc((size_t)n * D * sizeof(float)), *h[2];
    int W = D;
    for (int l = 0; l < L; l++) W = c->hidden[l] > W ? c->hidden[l] : W;
    h[0] = malloc((size_t)n * W * sizeof(float));
    h[1] = malloc((size_t)n * W * sizeof(float));
    int tF = -1, tc = -1, sumW = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        if (!strcmp(m->tensors[t].name, "F")) tF = t;
        if (!strcmp(m->tensors[t].name, "Fc")) tc = t;
    }
    for (int l = 0; l < L; l++) sumW += c->hidden[l];
    /* C separate passes, one per label, then the neutral pass */
    for (int k = 0; k <= C; k++) {
        for (int i = 0; i < n; i++) bp_ff_embed(c, x + (size_t)i * D, k < C ? k : -1, e + (size_t)i * D);
        bp_ff_normalize(c->ff_norm, e, n, D);
        const float *in = e;
        int off = 0;
        if (k == C)
            for (int i = 0; i < n; i++)
                for (int q = 0; q < C; q++) one[(size_t)i * C + q] = bp_tensor_ptr(m, tc)[q];
        for (int l = 0; l < L; l++) {
            const int O = m->layers[l].out;
            bp_layer_forward(&m->layers[l], in, h[l % 2], n);
            for (int i = 0; i < n; i++) {
                float g = bp_ff_goodness(c->ff_goodness, h[l % 2] + (size_t)i * O, O);
                if (k < C) {
                    layer[((size_t)l * n + i) * C + k] = g;
                    if (l == 0) good[(size_t)i * C + k] = 0.0f;
                    if (l >= skip) good[(size_t)i * C + k] += g;
                }
            }
            bp_ff_normalize(c->ff_norm, h[l % 2], n, O);
            if (k == C && l >= skip) /* one-pass logits += n_l F_l^T (Hinton: not layer 1) */
                for (int i = 0; i < n; i++)
                    for (int q = 0; q < C; q++) {
                        double s = 0.0;
                        for (int j = 0; j < O; j++)
                            s += (double)h[l % 2][(size_t)i * O + j] *
                                 bp_tensor_ptr(m, tF)[(size_t)q * sumW + off + j];
                        one[(size_t)i * C + q] += (float)s;
                    }
            off += O;
            in = h[l % 2];
        }
    }
    free(e);
    free(h[0]);
    free(h[1]);
}

static void test_batched_prediction(void **state) {
    (void)state;
    bpfree_config cfg;
    const int hidden[] = {7, 5, 6}, B = 10, C = 4, D = 12, L = 3;
    base_config(&cfg, "ff", D, C, L, hidden, B, 0.05f);
    cfg.act = BPFREE_ACT_RELU;
    for (int skip = 0; skip < 2; skip++) {
        cfg.ff_skip_first = skip;
        cfg.ff_predict = skip ? BPFREE_FF_PREDICT_ONEPASS : BPFREE_FF_PREDICT_GOODNESS;
        bpfree_model *m = build(&cfg);
        assert_int_equal(m->rule->n_heads(m), 2 + L);
        /* a non-zero one-pass head */
        bp_rng r;
        bp_rng_seed(&r, 77);
        for (int t = 0; t < m->n_tensors; t++)
            if (!strcmp(m->tensors[t].name, "F") || !strcmp(m->tensors[t].name, "Fc"))
                tu_fill_uniform(&r, bp_tensor_ptr(m, t), m->tensors[t].n, -1.0f, 1.0f);
        float x[10 * 12], scores[10 * 4], good[10 * 4], one[10 * 4], layer[3 * 10 * 4];
        tu_fill_uniform(&r, x, sizeof x / sizeof *x, 0.0f, 1.0f);
        float *heads = m->heads;
        long allocs = m->mem.n_allocs;
        m->rule->predict(m, x, B, scores, heads);
        assert_int_equal(m->mem.n_allocs, allocs); /* h. no allocation */
        ref_scores(m, x, B, skip, good, one, layer);
        const size_t HB = (size_t)m->rows * C; /* heads are (n_heads, rows, C) */
        assert_true(tu_close("goodness head", heads + BPFREE_FF_HEAD_GOODNESS * HB, good, B * C,
                             1e-4, 1e-5));
        assert_true(tu_close("one-pass head", heads + BPFREE_FF_HEAD_ONEPASS * HB, one, B * C,
                             1e-4, 1e-5));
        for (int l = 0; l < L; l++)
            assert_true(tu_close("layer head", heads + (BPFREE_FF_HEAD_LAYER0 + l) * HB,
                                 layer + (size_t)l * B * C, B * C, 1e-4, 1e-5));
        assert_true(tu_close("main score", scores, skip ? one : good, B * C, 1e-4, 1e-5));
        /* skipping layer 1 changes the goodness score */
        float all[10 * 4];
        for (int i = 0; i < B * C; i++)
            all[i] = layer[i] + layer[B * C + i] + layer[2 * B * C + i];
        if (skip) assert_true(clearly_differs(good, all, B * C, 1e-4, 1e-5));
        else assert_true(tu_close("sum over layers", good, all, B * C, 1e-4, 1e-5));
        /* through the public API, and without heads */
        float s2[10 * 4];
        bpfree_error err;
        assert_int_equal(bpfree_predict(m, x, B, s2, &err), BPFREE_OK);
        assert_true(tu_close("bpfree_predict", s2, scores, B * C, 0, 0));
        bpfree_model_free(m);
    }
}

/* -------------------------------------------- h. no allocation, training */

static void test_no_alloc_and_runs(void **state) {
    (void)state;
    bpfree_config cfg;
    const int hidden[] = {8, 8};
    const char *rules[] = {"ff", "cff-fixed", "cff-adaptive"};
    for (int i = 0; i < 3; i++) {
        base_config(&cfg, rules[i], 12, 3, 2, hidden, 6, 0.05f);
        cfg.ff_negatives = i == 1 ? BPFREE_FF_NEG_HARD : BPFREE_FF_NEG_RANDOM;
        cfg.ff_peer = 0.03f;
        bpfree_model *m = build(&cfg);
        bpfree_dataset ds;
        bpfree_error err;
        assert_int_equal(bpfree_data_alloc(&ds, 23, 12, 3, 0, &err), BPFREE_OK);
        bp_rng r;
        bp_rng_seed(&r, 1);
        tu_fill_uniform(&r, ds.x, (size_t)23 * 12, 0.0f, 1.0f);
        for (int k = 0; k < 23; k++) ds.labels[k] = (int)bp_rng_below(&r, 3);
        bpfree_epoch_stats st;
        assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK); /* sizes order */
        long allocs = m->mem.n_allocs;
        assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
        bpfree_eval ev;
        assert_int_equal(bpfree_evaluate(m, &ds, &ev, &err), BPFREE_OK);
        assert_int_equal(m->mem.n_allocs, allocs);
        assert_int_equal(ev.n_heads, 4);
        assert_true(isfinite(st.train_loss));
        bpfree_data_free(&ds);
        bpfree_model_free(m);
    }
}

/* ------------------------------------------------------------ --ff-head 0 */

/* Without the one-pass head (random negatives, goodness prediction) every
 * layer, every gamma and the goodness accuracy are those of the same run with
 * the head, bit for bit: the neutral pass feeds only the head and draws no
 * random numbers.  No training accuracy (NaN, source "none"), the one-pass
 * head's accuracy NaN, the head's parameters untouched (0); hard negatives and
 * one-pass prediction are refused. */
static void test_head_off(void **state) {
    (void)state;
    const int hidden[] = {8, 6}, N = 40, D = 12, C = 3;
    const char *rules[] = {"ff", "cff-fixed", "cff-adaptive"};
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, D, C, 5);
    for (int i = 0; i < 3; i++) {
        bpfree_config cfg;
        base_config(&cfg, rules[i], D, C, 2, hidden, 16, 0.05f);
        cfg.act = BPFREE_ACT_RELU;
        cfg.ff_negatives = BPFREE_FF_NEG_RANDOM;
        cfg.ff_peer = 0.03f;
        bpfree_model *m[2];
        bpfree_epoch_stats st[2];
        bpfree_eval ev[2];
        bpfree_error err;
        for (int h = 0; h < 2; h++) {
            cfg.ff_head = h;
            m[h] = build(&cfg);
            for (int ep = 0; ep < 3; ep++)
                assert_int_equal(bpfree_train_epoch(m[h], &ds, &st[h], &err), BPFREE_OK);
            assert_int_equal(bpfree_evaluate(m[h], &ds, &ev[h], &err), BPFREE_OK);
        }
        assert_true(isnan(st[0].train_acc) && !isnan(st[1].train_acc));
        assert_string_equal(bpfree_model_train_source(m[0]), "none");
        assert_string_equal(bpfree_model_train_source(m[1]), "one-pass");
        assert_true(st[0].train_loss == st[1].train_loss);
        assert_true(ev[0].acc == ev[1].acc && ev[0].loss == ev[1].loss);
        assert_true(isnan(ev[0].head_acc[BPFREE_FF_HEAD_ONEPASS]));
        assert_false(isnan(ev[1].head_acc[BPFREE_FF_HEAD_ONEPASS]));
        for (int h = 0; h < ev[0].n_heads; h++)
            if (h != BPFREE_FF_HEAD_ONEPASS) assert_true(ev[0].head_acc[h] == ev[1].head_acc[h]);
        for (int t = 0; t < m[0]->n_tensors; t++) {
            const bp_tensor *tt = &m[0]->tensors[t];
            const int head = !strcmp(tt->name, "F") || !strcmp(tt->name, "Fc");
            const float *a = bp_tensor_ptr(m[0], t), *b = bp_tensor_ptr(m[1], t);
            if (head) assert_true(tu_maxabs(a, tt->n) == 0.0); /* never trained */
            else assert_memory_equal(a, b, tt->n * sizeof(float)); /* layers, gamma, peer */
        }
        bpfree_model_free(m[0]);
        bpfree_model_free(m[1]);
        /* what needs the head is refused */
        cfg.ff_head = 0;
        for (int k = 0; k < 2; k++) {
            cfg.ff_negatives = k ? BPFREE_FF_NEG_RANDOM : BPFREE_FF_NEG_HARD;
            cfg.ff_predict = k ? BPFREE_FF_PREDICT_ONEPASS : BPFREE_FF_PREDICT_GOODNESS;
            bpfree_model *bad = NULL;
            assert_int_equal(bpfree_model_new(&cfg, &bad, &err), BPFREE_EINVAL);
            assert_non_null(strstr(err.msg, "--ff-head 0"));
            assert_null(bad);
        }
    }
    bpfree_data_free(&ds);
}

/* i. Greedy training past layer 1 keeps layer 1's products of the training
 * samples' positive rows (ff_state.z1, bp_ff_begin_epoch): not during layer
 * 1's turn; built when layer 2's starts, by dataset index, equal to the
 * product of the embedded, normalised row; rebuilt when W_1 changes, when
 * the training set is refilled in place and for another set.  That it changes no number is what the golden digests of
 * ff-greedy and the greedy CFFs say (recorded before it existed, unchanged),
 * and a --preset cff-paper run saves the same model file byte for byte. */
static void test_frozen_layer_kept(void **state) {
    (void)state;
    enum { D = 20, C = 4, N = 37 };
    const int hidden[2] = {16, 12};
    bpfree_config cfg;
    bpfree_error e;
    bpfree_epoch_stats st;
    base_config(&cfg, "cff-fixed", D, C, 2, hidden, 8, 0.05f);
    cfg.act = BPFREE_ACT_RELU;
    cfg.greedy_epochs = 1;
    bpfree_model *m = build(&cfg);
    bpfree_dataset ds, ds2;
    tu_make_indexed_dataset(&ds, N, D, C, 1.0f, 5, 3); /* indices 3i + 1 */
    const ff_state *s = m->rs;
    assert_int_equal(bpfree_train_epoch(m, &ds, &st, &e), BPFREE_OK); /* layer 1's turn */
    assert_int_equal(s->z1_on, 0);
    assert_null(s->z1);
    const bp_layer *L1 = &m->layers[0];
    const int O = L1->out;
    float X[D], z[MAXW];
    for (int pass = 0; pass < 4; pass++) {
        const bpfree_dataset *d = pass < 3 ? &ds : &ds2;
        assert_int_equal(bpfree_train_epoch(m, d, &st, &e), BPFREE_OK); /* layer 2's */
        assert_int_equal(s->z1_on, 1);
        assert_true(s->n_z1 >= 3 * (N - 1) + 2);
        for (int i = 0; i < N; i++) {
            bp_ff_embed(&m->cfg, d->x + (size_t)i * D, d->labels[i], X);
            bp_ff_normalize(m->cfg.ff_norm, X, 1, D);
            bp_dense_product(L1, X, z, 1);
            assert_true(tu_close("kept product", s->z1 + (size_t)d->index[i] * O, z, O, 1e-5,
                                 1e-5));
        }
        if (pass == 0) /* W_1 changed from outside (a loaded model, say): rebuilt */
            for (int k = 0; k < O * D; k++) L1->W[k] *= 0.5f;
        if (pass == 1) /* the same set refilled in place: rebuilt */
            for (int k = 0; k < N * D; k++) ds.x[k] = 1.0f - ds.x[k];
        if (pass == 2) /* another training set: rebuilt from it */
            tu_make_indexed_dataset(&ds2, N, D, C, 1.0f, 6, 3);
    }
    bpfree_data_free(&ds);
    bpfree_data_free(&ds2);
    bpfree_model_free(m);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_negatives),
        cmocka_unit_test(test_ff_gradients),
        cmocka_unit_test(test_cff_no_cross_gradient),
        cmocka_unit_test(test_gamma_direction),
        cmocka_unit_test(test_peer_normalisation),
        cmocka_unit_test(test_batched_prediction),
        cmocka_unit_test(test_no_alloc_and_runs),
        cmocka_unit_test(test_head_off),
        cmocka_unit_test(test_frozen_layer_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
