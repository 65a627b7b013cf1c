/* train.c — `bpfree train`: options (or a checkpoint's), data, model,
 * outputs probed, the live log, epochs with progress, divergence checks,
 * checkpoints and Ctrl-C, report, save — each step a function. */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct run_data {
    bpfree_dataset train, val, test;
    int regression, classes;
    uint64_t checksum; /* of the training set as loaded */
} run_data;

/* --------------------------------------------------------------- signals */

static volatile sig_atomic_t g_stop, g_signals;

/* The first SIGINT/SIGTERM asks training to stop after the current batch;
 * the second ends the process at once (temporary files are cleaned up by
 * the next run with the same paths). */
static void on_signal(int sig) {
    (void)sig;
    if (g_signals++) {
        static const char msg[] = "\nbpfree: second interrupt: exiting now\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(130);
    }
    g_stop = 1;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ data */

/* Data as --data names it (tabular sets raw: their statistics are computed
 * here and saved with the model); the checksum before any change; --val
 * held out; standardised with the training set's statistics. */
static void prepare_data(const cli_run *r, run_data *d, bpfree_config *cfg,
                         bpfree_data_info *info) {
    cli_load_data(r, 1, &d->train, &d->test);
    d->checksum = bpfree_data_checksum(&d->train);
    d->regression = d->train.y != NULL;
    d->classes = d->train.classes > d->test.classes ? d->train.classes : d->test.classes;
    cli_config(r, &d->train, d->regression ? d->train.outputs : d->classes, cfg);
    bpfree_error e;
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", r->data);
    snprintf(info->targets, sizeof info->targets, "%s", r->target ? r->target : "");
    info->classify = r->classify;
    info->val = r->val;
    info->checksum = d->checksum;
    info->classes = d->regression ? 0 : d->classes;
    if (cli_tabular(r->data)) { /* per column, with the training rows' statistics */
        const int D = d->train.dim, O = d->train.outputs;
        info->n_cols = D;
        info->col_mean = malloc(2 * (size_t)D * sizeof(float));
        if (!info->col_mean) die("out of memory");
        info->col_std = info->col_mean + D;
        bpfree_data_col_stats(d->train.x, d->train.n, D, info->col_mean, info->col_std);
        if (d->regression) {
            info->n_tcols = O;
            info->tcol_mean = malloc(2 * (size_t)O * sizeof(float));
            if (!info->tcol_mean) die("out of memory");
            info->tcol_std = info->tcol_mean + O;
            bpfree_data_col_stats(d->train.y, d->train.n, O, info->tcol_mean, info->tcol_std);
        }
    }
    if (r->val > 0 && bpfree_data_split(&d->train, r->val, cfg->seed, &d->val, &e)) die_err(&e);
    if (cfg->norm == BPFREE_NORM_STANDARDIZE) { /* of the training rows as prepared so far */
        bpfree_dataset t = d->train;
        if (info->n_cols) {
            const size_t n = (size_t)t.n * t.dim;
            if (!(t.x = malloc(n * sizeof(float)))) die("out of memory");
            memcpy(t.x, d->train.x, n * sizeof(float));
            bpfree_data_col_normalize(t.x, t.n, t.dim, info->col_mean, info->col_std);
        }
        bpfree_data_stats(&t, &cfg->norm_mean, &cfg->norm_std);
        if (t.x != d->train.x) free(t.x);
    }
}

static void print_header(const cli_run *r, const run_data *d, const bpfree_model *m, int total,
                         FILE *o) {
    const bpfree_config *c = bpfree_model_config(m);
    const bpfree_rule_info *ri = bpfree_model_rule(m);
    fprintf(o, "bpfree: %s (%s) on %s: %d train, %d val, %d test; layers %d", ri->name, ri->title,
            r->data, d->train.n, d->val.n, d->test.n, c->inputs);
    for (int i = 0; i < c->n_hidden; i++) fprintf(o, "-%d", c->hidden[i]);
    fprintf(o, "%s%d %s; %zu parameters\n", ri->output_layer ? "-" : " heads ", c->outputs,
            bpfree_act_name(c->act), bpfree_model_param_count(m));
    fprintf(o, "bpfree: %s lr %g, %s schedule, batch %d, %d epochs%s, seed %llu\n",
            bpfree_optim_name(c->optim.kind), (double)c->optim.lr, bpfree_sched_name(c->optim.sched),
            c->batch, total, c->greedy_epochs ? " (greedy, per layer)" : "",
            (unsigned long long)c->seed);
}

/* The model's own preparation (bpfree_data_prepare) on every set. */
static void apply_prepare(const bpfree_model *m, run_data *d) {
    bpfree_error e;
    if (bpfree_data_prepare(m, &d->train, &e) || (d->val.n && bpfree_data_prepare(m, &d->val, &e)) ||
        bpfree_data_prepare(m, &d->test, &e))
        die_err(&e);
}

/* ------------------------------------------------------------ log header */

static void header_line(const cli_run *r, const run_data *d, const bpfree_model *m,
                        const char *resumed, logfile *lg) {
    const bpfree_config *c = bpfree_model_config(m);
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);
    if (!f) die("out of memory");
    time_t t = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    fprintf(f, "{\"type\": \"header\", \"bpfree\": \"%s\", \"commit\": ", BPFREE_VERSION);
    json_str(f, bpfree_build_commit());
    fprintf(f, ", \"blas\": \"%s\", \"threads\": %d, \"started\": \"%s\", \"rule\": ",
            bpfree_build_blas(), bpfree_set_threads(c->threads), when);
    json_str(f, c->rule);
    fprintf(f, ", \"seed\": %llu, \"data\": {\"name\": ", (unsigned long long)c->seed);
    json_str(f, r->data);
    fprintf(f, ", \"checksum\": \"%016llx\", \"train\": %d, \"val\": %d, \"test\": %d, "
               "\"shape\": [%d, %d, %d], \"classes\": %d",
            (unsigned long long)d->checksum, d->train.n, d->val.n, d->test.n, d->train.channels,
            d->train.height, d->train.width, d->regression ? 0 : d->classes);
    if (r->target) {
        fputs(", \"target\": ", f);
        json_str(f, r->target);
    }
    fprintf(f, ", \"classify\": %d}, \"config\": {", r->classify);
    int k = 0;
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        char v[512];
        if (!bpfree_setting_applies(s, c->rule) || bpfree_config_get(c, s->name, v, sizeof v) < 0)
            continue;
        fputs(k++ ? ", " : "", f);
        json_str(f, s->name);
        fputs(": ", f);
        json_str(f, v);
    }
    fputs("}, \"resumed\": ", f);
    if (resumed) {
        fputs("{\"from\": ", f);
        json_str(f, resumed);
        fprintf(f, ", \"epochs_done\": %d, \"batches_done\": %ld}", bpfree_model_epochs_done(m),
                bpfree_model_batches_done(m));
    } else {
        fputs("null", f);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) die("out of memory");
    log_line(lg, line);
    free(line);
}

/* one JSON event line: {"type": "stop", "in_epoch": E, "after_batch": k, "message": "..."}
 * (no "epoch" key: readers that take every line with one as an epoch's,
 * as `bpfree compare` does, skip it) */
static void log_event(logfile *lg, const char *type, int epoch, long batch, const char *why) {
    if (!lg->path) return;
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);
    if (!f) die("out of memory");
    fprintf(f, "{\"type\": \"%s\", \"in_epoch\": %d, \"after_batch\": %ld, \"message\": ", type,
            epoch, batch);
    json_str(f, why);
    fputs("}\n", f);
    if (fclose(f) != 0) die("out of memory");
    log_line(lg, line);
    free(line);
}

/* -------------------------------------------------------------- progress */

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

static void on_batch(void *user, int k, int nb, double loss) {
    progress *p = user;
    const double t = now_s();
    if (k == 1 && p->first_loss == 0.0 && isfinite(loss)) p->first_loss = loss;
    if (p->ckpt_every > 0 && t - p->ckpt_last >= p->ckpt_every && !g_stop) {
        p->ckpt_due = 1;
        g_stop = 1;
    }
    if (!p->o || (t - p->last < 0.2 && k < nb)) return;
    p->last = t;
    if (p->k0 < 0) p->k0 = k - 1;
    const double rate = (k - p->k0) / (t - p->t0 > 1e-9 ? t - p->t0 : 1e-9);
    const double eta = (nb - k) / (rate > 0 ? rate : 1);
    fprintf(p->o, "\r  epoch %d/%d  batch %d/%d  %.0f samples/s  ETA %d:%02d", p->epoch + 1,
            p->total, k, nb, rate * p->batch, (int)eta / 60, (int)eta % 60);
    if (isfinite(loss)) fprintf(p->o, "  loss %.4f", loss);
    fputs("\033[K", p->o);
    fflush(p->o);
    p->shown = 1;
}

static void progress_clear(progress *p) {
    if (p->o && p->shown) {
        fputs("\r\033[K", p->o);
        fflush(p->o);
    }
    p->shown = 0;
}

/* ---------------------------------------------------------- checkpoints */

/* The note a checkpoint carries: the run options, the divergence
 * detector's state, then the log so far. */
typedef struct run_state {
    double first_loss;
    int above_chance, chance_epochs;
} run_state;

static void write_checkpoint(const cli_run *r, const run_state *rs, const bpfree_model *m,
                             const logfile *lg) {
    if (!r->checkpoint) return;
    char *note = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&note, &n);
    if (!f) die("out of memory");
    fprintf(f, "data=%s\ntarget=%s\nclassify=%d\nval=%d\neval-every=%d\nlog=%s\nsave=%s\n"
               "checkpoint=%s\ncheckpoint-every=%d\ncheckpoint-minutes=%d\nallow-divergence=%d\n"
               "first-loss=%a\nabove-chance=%d\nchance-epochs=%d\nlog-text:\n",
            r->data, r->target ? r->target : "", r->classify, r->val, r->eval_every,
            r->log ? r->log : "", r->save ? r->save : "", r->checkpoint, r->checkpoint_every,
            r->checkpoint_minutes, r->allow_divergence, rs->first_loss, rs->above_chance,
            rs->chance_epochs);
    if (lg->text) fputs(lg->text, f);
    if (fclose(f) != 0) die("out of memory");
    bpfree_error e;
    if (bpfree_checkpoint_save(m, r->checkpoint, note, &e)) die_err(&e);
    free(note);
}

/* The run options of a checkpoint's note into r, where the command line did
 * not give them (r's strings then point into the note, which the caller
 * keeps until the end); *log_text <- the log so far. */
static void read_note(char *note, const cli_run *given, cli_run *r, run_state *rs,
                      const char **log_text) {
    *log_text = "";
    for (char *line = note; line && *line;) {
        if (!strncmp(line, "log-text:\n", 10)) {
            *log_text = line + 10;
            break;
        }
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        char *eq = strchr(line, '=');
        const char *v = eq ? eq + 1 : "";
        if (eq) *eq = '\0';
        if (!strcmp(line, "data")) r->data = v;
        else if (!strcmp(line, "target")) r->target = *v ? v : NULL;
        else if (!strcmp(line, "classify")) r->classify = atoi(v);
        else if (!strcmp(line, "val")) r->val = atoi(v);
        else if (!strcmp(line, "eval-every")) r->eval_every = atoi(v);
        else if (!strcmp(line, "log")) r->log = *v ? v : NULL;
        else if (!strcmp(line, "save")) r->save = *v ? v : NULL;
        else if (!strcmp(line, "checkpoint")) r->checkpoint = *v ? v : NULL;
        else if (!strcmp(line, "checkpoint-every")) r->checkpoint_every = atoi(v);
        else if (!strcmp(line, "checkpoint-minutes")) r->checkpoint_minutes = atoi(v);
        else if (!strcmp(line, "allow-divergence")) r->allow_divergence = atoi(v);
        else if (!strcmp(line, "first-loss")) rs->first_loss = strtod(v, NULL);
        else if (!strcmp(line, "above-chance")) rs->above_chance = atoi(v);
        else if (!strcmp(line, "chance-epochs")) rs->chance_epochs = atoi(v);
        line = nl + 1;
    }
    /* what the command line gives wins (a checkpoint moved elsewhere, a new log) */
    if (given->log) r->log = given->log;
    if (given->save) r->save = given->save;
    if (given->checkpoint) r->checkpoint = given->checkpoint;
    if (given->checkpoint_every) r->checkpoint_every = given->checkpoint_every;
    if (given->checkpoint_minutes) r->checkpoint_minutes = given->checkpoint_minutes;
    if (given->allow_divergence) r->allow_divergence = 1;
    if (given->quiet) r->quiet = 1;
    if (given->eval_every) r->eval_every = given->eval_every;
}

/* ------------------------------------------------------------ divergence */

#define DIVERGE_FACTOR 1e6
#define CHANCE_EPOCHS 3

/* NULL, or why the run is diverging (issue 17): a finite loss more than
 * 1e6 times the first batch's, or a training accuracy at chance for
 * CHANCE_EPOCHS epochs after it had been clearly above. */
static const char *diverging(run_state *rs, const bpfree_epoch_stats *st, int classes,
                             int regression, char *buf, size_t cap) {
    if (rs->first_loss == 0.0 && isfinite(st->train_loss)) rs->first_loss = st->train_loss;
    const double ref = fabs(rs->first_loss) > 1e-12 ? fabs(rs->first_loss) : 1e-12;
    if (st->train_loss > DIVERGE_FACTOR * ref) {
        snprintf(buf, cap,
                 "training diverged at epoch %d: its loss %.4g is more than %.0e times the "
                 "first batch's (%.4g) — try a smaller learning rate, or --allow-divergence",
                 st->epoch + 1, st->train_loss, DIVERGE_FACTOR, rs->first_loss);
        return buf;
    }
    if (regression || classes < 2) return NULL;
    const double chance = 1.0 / classes;
    if (st->train_acc > 1.5 * chance) rs->above_chance = 1;
    if (rs->above_chance && st->train_acc < 1.1 * chance) rs->chance_epochs++;
    else rs->chance_epochs = 0;
    if (rs->chance_epochs >= CHANCE_EPOCHS) {
        snprintf(buf, cap,
                 "training diverged at epoch %d: the training accuracy (%.2f%%) has been at "
                 "chance (%.2f%%) for %d epochs after it was above — try a smaller learning "
                 "rate, or --allow-divergence",
                 st->epoch + 1, 100 * st->train_acc, 100 * chance, CHANCE_EPOCHS);
        return buf;
    }
    return NULL;
}

/* ---------------------------------------------------------------- epochs */

typedef struct run_ctx {
    const cli_run *r;
    run_data *d;
    bpfree_model *m;
    report *rp;
    logfile *lg;
    run_state rs;
    progress pg;
} run_ctx;

/* Stopped by Ctrl-C / SIGTERM: the log, a checkpoint, the model; exit 130. */
static void interrupted(run_ctx *x) {
    progress_clear(&x->pg);
    if (x->rs.first_loss == 0.0) x->rs.first_loss = x->pg.first_loss; /* stopped in epoch 1 */
    const int ep = bpfree_model_epochs_done(x->m);
    const long k = bpfree_model_batches_done(x->m);
    char why[256];
    snprintf(why, sizeof why, "interrupted after batch %ld of epoch %d", k, ep + 1);
    log_event(x->lg, "stop", ep + 1, k, why);
    write_checkpoint(x->r, &x->rs, x->m, x->lg);
    bpfree_error e;
    if (x->r->save && bpfree_model_save(x->m, x->r->save, &e)) die_err(&e);
    log_close(x->lg);
    fprintf(stderr, "bpfree: %s; %s%s%s%s%s%s\n", why, x->r->log ? "log " : "",
            x->r->log ? x->r->log : "", x->r->checkpoint ? ", checkpoint " : "",
            x->r->checkpoint ? x->r->checkpoint : "", x->r->save ? ", model " : "",
            x->r->save ? x->r->save : "");
    if (x->r->checkpoint)
        fprintf(stderr, "bpfree: continue with: bpfree train --resume %s\n", x->r->checkpoint);
    exit(130);
}

/* A failure mid-run: logged, then the message. */
static void failed(run_ctx *x, const bpfree_error *e) {
    progress_clear(&x->pg);
    log_event(x->lg, "error", bpfree_model_epochs_done(x->m) + 1, bpfree_model_batches_done(x->m),
              e->msg);
    log_close(x->lg);
    die_err(e);
}

/* One epoch, through stops for --checkpoint-minutes. */
static bpfree_status one_epoch(run_ctx *x, bpfree_epoch_stats *st, bpfree_error *e) {
    for (;;) {
        if (g_stop && !x->pg.ckpt_due) interrupted(x);
        x->pg.epoch = bpfree_model_epochs_done(x->m);
        x->pg.t0 = x->pg.last = now_s();
        x->pg.k0 = -1;
        bpfree_status s = bpfree_train_epoch(x->m, &x->d->train, st, e);
        if (s != BPFREE_EINTR) return s;
        if (!x->pg.ckpt_due) interrupted(x);
        if (x->rs.first_loss == 0.0) x->rs.first_loss = x->pg.first_loss;
        write_checkpoint(x->r, &x->rs, x->m, x->lg); /* --checkpoint-minutes */
        x->pg.ckpt_due = 0;
        x->pg.ckpt_last = now_s();
        g_stop = 0;
    }
}

/* The epochs from where the model stands; returns the training seconds. */
static double run_epochs(run_ctx *x) {
    const cli_run *r = x->r;
    const int every = r->eval_every, profile = r->profile || r->profile_shapes;
    report *rp = x->rp;
    bpfree_eval *te = (bpfree_eval *)rp->test, *va = (bpfree_eval *)rp->val;
    bpfree_error e;
    double secs = 0.0;
    const int first = bpfree_model_epochs_done(x->m);
    if (first >= rp->total) { /* a finished run's checkpoint: report it as it stands */
        if (x->d->val.n && bpfree_evaluate(x->m, &x->d->val, va, &e)) failed(x, &e);
        if (bpfree_evaluate(x->m, &x->d->test, te, &e)) failed(x, &e);
    }
    for (int ep = first; ep < rp->total; ep++) {
        bpfree_epoch_stats st;
        if (profile) bpfree_profile_start(secs == 0.0);
        const bpfree_status trs = one_epoch(x, &st, &e);
        if (profile) bpfree_profile_stop(NULL);
        progress_clear(&x->pg);
        if (trs) failed(x, &e);
        if (x->rs.first_loss == 0.0 && x->pg.first_loss != 0.0) x->rs.first_loss = x->pg.first_loss;
        secs += st.seconds;
        rp->ran++;
        const int evald = every <= 1 || (ep + 1) % every == 0 || ep == rp->total - 1;
        if (evald && x->d->val.n && bpfree_evaluate(x->m, &x->d->val, va, &e)) failed(x, &e);
        if (evald && bpfree_evaluate(x->m, &x->d->test, te, &e)) failed(x, &e);
        report_epoch(rp, x->lg, &st, evald);
        char why[512];
        const char *bad = r->allow_divergence ? NULL
                                              : diverging(&x->rs, &st, x->d->classes,
                                                          x->d->regression, why, sizeof why);
        if (bad) {
            bpfree_error de = {BPFREE_ENAN, ""};
            snprintf(de.msg, sizeof de.msg, "%s", bad);
            failed(x, &de);
        }
        if (r->checkpoint && ((ep + 1) % r->checkpoint_every == 0 || ep == rp->total - 1)) {
            write_checkpoint(r, &x->rs, x->m, x->lg);
            x->pg.ckpt_last = now_s();
        }
    }
    return secs;
}

/* ------------------------------------------------------------------ main */

/* The checkpoint's model and run options (a resumed run). */
static bpfree_model *resume_from(const cli_run *given, cli_run *r, run_state *rs,
                                 const char **log_text, char **note) {
    if (given->n)
        die("--%s: a resumed run uses the settings its checkpoint holds (only run options "
            "such as --log, --save, --checkpoint may be given with --resume)",
            given->name[0]);
    bpfree_model *m;
    bpfree_error e;
    if (bpfree_checkpoint_load(given->resume, &m, note, &e)) die_err(&e);
    const bpfree_data_info *di = bpfree_model_data(m);
    if (!di) die("%s: the checkpoint does not record its data", given->resume);
    read_note(*note, given, r, rs, log_text);
    if (!r->data) die("%s: the checkpoint's note names no data", given->resume);
    return m;
}

int cmd_train(int argc, char **argv) {
    cli_run given = {.rule = bpfree_rule_default()};
    cli_parse(argc, argv, 2, &given, NULL);
    cli_run r = given;
    if (!r.data) r.data = "mnist";
    if (!r.eval_every) r.eval_every = 1;
    if (!r.checkpoint_every) r.checkpoint_every = 1;
    run_ctx x = {.r = &r};
    run_data d = {0};
    bpfree_config cfg;
    bpfree_model *m = NULL;
    bpfree_data_info info;
    const char *log_text = NULL;
    char *note = NULL;
    bpfree_error e;
    if (given.resume) {
        m = resume_from(&given, &r, &x.rs, &log_text, &note);
        const bpfree_data_info *di = bpfree_model_data(m);
        cli_load_data(&r, 1, &d.train, &d.test);
        d.checksum = bpfree_data_checksum(&d.train);
        if (d.checksum != di->checksum)
            die("--resume %s: the data '%s' is not what the run was trained on (checksum %016llx, "
                "the checkpoint recorded %016llx): an exact resume needs the same data",
                given.resume, r.data, (unsigned long long)d.checksum,
                (unsigned long long)di->checksum);
        d.regression = d.train.y != NULL;
        d.classes = d.train.classes > d.test.classes ? d.train.classes : d.test.classes;
        if (r.val > 0 && bpfree_data_split(&d.train, r.val, bpfree_model_config(m)->seed, &d.val, &e))
            die_err(&e);
    } else {
        if (r.eval_every < 1) die("--eval-every: must be >= 1");
        if (r.checkpoint_every < 1) die("--checkpoint-every: must be >= 1");
        if ((given.checkpoint_every || given.checkpoint_minutes) && !r.checkpoint)
            die("--checkpoint-every / --checkpoint-minutes need --checkpoint FILE");
        cli_config(&r, NULL, 10, &cfg); /* a bad rule or option fails before the data loads */
        prepare_data(&r, &d, &cfg, &info);
        if (r.print_config) { /* the config as the data made it (a regression's loss) */
            cli_print_config(stdout, &r, &cfg);
            free(info.col_mean);
            free(info.tcol_mean);
            bpfree_data_free(&d.train);
            bpfree_data_free(&d.val);
            bpfree_data_free(&d.test);
            return 0;
        }
        if (bpfree_model_new(&cfg, &m, &e)) die_err(&e);
        if (bpfree_model_set_data(m, &info, &e)) die_err(&e);
        free(info.col_mean);
        free(info.tcol_mean);
    }
    apply_prepare(m, &d);
    const bpfree_config *c = bpfree_model_config(m);
    /* every output is probed now, and a killed run's leftovers removed */
    const char *outs[3][2] = {{"save", r.save}, {"log", r.log}, {"checkpoint", r.checkpoint}};
    for (int i = 0; i < 3; i++) {
        cli_clean_stale(outs[i][1]);
        cli_probe_output(outs[i][0], outs[i][1]);
    }
    bpfree_eval ev_test = {0}, ev_val = {0};
    const int to_stdout = r.log && !strcmp(r.log, "-");
    report rp = {m, &ev_test, &ev_val, d.val.n > 0, d.regression, r.quiet,
                 c->greedy_epochs > 0 ? c->greedy_epochs * c->n_hidden : c->epochs,
                 to_stdout ? stderr : stdout, 0};
    x.d = &d;
    x.m = m;
    x.rp = &rp;
    logfile lg;
    x.lg = &lg;
    log_open(&lg, r.log, log_text);
    header_line(&r, &d, m, given.resume, &lg);
    if (!r.quiet) {
        print_header(&r, &d, m, rp.total, rp.screen);
        if (given.resume)
            fprintf(rp.screen, "bpfree: resumed from %s after %d epochs and %ld batches\n",
                    given.resume, bpfree_model_epochs_done(m), bpfree_model_batches_done(m));
    }
    x.pg = (progress){.o = !r.quiet && isatty(fileno(rp.screen)) ? rp.screen : NULL,
                      .total = rp.total, .batch = c->batch,
                      .ckpt_every = r.checkpoint && r.checkpoint_minutes ? 60.0 * r.checkpoint_minutes : 0,
                      .ckpt_last = now_s(), .first_loss = x.rs.first_loss};
    bpfree_model_on_batch(m, on_batch, &x.pg);
    bpfree_model_stop_flag(m, &g_stop);
    install_signals();
    const double secs = run_epochs(&x);
    bpfree_model_stop_flag(m, NULL);
    report_final(&rp, r.data, secs);
    if (r.profile || r.profile_shapes) report_profile(rp.ran, secs, r.profile_shapes);
    if (r.save) {
        if (bpfree_model_save(m, r.save, &e)) failed(&x, &e);
        fprintf(rp.screen, "saved %s\n", r.save);
    }
    log_close(&lg);
    free(note);
    bpfree_model_free(m);
    bpfree_data_free(&d.train);
    bpfree_data_free(&d.val);
    bpfree_data_free(&d.test);
    return 0;
}
