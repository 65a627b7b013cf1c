/* report.h — what `bpfree train` shares: printing and logging of a
 * training run (report.c, files.c) and the run itself (run.c, train.c). */
#ifndef BPFREE_CLI_REPORT_H
#define BPFREE_CLI_REPORT_H

#include "cli.h"

#include <limits.h>

/* The live JSONL log (files.c): under its final name from the start, every
 * line flushed and checked; `text` keeps everything written (a checkpoint
 * carries it, so a resumed run's log is the uninterrupted run's). */
typedef struct logfile {
    FILE *f;          /* NULL: no log */
    const char *path; /* "-": stdout */
    int to_stdout;
    char *text;
    size_t len, cap;
} logfile;

/* Start the log at path (NULL: none) with `text` (its first lines): they
 * are written to a temporary file that replaces path once on disk, so a
 * full disk never leaves an empty log in place of an older one.  Dies
 * with a message on any failure, as log_line does. */
void log_open(logfile *lg, const char *path, const char *text);
void log_line(logfile *lg, const char *line);
void log_close(logfile *lg);
/* Remove PATH.tmp.PID-* files whose process is gone (a killed run's). */
void cli_clean_stale(const char *path);
/* Die now, with a message, if path is a directory or cannot be written
 * (a 64 KiB probe file, fsync'd, then removed): not after the whole run. */
void cli_probe_output(const char *opt, const char *path);

/* What the reports of a run read. */
typedef struct report {
    const bpfree_model *m;
    const bpfree_eval *test, *val; /* the last evaluation */
    int has_val, regression, quiet, total;
    FILE *screen;                  /* stdout, or stderr when the log goes to stdout */
    int ran;                       /* epochs trained by this process (a resumed run: fewer) */
} report;

/* One epoch's line (unless quiet) and log object; evald: test/val were
 * evaluated after this epoch. */
void report_epoch(const report *rp, logfile *lg, const bpfree_epoch_stats *st, int evald);
/* The "final:" lines on the screen and, with a log, its last object:
 * {"type": "final", epochs, s_per_epoch, peak_model_bytes, test scores}. */
void report_final(const report *rp, logfile *lg, const char *data, double secs);
void report_eval(const bpfree_model *m, const char *path, const char *data,
                 const bpfree_eval *ev, int regression);
/* Stops the profiler and prints its lines (shape lines too if `shapes`). */
void report_profile(int total, double secs, int shapes);

/* ------------------------------------------------------ the run (run.c) */

/* The sets of a run, as loaded and held out. */
typedef struct run_data {
    bpfree_dataset train, val, test;
    int regression, classes;
    uint64_t checksum; /* of the training set as loaded */
} run_data;

/* What a checkpoint's note carries besides the run options: the divergence
 * detector's state. */
typedef struct run_state {
    double first_loss;
    int above_chance, chance_epochs;
} run_state;

/* The progress line and --checkpoint-minutes (run_train sets it up). */
typedef struct progress {
    FILE *o;             /* the terminal, or NULL: no progress line */
    int epoch, total, batch;
    double t0, last;
    int k0, shown;
    /* --checkpoint-minutes: ask for a stop between batches when due */
    double ckpt_every, ckpt_last;
    int ckpt_due;
    double first_loss;   /* the first batch's loss (divergence reference) */
} progress;

typedef struct run_ctx {
    const cli_run *r;
    run_data *d;
    bpfree_model *m;
    report *rp;
    logfile *lg;
    run_state rs;
    progress pg;
    int argc;           /* the command line from "train" on, for the log header */
    char **argv;
} run_ctx;

/* The epochs from where the model stands, with the progress line,
 * checkpoints, divergence checks and Ctrl-C (a stop: the log, a
 * checkpoint, the model, exit 130); returns the training seconds. */
double run_train(run_ctx *x);
/* SIGINT/SIGTERM taken by a thread of their own from now on: call first,
 * before any other thread starts.  Before run_train they end the process. */
void run_take_signals(void);
/* A failure mid-run: logged, then the message; exits. */
void run_failed(run_ctx *x, const bpfree_error *e) __attribute__((noreturn));
/* --resume: the checkpoint's model, and into r its run options where the
 * command line (given) did not give them; r's strings then point into
 * *note, which the caller frees at the end; *log_text <- the log so far. */
bpfree_model *run_resume(const cli_run *given, cli_run *r, run_state *rs,
                         const char **log_text, char **note);

#endif /* BPFREE_CLI_REPORT_H */
