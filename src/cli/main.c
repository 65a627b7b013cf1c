/* main.c — the bpfree command: train, eval, rules.
 * All options come from one table; --help prints every default. */
#include "bpfree.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ options */

typedef enum { T_STR, T_INT, T_FLOAT, T_FLAG } opt_type;

typedef struct opts {
    const char *rule, *data, *layers, *act, *loss, *norm, *optim, *sched, *init, *fb_init,
        *predict, *log, *save, *milestones, *f3_error, *target, *fb_optim, *diagnose,
        *threading;
    int epochs, batch, threads, val, greedy, step_epochs, nesterov, adamw, quiet, profile,
        profile_shapes, pipeline, f3_onehot, f3_softmax, classify, diag_every, diag_draws;
    double pepita_f, fb_lr, fb_wd;
    long long seed;
    double lr, momentum, wd, beta1, beta2, eps, cooldown, lr_min, gamma, init_std;
    /* Forward-Forward (ff, cff-fixed, cff-adaptive) */
    const char *ff_goodness, *ff_theta, *ff_norm, *ff_label, *ff_neg, *ff_predict, *preset;
    int ff_skip_first, eval_every;
    double ff_peer, ff_head_lr, cff_gamma, cff_alpha, cff_gamma_lr;
    /* which numeric options the user gave (else the rule's default wins) */
    unsigned char given[128];
} opts;

typedef struct opt_def {
    const char *name, *arg, *help;
    opt_type type;
    size_t off;
    const char *dflt; /* shown in --help; "(rule)" = the rule's default */
} opt_def;

#define O(f) offsetof(opts, f)
static const opt_def OPTS[] = {
    {"rule", "NAME", "learning rule (see `bpfree rules`)", T_STR, O(rule), "mf"},
    {"data", "NAME|DIR", "mnist, fashion-mnist, diabetes, breast-cancer, csv:FILE, or a directory "
     "with the 4 IDX files", T_STR, O(data), "mnist"},
    {"target", "COLS", "csv: target column(s), names or 0-based indices", T_STR, O(target),
     "last column"},
    {"classify", NULL, "csv: the target is a class label (else regression)", T_FLAG, O(classify),
     "off"},
    {"layers", "N,N,..", "hidden layer widths", T_STR, O(layers), "(rule)"},
    {"act", "NAME", "hidden activation: relu, tanh, sigmoid, identity", T_STR, O(act), "(rule)"},
    {"loss", "NAME", "ce (softmax cross-entropy), bce (sigmoid + BCE), mse", T_STR, O(loss),
     "(rule); mse for regression data"},
    {"norm", "NAME", "input preprocessing: scale ([0,1]) or standardize (train mean/std)", T_STR,
     O(norm), "(rule)"},
    {"epochs", "N", "epochs (with --greedy: per layer)", T_INT, O(epochs), "(rule)"},
    {"batch", "N", "minibatch size", T_INT, O(batch), "(rule)"},
    {"optim", "NAME", "sgd or adam (sgd without --lr: lr 0.05)", T_STR, O(optim), "(rule)"},
    {"lr", "F", "learning rate", T_FLOAT, O(lr), "(rule)"},
    {"sched", "NAME", "learning-rate schedule: none, step, cooldown, multistep", T_STR, O(sched),
     "(rule)"},
    {"cooldown", "F", "cooldown: fraction of training over which lr falls linearly", T_FLOAT,
     O(cooldown), "(rule)"},
    {"lr-min", "F", "cooldown: final learning rate", T_FLOAT, O(lr_min), "0"},
    {"step-epochs", "N", "step: decay every N epochs", T_INT, O(step_epochs), "10"},
    {"gamma", "F", "step: decay factor", T_FLOAT, O(gamma), "0.1"},
    {"milestones", "E,E,..", "multistep: epochs at which lr *= gamma (up to 4)", T_STR,
     O(milestones), "(rule)"},
    {"momentum", "F", "SGD momentum", T_FLOAT, O(momentum), "0.9"},
    {"nesterov", NULL, "SGD: Nesterov momentum", T_FLAG, O(nesterov), "off"},
    {"wd", "F", "weight decay (L2 in the gradient)", T_FLOAT, O(wd), "0"},
    {"adamw", NULL, "Adam: decoupled weight decay", T_FLAG, O(adamw), "off"},
    {"beta1", "F", "Adam beta1", T_FLOAT, O(beta1), "0.9"},
    {"beta2", "F", "Adam beta2", T_FLOAT, O(beta2), "0.999"},
    {"eps", "F", "Adam epsilon", T_FLOAT, O(eps), "1e-8"},
    {"init", "NAME", "weights: kaiming-uniform, he-uniform, xavier, normal, zeros", T_STR,
     O(init), "(rule)"},
    {"init-std", "F", "std of the normal init", T_FLOAT, O(init_std), "0.05"},
    {"feedback-init", "NAME",
     "feedback matrices (fa, dfa, drtp, f3): --init names, trinomial, binomial, pm-identity",
     T_STR, O(fb_init), "he-uniform"},
    {"f3-error", "NAME", "f3: stored error: error (y* - y) or loss (-dL/dy)", T_STR,
     O(f3_error), "error"},
    {"f3-onehot", NULL, "f3: keep only the target class's error", T_FLAG, O(f3_onehot), "off"},
    {"f3-softmax", NULL, "f3: softmax on the output before the error", T_FLAG, O(f3_softmax),
     "off"},
    {"pepita-f", "F", "pepita: F = F * U(±sqrt(6/D))", T_FLOAT, O(pepita_f), "0.05"},
    {"fb-lr", "F", "fdfa, dkp: feedback learning rate alpha (follows the lr schedule)", T_FLOAT,
     O(fb_lr), "(rule)"},
    {"fb-optim", "NAME", "fdfa, dkp: feedback optimizer: adam, sgd, ema (fdfa: eq. 8)", T_STR,
     O(fb_optim), "adam"},
    {"fb-wd", "F", "fdfa, dkp: L2 decay on the feedback matrices", T_FLOAT, O(fb_wd),
     "(rule)"},
    {"predict", "NAME", "mf prediction: ff (sum of layers' goodness) or bp (last layer)", T_STR,
     O(predict), "ff"},
    {"greedy", "N",
     "mf, ff, cff-*: train layer by layer, N epochs each (0 = all layers every batch)", T_INT,
     O(greedy), "0"},
    {"preset", "NAME",
     "a paper's whole setup: hinton (ff) or cff-paper (ff, cff-*); options after it override "
     "it (see below)", T_STR, O(preset), "none"},
    {"ff-goodness", "NAME", "ff, cff-*: goodness: sum or mean of squared activities", T_STR,
     O(ff_goodness), "sum"},
    {"ff-theta", "F|width", "ff, cff-*: threshold theta, or width (= the layer's units)", T_STR,
     O(ff_theta), "width"},
    {"ff-norm", "NAME", "ff, cff-*: each layer's input (image too): rms or l2", T_STR,
     O(ff_norm), "rms"},
    {"ff-label", "F|max", "ff, cff-*: value in the label input, or max (the image's largest)",
     T_STR, O(ff_label), "1"},
    {"ff-negatives", "NAME",
     "ff, cff-*: wrong label: random, or hard (from the one-pass head's softmax)", T_STR,
     O(ff_neg), "random"},
    {"ff-peer", "F", "ff, cff-*: peer normalisation weight (Hinton: 0.03; 0 = off)", T_FLOAT,
     O(ff_peer), "0"},
    {"ff-predict", "NAME",
     "ff, cff-*: main score: goodness (all labels, one batched pass) or onepass (neutral label "
     "+ softmax head); both are reported", T_STR, O(ff_predict), "goodness"},
    {"ff-skip-first", "0|1", "ff, cff-*: goodness prediction leaves out layer 1", T_INT,
     O(ff_skip_first), "0"},
    {"ff-head-lr", "F", "ff, cff-*: Adam lr of the one-pass softmax head", T_FLOAT,
     O(ff_head_lr), "0.001"},
    {"cff-gamma", "F", "cff-*: initial (cff-fixed: constant) gamma_l of 004 eq. 5", T_FLOAT,
     O(cff_gamma), "1"},
    {"cff-alpha", "F", "cff-*: alpha_lk, the weight of every other layer's goodness", T_FLOAT,
     O(cff_alpha), "1"},
    {"cff-gamma-lr", "F", "cff-adaptive: gamma's learning rate eta_gamma (004 eq. 7)", T_FLOAT,
     O(cff_gamma_lr), "0.01"},
    {"eval-every", "N", "evaluate (val, test) every N epochs and after the last", T_INT,
     O(eval_every), "1"},
    {"val", "N", "hold N training samples out for validation", T_INT, O(val), "0"},
    {"seed", "N", "random seed (init, feedback, shuffling, split)", T_INT, O(seed), "1"},
    {"threads", "N", "BLAS threads (0 = all cores)", T_INT, O(threads), "0"},
    {"log", "FILE", "write one JSON object per epoch", T_STR, O(log), "none"},
    {"save", "FILE", "save the trained model", T_STR, O(save), "none"},
    {"diagnose", "WHAT",
     "alignment (angle of each layer's update to BP's gradient, 002 Fig. 8), variance (of a "
     "stochastic rule's estimate over redraws, Figs. 5-6), or both: alignment,variance",
     T_STR, O(diagnose), "none"},
    {"diag-draws", "K", "diagnostics: redraws per measured batch for variance", T_INT,
     O(diag_draws), "10"},
    {"diag-every", "N", "diagnostics: measure every N-th batch", T_INT, O(diag_every), "10"},
    {"quiet", NULL, "print only the final result", T_FLAG, O(quiet), "off"},
    {"pipeline", "N",
     "mf, drtp, f3, llo, ff: pipeline the layers over N threads (layer l on batch k+1 while l+1 is on "
     "batch k; same numbers; 0 = off)",
     T_INT, O(pipeline), "0"},
    {"threading", "NAME",
     "with --threads > 1: split (bpfree splits each product and each layer's element-wise work "
     "over its threads, BLAS on one) or blas (the BLAS's threads for products)",
     T_STR, O(threading), "split"},
    {"profile", NULL,
     "time the matrix products of training and replay them alone; prints a 'profile:' line",
     T_FLAG, O(profile), "off"},
    {"profile-shapes", NULL,
     "with --profile: also one 'profile-shape:' line per product shape, most time first (calls, "
     "seconds in training and alone, GFLOP/s)",
     T_FLAG, O(profile_shapes), "off"},
};
#define N_OPTS ((int)(sizeof OPTS / sizeof *OPTS))
_Static_assert(sizeof OPTS / sizeof *OPTS <= 128, "opts.given too small");

/* --preset NAME: a paper's setup as the options it stands for. */
typedef struct preset_def {
    const char *name, *what;
    const char *kv[32][2]; /* option, value; ends at {NULL} */
} preset_def;
static const preset_def PRESETS[] = {
    {"hinton",
     "Hinton's FF on MNIST: 784-1000-1000-1000 ReLU, RMS norm, sum goodness, theta = width, "
     "hard negatives, peer normalisation 0.03, SGD momentum 0.9 + weight decay, lr cooled "
     "linearly to 0 over the second half, prediction without layer 1 (hyperparameters of "
     "Loewe's PyTorch port; 60 epochs as Hinton's paper)",
     {{"layers", "1000,1000,1000"}, {"act", "relu"}, {"ff-norm", "rms"},
      {"ff-goodness", "sum"}, {"ff-theta", "width"}, {"ff-label", "1"},
      {"ff-negatives", "hard"}, {"ff-peer", "0.03"}, {"ff-skip-first", "1"},
      {"ff-predict", "goodness"}, {"optim", "sgd"}, {"lr", "0.001"}, {"momentum", "0.9"},
      {"wd", "0.0003"}, {"sched", "cooldown"}, {"cooldown", "0.5"}, {"lr-min", "0"},
      {"batch", "100"}, {"epochs", "60"}, {"greedy", "0"}, {"norm", "scale"},
      {NULL, NULL}}},
    {"cff-paper",
     "004 sec. IV-C (the PyTorch FF it builds on): 784-500-500 ReLU, L2 norm, mean goodness, "
     "theta = 2, random wrong labels, label value = the image's max, standardised pixels, Adam "
     "0.03, layer by layer 1000 epochs each, one full batch of 50,000 (10,000 held out); "
     "use --greedy N for a smaller budget",
     {{"layers", "500,500"}, {"act", "relu"}, {"ff-norm", "l2"}, {"ff-goodness", "mean"},
      {"ff-theta", "2"}, {"ff-label", "max"}, {"ff-negatives", "random"}, {"ff-peer", "0"},
      {"ff-skip-first", "0"}, {"ff-predict", "goodness"}, {"optim", "adam"}, {"lr", "0.03"},
      {"wd", "0"}, {"sched", "none"}, {"batch", "50000"}, {"val", "10000"},
      {"greedy", "1000"}, {"norm", "standardize"}, {NULL, NULL}}},
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bpfree: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void die_err(const bpfree_error *e) { die("%s", e->msg); }

static void usage(FILE *f) {
    fprintf(f,
            "bpfree %s — train neural networks with and without backpropagation\n\n"
            "usage: bpfree train [options]          train a model, print per-epoch progress\n"
            "       bpfree eval MODEL [--data D]    evaluate a saved model on a test set\n"
            "       bpfree rules                    list the learning rules and their papers\n"
            "       bpfree help | --help | --version\n\n"
            "options (default in brackets; \"(rule)\": see the rule defaults below):\n",
            BPFREE_VERSION);
    for (int i = 0; i < N_OPTS; i++) {
        char lhs[40];
        snprintf(lhs, sizeof lhs, "--%s%s%s", OPTS[i].name, OPTS[i].arg ? " " : "",
                 OPTS[i].arg ? OPTS[i].arg : "");
        fprintf(f, "  %-24s %s [%s]\n", lhs, OPTS[i].help, OPTS[i].dflt);
    }
    fprintf(f, "\nrule defaults (any option given overrides them):\n");
    for (int i = 0; i < bpfree_rule_count(); i++) {
        bpfree_config c;
        const char *name = bpfree_rule_at(i)->name;
        if (bpfree_config_default(&c, name, 784, 10, NULL)) continue;
        fprintf(f, "  %-12s --layers ", name);
        for (int l = 0; l < c.n_hidden; l++) fprintf(f, "%s%d", l ? "," : "", c.hidden[l]);
        fprintf(f, " --act %s --loss %s --norm %s --epochs %d --batch %d --optim %s --lr %g --sched %s",
                bpfree_act_name(c.act), bpfree_loss_name(c.loss), bpfree_norm_name(c.norm),
                c.epochs, c.batch, bpfree_optim_name(c.optim.kind), (double)c.optim.lr,
                bpfree_sched_name(c.optim.sched));
        if (c.optim.sched == BPFREE_SCHED_COOLDOWN) fprintf(f, " --cooldown %g", (double)c.optim.cooldown);
        fputc('\n', f);
    }
    fprintf(f, "\npresets (applied where they appear; options after a preset override it):\n");
    for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++) {
        fprintf(f, "  %s: %s\n    =", PRESETS[i].name, PRESETS[i].what);
        for (int k = 0; PRESETS[i].kv[k][0]; k++)
            fprintf(f, " --%s %s", PRESETS[i].kv[k][0], PRESETS[i].kv[k][1]);
        fputc('\n', f);
    }
    fprintf(f, "\nexample: bpfree train --rule mf --data mnist --layers 1000,1000 --epochs 20\n");
}

static long long parse_int(const char *opt, const char *v) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) die("--%s: '%s' is not a whole number", opt, v);
    return x;
}

static double parse_float(const char *opt, const char *v) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x)) die("--%s: '%s' is not a number", opt, v);
    return x;
}

static int find_opt(const char *name) {
    for (int j = 0; j < N_OPTS; j++)
        if (strcmp(OPTS[j].name, name) == 0) return j;
    return -1;
}

static void set_value(opts *o, int k, const char *val) {
    const opt_def *d = &OPTS[k];
    o->given[k] = 1;
    char *p = (char *)o + d->off;
    switch (d->type) {
    case T_STR: *(const char **)p = val; break;
    case T_INT:
        if (d->off == O(seed)) *(long long *)p = parse_int(d->name, val);
        else {
            long long x = parse_int(d->name, val);
            if (x < INT_MIN || x > INT_MAX) die("--%s: %s is out of range", d->name, val);
            *(int *)p = (int)x;
        }
        break;
    case T_FLOAT: *(double *)p = parse_float(d->name, val); break;
    case T_FLAG: *(int *)p = 1; break;
    }
}

static int is_ff_rule(const char *r) {
    return r && (!strcmp(r, "ff") || !strcmp(r, "cff-fixed") || !strcmp(r, "cff-adaptive"));
}

/* A preset is the options it stands for, applied where it appears on the
 * command line.  It keeps an ff/cff-* rule given before it and otherwise
 * selects ff. */
static void apply_preset(opts *o, const char *name) {
    const preset_def *ps = NULL;
    for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++)
        if (!strcmp(PRESETS[i].name, name)) ps = &PRESETS[i];
    if (!ps) die("--preset: unknown preset '%s' (known: hinton, cff-paper)", name);
    if (!is_ff_rule(o->rule)) o->rule = "ff";
    for (int i = 0; ps->kv[i][0]; i++) {
        int k = find_opt(ps->kv[i][0]);
        if (k < 0) die("internal error: preset %s sets unknown option --%s", name, ps->kv[i][0]);
        set_value(o, k, ps->kv[i][1]);
    }
}

static void parse_opts(int argc, char **argv, int first, opts *o, const char **positional) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            if (positional && !*positional) {
                *positional = a;
                continue;
            }
            die("unexpected argument '%s' (options start with --; see bpfree --help)", a);
        }
        const char *name = a + 2, *val = NULL;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k = -1;
        for (int j = 0; j < N_OPTS; j++)
            if (strlen(OPTS[j].name) == nlen && strncmp(OPTS[j].name, name, nlen) == 0) k = j;
        if (k < 0) die("unknown option '%.*s' (see bpfree --help)", (int)(nlen + 2), a);
        const opt_def *d = &OPTS[k];
        if (d->type == T_FLAG) {
            if (eq) die("--%s takes no value", d->name);
            *(int *)((char *)o + d->off) = 1;
            continue;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else die("--%s needs a value (%s)", d->name, d->arg);
        set_value(o, k, val);
        if (d->off == O(preset)) apply_preset(o, val); /* here: later options override it */
    }
}

static int given(const opts *o, size_t off) {
    for (int j = 0; j < N_OPTS; j++)
        if (OPTS[j].off == off) return o->given[j];
    return 0;
}

static int parse_enum(const char *opt, const char *v, int (*fn)(const char *), const char *known) {
    int x = fn(v);
    if (x < 0) die("--%s: unknown value '%s' (known: %s)", opt, v, known);
    return x;
}

/* ---------------------------------------------------------------- data */

static void repo_root(char *out, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0) return;
    exe[n] = '\0';
    char *dir = dirname(exe); /* .../build */
    snprintf(out, cap, "%s/..", dir);
}

static void load_data(const opts *o, bpfree_dataset *train, bpfree_dataset *test) {
    char root[PATH_MAX];
    bpfree_error e;
    bpfree_data_options dopt;
    bpfree_data_options_default(&dopt); /* split seed 0: eval sees the same test rows */
    dopt.targets = o->target;
    dopt.classify = o->classify;
    repo_root(root, sizeof root);
    if (bpfree_data_load(o->data, root[0] ? root : NULL, &dopt, train, test, &e)) die_err(&e);
}

/* ---------------------------------------------------------------- train */

static void parse_layers(const char *s, bpfree_config *c) {
    c->n_hidden = 0;
    if (strcmp(s, "") == 0 || strcmp(s, "none") == 0) return;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long w = strtol(p, &end, 10);
        if (end == p || errno || w <= 0 || w > (1 << 20) || (*end && *end != ',') ||
            (*end == ',' && end[1] == '\0'))
            die("--layers: '%s' is not a list of positive widths like 1000,1000", s);
        if (c->n_hidden >= BPFREE_MAX_LAYERS - 1)
            die("--layers: at most %d hidden layers", BPFREE_MAX_LAYERS - 1);
        c->hidden[c->n_hidden++] = (int)w;
        p = *end ? end + 1 : end;
    }
}

/* "F" or the word `word` (e.g. "width", "max"): returns 1 for the word. */
static int float_or_word(const char *opt, const char *v, const char *word, float *out) {
    if (!strcmp(v, word)) return 1;
    double x = parse_float(opt, v);
    if (!(x > 0)) die("--%s: must be > 0 or '%s' (got %s)", opt, word, v);
    *out = (float)x;
    return 0;
}

static void apply_ff_options(const opts *o, bpfree_config *c) {
    if (o->ff_goodness)
        c->ff_goodness = parse_enum("ff-goodness", o->ff_goodness, bpfree_ff_goodness_parse,
                                    "sum, mean");
    if (o->ff_norm) c->ff_norm = parse_enum("ff-norm", o->ff_norm, bpfree_ff_norm_parse, "rms, l2");
    if (o->ff_neg)
        c->ff_negatives = parse_enum("ff-negatives", o->ff_neg, bpfree_ff_neg_parse, "random, hard");
    if (o->ff_predict)
        c->ff_predict = parse_enum("ff-predict", o->ff_predict, bpfree_ff_predict_parse,
                                   "goodness, onepass");
    if (o->ff_theta) c->ff_theta_width = float_or_word("ff-theta", o->ff_theta, "width", &c->ff_theta);
    if (o->ff_label) c->ff_label_max = float_or_word("ff-label", o->ff_label, "max", &c->ff_label);
    if (given(o, O(ff_skip_first))) {
        if (o->ff_skip_first != 0 && o->ff_skip_first != 1) die("--ff-skip-first: 0 or 1");
        c->ff_skip_first = o->ff_skip_first;
    }
    if (given(o, O(ff_peer))) c->ff_peer = (float)o->ff_peer;
    if (given(o, O(ff_head_lr))) c->ff_head_lr = (float)o->ff_head_lr;
    if (given(o, O(cff_gamma))) c->cff_gamma = (float)o->cff_gamma;
    if (given(o, O(cff_alpha))) c->cff_alpha = (float)o->cff_alpha;
    if (given(o, O(cff_gamma_lr))) c->cff_gamma_lr = (float)o->cff_gamma_lr;
}

static int parse_f3_error(const char *s) {
    return strcmp(s, "error") == 0 ? 0 : strcmp(s, "loss") == 0 ? 1 : -1;
}

static int parse_fb_optim(const char *s) {
    return strcmp(s, "adam") == 0 ? BPFREE_FB_ADAM
           : strcmp(s, "sgd") == 0 ? BPFREE_FB_SGD
           : strcmp(s, "ema") == 0 ? BPFREE_FB_EMA
                                   : -1;
}

static void build_config(const opts *o, int D, int C, bpfree_config *c) {
    bpfree_error e;
    if (!bpfree_rule_find(o->rule)) {
        char known[512] = "";
        for (int i = 0; i < bpfree_rule_count(); i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     bpfree_rule_at(i)->name);
        die("--rule: unknown rule '%s' (known: %s)", o->rule, known);
    }
    if (bpfree_config_default(c, o->rule, D, C, &e)) die_err(&e);
    if (o->layers) parse_layers(o->layers, c);
    if (o->act) c->act = parse_enum("act", o->act, bpfree_act_parse, "relu, tanh, sigmoid, identity");
    if (o->loss) c->loss = parse_enum("loss", o->loss, bpfree_loss_parse, "ce, bce, mse");
    if (o->init)
        c->init = parse_enum("init", o->init, bpfree_init_parse,
                             "kaiming-uniform, he-uniform, xavier, normal, zeros");
    if (o->fb_init)
        c->feedback_init = parse_enum("feedback-init", o->fb_init, bpfree_init_parse,
                                      "kaiming-uniform, he-uniform, xavier, normal, zeros");
    if (o->predict) c->predict = parse_enum("predict", o->predict, bpfree_predict_parse, "ff, bp");
    if (o->optim) {
        bpfree_optim_kind k = parse_enum("optim", o->optim, bpfree_optim_parse, "sgd, adam");
        if (k != c->optim.kind && !given(o, O(lr)))
            c->optim.lr = k == BPFREE_OPTIM_SGD ? 0.05f : 1e-3f;
        c->optim.kind = k;
    }
    if (o->sched)
        c->optim.sched = parse_enum("sched", o->sched, bpfree_sched_parse,
                                    "none, step, cooldown, multistep");
    if (o->milestones) {
        int *ms = c->optim.milestones, k = 0;
        memset(ms, 0, 4 * sizeof *ms);
        const char *p = o->milestones;
        while (*p) {
            char *end;
            long e = strtol(p, &end, 10);
            if (end == p || e <= 0 || e > 1000000 || k == 4 || (*end && *end != ','))
                die("--milestones: '%s' is not a list of up to 4 positive epochs like 60,90",
                    o->milestones);
            ms[k++] = (int)e;
            p = *end ? end + 1 : end;
        }
    }
    if (o->f3_error) c->f3_loss = parse_enum("f3-error", o->f3_error, parse_f3_error, "error, loss");
    if (o->f3_onehot) c->f3_onehot = 1;
    if (o->f3_softmax) c->f3_softmax = 1;
    if (given(o, O(pepita_f))) c->pepita_f = (float)o->pepita_f;
    if (o->diagnose) {
        c->diagnose = 0;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", o->diagnose);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "alignment") == 0) c->diagnose |= BPFREE_DIAG_ALIGNMENT;
            else if (strcmp(t, "variance") == 0) c->diagnose |= BPFREE_DIAG_VARIANCE;
            else if (strcmp(t, "none") != 0)
                die("--diagnose: unknown value '%s' (known: alignment, variance, none)", t);
        }
    }
    if (given(o, O(diag_draws))) c->diag_draws = o->diag_draws;
    if (given(o, O(diag_every))) c->diag_every = o->diag_every;
    if (o->fb_optim)
        c->fb_optim = parse_enum("fb-optim", o->fb_optim, parse_fb_optim, "adam, sgd, ema");
    if (given(o, O(fb_lr))) c->fb_lr = (float)o->fb_lr;
    if (given(o, O(fb_wd))) c->fb_wd = (float)o->fb_wd;
    if (given(o, O(epochs))) c->epochs = o->epochs;
    if (given(o, O(batch))) c->batch = o->batch;
    if (given(o, O(lr))) c->optim.lr = (float)o->lr;
    if (given(o, O(momentum))) c->optim.momentum = (float)o->momentum;
    if (given(o, O(wd))) c->optim.weight_decay = (float)o->wd;
    if (given(o, O(beta1))) c->optim.beta1 = (float)o->beta1;
    if (given(o, O(beta2))) c->optim.beta2 = (float)o->beta2;
    if (given(o, O(eps))) c->optim.eps = (float)o->eps;
    if (given(o, O(cooldown))) c->optim.cooldown = (float)o->cooldown;
    if (given(o, O(lr_min))) c->optim.lr_min = (float)o->lr_min;
    if (given(o, O(step_epochs))) c->optim.step_epochs = o->step_epochs;
    if (given(o, O(gamma))) c->optim.gamma = (float)o->gamma;
    if (given(o, O(init_std))) c->init_std = (float)o->init_std;
    if (given(o, O(greedy))) c->greedy_epochs = o->greedy;
    if (given(o, O(seed))) {
        if (o->seed < 0) die("--seed: must be >= 0");
        c->seed = (uint64_t)o->seed;
    }
    if (given(o, O(threads))) c->threads = o->threads;
    if (given(o, O(pipeline))) c->pipeline = o->pipeline;
    if (o->threading) {
        if (strcmp(o->threading, "split") == 0) c->threading = BPFREE_THREADING_SPLIT;
        else if (strcmp(o->threading, "blas") == 0) c->threading = BPFREE_THREADING_BLAS;
        else die("--threading: unknown value '%s' (known: split, blas)", o->threading);
    }
    if (o->nesterov) c->optim.nesterov = 1;
    if (o->adamw) c->optim.decoupled = 1;
    apply_ff_options(o, c);
    if (c->greedy_epochs > 0 && strcmp(c->rule, "mf") != 0 && !is_ff_rule(c->rule))
        die("--greedy: layer-by-layer training applies to rules mf, ff, cff-fixed and "
            "cff-adaptive, not %s", c->rule);
    if (bpfree_config_check(c, &e)) die_err(&e);
}

/* A log written to a temporary name and renamed when the run ends. */
typedef struct logfile {
    FILE *f;
    char tmp[PATH_MAX];
    const char *path;
} logfile;

static void log_open(logfile *lg, const char *path) {
    lg->f = NULL;
    lg->path = path;
    if (!path) return;
    snprintf(lg->tmp, sizeof lg->tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(lg->tmp);
    if (fd < 0 || !(lg->f = fdopen(fd, "w"))) die("--log %s: %s", path, strerror(errno));
}

static void log_close(logfile *lg) {
    if (!lg->f) return;
    int bad = fclose(lg->f) != 0;
    lg->f = NULL;
    if (bad || rename(lg->tmp, lg->path) != 0) {
        unlink(lg->tmp);
        die("--log %s: could not write: %s", lg->path, strerror(errno));
    }
}

/* `, "key": [v, ...]` for n > 0 values; NaN becomes null (JSON has no NaN). */
static void log_array(FILE *f, const char *key, const double *v, int n) {
    for (int l = 0; l < n; l++) {
        fprintf(f, l ? ", " : ", \"%s\": [", key);
        if (isnan(v[l])) fputs("null", f);
        else fprintf(f, "%.4g", v[l]);
    }
    if (n) fputs("]", f);
}

static void print_heads(FILE *f, const bpfree_eval *ev, const char *sep_open, const char *fmt,
                        double scale) {
    fputs(sep_open, f);
    for (int h = 0; h < ev->n_heads; h++) fprintf(f, fmt, h ? "," : "", scale * ev->head_acc[h]);
}

/* ff, cff-*: heads are goodness, one-pass, then each layer's goodness alone
 * (BPFREE_FF_HEAD_*). */
static void print_ff_heads(FILE *f, const bpfree_eval *ev, int json) {
    if (ev->n_heads < BPFREE_FF_HEAD_LAYER0) return;
    const double *a = ev->head_acc;
    if (json) {
        fprintf(f, ", \"goodness_test_acc\": %.6g, \"onepass_test_acc\": %.6g",
                a[BPFREE_FF_HEAD_GOODNESS], a[BPFREE_FF_HEAD_ONEPASS]);
        for (int h = BPFREE_FF_HEAD_LAYER0; h < ev->n_heads; h++)
            fprintf(f, "%s%.6g", h == BPFREE_FF_HEAD_LAYER0 ? ", \"layer_test_acc\": [" : ", ",
                    a[h]);
        fputs("]", f);
        return;
    }
    fprintf(f, "  goodness %.2f%%  one-pass %.2f%%  layers", 100 * a[BPFREE_FF_HEAD_GOODNESS],
            100 * a[BPFREE_FF_HEAD_ONEPASS]);
    for (int h = BPFREE_FF_HEAD_LAYER0; h < ev->n_heads; h++)
        fprintf(f, "%s%.2f", h == BPFREE_FF_HEAD_LAYER0 ? " " : ",", 100 * a[h]);
}

static void fmt_bytes(char *b, size_t cap, size_t n) {
    if (n >= (1u << 30)) snprintf(b, cap, "%.2f GiB", n / 1073741824.0);
    else snprintf(b, cap, "%.1f MiB", n / 1048576.0);
}

static int cmd_train(int argc, char **argv) {
    opts o = {.rule = "mf", .data = "mnist"};
    parse_opts(argc, argv, 2, &o, NULL);
    bpfree_dataset train = {0}, test = {0}, val = {0};
    bpfree_error e;
    /* fail on a bad rule or option before spending time on data */
    bpfree_config cfg;
    build_config(&o, 784, 10, &cfg);
    load_data(&o, &train, &test);
    const int regression = train.y != NULL;
    build_config(&o, train.dim,
                 regression ? train.outputs
                            : (train.classes > test.classes ? train.classes : test.classes),
                 &cfg);
    if (regression && !o.loss) cfg.loss = BPFREE_LOSS_MSE; /* linear output + MSE */
    if (o.norm) cfg.norm = parse_enum("norm", o.norm, bpfree_norm_parse, "scale, standardize");
    if (given(&o, O(val))) {
        if (o.val < 0) die("--val: must be >= 0");
        if (o.val > 0 && bpfree_data_split(&train, o.val, cfg.seed, &val, &e)) die_err(&e);
    }
    if (cfg.norm == BPFREE_NORM_STANDARDIZE) {
        /* training-set statistics, saved with the model so eval applies the same */
        bpfree_data_stats(&train, &cfg.norm_mean, &cfg.norm_std);
        bpfree_data_normalize(&train, cfg.norm_mean, cfg.norm_std);
        if (val.n) bpfree_data_normalize(&val, cfg.norm_mean, cfg.norm_std);
        bpfree_data_normalize(&test, cfg.norm_mean, cfg.norm_std);
    }
    bpfree_model *m;
    if (bpfree_model_new(&cfg, &m, &e)) die_err(&e);
    const bpfree_rule_info *ri = bpfree_model_rule(m);
    int total = cfg.greedy_epochs > 0 ? cfg.greedy_epochs * cfg.n_hidden : cfg.epochs;
    if (!o.quiet) {
        printf("bpfree: %s (%s) on %s: %d train, %d %s, %d test; layers %d", ri->name, ri->title,
               o.data, train.n, val.n, "val", test.n, cfg.inputs);
        for (int i = 0; i < cfg.n_hidden; i++) printf("-%d", cfg.hidden[i]);
        printf("%s%d %s; %zu parameters\n", ri->output_layer ? "-" : " heads ",
               cfg.outputs, bpfree_act_name(cfg.act), bpfree_model_param_count(m));
        printf("bpfree: %s lr %g, %s schedule, batch %d, %d epochs%s, seed %llu\n",
               bpfree_optim_name(cfg.optim.kind), (double)cfg.optim.lr,
               bpfree_sched_name(cfg.optim.sched), cfg.batch, total,
               cfg.greedy_epochs ? " (greedy, per layer)" : "", (unsigned long long)cfg.seed);
    }
    if (o.save) { /* fail now, not after the whole run */
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s.tmp.XXXXXX", o.save);
        int fd = mkstemp(probe);
        if (fd < 0) die("--save %s: cannot write there: %s", o.save, strerror(errno));
        close(fd);
        unlink(probe);
    }
    logfile lg;
    log_open(&lg, o.log);
    bpfree_eval ev_test = {0}, ev_val = {0};
    double secs = 0;
    const int ff = is_ff_rule(cfg.rule);
    if (given(&o, O(eval_every)) && o.eval_every < 1) die("--eval-every: must be >= 1");
    const int eval_every = given(&o, O(eval_every)) ? o.eval_every : 1;
    const int profile = o.profile || o.profile_shapes; /* --profile-shapes implies --profile */
    for (int ep = 0; ep < total; ep++) {
        bpfree_epoch_stats st;
        if (profile) bpfree_profile_start(ep == 0);
        const bpfree_status trs = bpfree_train_epoch(m, &train, &st, &e);
        if (profile) bpfree_profile_stop(NULL);
        if (trs) {
            log_close(&lg);
            die_err(&e);
        }
        secs += st.seconds;
        /* --eval-every: val and test only every N epochs and after the last */
        const int evald = eval_every <= 1 || (ep + 1) % eval_every == 0 || ep == total - 1;
        if (evald && val.n && bpfree_evaluate(m, &val, &ev_val, &e)) die_err(&e);
        if (evald && bpfree_evaluate(m, &test, &ev_test, &e)) die_err(&e);
        float gam[BPFREE_MAX_LAYERS];
        const int ngam = bpfree_model_gammas(m, gam, BPFREE_MAX_LAYERS);
        if (!o.quiet) {
            printf("epoch %3d/%d  loss %.4f", ep + 1, total, st.train_loss);
            if (regression) {
                if (evald && val.n) printf("  val loss %.4f", ev_val.loss);
                if (evald) printf("  test loss %.4f", ev_test.loss);
            } else {
                printf("  train %6.2f%%", 100 * st.train_acc);
                if (evald && val.n) printf("  val %6.2f%%", 100 * ev_val.acc);
                if (evald) printf("  test %6.2f%%", 100 * ev_test.acc);
            }
            if (evald && ff) print_ff_heads(stdout, &ev_test, 0);
            else if (evald && ev_test.n_heads)
                print_heads(stdout, &ev_test, "  layers ", "%s%.2f", 100.0);
            for (int l = 0; l < ngam; l++) printf("%s%.4f", l ? "," : "  gamma ", (double)gam[l]);
            if (st.active_layer >= 0) printf("  [layer %d]", st.active_layer + 1);
            for (int l = 0; l < st.n_align; l++)
                printf("%s%.1f", l ? "/" : "  align ", st.align_deg[l]);
            for (int l = 0; l < st.n_var; l++)
                printf("%s%.3g", l ? "/" : "  var ", st.var_norm[l]);
            printf("  %.2fs  %.0f samples/s  lr %.3g\n", st.seconds, st.samples_per_s, st.lr);
            fflush(stdout);
        }
        if (lg.f) {
            fprintf(lg.f, "{\"epoch\": %d, \"train_loss\": %.6g", ep + 1, st.train_loss);
            if (evald) fprintf(lg.f, ", \"test_loss\": %.6g", ev_test.loss);
            if (!regression) fprintf(lg.f, ", \"train_acc\": %.6g", st.train_acc);
            if (evald && !regression) fprintf(lg.f, ", \"test_acc\": %.6g", ev_test.acc);
            if (evald && val.n) fprintf(lg.f, ", \"val_loss\": %.6g", ev_val.loss);
            if (evald && val.n && !regression) fprintf(lg.f, ", \"val_acc\": %.6g", ev_val.acc);
            if (evald && ff) print_ff_heads(lg.f, &ev_test, 1);
            else if (evald && ev_test.n_heads) {
                print_heads(lg.f, &ev_test, ", \"layer_test_acc\": [", "%s%.6g", 1.0);
                fputs("]", lg.f);
            }
            if (ngam) {
                for (int l = 0; l < ngam; l++)
                    fprintf(lg.f, "%s%.6g", l ? ", " : ", \"gamma\": [", (double)gam[l]);
                fputs("]", lg.f);
            }
            if (st.active_layer >= 0) fprintf(lg.f, ", \"layer\": %d", st.active_layer + 1);
            log_array(lg.f, "align_deg", st.align_deg, st.n_align);
            log_array(lg.f, "var_norm", st.var_norm, st.n_var);
            log_array(lg.f, "var_raw", st.var_raw, st.n_var);
            fprintf(lg.f, ", \"seconds\": %.4f, \"samples_per_s\": %.1f, \"lr\": %.6g}\n",
                    st.seconds, st.samples_per_s, st.lr);
            fflush(lg.f);
        }
    }
    log_close(&lg);
    char pk[32];
    fmt_bytes(pk, sizeof pk, bpfree_model_peak_bytes(m));
    if (regression) {
        printf("final: %s on %s: test loss %.4f (%s)", ri->name, o.data, ev_test.loss,
               bpfree_loss_name(cfg.loss));
        if (val.n) printf(", val loss %.4f", ev_val.loss);
    } else {
        printf("final: %s on %s: test accuracy %.2f%% (loss %.4f)", ri->name, o.data,
               100 * ev_test.acc, ev_test.loss);
        if (val.n) printf(", val %.2f%%", 100 * ev_val.acc);
    }
    if (ff) {
        printf(", %s prediction;", bpfree_ff_predict_name(cfg.ff_predict));
        print_ff_heads(stdout, &ev_test, 0);
    } else if (ev_test.n_heads) { /* mf's layer heads (its --predict), lg-fg-a's local heads */
        if (strcmp(ri->name, "mf") == 0) printf(", %s prediction", bpfree_predict_name(cfg.predict));
        printf("; per layer ");
        for (int h = 0; h < ev_test.n_heads; h++) printf("%s%.2f%%", h ? " " : "", 100 * ev_test.head_acc[h]);
    }
    printf("\nfinal: %d epochs, %.2f s/epoch, peak model memory %s\n", total, secs / total, pk);
    char note[512];
    bpfree_model_describe(m, note, sizeof note);
    if (note[0]) printf("final: %s\n", note);
    printf("taxonomy (survey Table I): weight transport %s, frozen activities %s, locality %s, "
           "update locking %s\n",
           ri->weight_transport, ri->frozen_activities, ri->locality, ri->update_locking);
    if (profile) {
        bpfree_profile p;
        bpfree_profile_stop(&p);
        const double alone = bpfree_profile_replay(5);
        printf("profile: epochs=%d train_seconds=%.4f gemm_seconds=%.4f gemm_fraction=%.4f "
               "gflop=%.3f gemm_calls=%ld gemm_alone_seconds=%.4f gemm_shapes=%d\n",
               total, secs, p.seconds, secs > 0 ? p.seconds / secs : 0.0, p.flops * 1e-9,
               p.calls, alone, p.shapes);
        if (o.profile_shapes) {
            bpfree_profile_shape sh[128];
            const int n = bpfree_profile_shapes(sh, 128);
            for (int i = 0; i < n && i < 128; i++) {
                const double gf = 2e-9 * sh[i].M * sh[i].N * (double)sh[i].K * (double)sh[i].calls;
                printf("profile-shape: %s%s%s M=%d N=%d K=%d calls=%ld seconds=%.4f share=%.4f "
                       "gflops=%.1f alone_seconds=%.4g alone_gflops=%.1f\n",
                       sh[i].ta ? "T" : "N", sh[i].tb ? "T" : "N", sh[i].accumulate ? "+" : "",
                       sh[i].M, sh[i].N, sh[i].K,
                       sh[i].calls, sh[i].seconds, secs > 0 ? sh[i].seconds / secs : 0.0,
                       sh[i].seconds > 0 ? gf / sh[i].seconds : 0.0, sh[i].alone,
                       sh[i].alone > 0 ? gf / sh[i].alone : 0.0);
            }
        }
    }
    if (o.save) {
        if (bpfree_model_save(m, o.save, &e)) die_err(&e);
        printf("saved %s\n", o.save);
    }
    bpfree_model_free(m);
    bpfree_data_free(&train);
    bpfree_data_free(&val);
    bpfree_data_free(&test);
    return 0;
}

/* ----------------------------------------------------------------- eval */

static int cmd_eval(int argc, char **argv) {
    opts o = {.data = "mnist"};
    const char *path = NULL;
    parse_opts(argc, argv, 2, &o, &path);
    if (!path) die("eval needs a model file: bpfree eval MODEL [--data NAME|DIR]");
    bpfree_error e;
    bpfree_model *m;
    if (bpfree_model_load(path, &m, &e)) die_err(&e);
    const bpfree_config *c = bpfree_model_config(m);
    bpfree_dataset train = {0}, test = {0};
    load_data(&o, &train, &test);
    bpfree_data_free(&train);
    if (c->norm == BPFREE_NORM_STANDARDIZE) bpfree_data_normalize(&test, c->norm_mean, c->norm_std);
    bpfree_eval ev;
    if (bpfree_evaluate(m, &test, &ev, &e)) die_err(&e);
    if (test.y)
        printf("%s: %s model, %d epochs trained; %s test: loss %.4f (%s)", path, c->rule,
               bpfree_model_epochs_done(m), o.data, ev.loss, bpfree_loss_name(c->loss));
    else
        printf("%s: %s model, %d epochs trained; %s test: accuracy %.2f%% (loss %.4f)", path,
               c->rule, bpfree_model_epochs_done(m), o.data, 100 * ev.acc, ev.loss);
    if (is_ff_rule(c->rule)) {
        printf(";");
        print_ff_heads(stdout, &ev, 0);
    } else if (ev.n_heads) {
        printf("; per layer");
        for (int h = 0; h < ev.n_heads; h++) printf(" %.2f%%", 100 * ev.head_acc[h]);
    }
    printf("\n");
    bpfree_model_free(m);
    bpfree_data_free(&test);
    return 0;
}

/* ---------------------------------------------------------------- rules */

static int cmd_rules(void) {
    int wn = 4, wt = 4; /* column widths from the table itself */
    for (int i = 0; i < bpfree_rule_count(); i++) {
        const bpfree_rule_info *r = bpfree_rule_at(i);
        if ((int)strlen(r->name) > wn) wn = (int)strlen(r->name);
        if ((int)strlen(r->title) > wt) wt = (int)strlen(r->title);
    }
    printf("%-*s  %-*s  %-9s %-7s %-13s %-9s  %s\n", wn, "rule", wt, "name", "weight-tr", "frozen",
           "locality", "locking", "paper");
    for (int i = 0; i < bpfree_rule_count(); i++) {
        const bpfree_rule_info *r = bpfree_rule_at(i);
        printf("%-*s  %-*s  %-9s %-7s %-13s %-9s  %s\n", wn, r->name, wt, r->title,
               r->weight_transport, r->frozen_activities, r->locality, r->update_locking, r->paper);
    }
    printf("\ncolumns: the survey's taxonomy (000, Table I and section IV): weight transport (W^T in\n"
           "the signal), frozen activities (all activations held for the signal), locality of the\n"
           "signal, and update locking: backward = waits for the backward pass, forward = waits\n"
           "for the whole forward pass, none = a layer updates as soon as it has run.\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return cmd_train(argc, argv);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc, argv);
    if (strcmp(cmd, "rules") == 0) return cmd_rules();
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("bpfree %s\n", BPFREE_VERSION);
        return 0;
    }
    die("unknown command '%s' (commands: train, eval, rules; see bpfree --help)", cmd);
}
