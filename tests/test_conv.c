/* test_conv.c — the convolution block kind (src/nn/conv.c): its forward
 * against plain loops, its gradients (weights, biases, input) against
 * central differences of a scalar loss, its forward-mode tangent against
 * central differences, for valid and same padding, stride 1 and 2, and no,
 * max and average pooling. */
#include "testutil.h"

typedef struct conv_case {
    int ic, ih, iw, oc, k, stride, same, pool, q;
    bpfree_act act;
} conv_case;

static const conv_case CASES[] = {
    {1, 8, 8, 3, 3, 1, 0, BP_POOL_NONE, 0, BPFREE_ACT_TANH},
    {2, 7, 6, 3, 3, 1, 1, BP_POOL_MAX, 2, BPFREE_ACT_TANH},
    {2, 9, 9, 2, 5, 1, 0, BP_POOL_AVG, 2, BPFREE_ACT_SIGMOID},
    {3, 8, 7, 4, 3, 2, 1, BP_POOL_NONE, 0, BPFREE_ACT_TANH},
    {1, 12, 12, 2, 5, 1, 0, BP_POOL_MAX, 2, BPFREE_ACT_RELU},
    /* the kernel widths the LC gather unrolls (003 Table 1: 4, 8) */
    {2, 9, 10, 3, 4, 1, 0, BP_POOL_NONE, 0, BPFREE_ACT_TANH},
    {2, 11, 12, 2, 8, 1, 0, BP_POOL_AVG, 2, BPFREE_ACT_TANH},
};
#define NCASES ((int)(sizeof CASES / sizeof *CASES))

enum { B = 3 };

/* a layer with its own parameters and workspace */
typedef struct fixture {
    bp_layer L;
    float *W, *b, *gW, *gb, *ws;
    int *wsi;
} fixture;

static int use_lc; /* the cases run for the convolution, then for locally connected layers */

static void fixture_make(fixture *f, const conv_case *c, bp_rng *r) {
    bp_geom g;
    assert_int_equal(bp_geom_setup(&g, c->ic, c->ih, c->iw, c->oc, c->k, c->stride, c->same,
                                   c->pool, c->q),
                     0);
    if (use_lc) bp_lc_setup(&f->L, &g, c->act);
    else bp_conv_setup(&f->L, &g, c->act);
    bp_layer *L = &f->L;
    const size_t nw = bp_layer_n_weights(L);
    f->W = calloc(nw, sizeof(float));
    f->gW = calloc(nw, sizeof(float));
    f->b = calloc((size_t)L->units, sizeof(float));
    f->gb = calloc((size_t)L->units, sizeof(float));
    size_t nf, ni;
    L->kind->ws_size(L, B, &nf, &ni);
    f->ws = calloc(nf ? nf : 1, sizeof(float));
    f->wsi = ni ? calloc(ni, sizeof(int)) : NULL;
    assert_true(f->W && f->gW && f->b && f->gb && f->ws);
    tu_fill_uniform(r, f->W, nw, -0.5f, 0.5f);
    tu_fill_uniform(r, f->b, (size_t)L->units, -0.2f, 0.2f);
    L->W = f->W, L->b = f->b, L->gW = f->gW, L->gb = f->gb;
    L->ws = f->ws, L->wsi = f->wsi, L->ws_rows = B;
}

static void fixture_free(fixture *f) {
    free(f->W), free(f->b), free(f->gW), free(f->gb), free(f->ws), free(f->wsi);
}

/* plain loops: z[c][y][x] = b[c] + sum W[c][ci][i][j] x[ci][y S - P + i][x S - P + j],
 * then f, then pooling, in double */
static void conv_ref_forward(const bp_layer *L, const float *W, const float *bias, const float *x,
                        double *h) {
    const bp_geom *g = &L->g;
    double *a = malloc(sizeof(double) * (size_t)L->zcols);
    for (int c = 0; c < g->oc; c++)
        for (int y = 0; y < g->ch; y++)
            for (int xx = 0; xx < g->cw; xx++) {
                double s = use_lc ? bias[(c * g->ch + y) * g->cw + xx] : bias[c];
                for (int ci = 0; ci < g->ic; ci++)
                    for (int i = 0; i < g->k; i++)
                        for (int j = 0; j < g->k; j++) {
                            int iy = y * g->stride - g->pad + i, ix = xx * g->stride - g->pad + j;
                            if (iy < 0 || iy >= g->ih || ix < 0 || ix >= g->iw) continue;
                            const size_t t = (size_t)(ci * g->k + i) * g->k + j, T = L->unit_w;
                            const size_t pos = (size_t)y * g->cw + xx, np = (size_t)g->ch * g->cw;
                            const float w = use_lc ? W[((size_t)c * np + pos) * T + t]
                                                   : W[(size_t)c * T + t];
                            s += (double)w * x[(ci * g->ih + iy) * g->iw + ix];
                        }
                a[(c * g->ch + y) * g->cw + xx] = ref_f(L->act, s);
            }
    if (!g->pool) {
        memcpy(h, a, sizeof(double) * (size_t)L->zcols);
        free(a);
        return;
    }
    for (int c = 0; c < g->oc; c++)
        for (int y = 0; y < g->oh; y++)
            for (int xx = 0; xx < g->ow; xx++) {
                double best = -1e300, sum = 0;
                for (int i = 0; i < g->q; i++)
                    for (int j = 0; j < g->q; j++) {
                        double v = a[(c * g->ch + y * g->q + i) * g->cw + xx * g->q + j];
                        best = v > best ? v : best;
                        sum += v;
                    }
                h[(c * g->oh + y) * g->ow + xx] = g->pool == BP_POOL_MAX ? best : sum / (g->q * g->q);
            }
    free(a);
}

static void test_conv_forward_matches_loops(void **state) {
    (void)state;
    bp_rng r;
    bp_rng_seed(&r, 11);
    for (int k = 0; k < NCASES; k++) {
        fixture f;
        fixture_make(&f, &CASES[k], &r);
        bp_layer *L = &f.L;
        float *x = malloc(sizeof(float) * B * L->in), *h = malloc(sizeof(float) * B * L->out);
        double *ref = malloc(sizeof(double) * L->out);
        tu_fill_uniform(&r, x, (size_t)B * L->in, -1.0f, 1.0f);
        bp_layer_forward(L, x, h, B);
        double worst = 0.0;
        for (int s = 0; s < B; s++) {
            conv_ref_forward(L, f.W, f.b, x + (size_t)s * L->in, ref);
            for (int o = 0; o < L->out; o++) {
                double d = fabs(h[(size_t)s * L->out + o] - ref[o]);
                worst = d > worst ? d : worst;
            }
        }
        if (worst > 1e-5) printf("  case %d: forward differs from the loops by %g\n", k, worst);
        assert_true(worst <= 1e-5);
        free(x), free(h), free(ref);
        fixture_free(&f);
    }
}

/* loss = sum_s sum_o R[s][o] h[s][o]; its gradient at the output is R */
static double loss_of(bp_layer *L, const float *x, const float *R, float *h) {
    bp_layer_forward(L, x, h, B);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)B * L->out; i++) s += (double)R[i] * h[i];
    return s;
}

/* central difference of loss in v[i] with step e */
static double fd_step(bp_layer *L, float *v, size_t i, const float *x, const float *R, float *h,
                      float e) {
    const float keep = v[i];
    v[i] = keep + e;
    double up = loss_of(L, x, R, h);
    v[i] = keep - e;
    double dn = loss_of(L, x, R, h);
    v[i] = keep;
    return (up - dn) / (2.0 * e);
}

static int close_enough(double a, double b) { return fabs(a - b) <= 2e-2 * (1.0 + fabs(b)); }

/* g matches the central difference at a step of 2e-3, or — max pooling's
 * loss has a kink wherever two entries of a window tie, and a step of 2e-3
 * crossed one in these tests; the difference then reached the gradient only
 * below 1e-4 — at 4e-5 */
static int kinks; /* entries whose two differences disagree: a tie too close to call */

static int grad_ok(double g, bp_layer *L, float *v, size_t i, const float *x, const float *R,
                   float *h) {
    const double big = fd_step(L, v, i, x, R, h, 2e-3f);
    if (close_enough(g, big)) return 1;
    if (L->g.pool != BP_POOL_MAX) return 0;
    const double small = fd_step(L, v, i, x, R, h, 4e-5f);
    if (close_enough(g, small)) return 1;
    kinks += !close_enough(big, small);
    return !close_enough(big, small);
}

static void test_conv_gradients_match_differences(void **state) {
    (void)state;
    bp_rng r;
    bp_rng_seed(&r, 12);
    kinks = 0;
    for (int k = 0; k < NCASES; k++) {
        if (CASES[k].act == BPFREE_ACT_RELU && CASES[k].pool == BP_POOL_MAX) continue; /* kinks */
        fixture f;
        fixture_make(&f, &CASES[k], &r);
        bp_layer *L = &f.L;
        const size_t nx = (size_t)B * L->in, nh = (size_t)B * L->out;
        float *x = malloc(sizeof(float) * nx), *h = malloc(sizeof(float) * nh),
              *R = malloc(sizeof(float) * nh), *dh = malloc(sizeof(float) * nh),
              *dx = malloc(sizeof(float) * nx);
        tu_fill_uniform(&r, x, nx, -1.0f, 1.0f);
        tu_fill_uniform(&r, R, nh, -1.0f, 1.0f);
        loss_of(L, x, R, h);
        memcpy(dh, R, sizeof(float) * nh);
        bp_layer_backward(L, x, h, dh, dx, B);
        assert_true(tu_maxabs(f.gW, bp_layer_n_weights(L)) > 1e-4);
        int bad = 0;
        for (size_t i = 0; i < bp_layer_n_weights(L); i += 1 + bp_layer_n_weights(L) / 40)
            bad += !grad_ok(f.gW[i], L, f.W, i, x, R, h);
        for (int c = 0; c < L->units; c++) bad += !grad_ok(f.gb[c], L, f.b, (size_t)c, x, R, h);
        for (size_t i = 0; i < nx; i += 1 + nx / 40) bad += !grad_ok(dx[i], L, x, i, x, R, h);
        if (bad) printf("  case %d: %d gradients differ from central differences\n", k, bad);
        assert_int_equal(bad, 0);
        assert_true(kinks <= 2); /* a rare tie, not a habit */
        free(x), free(h), free(R), free(dh), free(dx);
        fixture_free(&f);
    }
}

/* the tangent along (din, V, vb, u) equals the derivative of the output
 * along that direction (u added to the output itself) */
static void test_conv_tangent_matches_differences(void **state) {
    (void)state;
    bp_rng r;
    bp_rng_seed(&r, 13);
    for (int k = 0; k < NCASES; k++) {
        if (CASES[k].act == BPFREE_ACT_RELU) continue;
        fixture f;
        fixture_make(&f, &CASES[k], &r);
        bp_layer *L = &f.L;
        const size_t nx = (size_t)B * L->in, nh = (size_t)B * L->out, nw = bp_layer_n_weights(L);
        float *x = malloc(sizeof(float) * nx), *din = malloc(sizeof(float) * nx),
              *V = malloc(sizeof(float) * nw), *vb = malloc(sizeof(float) * L->units),
              *u = malloc(sizeof(float) * nh), *h = malloc(sizeof(float) * nh),
              *t = malloc(sizeof(float) * nh), *hp = malloc(sizeof(float) * nh),
              *hm = malloc(sizeof(float) * nh), *xs = malloc(sizeof(float) * nx);
        tu_fill_uniform(&r, x, nx, -1.0f, 1.0f);
        tu_fill_uniform(&r, din, nx, -1.0f, 1.0f);
        tu_fill_uniform(&r, V, nw, -1.0f, 1.0f);
        tu_fill_uniform(&r, vb, (size_t)L->units, -1.0f, 1.0f);
        tu_fill_uniform(&r, u, nh, -1.0f, 1.0f);
        bp_layer_forward(L, x, h, B);
        bp_layer_tangent(L, x, h, din, V, vb, u, t, B);
        const float e = 1e-3f;
        float *W0 = copy_floats(f.W, nw), *b0 = copy_floats(f.b, (size_t)L->units);
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            for (size_t i = 0; i < nw; i++) f.W[i] = W0[i] + sgn * e * V[i];
            for (int c = 0; c < L->units; c++) f.b[c] = b0[c] + sgn * e * vb[c];
            for (size_t i = 0; i < nx; i++) xs[i] = x[i] + sgn * e * din[i];
            bp_layer_forward(L, xs, sgn < 0 ? hm : hp, B);
        }
        int bad = 0;
        for (size_t i = 0; i < nh; i++)
            bad += !close_enough(t[i], (hp[i] - hm[i]) / (2.0 * e) + u[i]);
        if (bad) printf("  case %d: %d tangent entries differ\n", k, bad);
        assert_int_equal(bad, 0);
        free(W0), free(b0), free(x), free(din), free(V), free(vb), free(u), free(h), free(t),
            free(hp), free(hm), free(xs);
        fixture_free(&f);
    }
}

/* the same three checks for the locally connected kind */
static void test_lc(void **state) {
    use_lc = 1;
    test_conv_forward_matches_loops(state);
    test_conv_gradients_match_differences(state);
    test_conv_tangent_matches_differences(state);
    use_lc = 0;
}

static void test_geometry(void **state) {
    (void)state;
    bp_geom g;
    assert_int_equal(bp_geom_setup(&g, 1, 28, 28, 15, 5, 1, 0, BP_POOL_MAX, 2), 0);
    assert_int_equal(g.ch, 24);
    assert_int_equal(g.oh, 12);
    assert_int_equal(bp_geom_setup(&g, 15, 12, 12, 40, 5, 1, 0, BP_POOL_MAX, 2), 0);
    assert_int_equal(g.oh * g.ow * g.oc, 640); /* 002's 15C5-P2-40C5-P2: 40 x 4 x 4 */
    assert_int_equal(bp_geom_setup(&g, 1, 32, 32, 64, 3, 1, 1, BP_POOL_AVG, 2), 0);
    assert_int_equal(g.ch, 32);
    assert_int_equal(g.oh, 16);
    assert_int_equal(bp_geom_setup(&g, 1, 4, 4, 2, 5, 1, 0, BP_POOL_NONE, 0), -1);
    assert_int_equal(bp_geom_setup(&g, 1, 5, 5, 2, 3, 1, 0, BP_POOL_MAX, 4), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_conv_forward_matches_loops),
        cmocka_unit_test(test_conv_gradients_match_differences),
        cmocka_unit_test(test_conv_tangent_matches_differences),
        cmocka_unit_test(test_lc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
