/* train.c — `bpfree train`: options (or a checkpoint's), data, model,
 * outputs probed, the live log and its header, the run (run.c: epochs with
 * progress, divergence checks, checkpoints and Ctrl-C), report, save —
 * each step a function. */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ data */

/* --norm channel: each image channel's mean and std over the training rows
 * (after the --val hold-out), kept as per-column statistics in the data
 * record — every column its channel's — so that bpfree_data_prepare applies
 * them to any data the model sees, and the model file carries them. */
static void channel_stats(const bpfree_dataset *train, bpfree_data_info *info) {
    const int C = train->channels, D = train->dim;
    if (C < 1) die("--norm channel: '%s' has no image channels (use standardize)", train->name);
    if (info->n_cols) die("--norm channel: '%s' is standardised per column already", train->name);
    float *mean = malloc(2 * (size_t)C * sizeof(float));
    info->col_mean = malloc(2 * (size_t)D * sizeof(float));
    if (!mean || !info->col_mean) die("out of memory");
    bpfree_data_channel_stats(train, mean, mean + C);
    info->n_cols = D;
    info->col_std = info->col_mean + D;
    for (int j = 0; j < D; j++) {
        info->col_mean[j] = mean[j / (D / C)];
        info->col_std[j] = mean[C + j / (D / C)];
    }
    free(mean);
}

/* Data as --data names it (tabular sets raw: their statistics are computed
 * here and saved with the model); the checksum before any change; --val
 * held out; standardised with the training set's statistics. */
static void prepare_data(const cli_run *r, run_data *d, bpfree_config *cfg,
                         bpfree_data_info *info) {
    cli_load_data(r, 1, &d->train, &d->test);
    d->checksum = bpfree_data_checksum(&d->train); /* as loaded, before the repeat */
    bpfree_error e;
    if (r->input_repeat > 1 && (bpfree_data_repeat(&d->train, r->input_repeat, &e) ||
                                bpfree_data_repeat(&d->test, r->input_repeat, &e)))
        die("--input-repeat %d: %s", r->input_repeat, e.msg);
    if (r->input_pad > 0 && (bpfree_data_pad(&d->train, r->input_pad, &e) ||
                             bpfree_data_pad(&d->test, r->input_pad, &e)))
        die("--input-pad %d: %s", r->input_pad, e.msg);
    d->regression = d->train.y != NULL;
    d->classes = d->train.classes > d->test.classes ? d->train.classes : d->test.classes;
    cli_config(r, &d->train, d->regression ? d->train.outputs : d->classes, cfg);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", r->data);
    snprintf(info->targets, sizeof info->targets, "%s", r->target ? r->target : "");
    info->classify = r->classify;
    info->val = r->val;
    info->checksum = d->checksum;
    info->classes = d->regression ? 0 : d->classes;
    info->repeat = r->input_repeat > 1 ? r->input_repeat : 0;
    info->pad = r->input_pad > 0 ? r->input_pad : 0;
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
    if (cfg->norm == BPFREE_NORM_CHANNEL) channel_stats(&d->train, info);
    if (cfg->norm == BPFREE_NORM_SYMMETRIC && cli_tabular(r->data))
        die("--norm symmetric: '%s' is a table, not pixels in [0, 1] (use standardize)", r->data);
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
    int l0, l1, n0, n1;
    if (r->dist && !bpfree_model_dist_layers(m, 0, &l0, &l1))
        fprintf(o, "bpfree: data-parallel over %d ranks: each batch of %d split into shards\n",
                cli_dist_hooks->size, c->batch);
    for (int k = 0; r->dist && bpfree_model_dist_layers(m, k, &l0, &l1); k++) {
        const int more = bpfree_model_dist_layers(m, k + 1, &n0, &n1);
        fprintf(o, "%s rank %d layers %d-%d%s", k ? "," : "bpfree: layer-parallel:", k, l0 + 1,
                l1, more ? "" : "\n");
    }
}

/* The model's own preparation (bpfree_data_prepare) on every set. */
static void apply_prepare(const bpfree_model *m, run_data *d) {
    bpfree_error e;
    if (bpfree_data_prepare(m, &d->train, &e) || (d->val.n && bpfree_data_prepare(m, &d->val, &e)) ||
        bpfree_data_prepare(m, &d->test, &e))
        die_err(&e);
}

/* ------------------------------------------------------------ log header */

/* The header's `, "cpu": {...}`: the CPU the run is timed on, from
 * /proc/cpuinfo's first processor ("model name", "cpu family", "model": the
 * name alone, "AMD EPYC", does not tell a Zen 4 core from a Zen 5 one, whose
 * peak differs by 1.7x) and the cores online; -1 / "" for what the file
 * lacks (other architectures). */
static void cpu_json(FILE *f) {
    char line[4096], name[256] = ""; /* the "flags" line may still be longer: read in pieces */
    int family = -1, model = -1;
    FILE *c = fopen("/proc/cpuinfo", "r");
    while (c && (!*name || family < 0 || model < 0) && fgets(line, sizeof line, c) &&
           line[0] != '\n') { /* a blank line ends processor 0 */
        char *v = strchr(line, ':');
        if (!v) continue;
        size_t k = strcspn(line, "\t:"); /* "model name\t: AMD EPYC\n" */
        v += 1 + (v[1] == ' ');
        v[strcspn(v, "\n")] = '\0';
        if (k == 10 && !strncmp(line, "model name", k)) snprintf(name, sizeof name, "%s", v);
        else if (k == 10 && !strncmp(line, "cpu family", k)) family = atoi(v);
        else if (k == 5 && !strncmp(line, "model", k)) model = atoi(v);
    }
    if (c) fclose(c);
    fputs(", \"cpu\": {\"name\": ", f);
    cli_json_str(f, name);
    fprintf(f, ", \"family\": %d, \"model\": %d, \"cores\": %ld}", family, model, sysconf(_SC_NPROCESSORS_ONLN));
}

static void header_line(const run_ctx *x, const char *resumed) {
    const cli_run *r = x->r;
    const run_data *d = x->d;
    const bpfree_model *m = x->m;
    logfile *lg = x->lg;
    const bpfree_config *c = bpfree_model_config(m);
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);
    if (!f) die("out of memory");
    time_t t = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    fprintf(f, "{\"type\": \"header\", \"bpfree\": \"%s\", \"commit\": ", BPFREE_VERSION);
    cli_json_str(f, bpfree_build_commit());
    fprintf(f, ", \"blas\": \"%s\", \"threads\": %d, \"started\": \"%s\", \"rule\": ",
            bpfree_build_blas(), bpfree_set_threads(c->threads), when);
    cli_json_str(f, c->rule);
    cpu_json(f);
    fputs(", \"argv\": ", f);
    cli_json_argv(f, x->argc, (const char *const *)x->argv);
    fprintf(f, ", \"seed\": %llu, \"data\": {\"name\": ", (unsigned long long)c->seed);
    cli_json_str(f, r->data);
    fprintf(f, ", \"checksum\": \"%016llx\", \"train\": %d, \"val\": %d, \"test\": %d, "
               "\"shape\": [%d, %d, %d], \"classes\": %d",
            (unsigned long long)d->checksum, d->train.n, d->val.n, d->test.n, d->train.channels,
            d->train.height, d->train.width, d->regression ? 0 : d->classes);
    if (r->target) {
        fputs(", \"target\": ", f);
        cli_json_str(f, r->target);
    }
    fprintf(f, ", \"classify\": %d}, \"config\": {", r->classify);
    int k = 0;
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        char v[512];
        if (!bpfree_setting_applies(s, c->rule) || bpfree_config_get(c, s->name, v, sizeof v) < 0)
            continue;
        fputs(k++ ? ", " : "", f);
        cli_json_str(f, s->name);
        fputs(": ", f);
        cli_json_str(f, v);
    }
    fputs("}, \"dist\": ", f);
    if (r->dist) fprintf(f, "{\"mode\": \"%s\", \"ranks\": %d}", r->dist, cli_dist_hooks->size);
    else fputs("null", f);
    fputs(", \"resumed\": ", f);
    if (resumed) {
        fputs("{\"from\": ", f);
        cli_json_str(f, resumed);
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

/* ------------------------------------------------------------------ main */

/* The command line into given, and r: given with the run options' defaults. */
static void parse_run(int argc, char **argv, cli_run *given, cli_run *r) {
    *given = (cli_run){.rule = bpfree_rule_default(), .input_repeat = -1}; /* -1: not given */
    cli_parse(argc, argv, 2, given, NULL);
    if (given->input_repeat == 0) die("--input-repeat: must be >= 1");
    if (given->input_pad < 0 || given->input_pad > 64) die("--input-pad: must be in [0, 64]");
    *r = *given;
    if (r->input_repeat < 0) r->input_repeat = 1;
    if (!r->data) r->data = "mnist";
    if (!r->eval_every) r->eval_every = 1;
    if (!r->checkpoint_every) r->checkpoint_every = 1;
}

/* --dist data|layers: data- or layer-parallel under bpfree-mpi (rank 0
 * alone writes the log, the model and the screen); without it, one process. */
static void dist_options(cli_run *r) {
    const cli_dist *h = cli_dist_hooks;
    if (!r->dist) {
        if (h && h->size > 1)
            die("bpfree-mpi is running on %d ranks: give --dist data or --dist layers (or run "
                "bpfree)", h->size);
        return;
    }
    if (strcmp(r->dist, "data") && strcmp(r->dist, "layers"))
        die("--dist: '%s' is not a mode (data or layers)", r->dist);
    if (!h)
        die("--dist %s needs several processes: `make mpi`, then `mpirun -np N build/bpfree-mpi "
            "train ... --dist %s` (this bpfree has no MPI)", r->dist, r->dist);
    if (r->checkpoint || r->resume)
        die("--dist %s: --checkpoint and --resume are not supported (ranks stop together only "
            "at the end)", r->dist);
    if (h->rank) {
        r->log = NULL;
        r->save = NULL;
        r->quiet = 1;
        r->profile = r->profile_shapes = 0;
    }
}

/* A resumed run: the checkpoint's model and run options, the same data
 * (checked by its checksum), --val held out as before. */
static bpfree_model *resumed_model(const cli_run *given, cli_run *r, run_state *rs, run_data *d,
                                   const char **log_text, char **note) {
    bpfree_error e;
    bpfree_model *m = run_resume(given, r, rs, log_text, note);
    const bpfree_data_info *di = bpfree_model_data(m);
    cli_load_data(r, 1, &d->train, &d->test);
    d->checksum = bpfree_data_checksum(&d->train);
    if (d->checksum != di->checksum)
        die("--resume %s: the data '%s' is not what the run was trained on (checksum %016llx, "
            "the checkpoint recorded %016llx): an exact resume needs the same data",
            given->resume, r->data, (unsigned long long)d->checksum,
            (unsigned long long)di->checksum);
    d->regression = d->train.y != NULL;
    d->classes = d->train.classes > d->test.classes ? d->train.classes : d->test.classes;
    const uint64_t seed = bpfree_model_config(m)->seed;
    if (r->val > 0 && bpfree_data_split(&d->train, r->val, seed, &d->val, &e)) die_err(&e);
    return m;
}

/* A new run: the options checked, the data prepared, the model built with
 * the data's description; NULL after --print-config (nothing to train). */
static bpfree_model *new_model(const cli_run *given, const cli_run *r, run_data *d) {
    bpfree_config cfg;
    bpfree_data_info info;
    bpfree_model *m = NULL;
    bpfree_error e;
    if (r->eval_every < 1) die("--eval-every: must be >= 1");
    if (r->checkpoint_every < 1) die("--checkpoint-every: must be >= 1");
    if ((given->checkpoint_every || given->checkpoint_minutes) && !r->checkpoint)
        die("--checkpoint-every / --checkpoint-minutes need --checkpoint FILE");
    cli_config(r, NULL, 10, &cfg); /* a bad rule or option fails before the data loads */
    prepare_data(r, d, &cfg, &info);
    if (r->print_config) { /* the config as the data made it (a regression's loss) */
        cli_print_config(stdout, r, &cfg);
        free(info.col_mean);
        free(info.tcol_mean);
        bpfree_data_free(&d->train);
        bpfree_data_free(&d->val);
        bpfree_data_free(&d->test);
        return NULL;
    }
    if (bpfree_model_new(&cfg, &m, &e)) die_err(&e);
    if (bpfree_model_set_data(m, &info, &e)) die_err(&e);
    free(info.col_mean);
    free(info.tcol_mean);
    return m;
}

/* Every output probed now, and a killed run's leftovers removed. */
static void probe_outputs(const cli_run *r) {
    const char *outs[3][2] = {{"save", r->save}, {"log", r->log}, {"checkpoint", r->checkpoint}};
    for (int i = 0; i < 3; i++) {
        cli_clean_stale(outs[i][1]);
        cli_probe_output(outs[i][0], outs[i][1]);
    }
}

/* The log opened (after a resumed run's log so far) with its header line;
 * the header on the screen. */
static void start_log(run_ctx *x, const char *resumed, const char *log_text) {
    const cli_run *r = x->r;
    log_open(x->lg, r->log, log_text);
    header_line(x, resumed);
    if (!r->quiet) {
        print_header(r, x->d, x->m, x->rp->total, x->rp->screen);
        if (resumed)
            fprintf(x->rp->screen, "bpfree: resumed from %s after %d epochs and %ld batches\n",
                    resumed, bpfree_model_epochs_done(x->m), bpfree_model_batches_done(x->m));
    }
}

/* The final report, the profile, the model saved; the log closed. */
static void finish(run_ctx *x, double secs) {
    const cli_run *r = x->r;
    bpfree_error e;
    report_final(x->rp, x->lg, r->data, secs);
    if (r->profile || r->profile_shapes) report_profile(x->rp->ran, secs, r->profile_shapes);
    if (r->save) {
        if (bpfree_model_save(x->m, r->save, &e)) run_failed(x, &e);
        fprintf(x->rp->screen, "saved %s\n", r->save);
    }
    log_close(x->lg);
}

int cmd_train(int argc, char **argv) {
    run_take_signals();
    cli_run given, r;
    parse_run(argc, argv, &given, &r);
    dist_options(&r);
    run_ctx x = {.r = &r, .argc = argc - 1, .argv = argv + 1}; /* from "train" on */
    run_data d = {0};
    const char *log_text = NULL;
    char *note = NULL;
    bpfree_model *m = given.resume ? resumed_model(&given, &r, &x.rs, &d, &log_text, &note)
                                   : new_model(&given, &r, &d);
    if (!m) return 0; /* --print-config */
    bpfree_error e;
    if (r.dist && cli_dist_hooks->attach(m, !strcmp(r.dist, "layers"), &e)) die_err(&e);
    apply_prepare(m, &d);
    const bpfree_config *c = bpfree_model_config(m);
    probe_outputs(&r);
    bpfree_eval ev_test = {0}, ev_val = {0};
    const int to_stdout = r.log && !strcmp(r.log, "-");
    report rp = {m, &ev_test, &ev_val, d.val.n > 0, d.regression, r.quiet,
                 c->greedy_epochs > 0 ? c->greedy_epochs * c->n_hidden : c->epochs,
                 to_stdout ? stderr : stdout, 0};
    logfile lg;
    x.d = &d;
    x.m = m;
    x.rp = &rp;
    x.lg = &lg;
    start_log(&x, given.resume, log_text);
    finish(&x, run_train(&x));
    free(note);
    bpfree_model_free(m);
    bpfree_data_free(&d.train);
    bpfree_data_free(&d.val);
    bpfree_data_free(&d.test);
    return 0;
}
