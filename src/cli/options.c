/* options.c — the command line: the run options of this command (where the
 * data comes from, where results go) and every setting of the library's
 * settings table, parsed, applied in order, and documented by --help. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bpfree: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void die_err(const bpfree_error *e) { die("%s", e->msg); }

/* ------------------------------------------------------ run options */

typedef enum { R_STR, R_INT, R_FLAG } run_kind;

typedef struct run_opt {
    const char *name, *arg, *help, *dflt;
    run_kind kind;
    size_t off;
} run_opt;

#define R(f) offsetof(cli_run, f)
static const run_opt RUN_OPTS[] = {
    {"rule", "NAME", "learning rule (see `bpfree rules`)", NULL, R_STR, R(rule)},
    {"preset", "NAME", "a paper's whole setup (see below); options after it override it", "none",
     R_STR, 0},
    {"config", "FILE", "read settings and run options from FILE (key = value lines, e.g. "
     "presets/hinton.conf); the command line overrides it", "none", R_STR, 0},
    {"print-config", NULL, "write the resolved configuration in the --config format and stop",
     "off", R_FLAG, R(print_config)},
    {"data", "NAME|DIR", "mnist, fashion-mnist, cifar10, cifar100[:coarse], diabetes, "
     "breast-cancer, csv:FILE, or a directory with the 4 IDX files or the CIFAR .bin files",
     "mnist", R_STR, R(data)},
    {"target", "COLS", "csv: target column(s), names or 0-based indices", "last column", R_STR,
     R(target)},
    {"classify", NULL, "csv: the target is a class label (else regression)", "off", R_FLAG,
     R(classify)},
    {"val", "N", "hold N training samples out for validation", "0", R_INT, R(val)},
    {"input-repeat", "K", "every sample's inputs K times in a row (as K x the channels), "
     "recorded with the model (Bacho & Chu 2024 Fig. 6a's duplicated pixels)", "1", R_INT,
     R(input_repeat)},
    {"input-pad", "P", "frame every image with P zero pixels on each side, recorded with the model "
     "(2: MNIST as the 32 x 32 inputs Gong et al. 2025's CNN is written for)", "0", R_INT,
     R(input_pad)},
    {"eval-every", "N", "evaluate (val, test) every N epochs and after the last", "1", R_INT,
     R(eval_every)},
    {"log", "FILE", "live JSONL log: a header object (version, commit, command line, configuration, "
     "data and its checksum), one object per epoch, flushed as written, and a final object "
     "(s/epoch, peak memory, scores); - = stdout (the screen lines then go to stderr)", "none", R_STR, R(log)},
    {"save", "FILE", "save the trained model (also when stopped by Ctrl-C)", "none", R_STR, R(save)},
    {"checkpoint", "FILE", "write a checkpoint (everything needed to continue exactly) every "
     "--checkpoint-every epochs, on Ctrl-C, and at the end", "none", R_STR, R(checkpoint)},
    {"checkpoint-every", "N", "with --checkpoint: every N epochs", "1", R_INT, R(checkpoint_every)},
    {"checkpoint-minutes", "M", "with --checkpoint: also every M minutes, between two batches "
     "(0 = off)", "0", R_INT, R(checkpoint_minutes)},
    {"resume", "FILE", "continue the run a checkpoint holds, with its settings and data "
     "(run options given here override its own)", "none", R_STR, R(resume)},
    {"dist", "MODE", "data: data-parallel training over the ranks of `mpirun -np N bpfree-mpi "
     "train ...` (global batch = --batch, split over the ranks); layers: layer-parallel, each "
     "rank a block of layers, for update-unlocked rules; bpfree-mpi only", "none", R_STR,
     R(dist)},
    {"allow-divergence", NULL, "do not stop when the loss grows 1e6-fold or the accuracy falls "
     "back to chance", "off", R_FLAG, R(allow_divergence)},
    {"quiet", NULL, "print only the final result", "off", R_FLAG, R(quiet)},
    {"profile", NULL,
     "time the matrix products of training and replay them alone; prints a 'profile:' line",
     "off", R_FLAG, R(profile)},
    {"profile-shapes", NULL,
     "with --profile: also one 'profile-shape:' line per product shape, most time first",
     "off", R_FLAG, R(profile_shapes)},
};
#define N_RUN ((int)(sizeof RUN_OPTS / sizeof *RUN_OPTS))

static const run_opt *find_run(const char *name, size_t len) {
    for (int i = 0; i < N_RUN; i++)
        if (strlen(RUN_OPTS[i].name) == len && !strncmp(RUN_OPTS[i].name, name, len))
            return &RUN_OPTS[i];
    return NULL;
}

/* A setting by its option name (not its model-file key); NULL if none. */
static const bpfree_setting *find_setting(const char *name, size_t len) {
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        if (strlen(s->name) == len && !strncmp(s->name, name, len) && !bpfree_setting_internal(s))
            return s;
    }
    return NULL;
}

static long parse_int(const char *opt, const char *v) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < 0 || x > 1000000000 || errno)
        die("--%s: '%s' is not a whole number >= 0", opt, v);
    return x;
}

static void add_setting(cli_run *r, const char *name, const char *value) {
    if (r->n >= CLI_MAX_SETTINGS) die("too many options");
    r->name[r->n] = name;
    r->value[r->n++] = value;
}

static void set_run(cli_run *r, const run_opt *o, const char *val);

/* A preset is the settings it stands for, at its place on the command line;
 * it keeps a rule chosen before it that takes all of them. */
static void apply_preset(cli_run *r, const char *name) {
    const bpfree_preset *p = bpfree_preset_find(name);
    if (!p) {
        char known[256] = "";
        for (int i = 0; bpfree_preset_at(i); i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     bpfree_preset_at(i)->name);
        die("--preset: unknown preset '%s' (known: %s)", name, known);
    }
    r->rule = bpfree_preset_rule(p, r->rule);
    for (int i = 0; p->kv[i]; i += 2) {
        const run_opt *ro = find_run(p->kv[i], strlen(p->kv[i]));
        if (ro) set_run(r, ro, p->kv[i + 1]);
        else add_setting(r, p->kv[i], p->kv[i + 1]);
    }
}

static void set_run(cli_run *r, const run_opt *o, const char *val) {
    if (!strcmp(o->name, "preset")) return apply_preset(r, val);
    if (!strcmp(o->name, "config")) return; /* read before the command line (cli_parse) */
    char *p = (char *)r + o->off;
    if (o->kind == R_STR) *(const char **)p = val;
    else if (o->kind == R_INT) *(int *)p = (int)parse_int(o->name, val);
    else *(int *)p = 1;
}

int cli_option_arity(const char *name) {
    const run_opt *o = find_run(name, strlen(name));
    const bpfree_setting *s = o ? NULL : find_setting(name, strlen(name));
    if (!o && !s) return -1;
    return o ? o->kind != R_FLAG : s->arg != NULL;
}

int cli_set_run_option(cli_run *r, const char *name, const char *value) {
    const run_opt *o = find_run(name, strlen(name));
    if (!o || !strcmp(name, "config")) return 0;
    if (o->kind == R_FLAG && strcmp(value, "1") && strcmp(value, "0"))
        die("%s: takes 1 or 0, not '%s'", name, value);
    if (o->kind == R_FLAG && !strcmp(value, "0")) *(int *)((char *)r + o->off) = 0;
    else set_run(r, o, value);
    return 1;
}

void cli_add_setting(cli_run *r, const char *name, const char *value) {
    add_setting(r, name, value);
}

/* --config FILE, wherever it stands, goes first: the command line overrides it. */
static void read_configs(int argc, char **argv, int first, cli_run *r) {
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cli_read_config(argv[++i], r);
        else if (!strncmp(argv[i], "--config=", 9)) cli_read_config(argv[i] + 9, r);
    }
}

void cli_parse(int argc, char **argv, int first, cli_run *r, const char **positional) {
    read_configs(argc, argv, first, r);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            if (positional && !*positional) {
                *positional = a;
                continue;
            }
            die("unexpected argument '%s' (options start with --; see bpfree --help)", a);
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        const size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const run_opt *ro = find_run(name, len);
        const bpfree_setting *s = ro ? NULL : find_setting(name, len);
        if (!ro && !s) die("unknown option '%.*s' (see bpfree --help)", (int)(len + 2), a);
        const int flag = ro ? ro->kind == R_FLAG : s->arg == NULL;
        const char *val = "1";
        if (flag && eq) die("--%.*s takes no value", (int)len, name);
        if (!flag) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else die("--%.*s needs a value (%s)", (int)len, name, ro ? ro->arg : s->arg);
        }
        if (ro) set_run(r, ro, val);
        else add_setting(r, s->name, val);
    }
}

int cli_given(const cli_run *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->name[i], name)) return 1;
    return 0;
}

static void die_unknown_rule(const char *rule) {
    char known[512] = "";
    for (int i = 0; i < bpfree_rule_count(); i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 bpfree_rule_at(i)->name);
    die("--rule: unknown rule '%s' (known: %s)", rule, known);
}

void cli_config(const cli_run *r, const bpfree_dataset *train, int C, bpfree_config *c) {
    bpfree_error e;
    if (!bpfree_rule_find(r->rule)) die_unknown_rule(r->rule);
    const int regression = train && train->y;
    if (bpfree_config_default(c, r->rule, train ? train->dim : 784, C, &e)) die_err(&e);
    if (train) { /* the image shape first: --arch reads it */
        c->in_channels = train->channels;
        c->in_height = train->height;
        c->in_width = train->width;
    }
    const bpfree_optim_kind kind0 = c->optim.kind;
    for (int i = 0; i < r->n; i++)
        if (bpfree_config_set(c, r->name[i], r->value[i], &e)) die_err(&e);
    /* another optimizer without --lr: that optimizer's usual rate */
    if (c->optim.kind != kind0 && !cli_given(r, "lr"))
        c->optim.lr = c->optim.kind == BPFREE_OPTIM_SGD ? 0.05f : 1e-3f;
    if (regression && !cli_given(r, "loss")) c->loss = BPFREE_LOSS_MSE; /* linear output + MSE */
    if (train && bpfree_config_check(c, &e)) die_err(&e);
}

/* ------------------------------------------------------------- help */

/* "(rule)" when some rule's defaults differ from the table's */
static const char *shown_default(const bpfree_setting *s) {
    char t[512], v[512];
    for (int i = 0; i < bpfree_rule_count(); i++) {
        bpfree_config c;
        const char *rule = bpfree_rule_at(i)->name;
        if (!bpfree_setting_applies(s, rule) || bpfree_config_default(&c, rule, 784, 10, NULL))
            continue;
        bpfree_config_get(&c, s->name, v, sizeof v);
        bpfree_config t0 = c;
        bpfree_config_set(&t0, s->name, s->dflt, NULL);
        bpfree_config_get(&t0, s->name, t, sizeof t);
        if (strcmp(t, v) != 0) return "(rule)";
    }
    return s->dflt;
}

/* "ff, cff-fixed: " for a setting that only some rules use */
static void users(const bpfree_setting *s, char *b, size_t cap) {
    int n = 0, all = 1;
    b[0] = '\0';
    for (int i = 0; i < bpfree_rule_count(); i++) {
        const char *rule = bpfree_rule_at(i)->name;
        if (!bpfree_setting_applies(s, rule)) {
            all = 0;
            continue;
        }
        snprintf(b + strlen(b), cap - strlen(b), "%s%s", n++ ? ", " : "", rule);
    }
    if (all) b[0] = '\0';
    else snprintf(b + strlen(b), cap - strlen(b), ": ");
}

static int man_mode; /* cli_man: the same lines as troff */

/* troff text: a leading '.' or '\'' and every '\\' escaped */
static void man_text(FILE *f, const char *s) {
    if (*s == '.' || *s == '\'') fputs("\\&", f);
    for (; *s; s++) fputs(*s == '\\' ? "\\e" : *s == '-' ? "\\-" : (char[2]){*s, 0}, f);
}

static void option_line(FILE *f, const char *name, const char *arg, const char *pre,
                        const char *help, const char *dflt) {
    if (man_mode) {
        fprintf(f, ".TP\n.B \\-\\-");
        man_text(f, name);
        if (arg) fprintf(f, " \\fI%s\\fR", arg);
        fputc('\n', f);
        man_text(f, pre);
        man_text(f, help);
        fprintf(f, " [");
        man_text(f, dflt);
        fprintf(f, "]\n");
        return;
    }
    char lhs[48];
    snprintf(lhs, sizeof lhs, "--%s%s%s", name, arg ? " " : "", arg ? arg : "");
    fprintf(f, "  %-24s %s%s [%s]\n", lhs, pre, help, dflt);
}

static void rule_defaults(FILE *f) {
    fprintf(f, "\nrule defaults (any option given overrides them):\n");
    for (int i = 0; i < bpfree_rule_count(); i++) {
        const char *rule = bpfree_rule_at(i)->name;
        bpfree_config c;
        if (bpfree_config_default(&c, rule, 784, 10, NULL)) continue;
        fprintf(f, "  %-12s", rule);
        for (int k = 0; k < bpfree_setting_count(); k++) {
            const bpfree_setting *s = bpfree_setting_at(k);
            char v[512];
            if (bpfree_setting_internal(s) || !bpfree_setting_applies(s, rule)) continue;
            char t[512];
            bpfree_config t0 = c; /* the table's default in the same text form */
            bpfree_config_set(&t0, s->name, s->dflt, NULL);
            bpfree_config_get(&t0, s->name, t, sizeof t);
            bpfree_config_get(&c, s->name, v, sizeof v);
            if (s->headline || strcmp(v, t) != 0) fprintf(f, " --%s %s", s->name, v);
        }
        fputc('\n', f);
    }
}

static void settings_lines(FILE *f) {
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        if (bpfree_setting_internal(s)) continue;
        char pre[256];
        users(s, pre, sizeof pre);
        const char *d = shown_default(s);
        if (!s->arg) d = strcmp(d, "0") ? "on" : "off"; /* a flag */
        option_line(f, s->name, s->arg, pre, s->help, d);
    }
}

/* the run options' lines (--help and the man page) */
static void run_option_lines(FILE *f) {
    for (int i = 0; i < N_RUN; i++)
        option_line(f, RUN_OPTS[i].name, RUN_OPTS[i].arg, "", RUN_OPTS[i].help,
                    RUN_OPTS[i].dflt ? RUN_OPTS[i].dflt : bpfree_rule_default());
}

void cli_man(FILE *f) {
    man_mode = 1;
    fprintf(f, ".\\\" generated by `bpfree man` from the settings table; do not edit\n"
               ".TH BPFREE 1 \"\" \"bpfree %s\" \"User Commands\"\n"
               ".SH NAME\nbpfree \\- train neural networks with and without backpropagation\n"
               ".SH SYNOPSIS\n.nf\n"
               "bpfree train [options]\nbpfree eval MODEL [\\-\\-data D]\nbpfree rules\n"
               "bpfree compare \\-\\-rules R1,R2 \\-\\-seeds 1,2,3 [\\-\\-jobs N] "
               "[\\-\\-out DIR] [options]\n"
               "bpfree predict MODEL [\\-\\-data D] \\-\\-out FILE.csv\n"
               "bpfree export MODEL \\-\\-npy DIR\nbpfree presets [NAME]\n.fi\n"
               ".SH DESCRIPTION\nTrains a network with one of the learning rules of the "
               "backprop\\-free literature, or backpropagation, and reports accuracy, time and "
               "memory.\nEvery setting below is one row of the library's settings table; "
               "\\-\\-config FILE reads the same names as \\fIkey = value\\fR lines.\n"
               ".SH RUN OPTIONS\n",
            BPFREE_VERSION);
    run_option_lines(f);
    fprintf(f, ".SH SETTINGS\nDefault in brackets; \\(lq(rule)\\(rq: the rule's own "
               "default (bpfree \\-\\-help lists them).\n");
    settings_lines(f);
    fprintf(f, ".SH PRESETS\n");
    for (int i = 0; bpfree_preset_at(i); i++) {
        const bpfree_preset *p = bpfree_preset_at(i);
        fprintf(f, ".TP\n.B %s\n", p->name);
        man_text(f, p->what);
        fputc('\n', f);
    }
    fprintf(f, ".SH SEE ALSO\nREADME.md of the bpfree sources; bpfree \\-\\-help.\n");
    man_mode = 0;
}

void cli_usage(FILE *f) {
    fprintf(f,
            "bpfree %s — train neural networks with and without backpropagation\n\n"
            "usage: bpfree train [options]          train a model, print per-epoch progress\n"
            "       bpfree eval MODEL [--data D]    evaluate a saved model on a test set\n"
            "       bpfree rules                    list the learning rules and their papers\n"
            "       bpfree compare --rules R1,R2 --seeds 1,2,3 [--jobs N] [--out DIR] [options]\n"
            "                                       every (rule, seed, grid value) as its own run;\n"
            "                                       tables (Markdown, CSV) and plots in DIR\n"
            "       bpfree predict MODEL [--data D] --out FILE.csv   class scores per test sample\n"
            "       bpfree export MODEL --npy DIR   every tensor as .npy, with index.json\n"
            "       bpfree presets [NAME]           list the presets, or print one as a config file\n"
            "       bpfree man                      this help as a man page (troff)\n"
            "       bpfree help | --help | --version\n\n"
            "options of the run:\n",
            BPFREE_VERSION);
    run_option_lines(f);
    fprintf(f, "\nsettings (default in brackets; \"(rule)\": see the rule defaults below; a "
               "setting\nnamed for some rules is refused with the others):\n");
    settings_lines(f);
    rule_defaults(f);
    fprintf(f, "\npresets (applied where they appear; options after a preset override it):\n");
    for (int i = 0; bpfree_preset_at(i); i++) {
        const bpfree_preset *p = bpfree_preset_at(i);
        fprintf(f, "  %s (rule %s): %s\n    =", p->name, p->rule, p->what);
        for (int k = 0; p->kv[k]; k += 2) fprintf(f, " --%s %s", p->kv[k], p->kv[k + 1]);
        fputc('\n', f);
    }
    fprintf(f, "\nexample: bpfree train --rule mf --data mnist --layers 1000,1000 --epochs 20\n");
}
