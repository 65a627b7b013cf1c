/* cli.h — what the bpfree command's files share.  The command knows no
 * rule and no setting by name beyond its own run options (data, log, save,
 * ...): settings, presets and rules come from the library's tables. */
#ifndef BPFREE_CLI_H
#define BPFREE_CLI_H

#include "bpfree.h"

#include <stdio.h>

/* Print "bpfree: error: ..." on stderr and exit(1) (files.c). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void die_err(const bpfree_error *e) __attribute__((noreturn));

#define CLI_MAX_SETTINGS 512

/* A command line: the run options, and the settings in the order given
 * (a preset stands for its settings, at its place). */
typedef struct cli_run {
    const char *rule;      /* the rule chosen so far: --rule, or a preset's */
    const char *data, *target, *log, *save, *checkpoint, *resume;
    const char *dist;      /* --dist data|layers: data- or layer-parallel (bpfree-mpi only) */
    int classify, quiet, profile, profile_shapes, val, eval_every;
    int checkpoint_every, checkpoint_minutes, allow_divergence;
    int print_config;      /* --print-config: write the resolved configuration and stop */
    int input_repeat;      /* --input-repeat K: every sample's inputs K times (0: once) */
    int input_pad;         /* --input-pad P: zero pixels around every image (0: none) */
    int n;                 /* settings given */
    const char *name[CLI_MAX_SETTINGS], *value[CLI_MAX_SETTINGS];
} cli_run;

/* runopts.c: a run option — its name, argument (NULL: a flag), help,
 * default as shown (NULL: the rule's), kind and field of cli_run */
typedef enum { CLI_R_STR, CLI_R_INT, CLI_R_FLAG } cli_run_kind;
typedef struct cli_run_opt {
    const char *name, *arg, *help, *dflt;
    cli_run_kind kind;
    size_t off;
} cli_run_opt;
/* the run option named by name[0..len), or NULL */
const cli_run_opt *cli_run_opt_find(const char *name, size_t len);
/* the i-th, or NULL past the last */
const cli_run_opt *cli_run_opt_at(int i);

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
/* --config FILE (cli_parse reads every one first).  A config file is
 * "key = value" lines — the model file's header format: every setting by
 * its option name or model-file key, the run options (rule, data, val, ...)
 * by their names, '#' comments.  Its entries go into r before the command
 * line's, so the command line overrides them. */
void cli_read_config(const char *path, cli_run *r);
/* 1 if option --name takes a value, 0 if it is a flag, -1 if unknown. */
int cli_option_arity(const char *name);

/* usage.c: --help, and the man page (troff) from the same tables */
void cli_usage(FILE *f);
void cli_man(FILE *f);

/* config.c: --print-config, `bpfree presets` */
/* Write c (and r's data run options) as a config file to f. */
void cli_print_config(FILE *f, const cli_run *r, const bpfree_config *c);
int cmd_presets(int argc, char **argv);
/* s as a JSON string (quotes, backslashes and control characters escaped) */
void cli_json_str(FILE *f, const char *s);
/* argv[0..argc) as a JSON array of strings */
void cli_json_argv(FILE *f, int argc, const char *const *argv);
/* The text of presets/NAME.conf: the preset's description, rule and settings. */
void cli_write_preset(FILE *f, const bpfree_preset *p);

/* Training over several processes: bpfree-mpi (src/dist/mpi.c) sets this
 * before cli_main; NULL in bpfree, which has no MPI.  attach gives a model
 * the communicator (bpfree_model_set_dist). */
typedef struct cli_dist {
    int rank, size;
    bpfree_status (*attach)(bpfree_model *m, int layers, bpfree_error *err); /* 1: --dist layers */
} cli_dist;
extern const cli_dist *cli_dist_hooks;
/* The bpfree command (main.c); main() is src/cli/entry.c's or bpfree-mpi's. */
int cli_main(int argc, char **argv);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_rules(void);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_predict(int argc, char **argv);

/* Data sets the way --data names them (the repository's data/ too).  raw:
 * tabular sets are not standardised by the loader (the caller does it with
 * statistics it keeps, or bpfree_data_prepare with a model's). */
void cli_load_data(const cli_run *r, int raw, bpfree_dataset *train, bpfree_dataset *test);
/* 1 if --data names a tabular set (diabetes, breast-cancer, csv:FILE). */
int cli_tabular(const char *data);
/* files.c: mkstemp, with an ordinary new file's mode (0666 less the umask)
 * instead of 0600 */
int cli_mkstemp(char *tmp);

#endif /* BPFREE_CLI_H */
