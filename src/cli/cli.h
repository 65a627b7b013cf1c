/* cli.h — what the bpfree command's files share.  The command knows no
 * rule and no setting by name beyond its own run options (data, log, save,
 * ...): settings, presets and rules come from the library's tables. */
#ifndef BPFREE_CLI_H
#define BPFREE_CLI_H

#include "bpfree.h"

#include <stdio.h>

/* Print "bpfree: error: ..." on stderr and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void die_err(const bpfree_error *e) __attribute__((noreturn));

#define CLI_MAX_SETTINGS 512

/* A command line: the run options, and the settings in the order given
 * (a preset stands for its settings, at its place). */
typedef struct cli_run {
    const char *rule;      /* the rule chosen so far: --rule, or a preset's */
    const char *data, *target, *log, *save, *checkpoint, *resume;
    int classify, quiet, profile, profile_shapes, val, eval_every;
    int checkpoint_every, checkpoint_minutes, allow_divergence;
    int n;                 /* settings given */
    const char *name[CLI_MAX_SETTINGS], *value[CLI_MAX_SETTINGS];
} cli_run;

/* Parse argv[first..]: run options into r, settings into r->name/value.
 * Unknown options, missing values and values given to flags are errors;
 * the first argument not starting with -- goes to *positional if asked. */
void cli_parse(int argc, char **argv, int first, cli_run *r, const char **positional);
/* 1 if the setting `name` was given (directly or by a preset). */
int cli_given(const cli_run *r, const char *name);
/* The config of r's rule for the training set (its inputs, image shape,
 * regression or not) and C outputs: the rule's defaults, then every setting
 * given, in order; checked.  Dies with the message.  train NULL: before the
 * data is loaded, only each setting is read and checked (a bad rule, option
 * or value fails before the data loads). */
void cli_config(const cli_run *r, const bpfree_dataset *train, int C, bpfree_config *c);
void cli_usage(FILE *f);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_rules(void);

/* Data sets the way --data names them (the repository's data/ too).  raw:
 * tabular sets are not standardised by the loader (the caller does it with
 * statistics it keeps, or bpfree_data_prepare with a model's). */
void cli_load_data(const cli_run *r, int raw, bpfree_dataset *train, bpfree_dataset *test);
/* 1 if --data names a tabular set (diabetes, breast-cancer, csv:FILE). */
int cli_tabular(const char *data);

#endif /* BPFREE_CLI_H */
