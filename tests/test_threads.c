/* test_threads.c — split threading (BPFREE_THREADING_SPLIT, par.c) and the
 * thread pool under it:
 *   a. every fused dense pass on two threads equals one thread's, bit for
 *      bit on exact data;
 *   b. a split product equals the one-thread product bit for bit on exact
 *      data and within rounding on any data, the same bits on every repeat,
 *      profiled once as the whole shape;
 *   c. whole rules give the same numbers run after run;
 *   d. activation passes split over two threads give one thread's bits;
 *   e. two of the caller's threads may use bpfree_gemm at once;
 *   f. the pool does each element once per call whether its workers spin or
 *      sleep, nested or after a resize. */
#include "testutil.h"

#include <pthread.h>
#include <time.h>


enum { SB = 96, SD = 300, SH = 256 }; /* big enough to split: SB*SH*SD >= 2^20 */
enum { C = 10 };                      /* classes, as in tu_split_net */

/* Multiples of 1/8 in [-1/2, 1/2]: every product and partial sum of these
 * (K <= 600) is exact in float, so a product's value cannot depend on the
 * order of its sums — which OpenBLAS changes with the shape of a slice
 * (its edge kernels differ), so a split product equals the whole one only
 * up to rounding in general. */
static void fill_dyadic(bp_rng *r, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)((int)(bp_rng_u64(r) % 9) - 4) * 0.125f;
}

static bpfree_model *split_model(const bpfree_optim_config *o, int threads) {
    const int hidden[] = {SH, SH};
    bpfree_config cfg = tu_default_config("bp", SD, C, 2, hidden, SB);
    cfg.act = BPFREE_ACT_RELU;
    cfg.threads = threads;
    cfg.threading = BPFREE_THREADING_SPLIT;
    cfg.seed = 9;
    cfg.optim = *o;
    return tu_new_model(&cfg, 0);
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
    for (size_t k = 0; k < TU_N_OPTIMS; k++) {
        bpfree_model *a = split_model(&tu_optims[k], 1), *b = split_model(&tu_optims[k], 2);
        assert_true(tu_same_state(a, b));
        bp_rng r;
        bp_rng_seed(&r, 500 + k);
        for (int step = 0; step < 2; step++) {
            bp_optim_begin_step(&a->optim, tu_optims[k].lr);
            bp_optim_begin_step(&b->optim, tu_optims[k].lr);
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
                assert_true(tu_same(h1, h2, (size_t)SB * O));
                /* backward with dx, then gradient + step from dz; then
                 * backward + step on the same signal */
                bpfree_set_threads(1);
                bp_layer_backward(&a->layers[l], x, h1, d1, dx1, SB);
                bp_layer_grad_step(a, l, x, d1, SB, &a->optim);
                bpfree_set_threads(2);
                bp_layer_backward(&b->layers[l], x, h2, d2, dx2, SB);
                bp_layer_grad_step(b, l, x, d2, SB, &b->optim);
                assert_true(tu_same(d1, d2, (size_t)SB * O));
                assert_true(tu_same(dx1, dx2, (size_t)SB * I));
                if (!tu_same_state(a, b))
                    printf("  optimizer %zu, step %d, layer %d: split grad+step differs\n", k,
                           step, l);
                assert_true(tu_same_state(a, b));
                fill_dyadic(&r, a->params + a->layers[l].off, np);
                memcpy(b->params + b->layers[l].off, a->params + a->layers[l].off,
                       np * sizeof(float));
                fill_dyadic(&r, d1, (size_t)SB * O);
                memcpy(d2, d1, (size_t)SB * O * sizeof(float));
                bpfree_set_threads(1);
                bp_layer_backward_step(a, l, x, h1, d1, SB);
                bpfree_set_threads(2);
                bp_layer_backward_step(b, l, x, h2, d2, SB);
                assert_true(tu_same(d1, d2, (size_t)SB * O));
                assert_true(tu_same_state(a, b));
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
                assert_true(p.flops == tu_flops(M, N, K));
                bpfree_gemm(ta, tb, M, N, K, 1.5f, A, lda, Bm, ldb, beta, C3, ldc);
                assert_true(tu_same(C2, C3, (size_t)M * ldc)); /* deterministic */
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
            bpfree_model *m = tu_split_net(rules[k], DD, 200, 5, run < 2 ? 2 : 1);
            if (run < 2) assert_int_equal(bp_split_width(1e9), 2);
            bpfree_epoch_stats st;
            assert_int_equal(bpfree_train_epoch(m, &ds, &st, &err), BPFREE_OK);
            loss[run] = st.train_loss;
            params[run] = copy_floats(m->params, m->n_params);
            np = m->n_params;
            bpfree_model_free(m);
        }
        assert_true(isfinite(loss[0]));
        if (!tu_same(params[0], params[1], np) || loss[0] != loss[1])
            printf("  %s: two runs on two threads differ\n", rules[k]);
        assert_true(tu_same(params[0], params[1], np));
        assert_true(loss[0] == loss[1]);
        if (!(fabs(loss[0] - loss[2]) <= 1e-2 * fabs(loss[2]) + 1e-6))
            printf("  %s: loss %g on two threads, %g on one\n", rules[k], loss[0], loss[2]);
        assert_true(fabs(loss[0] - loss[2]) <= 1e-2 * fabs(loss[2]) + 1e-6);
        for (int run = 0; run < 3; run++) free(params[run]);
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
        assert_true(tu_same(h1, h2, N));
        assert_true(tu_same(d1, d2, N));
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
        if (!tu_same(j->C, j->ref, (size_t)j->M * j->N)) j->ok = 0;
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
        cmocka_unit_test(test_split_matches_one_thread),
        cmocka_unit_test(test_split_gemm),
        cmocka_unit_test(test_split_rules_deterministic),
        cmocka_unit_test(test_split_activations),
        cmocka_unit_test(test_split_concurrent_callers),
        cmocka_unit_test(test_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
