/* settings.c — the one table of settings.
 *
 * Each field of bpfree_config is one row: option name, model-file key, help,
 * default, kind and range, and the capabilities a rule needs for it to
 * apply.  The generic rows are here; a rule's own hyperparameters are rows
 * in its file (bp_rule.settings).  Defaults, checks, bpfree_config_set/get,
 * the model file and `bpfree --help` all read this table and nothing else. */
#include "engine/engine.h"

#include <errno.h>
#include <limits.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------- names of small enums */

static const char *threading_name(int v) {
    return v == BPFREE_THREADING_SPLIT ? "split" : v == BPFREE_THREADING_BLAS ? "blas" : "?";
}
static int threading_parse(const char *s) {
    return !strcmp(s, "split") ? BPFREE_THREADING_SPLIT : !strcmp(s, "blas") ? BPFREE_THREADING_BLAS : -1;
}
static const char *scaling_name(int v) {
    return v == BPFREE_SIGNAL_MEAN ? "mean" : v == BPFREE_SIGNAL_AUTHORS ? "authors" : "?";
}
static int scaling_parse(const char *s) {
    return !strcmp(s, "mean") ? BPFREE_SIGNAL_MEAN : !strcmp(s, "authors") ? BPFREE_SIGNAL_AUTHORS : -1;
}
static const char *fbpoint_name(int v) {
    return v == BPFREE_FBPOINT_OUTPUT ? "output" : v == BPFREE_FBPOINT_PREPOOL ? "pre-pool" : "?";
}
static int fbpoint_parse(const char *s) {
    return !strcmp(s, "output") ? BPFREE_FBPOINT_OUTPUT
           : !strcmp(s, "pre-pool") ? BPFREE_FBPOINT_PREPOOL : -1;
}
static const char *fb_sched_name(int v) { return v == 0 ? "constant" : v == 1 ? "follow" : "?"; }
static int fb_sched_parse(const char *s) {
    return !strcmp(s, "constant") ? 0 : !strcmp(s, "follow") ? 1 : -1;
}
static const char *fb_optim_name(int v) {
    static const char *const n[] = {[BPFREE_FB_ADAM] = "adam", [BPFREE_FB_SGD] = "sgd",
                                    [BPFREE_FB_EMA] = "ema"};
    return v >= 0 && v < BPFREE_FB_COUNT ? n[v] : "?";
}
static int fb_optim_parse(const char *s) {
    for (int i = 0; i < BPFREE_FB_COUNT; i++)
        if (!strcmp(s, fb_optim_name(i))) return i;
    return -1;
}
#define ENUM_FNS(fn, type)                                                                  \
    static const char *fn##_n(int v) { return bpfree_##fn##_name((type)v); }
ENUM_FNS(act, bpfree_act)
ENUM_FNS(loss, bpfree_loss)
ENUM_FNS(init, bpfree_init)
ENUM_FNS(optim, bpfree_optim_kind)
ENUM_FNS(sched, bpfree_sched)
ENUM_FNS(norm, bpfree_norm)

/* --------------------------------------------------- lists and the like */

/* "N,N,..": positive ints into v[0..max), count into *n; "" or "none" = 0 */
static int parse_ints(const char *s, int *v, int *n, int max, int lo, long hi, char *why,
                      size_t cap) {
    *n = 0;
    if (!strcmp(s, "") || !strcmp(s, "none")) return 0;
    for (const char *p = s; *p;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < lo || x > hi || (*end && *end != ',') ||
            (*end == ',' && end[1] == '\0')) {
            snprintf(why, cap, "'%s' is not a list of whole numbers in [%d, %ld] like 1000,1000",
                     s, lo, hi);
            return -1;
        }
        if (*n >= max) {
            snprintf(why, cap, "'%s' has more than %d entries", s, max);
            return -1;
        }
        v[(*n)++] = (int)x;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int put_ints(const int *v, int n, char *buf, size_t cap) {
    size_t k = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + k, cap - k, "%s%d", i ? "," : "", v[i]);
        if (w < 0 || (size_t)w >= cap - k) return -1;
        k += (size_t)w;
    }
    return (int)k;
}

static int layers_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    int h[BPFREE_MAX_LAYERS], n;
    if (parse_ints(v, h, &n, BPFREE_MAX_LAYERS - 1, 1, 1L << 20, why, cap)) return -1;
    c->n_hidden = n;
    memcpy(c->hidden, h, (size_t)n * sizeof *h);
    return 0;
}
static int layers_format(const bpfree_config *c, char *buf, size_t cap) {
    if (c->n_hidden < 0 || c->n_hidden > BPFREE_MAX_LAYERS) return snprintf(buf, cap, "?");
    return c->n_hidden ? put_ints(c->hidden, c->n_hidden, buf, cap) : snprintf(buf, cap, "none");
}

static int shape_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    int ch = 0, h = 0, w = 0, n = 0;
    if (strcmp(v, "none") != 0 && (sscanf(v, "%dx%dx%d%n", &ch, &h, &w, &n) != 3 || v[n] ||
                                   ch < 1 || h < 1 || w < 1)) {
        snprintf(why, cap, "'%s' is not CxHxW (like 1x28x28) or none", v);
        return -1;
    }
    c->in_channels = ch, c->in_height = h, c->in_width = w;
    return 0;
}
static int shape_format(const bpfree_config *c, char *buf, size_t cap) {
    if (!c->in_channels) return snprintf(buf, cap, "none");
    return snprintf(buf, cap, "%dx%dx%d", c->in_channels, c->in_height, c->in_width);
}

/* --arch: the layers and, when the input shape is known, their widths into
 * n_hidden / hidden[] (otherwise each layer's channels or units stand in
 * until the shape is known: bp_config_check recomputes) */
static int arch_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    if (!strcmp(v, "") || !strcmp(v, "none")) {
        c->arch[0] = '\0';
        return 0;
    }
    if (strlen(v) >= sizeof c->arch) {
        snprintf(why, cap, "'%s' is longer than %zu characters", v, sizeof c->arch - 1);
        return -1;
    }
    bp_arch_layer s[BPFREE_MAX_LAYERS];
    bp_geom g[BPFREE_MAX_LAYERS];
    int out[BPFREE_MAX_LAYERS];
    const int n = bp_arch_parse(v, s, BPFREE_MAX_LAYERS - 1, why, cap);
    if (n < 0) return -1;
    if (c->in_channels && bp_arch_shapes(s, n, c->in_channels, c->in_height, c->in_width, g, out,
                                         why, cap))
        return -1;
    for (int l = 0; l < n; l++) c->hidden[l] = c->in_channels ? out[l] : s[l].units;
    c->n_hidden = n;
    snprintf(c->arch, sizeof c->arch, "%s", v);
    return 0;
}
static int arch_format(const bpfree_config *c, char *buf, size_t cap) {
    return snprintf(buf, cap, "%s", c->arch[0] ? c->arch : "none");
}

static int milestones_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    int ms[4] = {0}, n;
    if (parse_ints(v, ms, &n, 4, 0, 1000000, why, cap)) return -1;
    memcpy(c->optim.milestones, ms, sizeof ms);
    return 0;
}
static int milestones_format(const bpfree_config *c, char *buf, size_t cap) {
    return put_ints(c->optim.milestones, 4, buf, cap);
}

static int diagnose_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    char b[128];
    snprintf(b, sizeof b, "%s", v);
    int d = 0;
    char *save = NULL;
    for (char *t = strtok_r(b, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "alignment")) d |= BPFREE_DIAG_ALIGNMENT;
        else if (!strcmp(t, "variance")) d |= BPFREE_DIAG_VARIANCE;
        else if (strcmp(t, "none") != 0) {
            snprintf(why, cap, "unknown value '%s' (known: alignment, variance, none)", t);
            return -1;
        }
    }
    c->diagnose = d;
    return 0;
}
static int diagnose_format(const bpfree_config *c, char *buf, size_t cap) {
    const int d = c->diagnose;
    if (d & ~(BPFREE_DIAG_ALIGNMENT | BPFREE_DIAG_VARIANCE)) return snprintf(buf, cap, "?");
    return snprintf(buf, cap, "%s%s%s", d & BPFREE_DIAG_ALIGNMENT ? "alignment" : "",
                    d == (BPFREE_DIAG_ALIGNMENT | BPFREE_DIAG_VARIANCE) ? "," : "",
                    d & BPFREE_DIAG_VARIANCE ? "variance" : d ? "" : "none");
}

/* ------------------------------------------------------------ the table */

#define BIG BP_SET_BIG
#define SUM BP_SET_SUMMARY
#define OPEN BP_SET_LO_OPEN
#define HIOPEN BP_SET_HI_OPEN

static const bp_setting GENERIC[] = {
    /* the input shape before the layers, the layers before --arch: a model
     * file's header is read in this order */
    BP_ROW_TEXT("input-shape", "in_shape", "CxHxW", "the inputs' image shape (from the data)",
                "none", in_channels, BP_SET_INPUT, shape_parse, shape_format),
    BP_ROW_TEXT("layers", "hidden", "N,N,..", "hidden layer widths (none: no hidden layer)", "1000,1000",
         n_hidden, SUM, layers_parse, layers_format),
    BP_ROW_TEXT("arch", "arch", "SPEC",
                "hidden layers in the papers' notation, overriding --layers: N dense, NcK conv "
                "(s: same padding, /S stride), NlK locally connected, PQ / AQ max / average "
                "pooling, BN batch normalisation of the layer before, '-' between "
                "(\"15C5-P2-40C5-P2-128\"; see README)",
                "none", arch, 0, arch_parse, arch_format),
    BP_ROW_NAME("act", "act", "hidden activation: relu, tanh, sigmoid, identity, elu", "relu", act, SUM, 0,
          act_n, bpfree_act_parse),
    BP_ROW_NAME("loss", "loss", "ce (softmax cross-entropy), bce (sigmoid + BCE), mse", "ce", loss, SUM,
          0, loss_n, bpfree_loss_parse),
    BP_ROW_NAME("norm", "norm", "input preprocessing: scale ([0,1]), standardize (train mean/std), channel (per image channel) or symmetric ([-1,1])",
          "scale", norm, SUM, 0, norm_n, bpfree_norm_parse),
    BP_ROW_NUM("epochs", "epochs", "N", "epochs (with --greedy: per layer)", "20", BP_SET_INT, epochs, 1,
        INT_MAX, SUM, 0),
    BP_ROW_NUM("batch", "batch", "N", "minibatch size", "64", BP_SET_INT, batch, 1, INT_MAX, SUM, 0),
    BP_ROW_NAME("optim", "optim", "sgd or adam", "adam", optim.kind, SUM, 0, optim_n,
          bpfree_optim_parse),
    BP_ROW_NUM("lr", "lr", "F", "learning rate", "0.001", BP_SET_FLOAT, optim.lr, 0, BIG, SUM | OPEN, 0),
    BP_ROW_NAME("sched", "sched", "learning-rate schedule: none, step, cooldown, multistep", "cooldown",
          optim.sched, SUM, 0, sched_n, bpfree_sched_parse),
    BP_ROW_NUM("cooldown", "cooldown", "F", "cooldown: fraction of training over which lr falls linearly",
        "0.5", BP_SET_FLOAT, optim.cooldown, 0, 1, 0, 0),
    BP_ROW_NUM("lr-min", "lr_min", "F", "cooldown: final learning rate", "0", BP_SET_FLOAT, optim.lr_min,
        0, BIG, 0, 0),
    BP_ROW_NUM("step-epochs", "step_epochs", "N", "step: decay every N epochs", "10", BP_SET_INT,
        optim.step_epochs, 0, INT_MAX, 0, 0),
    BP_ROW_NUM("gamma", "gamma", "F", "step, multistep: decay factor", "0.1", BP_SET_FLOAT, optim.gamma,
        0, BIG, 0, 0),
    BP_ROW_TEXT("milestones", "milestones", "E,E,..", "multistep: epochs at which lr *= gamma (up to 4)",
         "0,0,0,0", optim.milestones, 0, milestones_parse, milestones_format),
    BP_ROW_NUM("momentum", "momentum", "F", "SGD momentum, in [0, 1)", "0.9", BP_SET_FLOAT,
        optim.momentum, 0, 1, HIOPEN, 0),
    BP_ROW_NUM("nesterov", "nesterov", NULL, "SGD: Nesterov momentum", "0", BP_SET_FLAG, optim.nesterov,
        0, 1, 0, 0),
    BP_ROW_NUM("wd", "weight_decay", "F", "weight decay (L2 in the gradient)", "0", BP_SET_FLOAT,
        optim.weight_decay, 0, BIG, 0, 0),
    BP_ROW_NUM("adamw", "decoupled", NULL, "Adam: decoupled weight decay", "0", BP_SET_FLAG,
        optim.decoupled, 0, 1, 0, 0),
    BP_ROW_NUM("beta1", "beta1", "F", "Adam beta1, in [0, 1)", "0.9", BP_SET_FLOAT, optim.beta1, 0, 1,
        HIOPEN, 0),
    BP_ROW_NUM("beta2", "beta2", "F", "Adam beta2, in [0, 1)", "0.999", BP_SET_FLOAT, optim.beta2, 0, 1,
        HIOPEN, 0),
    BP_ROW_NUM("eps", "eps", "F", "Adam epsilon", "1e-8", BP_SET_FLOAT, optim.eps, 0, BIG, OPEN, 0),
    BP_ROW_NAME("init", "init",
                "weights: kaiming-uniform, he-uniform, xavier, normal, lecun-normal, zeros",
          "kaiming-uniform", init, 0, 0, init_n, bpfree_init_parse),
    BP_ROW_NUM("init-std", "init_std", "F", "std of the normal init", "0.05", BP_SET_FLOAT, init_std, 0,
        BIG, 0, 0),
    BP_ROW_NUM("grad-noise", "grad_noise", "V",
        "add N(0, V x mean squared gradient) to every gradient before its step, per layer "
        "(Bacho & Chu 2024 Fig. 7: normalised variance V/(1+V)); 0 = off",
        "0", BP_SET_FLOAT, grad_noise, 0, BIG, 0, 0),
    BP_ROW_NAME("feedback-init", "feedback_init",
          "feedback matrices: --init names, trinomial, binomial, pm-identity", "he-uniform",
          feedback_init, 0, BP_CAP_FEEDBACK, init_n, bpfree_init_parse),
    BP_ROW_NAME("feedback-point", "feedback_point",
                "where e B_l (and fdfa's perturbation) meets a pooled conv/LC block: output (after "
                "the pooling; B_l is C x the pooled maps) or pre-pool (the activations before it, "
                "as the FDFA authors' hooks; B_l is C x the unpooled maps)",
                "output", feedback_point, 0, BP_CAP_DIRECT, fbpoint_name, fbpoint_parse),
    BP_ROW_NUM("fb-lr", "fb_lr", "F", "learned feedback: its learning rate alpha (see --fb-schedule)",
        "0.0001", BP_SET_FLOAT, fb_lr, 0, BIG, 0, BP_CAP_LEARNED_FEEDBACK),
    BP_ROW_NAME("fb-schedule", "fb_follow",
                "learned feedback: its rate alpha stays constant (the FDFA/DKP authors' code) or "
                "follows the lr schedule",
                "constant", fb_follow, 0, BP_CAP_LEARNED_FEEDBACK, fb_sched_name, fb_sched_parse),
    BP_ROW_NAME("fb-optim", "fb_optim", "learned feedback: its optimizer: adam, sgd, ema (fdfa: eq. 8)",
          "adam", fb_optim, 0, BP_CAP_LEARNED_FEEDBACK, fb_optim_name, fb_optim_parse),
    BP_ROW_NUM("fb-wd", "fb_wd", "F", "learned feedback: L2 decay on the feedback matrices", "0",
        BP_SET_FLOAT, fb_wd, 0, BIG, 0, BP_CAP_LEARNED_FEEDBACK),
    BP_ROW_NAME("signal-scaling", "signal_scaling",
                "mean (the hidden signal averaged over the batch, as the output's gradient) or "
                "authors (the F3 authors' code: the hidden signal summed over the batch, BCE and "
                "MSE averaged over batch and classes)",
                "mean", signal_scaling, 0, BP_CAP_ONEPASS, scaling_name, scaling_parse),
    BP_ROW_NUM("greedy", "greedy_epochs", "N",
        "train layer by layer, N epochs each (0 = all layers every batch)", "0", BP_SET_INT,
        greedy_epochs, 0, INT_MAX, 0, BP_CAP_GREEDY),
    BP_ROW_NUM("seed", "seed", "N", "random seed (init, feedback, shuffling, split)", "1", BP_SET_U64,
        seed, 0, 0, 0, 0),
    BP_ROW_NUM("threads", "threads", "N", "threads (0 = all cores)", "0", BP_SET_INT, threads, 0, 4096,
        0, 0),
    BP_ROW_NUM("pipeline", NULL, "N",
        "pipeline the layers over N threads for rules that update a layer at once (layer l on "
        "batch k+1 while l+1 is on batch k; same numbers; 0 = off)",
        "0", BP_SET_INT, pipeline, 0, 8, 0, 0),
    BP_ROW_NAME("threading", NULL,
          "with --threads > 1: split (bpfree splits each product and each layer's element-wise "
          "work over its threads, BLAS on one) or blas (the BLAS's threads for products)",
          "split", threading, 0, 0, threading_name, threading_parse),
    BP_ROW_TEXT("diagnose", NULL, "WHAT",
         "alignment (angle of each layer's update to BP's gradient, Bacho & Chu 2024 Fig. 8), "
         "variance (of a "
         "stochastic rule's estimate over redraws, Figs. 5-6), or both: alignment,variance",
         "none", diagnose, 0, diagnose_parse, diagnose_format),
    BP_ROW_NUM("diag-every", NULL, "N", "diagnostics: measure every N-th batch", "10", BP_SET_INT,
        diag_every, 1, INT_MAX, 0, 0),
    BP_ROW_NUM("diag-draws", NULL, "K", "diagnostics: redraws per measured batch for variance", "10",
        BP_SET_INT, diag_draws, 0, INT_MAX, 0, 0),
    BP_ROW_NUM("inputs", "inputs", "N", "input features D (from the data)", "1", BP_SET_INT, inputs, 1,
        INT_MAX, BP_SET_INPUT, 0),
    BP_ROW_NUM("outputs", "outputs", "N", "outputs C (from the data)", "1", BP_SET_INT, outputs, 1,
        INT_MAX, BP_SET_INPUT, 0),
    BP_ROW_NUM("norm-mean", "norm_mean", "F", "standardisation mean (from the training data)", "0",
        BP_SET_FLOAT, norm_mean, -BIG, BIG, BP_SET_INPUT, 0),
    BP_ROW_NUM("norm-std", "norm_std", "F", "standardisation std (from the training data)", "1",
        BP_SET_FLOAT, norm_std, 0, BIG, BP_SET_INPUT | OPEN, 0),
};
#define N_GENERIC ((int)(sizeof GENERIC / sizeof *GENERIC))

const bp_setting *bp_setting_row(const bpfree_setting *s) { return (const bp_setting *)s; }

const bp_setting *bp_settings_generic(int *n) {
    *n = N_GENERIC;
    return GENERIC;
}

int bp_setting_applies_rule(const bp_setting *row, const bp_rule *R) {
    int mine = row >= GENERIC && row < GENERIC + N_GENERIC;
    for (int i = 0; i < R->n_settings && !mine; i++) mine = row == &R->settings[i];
    return mine && (R->caps & row->needs) == row->needs;
}

/* ------------------------------------------------------- text <-> value */

static void *field(const bp_setting *s, bpfree_config *c) { return (char *)c + s->off; }
static const void *cfield(const bp_setting *s, const bpfree_config *c) {
    return (const char *)c + s->off;
}

/* "must be > 0", "must be in [0, 1)": the row's range in words */
static void range_words(const bp_setting *s, char *b, size_t cap) {
    const int open = s->flags & BP_SET_LO_OPEN;
    if (s->kind == BP_SET_INT)
        snprintf(b, cap, "must be a whole number in [%.0f, %.0f]", s->lo, s->hi);
    else if (s->hi >= BIG)
        snprintf(b, cap, "must be %s %g", open ? ">" : ">=", s->lo);
    else
        snprintf(b, cap, "must be in %c%g, %g%c", open ? '(' : '[', s->lo, s->hi,
                 s->flags & BP_SET_HI_OPEN ? ')' : ']');
}

static int in_range(const bp_setting *s, double x) {
    if (s->flags & BP_SET_LO_OPEN ? !(x > s->lo) : !(x >= s->lo)) return 0;
    return s->flags & BP_SET_HI_OPEN ? x < s->hi : x <= s->hi;
}

static bpfree_status read_number(const bp_setting *s, bpfree_config *c, const char *v,
                                 const char *who, bpfree_error *err) {
    char *end;
    errno = 0;
    if (s->kind == BP_SET_U64) {
        unsigned long long u = strtoull(v, &end, 10);
        if (end == v || *end || errno || v[0] == '-')
            return bp_fail(err, BPFREE_EINVAL, "%s: '%s' is not a whole number >= 0", who, v);
        *(uint64_t *)field(s, c) = (uint64_t)u;
        return BPFREE_OK;
    }
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d))
        return bp_fail(err, BPFREE_EINVAL, "%s: '%s' is not a%s number", who, v,
                       s->kind == BP_SET_FLOAT ? "" : " whole");
    if (s->kind != BP_SET_FLOAT && d != floor(d))
        return bp_fail(err, BPFREE_EINVAL, "%s: '%s' is not a whole number", who, v);
    if (!in_range(s, d)) {
        char r[64];
        range_words(s, r, sizeof r);
        return bp_fail(err, BPFREE_EINVAL, "%s %s (got %s)", who, r, v);
    }
    /* a double beyond float's range does not convert (C11 6.3.1.5: undefined) */
    if (s->kind == BP_SET_FLOAT && fabs(d) > FLT_MAX)
        return bp_fail(err, BPFREE_EINVAL, "%s: '%s' is beyond a float's range", who, v);
    if (s->kind == BP_SET_FLOAT) *(float *)field(s, c) = (float)d;
    else *(int *)field(s, c) = (int)d;
    return BPFREE_OK;
}

/* "relu, tanh, ..." */
static void known_names(const bp_setting *s, char *b, size_t cap) {
    size_t k = 0;
    b[0] = '\0';
    for (int i = 0; strcmp(s->name_of(i), "?") != 0 && k < cap; i++) {
        int w = snprintf(b + k, cap - k, "%s%s", i ? ", " : "", s->name_of(i));
        if (w < 0) break;
        k += (size_t)w;
    }
}

bpfree_status bp_setting_read_as(const bp_setting *s, bpfree_config *c, const char *v,
                                 const char *who, bpfree_error *err) {
    if (s->kind == BP_SET_NAME) {
        int e = s->parse_name(v);
        char *end;
        long ix = strtol(v, &end, 10); /* older model files wrote some enums as numbers */
        if (e < 0 && end != v && !*end && ix >= 0 && ix <= INT_MAX &&
            strcmp(s->name_of((int)ix), "?") != 0)
            e = (int)ix;
        if (e < 0) {
            char known[256];
            known_names(s, known, sizeof known);
            return bp_fail(err, BPFREE_EINVAL, "%s: unknown value '%s' (known: %s)", who, v, known);
        }
        *(int *)field(s, c) = e;
        return BPFREE_OK;
    }
    if (s->kind == BP_SET_TEXT) {
        char why[256];
        if (s->parse(c, v, why, sizeof why))
            return bp_fail(err, BPFREE_EINVAL, "%s: %s", who, why);
        return BPFREE_OK;
    }
    if (s->kind == BP_SET_FLAG && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return bp_fail(err, BPFREE_EINVAL, "%s: '%s' is not 0 or 1", who, v);
    return read_number(s, c, v, who, err);
}

bpfree_status bp_setting_read(const bp_setting *s, bpfree_config *c, const char *v,
                              bpfree_error *err) {
    char who[48];
    snprintf(who, sizeof who, "--%s", s->pub.name);
    return bp_setting_read_as(s, c, v, who, err);
}

/* The shortest "%.Ng" that reads back (through double, as the readers do)
 * to the same float: "0.001", not "0.00100000005". */
static int put_float(float x, char *buf, size_t cap) {
    int k = 0;
    for (int digits = 6; digits <= 9; digits++) {
        k = snprintf(buf, cap, "%.*g", digits, (double)x);
        if (k < 0 || (size_t)k >= cap || (float)strtod(buf, NULL) == x) break;
    }
    return k;
}

int bp_setting_write(const bp_setting *s, const bpfree_config *c, char *buf, size_t cap) {
    const void *f = cfield(s, c);
    int k;
    switch (s->kind) {
    case BP_SET_INT:
    case BP_SET_FLAG: k = snprintf(buf, cap, "%d", *(const int *)f); break;
    case BP_SET_U64: k = snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case BP_SET_FLOAT: k = put_float(*(const float *)f, buf, cap); break;
    case BP_SET_NAME: k = snprintf(buf, cap, "%s", s->name_of(*(const int *)f)); break;
    default: k = s->format(c, buf, cap); break;
    }
    return k < 0 || (size_t)k >= cap ? -1 : k;
}

/* ------------------------------------------------------ defaults, check */

void bp_settings_defaults(const bp_setting *const *rows, int n, bpfree_config *c) {
    for (int i = 0; i < n; i++) {
        const bp_setting *s = rows[i];
        /* constants of the table: a test checks that every one reads */
        (void)bp_setting_read(s, c, s->pub.dflt, NULL);
    }
}

/* Every row's value is one its text form reads back: in range, a known
 * name, a list of the right shape. */
bpfree_status bp_settings_check(const bp_setting *const *rows, int n, const bpfree_config *c,
                                bpfree_error *err) {
    for (int i = 0; i < n; i++) {
        const bp_setting *s = rows[i];
        char v[512];
        bpfree_config scratch = *c;
        if (bp_setting_write(s, c, v, sizeof v) < 0 || !strcmp(v, "?"))
            return bp_fail(err, BPFREE_EINVAL, "%s has an invalid value", s->pub.name);
        if (s->kind == BP_SET_FLOAT && !isfinite(*(const float *)cfield(s, c)))
            return bp_fail(err, BPFREE_EINVAL, "%s must be finite (got %s)", s->pub.name, v);
        if (s->kind == BP_SET_INT || s->kind == BP_SET_FLOAT) {
            double x = s->kind == BP_SET_INT ? *(const int *)cfield(s, c)
                                             : (double)*(const float *)cfield(s, c);
            if (!in_range(s, x)) {
                char r[64];
                range_words(s, r, sizeof r);
                return bp_fail(err, BPFREE_EINVAL, "%s %s (got %s)", s->pub.name, r, v);
            }
            continue;
        }
        bpfree_status st = bp_setting_read_as(s, &scratch, v, s->pub.name, err);
        if (st) return st;
    }
    return BPFREE_OK;
}
