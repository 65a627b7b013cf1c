/* test_feedback_point.c — --feedback-point pre-pool: a rule's direct signal
 * e B_l entering a pooled block before its pooling (the FDFA authors'
 * hooks).  A signal at the pre-pool maps that equals dh routed back through
 * the pooling gives the layer exactly the gradient dh gives at the output
 * (max and average pooling, with and without batch normalisation, conv and
 * LC); a perturbation u at the pre-pool maps reaches the tangent as the
 * pooling's derivative (central differences of the pooled output); the
 * feedback matrices take the unpooled width; the rules that accept it
 * learn, save and load it; a net without pooling is unchanged bit for bit;
 * other rules refuse it. */
#include "testutil.h"

enum { B = 4 };

typedef struct fixture {
    bp_layer L;
    tu_layer_mem m;
} fixture;

/* kind 0: conv 2x6x6 -> 3C3s, max pool 2; 1: the same with BN; 2: conv
 * 1x6x6 -> 2C3s, average pool 2, BN; 3: LC 1x6x6 -> 2L3s, max pool 2 */
static void make(fixture *f, int kind, bp_rng *r) {
    bp_layer *L = &f->L;
    bp_geom g;
    if (kind <= 1) assert_int_equal(bp_geom_setup(&g, 2, 6, 6, 3, 3, 1, 1, BP_POOL_MAX, 2), 0);
    if (kind >= 2)
        assert_int_equal(bp_geom_setup(&g, 1, 6, 6, 2, 3, 1, 1, kind == 2 ? BP_POOL_AVG : BP_POOL_MAX, 2), 0);
    if (kind == 3) bp_lc_setup(L, &g, BPFREE_ACT_TANH);
    else bp_conv_setup(L, &g, BPFREE_ACT_TANH);
    L->bn = kind == 1 || kind == 2;
    tu_layer_attach(L, B, &f->m);
    const size_t U = (size_t)L->units;
    tu_fill_uniform(r, f->m.p, bp_layer_n_weights(L) + U, -0.6f, 0.6f);
    if (L->bn) tu_fill_uniform(r, L->gamma, 2 * U, 0.5f, 1.2f);
}

static void unmake(fixture *f) { tu_layer_detach(&f->m); }

/* dz (and gamma's, beta's gradients) from dh at the output, and from the
 * same signal carried to the pre-pool maps by the test: equal bit for bit */
static void test_pre_pool_signal_is_the_routed_one(void **state) {
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        bp_rng r;
        bp_rng_seed(&r, 11 + (uint64_t)kind);
        fixture f;
        make(&f, kind, &r);
        bp_layer *L = &f.L;
        const size_t zc = (size_t)L->zcols, out = (size_t)L->out, U = (size_t)L->units;
        const size_t nc = (size_t)L->g.oc, np = zc / nc;
        float *x = malloc((size_t)B * L->in * sizeof(float)), *h = malloc(B * out * sizeof(float));
        float *dh = malloc(B * out * sizeof(float)), *sig = calloc(B * zc, sizeof(float));
        float *dz_ref = malloc(B * zc * sizeof(float)), *gb_ref = malloc(3 * U * sizeof(float));
        tu_fill_uniform(&r, x, (size_t)B * L->in, -1.0f, 1.0f);
        tu_fill_uniform(&r, dh, B * out, -1.0f, 1.0f);
        bp_layer_forward(L, x, h, B);
        float *dz = bp_layer_output_grad(L, h, dh, B);
        memcpy(dz_ref, dz, B * zc * sizeof(float));
        if (L->bn) memcpy(gb_ref, L->gb + U, 2 * U * sizeof(float));
        /* the test's own routing: max -> the window's largest activation
         * (found here from the pre-pool maps), average -> a quarter each */
        L->sig_pre = 1; /* (the kind's methods never read it) */
        const float *a = bp_layer_sig_act(L, h);
        const int cw = L->g.cw, oh = L->g.oh, ow = L->g.ow;
        for (int s = 0; s < B; s++)
            for (size_t c = 0; c < nc; c++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        const float d = dh[s * out + (c * oh + oy) * ow + ox];
                        int best = -1;
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 2; j++) {
                                const int k = (oy * 2 + i) * cw + ox * 2 + j;
                                const float v = a[s * zc + c * np + k];
                                if (best < 0 || v > a[s * zc + c * np + best]) best = k;
                                if (L->g.pool == BP_POOL_AVG) sig[s * zc + c * np + k] = d * 0.25f;
                            }
                        if (L->g.pool == BP_POOL_MAX) sig[s * zc + c * np + best] = d;
                    }
        assert_int_equal(bp_layer_sig_cols(L), (int)zc);
        float *dz2 = bp_layer_sig_dz(L, sig);
        bp_layer_sig_grad(L, h, sig, dz2, B, 0, U);
        for (size_t k = 0; k < B * zc; k++)
            if (dz2[k] != dz_ref[k])
                fail_msg("kind %d: dz[%zu] = %g from the pre-pool signal, %g from the output", kind,
                         k, (double)dz2[k], (double)dz_ref[k]);
        if (L->bn) assert_true(tu_same(L->gb + U, gb_ref, 2 * U)); /* ggamma, gbeta */
        free(x), free(h), free(dh), free(sig), free(dz_ref), free(gb_ref);
        unmake(&f);
    }
}

/* 1 if output o's max-pooling window of one sample's pre-pool maps a has
 * its two largest values within gap (central differences straddle the kink) */
static int near_tie(const bp_layer *L, const float *a, size_t o, float gap) {
    const bp_geom *g = &L->g;
    if (g->pool != BP_POOL_MAX) return 0;
    const size_t c = o / ((size_t)g->oh * g->ow), oy = o / g->ow % g->oh, ox = o % g->ow;
    float v[4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            v[i * 2 + j] = a[c * g->ch * g->cw + (oy * 2 + i) * g->cw + ox * 2 + j];
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (fabsf(v[i] - v[j]) < gap) return 1;
    return 0;
}

/* u at the pre-pool maps: dout = d pool(a + eps u) / d eps (no other
 * perturbation, so the tangent before u is zero) */
static void test_pre_pool_perturbation_tangent(void **state) {
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        bp_rng r;
        bp_rng_seed(&r, 21 + (uint64_t)kind);
        fixture f;
        make(&f, kind, &r);
        bp_layer *L = &f.L;
        const size_t zc = (size_t)L->zcols, out = (size_t)L->out;
        float *x = malloc((size_t)B * L->in * sizeof(float)), *h = malloc(B * out * sizeof(float));
        float *u = malloc(B * zc * sizeof(float)), *dout = malloc(B * out * sizeof(float));
        float *a = malloc(B * zc * sizeof(float)), *ap = malloc(zc * sizeof(float));
        float *up = malloc(out * sizeof(float)), *dn = malloc(out * sizeof(float));
        int *arg = malloc(out * sizeof(int));
        tu_fill_uniform(&r, x, (size_t)B * L->in, -1.0f, 1.0f);
        tu_fill_uniform(&r, u, B * zc, -1.0f, 1.0f);
        L->sig_pre = 1;
        bp_layer_forward(L, x, h, B);
        memcpy(a, bp_layer_sig_act(L, h), B * zc * sizeof(float));
        bp_layer_tangent(L, x, h, NULL, NULL, NULL, u, dout, B);
        const float eps = 1e-3f;
        int skipped = 0;
        for (int s = 0; s < B; s++) {
            for (size_t k = 0; k < zc; k++) ap[k] = a[s * zc + k] + eps * u[s * zc + k];
            bp_pool_fwd(&L->g, ap, up, arg);
            for (size_t k = 0; k < zc; k++) ap[k] = a[s * zc + k] - eps * u[s * zc + k];
            bp_pool_fwd(&L->g, ap, dn, arg);
            for (size_t o = 0; o < out; o++) {
                if (near_tie(L, a + s * zc, o, 4 * eps)) {
                    skipped++;
                    continue;
                }
                const double want = ((double)up[o] - dn[o]) / (2.0 * eps);
                if (fabs(dout[s * out + o] - want) > 2e-2 * (1.0 + fabs(want)))
                    fail_msg("kind %d sample %d output %zu: tangent %g, differences %g", kind, s,
                             o, (double)dout[s * out + o], want);
            }
        }
        assert_true(skipped < (int)(B * out) / 10);
        free(x), free(h), free(u), free(dout), free(a), free(ap), free(up), free(dn), free(arg);
        unmake(&f);
    }
}

static bpfree_status img_config(bpfree_config *c, const char *rule, const char *arch,
                                const char *point, bpfree_error *e) {
    bpfree_status st = bpfree_config_default(c, rule, 64, 4, e);
    if (st) return st;
    c->in_channels = 1, c->in_height = 8, c->in_width = 8;
    c->batch = 32, c->epochs = 4, c->threads = 1, c->seed = 5;
    c->optim.lr = 3e-3f;
    c->optim.sched = BPFREE_SCHED_NONE;
    if ((st = bpfree_config_set(c, "arch", arch, e))) return st;
    if (point && (st = bpfree_config_set(c, "feedback-point", point, e))) return st;
    return bpfree_config_check(c, e);
}

/* every rule with direct feedback learns with it; B_l spans the unpooled
 * maps of a pooled block and the output of the others; a saved model
 * keeps the setting and predicts as before */
static void test_pre_pool_rules_learn_and_save(void **state) {
    (void)state;
    static const char *const rules[] = {"dfa", "dkp", "fdfa", "drtp", "f3"};
    bpfree_dataset ds = {0};
    tu_quadrants(&ds, 256, 8, 9);
    int bad = 0;
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        bpfree_config c;
        bpfree_error e;
        if (img_config(&c, rules[i], "4C3s-BN-P2-6C3-P2-16", "pre-pool", &e))
            fail_msg("%s: %s", rules[i], e.msg);
        bpfree_model *m = NULL;
        if (bpfree_model_new(&c, &m, &e)) fail_msg("%s: %s", rules[i], e.msg);
        assert_true(m->layers[0].sig_pre && m->layers[1].sig_pre && !m->layers[2].sig_pre);
        const size_t want[3] = {4 * 4 * 8 * 8, 4 * 6 * 2 * 2, 4 * 16}; /* C x zcols, C x out */
        for (int l = 0; l < 3; l++) {
            char name[8];
            snprintf(name, sizeof name, "B%d", l + 1);
            const int t = find_tensor(m, name);
            assert_int_equal(m->tensors[t].n, want[l]);
        }
        double first = 0.0, last = 0.0;
        tu_train_losses(m, &ds, c.epochs, rules[i], &first, &last);
        bpfree_eval ev;
        assert_int_equal(bpfree_evaluate(m, &ds, &ev, &e), 0);
        printf("  %-5s pre-pool: train loss %.3f -> %.3f, accuracy %.1f%%\n", rules[i], first,
               last, 100 * ev.acc);
        bad += !(last < first) || !isfinite(last);
        bpfree_model *back = tu_reload(m, "fbpoint");
        assert_int_equal(back->cfg.feedback_point, BPFREE_FBPOINT_PREPOOL);
        assert_true(back->layers[0].sig_pre);
        bpfree_eval ev2;
        assert_int_equal(bpfree_evaluate(back, &ds, &ev2, &e), 0);
        assert_float_equal(ev.loss, ev2.loss, 0.0);
        bpfree_model_free(back);
        bpfree_model_free(m);
    }
    bpfree_data_free(&ds);
    assert_int_equal(bad, 0);
}

/* without pooling there is one signal point: the same numbers either way */
static void test_pre_pool_without_pooling_changes_nothing(void **state) {
    (void)state;
    bpfree_dataset ds = {0};
    tu_quadrants(&ds, 96, 8, 4);
    bpfree_model *m[2];
    for (int k = 0; k < 2; k++) {
        bpfree_config c;
        bpfree_error e;
        assert_int_equal(img_config(&c, "fdfa", "4C3s-BN-6C3-16", k ? "pre-pool" : NULL, &e), 0);
        assert_int_equal(bpfree_model_new(&c, &m[k], &e), 0);
        assert_int_equal(bpfree_train_epoch(m[k], &ds, NULL, &e), 0);
    }
    assert_int_equal(m[0]->n_params, m[1]->n_params);
    assert_true(tu_same(m[0]->params, m[1]->params, m[0]->n_params));
    assert_true(tu_same(m[0]->state, m[1]->state, m[0]->n_state));
    bpfree_model_free(m[0]);
    bpfree_model_free(m[1]);
    bpfree_data_free(&ds);
}

static void test_pre_pool_refused_elsewhere(void **state) {
    (void)state;
    static const char *const rules[] = {"bp", "fa", "mf", "fg-a", "lg-fg-a", "tinyfoa", "llo"};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        bpfree_config c;
        bpfree_error e;
        bpfree_status st = img_config(&c, rules[i], "4C3s-P2-16", "pre-pool", &e);
        assert_int_not_equal(st, BPFREE_OK);
        if (!strstr(e.msg, "feedback-point")) fail_msg("%s: '%s'", rules[i], e.msg);
    }
    bpfree_config c;
    bpfree_error e;
    assert_int_not_equal(img_config(&c, "dfa", "4C3s-P2-16", "after-pool", &e), BPFREE_OK);
    assert_non_null(strstr(e.msg, "pre-pool"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pre_pool_signal_is_the_routed_one),
        cmocka_unit_test(test_pre_pool_perturbation_tangent),
        cmocka_unit_test(test_pre_pool_rules_learn_and_save),
        cmocka_unit_test(test_pre_pool_without_pooling_changes_nothing),
        cmocka_unit_test(test_pre_pool_refused_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
