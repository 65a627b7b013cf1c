/* report.h — printing and logging of a training run (report.c). */
#ifndef BPFREE_CLI_REPORT_H
#define BPFREE_CLI_REPORT_H

#include "cli.h"

#include <limits.h>

/* A log written to a temporary name and renamed when the run ends. */
typedef struct logfile {
    FILE *f;
    char tmp[PATH_MAX];
    const char *path;
} logfile;

void log_open(logfile *lg, const char *path);
void log_close(logfile *lg);

/* What the reports of a run read. */
typedef struct report {
    const bpfree_model *m;
    const bpfree_eval *test, *val; /* the last evaluation */
    int has_val, regression, quiet, total;
} report;

/* One epoch's line (unless quiet) and log object; evald: test/val were
 * evaluated after this epoch. */
void report_epoch(const report *rp, logfile *lg, const bpfree_epoch_stats *st, int evald);
void report_final(const report *rp, const char *data, double secs);
void report_eval(const bpfree_model *m, const char *path, const char *data,
                 const bpfree_eval *ev, int regression);
/* Stops the profiler and prints its lines (shape lines too if `shapes`). */
void report_profile(int total, double secs, int shapes);

#endif /* BPFREE_CLI_REPORT_H */
