/* test_add_rule.c — CONTRIBUTING.md, "How to add a rule", done once and
 * kept working: a toy rule written the way the guide says, in this file,
 * added to the table at run time with bp_rule_register (the test's stand-in
 * for the one line in src/rules/rules.c), then used through the public API
 * as any built-in rule is:
 *   a. the table: bpfree_rule_find / _at / _count and the settings listing
 *      know the rule and its one row, which applies to it alone;
 *   b. its setting: bpfree_config_default + bpfree_config_set read, check
 *      and refuse it as the row says, another rule's config refuses it, and
 *      the capabilities pick the generic rows that apply;
 *   c. its math: one SGD step is sign-DFA's update, s·sign(B_l) drawn as
 *      DFA draws B_l, and not DFA's own;
 *   d. it learns: bpfree_model_new + bpfree_train_epoch make the training
 *      loss fall on a small synthetic set;
 *   e. bpfree_model_save + bpfree_model_load give back its setting, its
 *      feedback matrices and the same scores, bit for bit.
 *
 * The toy rule "toy", sign-DFA: DFA (src/rules/dfa.c; Nøkland 2016) whose
 * fixed feedback matrices are s·sign(B_l), B_l drawn as DFA draws it and
 * s = --toy-scale:
 *     delta_h_l = e (s sign(B_l)),   dW_l = (delta_h_l ⊙ f'(z_l))^T h_{l-1}
 * the output layer on its true gradient.
 *
 * Where toy-scale lives: a settings row stores its value in a field of
 * bpfree_config (by offsetof), and a real rule adds its own field to
 * include/bpfree.h.  A test cannot add one, so the toy borrows cff_gamma
 * (a float of the Collaborative FF rules, none of which runs in this
 * program).  Every row's default is written into every config and every
 * row's range is checked on every config (bpfree_config_default,
 * bpfree_config_check), so the toy row gives the same default as
 * cff-gamma's row ("1") — no config of another rule changes — and, while
 * the toy is registered, cff-gamma must be > 0 as toy-scale must. */
#include "testutil.h"

#include <stddef.h>

/* ---------------------------------------------------------- the toy rule */

#define TOY_FIELD cff_gamma /* borrowed: see above */

typedef struct toy_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l */
    float *e;                        /* (B, C) output error */
    float *dh;                       /* (B, max width) signal at a hidden output */
    int fb[BPFREE_MAX_LAYERS];       /* state tensor of s sign(B_l) */
} toy_state;

static bpfree_status toy_reserve(bpfree_model *m, bpfree_error *err) {
    toy_state *s = m->rs;
    return bp_feedback_reserve(m, s->fb, err);
}

static bpfree_status toy_init(bpfree_model *m, bpfree_error *err) {
    toy_state *s = m->rs;
    const float k = m->cfg.TOY_FIELD;
    (void)err;
    bp_feedback_init(m, s->fb); /* B_l as DFA draws it, then s sign(B_l) */
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        float *B = bp_tensor_ptr(m, s->fb[l]);
        for (size_t i = 0; i < m->tensors[s->fb[l]].n; i++)
            B[i] = B[i] > 0.0f ? k : B[i] < 0.0f ? -k : 0.0f;
    }
    /* workspaces: the engine allocates them once init has returned */
    bp_acts_reserve(m, s->h);
    bp_scratch(m, &s->e, (size_t)m->rows * m->cfg.outputs);
    bp_scratch(m, &s->dh, (size_t)m->rows * bp_max_width(m));
    return BPFREE_OK;
}

static bpfree_status toy_train(bpfree_model *m, int B, double *loss, long *correct) {
    toy_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e);
    for (int l = 0; l < L - 1; l++) {
        bp_feedback_signal(m, s->fb, l, 1.0f, s->e, B, s->dh); /* e s sign(B_l) */
        bp_layer_backward_step(m, l, s->h[l], s->h[l + 1], s->dh, B);
    }
    bp_layer_backward_step(m, L - 1, s->h[L - 1], s->h[L], s->e, B); /* true gradient */
    return BPFREE_OK;
}

/* required although engine.h calls it optional: bpfree_predict and
 * bpfree_evaluate call it unconditionally */
static void toy_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    toy_state *s = m->rs;
    bp_forward_all(m, x, s->h, B);
    memcpy(scores, s->h[m->n_layers], (size_t)B * m->cfg.outputs * sizeof(float));
}

static const bp_setting toy_settings[] = {
    BP_ROW_NUM("toy-scale", "toy_scale", "F", "toy: scale s of the sign feedback s sign(B_l)",
               "1", BP_SET_FLOAT, TOY_FIELD, 0, BP_SET_BIG, BP_SET_LO_OPEN, 0),
};

static const bp_rule toy_rule = {
    .info = {.name = "toy",
             .title = "sign-DFA (the toy rule of tests/test_add_rule.c)",
             .paper = "Nøkland 2016 with B_l replaced by s sign(B_l); CONTRIBUTING.md",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes", /* as DFA: every activation kept */
             .locality = "non-local",
             .update_locking = "forward"},
    .state_size = sizeof(toy_state),
    .reserve = toy_reserve,
    .init = toy_init,
    .train_batch = toy_train,
    .predict = toy_predict,
    .caps = BP_CAP_FEEDBACK,
    .settings = toy_settings,
    .n_settings = (int)(sizeof toy_settings / sizeof *toy_settings),
};

/* the table and the listing before the toy was added */
static int rules_before, settings_before;
static char tmp[256];

static int setup(void **state) {
    *state = tmp; /* for tu_rm_scratch */
    rules_before = bpfree_rule_count();
    settings_before = bpfree_setting_count();
    if (bpfree_rule_find("toy") || bp_rule_register(&toy_rule) != 0) return -1;
    return tu_mkdtemp(tmp, sizeof tmp, "add-rule");
}

/* ------------------------------------------------------------ a. table */

static void test_table_knows_the_rule(void **state) {
    (void)state;
    const int n = bpfree_rule_count();
    assert_int_equal(n, rules_before + 1);
    const bpfree_rule_info *r = bpfree_rule_find("toy");
    assert_non_null(r);
    assert_ptr_equal(r, &toy_rule.info);
    assert_ptr_equal(bpfree_rule_at(n - 1), r); /* after the built-in rules */
    assert_null(bpfree_rule_at(n));
    /* a name is taken once: the toy's again, or a built-in rule's */
    static const bp_rule fake_dfa = {.info = {.name = "dfa"}};
    assert_int_equal(bp_rule_register(&toy_rule), -1);
    assert_int_equal(bp_rule_register(&fake_dfa), -1);
    assert_int_equal(bpfree_rule_count(), n);
    assert_ptr_not_equal(bpfree_rule_find("dfa"), &fake_dfa.info);

    /* the listing gained exactly the toy's row, once */
    assert_int_equal(bpfree_setting_count(), settings_before + 1);
    const bpfree_setting *row = NULL;
    for (int i = 0; i < bpfree_setting_count(); i++)
        if (!strcmp(bpfree_setting_at(i)->name, "toy-scale")) {
            assert_null(row);
            row = bpfree_setting_at(i);
        }
    assert_non_null(row);
    assert_ptr_equal(bpfree_setting_find("toy-scale"), row);
    assert_ptr_equal(bpfree_setting_find("toy_scale"), row); /* its model-file key */
    assert_string_equal(row->dflt, "1");
    assert_string_equal(row->arg, "F");
    assert_false(bpfree_setting_internal(row));
    /* it applies to the toy and to no other rule */
    for (int i = 0; i < n; i++) {
        const char *name = bpfree_rule_at(i)->name;
        int want = !strcmp(name, "toy");
        if (bpfree_setting_applies(row, name) != want)
            printf("  toy-scale applies to %s: %d\n", name, !want);
        assert_int_equal(bpfree_setting_applies(row, name), want);
    }
    assert_int_equal(bpfree_setting_applies(row, "bp"), 0);
    assert_int_equal(bpfree_setting_applies(row, "toy"), 1);
}

/* ---------------------------------------------------------- b. setting */

static void test_setting_reads_checks_refuses(void **state) {
    (void)state;
    bpfree_config c, b;
    bpfree_error err = {0};
    char v[32];
    assert_int_equal(bpfree_config_default(&c, "toy", 8, 3, &err), BPFREE_OK);
    assert_string_equal(c.rule, "toy");
    assert_true(c.TOY_FIELD == 1.0f); /* the row's default */
    assert_int_equal(bpfree_config_get(&c, "toy-scale", v, sizeof v), 1);
    assert_string_equal(v, "1");

    assert_int_equal(bpfree_config_set(&c, "toy-scale", "0.5", &err), BPFREE_OK);
    assert_true(c.TOY_FIELD == 0.5f);
    assert_true(bpfree_config_get(&c, "toy-scale", v, sizeof v) > 0);
    assert_string_equal(v, "0.5");
    assert_int_equal(bpfree_config_check(&c, &err), BPFREE_OK);

    /* the row's range and kind; a refused value leaves the field alone */
    tu_expect_error(bpfree_config_set(&c, "toy-scale", "0", &err), &err, BPFREE_EINVAL,
                    "--toy-scale", "> 0", NULL);
    tu_expect_error(bpfree_config_set(&c, "toy-scale", "big", &err), &err, BPFREE_EINVAL,
                    "--toy-scale", "not a number", NULL);
    assert_true(c.TOY_FIELD == 0.5f);
    bpfree_config bad = c;
    bad.TOY_FIELD = -1.0f; /* set behind the table's back: the check finds it */
    tu_expect_error(bpfree_config_check(&bad, &err), &err, BPFREE_EINVAL, "toy-scale", NULL);

    /* another rule's config refuses the toy's setting, and says who uses it */
    assert_int_equal(bpfree_config_default(&b, "bp", 8, 3, &err), BPFREE_OK);
    tu_expect_error(bpfree_config_set(&b, "toy-scale", "0.5", &err), &err, BPFREE_EINVAL,
                    "--toy-scale does not apply to rule bp", "used by toy", NULL);
    /* the borrowed field's own option stays Collaborative FF's */
    tu_expect_error(bpfree_config_set(&c, "cff-gamma", "2", &err), &err, BPFREE_EINVAL,
                    "--cff-gamma does not apply to rule toy", NULL);
    assert_true(c.TOY_FIELD == 0.5f);

    /* capabilities: BP_CAP_FEEDBACK brings --feedback-init, not learned
     * feedback's rows; another rule's own row never applies */
    assert_int_equal(bpfree_config_set(&c, "feedback-init", "trinomial", &err), BPFREE_OK);
    assert_int_equal(c.feedback_init, BPFREE_INIT_TRINOMIAL);
    tu_expect_error(bpfree_config_set(&c, "fb-lr", "0.01", &err), &err, BPFREE_EINVAL,
                    "does not apply to rule toy", NULL);
    tu_expect_error(bpfree_config_set(&c, "pepita-f", "0.1", &err), &err, BPFREE_EINVAL,
                    "does not apply to rule toy", NULL);

    /* no pipe_layer: --pipeline reads (a generic row) but the check refuses */
    assert_int_equal(bpfree_config_set(&c, "pipeline", "2", &err), BPFREE_OK);
    tu_expect_error(bpfree_config_check(&c, &err), &err, BPFREE_EINVAL,
                    "rule 'toy' cannot pipeline", NULL);
}

/* -------------------------------------------------------------- c. math */

/* `rule` (the toy with toy-scale `scale`, or DFA with scale NULL) on
 * D -> hidden -> C, tanh, CE, SGD at lr 0.5 without momentum or schedule,
 * seed 21, keeping its gradients: the same seed gives both the same draws. */
static bpfree_model *tiny_model(const char *rule, const char *scale, int D, int C,
                                const int *hidden, int B) {
    bpfree_config cfg = tu_sgd_config(rule, D, C, 2, hidden, BPFREE_ACT_TANH, BPFREE_LOSS_CE,
                                      B, 0.5f, 21, 2);
    bpfree_error err = {0};
    if (scale) assert_int_equal(bpfree_config_set(&cfg, "toy-scale", scale, &err), BPFREE_OK);
    return tu_new_model(&cfg, 1);
}

static void test_step_is_sign_dfa(void **state) {
    (void)state;
    enum { D = 5, C = 3, B = 6, NH = 2 };
    const int hidden[NH] = {6, 4};
    bpfree_model *m = tiny_model("toy", "0.5", D, C, hidden, B);
    bpfree_model *d = tiny_model("dfa", NULL, D, C, hidden, B);
    assert_int_equal(m->n_layers, NH + 1);
    /* same seed, same draws in the same order: the same forward weights */
    assert_int_equal(m->n_params, d->n_params);
    assert_memory_equal(m->params, d->params, m->n_params * sizeof(float));

    /* the feedback is 0.5 sign(B_l) of DFA's B_l, in the saved state block */
    const float *Bs[NH];
    for (int l = 0; l < NH; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l + 1);
        int t = find_tensor(m, name), td = find_tensor(d, name);
        assert_false(m->tensors[t].trainable);
        assert_int_equal(m->tensors[t].n, (size_t)C * hidden[l]);
        const float *Bt = bp_tensor_ptr(m, t), *Bd = bp_tensor_ptr(d, td);
        int pos = 0, neg = 0;
        for (size_t i = 0; i < m->tensors[t].n; i++) {
            float want = Bd[i] > 0.0f ? 0.5f : Bd[i] < 0.0f ? -0.5f : 0.0f;
            if (Bt[i] != want) printf("  %s[%zu] = %g, want %g\n", name, i, Bt[i], want);
            assert_true(Bt[i] == want);
            pos += Bt[i] > 0.0f;
            neg += Bt[i] < 0.0f;
        }
        assert_true(pos > 0 && neg > 0);
        Bs[l] = Bt;
    }

    /* one step on a batch; the reference in double from the parameters before */
    tu_fill_batch(m, B, 77, -1.0f, 1.0f);
    tu_fill_batch(d, B, 77, -1.0f, 1.0f);
    float *p0 = copy_floats(m->params, m->n_params);
    double *h[NH + 2], *z[NH + 2];
    int w[NH + 2] = {D, hidden[0], hidden[1], C};
    for (int l = 0; l < NH + 2; l++) {
        h[l] = tu_xmalloc((size_t)B * w[l] * sizeof(double));
        z[l] = tu_xmalloc((size_t)B * w[l] * sizeof(double));
    }
    for (int i = 0; i < B * D; i++) h[0][i] = m->xb[i];
    for (int l = 0; l <= NH; l++) {
        const bp_layer *L = &m->layers[l];
        ref_dense(h[l], p0 + L->off, p0 + L->off + (size_t)L->out * L->in, B, L->in, L->out,
                  l < NH ? BPFREE_ACT_TANH : BPFREE_ACT_IDENTITY, z[l + 1], h[l + 1]);
    }
    double e[B * C];
    ref_softmax_ce(h[NH + 1], m->yb, B, C, e); /* e = (softmax(z) - y) / B */
    tu_step_once(m, B);
    tu_step_once(d, B);

    float *g = tu_xmalloc(m->n_params * sizeof(float));
    for (int l = 0; l <= NH; l++) {
        const int n = w[l + 1], I = w[l];
        double *dz = tu_xmalloc((size_t)B * n * sizeof(double));
        for (int r = 0; r < B; r++)
            for (int k = 0; k < n; k++) {
                size_t j = (size_t)r * n + k;
                if (l == NH) { /* output layer: its true gradient */
                    dz[j] = e[j];
                    continue;
                }
                double s = 0.0; /* delta_h = e (s sign(B_l)), then ⊙ f'(z) */
                for (int c = 0; c < C; c++) s += e[r * C + c] * Bs[l][(size_t)c * n + k];
                dz[j] = s * ref_df(BPFREE_ACT_TANH, z[l + 1][j], h[l + 1][j]);
            }
        const bp_layer *L = &m->layers[l];
        ref_param_grads(dz, h[l], B, I, n, g + L->off, g + L->off + (size_t)n * I);
        free(dz);
    }
    assert_true(check_all_updates(m, p0, g, "toy (sign-DFA, s = 0.5)"));
    /* ... which tells it from DFA: the hidden updates differ, the output's is
     * the same true gradient (same weights, same batch) */
    assert_true(update_differs(m, p0, "W1", d->grads, "toy", "DFA's gradient"));
    assert_true(update_differs(m, p0, "W2", d->grads, "toy", "DFA's gradient"));
    const bp_layer *Lo = &m->layers[NH];
    assert_true(tu_close("toy vs dfa: output gradient", Lo->gW, d->layers[NH].gW,
                         (size_t)C * hidden[1], 1e-6, 1e-5));

    for (int l = 0; l < NH + 2; l++) {
        free(h[l]);
        free(z[l]);
    }
    free(g);
    free(p0);
    bpfree_model_free(m);
    bpfree_model_free(d);
}

/* ---------------------------------------------------- d, e. train, save */

enum { N = 300, ND = 12, NC = 3 }; /* N > BP_PREDICT_ROWS: two prediction chunks */

/* the toy at toy-scale 0.5 on ND -> 16 -> 16 -> NC, Adam, `epochs` epochs,
 * built and trained through the public API; first and last training loss */
static bpfree_model *trained_toy(const bpfree_dataset *ds, int epochs, double *first,
                                 double *last) {
    bpfree_config c;
    bpfree_error err = {0};
    assert_int_equal(bpfree_config_default(&c, "toy", ND, NC, &err), BPFREE_OK);
    const char *kv[] = {"layers", "16,16", "batch", "16", "epochs", "12", "lr", "0.005",
                        "threads", "1", "seed", "5", "toy-scale", "0.5", NULL};
    for (int i = 0; kv[i]; i += 2) {
        bpfree_status st = bpfree_config_set(&c, kv[i], kv[i + 1], &err);
        if (st) printf("  --%s %s: %s\n", kv[i], kv[i + 1], err.msg);
        assert_int_equal(st, BPFREE_OK);
    }
    bpfree_model *m = NULL;
    bpfree_status st = bpfree_model_new(&c, &m, &err);
    if (st) printf("  bpfree_model_new(toy): %s\n", err.msg);
    assert_int_equal(st, BPFREE_OK);
    assert_string_equal(bpfree_model_rule(m)->name, "toy");
    for (int ep = 0; ep < epochs; ep++) {
        bpfree_epoch_stats s;
        st = bpfree_train_epoch(m, ds, &s, &err);
        if (st) printf("  toy, epoch %d: %s\n", ep, err.msg);
        assert_int_equal(st, BPFREE_OK);
        if (ep == 0) *first = s.train_loss;
        *last = s.train_loss;
    }
    return m;
}

static void test_toy_learns(void **state) {
    (void)state;
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, ND, NC, 11);
    double first = 0.0, last = 0.0;
    bpfree_model *m = trained_toy(&ds, 12, &first, &last);
    bpfree_eval ev;
    bpfree_error err = {0};
    assert_int_equal(bpfree_evaluate(m, &ds, &ev, &err), BPFREE_OK);
    printf("  toy: train loss %.3f -> %.3f, accuracy %.1f%%\n", first, last, 100 * ev.acc);
    assert_true(isfinite(first) && isfinite(last));
    assert_true(last < 0.7 * first);
    assert_true(ev.acc > 0.8); /* three classes: chance is 1/3 */
    bpfree_model_free(m);
    bpfree_data_free(&ds);
}

static void test_save_load_round_trip(void **state) {
    const char *dir = *state;
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, ND, NC, 12);
    double first, last;
    bpfree_model *a = trained_toy(&ds, 2, &first, &last), *b = NULL;
    bpfree_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/toy.bpf", dir);
    bpfree_status st = bpfree_model_save(a, path, &err);
    if (st) printf("  save: %s\n", err.msg);
    assert_int_equal(st, BPFREE_OK);

    /* the header names the rule and carries the toy's key, not the borrowed
     * field's other key (cff-gamma does not apply to the toy) */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char head[4096];
    size_t got = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[got] = '\0';
    assert_non_null(strstr(head + 16, "\nrule=toy\n"));
    assert_non_null(strstr(head + 16, "\ntoy_scale=0.5\n"));
    assert_null(strstr(head + 16, "cff_gamma"));

    st = bpfree_model_load(path, &b, &err);
    if (st) printf("  load: %s\n", err.msg);
    assert_int_equal(st, BPFREE_OK);
    assert_string_equal(bpfree_model_rule(b)->name, "toy");
    assert_ptr_equal(bpfree_model_rule(b), &toy_rule.info);
    char v[32];
    assert_true(bpfree_config_get(bpfree_model_config(b), "toy-scale", v, sizeof v) > 0);
    assert_string_equal(v, "0.5");
    assert_int_equal(bpfree_model_epochs_done(b), 2);
    assert_int_equal(a->n_params, b->n_params);
    assert_int_equal(a->n_state, b->n_state);
    assert_true(a->n_state > 0); /* the feedback matrices travel with the model */
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    assert_memory_equal(a->state, b->state, a->n_state * sizeof(float));

    /* the same scores, bit for bit, over more rows than one prediction chunk */
    const size_t ns = (size_t)ds.n * NC;
    float *sa = tu_xmalloc(ns * sizeof(float)), *sb = tu_xmalloc(ns * sizeof(float));
    memset(sa, 0, ns * sizeof(float));
    memset(sb, 0xff, ns * sizeof(float));
    assert_int_equal(bpfree_predict(a, ds.x, ds.n, sa, &err), BPFREE_OK);
    assert_int_equal(bpfree_predict(b, ds.x, ds.n, sb, &err), BPFREE_OK);
    assert_true(tu_maxabs(sa, ns) > 0.0);
    assert_memory_equal(sa, sb, ns * sizeof(float));

    free(sa);
    free(sb);
    bpfree_model_free(a);
    bpfree_model_free(b);
    bpfree_data_free(&ds);
    assert_int_equal(tu_count_entries(dir, ".tmp."), 0);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_knows_the_rule),
        cmocka_unit_test(test_setting_reads_checks_refuses),
        cmocka_unit_test(test_step_is_sign_dfa),
        cmocka_unit_test(test_toy_learns),
        cmocka_unit_test(test_save_load_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, tu_rm_scratch);
}
