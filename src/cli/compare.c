/* compare.c — `bpfree compare`: every (rule, grid value, seed) as a fresh
 * `bpfree train` process with its own log, up to --jobs at a time; then
 * tables (Markdown, CSV) of mean ± std over the seeds, and plots drawn by
 * gnuplot from scripts/compare.gp.
 *
 *   bpfree compare --rules bp,dfa,mf --seeds 1,2,3 [--jobs N] [--out DIR]
 *                  [any train option; a comma list of values is a grid]
 *
 * DIR/runs/NAME.{jsonl,out} per run.  Everything is read from the JSONL
 * log alone: a run whose log header holds the same command line ("argv")
 * and whose log ends in its "final" object is complete and is not run
 * again, so an interrupted comparison resumes; the numbers come from the
 * epoch objects and the final one (seconds per epoch, peak memory).  The
 * .out (the run's screen output) is for people. */
#include "compare.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --------------------------------------------------------------- parsing */

static int split(char *s, const char **out, int cap) {
    int n = 0;
    for (char *p = strtok(s, ","); p; p = strtok(NULL, ","))
        if (n < cap) out[n++] = p;
    return n;
}

/* 1 if value is one valid value of the setting for some rule of the
 * comparison; used to tell a grid ("1e-4,1e-3") from a list value
 * ("1000,1000" for layers, "alignment,variance"). */
static int valid_value(const compare *c, const char *name, const char *value) {
    for (int i = 0; i < c->n_rules; i++) {
        bpfree_config cfg;
        if (bpfree_config_default(&cfg, c->rules[i], 784, 10, NULL)) continue;
        if (bpfree_config_set(&cfg, name, value, NULL) == BPFREE_OK) return 1;
    }
    return 0;
}

static void add_opt(compare *c, const char *name, const char *value) {
    static const char *refused[] = {"rule", "seed", "log", "save", "print-config", NULL};
    for (int k = 0; refused[k]; k++)
        if (!strcmp(name, refused[k]))
            die("compare: --%s is set by compare itself (--rules, --seeds; logs go to --out)",
                name);
    if (c->n_opts >= MAX_ARGS) die("compare: too many options");
    opt_kv *o = &c->opts[c->n_opts++];
    o->name = name;
    o->value = value;
    o->n_grid = 0;
}

/* after --rules is known: is o a grid? */
static void detect_grid(const compare *c, opt_kv *o) {
    const char *name = o->name, *value = o->value;
    if (!value || !strchr(value, ',') || !bpfree_setting_find(name)) return;
    if (valid_value(c, name, value)) return;
    char *copy = strdup(value);
    if (!copy) die("out of memory");
    const char *parts[MAX_LIST];
    const int n = split(copy, parts, MAX_LIST);
    for (int k = 0; k < n; k++)
        if (!valid_value(c, name, parts[k])) {
            free(copy);
            return; /* not a grid: train will say what is wrong */
        }
    for (int k = 0; k < n; k++) o->grid[k] = (char *)parts[k];
    o->n_grid = n;
}

static void parse(compare *c, int argc, char **argv) {
    c->jobs = 1;
    c->out = "compare-out";
    char *rules = NULL, *seeds = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2)) die("compare: unexpected argument '%s'", a);
        char name[128];
        const char *eq = strchr(a + 2, '='), *val = NULL;
        snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - a - 2 : (long)strlen(a + 2)), a + 2);
        const int own = !strcmp(name, "rules") || !strcmp(name, "seeds") ||
                        !strcmp(name, "jobs") || !strcmp(name, "out");
        const int arity = own ? 1 : cli_option_arity(name);
        if (arity < 0) die("compare: unknown option '--%s' (see bpfree --help)", name);
        if (arity) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else die("compare: --%s needs a value", name);
        } else if (eq) die("compare: --%s takes no value", name);
        if (!strcmp(name, "rules")) rules = strdup(val);
        else if (!strcmp(name, "seeds")) seeds = strdup(val);
        else if (!strcmp(name, "jobs")) c->jobs = atoi(val);
        else if (!strcmp(name, "out")) c->out = val;
        else add_opt(c, strdup(name), val);
    }
    if (!rules) die("compare: --rules R1,R2,... is needed");
    c->n_rules = split(rules, c->rules, MAX_LIST);
    for (int i = 0; i < c->n_rules; i++)
        if (!bpfree_rule_find(c->rules[i])) die("compare: unknown rule '%s'", c->rules[i]);
    c->n_seeds = seeds ? split(seeds, c->seeds, MAX_LIST) : 0;
    if (!c->n_seeds) c->seeds[c->n_seeds++] = "1";
    for (int i = 0; i < c->n_seeds; i++) {
        char *end;
        strtoull(c->seeds[i], &end, 10);
        if (!*c->seeds[i] || *end) die("compare: --seeds: '%s' is not a number", c->seeds[i]);
    }
    if (c->jobs < 1 || c->jobs > 64) die("compare: --jobs must be 1..64");
    for (int k = 0; k < c->n_opts; k++) detect_grid(c, &c->opts[k]);
    /* grid options are re-parsed for every rule; the grids' order is kept */
    c->n_points = 1;
    for (int k = 0; k < c->n_opts; k++)
        if (c->opts[k].n_grid) {
            c->n_points *= c->opts[k].n_grid;
            c->has_grid = 1;
        }
    if (c->n_points > 4096) die("compare: the grid has %d points", c->n_points);
}

/* ------------------------------------------------------------------ main */

int cmd_compare(int argc, char **argv) {
    static compare c; /* static: what it points to stays reachable until exit (LeakSanitizer) */
    c.argv0 = argv[0];
    parse(&c, argc, argv);
    const ssize_t n = readlink("/proc/self/exe", c.exe, sizeof c.exe - 1);
    if (n <= 0) die("compare: cannot find the bpfree binary (/proc/self/exe)");
    c.exe[n] = '\0';
    compare_plan(&c);
    const int failed = compare_run_all(&c);
    if (failed) die("compare: %d of %d runs failed; rerun the same command to retry them", failed,
                    c.n_runs);
    for (int i = 0; i < c.n_runs; i++) compare_read_run(&c, &c.runs[i]);
    compare_report(&c);
    char p[PATH_MAX]; /* the summary on the screen */
    snprintf(p, sizeof p, "%s/summary.md", c.out);
    char *md = compare_slurp(p);
    if (md) fputs(md, stdout);
    free(md);
    for (int i = 0; i < c.n_runs; i++) {
        free(c.runs[i].test_curve);
        free(c.runs[i].val_curve);
        free(c.runs[i].align);
        for (int a = 0; a < c.runs[i].argc; a++) free(c.runs[i].argv[a]);
    }
    free(c.runs);
    return 0;
}
