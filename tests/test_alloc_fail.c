/* test_alloc_fail.c — allocation-failure injection (issue 17): a small
 * run — load a CSV and an IDX pair, build, train, evaluate, save, load,
 * checkpoint, resume — with the n-th allocation of the process failing,
 * for every n until the run needs no more.  Every failure must come back as
 * BPFREE_ENOMEM with a message, and nothing may crash or leak (the
 * ASan + UBSan build checks the leaks at exit). */
#include "testutil.h"

static char tmp[256];

/* One whole small run; returns the first failure's status (0 = none), or
 * -100 if a failure came back as anything but ENOMEM with a message. */
static int small_run(const char *rule, int pipeline) {
    bpfree_error e = {0};
    bpfree_dataset tr = {0}, te = {0}, ctr = {0}, cte = {0};
    bpfree_model *m = NULL, *m2 = NULL;
    char csv[300], model[300], ckpt[300], *note = NULL;
    snprintf(csv, sizeof csv, "%s/t.csv", tmp);
    snprintf(model, sizeof model, "%s/m.bpf", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/c.ckpt", tmp);
    int st = 0;
#define TRY(call)                                                              \
    do {                                                                       \
        bpfree_status s_ = (call);                                             \
        if (s_) {                                                              \
            st = s_ == BPFREE_ENOMEM && e.msg[0] ? s_ : -100;                  \
            if (st == -100) printf("  %s: status %d: %s\n", #call, s_, e.msg); \
            goto out;                                                          \
        }                                                                      \
    } while (0)
    bpfree_csv_options co;
    bpfree_csv_options_default(&co);
    co.classify = 1;
    TRY(bpfree_csv_load(csv, &co, &ctr, &cte, &e));
    TRY(bpfree_data_alloc(&tr, 96, 12, 3, 0, &e));
    TRY(bpfree_data_alloc(&te, 32, 12, 3, 0, &e));
    bpfree_dataset *sets[2] = {&tr, &te};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < sets[k]->n; i++) {
            sets[k]->labels[i] = i % 3;
            for (int j = 0; j < 12; j++)
                sets[k]->x[(size_t)i * 12 + j] = (float)((i * 7 + j * 3) % 11) / 11.0f + (j % 3 == i % 3);
        }
    const int hidden[] = {10, 8};
    bpfree_config c = tu_default_config(rule, 12, 3, 2, hidden, 16);
    c.epochs = 2;
    c.threads = pipeline ? 2 : 1;
    c.pipeline = pipeline;
    TRY(bpfree_model_new(&c, &m, &e));
    bpfree_epoch_stats es;
    bpfree_eval ev;
    TRY(bpfree_train_epoch(m, &tr, &es, &e));
    TRY(bpfree_evaluate(m, &te, &ev, &e));
    TRY(bpfree_model_save(m, model, &e));
    TRY(bpfree_checkpoint_save(m, ckpt, "note", &e));
    TRY(bpfree_model_load(model, &m2, &e));
    bpfree_model_free(m2);
    m2 = NULL;
    TRY(bpfree_checkpoint_load(ckpt, &m2, &note, &e));
    TRY(bpfree_train_epoch(m2, &tr, &es, &e));
out:
#undef TRY
    free(note);
    bpfree_model_free(m);
    bpfree_model_free(m2);
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
    bpfree_data_free(&ctr);
    bpfree_data_free(&cte);
    return st;
}

static void sweep(const char *rule, int pipeline) {
    int bad = 0, n;
    for (n = 0; n < 5000; n++) {
        bp_mem_fail_after(n);
        const int st = small_run(rule, pipeline);
        const long seen = bp_mem_allocs_seen();
        bp_mem_fail_after(-1);
        if (st == -100) bad++;
        if (st == 0) break; /* the n-th allocation was never reached */
        (void)seen;
    }
    printf("  %s%s: %d allocations failed in turn, each cleanly\n", rule,
           pipeline ? " (pipelined)" : "", n);
    assert_true(n > 10); /* the sweep reached the run */
    assert_true(n < 5000);
    assert_int_equal(bad, 0);
    char p[300];
    DIR *d = opendir(tmp); /* no temporary file left by a failed save */
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".tmp.")) {
            printf("  left: %s\n", de->d_name);
            bad++;
        }
    if (d) closedir(d);
    snprintf(p, sizeof p, "%s/m.bpf", tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/c.ckpt", tmp);
    unlink(p);
    assert_int_equal(bad, 0);
}

static void test_alloc_fail_bp(void **state) { (void)state; sweep("bp", 0); }
static void test_alloc_fail_f3(void **state) { (void)state; sweep("f3", 0); }
static void test_alloc_fail_ff(void **state) { (void)state; sweep("ff", 0); }
static void test_alloc_fail_fdfa(void **state) { (void)state; sweep("fdfa", 0); }
static void test_alloc_fail_mf_pipelined(void **state) { (void)state; sweep("mf", 2); }

static int setup(void **state) {
    *state = tmp;
    if (tu_mkdtemp(tmp, sizeof tmp, "allocfail")) return -1;
    char csv[300];
    snprintf(csv, sizeof csv, "%s/t.csv", tmp);
    FILE *f = fopen(csv, "w");
    if (!f) return -1;
    fprintf(f, "a,b,label\n");
    for (int i = 0; i < 30; i++) fprintf(f, "%d,%g,%s\n", i, 0.5 * i, i % 2 ? "x" : "y");
    return fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_fail_bp),   cmocka_unit_test(test_alloc_fail_f3),
        cmocka_unit_test(test_alloc_fail_ff),   cmocka_unit_test(test_alloc_fail_fdfa),
        cmocka_unit_test(test_alloc_fail_mf_pipelined),
    };
    return cmocka_run_group_tests(tests, setup, tu_rm_scratch);
}
