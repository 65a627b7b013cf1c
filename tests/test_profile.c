/* test_profile.c — the GEMM profiler (bpfree_profile_start/stop/replay) the
 * benchmarks and --profile-shapes rest on: counts, FLOPs, distinct shapes,
 * accumulation and reset, nothing counted while stopped, calls from several
 * threads, the 128-shape cap, the replay, the convolution primitives.  No timing is asserted beyond
 * "more than zero seconds". */
#include "testutil.h"

#include <pthread.h>

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
    assert_true(p.flops == 5 * tu_flops(7, 5, 3));
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
    assert_true(p.flops == 7 * tu_flops(7, 5, 3) + 3 * tu_flops(7, 5, 3) + 3 * tu_flops(4, 6, 9));
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
    assert_true(p.flops == tu_flops(2, 3, 4));
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
    double want = tu_flops(1, 1, 2);
    for (int M = 1; M <= 128; M++) want += tu_flops((M - 1) % 64 + 1, (M - 1) / 64 + 1, 2);
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
    assert_true(p.flops == T * k * tu_flops(2, 2, 2));
}

/* the oneDNN build's convolution primitives count as products of their own
 * (conv_*): one conv layer under bp, one epoch of 64 images of 1 x 8 x 8 in
 * batches of 16, is a forward and a weight gradient per batch (the first
 * layer's input gradient is never wanted): 2 x 64 samples' worth of
 * 2 oc (ic K K) (ch cw) flops; elsewhere the same products are GEMM calls */
static void test_profile_conv(void **state) {
    (void)state;
    bpfree_config c;
    bpfree_error e;
    assert_int_equal(bpfree_config_default(&c, "bp", 64, 4, &e), 0);
    c.in_channels = 1, c.in_height = 8, c.in_width = 8;
    c.batch = 16, c.threads = 1;
    assert_int_equal(bpfree_config_set(&c, "arch", "4C3", &e), 0);
    bpfree_dataset ds = {0};
    tu_make_dataset(&ds, 64, 64, 4, 3);
    ds.channels = 1, ds.height = 8, ds.width = 8;
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_model_new(&c, &m, &e), 0);
    bpfree_profile p;
    bpfree_profile_start(1);
    assert_int_equal(bpfree_train_epoch(m, &ds, NULL, &e), 0);
    bpfree_profile_stop(&p);
#ifdef BPFREE_DNNL
    assert_int_equal(p.conv_calls, 2 * 64 / 16);
    assert_float_equal(p.conv_flops, 2.0 * 64 * 2.0 * 4 * 9 * 36, 0.5);
    assert_true(p.conv_seconds > 0.0);
#else
    assert_int_equal(p.conv_calls, 0);
    assert_true(p.flops >= 2.0 * 64 * 2.0 * 4 * 9 * 36);
#endif
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_counts),
        cmocka_unit_test(test_profile_conv),
        cmocka_unit_test(test_profile_dropped),
        cmocka_unit_test(test_profile_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
