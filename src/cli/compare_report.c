/* compare_report.c — the report of `bpfree compare` once its runs are
 * read: per (rule, grid point) the mean ± std over the seeds, the setting
 * --val selects, the tables (summary.md, summary.csv, runs.csv) and the
 * plots gnuplot draws from scripts/compare.gp. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* one group's row of summary.md (m) and of summary.csv (s) */
static void write_group(FILE *m, FILE *s, const group *g, int prec) {
    const bpfree_rule_info *ri = bpfree_rule_find(g->rule);
    const char *setting = strchr(g->name, ',') ? strchr(g->name, ',') + 1 : "";
    char ft[64], bt[64], fv[64], sp[64], pk[64];
    fmt_stat(ft, sizeof ft, g->final_test, prec);
    fmt_stat(bt, sizeof bt, g->best_test, prec);
    fmt_stat(fv, sizeof fv, g->final_val, prec);
    fmt_stat(sp, sizeof sp, g->spe, 2);
    fmt_stat(pk, sizeof pk, g->peak, 1);
    fprintf(m, "| `%s` | %s%s | %d | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            g->rule, setting[0] ? setting : "–", g->selected ? " (selected)" : "",
            g->final_test.n, g->selected ? "**" : "", ft, g->selected ? "**" : "", bt, fv, sp, pk,
            ri->weight_transport, ri->frozen_activities, ri->locality, ri->update_locking);
    fprintf(s, "%s,\"%s\",%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s,%s,%s,%s,%d\n",
            g->rule, setting, g->final_test.n, g->final_test.mean, g->final_test.std,
            g->best_test.mean, g->best_test.std, g->final_val.mean, g->final_val.std, g->spe.mean,
            g->spe.std, g->peak.mean, ri->weight_transport, ri->frozen_activities, ri->locality,
            ri->update_locking, g->selected);
}

/* The CPUs the runs were timed on (log headers carry them since session 18)
 * and how many runs each: seconds per epoch compare only within one CPU. */
static void write_cpus(FILE *m, const compare *c) {
    int distinct = 0;
    for (int i = 0; i < c->n_runs; i++) {
        const char *u = c->runs[i].cpu;
        int j = 0, n = 0;
        while (j < i && strcmp(c->runs[j].cpu, u)) j++;
        if (j < i) continue; /* counted with its first run */
        for (int k = i; k < c->n_runs; k++) n += !strcmp(c->runs[k].cpu, u);
        fprintf(m, "%s%s: %d run%s", distinct++ ? "; " : "\nCPU: ",
                *u ? u : "not recorded (logs from before bpfree recorded it)", n, n > 1 ? "s" : "");
    }
    if (distinct > 1) fputs(". The runs were timed on different CPUs: compare s/epoch only within one", m);
    if (distinct) fputs(".\n", m);
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
    for (int i = 0; i < n_groups; i++) write_group(m, s, &g[i], prec);
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
    write_cpus(m, c);
    fprintf(m, "\nRuns (each a fresh process; its output and JSONL log are in runs/):\n\n");
    FILE *rc = open_out(&rcsv, c, "runs.csv");
    fprintf(rc, "run,rule,setting,seed,epochs,final_test,best_test,best_epoch,final_val,"
                "s_per_epoch,peak_mib,cpu,command\n");
    for (int i = 0; i < c->n_runs; i++) {
        const run *r = &c->runs[i];
        const char *setting = strchr(r->group, ',') ? strchr(r->group, ',') + 1 : "";
        fprintf(m, "- `%s`: final %.*f, best %.*f (epoch %d) — `%s`\n", r->name, prec,
                r->final_test, prec, r->best_test, r->best_epoch, r->cmd);
        fprintf(rc, "%s,%s,\"%s\",%s,%d,%.6g,%.6g,%d,%.6g,%.6g,%.6g,\"%s\",\"", r->name, r->rule,
                setting, r->seed, r->n_ep, r->final_test, r->best_test, r->best_epoch, r->final_val,
                r->s_per_epoch, r->peak_mib, r->cpu);
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

/* ---------------------------------------------------------------- report */

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

void compare_report(const compare *c) {
    int regression = 0, any_align = 0;
    group *g = summarise(c, &regression, &any_align);
    const int n_groups = c->n_rules * c->n_points;
    select_by_val(c, g, regression);
    write_tables(c, g, n_groups, regression);
    printf("compare: tables %s/summary.md, summary.csv, runs.csv\n", c->out);
    plots(c, g, n_groups, regression, any_align);
    free(g);
}
