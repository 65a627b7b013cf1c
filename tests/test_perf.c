/* test_perf.c — the machinery the benchmarks and the fast paths rest on:
 * (a) the GEMM profiler (bpfree_profile_start/stop/replay): counts, FLOPs,
 *     distinct shapes, accumulation and reset, nothing counted while stopped,
 *     calls from several threads, the 128-shape cap, the replay;
 * (b) bp_layer_grad_step, gradient + optimizer step with an explicit clock
 *     (what bp, mf and the pipelined rules use): bit-identical to
 *     bp_layer_backward followed by bp_layer_step (Adam, AdamW, SGD with
 *     momentum, Nesterov + decay); without an optimizer it only computes
 *     gW, gb.
 * (c) split threading (BPFREE_THREADING_SPLIT): a split product equals the
 *     one-thread product bit for bit on exact data and within rounding on
 *     any data, the same bits on every repeat, profiled once as the whole
 *     shape; every fused dense pass on two threads equals one thread's;
 *     whole rules give the same numbers run after run; the pool does each
 *     element once per call whether its workers spin or sleep, nested or
 *     after a resize.
 * No timing is asserted beyond "more than zero seconds". */
#include "testutil.h"

#include <pthread.h>
#include <time.h>

/* ------------------------------------------------------------ profiler */

typedef struct mats {
    float A[64 * 64], B[64 * 64], C[64 * 64];
} mats;

static mats *mats_new(void) {
    mats *x = malloc(sizeof *x);
    assert_non_null(x);
    bp_rng r;
    bp_rng_seed(&r, 5);
    tu_fill_uniform(&r, x->A, 64 * 64, -1.0f, 1.0f);
    tu_fill_uniform(&r, x->B, 64 * 64, -1.0f, 1.0f);
    return x;
}

/* k calls of one shape; op(A) (M, K), op(B) (K, N), all within 64 x 64 */
static void gemms(mats *x, int k, int ta, int tb, int M, int N, int K) {
    const int lda = ta ? M : K, ldb = tb ? K : N;
    for (int i = 0; i < k; i++)
        bpfree_gemm(ta, tb, M, N, K, 1.0f, x->A, lda, x->B, ldb, 0.0f, x->C, N);
}

static double fl(int M, int N, int K) { return 2.0 * M * N * K; }

static void test_profile_counts(void **state) {
    (void)state;
    bpfree_set_threads(1);
    mats *x = mats_new();
    bpfree_profile p;

    /* k calls of one shape */
    bpfree_profile_start(1);
    gemms(x, 5, 0, 1, 7, 5, 3);
    bpfree_profile_stop(&p);
    assert_int_equal(p.calls, 5);
    assert_true(p.flops == 5 * fl(7, 5, 3));
    assert_int_equal(p.shapes, 1);
    assert_int_equal(p.dropped, 0);
    assert_true(p.seconds > 0.0);
    const double s1 = p.seconds;

    /* a call while stopped is not counted */
    gemms(x, 4, 0, 1, 7, 5, 3);
    gemms(x, 1, 1, 1, 9, 9, 9);

    /* start(0) accumulates: the same shape again, the same sizes with other
     * transposes (a shape of its own), and a new size */
    bpfree_profile_start(0);
    gemms(x, 2, 0, 1, 7, 5, 3);
    gemms(x, 3, 0, 0, 7, 5, 3);
    gemms(x, 3, 1, 0, 4, 6, 9);
    bpfree_profile_stop(&p);
    assert_int_equal(p.calls, 5 + 2 + 3 + 3);
    assert_true(p.flops == 7 * fl(7, 5, 3) + 3 * fl(7, 5, 3) + 3 * fl(4, 6, 9));
    assert_int_equal(p.shapes, 3);
    assert_true(p.seconds > s1);

    /* per shape: most time first, calls by shape, nothing replayed yet */
    bpfree_profile_shape sh[4];
    memset(sh, 0, sizeof sh);
    assert_int_equal(bpfree_profile_shapes(sh, 4), 3);
    long calls = 0;
    double secs = 0.0;
    int seen7 = 0;
    for (int i = 0; i < 3; i++) {
        calls += sh[i].calls;
        secs += sh[i].seconds;
        assert_true(sh[i].alone < 0.0);
        if (i) assert_true(sh[i - 1].seconds >= sh[i].seconds);
        if (sh[i].ta == 0 && sh[i].tb == 1 && sh[i].M == 7 && sh[i].N == 5 && sh[i].K == 3) {
            assert_int_equal(sh[i].calls, 7);
            seen7 = 1;
        }
    }
    assert_true(seen7);
    assert_int_equal(calls, 13);
    assert_true(fabs(secs - p.seconds) <= 1e-9 * p.seconds);
    /* max below the count: only max written, the count returned */
    bpfree_profile_shape one[2];
    memset(one, 0, sizeof one);
    assert_int_equal(bpfree_profile_shapes(one, 1), 3);
    assert_true(one[0].calls == sh[0].calls && one[1].calls == 0);
    assert_int_equal(bpfree_profile_shapes(NULL, 0), 3);

    /* replay runs the recorded shapes; its own calls are not recorded */
    const double alone = bpfree_profile_replay(3);
    assert_true(alone > 0.0);
    assert_int_equal(bpfree_profile_shapes(sh, 4), 3);
    double alone_sum = 0.0;
    for (int i = 0; i < 3; i++) {
        assert_true(sh[i].alone > 0.0);
        alone_sum += sh[i].alone;
    }
    assert_true(fabs(alone_sum - alone) <= 1e-9 * alone);
    bpfree_profile_start(0);
    bpfree_profile_stop(&p);
    assert_int_equal(p.calls, 13);
    assert_int_equal(p.shapes, 3);

    /* start(1) resets */
    bpfree_profile_start(1);
    gemms(x, 1, 1, 1, 2, 3, 4);
    bpfree_profile_stop(&p);
    assert_int_equal(p.calls, 1);
    assert_true(p.flops == fl(2, 3, 4));
    assert_int_equal(p.shapes, 1);

    /* an empty profile: nothing, and nothing to replay */
    bpfree_profile_start(1);
    bpfree_profile_stop(&p);
    assert_int_equal(p.calls, 0);
    assert_int_equal(p.shapes, 0);
    assert_true(p.flops == 0.0 && p.seconds == 0.0);
    assert_true(bpfree_profile_replay(3) == 0.0);
    free(x);
}

/* More distinct shapes than the table holds: the first 128 are counted,
 * the calls of the others are reported as dropped. */
static void test_profile_dropped(void **state) {
    (void)state;
    bpfree_set_threads(1);
    mats *x = mats_new();
    bpfree_profile p;
    bpfree_profile_start(1);
    for (int M = 1; M <= 130; M++) {
        const int m = (M - 1) % 64 + 1, n = (M - 1) / 64 + 1; /* 130 distinct (m, n) */
        gemms(x, 1, 0, 0, m, n, 2);
    }
    gemms(x, 1, 0, 0, 1, 1, 2); /* a recorded shape: still counted */
    bpfree_profile_stop(&p);
    assert_int_equal(p.shapes, 128);
    assert_int_equal(p.dropped, 2);
    assert_int_equal(p.calls, 129);
    double want = fl(1, 1, 2);
    for (int M = 1; M <= 128; M++) want += fl((M - 1) % 64 + 1, (M - 1) / 64 + 1, 2);
    assert_true(p.flops == want);
    bpfree_profile_start(1); /* leave it empty for the next test */
    bpfree_profile_stop(&p);
    free(x);
}

typedef struct gemm_job {
    pthread_barrier_t *go;
    int k;
} gemm_job;

/* no cmocka assertions here: they may only fail on the test's own thread */
static void *gemm_thread(void *arg) {
    const gemm_job *j = arg;
    const float A[4] = {1, 2, 3, 4}, B[4] = {0.5f, -1, 2, 0.25f};
    float C[4];
    pthread_barrier_wait(j->go); /* all threads call at the same time */
    for (int i = 0; i < j->k; i++) bpfree_gemm(0, 1, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    return NULL;
}

/* Calls from several threads at once are all counted, in one profile (a
 * per-thread or thread-local profile would fail this; a missing lock would
 * only fail it by chance: OpenBLAS serialises concurrent calls largely). */
static void test_profile_threads(void **state) {
    (void)state;
    bpfree_set_threads(1);
    enum { T = 3 };
    const int k = 2000;
    pthread_t th[T];
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, T), 0);
    gemm_job job = {&go, k};
    bpfree_profile p;
    bpfree_profile_start(1);
    for (int i = 0; i < T; i++) assert_int_equal(pthread_create(&th[i], NULL, gemm_thread, &job), 0);
    for (int i = 0; i < T; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&go);
    bpfree_profile_stop(&p);
    assert_int_equal(p.calls, T * k);
    assert_int_equal(p.shapes, 1);
    assert_true(p.flops == T * k * fl(2, 2, 2));
}

/* ------------------------------------------------ fused gradient + step */

enum { D = 500, H = 300, C = 10, BATCH = 7 };

/* 500 -> 300 ReLU -> 10 */
static bpfree_model *grad_model(const bpfree_optim_config *o) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, "bp", D, C, &err), BPFREE_OK);
    cfg.n_hidden = 1;
    cfg.hidden[0] = H;
    cfg.act = BPFREE_ACT_RELU;
    cfg.batch = BATCH;
    cfg.threads = 1;
    cfg.seed = 3;
    cfg.optim = *o;
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    assert_int_equal(m->n_layers, 2);
    return m;
}

static int same(const float *a, const float *b, size_t n) {
    return n == 0 || memcmp(a, b, n * sizeof(float)) == 0;
}

/* Parameters and optimizer moments. */
static int same_params(const bpfree_model *a, const bpfree_model *b) {
    if (a->n_params != b->n_params) return 0;
    const size_t n = a->n_params;
    return same(a->params, b->params, n) && same(a->opt_m, b->opt_m, n) &&
           (!a->opt_v ? !b->opt_v : (b->opt_v && same(a->opt_v, b->opt_v, n)));
}

/* Both models' whole state: parameters, gradients, optimizer moments. */
static int same_state(const bpfree_model *a, const bpfree_model *b) {
    return same_params(a, b) && same(a->grads, b->grads, a->n_params);
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

static const bpfree_optim_config optims[] = {
    {.kind = BPFREE_OPTIM_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
    {.kind = BPFREE_OPTIM_ADAM, .lr = 2e-3f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f,
     .weight_decay = 0.01f, .decoupled = 1},
    {.kind = BPFREE_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f,
     .eps = 1e-8f},
    {.kind = BPFREE_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f, .nesterov = 1,
     .weight_decay = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
};

/* With the optimizer: three steps on each layer, each compared with
 * bp_layer_backward + bp_layer_step on a twin model, bit for bit.  Once with
 * the gradients kept, once consumed: then the step leaves them zero and the
 * next product accumulates into them (beta = 1) — the same bits. */
static void test_grad_step_matches(void **state) {
    (void)state;
    bpfree_set_threads(1);
    const size_t big = (size_t)BATCH * D;
    float *x = malloc(big * sizeof(float)), *h = malloc(big * sizeof(float)),
          *dh = malloc(big * sizeof(float)), *da = malloc(big * sizeof(float)),
          *dz = malloc(big * sizeof(float));
    assert_true(x && h && dh && da && dz);
    for (size_t k = 0; k < 2 * (sizeof optims / sizeof *optims); k++) {
        const int keep = (int)(k & 1);
        bpfree_model *a = grad_model(&optims[k / 2]), *b = grad_model(&optims[k / 2]);
        a->keep_grads = 1;
        b->keep_grads = keep;
        assert_true(same_state(a, b)); /* twins */
        bp_rng r;
        bp_rng_seed(&r, 100 + k / 2);
        for (int step = 0; step < 3; step++) {
            bp_optim_begin_step(&a->optim, optims[k / 2].lr);
            bp_optim_begin_step(&b->optim, optims[k / 2].lr);
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
                const int ok = keep ? same_state(a, b) : same_params(a, b);
                if (!ok)
                    printf("  optimizer %zu, keep %d, step %d, layer %d: fused step differs\n",
                           k / 2, keep, step, l);
                assert_true(ok);
                assert_int_equal(b->layers[l].gzero, !keep);
                if (!keep) assert_true(all_zero(b->grads + La->off, nW + O));
                assert_true(same(da, dz, (size_t)BATCH * O));
                /* not vacuous: the step moved W (its first and last rows)
                 * and the bias */
                assert_false(same(before, a->params + La->off, (size_t)I));
                assert_false(same(before + (size_t)(O - 1) * I,
                                  a->params + La->off + (size_t)(O - 1) * I, (size_t)I));
                assert_false(same(before + nW, a->params + La->off + nW, (size_t)O));
                free(before);
            }
        }
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    free(x);
    free(h);
    free(dh);
    free(da);
    free(dz);
}

/* Without an optimizer (NULL): gW and gb as bp_layer_backward gives them,
 * written over whatever the gradient held, and parameters and moments
 * untouched. */
static void test_grad_step_without_step(void **state) {
    (void)state;
    bpfree_set_threads(1);
    const size_t big = (size_t)BATCH * D;
    float *x = malloc(big * sizeof(float)), *h = malloc(big * sizeof(float)),
          *dh = malloc(big * sizeof(float)), *da = malloc(big * sizeof(float)),
          *dz = malloc(big * sizeof(float));
    assert_true(x && h && dh && da && dz);
    for (size_t k = 0; k < sizeof optims / sizeof *optims; k++) {
        bpfree_model *a = grad_model(&optims[k]), *b = grad_model(&optims[k]);
        bp_rng r;
        bp_rng_seed(&r, 200 + k);
        /* one real step first, so that the moments are not all zero */
        bp_optim_begin_step(&a->optim, optims[k].lr);
        bp_optim_begin_step(&b->optim, optims[k].lr);
        for (int l = 1; l >= 0; l--) {
            layer_data(a, l, &r, x, h, dh);
            memcpy(da, dh, (size_t)BATCH * a->layers[l].out * sizeof(float));
            memcpy(dz, dh, (size_t)BATCH * a->layers[l].out * sizeof(float));
            bp_layer_backward(&a->layers[l], x, h, da, NULL, BATCH);
            bp_layer_step(a, l);
            bp_layer_backward(&b->layers[l], x, h, dz, NULL, BATCH);
            bp_layer_step(b, l);
        }
        assert_true(same_state(a, b));
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
            assert_true(same(a->grads + La->off, b->grads + Lb->off, n));
            assert_true(tu_maxabs(b->grads + Lb->off, n) > 0.0);
            assert_true(same(p0, b->params, n_all));
            assert_true(same(m0, b->opt_m, n_all));
            if (v0) assert_true(same(v0, b->opt_v, n_all));
            free(p0);
            free(m0);
            free(v0);
        }
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    free(x);
    free(h);
    free(dh);
    free(da);
    free(dz);
}

/* The optimizer passed in is the one that steps (pipelined layers keep a
 * clock each): a copy of m->optim at twice the learning rate gives what
 * bp_layer_step gives at that rate, not at m->optim's. */
static void test_grad_step_uses_given_optimizer(void **state) {
    (void)state;
    bpfree_set_threads(1);
    const size_t big = (size_t)BATCH * D;
    float *x = malloc(big * sizeof(float)), *h = malloc(big * sizeof(float)),
          *dh = malloc(big * sizeof(float)), *dz = malloc(big * sizeof(float));
    assert_true(x && h && dh && dz);
    for (size_t k = 0; k < sizeof optims / sizeof *optims; k++) {
        bpfree_model *a = grad_model(&optims[k]), *b = grad_model(&optims[k]);
        a->keep_grads = b->keep_grads = 1;
        bp_rng r;
        bp_rng_seed(&r, 300 + k);
        const float lr = optims[k].lr;
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
        assert_true(same_state(a, b));
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    free(x);
    free(h);
    free(dh);
    free(dz);
}

/* --------------------------------------------- split threading (par.c) */

enum { SB = 96, SD = 300, SH = 256 }; /* big enough to split: SB*SH*SD >= 2^20 */

/* Multiples of 1/8 in [-1/2, 1/2]: every product and partial sum of these
 * (K <= 600) is exact in float, so a product's value cannot depend on the
 * order of its sums — which OpenBLAS changes with the shape of a slice
 * (its edge kernels differ), so a split product equals the whole one only
 * up to rounding in general. */
static void fill_dyadic(bp_rng *r, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)((int)(bp_rng_u64(r) % 9) - 4) * 0.125f;
}

static bpfree_model *split_model(const bpfree_optim_config *o, int threads) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, "bp", SD, C, &err), BPFREE_OK);
    cfg.n_hidden = 2;
    cfg.hidden[0] = SH;
    cfg.hidden[1] = SH;
    cfg.act = BPFREE_ACT_RELU;
    cfg.batch = SB;
    cfg.threads = threads;
    cfg.threading = BPFREE_THREADING_SPLIT;
    cfg.seed = 9;
    cfg.optim = *o;
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    return m;
}

/* With BPFREE_THREADING_SPLIT on two threads, every dense pass — forward,
 * backward with dx, gradient + step, backward + step — splits its units
 * over the two threads, and gives the numbers of one thread bit for bit
 * when the products are exact (dyadic data, ReLU; the weights are reset to
 * dyadic values before each pass, the optimizer moments carry on). */
static void test_split_matches_one_thread(void **state) {
    (void)state;
    const size_t big = (size_t)SB * SD;
    float *x = malloc(big * sizeof(float)), *h1 = malloc(big * sizeof(float)),
          *h2 = malloc(big * sizeof(float)), *d1 = malloc(big * sizeof(float)),
          *d2 = malloc(big * sizeof(float)), *dx1 = malloc(big * sizeof(float)),
          *dx2 = malloc(big * sizeof(float));
    assert_true(x && h1 && h2 && d1 && d2 && dx1 && dx2);
    for (size_t k = 0; k < sizeof optims / sizeof *optims; k++) {
        bpfree_model *a = split_model(&optims[k], 1), *b = split_model(&optims[k], 2);
        assert_true(same_state(a, b));
        bp_rng r;
        bp_rng_seed(&r, 500 + k);
        for (int step = 0; step < 2; step++) {
            bp_optim_begin_step(&a->optim, optims[k].lr);
            bp_optim_begin_step(&b->optim, optims[k].lr);
            for (int l = 1; l >= 0; l--) {
                const int I = a->layers[l].in, O = a->layers[l].out;
                const size_t np = (size_t)O * I + O;
                fill_dyadic(&r, a->params + a->layers[l].off, np);
                memcpy(b->params + b->layers[l].off, a->params + a->layers[l].off,
                       np * sizeof(float));
                fill_dyadic(&r, x, (size_t)SB * I);
                fill_dyadic(&r, d1, (size_t)SB * O);
                memcpy(d2, d1, (size_t)SB * O * sizeof(float));
                bpfree_set_threads(1);
                bp_layer_forward(&a->layers[l], x, h1, SB);
                bpfree_set_threads(2);
                assert_int_equal(bp_split_width(1e9), 2);
                bp_layer_forward(&b->layers[l], x, h2, SB);
                assert_true(same(h1, h2, (size_t)SB * O));
                /* backward with dx, then gradient + step from dz; then
                 * backward + step on the same signal */
                bpfree_set_threads(1);
                bp_layer_backward(&a->layers[l], x, h1, d1, dx1, SB);
                bp_layer_grad_step(a, l, x, d1, SB, &a->optim);
                bpfree_set_threads(2);
                bp_layer_backward(&b->layers[l], x, h2, d2, dx2, SB);
                bp_layer_grad_step(b, l, x, d2, SB, &b->optim);
                assert_true(same(d1, d2, (size_t)SB * O));
                assert_true(same(dx1, dx2, (size_t)SB * I));
                if (!same_state(a, b))
                    printf("  optimizer %zu, step %d, layer %d: split grad+step differs\n", k,
                           step, l);
                assert_true(same_state(a, b));
                fill_dyadic(&r, a->params + a->layers[l].off, np);
                memcpy(b->params + b->layers[l].off, a->params + a->layers[l].off,
                       np * sizeof(float));
                fill_dyadic(&r, d1, (size_t)SB * O);
                memcpy(d2, d1, (size_t)SB * O * sizeof(float));
                bpfree_set_threads(1);
                bp_layer_backward_step(a, l, x, h1, d1, SB);
                bpfree_set_threads(2);
                bp_layer_backward_step(b, l, x, h2, d2, SB);
                assert_true(same(d1, d2, (size_t)SB * O));
                assert_true(same_state(a, b));
            }
        }
        bpfree_model_free(a);
        bpfree_model_free(b);
    }
    bpfree_set_threads(1);
    free(x);
    free(h1);
    free(h2);
    free(d1);
    free(d2);
    free(dx1);
    free(dx2);
}

/* bpfree_gemm split over two threads, every transpose, by columns and (C
 * narrower than 64) by rows, beta 0 and not, padded leading dimensions: on
 * exact (dyadic) data the one-thread numbers bit for bit; on general data
 * within rounding of them, and the same bits on every repeat; one profiled
 * call of the whole shape per call. */
static void test_split_gemm(void **state) {
    (void)state;
    const int shapes[][3] = {{200, 300, 40}, {300, 20, 400}, {130, 129, 70}};
    const size_t cap = 600 * 600;
    float *A = malloc(cap * sizeof(float)), *Bm = malloc(cap * sizeof(float)),
          *C1 = malloc(cap * sizeof(float)), *C2 = malloc(cap * sizeof(float)),
          *C3 = malloc(cap * sizeof(float));
    assert_true(A && Bm && C1 && C2 && C3);
    bp_rng r;
    bp_rng_seed(&r, 77);
    assert_int_equal(bpfree_set_threading(BPFREE_THREADING_SPLIT), 0);
    assert_int_equal(bpfree_set_threading((bpfree_threading)7), -1);
    for (int exact = 1; exact >= 0; exact--)
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++)
            for (int withbeta = 0; withbeta < 2; withbeta++) {
                if (exact) {
                    fill_dyadic(&r, A, cap);
                    fill_dyadic(&r, Bm, cap);
                } else {
                    tu_fill_uniform(&r, A, cap, -1.0f, 1.0f);
                    tu_fill_uniform(&r, Bm, cap, -1.0f, 1.0f);
                }
                const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                const int ta = t & 1, tb = t >> 1, pad = 3;
                const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                const float beta = withbeta ? 0.5f : 0.0f;
                fill_dyadic(&r, C1, (size_t)M * ldc);
                memcpy(C2, C1, (size_t)M * ldc * sizeof(float));
                memcpy(C3, C1, (size_t)M * ldc * sizeof(float));
                bpfree_set_threads(1);
                bpfree_gemm(ta, tb, M, N, K, 1.5f, A, lda, Bm, ldb, beta, C1, ldc);
                bpfree_set_threads(2);
                bpfree_profile_start(1);
                bpfree_gemm(ta, tb, M, N, K, 1.5f, A, lda, Bm, ldb, beta, C2, ldc);
                bpfree_profile p;
                bpfree_profile_stop(&p);
                assert_int_equal(p.calls, 1);
                assert_true(p.flops == fl(M, N, K));
                bpfree_gemm(ta, tb, M, N, K, 1.5f, A, lda, Bm, ldb, beta, C3, ldc);
                assert_true(same(C2, C3, (size_t)M * ldc)); /* deterministic */
                double worst = 0.0;
                for (int i = 0; i < M; i++)
                    for (int c = 0; c < ldc; c++) {
                        const size_t q = (size_t)i * ldc + c;
                        /* the padding columns are never written */
                        const double e = c >= N ? (C1[q] != C2[q]) : fabs((double)C1[q] - C2[q]);
                        worst = e > worst ? e : worst;
                    }
                if (exact ? worst != 0.0 : worst > 1e-5 * K)
                    printf("  split gemm %dx%dx%d ta %d tb %d beta %g: off by %g\n", M, N, K, ta,
                           tb, (double)beta, worst);
                assert_true(exact ? worst == 0.0 : worst <= 1e-5 * K);
            }
    bpfree_set_threads(1);
    free(A);
    free(Bm);
    free(C1);
    free(C2);
    free(C3);
}

/* RULE with its defaults on dd inputs, hidden layers of 200 and h2, batch
 * 128, split threading on `threads` threads */
static bpfree_model *split_net(const char *rule, int dd, int h2, uint64_t seed, int threads) {
    bpfree_config cfg;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&cfg, rule, dd, C, &err), BPFREE_OK);
    cfg.n_hidden = 2;
    cfg.hidden[0] = 200;
    cfg.hidden[1] = h2;
    cfg.batch = 128;
    cfg.seed = seed;
    cfg.threads = threads;
    cfg.threading = BPFREE_THREADING_SPLIT;
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    return m;
}

/* Whole rules on two threads, split: the same seed gives the same numbers
 * run after run (the split is fixed by the thread count), and close to one
 * thread's (the products differ from one thread's in the last bits). */
static void test_split_rules_deterministic(void **state) {
    (void)state;
    enum { N = 700, DD = 300 };
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, DD, C, 21);
    const char *rules[] = {"bp", "mf", "dfa", "drtp", "fg-a", "ff"};
    for (size_t k = 0; k < sizeof rules / sizeof *rules; k++) {
        double loss[3];
        float *params[3];
        size_t np = 0;
        for (int run = 0; run < 3; run++) {
            bpfree_error err = {0};
            bpfree_model *m = split_net(rules[k], DD, 200, 5, run < 2 ? 2 : 1);
            if (run < 2) assert_int_equal(bp_split_width(1e9), 2);
            bpfree_epoch_stats st;
            assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
            loss[run] = st.train_loss;
            params[run] = copy_floats(m->params, m->n_params);
            np = m->n_params;
            bpfree_model_free(m);
        }
        assert_true(isfinite(loss[0]));
        if (!same(params[0], params[1], np) || loss[0] != loss[1])
            printf("  %s: two runs on two threads differ\n", rules[k]);
        assert_true(same(params[0], params[1], np));
        assert_true(loss[0] == loss[1]);
        if (!(fabs(loss[0] - loss[2]) <= 1e-2 * fabs(loss[2]) + 1e-6))
            printf("  %s: loss %g on two threads, %g on one\n", rules[k], loss[0], loss[2]);
        assert_true(fabs(loss[0] - loss[2]) <= 1e-2 * fabs(loss[2]) + 1e-6);
        for (int run = 0; run < 3; run++) free(params[run]);
    }
    bpfree_data_free(&ds);
    bpfree_set_threads(1);
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
    const char *rules[] = {"bp", "fa", "mf", "dfa", "dkp", "fdfa", "fg-a", "lg-fg-a", "drtp", "llo", "f3"};
    for (size_t k = 0; k < sizeof rules / sizeof *rules; k++)
        for (int threads = 1; threads <= 2; threads++) {
            float *params[2];
            size_t np = 0;
            int consumed = 0;
            for (int keep = 0; keep < 2; keep++) {
                bpfree_error err = {0};
                bpfree_model *m = split_net(rules[k], DD, 100, 9, threads);
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
            if (!same(params[0], params[1], np))
                printf("  %s, %d threads: consumed gradients change the result\n", rules[k],
                       threads);
            assert_true(same(params[0], params[1], np));
            free(params[0]);
            free(params[1]);
        }
    bpfree_data_free(&ds);
    bpfree_set_threads(1);
}

/* Activation passes over big arrays split over two threads: the same bits
 * as one thread (element-wise). */
static void test_split_activations(void **state) {
    (void)state;
    enum { N = 200001 };
    float *h1 = malloc(N * sizeof(float)), *h2 = malloc(N * sizeof(float)),
          *d1 = malloc(N * sizeof(float)), *d2 = malloc(N * sizeof(float));
    assert_true(h1 && h2 && d1 && d2);
    bp_rng r;
    bp_rng_seed(&r, 31);
    assert_int_equal(bpfree_set_threading(BPFREE_THREADING_SPLIT), 0);
    const bpfree_act acts[] = {BPFREE_ACT_RELU, BPFREE_ACT_TANH, BPFREE_ACT_SIGMOID};
    for (int k = 0; k < 3; k++) {
        tu_fill_uniform(&r, h1, N, -6.0f, 6.0f);
        tu_fill_uniform(&r, d1, N, -1.0f, 1.0f);
        memcpy(h2, h1, N * sizeof(float));
        memcpy(d2, d1, N * sizeof(float));
        bpfree_set_threads(1);
        bp_act_forward(acts[k], h1, N);
        bp_act_backward(acts[k], h1, d1, N);
        bpfree_set_threads(2);
        bp_act_forward(acts[k], h2, N);
        bp_act_backward(acts[k], h2, d2, N);
        assert_true(same(h1, h2, N));
        assert_true(same(d1, d2, N));
    }
    bpfree_set_threads(1);
    free(h1);
    free(h2);
    free(d1);
    free(d2);
}

typedef struct {
    const float *A, *B, *ref;
    float *C;
    int M, N, K, ok;
} conc_job;

static void *conc_gemm(void *arg) {
    conc_job *j = arg;
    j->ok = 1;
    for (int k = 0; k < 40; k++) {
        bpfree_gemm(0, 0, j->M, j->N, j->K, 1.0f, j->A, j->K, j->B, j->N, 0.0f, j->C, j->N);
        if (!same(j->C, j->ref, (size_t)j->M * j->N)) j->ok = 0;
    }
    return NULL;
}

/* Two of the caller's threads using bpfree_gemm at once, split threading on
 * two threads: one gets the pool, the other runs alone; every result right
 * (exact data, so "right" is bit for bit). */
static void test_split_concurrent_callers(void **state) {
    (void)state;
    enum { M = 128, N = 256, K = 64 };
    float *A = malloc(M * K * sizeof(float)), *B = malloc(K * N * sizeof(float)),
          *ref = malloc(M * N * sizeof(float)), *C[2];
    assert_true(A && B && ref);
    bp_rng r;
    bp_rng_seed(&r, 41);
    fill_dyadic(&r, A, M * K);
    fill_dyadic(&r, B, K * N);
    bpfree_gemm_naive(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, ref, N);
    assert_int_equal(bpfree_set_threading(BPFREE_THREADING_SPLIT), 0);
    bpfree_set_threads(2);
    assert_true(bp_split_width((double)M * N * K) == 2);
    conc_job j[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        C[i] = malloc(M * N * sizeof(float));
        assert_non_null(C[i]);
        j[i] = (conc_job){A, B, ref, C[i], M, N, K, 0};
        assert_int_equal(pthread_create(&t[i], NULL, conc_gemm, &j[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(j[i].ok);
        free(C[i]);
    }
    bpfree_set_threads(1);
    free(A);
    free(B);
    free(ref);
}

typedef struct {
    float *v;
    size_t n;
} fill_job;

static void fill_part(void *ctx, size_t a, size_t b) {
    const fill_job *j = ctx;
    for (size_t i = a; i < b; i++) j->v[i] += 1.0f;
}

static void nested_part(void *ctx, size_t a, size_t b) {
    const fill_job *j = ctx;
    fill_job sub = {j->v + a, b - a};
    bp_par_for(b - a, 1, fill_part, &sub); /* inside a part: runs inline */
}

/* The pool: each element done exactly once per call, however the calls come — back
 * to back (workers spinning), after a pause (workers asleep), nested (run
 * inline), and after the pool shrank and grew again. */
static void test_pool(void **state) {
    (void)state;
    enum { N = 100003 };
    float *v = calloc(N, sizeof(float));
    assert_non_null(v);
    fill_job j = {v, N};
    bpfree_set_threads(2);
    assert_int_equal(bp_par_width(), 2);
    int rounds = 0;
    for (int phase = 0; phase < 4; phase++) {
        if (phase == 2) {
            bpfree_set_threads(1);
            bpfree_set_threads(2);
        }
        for (int k = 0; k < 200; k++) {
            bp_par_for(N, 16, k % 2 ? fill_part : nested_part, &j);
            rounds++;
            if (phase == 1 && k % 50 == 0) {
                struct timespec ts = {0, 2000000}; /* 2 ms: past the spin */
                nanosleep(&ts, NULL);
            }
        }
    }
    for (size_t i = 0; i < N; i++)
        if (v[i] != (float)rounds)
            fail_msg("element %zu done %g times, not %d", i, (double)v[i], rounds);
    bpfree_set_threads(1);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_counts),
        cmocka_unit_test(test_profile_dropped),
        cmocka_unit_test(test_profile_threads),
        cmocka_unit_test(test_grad_step_matches),
        cmocka_unit_test(test_grad_step_without_step),
        cmocka_unit_test(test_grad_step_uses_given_optimizer),
        cmocka_unit_test(test_split_matches_one_thread),
        cmocka_unit_test(test_split_gemm),
        cmocka_unit_test(test_split_rules_deterministic),
        cmocka_unit_test(test_split_activations),
        cmocka_unit_test(test_consumed_grads_same_bits),
        cmocka_unit_test(test_split_concurrent_callers),
        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
