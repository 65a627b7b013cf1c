/* test_survey_rules.c — the survey's other representatives (000 §III-B, C,
 * E, I, J; issue 20), each against its formula on a hand-sized net in
 * double, SGD without momentum or schedule (one step: p_new = p_old - lr g):
 *   a. TinyFoA: local CE of a fixed random classifier per layer; N_s slices
 *      give the unsliced numbers; the binarised forward;
 *   b. DNI: one step (layers from the modules' predictions, modules on the
 *      bootstrapped targets), and the synthetic gradient approaching the
 *      true one on a fixed batch;
 *   c. CCL: normalised forward vs feedback activities against the labels,
 *      both nets' updates, CE at the output;
 *   d. DTP: targets by the difference correction, the layer losses, the
 *      inverses' reconstruction loss; an inverse learning to reconstruct;
 *   e. CHL: both phases settled to a fixed point of the layer equations
 *      within the tolerance, the sweeps counted, the contrastive update
 *      from those states; for small gamma it aligns with BP;
 *   f. every rule's training loss falls. */
#include "testutil.h"

enum { D = 5, C = 3, B = 6 };
#define MAXL (BPFREE_MAX_LAYERS + 1)

/* The forward pass in double from the parameters p: h[0] = x, h[l+1], z[l+1]. */
typedef struct ref_net {
    int L, w[MAXL];
    double *h[MAXL], *z[MAXL];
} ref_net;

static void net_forward(const bpfree_model *m, const float *p, const float *x, int rows,
                        ref_net *n) {
    n->L = m->n_layers;
    n->w[0] = m->cfg.inputs;
    n->h[0] = tu_xmalloc((size_t)rows * n->w[0] * sizeof(double));
    n->z[0] = NULL;
    for (int i = 0; i < rows * n->w[0]; i++) n->h[0][i] = x[i];
    for (int l = 0; l < n->L; l++) {
        const bp_layer *Ly = &m->layers[l];
        n->w[l + 1] = Ly->out;
        n->h[l + 1] = tu_xmalloc((size_t)rows * Ly->out * sizeof(double));
        n->z[l + 1] = tu_xmalloc((size_t)rows * Ly->out * sizeof(double));
        const float *W = p + Ly->off;
        ref_dense(n->h[l], W, W + (size_t)Ly->out * Ly->in, rows, Ly->in, Ly->out,
                  l < n->L - 1 ? m->cfg.act : BPFREE_ACT_IDENTITY, n->z[l + 1], n->h[l + 1]);
    }
}

static void net_free(ref_net *n) {
    for (int l = 0; l <= n->L; l++) {
        free(n->h[l]);
        free(n->z[l]);
    }
}

/* r (R, O) = a (R, K) M (K, O) with M float row-major; trans: M is (O, K) */
static void mm(const double *a, const float *M, int R, int K, int O, int trans, double *r) {
    for (int i = 0; i < R; i++)
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += a[(size_t)i * K + k] * (trans ? M[(size_t)o * K + k] : M[(size_t)k * O + o]);
            r[(size_t)i * O + o] = s;
        }
}

/* dz (R, n) = dh ⊙ f'(z) */
static void through_f(bpfree_act act, const double *dh, const double *z, const double *h, int R,
                      int n, double *dz) {
    for (size_t i = 0; i < (size_t)R * n; i++) dz[i] = dh[i] * ref_df(act, z[i], h[i]);
}

/* gradient of a dense block at offset off of g: W (O, I) from dz (R, O), x (R, I) */
static void put_grads(float *g, size_t off, const double *dz, const double *x, int R, int I,
                      int O) {
    ref_param_grads(dz, x, R, I, O, g + off, g + off + (size_t)O * I);
}

static double *dalloc(size_t n) { return tu_xmalloc(n * sizeof(double)); }

/* ---------------------------------------------------------- a. TinyFoA */

/* g: hidden layer l from CE(h_l B_l^T, y) through e B_l; output: its CE */
static void ref_tinyfoa(const bpfree_model *m, const float *p0, float *g, int local) {
    ref_net n;
    net_forward(m, p0, m->xb, B, &n);
    memset(g, 0, m->n_params * sizeof(float));
    const int L = m->n_layers;
    double S[B * C], e[B * C], eo[B * C];
    ref_softmax_ce(n.h[L], m->yb, B, C, eo);
    for (int l = 0; l < L; l++) {
        const int w = n.w[l + 1];
        double *dh = dalloc((size_t)B * w), *dz = dalloc((size_t)B * w);
        if (l < L - 1) {
            char name[8];
            snprintf(name, sizeof name, "B%d", l + 1);
            const float *Bl = bp_tensor_ptr(m, find_tensor(m, name)); /* (C, w) */
            mm(n.h[l + 1], Bl, B, w, C, 1, S);                          /* h_l B_l^T */
            ref_softmax_ce(S, m->yb, B, C, e);
            mm(local ? e : eo, Bl, B, C, w, 0, dh);                     /* e B_l */
            through_f(m->cfg.act, dh, n.z[l + 1], n.h[l + 1], B, w, dz);
        } else {
            memcpy(dz, eo, sizeof eo);
        }
        put_grads(g, m->layers[l].off, dz, n.h[l], B, n.w[l], w);
        free(dh);
        free(dz);
    }
    net_free(&n);
}

static bpfree_model *tinyfoa_model(int slices, int binary, uint64_t seed) {
    const int hidden[] = {6, 4};
    bpfree_config c = tu_sgd_config("tinyfoa", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                    B, 0.5f, seed, 2);
    c.tinyfoa_slices = slices;
    c.tinyfoa_binary = binary;
    return tu_new_model(&c, 1);
}

static void test_tinyfoa(void **state) {
    (void)state;
    float *after[2];
    for (int k = 0; k < 2; k++) { /* N_s = 1, then 3 slices of every layer */
        bpfree_model *m = tinyfoa_model(k ? 3 : 1, 0, 51);
        tu_fill_batch(m, B, 52, -1.0f, 1.0f);
        float *p0 = copy_floats(m->params, m->n_params);
        float *g = tu_xmalloc(m->n_params * sizeof(float));
        float *alt = tu_xmalloc(m->n_params * sizeof(float));
        ref_tinyfoa(m, p0, g, 1);
        ref_tinyfoa(m, p0, alt, 0); /* the output's error instead (DFA-like) */
        tu_step_once(m, B);
        assert_true(check_all_updates(m, p0, g, k ? "tinyfoa, 3 slices" : "tinyfoa"));
        assert_true(update_differs(m, p0, "W1", alt, "tinyfoa", "the output error e B_1"));
        after[k] = copy_floats(m->params, m->n_params);
        if (k) assert_true(tu_close("tinyfoa: 3 slices vs 1", after[1], after[0], m->n_params,
                                    1e-6, 1e-5));
        free(p0);
        free(g);
        free(alt);
        bpfree_model_free(m);
    }
    free(after[0]);
    free(after[1]);

    /* binarised forward: scores from alpha Sign(W), alpha = mean |W| per layer */
    bpfree_model *m = tinyfoa_model(1, 1, 53);
    tu_fill_batch(m, B, 54, -1.0f, 1.0f);
    float *pb = copy_floats(m->params, m->n_params);
    for (int l = 0; l < m->n_layers; l++) {
        const bp_layer *L = &m->layers[l];
        const size_t nw = bp_layer_n_weights(L);
        double a = 0.0;
        for (size_t i = 0; i < nw; i++) a += fabs(L->W[i]);
        for (size_t i = 0; i < nw; i++) {
            const float w = L->W[i];
            pb[L->off + i] = w > 0 ? (float)(a / nw) : w < 0 ? -(float)(a / nw) : 0.0f;
        }
    }
    ref_net n;
    net_forward(m, pb, m->xb, B, &n);
    float got[B * C], want[B * C];
    bpfree_error e;
    assert_int_equal(bpfree_predict(m, m->xb, B, got, &e), BPFREE_OK);
    for (int i = 0; i < B * C; i++) want[i] = (float)n.h[m->n_layers][i];
    assert_true(tu_close("tinyfoa binary forward", got, want, B * C, 1e-5, 1e-4));
    net_free(&n);
    free(pb);
    bpfree_model_free(m);
}

/* -------------------------------------------------------------- b. DNI */

/* One DNI step in double from p (linear modules, conditioned on y):
 * pred_l = [h_l, y] A_l^T + c_l; hidden layer l steps on pred_l / B through
 * f'; module l on (pred_l - B dz_{l+1} W_{l+1}) / B. */
static void ref_dni(const bpfree_model *m, const float *p, float *g, double **pred_out) {
    ref_net n;
    net_forward(m, p, m->xb, B, &n);
    memset(g, 0, m->n_params * sizeof(float));
    const int L = m->n_layers;
    double *dz[MAXL], *u[MAXL], *pred[MAXL];
    for (int l = 0; l < L; l++) {
        const int w = n.w[l + 1];
        dz[l] = dalloc((size_t)B * w);
        if (l == L - 1) {
            ref_softmax_ce(n.h[L], m->yb, B, C, dz[l]);
            continue;
        }
        char name[8];
        snprintf(name, sizeof name, "SG%d", l + 1);
        const bp_tensor *t = &m->tensors[find_tensor(m, name)];
        const int in = w + C;
        u[l] = dalloc((size_t)B * in);
        pred[l] = dalloc((size_t)B * w);
        for (int r = 0; r < B; r++)
            for (int k = 0; k < in; k++)
                u[l][r * in + k] = k < w ? n.h[l + 1][r * w + k] : m->yb[r * C + k - w];
        mm(u[l], p + t->off, B, in, w, 1, pred[l]);
        for (int r = 0; r < B; r++)
            for (int k = 0; k < w; k++) pred[l][r * w + k] += p[t->off + (size_t)w * in + k];
        double *dh = dalloc((size_t)B * w);
        for (int i = 0; i < B * w; i++) dh[i] = pred[l][i] / B;
        through_f(m->cfg.act, dh, n.z[l + 1], n.h[l + 1], B, w, dz[l]);
        free(dh);
    }
    for (int l = 0; l < L; l++) {
        put_grads(g, m->layers[l].off, dz[l], n.h[l], B, n.w[l], n.w[l + 1]);
        if (l == 0) continue;
        const int w = n.w[l], in = w + C; /* module l-1 */
        double *t = dalloc((size_t)B * w);
        mm(dz[l], p + m->layers[l].off, B, n.w[l + 1], w, 0, t); /* dz_l W_l */
        for (int i = 0; i < B * w; i++) t[i] = (pred[l - 1][i] - B * t[i]) / B;
        char name[8];
        snprintf(name, sizeof name, "SG%d", l);
        put_grads(g, m->tensors[find_tensor(m, name)].off, t, u[l - 1], B, in, w);
        free(t);
    }
    for (int l = 0; l < L; l++) {
        free(dz[l]);
        if (l < L - 1) {
            free(u[l]);
            if (pred_out) pred_out[l] = pred[l];
            else free(pred[l]);
        }
    }
    net_free(&n);
}

static void test_dni_step(void **state) {
    (void)state;
    const int hidden[] = {6, 4};
    bpfree_model *m = tu_sgd_model("dni", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, B,
                                   0.5f, 61, 2);
    assert_int_equal(m->cfg.dni_cond, 1);
    assert_int_equal(m->cfg.dni_hidden, 0);
    /* the first step: modules start at zero, so only the top module and the
     * output layer move; the second reaches layer 2 and module 1, the third
     * layer 1 */
    for (int step = 0; step < 3; step++) {
        tu_fill_batch(m, B, 62 + step, -1.0f, 1.0f);
        float *p0 = copy_floats(m->params, m->n_params);
        float *g = tu_xmalloc(m->n_params * sizeof(float));
        ref_dni(m, p0, g, NULL);
        tu_step_once(m, B);
        char ctx[32];
        snprintf(ctx, sizeof ctx, "dni, step %d", step + 1);
        assert_true(check_all_updates(m, p0, g, ctx));
        const bp_tensor *t = &m->tensors[find_tensor(m, step == 1 ? "SG1" : "W1")];
        if (step) assert_true(tu_maxabs(g + t->off, t->n) > 1e-4);
        free(p0);
        free(g);
    }
    bpfree_model_free(m);
}

/* On a fixed batch with the layers held still, each module's prediction
 * approaches the true per-sample gradient B dL/dh_l (BP in double). */
static void test_dni_approaches_true_gradient(void **state) {
    (void)state;
    const int hidden[] = {8, 8};
    bpfree_config c = tu_sgd_config("dni", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, B,
                                    1e-2f, 63, 2);
    c.optim.kind = BPFREE_OPTIM_ADAM;
    bpfree_model *m = tu_new_model(&c, 1);
    tu_fill_batch(m, B, 64, -1.0f, 1.0f);
    float *p0 = copy_floats(m->params, m->n_params);
    /* the true gradient at every hidden output, per sample */
    ref_net n;
    net_forward(m, p0, m->xb, B, &n);
    double *tg[MAXL], d[B * 8], dz[B * 8];
    tg[2] = dalloc(B * C);
    ref_softmax_ce(n.h[3], m->yb, B, C, tg[2]); /* e = dL/dz_out */
    for (int l = 1; l >= 0; l--) {
        const int w = n.w[l + 1], wo = n.w[l + 2];
        tg[l] = dalloc((size_t)B * w);
        if (l == 1) memcpy(dz, tg[2], sizeof(double) * B * C);
        else through_f(m->cfg.act, tg[l + 1], n.z[l + 2], n.h[l + 2], B, wo, dz);
        mm(dz, p0 + m->layers[l + 1].off, B, wo, w, 0, tg[l]); /* dz W */
    }
    double first[2] = {0}, last[2] = {0};
    for (int it = 0; it < 600; it++) {
        tu_step_once(m, B);
        for (int l = 0; l < m->n_layers; l++) { /* the layers held still */
            const bp_layer *L = &m->layers[l];
            memcpy(m->params + L->off, p0 + L->off, bp_layer_n_params(L) * sizeof(float));
        }
        if (it != 0 && it != 599) continue;
        float *g = tu_xmalloc(m->n_params * sizeof(float));
        double *pred[MAXL];
        ref_dni(m, m->params, g, pred);
        for (int l = 0; l < 2; l++) {
            double e2 = 0.0, t2 = 0.0;
            for (int i = 0; i < B * 8; i++) {
                const double t = B * tg[l][i];
                e2 += (pred[l][i] - t) * (pred[l][i] - t);
                t2 += t * t;
            }
            (it ? last : first)[l] = sqrt(e2 / t2);
            free(pred[l]);
        }
        free(g);
    }
    (void)d;
    printf("  dni: |synthetic - true| / |true|: layer 1 %.3f -> %.4f, layer 2 %.3f -> %.4f\n",
           first[0], last[0], first[1], last[1]);
    assert_true(last[1] < 0.05 && last[0] < 0.05);
    assert_true(first[1] > 0.5);
    for (int l = 0; l < 3; l++) free(tg[l]);
    net_free(&n);
    free(p0);
    bpfree_model_free(m);
}

/* -------------------------------------------------------------- c. CCL */

/* rows of h (R, n) over their norms (norm 1), over sqrt(n) (norm 2) into U,
 * or copied (norm 0) */
static void ref_normalise(int norm, const double *h, int R, int n, double *U, double *r) {
    for (int i = 0; i < R; i++) {
        double s = 0.0;
        for (int k = 0; k < n; k++) s += h[i * n + k] * h[i * n + k];
        r[i] = norm == 1 ? sqrt(s) : norm == 2 ? sqrt((double)n) : 1.0;
        for (int k = 0; k < n; k++) U[i * n + k] = h[i * n + k] / r[i];
    }
}

static void ref_normalise_back(int norm, const double *U, const double *r, double *d, int R,
                               int n) {
    for (int i = 0; norm == 2 && i < R * n; i++) d[i] /= r[0];
    for (int i = 0; norm == 1 && i < R; i++) {
        double ug = 0.0;
        for (int k = 0; k < n; k++) ug += U[i * n + k] * d[i * n + k];
        for (int k = 0; k < n; k++) d[i * n + k] = (d[i * n + k] - U[i * n + k] * ug) / r[i];
    }
}

static void ref_ccl(const bpfree_model *m, const float *p, int norm, float *g) {
    ref_net n;
    net_forward(m, p, m->xb, B, &n);
    memset(g, 0, m->n_params * sizeof(float));
    const int nh = m->cfg.n_hidden, L = m->n_layers;
    double *fb[MAXL], *fz[MAXL], eye[C * C] = {0};
    for (int c = 0; c < C; c++) eye[c * C + c] = 1.0;
    int V[MAXL];
    for (int l = nh - 1; l >= 0; l--) { /* feedback, top down */
        char name[8];
        snprintf(name, sizeof name, "V%d", l + 2);
        V[l] = find_tensor(m, name);
        const int w = n.w[l + 1], in = l + 1 < nh ? n.w[l + 2] : C;
        fb[l] = dalloc((size_t)C * w);
        fz[l] = dalloc((size_t)C * w);
        const float *W = p + m->tensors[V[l]].off;
        ref_dense(l + 1 < nh ? fb[l + 1] : eye, W, W + (size_t)w * in, C, in, w, m->cfg.act,
                  fz[l], fb[l]);
    }
    for (int l = 0; l < nh; l++) {
        const int w = n.w[l + 1], in = l + 1 < nh ? n.w[l + 2] : C;
        double *U = dalloc((size_t)B * w), *Q = dalloc((size_t)C * w), ru[B], rq[C], S[B * C];
        double *dU = dalloc((size_t)B * w), *dQ = dalloc((size_t)C * w);
        double *dz = dalloc((size_t)B * w), *dq = dalloc((size_t)C * w);
        ref_normalise(norm, n.h[l + 1], B, w, U, ru);
        ref_normalise(norm, fb[l], C, w, Q, rq);
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int k = 0; k < w; k++) s += U[b * w + k] * Q[c * w + k];
                S[b * C + c] = 2.0 * (s - m->yb[b * C + c]) / B;
            }
        for (int i = 0; i < B * w; i++) dU[i] = 0.0;
        for (int i = 0; i < C * w; i++) dQ[i] = 0.0;
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < w; k++) {
                    dU[b * w + k] += S[b * C + c] * Q[c * w + k];
                    dQ[c * w + k] += S[b * C + c] * U[b * w + k];
                }
        ref_normalise_back(norm, U, ru, dU, B, w);
        ref_normalise_back(norm, Q, rq, dQ, C, w);
        through_f(m->cfg.act, dU, n.z[l + 1], n.h[l + 1], B, w, dz);
        put_grads(g, m->layers[l].off, dz, n.h[l], B, n.w[l], w);
        through_f(m->cfg.act, dQ, fz[l], fb[l], C, w, dq);
        put_grads(g, m->tensors[V[l]].off, dq, l + 1 < nh ? fb[l + 1] : eye, C, in, w);
        free(U), free(Q), free(dU), free(dQ), free(dz), free(dq);
    }
    double e[B * C];
    ref_softmax_ce(n.h[L], m->yb, B, C, e);
    put_grads(g, m->layers[L - 1].off, e, n.h[L - 1], B, n.w[L - 1], C);
    for (int l = 0; l < nh; l++) free(fb[l]), free(fz[l]);
    net_free(&n);
}

static void test_ccl(void **state) {
    (void)state;
    const int hidden[] = {6, 4};
    for (int norm = 2; norm >= 0; norm--) { /* 2 with ELU units, the default */
        const bpfree_act act = norm == 2 ? BPFREE_ACT_ELU : BPFREE_ACT_TANH;
        bpfree_config c = tu_sgd_config("ccl", D, C, 2, hidden, act, BPFREE_LOSS_CE, B, 0.5f,
                                        71, 2);
        c.ccl_norm = norm;
        bpfree_model *m = tu_new_model(&c, 1);
        tu_fill_batch(m, B, 72, -1.0f, 1.0f);
        float *p0 = copy_floats(m->params, m->n_params);
        float *g = tu_xmalloc(m->n_params * sizeof(float));
        float *alt = tu_xmalloc(m->n_params * sizeof(float));
        ref_ccl(m, p0, norm, g);
        ref_ccl(m, p0, (norm + 1) % 3, alt);
        tu_step_once(m, B);
        const char *ctx = norm == 1 ? "ccl, L2" : norm == 2 ? "ccl, mean product" : "ccl, raw";
        assert_true(check_all_updates(m, p0, g, ctx));
        assert_true(update_differs(m, p0, "W1", alt, ctx, "the other normalisation"));
        const bp_tensor *t = &m->tensors[find_tensor(m, "V2")];
        assert_true(tu_maxabs(g + t->off, t->n) > 1e-3);
        free(p0);
        free(g);
        free(alt);
        bpfree_model_free(m);
    }
}

/* -------------------------------------------------------------- d. DTP */

/* One DTP step without noise (h~ = h): targets, inverses, layers, output */
static void ref_dtp(const bpfree_model *m, const float *p, float *g) {
    ref_net n;
    net_forward(m, p, m->xb, B, &n);
    memset(g, 0, m->n_params * sizeof(float));
    const int nh = m->cfg.n_hidden, L = m->n_layers;
    double e[B * C], *hat[MAXL];
    ref_softmax_ce(n.h[L], m->yb, B, C, e);
    const int top = nh - 1, wt = n.w[nh];
    hat[top] = dalloc((size_t)B * wt);
    mm(e, p + m->layers[L - 1].off, B, C, wt, 0, hat[top]); /* dL/dh_top = e W_L (1/B in e) */
    for (int i = 0; i < B * wt; i++) hat[top][i] = n.h[nh][i] - m->cfg.dtp_eta * B * hat[top][i];
    int G[MAXL];
    for (int l = top; l >= 1; l--) { /* h^_{l-1} = h_{l-1} + G(h^_l) - G(h_l) */
        char name[8];
        snprintf(name, sizeof name, "G%d", l + 1);
        G[l] = find_tensor(m, name);
        const int w = n.w[l + 1], wl = n.w[l];
        const float *W = p + m->tensors[G[l]].off;
        double *a = dalloc((size_t)B * wl), *b = dalloc((size_t)B * wl), *z = dalloc((size_t)B * wl);
        ref_dense(hat[l], W, W + (size_t)w * wl, B, w, wl, m->cfg.act, z, a);
        ref_dense(n.h[l + 1], W, W + (size_t)w * wl, B, w, wl, m->cfg.act, z, b);
        hat[l - 1] = dalloc((size_t)B * wl);
        for (int i = 0; i < B * wl; i++) hat[l - 1][i] = n.h[l][i] + a[i] - b[i];
        free(a), free(b), free(z);
    }
    for (int l = top; l >= 1; l--) { /* G_l on ||G_l(F_l(h_{l-1})) - h_{l-1}||^2, no noise */
        const int w = n.w[l + 1], wl = n.w[l];
        const float *W = p + m->tensors[G[l]].off;
        double *r = dalloc((size_t)B * wl), *z = dalloc((size_t)B * wl), *d = dalloc((size_t)B * wl);
        ref_dense(n.h[l + 1], W, W + (size_t)w * wl, B, w, wl, m->cfg.act, z, r);
        for (int i = 0; i < B * wl; i++) d[i] = 2.0 * (r[i] - n.h[l][i]) / B;
        through_f(m->cfg.act, d, z, r, B, wl, d);
        put_grads(g, m->tensors[G[l]].off, d, n.h[l + 1], B, w, wl);
        free(r), free(z), free(d);
    }
    for (int l = 0; l < nh; l++) {
        const int w = n.w[l + 1];
        double *d = dalloc((size_t)B * w);
        for (int i = 0; i < B * w; i++) d[i] = 2.0 * (n.h[l + 1][i] - hat[l][i]) / B;
        through_f(m->cfg.act, d, n.z[l + 1], n.h[l + 1], B, w, d);
        put_grads(g, m->layers[l].off, d, n.h[l], B, n.w[l], w);
        free(d);
        free(hat[l]);
    }
    put_grads(g, m->layers[L - 1].off, e, n.h[L - 1], B, n.w[L - 1], C);
    net_free(&n);
}

static void test_dtp_step(void **state) {
    (void)state;
    const int hidden[] = {6, 5, 4};
    bpfree_config c = tu_sgd_config("dtp", D, C, 3, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, B,
                                    0.5f, 81, 2);
    c.dtp_noise = 0.0f;
    c.dtp_eta = 0.3f;
    bpfree_model *m = tu_new_model(&c, 1);
    tu_fill_batch(m, B, 82, -1.0f, 1.0f);
    float *p0 = copy_floats(m->params, m->n_params);
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    ref_dtp(m, p0, g);
    tu_step_once(m, B);
    assert_true(check_all_updates(m, p0, g, "dtp"));
    const bp_tensor *t = &m->tensors[find_tensor(m, "W1")];
    assert_true(tu_maxabs(g + t->off, t->n) > 1e-4); /* the lowest target is not vacuous */
    free(p0);
    free(g);
    bpfree_model_free(m);
}

/* The inverse learns to reconstruct: with the layers held still,
 * ||G_2(F_2(h_1)) - h_1|| / ||h_1 - mean|| falls well below its start. */
static void test_dtp_inverse_reconstructs(void **state) {
    (void)state;
    const int hidden[] = {6, 10};
    bpfree_config c = tu_sgd_config("dtp", D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE, B,
                                    1e-2f, 83, 2);
    c.optim.kind = BPFREE_OPTIM_ADAM;
    bpfree_model *m = tu_new_model(&c, 1);
    float *p0 = copy_floats(m->params, m->n_params);
    enum { R = 64 };
    float x[R * D];
    bp_rng r;
    bp_rng_seed(&r, 84);
    tu_fill_uniform(&r, x, R * D, -1.0f, 1.0f);
    double err[2] = {0};
    for (int it = 0; it <= 1500; it++) {
        if (it % 1500 == 0) { /* reconstruction of 64 fresh inputs */
            ref_net n;
            net_forward(m, m->params, x, R, &n);
            const bp_tensor *t = &m->tensors[find_tensor(m, "G2")];
            const float *W = m->params + t->off;
            double *rec = dalloc(R * 6), *z = dalloc(R * 6), mean[6] = {0}, e2 = 0, v2 = 0;
            ref_dense(n.h[2], W, W + 60, R, 10, 6, m->cfg.act, z, rec);
            for (int i = 0; i < R * 6; i++) mean[i % 6] += n.h[1][i] / R;
            for (int i = 0; i < R * 6; i++) {
                e2 += (rec[i] - n.h[1][i]) * (rec[i] - n.h[1][i]);
                v2 += (n.h[1][i] - mean[i % 6]) * (n.h[1][i] - mean[i % 6]);
            }
            err[it ? 1 : 0] = sqrt(e2 / v2);
            free(rec), free(z);
            net_free(&n);
        }
        tu_fill_batch(m, B, 1000 + it, -1.0f, 1.0f);
        tu_step_once(m, B);
        for (int l = 0; l < m->n_layers; l++) {
            const bp_layer *L = &m->layers[l];
            memcpy(m->params + L->off, p0 + L->off, bp_layer_n_params(L) * sizeof(float));
        }
    }
    printf("  dtp: inverse G_2 relative reconstruction error %.3f -> %.3f\n", err[0], err[1]);
    assert_true(err[0] > 0.5 && err[1] < 0.2);
    free(p0);
    bpfree_model_free(m);
}

/* -------------------------------------------------------------- e. CHL */

/* Largest |h_l - f(W_l h_{l-1} + gamma W_{l+1}^T h_{l+1} + b_l)| over the
 * layers first..last of the states h, in double. */
static double chl_residual(const bpfree_model *m, float *const *h, int last) {
    double worst = 0.0;
    const int L = m->n_layers;
    for (int l = 0; l <= last; l++) {
        const bp_layer *Ly = &m->layers[l];
        const int O = Ly->out, I = Ly->in;
        for (int r = 0; r < B; r++)
            for (int o = 0; o < O; o++) {
                double s = Ly->b[o];
                for (int k = 0; k < I; k++) s += (double)h[l][r * I + k] * Ly->W[o * I + k];
                if (l < L - 1) {
                    const bp_layer *Up = &m->layers[l + 1];
                    for (int k = 0; k < Up->out; k++)
                        s += m->cfg.chl_gamma * (double)h[l + 2][r * Up->out + k] *
                             Up->W[k * Up->in + o];
                }
                const double d = fabs(ref_f(l < L - 1 ? m->cfg.act : BPFREE_ACT_IDENTITY, s) -
                                      h[l + 1][r * O + o]);
                worst = d > worst ? d : worst;
            }
    }
    return worst;
}

static void test_chl_fixed_point_and_update(void **state) {
    (void)state;
    const int hidden[] = {6, 4};
    bpfree_config c = tu_sgd_config("chl", D, C, 2, hidden, BPFREE_ACT_SIGMOID, BPFREE_LOSS_MSE,
                                    B, 0.5f, 91, 2);
    c.chl_gamma = 0.3f;
    c.chl_tol = 1e-6f;
    bpfree_model *m = tu_new_model(&c, 1);
    tu_fill_batch(m, B, 92, -1.0f, 1.0f);
    /* the states are settled with the weights before the step: keep them */
    float *p0 = copy_floats(m->params, m->n_params);
    float *w1 = copy_floats(m->params, m->n_params);
    tu_step_once(m, B);
    memcpy(w1, m->params, m->n_params * sizeof(float));
    memcpy(m->params, p0, m->n_params * sizeof(float)); /* residuals with the old weights */
    const int L = m->n_layers;
    int nf = 0, nc = 0;
    float *const *hf = bp_chl_states(m, 0, &nf);
    float *const *hc = bp_chl_states(m, 1, &nc);
    const double rf = chl_residual(m, hf, L - 1), rc = chl_residual(m, hc, L - 2);
    printf("  chl: free phase settled in %d sweeps (residual %.2e), clamped in %d (%.2e), "
           "tol %g\n", nf, rf, nc, rc, c.chl_tol);
    assert_true(nf >= 1 && nf <= c.chl_iters && nc >= 1 && nc <= c.chl_iters);
    assert_true(rf <= 2.0 * c.chl_tol + 1e-6 && rc <= 2.0 * c.chl_tol + 1e-6);
    for (int i = 0; i < B * C; i++) assert_true(hc[L][i] == m->yb[i]); /* output clamped */
    /* the update: gW_l = -gamma^{l-L} (h_l^c ⊗ h_{l-1}^c - h_l^f ⊗ h_{l-1}^f) / B */
    float *g = tu_xmalloc(m->n_params * sizeof(float));
    memset(g, 0, m->n_params * sizeof(float));
    for (int l = 0; l < L; l++) {
        const bp_layer *Ly = &m->layers[l];
        const int O = Ly->out, I = Ly->in;
        const double k = pow(c.chl_gamma, l - (L - 1)) / B;
        for (int o = 0; o < O; o++) {
            double sb = 0.0;
            for (int r = 0; r < B; r++) sb -= k * (hc[l + 1][r * O + o] - hf[l + 1][r * O + o]);
            g[Ly->off + (size_t)O * I + o] = (float)sb;
            for (int i = 0; i < I; i++) {
                double s = 0.0;
                for (int r = 0; r < B; r++)
                    s -= k * ((double)hc[l + 1][r * O + o] * hc[l][r * I + i] -
                              (double)hf[l + 1][r * O + o] * hf[l][r * I + i]);
                g[Ly->off + (size_t)o * I + i] = (float)s;
            }
        }
    }
    memcpy(m->params, w1, m->n_params * sizeof(float));
    assert_true(check_all_updates(m, p0, g, "chl"));
    char desc[256];
    m->rule->describe(m, desc, sizeof desc);
    assert_non_null(strstr(desc, "sweeps"));
    free(g);
    free(p0);
    free(w1);
    bpfree_model_free(m);
}

/* Xie and Seung: for small gamma CHL's update is BP's gradient (of the
 * squared error).  --diagnose alignment measures the angle on every batch. */
static void test_chl_aligns_with_bp(void **state) {
    (void)state;
    bpfree_dataset ds;
    tu_make_dataset(&ds, 96, 8, C, 93);
    const int hidden[] = {12, 10};
    double worst[2];
    const float gammas[] = {0.02f, 0.5f};
    for (int k = 0; k < 2; k++) {
        bpfree_config c = tu_sgd_config("chl", 8, C, 2, hidden, BPFREE_ACT_SIGMOID,
                                        BPFREE_LOSS_MSE, 16, 0.5f, 94, 1);
        c.chl_gamma = gammas[k];
        c.chl_tol = 1e-7f;
        c.chl_iters = 200;
        c.diagnose = BPFREE_DIAG_ALIGNMENT;
        c.diag_every = 1;
        bpfree_model *m = tu_new_model(&c, 1);
        bpfree_epoch_stats st;
        bpfree_error e;
        assert_int_equal(bpfree_train_epoch(m, &ds, &st, &e), BPFREE_OK);
        assert_int_equal(st.n_align, 3);
        worst[k] = 0.0;
        for (int l = 0; l < 3; l++) worst[k] = st.align_deg[l] > worst[k] ? st.align_deg[l] : worst[k];
        printf("  chl gamma %g: angle to BP %.2f / %.2f / %.2f deg\n", gammas[k], st.align_deg[0],
               st.align_deg[1], st.align_deg[2]);
        bpfree_model_free(m);
    }
    assert_true(worst[0] < 3.0);
    assert_true(worst[1] > worst[0]); /* the equivalence is the small-gamma limit */
    bpfree_data_free(&ds);
}

/* ---------------------------------------------------------- f. learning */

static void test_rules_learn(void **state) {
    (void)state;
    tu_rule_learns("tinyfoa", 1e-2f, 0);
    tu_rule_learns("dni", 1e-2f, 0);
    tu_rule_learns("ccl", 1e-2f, 0);
    tu_rule_learns("dtp", 1e-2f, 0);
    tu_rule_learns("chl", 1e-2f, 0);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tinyfoa),
        cmocka_unit_test(test_dni_step),
        cmocka_unit_test(test_dni_approaches_true_gradient),
        cmocka_unit_test(test_ccl),
        cmocka_unit_test(test_dtp_step),
        cmocka_unit_test(test_dtp_inverse_reconstructs),
        cmocka_unit_test(test_chl_fixed_point_and_update),
        cmocka_unit_test(test_chl_aligns_with_bp),
        cmocka_unit_test(test_rules_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
