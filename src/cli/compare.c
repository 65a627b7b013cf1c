/* compare.c — `bpfree compare`: every (rule, grid value, seed) as a fresh
 * `bpfree train` process with its own log, up to --jobs at a time; then
 * tables (Markdown, CSV) of mean ± std over the seeds, and plots drawn by
 * gnuplot from scripts/compare.gp.
 *
 *   bpfree compare --rules bp,dfa,mf --seeds 1,2,3 [--jobs N] [--out DIR]
 *                  [any train option; a comma list of values is a grid]
 *
 * DIR/runs/NAME.{cmd,out,jsonl} per run.  A run whose .out ends in its
 * "final:" lines, whose log exists and whose .cmd is the same command is
 * complete and is not run again, so an interrupted comparison resumes.
 * The runs' numbers come from their JSONL logs (lines with an "epoch") and
 * the "final:" lines of their output (seconds per epoch, peak memory). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LIST 64
#define MAX_ARGS 256
#define MAX_EPOCHS 4096

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

/* ------------------------------------------------------------------ runs */

/* grid point p -> the value index of each grid option (last option fastest) */
static int grid_index(const compare *c, int p, int k) {
    int stride = 1;
    for (int j = c->n_opts - 1; j > k; j--)
        if (c->opts[j].n_grid) stride *= c->opts[j].n_grid;
    return (p / stride) % c->opts[k].n_grid;
}

static void quote(char *dst, size_t cap, const char *s) {
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@") ==
                  strlen(s)) {
        snprintf(dst + strlen(dst), cap - strlen(dst), "%s", s);
        return;
    }
    snprintf(dst + strlen(dst), cap - strlen(dst), "'");
    for (; *s; s++)
        snprintf(dst + strlen(dst), cap - strlen(dst), *s == '\'' ? "'\\''" : "%c", *s);
    snprintf(dst + strlen(dst), cap - strlen(dst), "'");
}

static void push(run *r, const char *a) {
    if (r->argc >= MAX_ARGS - 1) die("compare: too many arguments");
    r->argv[r->argc++] = strdup(a);
    r->argv[r->argc] = NULL;
}

static void build_run(compare *c, run *r, const char *rule, int point, const char *seed) {
    r->rule = rule;
    r->point = point;
    r->seed = seed;
    char tag[256] = "", grp[256] = "";
    for (int k = 0; k < c->n_opts; k++) {
        if (!c->opts[k].n_grid) continue;
        const char *v = c->opts[k].grid[grid_index(c, point, k)];
        snprintf(grp + strlen(grp), sizeof grp - strlen(grp), "%s%s=%s", grp[0] ? "," : "",
                 c->opts[k].name, v);
        snprintf(tag + strlen(tag), sizeof tag - strlen(tag), "-%s%s", c->opts[k].name, v);
    }
    for (char *p = tag; *p; p++)
        if (*p == '/' || *p == ' ') *p = '_';
    snprintf(r->name, sizeof r->name, "%s%s-s%s", rule, tag, seed);
    snprintf(r->group, sizeof r->group, "%s%s%s", rule, grp[0] ? "," : "", grp);
    r->argc = 0;
    push(r, c->argv0);
    push(r, "train");
    push(r, "--rule");
    push(r, rule);
    push(r, "--seed");
    push(r, seed);
    for (int k = 0; k < c->n_opts; k++) {
        char o[160];
        snprintf(o, sizeof o, "--%s", c->opts[k].name);
        push(r, o);
        if (c->opts[k].n_grid) push(r, c->opts[k].grid[grid_index(c, point, k)]);
        else if (c->opts[k].value) push(r, c->opts[k].value);
    }
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/runs/%s.jsonl", c->out, r->name);
    push(r, "--log");
    push(r, log);
    r->cmd[0] = '\0';
    for (int i = 0; i < r->argc; i++) {
        if (i) strcat(r->cmd, " ");
        quote(r->cmd, sizeof r->cmd, r->argv[i]);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (size_t k; b && (k = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b) b[n] = '\0';
    return b;
}

static void path_of(const compare *c, const run *r, const char *ext, char *p, size_t cap) {
    snprintf(p, cap, "%s/runs/%s.%s", c->out, r->name, ext);
}

/* complete: the same command, and its output and log (an .out exists only
 * once its run exited with status 0: it is renamed from .out.tmp then) */
static int complete(const compare *c, const run *r) {
    char p[PATH_MAX];
    path_of(c, r, "cmd", p, sizeof p);
    char *cmd = slurp(p);
    const int same = cmd && !strncmp(cmd, r->cmd, strlen(r->cmd)) && cmd[strlen(r->cmd)] == '\n';
    free(cmd);
    if (!same) return 0;
    path_of(c, r, "out", p, sizeof p);
    char *out = slurp(p);
    const int fin = out && strstr(out, "final: ");
    free(out);
    path_of(c, r, "jsonl", p, sizeof p);
    return fin && access(p, R_OK) == 0;
}

static pid_t start(const compare *c, const run *r) {
    char p[PATH_MAX], tmp[PATH_MAX + 8];
    path_of(c, r, "cmd", p, sizeof p);
    FILE *f = fopen(p, "w");
    if (!f || fprintf(f, "%s\n", r->cmd) < 0 || fclose(f)) die("compare: cannot write %s", p);
    path_of(c, r, "out", p, sizeof p);
    unlink(p);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) die("compare: fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *o = freopen(tmp, "w", stdout);
        if (!o || dup2(fileno(stdout), 2) < 0) _exit(126);
        execv(c->exe, r->argv);
        fprintf(stderr, "bpfree: error: compare: exec %s: %s\n", c->exe, strerror(errno));
        _exit(127);
    }
    return pid;
}

static void finish(const compare *c, const run *r, int status, int *failed) {
    char p[PATH_MAX], tmp[PATH_MAX + 8];
    path_of(c, r, "out", p, sizeof p);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    if (status == 0 && rename(tmp, p) == 0) {
        printf("compare: done %s\n", r->name);
        return;
    }
    (*failed)++;
    char *text = slurp(tmp);
    const char *err = text ? strstr(text, "bpfree: error:") : NULL;
    fprintf(stderr, "compare: %s failed (status %d)%s%.*s; its output: %s\n", r->name, status,
            err ? ": " : "", err ? (int)strcspn(err, "\n") : 0, err ? err : "", tmp);
    free(text);
}

/* Every incomplete run, up to c->jobs at a time; returns the failures. */
static int run_all(compare *c) {
    pid_t pids[64];
    int which[64], busy = 0, failed = 0, skipped = 0, todo = 0;
    for (int i = 0; i < c->n_runs; i++) todo += !(c->runs[i].done = complete(c, &c->runs[i]));
    skipped = c->n_runs - todo;
    printf("compare: %d runs (%d rules x %d settings x %d seeds), %d already complete, %d to run, "
           "%d at a time; outputs in %s/runs/\n",
           c->n_runs, c->n_rules, c->n_points, c->n_seeds, skipped, todo, c->jobs, c->out);
    for (int i = 0; i <= c->n_runs; i++) {
        while (busy && (busy == c->jobs || i == c->n_runs)) {
            int ws;
            const pid_t pid = wait(&ws);
            if (pid < 0) die("compare: wait: %s", strerror(errno));
            for (int k = 0; k < busy; k++) {
                if (pids[k] != pid) continue;
                const int st = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
                finish(c, &c->runs[which[k]], st, &failed);
                pids[k] = pids[busy - 1];
                which[k] = which[--busy];
                break;
            }
        }
        if (i == c->n_runs) break;
        if (c->runs[i].done) continue;
        printf("compare: start %s: %s\n", c->runs[i].name, c->runs[i].cmd);
        pids[busy] = start(c, &c->runs[i]);
        which[busy++] = i;
    }
    return failed;
}

/* ---------------------------------------------------------------- reading */

/* the number after "key": in a JSON line; NAN if absent or null */
static double json_num(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    if (!p) return NAN;
    p += strlen(k);
    while (*p == ' ') p++;
    char *end;
    const double v = strtod(p, &end);
    return end == p ? NAN : v;
}

/* "align_deg": [a, b, null] into out; returns the count */
static int json_array(const char *line, const char *key, double *out, int cap) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": [", key);
    const char *p = strstr(line, k);
    if (!p) return 0;
    p += strlen(k);
    int n = 0;
    while (*p && *p != ']' && n < cap) {
        while (*p == ' ' || *p == ',') p++;
        char *end;
        double v = strtod(p, &end);
        if (end == p) { /* null */
            v = NAN;
            end = (char *)p + strcspn(p, ",]");
        }
        out[n++] = v;
        p = end;
    }
    return n;
}

static void read_run(const compare *c, run *r) {
    char p[PATH_MAX];
    path_of(c, r, "jsonl", p, sizeof p);
    char *log = slurp(p);
    path_of(c, r, "out", p, sizeof p);
    char *out = slurp(p);
    r->test_curve = calloc(MAX_EPOCHS, sizeof(double));
    r->val_curve = calloc(MAX_EPOCHS, sizeof(double));
    r->align = calloc((size_t)MAX_EPOCHS * BPFREE_MAX_LAYERS, sizeof(double));
    if (!r->test_curve || !r->val_curve || !r->align) die("out of memory");
    r->final_test = r->best_test = r->final_val = r->s_per_epoch = r->peak_mib = NAN;
    r->best_epoch = 0;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        const double ep = json_num(line, "epoch"); /* a header line has none */
        if (isnan(ep) || ep < 1 || ep > MAX_EPOCHS) continue;
        const int e = (int)ep - 1;
        if (e + 1 > r->n_ep) {
            for (int k = r->n_ep; k <= e; k++) r->test_curve[k] = r->val_curve[k] = NAN;
            r->n_ep = e + 1;
        }
        double t = json_num(line, "test_acc");
        if (isnan(t) && !isnan(json_num(line, "test_loss"))) {
            r->regression = 1;
            t = json_num(line, "test_loss");
        }
        if (!isnan(t)) {
            r->test_curve[e] = r->regression ? t : 100 * t;
            r->final_test = r->test_curve[e];
            if (isnan(r->best_test) ||
                (r->regression ? r->test_curve[e] < r->best_test : r->test_curve[e] > r->best_test)) {
                r->best_test = r->test_curve[e];
                r->best_epoch = e + 1;
            }
        }
        double v = json_num(line, r->regression ? "val_loss" : "val_acc");
        if (!isnan(v)) {
            r->val_curve[e] = r->regression ? v : 100 * v;
            r->final_val = r->val_curve[e];
            r->has_val = 1;
        }
        double a[BPFREE_MAX_LAYERS];
        const int na = json_array(line, "align_deg", a, BPFREE_MAX_LAYERS);
        if (na > r->n_align) r->n_align = na;
        for (int l = 0; l < BPFREE_MAX_LAYERS; l++)
            r->align[(size_t)e * BPFREE_MAX_LAYERS + l] = l < na ? a[l] : NAN;
    }
    const char *f = out ? strstr(out, "\nfinal: ") : NULL;
    for (; f; f = strstr(f + 1, "\nfinal: ")) {
        const char *s = strstr(f, " s/epoch, peak model memory ");
        const char *nl = strchr(f + 1, '\n');
        if (!s || (nl && s > nl)) continue;
        const char *num = s;
        while (num > f && num[-1] != ' ') num--;
        r->s_per_epoch = strtod(num, NULL);
        char unit[8] = "";
        double mem = NAN;
        if (sscanf(s + strlen(" s/epoch, peak model memory "), "%lf %7s", &mem, unit) == 2)
            r->peak_mib = !strcmp(unit, "GiB") ? mem * 1024 : mem;
    }
    free(log);
    free(out);
}

/* ------------------------------------------------------------- statistics */

typedef struct mstat {
    double mean, std;
    int n;
} mstat;

/* mean and sample standard deviation (n - 1; 0 for one value) of the
 * non-NaN values */
static mstat stats(const double *v, int n) {
    mstat s = {0, 0, 0};
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            s.mean += v[i];
            s.n++;
        }
    if (!s.n) return (mstat){NAN, NAN, 0};
    s.mean /= s.n;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) s.std += (v[i] - s.mean) * (v[i] - s.mean);
    s.std = s.n > 1 ? sqrt(s.std / (s.n - 1)) : 0.0;
    return s;
}

/* one (rule, grid point): the runs of its seeds */
typedef struct group {
    const char *rule;
    const char *name;
    int first;  /* index of its first run; the seeds follow */
    mstat final_test, best_test, final_val, spe, peak;
    int selected;
} group;

#define FIELD(g, runs, n, f)                                                                       \
    do {                                                                                           \
        double v_[MAX_LIST];                                                                       \
        for (int i_ = 0; i_ < (n); i_++) v_[i_] = (runs)[i_].f;                                    \
        (g) = stats(v_, (n));                                                                      \
    } while (0)

static void fmt_stat(char *b, size_t cap, mstat s, int prec) {
    if (isnan(s.mean)) snprintf(b, cap, "–");
    else if (s.n > 1) snprintf(b, cap, "%.*f ± %.*f", prec, s.mean, prec, s.std);
    else snprintf(b, cap, "%.*f", prec, s.mean);
}

/* ---------------------------------------------------------------- writing */

typedef struct outf {
    FILE *f;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
} outf;

static FILE *open_out(outf *o, const compare *c, const char *name) {
    snprintf(o->path, sizeof o->path, "%s/%s", c->out, name);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp", o->path);
    if (!(o->f = fopen(o->tmp, "w"))) die("compare: cannot write %s: %s", o->tmp, strerror(errno));
    return o->f;
}

static void close_out(outf *o) {
    if (fclose(o->f) || rename(o->tmp, o->path)) die("compare: cannot write %s", o->path);
}

static void write_tables(const compare *c, group *g, int n_groups, int regression) {
    const char *metric = regression ? "test loss" : "test %";
    outf md, csv, rcsv;
    FILE *m = open_out(&md, c, "summary.md");
    fprintf(m, "| rule | setting | seeds | final %s (mean ± std) | best %s | final val %s | "
               "s/epoch | peak model MiB | weight transport | frozen activities | locality | "
               "update locking |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---|\n",
            metric, metric, regression ? "loss" : "%");
    FILE *s = open_out(&csv, c, "summary.csv");
    fprintf(s, "rule,setting,seeds,final_test_mean,final_test_std,best_test_mean,best_test_std,"
               "final_val_mean,final_val_std,s_per_epoch_mean,s_per_epoch_std,peak_mib_mean,"
               "weight_transport,frozen_activities,locality,update_locking,selected\n");
    const int prec = regression ? 4 : 2;
    for (int i = 0; i < n_groups; i++) {
        const bpfree_rule_info *ri = bpfree_rule_find(g[i].rule);
        const char *setting = strchr(g[i].name, ',') ? strchr(g[i].name, ',') + 1 : "";
        char ft[64], bt[64], fv[64], sp[64], pk[64];
        fmt_stat(ft, sizeof ft, g[i].final_test, prec);
        fmt_stat(bt, sizeof bt, g[i].best_test, prec);
        fmt_stat(fv, sizeof fv, g[i].final_val, prec);
        fmt_stat(sp, sizeof sp, g[i].spe, 2);
        fmt_stat(pk, sizeof pk, g[i].peak, 1);
        fprintf(m, "| `%s` | %s%s | %d | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                g[i].rule, setting[0] ? setting : "–", g[i].selected ? " (selected)" : "",
                g[i].final_test.n, g[i].selected ? "**" : "", ft, g[i].selected ? "**" : "", bt,
                fv, sp, pk, ri->weight_transport, ri->frozen_activities, ri->locality,
                ri->update_locking);
        fprintf(s, "%s,\"%s\",%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%s,%s,%s,%d\n",
                g[i].rule, setting, g[i].final_test.n, g[i].final_test.mean, g[i].final_test.std,
                g[i].best_test.mean, g[i].best_test.std, g[i].final_val.mean, g[i].final_val.std,
                g[i].spe.mean, g[i].spe.std, g[i].peak.mean, ri->weight_transport,
                ri->frozen_activities, ri->locality, ri->update_locking, g[i].selected);
    }
    fprintf(m, "\nMean ± sample standard deviation over the seeds; \"final\" is the last "
               "epoch's, \"best\" the best epoch's %s; taxonomy of Huang, Ororbia and Aminifar, "
               "\"Backpropagation-Free Learning: On the Emergence of Forward-Only Algorithms\" "
               "(2025), Table I.\n",
            metric);
    if (c->has_grid)
        fprintf(m, "%s\n", c->runs[0].has_val
                               ? "Selected: per rule, the setting with the best mean final "
                                 "validation score (--val), not the test score."
                               : "No --val given: no setting is selected (choosing by the test "
                                 "score would tune on the test set).");
    fprintf(m, "\nRuns (each a fresh process; its output and JSONL log are in runs/):\n\n");
    FILE *rc = open_out(&rcsv, c, "runs.csv");
    fprintf(rc, "run,rule,setting,seed,epochs,final_test,best_test,best_epoch,final_val,"
                "s_per_epoch,peak_mib,command\n");
    for (int i = 0; i < c->n_runs; i++) {
        const run *r = &c->runs[i];
        const char *setting = strchr(r->group, ',') ? strchr(r->group, ',') + 1 : "";
        fprintf(m, "- `%s`: final %.*f, best %.*f (epoch %d) — `%s`\n", r->name, prec,
                r->final_test, prec, r->best_test, r->best_epoch, r->cmd);
        fprintf(rc, "%s,%s,\"%s\",%s,%d,%.6g,%.6g,%d,%.6g,%.6g,%.6g,\"", r->name, r->rule, setting,
                r->seed, r->n_ep, r->final_test, r->best_test, r->best_epoch, r->final_val,
                r->s_per_epoch, r->peak_mib);
        for (const char *p = r->cmd; *p; p++) fprintf(rc, *p == '"' ? "\"\"" : "%c", *p);
        fprintf(rc, "\"\n");
    }
    close_out(&md);
    close_out(&csv);
    close_out(&rcsv);
}

/* gnuplot data: one block per curve ("epoch mean lo hi", lo/hi = mean ∓
 * std over the seeds), blocks separated by two blank lines; titles in a
 * second file, one per line.  Returns the number of curves. */
static int write_curves(const compare *c, const group *g, int n_groups, const char *name,
                        int layer /* -1: test curve; else the alignment of this layer */) {
    outf d, t;
    char fn[128];
    snprintf(fn, sizeof fn, "%s.dat", name);
    FILE *f = open_out(&d, c, fn);
    snprintf(fn, sizeof fn, "%s.titles", name);
    FILE *ft = open_out(&t, c, fn);
    int curves = 0;
    for (int i = 0; i < n_groups; i++) {
        const run *r = &c->runs[g[i].first];
        const int L = layer < 0 ? 1 : r->n_align;
        for (int l = 0; l < L; l++) {
            const int lay = layer < 0 ? -1 : l;
            int n_ep = 0, any = 0;
            for (int s = 0; s < c->n_seeds; s++)
                if (r[s].n_ep > n_ep) n_ep = r[s].n_ep;
            for (int e = 0; e < n_ep; e++) {
                double v[MAX_LIST];
                for (int s = 0; s < c->n_seeds; s++)
                    v[s] = e >= r[s].n_ep ? NAN
                           : lay < 0      ? r[s].test_curve[e]
                                          : r[s].align[(size_t)e * BPFREE_MAX_LAYERS + lay];
                const mstat st = stats(v, c->n_seeds);
                if (!st.n) continue;
                if (!any) fprintf(f, "%s# %s\n", curves ? "\n\n" : "", g[i].name);
                any = 1;
                fprintf(f, "%d %.6g %.6g %.6g\n", e + 1, st.mean, st.mean - st.std,
                        st.mean + st.std);
            }
            if (!any) continue;
            if (lay < 0) fprintf(ft, "%s\n", g[i].name);
            else fprintf(ft, "%s L%d\n", g[i].name, l + 1);
            curves++;
        }
    }
    close_out(&d);
    close_out(&t);
    return curves;
}

/* the gnuplot script: beside the binary's checkout, or installed */
static int find_script(const compare *c, char *out, size_t cap) {
    const char *env = getenv("BPFREE_SHARE");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", c->exe);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    const char *tries[3][2] = {{env, "compare.gp"}, {dir, "../scripts/compare.gp"},
                               {dir, "../share/bpfree/compare.gp"}};
    for (int i = 0; i < 3; i++) {
        if (!tries[i][0]) continue;
        snprintf(out, cap, "%s/%s", tries[i][0], tries[i][1]);
        if (access(out, R_OK) == 0) return 1;
    }
    return 0;
}

static int have_gnuplot(void) {
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

static void plot(const compare *c, const char *name, const char *ylabel, const char *title) {
    char found[PATH_MAX], script[PATH_MAX], cmd[2 * PATH_MAX + 512];
    if (!find_script(c, found, sizeof found) || !realpath(found, script)) {
        fprintf(stderr, "compare: scripts/compare.gp not found (set BPFREE_SHARE): no plots\n");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "cd '%s' && gnuplot -e \"data='%s.dat'; titles='%s.titles'; out='%s'; "
             "ylabel='%s'; plottitle='%s'\" '%s' 2>%s.gnuplot.log",
             c->out, name, name, name, ylabel, title, script, name);
    if (system(cmd) != 0)
        fprintf(stderr, "compare: gnuplot failed on %s (see %s/%s.gnuplot.log)\n", name, c->out,
                name);
    else printf("compare: plots %s/%s.svg and %s.png\n", c->out, name, name);
}

/* ------------------------------------------------------------------ main */

/* the runs: every rule x grid point x seed, seeds innermost */
static void plan(compare *c) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/runs", c->out);
    if ((mkdir(c->out, 0777) && errno != EEXIST) || (mkdir(dir, 0777) && errno != EEXIST))
        die("compare: --out %s: %s", c->out, strerror(errno));
    c->n_runs = c->n_rules * c->n_points * c->n_seeds;
    c->runs = calloc((size_t)c->n_runs, sizeof *c->runs);
    if (!c->runs) die("out of memory");
    int k = 0;
    for (int i = 0; i < c->n_rules; i++)
        for (int p = 0; p < c->n_points; p++)
            for (int s = 0; s < c->n_seeds; s++)
                build_run(c, &c->runs[k++], c->rules[i], p, c->seeds[s]);
}

/* one group per (rule, grid point): the statistics of its seeds */
static group *summarise(const compare *c, int *regression, int *any_align) {
    const int n_groups = c->n_rules * c->n_points;
    group *g = calloc((size_t)n_groups, sizeof *g);
    if (!g) die("out of memory");
    for (int i = 0; i < n_groups; i++) {
        run *r = &c->runs[i * c->n_seeds];
        g[i].rule = r->rule;
        g[i].name = r->group;
        g[i].first = i * c->n_seeds;
        FIELD(g[i].final_test, r, c->n_seeds, final_test);
        FIELD(g[i].best_test, r, c->n_seeds, best_test);
        FIELD(g[i].final_val, r, c->n_seeds, final_val);
        FIELD(g[i].spe, r, c->n_seeds, s_per_epoch);
        FIELD(g[i].peak, r, c->n_seeds, peak_mib);
        *regression |= r->regression;
        *any_align |= r->n_align > 0;
    }
    return g;
}

/* --val selects, per rule, the grid point with the best mean final val */
static void select_by_val(const compare *c, group *g, int regression) {
    if (!c->has_grid || !c->runs[0].has_val) return;
    for (int i = 0; i < c->n_rules; i++) {
        int best = -1;
        for (int p = 0; p < c->n_points; p++) {
            const group *q = &g[i * c->n_points + p];
            if (isnan(q->final_val.mean)) continue;
            if (best < 0 || (regression ? q->final_val.mean < g[best].final_val.mean
                                        : q->final_val.mean > g[best].final_val.mean))
                best = i * c->n_points + p;
        }
        if (best < 0) continue;
        g[best].selected = 1;
        printf("compare: selected for %s by validation: %s\n", g[best].rule,
               strchr(g[best].name, ',') + 1);
    }
}

static void plots(const compare *c, const group *g, int n_groups, int regression,
                  int any_align) {
    write_curves(c, g, n_groups, "test", -1);
    if (any_align) write_curves(c, g, n_groups, "alignment", 0);
    if (!have_gnuplot()) {
        fprintf(stderr, "compare: gnuplot is not installed (Debian: apt-get install gnuplot-nox, "
                        "or sh scripts/setup.sh): tables written, no plots\n");
        return;
    }
    plot(c, "test", regression ? "test loss" : "test accuracy (%)",
         "test score per epoch (mean and ±1 std over seeds)");
    if (any_align)
        plot(c, "alignment", "angle to the BP gradient (degrees)",
             "alignment per layer (mean and ±1 std over seeds)");
}

int cmd_compare(int argc, char **argv) {
    static compare c; /* static: what it points to stays reachable until exit (LeakSanitizer) */
    c.argv0 = argv[0];
    parse(&c, argc, argv);
    const ssize_t n = readlink("/proc/self/exe", c.exe, sizeof c.exe - 1);
    if (n <= 0) die("compare: cannot find the bpfree binary (/proc/self/exe)");
    c.exe[n] = '\0';
    plan(&c);
    const int failed = run_all(&c);
    if (failed) die("compare: %d of %d runs failed; rerun the same command to retry them", failed,
                    c.n_runs);
    for (int i = 0; i < c.n_runs; i++) read_run(&c, &c.runs[i]);
    int regression = 0, any_align = 0;
    group *g = summarise(&c, &regression, &any_align);
    const int n_groups = c.n_rules * c.n_points;
    select_by_val(&c, g, regression);
    write_tables(&c, g, n_groups, regression);
    printf("compare: tables %s/summary.md, summary.csv, runs.csv\n", c.out);
    plots(&c, g, n_groups, regression, any_align);
    char p[PATH_MAX]; /* the summary on the screen */
    snprintf(p, sizeof p, "%s/summary.md", c.out);
    char *md = slurp(p);
    if (md) fputs(md, stdout);
    free(md);
    for (int i = 0; i < c.n_runs; i++) {
        free(c.runs[i].test_curve);
        free(c.runs[i].val_curve);
        free(c.runs[i].align);
        for (int a = 0; a < c.runs[i].argc; a++) free(c.runs[i].argv[a]);
    }
    free(c.runs);
    free(g);
    return 0;
}
