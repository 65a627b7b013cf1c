/* test_gemm.c — bpfree_gemm (oneDNN, OpenBLAS or BLIS) against bpfree_gemm_naive: every
 * transpose case, odd non-square sizes, padded leading dimensions, alpha != 1,
 * beta 0 and 0.5 applied to a pre-filled C.  Row-major throughout. */
#include "testutil.h"

/* Padding added to every leading dimension, so a kernel that assumes
 * ld == logical width reads the wrong elements. */
#define PAD 3

typedef struct gemm_case {
    int M, N, K;
} gemm_case;

/* op(A) (M,K), op(B) (K,N): A is stored (M,K) or, transposed, (K,M);
 * B is stored (K,N) or, transposed, (N,K). */
static void run_case(int ta, int tb, gemm_case c, float alpha, float beta, uint64_t seed) {
    const int M = c.M, N = c.N, K = c.K;
    const int a_rows = ta ? K : M, a_cols = ta ? M : K;
    const int b_rows = tb ? N : K, b_cols = tb ? K : N;
    const int lda = a_cols + PAD, ldb = b_cols + PAD, ldc = N + PAD;
    float *A = malloc((size_t)a_rows * lda * sizeof(float));
    float *Bm = malloc((size_t)b_rows * ldb * sizeof(float));
    float *C = malloc((size_t)M * ldc * sizeof(float));
    float *Cref = malloc((size_t)M * ldc * sizeof(float));
    assert_non_null(A);
    assert_non_null(Bm);
    assert_non_null(C);
    assert_non_null(Cref);
    bp_rng r;
    bp_rng_seed(&r, seed);
    tu_fill_uniform(&r, A, (size_t)a_rows * lda, -1.0f, 1.0f);
    tu_fill_uniform(&r, Bm, (size_t)b_rows * ldb, -1.0f, 1.0f);
    /* C pre-filled: beta must scale it; the padding columns must survive. */
    tu_fill_uniform(&r, C, (size_t)M * ldc, -2.0f, 2.0f);
    memcpy(Cref, C, (size_t)M * ldc * sizeof(float));
    float *C0 = malloc((size_t)M * ldc * sizeof(float));
    assert_non_null(C0);
    memcpy(C0, C, (size_t)M * ldc * sizeof(float));

    bpfree_gemm(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
    bpfree_gemm_naive(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cref, ldc);

    /* The naive reference itself against a direct double computation from
     * the saved pre-filled C0, so a shared misreading of the layout cannot
     * make both agree. */
    float *Cd = malloc((size_t)M * ldc * sizeof(float));
    assert_non_null(Cd);
    memcpy(Cd, C0, (size_t)M * ldc * sizeof(float));
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j];
                s += a * b;
            }
            Cd[(size_t)i * ldc + j] = (float)(alpha * s + beta * (double)C0[(size_t)i * ldc + j]);
        }
    assert_true(tu_close("naive vs double loop", Cref, Cd, (size_t)M * ldc, 1e-5, 1e-5));
    free(Cd);

    char what[96];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g", ta, tb, M,
             N, K, (double)alpha, (double)beta);
    /* Whole buffers, padding included: the padding must be untouched by
     * both, and every logical element must agree. */
    assert_true(tu_close(what, C, Cref, (size_t)M * ldc, 1e-5, 1e-5));
    free(A);
    free(Bm);
    free(C);
    free(Cref);
    free(C0);
}

/* beta = 0.5 on a pre-filled C: check that the naive path really applies
 * beta (C_out = alpha AB + 0.5 C_in), computed independently. */
static void test_naive_applies_beta(void **state) {
    (void)state;
    const int M = 3, N = 2, K = 2;
    const float A[] = {1, 2, 3, 4, 5, 6};  /* (3,2) */
    const float Bm[] = {1, 0, 0, 1};       /* identity (2,2) */
    float C[] = {10, 20, 30, 40, 50, 60};  /* (3,2) */
    const float want[] = {2 * 1 + 5, 2 * 2 + 10, 2 * 3 + 15, 2 * 4 + 20, 2 * 5 + 25, 2 * 6 + 30};
    float Cb[6];
    memcpy(Cb, C, sizeof C);
    bpfree_gemm_naive(0, 0, M, N, K, 2.0f, A, K, Bm, N, 0.5f, C, N);
    bpfree_gemm(0, 0, M, N, K, 2.0f, A, K, Bm, N, 0.5f, Cb, N);
    assert_true(tu_close("naive beta", C, want, 6, 0, 0));
    assert_true(tu_close("cblas beta", Cb, want, 6, 0, 0));
}

/* beta = 0 must ignore C even if it holds NaN (BLAS semantics). */
static void test_beta_zero_ignores_nan(void **state) {
    (void)state;
    const float A[] = {1, 2, 3, 4};
    const float Bm[] = {1, 1, 1, 1};
    float C[4], Cb[4];
    for (int i = 0; i < 4; i++) C[i] = Cb[i] = NAN;
    bpfree_gemm_naive(0, 0, 2, 2, 2, 1.0f, A, 2, Bm, 2, 0.0f, C, 2);
    bpfree_gemm(0, 0, 2, 2, 2, 1.0f, A, 2, Bm, 2, 0.0f, Cb, 2);
    const float want[] = {3, 3, 7, 7};
    assert_true(tu_close("naive beta=0", C, want, 4, 0, 0));
    assert_true(tu_close("cblas beta=0", Cb, want, 4, 0, 0));
}

static void test_all_cases(void **state) {
    (void)state;
    bpfree_set_threads(1);
    const gemm_case cases[] = {{7, 5, 3}, {33, 17, 65}, {1, 9, 4}, {16, 1, 31}};
    const float betas[] = {0.0f, 0.5f};
    uint64_t seed = 11;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 2; bi++) run_case(ta, tb, cases[c], -1.75f, betas[bi], seed++);
}

/* With two BLAS threads the results must still agree within tolerance. */
static void test_two_threads(void **state) {
    (void)state;
    bpfree_set_threads(2);
    gemm_case c = {65, 47, 129};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) run_case(ta, tb, c, 0.5f, 0.5f, 100 + ta * 2 + tb);
    bpfree_set_threads(1);
}

/* Bit-determinism for a given backend, thread count and threading: the
 * shapes of a 784-1000-1000-10 step at batch 256 (forward, weight gradient,
 * input gradient, the 10-wide head) and a one-row product, computed twice
 * on 1 and 2 threads with both threadings, must agree bit for bit. */
static void test_deterministic(void **state) {
    (void)state;
    const struct { int ta, tb, M, N, K; } sh[] = {
        {0, 1, 256, 1000, 784}, {1, 0, 1000, 784, 256}, {0, 0, 256, 784, 1000},
        {0, 1, 256, 10, 1000},  {0, 1, 1, 1000, 784},
    };
    const size_t big = 1000 * 1000;
    float *A = malloc(big * sizeof(float)), *B = malloc(big * sizeof(float));
    float *C1 = malloc(big * sizeof(float)), *C2 = malloc(big * sizeof(float));
    assert_true(A && B && C1 && C2);
    bp_rng r;
    bp_rng_seed(&r, 5);
    tu_fill_uniform(&r, A, big, -1.0f, 1.0f);
    tu_fill_uniform(&r, B, big, -1.0f, 1.0f);
    for (int thr = 1; thr <= 2; thr++)
        for (int mode = 0; mode < 2; mode++) {
            bpfree_set_threading(mode ? BPFREE_THREADING_BLAS : BPFREE_THREADING_SPLIT);
            bpfree_set_threads(thr);
            for (size_t i = 0; i < sizeof sh / sizeof *sh; i++) {
                const int M = sh[i].M, N = sh[i].N, K = sh[i].K;
                const int lda = sh[i].ta ? M : K, ldb = sh[i].tb ? K : N;
                for (int rep = 0; rep < 2; rep++)
                    bpfree_gemm(sh[i].ta, sh[i].tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f,
                                rep ? C2 : C1, N);
                if (memcmp(C1, C2, (size_t)M * N * sizeof(float)) != 0)
                    fail_msg("%s, %d thread(s), threading %s: shape %zu not deterministic",
                             bpfree_build_blas(), thr, mode ? "blas" : "split", i);
            }
        }
    bpfree_set_threading(BPFREE_THREADING_SPLIT);
    bpfree_set_threads(1);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_naive_applies_beta),
        cmocka_unit_test(test_beta_zero_ignores_nan),
        cmocka_unit_test(test_all_cases),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
