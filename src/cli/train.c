/* train.c — `bpfree train`: options, data, model, epochs, report, save —
 * each step a function. */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run_data {
    bpfree_dataset train, val, test;
    int regression, classes;
} run_data;

/* Data as --data names it; --val held out; standardised with the training
 * set's statistics if the config says so (saved with the model). */
static void prepare_data(const cli_run *r, run_data *d, bpfree_config *cfg) {
    cli_load_data(r, &d->train, &d->test);
    d->regression = d->train.y != NULL;
    d->classes = d->train.classes > d->test.classes ? d->train.classes : d->test.classes;
    cli_config(r, &d->train, d->regression ? d->train.outputs : d->classes, cfg);
    bpfree_error e;
    if (r->val > 0 && bpfree_data_split(&d->train, r->val, cfg->seed, &d->val, &e)) die_err(&e);
    if (cfg->norm == BPFREE_NORM_STANDARDIZE) {
        bpfree_data_stats(&d->train, &cfg->norm_mean, &cfg->norm_std);
        bpfree_data_normalize(&d->train, cfg->norm_mean, cfg->norm_std);
        if (d->val.n) bpfree_data_normalize(&d->val, cfg->norm_mean, cfg->norm_std);
        bpfree_data_normalize(&d->test, cfg->norm_mean, cfg->norm_std);
    }
}

static void print_header(const cli_run *r, const run_data *d, const bpfree_model *m, int total) {
    const bpfree_config *c = bpfree_model_config(m);
    const bpfree_rule_info *ri = bpfree_model_rule(m);
    printf("bpfree: %s (%s) on %s: %d train, %d val, %d test; layers %d", ri->name, ri->title,
           r->data, d->train.n, d->val.n, d->test.n, c->inputs);
    for (int i = 0; i < c->n_hidden; i++) printf("-%d", c->hidden[i]);
    printf("%s%d %s; %zu parameters\n", ri->output_layer ? "-" : " heads ", c->outputs,
           bpfree_act_name(c->act), bpfree_model_param_count(m));
    printf("bpfree: %s lr %g, %s schedule, batch %d, %d epochs%s, seed %llu\n",
           bpfree_optim_name(c->optim.kind), (double)c->optim.lr, bpfree_sched_name(c->optim.sched),
           c->batch, total, c->greedy_epochs ? " (greedy, per layer)" : "",
           (unsigned long long)c->seed);
}

/* --save: fail now, not after the whole run */
static void probe_save(const char *path) {
    if (!path) return;
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(probe);
    if (fd < 0) die("--save %s: cannot write there: %s", path, strerror(errno));
    close(fd);
    unlink(probe);
}

/* The epochs; returns the training seconds.  --eval-every N: val and test
 * every N epochs and after the last. */
static double run_epochs(const cli_run *r, run_data *d, bpfree_model *m, report *rp,
                         logfile *lg) {
    const int every = r->eval_every;
    const int profile = r->profile || r->profile_shapes;
    bpfree_eval *te = (bpfree_eval *)rp->test, *va = (bpfree_eval *)rp->val;
    bpfree_error e;
    double secs = 0.0;
    for (int ep = 0; ep < rp->total; ep++) {
        bpfree_epoch_stats st;
        if (profile) bpfree_profile_start(ep == 0);
        const bpfree_status trs = bpfree_train_epoch(m, &d->train, &st, &e);
        if (profile) bpfree_profile_stop(NULL);
        if (trs) {
            log_close(lg);
            die_err(&e);
        }
        secs += st.seconds;
        const int evald = every <= 1 || (ep + 1) % every == 0 || ep == rp->total - 1;
        if (evald && d->val.n && bpfree_evaluate(m, &d->val, va, &e)) die_err(&e);
        if (evald && bpfree_evaluate(m, &d->test, te, &e)) die_err(&e);
        report_epoch(rp, lg, &st, evald);
    }
    return secs;
}

int cmd_train(int argc, char **argv) {
    cli_run r = {.rule = bpfree_rule_default(), .data = "mnist", .eval_every = 1};
    cli_parse(argc, argv, 2, &r, NULL);
    if (r.eval_every < 1) die("--eval-every: must be >= 1");
    bpfree_config cfg;
    cli_config(&r, NULL, 10, &cfg); /* a bad rule or option fails before the data loads */
    run_data d = {0};
    prepare_data(&r, &d, &cfg);
    if (r.print_config) { /* the config as the data made it (a regression's loss) */
        cli_print_config(stdout, &r, &cfg);
        bpfree_data_free(&d.train);
        bpfree_data_free(&d.val);
        bpfree_data_free(&d.test);
        return 0;
    }
    bpfree_model *m;
    bpfree_error e;
    if (bpfree_model_new(&cfg, &m, &e)) die_err(&e);
    bpfree_eval ev_test = {0}, ev_val = {0};
    report rp = {m, &ev_test, &ev_val, d.val.n > 0, d.regression, r.quiet,
                 cfg.greedy_epochs > 0 ? cfg.greedy_epochs * cfg.n_hidden : cfg.epochs};
    if (!r.quiet) print_header(&r, &d, m, rp.total);
    probe_save(r.save);
    logfile lg;
    log_open(&lg, r.log);
    const double secs = run_epochs(&r, &d, m, &rp, &lg);
    log_close(&lg);
    report_final(&rp, r.data, secs);
    if (r.profile || r.profile_shapes) report_profile(rp.total, secs, r.profile_shapes);
    if (r.save) {
        if (bpfree_model_save(m, r.save, &e)) die_err(&e);
        printf("saved %s\n", r.save);
    }
    bpfree_model_free(m);
    bpfree_data_free(&d.train);
    bpfree_data_free(&d.val);
    bpfree_data_free(&d.test);
    return 0;
}
