/* test_conv_fast.c — the convolution's fast path (src/nn/conv_dnnl.c,
 * oneDNN's convolution primitives on the oneDNN build) against the im2col
 * path it replaces (bp_kind_conv_im2col, itself checked against plain
 * loops and central differences in test_conv.c): forward, input gradient,
 * weight gradient (overwriting and accumulating), for 1 and 2 parts, whole
 * and partial batches; and the same numbers twice for the same thread
 * count.  On other builds both kinds are the im2col path and agree exactly. */
#include "testutil.h"
#include "nn/block.h"

typedef struct fast_case {
    int ic, ih, iw, oc, k, stride, same, pool, q;
    bpfree_act act;
} fast_case;

static const fast_case CASES[] = {
    {1, 8, 8, 3, 3, 1, 0, BP_POOL_NONE, 0, BPFREE_ACT_TANH},
    {2, 7, 6, 3, 3, 1, 1, BP_POOL_MAX, 2, BPFREE_ACT_TANH},
    {2, 9, 9, 2, 5, 1, 0, BP_POOL_AVG, 2, BPFREE_ACT_SIGMOID},
    {3, 8, 7, 4, 3, 2, 1, BP_POOL_NONE, 0, BPFREE_ACT_TANH},
    {1, 28, 28, 15, 5, 1, 0, BP_POOL_MAX, 2, BPFREE_ACT_RELU},  /* 002: 15C5-P2 */
    {15, 12, 12, 40, 5, 1, 0, BP_POOL_MAX, 2, BPFREE_ACT_RELU}, /* 002: 40C5-P2 */
    {16, 14, 14, 32, 3, 1, 1, BP_POOL_AVG, 2, BPFREE_ACT_RELU}, /* 003-like, 3x3 same */
};
#define NCASES ((int)(sizeof CASES / sizeof *CASES))

enum { R = 7 }; /* rows the workspace holds: odd, so two parts differ */

typedef struct fixture {
    bp_layer L;
    float *gW, *gb, *ws;
    int *wsi;
} fixture;

static void fixture_make(fixture *f, const fast_case *c, const bp_layer_kind *kind, int parts,
                         float *W, float *b) {
    bp_geom g;
    assert_int_equal(bp_geom_setup(&g, c->ic, c->ih, c->iw, c->oc, c->k, c->stride, c->same,
                                   c->pool, c->q),
                     0);
    bp_conv_setup(&f->L, &g, c->act);
    bp_layer *L = &f->L;
    L->kind = kind;
    L->ws_parts = parts;
    size_t nf, ni;
    L->kind->ws_size(L, R, &nf, &ni);
    f->ws = calloc(nf ? nf : 1, sizeof(float));
    f->wsi = ni ? calloc(ni, sizeof(int)) : NULL;
    f->gW = calloc(bp_layer_n_weights(L), sizeof(float));
    f->gb = calloc((size_t)L->units, sizeof(float));
    assert_true(f->ws && f->gW && f->gb);
    L->W = W, L->b = b, L->gW = f->gW, L->gb = f->gb;
    L->ws = f->ws, L->wsi = f->wsi, L->ws_rows = R;
}

static void fixture_free(fixture *f) { free(f->ws), free(f->wsi), free(f->gW), free(f->gb); }

/* what one kind computes for n samples: h, dx, and gW/gb twice (beta 0,
 * then beta 1 on top) */
typedef struct outs {
    float *h, *dx, *gW, *gb, *gW2, *gb2;
} outs;

static void outs_make(outs *o, const bp_layer *L) {
    const size_t nw = bp_layer_n_weights(L), u = (size_t)L->units;
    o->h = calloc((size_t)R * L->out, sizeof(float));
    o->dx = calloc((size_t)R * L->in, sizeof(float));
    o->gW = calloc(nw, sizeof(float)), o->gW2 = calloc(nw, sizeof(float));
    o->gb = calloc(u, sizeof(float)), o->gb2 = calloc(u, sizeof(float));
}

static void outs_free(outs *o) {
    free(o->h), free(o->dx), free(o->gW), free(o->gb), free(o->gW2), free(o->gb2);
}

static void run_kind(fixture *f, int n, const float *x, const float *dh, outs *o) {
    bp_layer *L = &f->L;
    const size_t nw = bp_layer_n_weights(L), u = (size_t)L->units;
    float *d = copy_floats(dh, (size_t)n * L->out);
    bp_layer_forward(L, x, o->h, n);
    float *dz = bp_layer_output_grad(L, o->h, d, n);
    bp_layer_input_grad(L, NULL, dz, o->dx, n);
    bp_layer_grad_units(L, x, dz, n, 0, u, 0.0f);
    memcpy(o->gW, L->gW, nw * sizeof(float)), memcpy(o->gb, L->gb, u * sizeof(float));
    bp_layer_grad_units(L, x, dz, n, 0, u, 1.0f);
    memcpy(o->gW2, L->gW, nw * sizeof(float)), memcpy(o->gb2, L->gb, u * sizeof(float));
    free(d);
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static void check_case(const fast_case *c, int parts, int n, bp_rng *r) {
    fixture fa, fr;
    bp_geom g;
    assert_int_equal(bp_geom_setup(&g, c->ic, c->ih, c->iw, c->oc, c->k, c->stride, c->same,
                                   c->pool, c->q), 0);
    const size_t nw = (size_t)c->oc * bp_ntaps(&g);
    float *W = malloc(nw * sizeof(float)), *b = malloc((size_t)c->oc * sizeof(float));
    tu_fill_uniform(r, W, nw, -0.3f, 0.3f);
    tu_fill_uniform(r, b, (size_t)c->oc, -0.2f, 0.2f);
    fixture_make(&fa, c, &bp_kind_conv, parts, W, b);
    fixture_make(&fr, c, &bp_kind_conv_im2col, parts, W, b);
    const bp_layer *L = &fa.L;
    float *x = malloc(sizeof(float) * R * L->in), *dh = malloc(sizeof(float) * R * L->out);
    tu_fill_uniform(r, x, (size_t)R * L->in, -1.0f, 1.0f);
    tu_fill_uniform(r, dh, (size_t)R * L->out, -1.0f, 1.0f);
    outs of, of2, orf;
    outs_make(&of, L), outs_make(&of2, L), outs_make(&orf, L);
    run_kind(&fa, n, x, dh, &of);
    run_kind(&fa, n, x, dh, &of2);
    run_kind(&fr, n, x, dh, &orf);
    const double at = 1e-5, rt = 1e-4;
    assert_true(tu_close("h", of.h, orf.h, (size_t)n * L->out, at, rt));
    assert_true(tu_close("dx", of.dx, orf.dx, (size_t)n * L->in, at, rt));
    assert_true(tu_close("gW", of.gW, orf.gW, nw, 1e-4, rt));
    assert_true(tu_close("gb", of.gb, orf.gb, (size_t)c->oc, 1e-4, rt));
    assert_true(tu_close("gW beta 1", of.gW2, orf.gW2, nw, 1e-4, rt));
    assert_true(tu_close("gb beta 1", of.gb2, orf.gb2, (size_t)c->oc, 1e-4, rt));
    assert_true(tu_maxabs(of.gW, nw) > 0.0); /* not vacuous */
    /* the same thread count: the same numbers */
    assert_true(same_bits(of.h, of2.h, (size_t)n * L->out));
    assert_true(same_bits(of.dx, of2.dx, (size_t)n * L->in));
    assert_true(same_bits(of.gW2, of2.gW2, nw) && same_bits(of.gb2, of2.gb2, (size_t)c->oc));
    outs_free(&of), outs_free(&of2), outs_free(&orf);
    fixture_free(&fa), fixture_free(&fr);
    free(W), free(b), free(x), free(dh);
}

static void test_fast_matches_im2col(void **state) {
    (void)state;
    bp_rng r;
    bp_rng_seed(&r, 5);
    for (int threads = 1; threads <= 2; threads++) {
        bpfree_set_threads(threads);
        for (int k = 0; k < NCASES; k++)
            for (int n = R; n >= 1; n -= 3) check_case(&CASES[k], threads, n, &r);
    }
    bpfree_set_threads(1);
}

/* on the oneDNN build the fast path does run (and does not fall back) */
static void test_fast_path_runs(void **state) {
    (void)state;
    fixture f;
    const fast_case *c = &CASES[5];
    bp_geom g;
    assert_int_equal(bp_geom_setup(&g, c->ic, c->ih, c->iw, c->oc, c->k, c->stride, c->same,
                                   c->pool, c->q), 0);
    const size_t nw = (size_t)c->oc * bp_ntaps(&g);
    float *W = calloc(nw, sizeof(float)), *b = calloc((size_t)c->oc, sizeof(float));
    fixture_make(&f, c, &bp_kind_conv, 1, W, b);
    float *x = calloc((size_t)R * f.L.in, sizeof(float)), *h = calloc((size_t)R * f.L.out, 4);
#ifdef BPFREE_DNNL
    assert_int_equal(bp_conv_fast_forward(&f.L, x, h, R), 1);
    assert_int_equal(bp_conv_fast_forward(&f.L, x, h, R + 1), 0); /* more rows than sized */
#else
    assert_int_equal(bp_conv_fast_forward(&f.L, x, h, R), 0);
#endif
    fixture_free(&f);
    free(W), free(b), free(x), free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_matches_im2col),
        cmocka_unit_test(test_fast_path_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
