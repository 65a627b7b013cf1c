/* test_engine.c — the training engine on whole models, whatever the rule:
 *   a. training is bit-for-bit deterministic for a seed (and another seed
 *      gives other numbers);
 *   b. a non-finite loss stops training with BPFREE_ENAN, whether the NaN
 *      comes from the data or from a learning rate that blows the weights
 *      up;
 *   c. the rule table and its taxonomy strings (against the survey's
 *      Table I where it has a column). */
#include "testutil.h"

/* ----------------------------------------------------- a. determinism */

/* Model with the rule's own default optimizer (Adam + cooldown for most),
 * two small hidden layers. */
static bpfree_model *make_default(const char *rule, int D, int C, uint64_t seed) {
    const int hidden[] = {16, 12};
    bpfree_config cfg = tu_default_config(rule, D, C, 2, hidden, 32);
    cfg.epochs = 2;
    cfg.seed = seed;
    return tu_new_model(&cfg, 0);
}

static void train_two_epochs(bpfree_model *m, const bpfree_dataset *ds) {
    bpfree_error err = {0};
    for (int e = 0; e < 2; e++) {
        bpfree_epoch_stats st;
        bpfree_status s = bpfree_train_epoch(m, ds, &st, &err);
        if (s) printf("  train: %s\n", err.msg);
        assert_int_equal(s, BPFREE_OK);
        assert_int_equal(st.epoch, e);
        assert_true(isfinite(st.train_loss));
    }
    assert_int_equal(bpfree_model_epochs_done(m), 2);
}

static void test_determinism(void **state) {
    (void)state;
    enum { N = 150, D = 10, C = 4 }; /* 150 = 4 full batches of 32 + 22 */
    bpfree_dataset ds;
    tu_make_dataset(&ds, N, D, C, 5);
    const char *rules[] = {"bp", "mf", "dfa"};
    for (int i = 0; i < 3; i++) {
        bpfree_model *a = make_default(rules[i], D, C, 42);
        bpfree_model *b = make_default(rules[i], D, C, 42);
        bpfree_model *c = make_default(rules[i], D, C, 43);
        float *init = copy_floats(a->params, a->n_params);
        train_two_epochs(a, &ds);
        train_two_epochs(b, &ds);
        train_two_epochs(c, &ds);
        assert_int_equal(a->n_params, b->n_params);
        int same = memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
        if (!same)
            printf("  %s: same seed, parameters differ by up to %g\n", rules[i],
                   tu_maxdiff(a->params, b->params, a->n_params));
        assert_true(same);
        assert_true(memcmp(a->state, b->state, (a->n_state ? a->n_state : 1) * sizeof(float)) ==
                    0);
        /* training changed the parameters, and another seed gives others */
        assert_true(memcmp(a->params, init, a->n_params * sizeof(float)) != 0);
        if (memcmp(a->params, c->params, a->n_params * sizeof(float)) == 0)
            printf("  %s: seeds 42 and 43 give identical parameters\n", rules[i]);
        assert_true(memcmp(a->params, c->params, a->n_params * sizeof(float)) != 0);
        free(init);
        bpfree_model_free(a);
        bpfree_model_free(b);
        bpfree_model_free(c);
    }
    bpfree_data_free(&ds);
}

/* -------------------------------------------------------- b. NaN guard */

/* Trains up to 5 epochs; 1 if training stopped with BPFREE_ENAN and a
 * message naming the epoch. */
static int stops_with_nan(bpfree_model *m, const bpfree_dataset *ds, const char *ctx) {
    bpfree_error err = {0};
    bpfree_status st = BPFREE_OK;
    int e = 0;
    for (; e < 5 && st == BPFREE_OK; e++) st = bpfree_train_epoch(m, ds, NULL, &err);
    if (st != BPFREE_ENAN) {
        printf("  %s: status %d after %d epochs (parameters %s), expected BPFREE_ENAN\n", ctx,
               (int)st, e, bp_check_finite(m->params, m->n_params) ? "finite" : "NOT finite");
        return 0;
    }
    if (err.code != BPFREE_ENAN || !strstr(err.msg, "epoch")) {
        printf("  %s: code %d, message without 'epoch': %s\n", ctx, (int)err.code, err.msg);
        return 0;
    }
    return 1;
}

enum { NN = 64, ND = 10, NC = 4 };

/* bp, mf and dfa with activation act and learning rate lr, each on a fresh
 * dataset, with a NaN in one input sample if nan_in_data: 1 if every one
 * stops with BPFREE_ENAN. */
static int all_rules_stop(bpfree_act act, float lr, int nan_in_data) {
    const char *rules[] = {"bp", "mf", "dfa"};
    const int hidden[] = {16, 12};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        char ctx[64];
        bpfree_dataset ds;
        tu_make_dataset(&ds, NN, ND, NC, 9);
        if (nan_in_data) ds.x[3 * ND + 2] = NAN;
        bpfree_model *m =
            tu_sgd_model(rules[i], ND, NC, 2, hidden, act, BPFREE_LOSS_CE, 16, lr, 1, 2);
        if (nan_in_data)
            snprintf(ctx, sizeof ctx, "%s/%s, NaN in the data", rules[i], bpfree_act_name(act));
        else
            snprintf(ctx, sizeof ctx, "%s, lr %g", rules[i], (double)lr);
        ok &= stops_with_nan(m, &ds, ctx);
        bpfree_model_free(m);
        bpfree_data_free(&ds);
    }
    return ok;
}

/* Every rule, with a NaN in one input sample. */
static void test_nan_guard_nan_data_tanh(void **state) {
    (void)state;
    assert_true(all_rules_stop(BPFREE_ACT_TANH, 0.01f, 1));
}

/* ReLU (the default activation) must not swallow the NaN: if it maps NaN to
 * 0, the NaN still reaches W1 through gW = dz^T x, every later forward pass
 * gives z = NaN -> 0, the loss stays finite and training goes on with NaN
 * weights. */
static void test_nan_guard_nan_data_relu(void **state) {
    (void)state;
    assert_true(all_rules_stop(BPFREE_ACT_RELU, 0.01f, 1));
}

/* A learning rate that blows the weights up.  Identity hidden units, so
 * nothing saturates (tanh would keep the hidden outputs in [-1, 1] and the
 * logits, though ~1e30, finite) and nothing dies (ReLU): after one step
 * every weight is ~1e30 and the logits of a 3-layer product overflow. */
static void test_nan_guard_huge_lr(void **state) {
    (void)state;
    assert_true(all_rules_stop(BPFREE_ACT_IDENTITY, 1e30f, 0));
}

/* ----------------------------------------------------- c. the rule table */

static void test_rule_table(void **state) {
    (void)state;
    const char *names[] = {"fa", "drtp", "f3", "pepita", "llo"};
    for (int i = 0; i < 5; i++) {
        const bpfree_rule_info *r = bpfree_rule_find(names[i]);
        if (!r) printf("  bpfree_rule_find(\"%s\") = NULL\n", names[i]);
        assert_non_null(r);
        assert_string_equal(r->name, names[i]);
        assert_int_equal(r->output_layer, 1);
    }
    assert_null(bpfree_rule_find("nope"));
    assert_null(bpfree_rule_find(NULL));
    const int n = bpfree_rule_count();
    assert_true(n >= 8);
    assert_null(bpfree_rule_at(n));
    assert_null(bpfree_rule_at(-1));
    for (int i = 0; i < n; i++) {
        const bpfree_rule_info *r = bpfree_rule_at(i);
        assert_non_null(r);
        const char *strs[] = {r->name, r->title, r->paper, r->weight_transport,
                              r->frozen_activities, r->locality, r->update_locking};
        for (size_t k = 0; k < sizeof strs / sizeof *strs; k++) {
            if (!strs[k] || !strs[k][0]) printf("  rule %d (%s): empty string %zu\n", i,
                                                r->name ? r->name : "?", k);
            assert_true(strs[k] && strs[k][0]);
        }
        assert_ptr_equal(bpfree_rule_find(r->name), r);
        assert_true(!strcmp(r->weight_transport, "yes") || !strcmp(r->weight_transport, "no"));
        assert_true(!strcmp(r->frozen_activities, "yes") || !strcmp(r->frozen_activities, "no"));
        assert_true(!strcmp(r->locality, "non-local") || !strcmp(r->locality, "single-layer") ||
                    !strcmp(r->locality, "multi-layer"));
        assert_true(!strcmp(r->update_locking, "backward") ||
                    !strcmp(r->update_locking, "forward") || !strcmp(r->update_locking, "none"));
    }
    /* F³ and DRTP update during the forward pass: nothing to wait for */
    assert_string_equal(bpfree_rule_find("f3")->update_locking, "none");
    assert_string_equal(bpfree_rule_find("drtp")->update_locking, "none");
    /* none of these transports weights (000, Table I) */
    for (int i = 0; i < 5; i++)
        assert_string_equal(bpfree_rule_find(names[i])->weight_transport, "no");
    assert_string_equal(bpfree_rule_find("bp")->weight_transport, "yes");
}

/* The taxonomy columns against the survey (000): Table I and §IV-B..D.
 *   weight transport: Fig. 7 — BP transports W^T; the others are
 *     weight-transport-free.
 *   frozen activities: Fig. 8 (a), "completely frozen, where uSF, BP, DTP,
 *     Kickback, FA, DFA, EP, ... PEPITA ... belong"; DRTP and F³ are listed
 *     under non-frozen (Fig. 8 (b.2)).
 *   update locking: BP and FA are locked by the backward pass; DFA and
 *     PEPITA are backward-unlocked only (they wait for the forward pass:
 *     "forward"); DRTP and F³ are update-unlocked ("none").
 *   locality: §IV-C — DRTP and PEPITA single-layer; BP, FA, DFA non-local;
 *     "F³ belongs to non-locality, but it is update unlocking" (§IV-D). */
static void test_taxonomy_matches_survey(void **state) {
    (void)state;
    static const struct {
        const char *rule, *wt, *frozen, *locking, *locality;
    } want[] = {
        {"bp", "yes", "yes", "backward", "non-local"},
        {"fa", "no", "yes", "backward", "non-local"},
        {"dfa", "no", "yes", "forward", "non-local"},
        {"drtp", "no", "no", "none", "single-layer"},
        {"f3", "no", "no", "none", "non-local"},
        {"pepita", "no", "yes", "forward", "single-layer"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const bpfree_rule_info *r = bpfree_rule_find(want[i].rule);
        assert_non_null(r);
        if (strcmp(r->weight_transport, want[i].wt) ||
            strcmp(r->frozen_activities, want[i].frozen) ||
            strcmp(r->update_locking, want[i].locking) || strcmp(r->locality, want[i].locality)) {
            printf("  %s: weight transport %s, frozen activities %s, update locking %s; "
                   "survey 000 Table I: %s, %s, %s\n",
                   r->name, r->weight_transport, r->frozen_activities, r->update_locking,
                   want[i].wt, want[i].frozen, want[i].locking);
            ok = 0;
        }
    }
    assert_true(ok);
}

int main(void) {
    bpfree_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_nan_guard_nan_data_tanh),
        cmocka_unit_test(test_nan_guard_nan_data_relu),
        cmocka_unit_test(test_nan_guard_huge_lr),
        cmocka_unit_test(test_rule_table),
        cmocka_unit_test(test_taxonomy_matches_survey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
