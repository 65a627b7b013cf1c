/* run.c — the run itself for `bpfree train`: Ctrl-C and the stop flag, the
 * progress line, stop and error events in the log, checkpoints (written,
 * and read back for --resume), the divergence checks and the epochs. */
#include "report.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --------------------------------------------------------------- signals */

static volatile sig_atomic_t g_stop;
static atomic_int g_training; /* run_train has begun: a signal now stops it */

/* SIGINT and SIGTERM are taken by one thread of their own (sigwait), never
 * by a thread that computes: a signal handler run on a thread inside a
 * oneDNN product corrupted the heap (seen here: "corrupted size vs.
 * prev_size" in dnnl_sgemm after a Ctrl-C, 3 runs in 12; never with the
 * signals taken here).  The first signal during training asks it to stop
 * after the current batch; the second, or one before training, ends the
 * process at once (temporary files are cleaned up by the next run with the
 * same paths). */
static void *signal_watch(void *arg) {
    const sigset_t *set = arg;
    int n = 0;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0) continue;
        if (n++ || !atomic_load(&g_training)) {
            static const char msg[] = "\nbpfree: second interrupt: exiting now\n";
            if (n > 1) {
                ssize_t w = write(2, msg, sizeof msg - 1);
                (void)w;
            }
            _exit(130);
        }
        g_stop = 1;
    }
    return NULL;
}

void run_take_signals(void) {
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* blocked here, before any other thread exists, so every thread
     * created later (the pool, OpenMP's) inherits the mask */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, signal_watch, &set) != 0) die("cannot start the signal thread");
    pthread_detach(t);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ log events */

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
    cli_json_str(f, why);
    fputs("}\n", f);
    if (fclose(f) != 0) die("out of memory");
    log_line(lg, line);
    free(line);
}

/* -------------------------------------------------------------- progress */

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
void run_failed(run_ctx *x, const bpfree_error *e) {
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
        if (x->d->val.n && bpfree_evaluate(x->m, &x->d->val, va, &e)) run_failed(x, &e);
        if (bpfree_evaluate(x->m, &x->d->test, te, &e)) run_failed(x, &e);
    }
    for (int ep = first; ep < rp->total; ep++) {
        bpfree_epoch_stats st;
        if (profile) bpfree_profile_start(secs == 0.0);
        const bpfree_status trs = one_epoch(x, &st, &e);
        if (profile) bpfree_profile_stop(NULL);
        progress_clear(&x->pg);
        if (trs) run_failed(x, &e);
        if (x->rs.first_loss == 0.0 && x->pg.first_loss != 0.0) x->rs.first_loss = x->pg.first_loss;
        secs += st.seconds;
        rp->ran++;
        const int evald = every <= 1 || (ep + 1) % every == 0 || ep == rp->total - 1;
        if (evald && x->d->val.n && bpfree_evaluate(x->m, &x->d->val, va, &e)) run_failed(x, &e);
        if (evald && bpfree_evaluate(x->m, &x->d->test, te, &e)) run_failed(x, &e);
        report_epoch(rp, x->lg, &st, evald);
        char why[512];
        const char *bad = r->allow_divergence ? NULL
                                              : diverging(&x->rs, &st, x->d->classes,
                                                          x->d->regression, why, sizeof why);
        if (bad) {
            bpfree_error de = {BPFREE_ENAN, ""};
            snprintf(de.msg, sizeof de.msg, "%s", bad);
            run_failed(x, &de);
        }
        if (r->checkpoint && ((ep + 1) % r->checkpoint_every == 0 || ep == rp->total - 1)) {
            write_checkpoint(r, &x->rs, x->m, x->lg);
            x->pg.ckpt_last = now_s();
        }
    }
    return secs;
}

/* The epochs with the progress line, --checkpoint-minutes and Ctrl-C (the
 * stop flag) in place; returns the training seconds. */
double run_train(run_ctx *x) {
    const cli_run *r = x->r;
    const report *rp = x->rp;
    x->pg = (progress){.o = !r->quiet && isatty(fileno(rp->screen)) ? rp->screen : NULL,
                       .total = rp->total, .batch = bpfree_model_config(x->m)->batch,
                       .ckpt_every = r->checkpoint && r->checkpoint_minutes
                                         ? 60.0 * r->checkpoint_minutes : 0,
                       .ckpt_last = now_s(), .first_loss = x->rs.first_loss};
    bpfree_model_on_batch(x->m, on_batch, &x->pg);
    bpfree_model_stop_flag(x->m, &g_stop);
    atomic_store(&g_training, 1);
    const double secs = run_epochs(x);
    bpfree_model_stop_flag(x->m, NULL);
    return secs;
}

/* ---------------------------------------------------------------- resume */

/* The checkpoint's model and run options (a resumed run). */
bpfree_model *run_resume(const cli_run *given, cli_run *r, run_state *rs,
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
