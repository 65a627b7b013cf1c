/* config.c — configuration files: `--config FILE`, `--print-config`, and the
 * presets as files (`bpfree presets NAME` writes presets/NAME.conf).
 *
 * One format, the model file's header: "key=value" lines (spaces around '='
 * allowed, '#' starts a comment).  A key is a setting's option name ("wd")
 * or its model-file key ("weight_decay"), or a run option ("rule", "data",
 * "val").  So the text header of a model file (the bytes after its 16-byte
 * binary prefix) is a config file too: its "bpfree" (version) and
 * "epochs_done" lines and the settings the data decides (inputs, outputs,
 * normalisation statistics) are skipped. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
        if (!strcmp(key, "bpfree") || !strcmp(key, "epochs_done")) continue; /* model header */
        const bpfree_setting *s = bpfree_setting_find(key);
        const char *name = s ? s->name : key;
        for (int i = 0; i < n_seen; i++)
            if (!strcmp(seen[i], name)) die("%s:%d: '%s' is given twice", path, lineno, key);
        if (n_seen < CLI_MAX_SETTINGS) seen[n_seen++] = name;
        if (s) {
            if (!bpfree_setting_internal(s)) cli_add_setting(r, s->name, val);
            continue;
        }
        if (!strcmp(key, "preset") || !strcmp(key, "print-config"))
            die("%s:%d: '%s' belongs on the command line", path, lineno, key);
        if (!strcmp(key, "log") || !strcmp(key, "save"))
            die("%s:%d: '%s' names an output: give it on the command line", path, lineno, key);
        if (!cli_set_run_option(r, key, val))
            die("%s:%d: unknown key '%s' (a setting of `bpfree --help`, its model-file key, or a "
                "run option)", path, lineno, key);
    }
}

void cli_print_config(FILE *f, const cli_run *r, const bpfree_config *c) {
    fprintf(f, "# bpfree %s: the resolved configuration (bpfree train --config FILE reads it;\n"
               "# options on the command line override it)\n",
            BPFREE_VERSION);
    fprintf(f, "rule = %s\ndata = %s\n", c->rule, r->data);
    if (r->target) fprintf(f, "target = %s\n", r->target);
    if (r->classify) fprintf(f, "classify = 1\n");
    if (r->val) fprintf(f, "val = %d\n", r->val);
    if (r->eval_every != 1) fprintf(f, "eval-every = %d\n", r->eval_every);
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        char v[512];
        if (bpfree_setting_internal(s) || !bpfree_setting_applies(s, c->rule)) continue;
        if (bpfree_config_get(c, s->name, v, sizeof v) < 0) die("%s: value too long", s->name);
        fprintf(f, "%s = %s\n", s->name, v);
    }
}

/* "# " + text wrapped at 76 columns */
static void comment(FILE *f, const char *text) {
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 76) {
            n = 76;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) n = 76;
        }
        fprintf(f, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ') p++;
    }
}

void cli_write_preset(FILE *f, const bpfree_preset *p) {
    fprintf(f, "# presets/%s.conf — written by `bpfree presets %s` from the library's preset\n"
               "# table; `bpfree train --config presets/%s.conf` = `--preset %s`.\n",
            p->name, p->name, p->name, p->name);
    comment(f, p->what);
    fprintf(f, "rule = %s\n", p->rule);
    for (int k = 0; p->kv[k]; k += 2) fprintf(f, "%s = %s\n", p->kv[k], p->kv[k + 1]);
}

int cmd_presets(int argc, char **argv) {
    if (argc > 3) die("usage: bpfree presets [NAME]");
    if (argc == 3) {
        const bpfree_preset *p = bpfree_preset_find(argv[2]);
        if (!p) die("presets: unknown preset '%s' (see bpfree presets)", argv[2]);
        cli_write_preset(stdout, p);
        return 0;
    }
    for (int i = 0; bpfree_preset_at(i); i++)
        printf("%-12s rule %-6s %s\n", bpfree_preset_at(i)->name, bpfree_preset_at(i)->rule,
               bpfree_preset_at(i)->what);
    return 0;
}
