/* compare.h — what the files of `bpfree compare` share (compare.c: the
 * command line and the command; compare_run.c: running, resuming and
 * reading the runs; compare_report.c: the tables and plots). */
#ifndef BPFREE_CLI_COMPARE_H
#define BPFREE_CLI_COMPARE_H

#include "cli.h"

#include <limits.h>

#define MAX_LIST 64
#define MAX_ARGS 256

typedef struct opt_kv {
    const char *name, *value; /* value NULL: a flag */
    int n_grid;               /* > 0: a grid of n_grid values */
    char *grid[MAX_LIST];
} opt_kv;

typedef struct run {
    const char *rule;
    int point;              /* grid point */
    const char *seed;
    char name[640], group[640];
    char *argv[MAX_ARGS];
    int argc;
    char cmd[8192];         /* the command, shell-quoted */
    /* results */
    int done, n_ep;
    double final_test, best_test, final_val, s_per_epoch, peak_mib;
    int best_epoch, has_val, regression;
    char cpu[128];          /* "NAME (family F, model M)" from the log header; "" if absent */
    double *test_curve, *val_curve; /* per epoch, NAN where not evaluated */
    int n_align;
    double *align;          /* n_ep x BPFREE_MAX_LAYERS */
} run;

typedef struct compare {
    const char *rules[MAX_LIST], *seeds[MAX_LIST];
    int n_rules, n_seeds, jobs;
    const char *out;
    opt_kv opts[MAX_ARGS];
    int n_opts, n_points, has_grid;
    run *runs;
    int n_runs;
    char exe[PATH_MAX];
    const char *argv0;
} compare;

/* compare_run.c */
/* The runs: every rule x grid point x seed, seeds innermost; makes --out
 * and --out/runs. */
void compare_plan(compare *c);
/* Every incomplete run, up to c->jobs at a time; returns the failures. */
int compare_run_all(compare *c);
/* A run's numbers from its JSONL log alone. */
void compare_read_run(const compare *c, run *r);
/* The whole file, NUL-terminated; NULL if it cannot be read. */
char *compare_slurp(const char *path);

/* compare_report.c */
/* The tables (summary.md, summary.csv, runs.csv) and plots of the runs
 * once read: mean ± std over the seeds, per (rule, grid point). */
void compare_report(const compare *c);

#endif /* BPFREE_CLI_COMPARE_H */
