/* compare_run.c — the runs of `bpfree compare`: each (rule, grid value,
 * seed) as its command line, run as a fresh `bpfree train` process up to
 * --jobs at a time, skipped if already complete (a resumed comparison);
 * then its numbers read back from its JSONL log alone (header, epochs and
 * the final object).  The run's screen output goes to runs/NAME.out, for
 * people; nothing here reads it. */
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EPOCHS 4096

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

char *compare_slurp(const char *path) {
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

static int starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The "argv" member a run's log header must hold: its command line from
 * "train" on, as `bpfree train` writes it (cli_json_argv). */
static char *argv_member(const run *r) {
    char *t = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&t, &n);
    if (!f) die("out of memory");
    fputs("\"argv\": ", f);
    cli_json_argv(f, r->argc - 1, (const char *const *)r->argv + 1);
    if (fclose(f) != 0) die("out of memory");
    return t;
}

/* The log alone says whether a run is complete: its header (first line)
 * names this run's command line, and its last line is the "final" object
 * `bpfree train` writes after the last epoch.  A killed run has no final
 * line; a log of other options has another header: both are run again. */
static int complete(const compare *c, const run *r) {
    char p[PATH_MAX];
    path_of(c, r, "jsonl", p, sizeof p);
    char *log = compare_slurp(p);
    if (!log) return 0;
    char *want = argv_member(r);
    const size_t head = strcspn(log, "\n");
    char *h = strstr(log, want);
    int ok = h && h < log + head && starts(log, "{\"type\": \"header\"");
    size_t n = strlen(log);
    while (n && log[n - 1] == '\n') n--;
    log[n] = '\0';
    const char *last = strrchr(log, '\n');
    last = last ? last + 1 : log;
    ok = ok && starts(last, "{\"type\": \"final\"");
    free(want);
    free(log);
    return ok;
}

static pid_t start(const compare *c, const run *r) {
    char p[PATH_MAX], tmp[PATH_MAX + 8];
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
    char *text = compare_slurp(tmp);
    const char *err = text ? strstr(text, "bpfree: error:") : NULL;
    fprintf(stderr, "compare: %s failed (status %d)%s%.*s; its output: %s\n", r->name, status,
            err ? ": " : "", err ? (int)strcspn(err, "\n") : 0, err ? err : "", tmp);
    free(text);
}

/* Every incomplete run, up to c->jobs at a time; returns the failures. */
int compare_run_all(compare *c) {
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

/* seconds per epoch and peak model memory from the log's "final" object */
static void read_final(run *r, const char *line) {
    r->s_per_epoch = json_num(line, "s_per_epoch");
    r->peak_mib = json_num(line, "peak_model_bytes") / 1048576.0;
}

/* the header's "cpu" as "NAME (family F, model M)"; "" for a log from
 * before bpfree recorded it */
static void read_cpu(run *r, const char *line) {
    static const char k[] = "\"cpu\": {\"name\": \"";
    const char *p = strstr(line, k);
    r->cpu[0] = '\0';
    if (!p) return;
    p += sizeof k - 1;
    const int n = (int)strcspn(p, "\"");
    snprintf(r->cpu, sizeof r->cpu, "%.*s (family %.0f, model %.0f)", n < 64 ? n : 64, p,
             json_num(p, "family"), json_num(p, "model"));
}

void compare_read_run(const compare *c, run *r) {
    char p[PATH_MAX];
    path_of(c, r, "jsonl", p, sizeof p);
    char *log = compare_slurp(p);
    r->test_curve = calloc(MAX_EPOCHS, sizeof(double));
    r->val_curve = calloc(MAX_EPOCHS, sizeof(double));
    r->align = calloc((size_t)MAX_EPOCHS * BPFREE_MAX_LAYERS, sizeof(double));
    if (!r->test_curve || !r->val_curve || !r->align) die("out of memory");
    r->final_test = r->best_test = r->final_val = r->s_per_epoch = r->peak_mib = NAN;
    r->best_epoch = 0;
    r->cpu[0] = '\0';
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (starts(line, "{\"type\": \"final\"")) read_final(r, line);
        if (starts(line, "{\"type\": \"header\"")) read_cpu(r, line);
        const double ep = json_num(line, "epoch"); /* only epoch lines have one */
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
    free(log);
}

/* ------------------------------------------------------------------ plan */

/* the runs: every rule x grid point x seed, seeds innermost */
void compare_plan(compare *c) {
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
