/* test_pipeline.c — --pipeline: layers as threads give the same numbers.
 *
 * For every rule that offers pipe_layer (mf, drtp, f3, llo, ff, tinyfoa,
 * dni), a model trained with its layers pipelined over 2 and 3 threads must
 * end with exactly the parameters (and rule state: F3's error store) of
 * the same model trained on one thread, with the same loss and accuracy per
 * epoch — including a last, partial batch, a learning-rate schedule, and
 * more batches in flight than the two-slot ring holds.  FF also with batches of several 512-sample
 * chunks and peer normalisation (its state: the running means).  Rules that
 * cannot pipeline, and FF with hard negatives, are refused at build time
 * with a message. */
#include "testutil.h"

#include <math.h>

static int dni_variant; /* 1: dni with a hidden layer in its modules and no label */

static bpfree_model *make(const char *rule, int D, int C, int pipeline, int batch) {
    const int hidden[] = {40, 30, 20};
    bpfree_config cfg = tu_default_config(rule, D, C, 3, hidden, batch);
    cfg.act = BPFREE_ACT_TANH;
    cfg.ff_peer = 0.03f; /* ff: peer normalisation on, so its running means move */
    cfg.epochs = 3;
    cfg.seed = 7;
    cfg.optim.sched = BPFREE_SCHED_COOLDOWN; /* lr changes per batch */
    cfg.pipeline = pipeline;
    if (dni_variant) cfg.dni_hidden = 16, cfg.dni_cond = 0;
    bpfree_error err = {0};
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(&cfg, &m, &err);
    if (st) printf("  %s pipeline %d: %s\n", rule, pipeline, err.msg);
    assert_int_equal(st, BPFREE_OK);
    return m;
}

/* rules[] trained with batch `batch` on N samples, pipelined over 2 and 3
 * stages and not: the same numbers */
static void same_numbers(const char *const *rules, size_t nr, int N, int batch) {
    enum { D = 12, C = 5 };
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, D, C, 11);
    for (size_t r = 0; r < nr; r++)
        for (int pl = 2; pl <= 3; pl++) {
            bpfree_model *a = make(rules[r], D, C, 0, batch),
                         *b = make(rules[r], D, C, pl, batch);
            float *init = copy_floats(a->params, a->n_params);
            bpfree_error err = {0};
            for (int e = 0; e < 3; e++) {
                bpfree_epoch_stats sa, sb;
                assert_int_equal(bpfree_train_epoch(a, &ds, &sa, &err), BPFREE_OK);
                assert_int_equal(bpfree_train_epoch(b, &ds, &sb, &err), BPFREE_OK);
                assert_true(isfinite(sa.train_loss));
                assert_true(sa.train_loss == sb.train_loss);
                assert_true(sa.train_acc == sb.train_acc);
                assert_true(sa.lr == sb.lr);
            }
            assert_true(b->pipe != NULL); /* the pipelined path really ran */
            const int same = memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
            if (!same) printf("  %s pipeline %d: parameters differ\n", rules[r], pl);
            assert_true(same);
            assert_true(memcmp(a->state, b->state, a->n_state * sizeof(float)) == 0);
            /* and training did something */
            assert_true(memcmp(a->params, init, a->n_params * sizeof(float)) != 0);
            free(init);
            bpfree_model_free(a);
            bpfree_model_free(b);
        }
    bpfree_data_free(&ds);
}

static void test_same_numbers(void **state) {
    (void)state;
    /* 203 samples: 12 full batches of 16 and one of 11 */
    const char *rules[] = {"mf", "drtp", "f3", "llo", "ff", "tinyfoa", "dni"};
    same_numbers(rules, sizeof rules / sizeof *rules, 203, 16);
}

/* DNI: module l learns in layer l+1's stage and is handed back before layer
 * l runs it on the next batch (bp_pipe_done/await), so the numbers are the
 * sequential ones too — with a hidden layer in the modules and unconditioned */
static void test_same_numbers_dni_variant(void **state) {
    (void)state;
    const char *rules[] = {"dni"};
    dni_variant = 1;
    same_numbers(rules, 1, 203, 16);
    dni_variant = 0;
}

/* FF in chunks: batches of 600 = 512 + 88 samples, then a last batch of 300 */
static void test_same_numbers_ff_chunks(void **state) {
    (void)state;
    const char *rules[] = {"ff"};
    same_numbers(rules, 1, 1500, 600);
}

static void test_refused(void **state) {
    (void)state;
    const char *cannot[] = {"bp", "dfa", "fa", "pepita", "cff-fixed", "cff-adaptive"};
    for (size_t r = 0; r < sizeof cannot / sizeof *cannot; r++) {
        bpfree_config cfg;
        bpfree_error err = {0};
        bpfree_model *m = NULL;
        assert_int_equal(bpfree_config_default(&cfg, cannot[r], 8, 3, &err), BPFREE_OK);
        cfg.n_hidden = 2;
        cfg.hidden[0] = cfg.hidden[1] = 8;
        cfg.pipeline = 2;
        assert_int_not_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
        assert_null(m);
        assert_non_null(strstr(err.msg, "cannot pipeline"));
    }
    /* more stages than layers, and one stage, are refused too */
    bpfree_config cfg;
    bpfree_error err = {0};
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_config_default(&cfg, "mf", 8, 3, &err), BPFREE_OK);
    cfg.n_hidden = 2;
    cfg.hidden[0] = cfg.hidden[1] = 8;
    cfg.pipeline = 3;
    assert_int_not_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    assert_non_null(strstr(err.msg, "pipeline"));
    cfg.pipeline = 1;
    assert_int_not_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    /* ff with hard negatives: they need the whole net's prediction first */
    assert_int_equal(bpfree_config_default(&cfg, "ff", 8, 3, &err), BPFREE_OK);
    cfg.n_hidden = 2;
    cfg.hidden[0] = cfg.hidden[1] = 8;
    cfg.pipeline = 2;
    cfg.ff_negatives = BPFREE_FF_NEG_HARD;
    assert_int_not_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    assert_null(m);
    assert_non_null(strstr(err.msg, "random negatives"));
    cfg.ff_negatives = BPFREE_FF_NEG_RANDOM;
    assert_int_equal(bpfree_model_new(&cfg, &m, &err), BPFREE_OK);
    bpfree_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_numbers),
        cmocka_unit_test(test_same_numbers_ff_chunks),
        cmocka_unit_test(test_same_numbers_dni_variant),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
