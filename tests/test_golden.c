/* test_golden.c — every number unchanged.
 *
 * A short fixed-seed run of every rule (and of the options that change its
 * arithmetic) on 1 and 2 threads, with both threadings and pipelined where
 * the rule allows, reduced to a digest: the last epoch's training loss and
 * the test loss as bit patterns, the test accuracy, and a 64-bit hash of the
 * parameter and state blocks, one file per product library and kernel set
 * (each orders its sums differently): tests/golden/digests-ID.txt, ID from
 * backend_id() below.  OpenBLAS's Cooperlake digests were recorded before
 * the architecture refactor (issue 13), oneDNN's when it became the default
 * (session 7), OpenBLAS's Haswell ones (OPENBLAS_CORETYPE=Haswell) in
 * session 15 on an unchanged tree; a change that moves code must keep every
 * one of them bit for bit.  A build whose products have no file skips.
 *
 * Also: model files written by that earlier version (tests/golden/models/)
 * still load and predict the same scores bit for bit.
 *
 * BPFREE_GOLDEN_UPDATE=1 rewrites the digests and, in the OpenBLAS build on
 * its Cooperlake kernels, the model files (only when a change is meant to
 * change the numbers: say why in the commit); in another build it records
 * the digests and the scores of those products
 * (tests/golden/models/scores-ID.txt) and leaves the model files alone. */
#include "testutil.h"

#include <ctype.h>
#include <inttypes.h>
#include <unistd.h>

#define GOLDEN_DIR "tests/golden"
/* The model files were written by the OpenBLAS build with its Cooperlake
 * kernels (before issue 13); the scores any other product library (or
 * kernel set) predicts from them are its own file. */
#define OLD_MODELS_WRITER "openblas"

#if !defined(BPFREE_DNNL) && !defined(BPFREE_BLIS)
char *openblas_get_corename(void);
#endif

/* The name of this build's arithmetic, which names its files.  OpenBLAS
 * picks its kernels by CPU, or by OPENBLAS_CORETYPE, and each kernel set
 * orders its sums its own way: "openblas" is the Cooperlake kernels' (the
 * first recorded), "openblas-haswell" etc. another set's. */
static const char *backend_id(void) {
#if defined(BPFREE_DNNL)
    return "onednn";
#elif defined(BPFREE_BLIS)
    return "blis";
#else
    static char id[64];
    const char *core = openblas_get_corename();
    if (!core || !*core) core = "unknown";
    if (strcmp(core, "Cooperlake") == 0) return "openblas";
    int n = snprintf(id, sizeof id, "openblas-");
    for (const char *c = core; *c && n < (int)sizeof id - 1; c++)
        id[n++] = (char)tolower((unsigned char)*c);
    id[n] = '\0';
    return id;
#endif
}

static int writer_build(void) { return strcmp(backend_id(), OLD_MODELS_WRITER) == 0; }

/* ------------------------------------------------------------ the data */

enum { D = 72, C = 4, NTRAIN = 512, NTEST = 128 };

/* Four classes, each a random prototype plus noise; the first C inputs are
 * blank (FF writes the label there).  Its own LCG: independent of bp_rng. */
static void make_data(bpfree_dataset *tr, bpfree_dataset *te) {
    tu_prototype_data(tr, te, D, C, NTRAIN, NTEST);
    snprintf(tr->name, sizeof tr->name, "golden-train");
    snprintf(te->name, sizeof te->name, "golden-test");
}

/* ---------------------------------------------------------- the configs */

typedef struct run {
    const char *name, *rule;
    int threads, pipeline;
    bpfree_threading threading;
    void (*tweak)(bpfree_config *c);
} run;

static void t_bp_sgd(bpfree_config *c) {
    c->optim.kind = BPFREE_OPTIM_SGD;
    c->optim.lr = 0.05f;
    c->optim.nesterov = 1;
    c->optim.weight_decay = 1e-3f;
    c->optim.sched = BPFREE_SCHED_MULTISTEP;
    c->optim.milestones[0] = 1;
    c->act = BPFREE_ACT_TANH;
}
static void t_adamw_step(bpfree_config *c) {
    c->optim.decoupled = 1;
    c->optim.weight_decay = 1e-2f;
    c->optim.sched = BPFREE_SCHED_STEP;
    c->optim.step_epochs = 1;
    c->optim.gamma = 0.5f;
    c->init = BPFREE_INIT_XAVIER_UNIFORM;
}
static void t_sigmoid_bce(bpfree_config *c) {
    c->act = BPFREE_ACT_SIGMOID;
    c->loss = BPFREE_LOSS_BCE;
    c->feedback_init = BPFREE_INIT_TRINOMIAL;
}
static void t_mf_greedy(bpfree_config *c) { c->greedy_epochs = 1; }
static void t_mf_bp_pred(bpfree_config *c) { c->predict = BPFREE_PREDICT_BP; }
static void t_f3_variants(bpfree_config *c) {
    c->f3_loss = 1;
    c->f3_onehot = 1;
    c->f3_softmax = 1;
    c->feedback_init = BPFREE_INIT_PM_IDENTITY;
}
static void t_f3_softmax(bpfree_config *c) { c->f3_softmax = 1; }
static void t_fdfa_ema(bpfree_config *c) {
    c->fb_optim = BPFREE_FB_EMA;
    c->fb_lr = 0.05f;
}
static void t_dkp_sgd(bpfree_config *c) {
    c->fb_optim = BPFREE_FB_SGD;
    c->fb_lr = 1e-3f;
    c->fb_wd = 1e-3f;
}
static void t_ff_hinton(bpfree_config *c) {
    c->ff_negatives = BPFREE_FF_NEG_HARD;
    c->ff_peer = 0.03f;
    c->ff_skip_first = 1;
    c->optim.kind = BPFREE_OPTIM_SGD;
    c->optim.lr = 1e-3f;
    c->optim.weight_decay = 3e-4f;
}
static void t_ff_pytorch(bpfree_config *c) {
    c->ff_goodness = BPFREE_FF_MEAN;
    c->ff_norm = BPFREE_FF_L2;
    c->ff_theta_width = 0;
    c->ff_theta = 2.0f;
    c->ff_label_max = 1;
    c->ff_predict = BPFREE_FF_PREDICT_ONEPASS;
}
static void t_ff_peer(bpfree_config *c) { c->ff_peer = 0.03f; }
static void t_greedy(bpfree_config *c) { c->greedy_epochs = 1; }
static void t_cff_params(bpfree_config *c) {
    c->cff_gamma = 0.5f;
    c->cff_alpha = 0.7f;
    c->cff_gamma_lr = 0.05f;
}
static void t_diag(bpfree_config *c) {
    c->diagnose = BPFREE_DIAG_ALIGNMENT | BPFREE_DIAG_VARIANCE;
    c->diag_every = 3;
    c->diag_draws = 3;
}
static void t_diag_align(bpfree_config *c) {
    c->diagnose = BPFREE_DIAG_ALIGNMENT;
    c->diag_every = 2;
}
static void t_pepita_f(bpfree_config *c) { c->pepita_f = 0.1f; }
static void t_normal_init(bpfree_config *c) {
    c->init = BPFREE_INIT_NORMAL;
    c->init_std = 0.1f;
    c->optim.sched = BPFREE_SCHED_NONE;
}

static void t_chl_gamma(bpfree_config *c) {
    c->chl_gamma = 0.4f;
    c->chl_tol = 1e-5f;
    c->chl_iters = 3; /* some phases stop unsettled */
}
static void t_dtp_eta(bpfree_config *c) {
    c->dtp_eta = 0.5f;
    c->dtp_noise = 0.0f;
}
static void t_dni_module(bpfree_config *c) {
    c->dni_hidden = 16;
    c->dni_cond = 0;
}
static void t_ccl_raw(bpfree_config *c) { c->ccl_norm = 0; }
static void t_ccl_l2_relu(bpfree_config *c) { /* ccl's defaults before session 7 */
    c->ccl_norm = 1;
    c->act = BPFREE_ACT_RELU;
    c->optim.lr = 1e-3f;
}
static void t_tinyfoa_binary(bpfree_config *c) {
    c->tinyfoa_binary = 1;
    c->tinyfoa_slices = 1;
}

#define S BPFREE_THREADING_SPLIT
#define BL BPFREE_THREADING_BLAS
static const char *const RULES[] = {"bp",    "fa",    "dfa",     "drtp", "f3",
                                    "pepita", "llo",  "mf",      "fg-w", "fg-a",
                                    "lg-fg-a", "dkp", "fdfa",    "ff",   "cff-fixed",
                                    "cff-adaptive", "usf", "kp",  "chl",  "dtp",
                                    "dni",  "ccl",  "tinyfoa"};
#define NRULES ((int)(sizeof RULES / sizeof *RULES))

static const run EXTRA[] = {
    {"bp-blas-t2", "bp", 2, 0, BL, NULL},
    {"mf-blas-t2", "mf", 2, 0, BL, NULL},
    {"dfa-blas-t2", "dfa", 2, 0, BL, NULL},
    {"mf-pipe2", "mf", 2, 2, S, NULL},
    {"mf-pipe2-bppred", "mf", 2, 2, S, t_mf_bp_pred},
    {"drtp-pipe2", "drtp", 2, 2, S, NULL},
    {"drtp-pipe3", "drtp", 3, 3, S, NULL},
    {"f3-pipe2", "f3", 2, 2, S, NULL},
    {"f3-pipe3-variants", "f3", 3, 3, S, t_f3_variants},
    {"llo-pipe2", "llo", 2, 2, S, NULL},
    {"ff-pipe2", "ff", 2, 2, S, NULL},
    {"ff-pipe2-peer", "ff", 2, 2, S, t_ff_peer},
    {"bp-sgd-tanh", "bp", 1, 0, S, t_bp_sgd},
    {"bp-adamw-step", "bp", 2, 0, S, t_adamw_step},
    {"fa-normal", "fa", 1, 0, S, t_normal_init},
    {"dfa-sigmoid-bce", "dfa", 1, 0, S, t_sigmoid_bce},
    {"dfa-diag", "dfa", 1, 0, S, t_diag_align},
    {"fga-diag", "fg-a", 1, 0, S, t_diag},
    {"mf-greedy", "mf", 1, 0, S, t_mf_greedy},
    {"mf-bppred", "mf", 1, 0, S, t_mf_bp_pred},
    {"f3-variants", "f3", 1, 0, S, t_f3_variants},
    {"f3-softmax", "f3", 2, 0, S, t_f3_softmax},
    {"fdfa-ema", "fdfa", 1, 0, S, t_fdfa_ema},
    {"dkp-sgd", "dkp", 2, 0, S, t_dkp_sgd},
    {"pepita-f", "pepita", 1, 0, S, t_pepita_f},
    {"ff-hinton", "ff", 1, 0, S, t_ff_hinton},
    {"ff-hinton-t2", "ff", 2, 0, S, t_ff_hinton},
    {"ff-pytorch", "ff", 1, 0, S, t_ff_pytorch},
    {"ff-greedy", "ff", 1, 0, S, t_greedy},
    {"cff-fixed-greedy", "cff-fixed", 1, 0, S, t_greedy},
    {"cff-adaptive-greedy", "cff-adaptive", 2, 0, S, t_greedy},
    {"cff-adaptive-params", "cff-adaptive", 1, 0, S, t_cff_params},
    {"cff-fixed-hinton", "cff-fixed", 1, 0, S, t_ff_hinton},
    {"chl-gamma", "chl", 1, 0, S, t_chl_gamma},
    {"dtp-eta", "dtp", 1, 0, S, t_dtp_eta},
    {"dni-module", "dni", 2, 0, S, t_dni_module},
    {"ccl-raw", "ccl", 1, 0, S, t_ccl_raw},
    {"tinyfoa-binary", "tinyfoa", 1, 0, S, t_tinyfoa_binary},
    {"tinyfoa-pipe2", "tinyfoa", 2, 2, S, NULL},
    {"tinyfoa-pipe2-binary", "tinyfoa", 2, 2, S, t_tinyfoa_binary},
    {"dni-pipe2", "dni", 2, 2, S, NULL},
    {"dni-pipe2-module", "dni", 2, 2, S, t_dni_module},
    {"ccl-l2-relu", "ccl", 1, 0, S, t_ccl_l2_relu},
};
#define NEXTRA ((int)(sizeof EXTRA / sizeof *EXTRA))
#define NRUNS (2 * NRULES + NEXTRA)

static run run_at(int i) {
    if (i < 2 * NRULES)
        return (run){NULL, RULES[i / 2], 1 + i % 2, 0, S, NULL};
    return EXTRA[i - 2 * NRULES];
}

/* --------------------------------------------------------- the digests */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void base_config(bpfree_config *c, const char *rule, int hidden0, int hidden1) {
    bpfree_error e;
    assert_int_equal(bpfree_config_default(c, rule, D, C, &e), 0);
    c->n_hidden = 2;
    c->hidden[0] = hidden0;
    c->hidden[1] = hidden1;
    c->epochs = 2;
    c->batch = 64;
    c->seed = 7;
    c->norm = BPFREE_NORM_SCALE;
}

/* "name loss test_loss acc hash" for run r */
static void digest_of(const run *r, const bpfree_dataset *tr, const bpfree_dataset *te,
                      char *line, size_t cap) {
    bpfree_config c;
    base_config(&c, r->rule, 250, 130);
    c.threads = r->threads;
    c.pipeline = r->pipeline;
    c.threading = r->threading;
    if (r->tweak) r->tweak(&c);
    bpfree_model *m = NULL;
    bpfree_error e;
    if (bpfree_model_new(&c, &m, &e)) fail_msg("%s: %s", r->rule, e.msg);
    bpfree_epoch_stats st = {0};
    for (int ep = 0; ep < (c.greedy_epochs ? c.greedy_epochs * c.n_hidden : c.epochs); ep++)
        if (bpfree_train_epoch(m, tr, &st, &e)) fail_msg("%s: %s", r->rule, e.msg);
    bpfree_eval ev;
    if (bpfree_evaluate(m, te, &ev, &e)) fail_msg("%s: %s", r->rule, e.msg);
    uint64_t h = fnv(0xcbf29ce484222325ull, m->params, m->n_params * sizeof(float));
    h = fnv(h, m->state, m->n_state * sizeof(float));
    char name[64];
    if (r->name) snprintf(name, sizeof name, "%s", r->name);
    else snprintf(name, sizeof name, "%s-t%d", r->rule, r->threads);
    snprintf(line, cap, "%s %016" PRIx64 " %016" PRIx64 " %.6f %016" PRIx64, name,
             dbits(st.train_loss), dbits(ev.loss), ev.acc, h);
    bpfree_model_free(m);
}

static int updating(void) {
    const char *u = getenv("BPFREE_GOLDEN_UPDATE");
    return u && *u && strcmp(u, "0") != 0;
}

static void test_digests(void **state) {
    (void)state;
    char digests[128];
    snprintf(digests, sizeof digests, GOLDEN_DIR "/digests-%s.txt", backend_id());
    bpfree_dataset tr = {0}, te = {0};
    make_data(&tr, &te);
    static char got[NRUNS][160];
    for (int i = 0; i < NRUNS; i++) {
        run r = run_at(i);
        digest_of(&r, &tr, &te, got[i], sizeof got[i]);
    }
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
    if (updating()) {
        FILE *f = fopen(digests, "w");
        assert_non_null(f);
        fprintf(f, "# name train_loss_bits test_loss_bits test_acc params_state_fnv64 "
                   "(tests/test_golden.c)\n");
        for (int i = 0; i < NRUNS; i++) fprintf(f, "%s\n", got[i]);
        assert_int_equal(fclose(f), 0);
        printf("  wrote %s (%d runs)\n", digests, NRUNS);
        return;
    }
    FILE *f = fopen(digests, "r");
    if (!f) {
        printf("  no %s: digests are recorded for other products (BPFREE_GOLDEN_UPDATE=1 "
               "records them); skipped\n", digests);
        skip();
    }
    /* by name: a run added later (a new rule) only adds a line */
    char want[160];
    int n = 0, bad = 0, found[NRUNS] = {0};
    while (fgets(want, sizeof want, f)) {
        if (want[0] == '#') continue;
        want[strcspn(want, "\n")] = '\0';
        const size_t nl = strcspn(want, " ");
        int k = -1;
        for (int i = 0; i < NRUNS && k < 0; i++)
            if (!strncmp(got[i], want, nl) && got[i][nl] == ' ') k = i;
        if (k < 0) {
            printf("  %s: no run named like '%s'\n", digests, want);
            bad++;
            continue;
        }
        found[k] = 1;
        if (strcmp(want, got[k]) != 0) {
            printf("  changed: want %s\n           got  %s\n", want, got[k]);
            bad++;
        }
        n++;
    }
    fclose(f);
    for (int i = 0; i < NRUNS; i++)
        if (!found[i]) printf("  no recorded digest for: %s\n", got[i]);
    assert_int_equal(n, NRUNS);
    assert_int_equal(bad, 0);
}

/* ------------------------------------------------- old model files load */

static const char *const MODEL_RULES[] = {"bp", "mf", "ff", "cff-adaptive", "f3", "dkp",
                                          "fdfa", "pepita", "lg-fg-a"};
#define NMODELS ((int)(sizeof MODEL_RULES / sizeof *MODEL_RULES))

static uint64_t scores_hash(bpfree_model *m, const bpfree_dataset *te) {
    float *sc = malloc((size_t)te->n * C * sizeof(float));
    assert_non_null(sc);
    bpfree_error e;
    if (bpfree_predict(m, te->x, te->n, sc, &e)) fail_msg("predict: %s", e.msg);
    uint64_t h = fnv(0xcbf29ce484222325ull, sc, (size_t)te->n * C * sizeof(float));
    free(sc);
    return h;
}

static void test_old_models_load(void **state) {
    (void)state;
    bpfree_dataset tr = {0}, te = {0};
    make_data(&tr, &te);
    const int writer = writer_build();
    char list[128];
    if (writer) snprintf(list, sizeof list, GOLDEN_DIR "/models/scores.txt");
    else snprintf(list, sizeof list, GOLDEN_DIR "/models/scores-%s.txt", backend_id());
    FILE *idx = NULL;
    if (!updating() && !writer && access(list, R_OK) != 0) {
        printf("  no %s: scores are recorded for other products; skipped\n", list);
        bpfree_data_free(&tr);
        bpfree_data_free(&te);
        skip();
    }
    if (updating()) {
        assert_non_null(idx = fopen(list, "w"));
        fprintf(idx, "# model scores_fnv64 (tests/test_golden.c)\n");
    }
    for (int i = 0; i < NMODELS; i++) {
        char path[256];
        snprintf(path, sizeof path, GOLDEN_DIR "/models/%s.bpf", MODEL_RULES[i]);
        bpfree_model *m = NULL;
        bpfree_error e;
        if (updating() && !writer) { /* the old files stay; their scores here */
            if (bpfree_model_load(path, &m, &e)) fail_msg("old model file: %s", e.msg);
            fprintf(idx, "%s %016" PRIx64 "\n", MODEL_RULES[i], scores_hash(m, &te));
            bpfree_model_free(m);
            continue;
        }
        if (updating()) {
            bpfree_config c;
            base_config(&c, MODEL_RULES[i], 16, 8);
            c.threads = 1;
            assert_int_equal(bpfree_model_new(&c, &m, &e), 0);
            for (int ep = 0; ep < c.epochs; ep++)
                if (bpfree_train_epoch(m, &tr, NULL, &e)) fail_msg("%s", e.msg);
            if (bpfree_model_save(m, path, &e)) fail_msg("%s", e.msg);
            fprintf(idx, "%s %016" PRIx64 "\n", MODEL_RULES[i], scores_hash(m, &te));
            bpfree_model_free(m);
            continue;
        }
        if (bpfree_model_load(path, &m, &e)) fail_msg("old model file: %s", e.msg);
        FILE *f = fopen(list, "r");
        assert_non_null(f);
        char line[160], want[160] = "";
        while (fgets(line, sizeof line, f))
            if (strncmp(line, MODEL_RULES[i], strlen(MODEL_RULES[i])) == 0 &&
                line[strlen(MODEL_RULES[i])] == ' ')
                snprintf(want, sizeof want, "%s", line + strlen(MODEL_RULES[i]) + 1);
        fclose(f);
        want[strcspn(want, "\n")] = '\0';
        char got[32];
        snprintf(got, sizeof got, "%016" PRIx64, scores_hash(m, &te));
        if (strcmp(want, got) != 0) printf("  %s: scores %s, recorded %s\n", path, got, want);
        assert_string_equal(got, want);
        bpfree_model_free(m);
    }
    if (idx) assert_int_equal(fclose(idx), 0);
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_old_models_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
