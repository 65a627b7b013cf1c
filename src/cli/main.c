/* main.c — the bpfree command: train (train.c), eval, rules; compare
 * (compare.c), predict and export (export.c), presets (config.c). */
#include "report.h"

#include <string.h>

/* ----------------------------------------------------------------- eval */

int cmd_eval(int argc, char **argv) {
    cli_run r = {0};
    const char *path = NULL;
    cli_parse(argc, argv, 2, &r, &path);
    if (!path) die("eval needs a model file: bpfree eval MODEL [--data NAME|DIR]");
    if (r.n) die("--%s: eval uses the settings saved with the model", r.name[0]);
    bpfree_error e;
    bpfree_model *m;
    if (bpfree_model_load(path, &m, &e)) die_err(&e);
    /* the data the model records, unless --data names other data */
    const bpfree_data_info *di = bpfree_model_data(m);
    if (!r.data) r.data = di ? di->name : "mnist";
    if (di && !strcmp(r.data, di->name)) {
        if (!r.target && di->targets[0]) r.target = di->targets;
        if (!r.classify) r.classify = di->classify;
    }
    bpfree_dataset train = {0}, test = {0};
    cli_load_data(&r, di != NULL, &train, &test); /* older files: the loader standardises */
    const uint64_t sum = bpfree_data_checksum(&train);
    bpfree_data_free(&train);
    if (di) { /* shape and classes first: other data is refused, not warned about */
        if (bpfree_data_prepare(m, &test, &e)) die("%s: %s", path, e.msg);
        if (sum != di->checksum)
            fprintf(stderr,
                    "bpfree: warning: the training data of '%s' is not what %s was trained on "
                    "(checksum %016llx, the model recorded %016llx of '%s')\n",
                    r.data, path, (unsigned long long)sum, (unsigned long long)di->checksum,
                    di->name);
    } else {
        const bpfree_config *c = bpfree_model_config(m);
        float mean, std;
        if (bpfree_norm_affine(c, &mean, &std)) bpfree_data_normalize(&test, mean, std);
    }
    bpfree_eval ev;
    if (bpfree_evaluate(m, &test, &ev, &e)) die_err(&e);
    report_eval(m, path, r.data, &ev, test.y != NULL);
    bpfree_model_free(m);
    bpfree_data_free(&test);
    return 0;
}

/* ---------------------------------------------------------------- rules */

int cmd_rules(void) {
    int wn = 4, wt = 4; /* column widths from the table itself */
    for (int i = 0; i < bpfree_rule_count(); i++) {
        const bpfree_rule_info *r = bpfree_rule_at(i);
        if ((int)strlen(r->name) > wn) wn = (int)strlen(r->name);
        if ((int)strlen(r->title) > wt) wt = (int)strlen(r->title);
    }
    printf("%-*s  %-*s  %-9s %-7s %-13s %-9s  %s\n", wn, "rule", wt, "name", "weight-tr", "frozen",
           "locality", "locking", "paper");
    for (int i = 0; i < bpfree_rule_count(); i++) {
        const bpfree_rule_info *r = bpfree_rule_at(i);
        printf("%-*s  %-*s  %-9s %-7s %-13s %-9s  %s\n", wn, r->name, wt, r->title,
               r->weight_transport, r->frozen_activities, r->locality, r->update_locking, r->paper);
    }
    printf("\ncolumns: the taxonomy of Huang, Ororbia and Aminifar 2025, \"Backpropagation-Free\n"
           "Learning: On the Emergence of Forward-Only Algorithms\" (Table I and section IV):\n"
           "weight transport (W^T in the signal), frozen activities (all activations held for the signal), locality of the\n"
           "signal, and update locking: backward = waits for the backward pass, forward = waits\n"
           "for the whole forward pass, none = a layer updates as soon as it has run.\n");
    return 0;
}

int cli_main(int argc, char **argv) {
    if (argc < 2) {
        cli_usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return cmd_train(argc, argv);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc, argv);
    if (strcmp(cmd, "rules") == 0) return cmd_rules();
    if (strcmp(cmd, "man") == 0) {
        cli_man(stdout);
        return 0;
    }
    if (strcmp(cmd, "presets") == 0) return cmd_presets(argc, argv);
    if (strcmp(cmd, "compare") == 0) return cmd_compare(argc, argv);
    if (strcmp(cmd, "export") == 0) return cmd_export(argc, argv);
    if (strcmp(cmd, "predict") == 0) return cmd_predict(argc, argv);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("bpfree %s (commit %s, matrix products: %s)\n", BPFREE_VERSION,
               bpfree_build_commit(), bpfree_build_blas());
        return 0;
    }
    die("unknown command '%s' (commands: train, eval, rules, compare, predict, export, presets; see bpfree --help)", cmd);
}
