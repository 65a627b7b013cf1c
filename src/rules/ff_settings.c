/* ff_settings.c — the names of the Forward-Forward choices, and the
 * settings rows, presets and head names of the Forward-Forward rules (ff,
 * cff-fixed, cff-adaptive; ff.c). */
#include "rules/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const goodness_names[] = {[BPFREE_FF_SUM] = "sum", [BPFREE_FF_MEAN] = "mean"};
static const char *const norm_names[] = {[BPFREE_FF_RMS] = "rms", [BPFREE_FF_L2] = "l2"};
static const char *const neg_names[] = {[BPFREE_FF_NEG_RANDOM] = "random",
                                        [BPFREE_FF_NEG_HARD] = "hard"};
static const char *const predict_names[] = {[BPFREE_FF_PREDICT_GOODNESS] = "goodness",
                                            [BPFREE_FF_PREDICT_ONEPASS] = "onepass"};
_Static_assert(sizeof goodness_names / sizeof *goodness_names == BPFREE_FF_GOODNESS_COUNT, "");
_Static_assert(sizeof norm_names / sizeof *norm_names == BPFREE_FF_NORM_COUNT, "");
_Static_assert(sizeof neg_names / sizeof *neg_names == BPFREE_FF_NEG_COUNT, "");
static const char *const peer_when_names[] = {[BPFREE_FF_PEER_AFTER] = "after",
                                              [BPFREE_FF_PEER_BEFORE] = "before"};
_Static_assert(sizeof peer_when_names / sizeof *peer_when_names == BPFREE_FF_PEER_COUNT, "");
_Static_assert(sizeof predict_names / sizeof *predict_names == BPFREE_FF_PREDICT_COUNT, "");

BP_NAMES(ff_goodness, bpfree_ff_goodness, goodness_names)
BP_NAMES(ff_norm, bpfree_ff_norm, norm_names)
BP_NAMES(ff_neg, bpfree_ff_neg, neg_names)
BP_NAMES(ff_predict, bpfree_ff_predict, predict_names)
BP_NAMES(ff_peer_when, bpfree_ff_peer_when, peer_when_names)

static const char *goodness_n(int v) { return bpfree_ff_goodness_name((bpfree_ff_goodness)v); }
static const char *norm_n(int v) { return bpfree_ff_norm_name((bpfree_ff_norm)v); }
static const char *neg_n(int v) { return bpfree_ff_neg_name((bpfree_ff_neg)v); }
static const char *peer_when_n(int v) { return bpfree_ff_peer_when_name((bpfree_ff_peer_when)v); }
static const char *predict_n(int v) { return bpfree_ff_predict_name((bpfree_ff_predict)v); }

/* "F" (> 0, finite) into *x and 0 into *word, or `word` and 1 into *word */
static int float_or_word(const char *v, const char *word, float *x, int *is_word, char *why,
                         size_t cap) {
    if (!strcmp(v, word)) {
        *is_word = 1;
        return 0;
    }
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0.0) || d > 3.4e38) {
        snprintf(why, cap, "'%s' is not a number > 0 or '%s'", v, word);
        return -1;
    }
    *x = (float)d;
    *is_word = 0;
    return 0;
}

static int theta_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    return float_or_word(v, "width", &c->ff_theta, &c->ff_theta_width, why, cap);
}
static int theta_format(const bpfree_config *c, char *buf, size_t cap) {
    if (c->ff_theta_width == 1) return snprintf(buf, cap, "width");
    return c->ff_theta_width ? snprintf(buf, cap, "?") : snprintf(buf, cap, "%.9g", (double)c->ff_theta);
}
static int label_parse(bpfree_config *c, const char *v, char *why, size_t cap) {
    return float_or_word(v, "max", &c->ff_label, &c->ff_label_max, why, cap);
}
static int label_format(const bpfree_config *c, char *buf, size_t cap) {
    if (c->ff_label_max == 1) return snprintf(buf, cap, "max");
    return c->ff_label_max ? snprintf(buf, cap, "?") : snprintf(buf, cap, "%.9g", (double)c->ff_label);
}

#define BIG BP_SET_BIG
const bp_setting bp_ff_settings[BP_FF_N_SETTINGS] = {
    BP_ROW_NAME("ff-goodness", "ff_goodness", "goodness: sum or mean of squared activities", "sum",
                ff_goodness, 0, 0, goodness_n, bpfree_ff_goodness_parse),
    BP_ROW_TEXT("ff-theta", "ff_theta", "F|width", "threshold theta, or width (= the layer's units)",
                "width", ff_theta, 0, theta_parse, theta_format),
    BP_ROW_NAME("ff-norm", "ff_norm", "each layer's input (image too): rms or l2", "rms", ff_norm,
                0, 0, norm_n, bpfree_ff_norm_parse),
    BP_ROW_TEXT("ff-label", "ff_label", "F|max",
                "value in the label input, or max (the image's largest)", "1", ff_label, 0,
                label_parse, label_format),
    BP_ROW_NAME("ff-negatives", "ff_negatives",
                "wrong label: random, or hard (from the one-pass head's softmax)", "random",
                ff_negatives, 0, 0, neg_n, bpfree_ff_neg_parse),
    BP_ROW_NUM("ff-peer", "ff_peer", "F", "peer normalisation weight (Hinton: 0.03; 0 = off)", "0",
               BP_SET_FLOAT, ff_peer, 0, BIG, 0, 0),
    BP_ROW_NAME("ff-peer-update", "ff_peer_update",
                "peer running mean takes in the batch after its step, or before the term is "
                "computed (Hinton's code; the batch is then one chunk)",
                "after", ff_peer_update, 0, 0, peer_when_n, bpfree_ff_peer_when_parse),
    BP_ROW_NAME("ff-predict", "ff_predict",
                "main score: goodness (all labels, one batched pass) or onepass (neutral label + "
                "softmax head); both are reported",
                "goodness", ff_predict, 0, 0, predict_n, bpfree_ff_predict_parse),
    BP_ROW_NUM("ff-skip-first", "ff_skip_first", "0|1",
               "goodness prediction leaves out layer 1", "0", BP_SET_INT, ff_skip_first, 0, 1, 0,
               0),
    BP_ROW_NUM("ff-head", "ff_head", "0|1",
               "train the one-pass head (a neutral pass of every batch: the training accuracy "
               "and hard negatives come from it); 0 = skip both, a third to a half of a full-batch "
               "step, and report no training accuracy",
               "1", BP_SET_INT, ff_head, 0, 1, 0, 0),
    BP_ROW_NUM("ff-head-lr", "ff_head_lr", "F", "Adam lr of the one-pass softmax head", "0.001",
               BP_SET_FLOAT, ff_head_lr, 0, BIG, BP_SET_LO_OPEN, 0),
    BP_ROW_NUM("cff-gamma", "cff_gamma", "F",
               "initial (cff-fixed: constant) gamma_l of Beigzad 2025 eq. 5",
               "1", BP_SET_FLOAT, cff_gamma, -BIG, BIG, 0, BP_CAP_COLLAB),
    BP_ROW_NUM("cff-alpha", "cff_alpha", "F", "alpha_lk, the weight of every other layer's goodness",
               "1", BP_SET_FLOAT, cff_alpha, -BIG, BIG, 0, BP_CAP_COLLAB),
    BP_ROW_NUM("cff-gamma-lr", "cff_gamma_lr", "F",
               "gamma's learning rate eta_gamma (Beigzad 2025 eq. 7)", "0.01", BP_SET_FLOAT, cff_gamma_lr,
               0, BIG, 0, BP_CAP_COLLAB | BP_CAP_LEARNED_GAMMA),
};

/* ------------------------------------------------------------- presets */

static const char *const hinton_kv[] = {
    "layers", "1000,1000,1000", "act", "relu", "ff-norm", "rms", "ff-goodness", "sum",
    "ff-theta", "width", "ff-label", "1", "ff-negatives", "hard", "ff-peer", "0.03", "ff-peer-update", "before",
    "ff-skip-first", "1", "ff-predict", "goodness", "optim", "sgd", "lr", "0.001",
    "momentum", "0.9", "wd", "0.0003", "sched", "cooldown", "cooldown", "0.5", "lr-min", "0",
    "batch", "100", "epochs", "60", "greedy", "0", "norm", "scale", "init", "lecun-normal", NULL};

static const char *const cff_paper_kv[] = {
    "layers", "500,500", "act", "relu", "ff-norm", "l2", "ff-goodness", "mean", "ff-theta", "2",
    "ff-label", "max", "ff-negatives", "random", "ff-peer", "0", "ff-skip-first", "0",
    "ff-predict", "goodness", "optim", "adam", "lr", "0.03", "wd", "0", "sched", "none",
    "batch", "50000", "val", "10000", "greedy", "1000", "norm", "standardize",
    "ff-head", "0", NULL}; /* that code trains no one-pass head */

const bpfree_preset bp_ff_presets[BP_FF_N_PRESETS] = {
    {"hinton",
     "Hinton's FF on MNIST: 784-1000-1000-1000 ReLU, RMS norm, sum goodness, theta = width, "
     "hard negatives, peer normalisation 0.03, SGD momentum 0.9 + weight decay, lr cooled "
     "linearly to 0 over the second half, prediction (goodness and one-pass head) without "
     "layer 1, weights N(0, 1/fan-in) as his code (hyperparameters of Loewe's PyTorch port; "
     "60 epochs as Hinton's paper)",
     "ff", hinton_kv},
    {"cff-paper",
     "Beigzad 2025 sec. IV-C (the PyTorch FF it builds on): 784-500-500 ReLU, L2 norm, mean "
     "goodness, "
     "theta = 2, random wrong labels, label value = the image's max, standardised pixels, Adam "
     "0.03, layer by layer 1000 epochs each, one full batch of 50,000 (10,000 held out), no "
     "one-pass head (so no training accuracy); use --greedy N for a smaller budget",
     "ff", cff_paper_kv},
};

/* ------------------------------------------------------ heads, prediction */

const char *bp_ff_head_name(const bpfree_model *m, int h) {
    (void)m;
    return h == BPFREE_FF_HEAD_GOODNESS ? "goodness" : h == BPFREE_FF_HEAD_ONEPASS ? "one-pass" : NULL;
}

const char *bp_ff_prediction(const bpfree_config *c) {
    return bpfree_ff_predict_name(c->ff_predict);
}

const char *bp_ff_train_source(const bpfree_config *c) {
    return c->ff_head ? "one-pass" /* the head's name (bp_ff_head_name) */ : "none";
}
