/* test_grad_step.c — bp_layer_grad_step, gradient + optimizer step of a dense
 * layer with an explicit clock (what bp, mf and the pipelined rules use):
 *   a. bit-identical to bp_layer_backward followed by bp_layer_step (Adam,
 *      AdamW, SGD with momentum, Nesterov + decay), whether the gradient is
 *      kept or consumed (left zero for the next product to accumulate into);
 *   b. without an optimizer it only computes gW, gb;
 *   c. the optimizer passed in is the one that steps;
 *   d. whole rules that step through it give the same bits whether they
 *      consume their gradients or keep them, on one thread and split over
 *      two. */
#include "testutil.h"

enum { D = 500, H = 300, C = 10, BATCH = 7 };

/* 500 -> 300 ReLU -> 10 */
static bpfree_model *grad_model(const bpfree_optim_config *o) {
    const int hidden[] = {H};
    bpfree_config cfg = tu_default_config("bp", D, C, 1, hidden, BATCH);
    cfg.act = BPFREE_ACT_RELU;
    cfg.seed = 3;
    cfg.optim = *o;
    bpfree_model *m = tu_new_model(&cfg, 0);
    assert_int_equal(m->n_layers, 2);
    return m;
}

static int all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}

/* x (B, I) and the signal dh (B, O) at layer l's output, and h = f(x W^T + b). */
static void layer_data(const bpfree_model *m, int l, bp_rng *r, float *x, float *h, float *dh) {
    const bp_layer *L = &m->layers[l];
    tu_fill_uniform(r, x, (size_t)BATCH * L->in, -1.0f, 1.0f);
    tu_fill_uniform(r, dh, (size_t)BATCH * L->out, -1.0f, 1.0f);
    bp_layer_forward(L, x, h, BATCH);
}

/* One layer's data for the tests below: input x, output h, the signal dh
 * at the output and two copies of it (da, dz), each big enough for any layer
 * of grad_model's net. */
typedef struct scratch {
    float *x, *h, *dh, *da, *dz;
} scratch;

static scratch scratch_new(void) {
    const size_t big = (size_t)BATCH * D;
    scratch s = {malloc(big * sizeof(float)), malloc(big * sizeof(float)),
                 malloc(big * sizeof(float)), malloc(big * sizeof(float)),
                 malloc(big * sizeof(float))};
    assert_true(s.x && s.h && s.dh && s.da && s.dz);
    return s;
}

static void scratch_free(scratch *s) {
    free(s->x);
    free(s->h);
    free(s->dh);
    free(s->da);
    free(s->dz);
}

/* With the optimizer: three steps on each layer, each compared with
 * bp_layer_backward + bp_layer_step on a twin model, bit for bit.  Once with
 * the gradients kept, once consumed: then the step leaves them zero and the
 * next product accumulates into them (beta = 1) — the same bits. */
static void test_grad_step_matches(void **state) {
    (void)state;
    bpfree_set_threads(1);
    scratch s = scratch_new();
    float *x = s.x, *h = s.h, *dh = s.dh, *da = s.da, *dz = s.dz;
    for (size_t k = 0; k < 2 * TU_N_OPTIMS; k++) {
        const int keep = (int)(k & 1);
        bpfree_model *a = grad_model(&tu_optims[k / 2]), *b = grad_model(&tu_optims[k / 2]);
        a->keep_grads = 1;
        b->keep_grads = keep;
        assert_true(tu_same_state(a, b)); /* twins */
        bp_rng r;
        bp_rng_seed(&r, 100 + k / 2);
        for (int step = 0; step < 3; step++) {
            bp_optim_begin_step(&a->optim, tu_optims[k / 2].lr);
            bp_optim_begin_step(&b->optim, tu_optims[k / 2].lr);
            for (int l = 1; l >= 0; l--) {
                bp_layer *La = &a->layers[l];
                const int I = La->in, O = La->out;
                const size_t nW = (size_t)O * I;
                layer_data(a, l, &r, x, h, dh);
                float *before = copy_floats(a->params + La->off, nW + O);
                /* a: the reference path */
                memcpy(da, dh, (size_t)BATCH * O * sizeof(float));
                bp_layer_backward(La, x, h, da, NULL, BATCH);
                bp_layer_step(a, l);
                /* b: dz first (as chain_pass does), then the fused path */
                memcpy(dz, dh, (size_t)BATCH * O * sizeof(float));
                bp_act_backward(b->layers[l].act, h, dz, (size_t)BATCH * O);
                bp_layer_grad_step(b, l, x, dz, BATCH, &b->optim);
                const int ok = keep ? tu_same_state(a, b) : tu_same_params(a, b);
                if (!ok)
                    printf("  optimizer %zu, keep %d, step %d, layer %d: fused step differs\n",
                           k / 2, keep, step, l);
                assert_true(ok);
                assert_int_equal(b->layers[l].gzero, !keep);
                if (!keep) assert_true(all_zero(b->grads + La->off, nW + O));
                assert_true(tu_same(da, dz, (size_t)BATCH * O));
                /* not vacuous: the step moved W (its first and last rows)
                 * and the bias */
                assert_false(tu_same(before, a->params + La->off, (size_t)I));
                assert_false(tu_same(before + (size_t)(O - 1) * I,
                                  a->params + La->off + (size_t)(O - 1) * I, (size_t)I));
                assert_false(tu_same(before + nW, a->params + La->off + nW, (size_t)O));
                free(before);
            }
        }
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    scratch_free(&s);
}

/* Without an optimizer (NULL): gW and gb as bp_layer_backward gives them,
 * written over whatever the gradient held, and parameters and moments
 * untouched. */
static void test_grad_step_without_step(void **state) {
    (void)state;
    bpfree_set_threads(1);
    scratch s = scratch_new();
    float *x = s.x, *h = s.h, *dh = s.dh, *da = s.da, *dz = s.dz;
    for (size_t k = 0; k < TU_N_OPTIMS; k++) {
        bpfree_model *a = grad_model(&tu_optims[k]), *b = grad_model(&tu_optims[k]);
        bp_rng r;
        bp_rng_seed(&r, 200 + k);
        /* one real step first, so that the moments are not all zero */
        bp_optim_begin_step(&a->optim, tu_optims[k].lr);
        bp_optim_begin_step(&b->optim, tu_optims[k].lr);
        for (int l = 1; l >= 0; l--) {
            layer_data(a, l, &r, x, h, dh);
            memcpy(da, dh, (size_t)BATCH * a->layers[l].out * sizeof(float));
            memcpy(dz, dh, (size_t)BATCH * a->layers[l].out * sizeof(float));
            bp_layer_backward(&a->layers[l], x, h, da, NULL, BATCH);
            bp_layer_step(a, l);
            bp_layer_backward(&b->layers[l], x, h, dz, NULL, BATCH);
            bp_layer_step(b, l);
        }
        assert_true(tu_same_state(a, b));
        for (int l = 1; l >= 0; l--) {
            bp_layer *La = &a->layers[l], *Lb = &b->layers[l];
            const int O = La->out;
            const size_t n = (size_t)O * La->in + O, n_all = b->n_params;
            layer_data(a, l, &r, x, h, dh);
            memcpy(da, dh, (size_t)BATCH * O * sizeof(float));
            bp_layer_backward(La, x, h, da, NULL, BATCH);
            float *p0 = copy_floats(b->params, n_all), *m0 = copy_floats(b->opt_m, n_all);
            float *v0 = b->opt_v ? copy_floats(b->opt_v, n_all) : NULL;
            for (size_t i = 0; i < n; i++) b->grads[Lb->off + i] = 12345.0f; /* stale */
            memcpy(dz, dh, (size_t)BATCH * O * sizeof(float));
            bp_act_backward(Lb->act, h, dz, (size_t)BATCH * O);
            bp_layer_grad_step(b, l, x, dz, BATCH, NULL);
            assert_true(tu_same(a->grads + La->off, b->grads + Lb->off, n));
            assert_true(tu_maxabs(b->grads + Lb->off, n) > 0.0);
            assert_true(tu_same(p0, b->params, n_all));
            assert_true(tu_same(m0, b->opt_m, n_all));
            if (v0) assert_true(tu_same(v0, b->opt_v, n_all));
            free(p0);
            free(m0);
            free(v0);
        }
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    scratch_free(&s);
}

/* The optimizer passed in is the one that steps (pipelined layers keep a
 * clock each): a copy of m->optim at twice the learning rate gives what
 * bp_layer_step gives at that rate, not at m->optim's. */
static void test_grad_step_uses_given_optimizer(void **state) {
    (void)state;
    bpfree_set_threads(1);
    scratch s = scratch_new();
    float *x = s.x, *h = s.h, *dh = s.dh, *dz = s.dz;
    for (size_t k = 0; k < TU_N_OPTIMS; k++) {
        bpfree_model *a = grad_model(&tu_optims[k]), *b = grad_model(&tu_optims[k]);
        a->keep_grads = b->keep_grads = 1;
        bp_rng r;
        bp_rng_seed(&r, 300 + k);
        const float lr = tu_optims[k].lr;
        bp_optim_begin_step(&a->optim, 2.0f * lr);
        bp_optim_begin_step(&b->optim, lr);
        bp_optim own = b->optim;
        own.lr = 2.0f * lr;
        for (int l = 1; l >= 0; l--) {
            const int O = a->layers[l].out;
            layer_data(a, l, &r, x, h, dh);
            memcpy(dz, dh, (size_t)BATCH * O * sizeof(float));
            bp_layer_backward(&a->layers[l], x, h, dh, NULL, BATCH);
            bp_layer_step(a, l);
            bp_act_backward(b->layers[l].act, h, dz, (size_t)BATCH * O);
            bp_layer_grad_step(b, l, x, dz, BATCH, &own);
        }
        assert_true(tu_same_state(a, b));
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    scratch_free(&s);
}

/* Whole rules whose steps go through bp_layer_grad_step / backward_step:
 * consuming the gradient (the default) gives the same bits as keeping it,
 * on one thread and split over two, over an epoch of several batches (so
 * later products accumulate into the zeros the steps left). */
static void test_consumed_grads_same_bits(void **state) {
    (void)state;
    enum { N = 700, DD = 300 };
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, DD, C, 22);
    const char *rules[] = {"bp", "fa", "mf", "dfa", "dkp", "fdfa", "fg-a", "lg-fg-a", "drtp", "llo", "f3",
                           "dni", "ccl", "dtp"};
    for (size_t k = 0; k < sizeof rules / sizeof *rules; k++)
        for (int threads = 1; threads <= 2; threads++) {
            float *params[2];
            size_t np = 0;
            int consumed = 0;
            for (int keep = 0; keep < 2; keep++) {
                bpfree_error err = {0};
                bpfree_model *m = tu_split_net(rules[k], DD, 100, 9, threads);
                m->keep_grads = keep;
                bpfree_epoch_stats st;
                assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
                assert_true(isfinite(st.train_loss));
                for (int l = 0; l < m->n_layers; l++) consumed += m->layers[l].gzero;
                params[keep] = copy_floats(m->params, m->n_params);
                np = m->n_params;
                bpfree_model_free(m);
            }
            if (!consumed) printf("  %s: no layer's gradient was consumed\n", rules[k]);
            assert_true(consumed > 0); /* not vacuous */
            if (!tu_same(params[0], params[1], np))
                printf("  %s, %d threads: consumed gradients change the result\n", rules[k],
                       threads);
            assert_true(tu_same(params[0], params[1], np));
            free(params[0]);
            free(params[1]);
        }
    bpfree_data_free(&ds);
    bpfree_set_threads(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_step_matches),
        cmocka_unit_test(test_grad_step_without_step),
        cmocka_unit_test(test_grad_step_uses_given_optimizer),
        cmocka_unit_test(test_consumed_grads_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
