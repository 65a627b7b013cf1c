/* test_checkpoint.c — checkpoints and exact resume (issue 17).
 *
 * Every rule, on 1 and 2 threads, pipelined where the rule allows, and the
 * variants with run state of their own (learned feedback's optimizers, FF's
 * head and hard negatives, CFF's gamma, greedy schedules, diagnostics):
 * N epochs straight against N/2 epochs, a checkpoint file, the model freed,
 * a model loaded from the file and N/2 more epochs — the same digest
 * (training loss, test loss, accuracy and every parameter and state float
 * bit for bit).  And the same with a stop between two batches in the middle
 * of an epoch (bpfree_model_stop_flag; after 1 to 11 of its 12 batches,
 * depending on the run), the checkpoint written there. */
#include "testutil.h"

#include <inttypes.h>

enum { D = 40, C = 4, NTRAIN = 384, NTEST = 96 };

static void make_data(bpfree_dataset *tr, bpfree_dataset *te) {
    tu_prototype_data(tr, te, D, C, NTRAIN, NTEST);
}

typedef struct run {
    const char *rule;
    int threads, pipeline;
    void (*tweak)(bpfree_config *c);
} run;

static void t_fdfa_ema(bpfree_config *c) { c->fb_optim = BPFREE_FB_EMA; c->fb_lr = 0.1f; }
static void t_fb_sgd(bpfree_config *c) { c->fb_optim = BPFREE_FB_SGD; c->optim.momentum = 0.9f; }
static void t_ff_hinton(bpfree_config *c) {
    c->ff_negatives = BPFREE_FF_NEG_HARD;
    c->ff_peer = 0.03f;
    c->optim.kind = BPFREE_OPTIM_SGD;
    c->optim.lr = 0.05f;
    c->optim.momentum = 0.9f;
}
static void t_greedy(bpfree_config *c) { c->greedy_epochs = 2; }
static void t_diag(bpfree_config *c) { c->diagnose = BPFREE_DIAG_ALIGNMENT; c->diag_every = 3; }
static void t_f3_loss(bpfree_config *c) { c->f3_loss = 1; c->f3_softmax = 1; }
static void t_sgd_sched(bpfree_config *c) {
    c->optim.kind = BPFREE_OPTIM_SGD;
    c->optim.lr = 0.05f;
    c->optim.momentum = 0.9f;
    c->optim.nesterov = 1;
    c->optim.sched = BPFREE_SCHED_MULTISTEP;
    c->optim.milestones[0] = 1;
    c->optim.milestones[1] = 3;
}

/* a small CNN on the 40 inputs read as 1 x 8 x 5 images (issue 14's layers) */
static void t_cnn(bpfree_config *c) {
    bpfree_error e;
    c->in_channels = 1, c->in_height = 8, c->in_width = 5;
    if (bpfree_config_set(c, "arch", "3C3-P2-16", &e)) fail_msg("arch: %s", e.msg);
}

static const char *const RULES[] = {"bp",   "fa",    "dfa",  "drtp", "f3",   "pepita",
                                    "llo",  "mf",    "fg-w", "fg-a", "lg-fg-a", "dkp",
                                    "fdfa", "ff",    "cff-fixed", "cff-adaptive", "usf", "kp"};
#define NRULES ((int)(sizeof RULES / sizeof *RULES))

static const run EXTRA[] = {
    {"mf", 2, 2, NULL},         {"drtp", 3, 3, NULL},         {"f3", 2, 2, NULL},
    {"llo", 2, 2, NULL},        {"ff", 2, 2, NULL},           {"f3", 1, 0, t_f3_loss},
    {"fdfa", 1, 0, t_fdfa_ema}, {"dkp", 2, 0, t_fb_sgd},      {"ff", 1, 0, t_ff_hinton},
    {"mf", 1, 0, t_greedy},     {"cff-adaptive", 1, 0, t_greedy}, {"ff", 2, 0, t_greedy},
    {"dfa", 1, 0, t_diag},      {"bp", 2, 0, t_sgd_sched},
    {"bp", 1, 0, t_cnn},        {"mf", 2, 0, t_cnn},          {"f3", 1, 0, t_cnn},
    {"fdfa", 2, 0, t_cnn},      {"dni", 1, 0, NULL},          {"dni", 2, 2, NULL},
};
#define NEXTRA ((int)(sizeof EXTRA / sizeof *EXTRA))
#define NRUNS (2 * NRULES + NEXTRA)

static run run_at(int i) {
    if (i < 2 * NRULES) return (run){RULES[i / 2], 1 + i % 2, 0, NULL};
    return EXTRA[i - 2 * NRULES];
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static bpfree_config config_of(const run *r) {
    bpfree_config c;
    bpfree_error e;
    assert_int_equal(bpfree_config_default(&c, r->rule, D, C, &e), 0);
    c.n_hidden = 2;
    c.hidden[0] = 48;
    c.hidden[1] = 24;
    c.epochs = 4;
    c.batch = 32;
    c.seed = 11;
    c.norm = BPFREE_NORM_SCALE;
    c.threads = r->threads;
    c.pipeline = r->pipeline;
    if (r->tweak) r->tweak(&c);
    bpfree_error e2;
    if (bpfree_config_check(&c, &e2)) fail_msg("%s: %s", r->rule, e2.msg);
    return c;
}

static int total_epochs(const bpfree_config *c) {
    return c->greedy_epochs ? c->greedy_epochs * c->n_hidden : c->epochs;
}

/* the run's digest after its last epoch's stats st */
static uint64_t digest(bpfree_model *m, const bpfree_epoch_stats *st, const bpfree_dataset *te) {
    bpfree_eval ev;
    bpfree_error e;
    if (bpfree_evaluate(m, te, &ev, &e)) fail_msg("%s", e.msg);
    uint64_t h = fnv(0xcbf29ce484222325ull, m->params, m->n_params * sizeof(float));
    h = fnv(h, m->state, m->n_state * sizeof(float));
    h = fnv(h, &st->train_loss, sizeof st->train_loss);
    h = fnv(h, &st->train_acc, sizeof st->train_acc);
    h = fnv(h, &ev.loss, sizeof ev.loss);
    return fnv(h, &ev.acc, sizeof ev.acc);
}

static void epochs(bpfree_model *m, const bpfree_dataset *tr, int n, bpfree_epoch_stats *st,
                   const char *what) {
    bpfree_error e;
    for (int i = 0; i < n; i++)
        if (bpfree_train_epoch(m, tr, st, &e)) fail_msg("%s: %s", what, e.msg);
}

/* stop after `at` batches of the current epoch */
typedef struct stopper {
    volatile sig_atomic_t flag;
    int at;
} stopper;

static void on_batch(void *user, int k, int nb, double loss) {
    stopper *s = user;
    (void)nb;
    (void)loss;
    if (k >= s->at) s->flag = 1;
}

static void test_resume_every_rule(void **state) {
    (void)state;
    bpfree_dataset tr = {0}, te = {0};
    make_data(&tr, &te);
    char dir[256], path[300];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "ckpt"), 0);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    int bad = 0;
    for (int i = 0; i < NRUNS; i++) {
        const run r = run_at(i);
        const bpfree_config c = config_of(&r);
        const int N = total_epochs(&c), half = N / 2;
        char what[96];
        snprintf(what, sizeof what, "%s t%d p%d%s", r.rule, r.threads, r.pipeline,
                 r.tweak ? " (variant)" : "");
        bpfree_model *m;
        bpfree_error e;
        bpfree_epoch_stats st = {0};
        /* straight */
        if (bpfree_model_new(&c, &m, &e)) fail_msg("%s: %s", what, e.msg);
        epochs(m, &tr, N, &st, what);
        const uint64_t want = digest(m, &st, &te);
        bpfree_model_free(m);
        /* half, checkpoint, a new model from the file, the rest */
        if (bpfree_model_new(&c, &m, &e)) fail_msg("%s: %s", what, e.msg);
        epochs(m, &tr, half, &st, what);
        if (bpfree_checkpoint_save(m, path, "note", &e)) fail_msg("%s: %s", what, e.msg);
        bpfree_model_free(m);
        char *note = NULL;
        if (bpfree_checkpoint_load(path, &m, &note, &e)) fail_msg("%s: %s", what, e.msg);
        assert_string_equal(note, "note");
        free(note);
        assert_int_equal(bpfree_model_epochs_done(m), half);
        epochs(m, &tr, N - half, &st, what);
        const uint64_t got = digest(m, &st, &te);
        bpfree_model_free(m);
        /* stopped in the middle of epoch half+1, after 5 batches */
        if (bpfree_model_new(&c, &m, &e)) fail_msg("%s: %s", what, e.msg);
        epochs(m, &tr, half, &st, what);
        stopper sp = {0, 1 + (i * 5) % 11}; /* 1..11 of the 12 batches, by run */
        bpfree_model_stop_flag(m, &sp.flag);
        bpfree_model_on_batch(m, on_batch, &sp);
        bpfree_status s = bpfree_train_epoch(m, &tr, &st, &e);
        if (s != BPFREE_EINTR) fail_msg("%s: expected a stop, got %d (%s)", what, s, e.msg);
        const long k = bpfree_model_batches_done(m);
        if (bpfree_checkpoint_save(m, path, NULL, &e)) fail_msg("%s: %s", what, e.msg);
        bpfree_model_free(m);
        if (bpfree_checkpoint_load(path, &m, NULL, &e)) fail_msg("%s: %s", what, e.msg);
        assert_int_equal(bpfree_model_batches_done(m), k);
        epochs(m, &tr, N - half, &st, what);
        const uint64_t got_mid = digest(m, &st, &te);
        bpfree_model_free(m);
        if (got != want || got_mid != want) {
            printf("  %s: straight %016" PRIx64 ", resumed %016" PRIx64
                   ", stopped after %ld batches and resumed %016" PRIx64 "\n",
                   what, want, got, k, got_mid);
            bad++;
        }
    }
    rm_tree(dir);
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
    assert_int_equal(bad, 0);
}

/* A plain model file is no checkpoint; a checkpoint is a model file. */
static void test_checkpoint_is_model_file(void **state) {
    (void)state;
    bpfree_dataset tr = {0}, te = {0};
    make_data(&tr, &te);
    char dir[256], path[300], mpath[300];
    assert_int_equal(tu_mkdtemp(dir, sizeof dir, "ckpt"), 0);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    snprintf(mpath, sizeof mpath, "%s/model.bpf", dir);
    const run r = {"f3", 1, 0, NULL};
    const bpfree_config c = config_of(&r);
    bpfree_model *m, *m2;
    bpfree_error e;
    bpfree_epoch_stats st;
    assert_int_equal(bpfree_model_new(&c, &m, &e), 0);
    epochs(m, &tr, 1, &st, "f3");
    assert_int_equal(bpfree_checkpoint_save(m, path, NULL, &e), 0);
    assert_int_equal(bpfree_model_save(m, mpath, &e), 0);
    assert_int_equal(bpfree_model_load(path, &m2, &e), 0);
    assert_true(tu_same(m->params, m2->params, m->n_params));
    assert_true(tu_same(m->state, m2->state, m->n_state));
    bpfree_model_free(m2);
    tu_expect_error(bpfree_checkpoint_load(mpath, &m2, NULL, &e), &e, BPFREE_EFORMAT,
                    "not a checkpoint", NULL);
    assert_null(m2);
    bpfree_model_free(m);
    rm_tree(dir);
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_every_rule),
        cmocka_unit_test(test_checkpoint_is_model_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
