/* options.c — the command line: the run options of this command (where the
 * data comes from, where results go) and every setting of the library's
 * settings table, parsed and applied in order, from the command line and
 * from `--config FILE` (its format: config.c).  --help: usage.c. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ run options */

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

static void set_run(cli_run *r, const cli_run_opt *o, const char *val);

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
        const cli_run_opt *ro = cli_run_opt_find(p->kv[i], strlen(p->kv[i]));
        if (ro) set_run(r, ro, p->kv[i + 1]);
        else add_setting(r, p->kv[i], p->kv[i + 1]);
    }
}

static void set_run(cli_run *r, const cli_run_opt *o, const char *val) {
    if (!strcmp(o->name, "preset")) return apply_preset(r, val);
    if (!strcmp(o->name, "config")) return; /* read before the command line (cli_parse) */
    char *p = (char *)r + o->off;
    if (o->kind == CLI_R_STR) *(const char **)p = val;
    else if (o->kind == CLI_R_INT) *(int *)p = (int)parse_int(o->name, val);
    else *(int *)p = 1;
}

int cli_option_arity(const char *name) {
    const cli_run_opt *o = cli_run_opt_find(name, strlen(name));
    const bpfree_setting *s = o ? NULL : find_setting(name, strlen(name));
    if (!o && !s) return -1;
    return o ? o->kind != CLI_R_FLAG : s->arg != NULL;
}

/* One "name value" of a run option (not a setting) into r; 0 if `name` is
 * no run option.  For config files (the command line parses its own). */
static int set_run_option(cli_run *r, const char *name, const char *value) {
    const cli_run_opt *o = cli_run_opt_find(name, strlen(name));
    if (!o || !strcmp(name, "config")) return 0;
    if (o->kind == CLI_R_FLAG && strcmp(value, "1") && strcmp(value, "0"))
        die("%s: takes 1 or 0, not '%s'", name, value);
    if (o->kind == CLI_R_FLAG && !strcmp(value, "0")) *(int *)((char *)r + o->off) = 0;
    else set_run(r, o, value);
    return 1;
}

/* ------------------------------------------------------ config files */

/* The files' text lives as long as the process: r->name/value point into it. */
#define MAX_FILES 16
static char *texts[MAX_FILES];
static int n_texts;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("--config %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b) die("out of memory");
    for (size_t k; (k = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            if (cap > ((size_t)1 << 24)) die("--config %s: larger than 16 MiB", path);
            char *nb = realloc(b, cap *= 2);
            if (!nb) die("out of memory");
            b = nb;
        }
    }
    const int bad = ferror(f);
    fclose(f);
    if (bad) die("--config %s: read error", path);
    b[n] = '\0';
    if (memchr(b, '\0', n)) die("--config %s: not a text file (a NUL byte)", path);
    return b;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

void cli_read_config(const char *path, cli_run *r) {
    if (n_texts >= MAX_FILES) die("--config: more than %d files", MAX_FILES);
    char *text = texts[n_texts++] = slurp(path);
    const char *seen[CLI_MAX_SETTINGS];
    int n_seen = 0, lineno = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        line = trim(line);
        if (!*line) continue;
        char *eq = strchr(line, '=');
        if (!eq) die("%s:%d: '%s' is not 'key = value'", path, lineno, line);
        *eq = '\0';
        const char *key = trim(line), *val = trim(eq + 1);
        if (!*key) die("%s:%d: a line without a key", path, lineno);
        if (!strcmp(key, "bpfree") || !strcmp(key, "epochs_done") || !strncmp(key, "data_", 5))
            continue; /* model header: version, epochs, the data record beyond its name */
        const bpfree_setting *s = bpfree_setting_find(key);
        const char *name = s ? s->name : key;
        for (int i = 0; i < n_seen; i++)
            if (!strcmp(seen[i], name)) die("%s:%d: '%s' is given twice", path, lineno, key);
        if (n_seen < CLI_MAX_SETTINGS) seen[n_seen++] = name;
        if (s) {
            if (!bpfree_setting_internal(s)) add_setting(r, s->name, val);
            continue;
        }
        if (!strcmp(key, "preset") || !strcmp(key, "print-config"))
            die("%s:%d: '%s' belongs on the command line", path, lineno, key);
        if (!strcmp(key, "log") || !strcmp(key, "save"))
            die("%s:%d: '%s' names an output: give it on the command line", path, lineno, key);
        if (!set_run_option(r, key, val))
            die("%s:%d: unknown key '%s' (a setting of `bpfree --help`, its model-file key, or a "
                "run option)", path, lineno, key);
    }
}

/* ------------------------------------------------------ the command line */

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
        const cli_run_opt *ro = cli_run_opt_find(name, len);
        const bpfree_setting *s = ro ? NULL : find_setting(name, len);
        if (!ro && !s) die("unknown option '%.*s' (see bpfree --help)", (int)(len + 2), a);
        const int flag = ro ? ro->kind == CLI_R_FLAG : s->arg == NULL;
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
