/* ff_config.c — the configuration of Forward-Forward and Collaborative FF
 * (src/rules/ff.c): the names of their options, defaults, checks, and their
 * lines in the model file's header. */
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- names */

static const char *const goodness_names[] = {[BPFREE_FF_SUM] = "sum", [BPFREE_FF_MEAN] = "mean"};
static const char *const norm_names[] = {[BPFREE_FF_RMS] = "rms", [BPFREE_FF_L2] = "l2"};
static const char *const neg_names[] = {[BPFREE_FF_NEG_RANDOM] = "random",
                                        [BPFREE_FF_NEG_HARD] = "hard"};
static const char *const predict_names[] = {[BPFREE_FF_PREDICT_GOODNESS] = "goodness",
                                            [BPFREE_FF_PREDICT_ONEPASS] = "onepass"};
_Static_assert(sizeof goodness_names / sizeof *goodness_names == BPFREE_FF_GOODNESS_COUNT, "");
_Static_assert(sizeof norm_names / sizeof *norm_names == BPFREE_FF_NORM_COUNT, "");
_Static_assert(sizeof neg_names / sizeof *neg_names == BPFREE_FF_NEG_COUNT, "");
_Static_assert(sizeof predict_names / sizeof *predict_names == BPFREE_FF_PREDICT_COUNT, "");

static int find_name(const char *const *t, int n, const char *s) {
    for (int i = 0; s && i < n; i++)
        if (strcmp(t[i], s) == 0) return i;
    return -1;
}
#define FF_NAMES(fn, type, table, count)                                                    \
    const char *bpfree_##fn##_name(type v) {                                                \
        return (int)v >= 0 && (int)v < count ? table[v] : "?";                              \
    }                                                                                       \
    int bpfree_##fn##_parse(const char *s) { return find_name(table, count, s); }
FF_NAMES(ff_goodness, bpfree_ff_goodness, goodness_names, BPFREE_FF_GOODNESS_COUNT)
FF_NAMES(ff_norm, bpfree_ff_norm, norm_names, BPFREE_FF_NORM_COUNT)
FF_NAMES(ff_neg, bpfree_ff_neg, neg_names, BPFREE_FF_NEG_COUNT)
FF_NAMES(ff_predict, bpfree_ff_predict, predict_names, BPFREE_FF_PREDICT_COUNT)

/* -------------------------------------------------------------- config */

void bp_ff_config_defaults(bpfree_config *c) {
    c->ff_goodness = BPFREE_FF_SUM;
    c->ff_theta = 2.0f;
    c->ff_theta_width = 1;
    c->ff_norm = BPFREE_FF_RMS;
    c->ff_label = 1.0f;
    c->ff_label_max = 0;
    c->ff_negatives = BPFREE_FF_NEG_RANDOM;
    c->ff_peer = 0.0f;
    c->ff_predict = BPFREE_FF_PREDICT_GOODNESS;
    c->ff_skip_first = 0;
    c->ff_head_lr = 1e-3f;
    c->cff_gamma = 1.0f;
    c->cff_alpha = 1.0f;
    c->cff_gamma_lr = 0.01f;
}

#define FF_CHECK(cond, ...)                                                               \
    do {                                                                                  \
        if (!(cond)) return bp_fail(err, BPFREE_EINVAL, __VA_ARGS__);                     \
    } while (0)

bpfree_status bp_ff_config_check(const bpfree_config *c, bpfree_error *err) {
    FF_CHECK(c->ff_goodness >= 0 && c->ff_goodness < BPFREE_FF_GOODNESS_COUNT,
             "unknown ff goodness %d", (int)c->ff_goodness);
    FF_CHECK(c->ff_norm >= 0 && c->ff_norm < BPFREE_FF_NORM_COUNT, "unknown ff norm %d",
             (int)c->ff_norm);
    FF_CHECK(c->ff_negatives >= 0 && c->ff_negatives < BPFREE_FF_NEG_COUNT,
             "unknown ff negatives %d", (int)c->ff_negatives);
    FF_CHECK(c->ff_predict >= 0 && c->ff_predict < BPFREE_FF_PREDICT_COUNT,
             "unknown ff prediction %d", (int)c->ff_predict);
    FF_CHECK(isfinite(c->ff_theta) && (c->ff_theta_width || c->ff_theta > 0.0f),
             "ff threshold theta must be > 0 (got %g)", (double)c->ff_theta);
    FF_CHECK(isfinite(c->ff_label) && (c->ff_label_max || c->ff_label > 0.0f),
             "ff label value must be > 0 (got %g)", (double)c->ff_label);
    FF_CHECK(c->ff_peer >= 0.0f && isfinite(c->ff_peer), "ff peer weight must be >= 0 (got %g)",
             (double)c->ff_peer);
    FF_CHECK(c->ff_head_lr > 0.0f && isfinite(c->ff_head_lr),
             "ff one-pass head lr must be > 0 (got %g)", (double)c->ff_head_lr);
    FF_CHECK(isfinite(c->cff_gamma) && isfinite(c->cff_alpha), "cff gamma and alpha must be finite");
    FF_CHECK(c->cff_gamma_lr >= 0.0f && isfinite(c->cff_gamma_lr),
             "cff gamma learning rate must be >= 0 (got %g)", (double)c->cff_gamma_lr);
    FF_CHECK(c->ff_theta_width == 0 || c->ff_theta_width == 1, "ff_theta_width must be 0 or 1");
    FF_CHECK(c->ff_label_max == 0 || c->ff_label_max == 1, "ff_label_max must be 0 or 1");
    FF_CHECK(c->ff_skip_first == 0 || c->ff_skip_first == 1, "ff_skip_first must be 0 or 1");
    return BPFREE_OK;
}

int bp_ff_header_write(const bpfree_config *c, char *buf, size_t cap) {
    char theta[32], label[32];
    if (c->ff_theta_width) snprintf(theta, sizeof theta, "width");
    else snprintf(theta, sizeof theta, "%.9g", (double)c->ff_theta);
    if (c->ff_label_max) snprintf(label, sizeof label, "max");
    else snprintf(label, sizeof label, "%.9g", (double)c->ff_label);
    int k = snprintf(buf, cap,
                     "ff_goodness=%s\nff_theta=%s\nff_norm=%s\nff_label=%s\nff_negatives=%s\n"
                     "ff_peer=%.9g\nff_predict=%s\nff_skip_first=%d\nff_head_lr=%.9g\n"
                     "cff_gamma=%.9g\ncff_alpha=%.9g\ncff_gamma_lr=%.9g\n",
                     bpfree_ff_goodness_name(c->ff_goodness), theta,
                     bpfree_ff_norm_name(c->ff_norm), label, bpfree_ff_neg_name(c->ff_negatives),
                     (double)c->ff_peer, bpfree_ff_predict_name(c->ff_predict), c->ff_skip_first,
                     (double)c->ff_head_lr, (double)c->cff_gamma, (double)c->cff_alpha,
                     (double)c->cff_gamma_lr);
    return k < 0 || (size_t)k >= cap ? -1 : k;
}

static int read_float(const char *v, float *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d)) return -1;
    *out = (float)d;
    return 1;
}

int bp_ff_header_parse(bpfree_config *c, const char *k, const char *v) {
    int e;
    if (strncmp(k, "ff_", 3) != 0 && strncmp(k, "cff_", 4) != 0) return 0;
    if (strcmp(k, "ff_goodness") == 0)
        return (e = bpfree_ff_goodness_parse(v)) < 0 ? -1 : (c->ff_goodness = e, 1);
    if (strcmp(k, "ff_norm") == 0)
        return (e = bpfree_ff_norm_parse(v)) < 0 ? -1 : (c->ff_norm = e, 1);
    if (strcmp(k, "ff_negatives") == 0)
        return (e = bpfree_ff_neg_parse(v)) < 0 ? -1 : (c->ff_negatives = e, 1);
    if (strcmp(k, "ff_predict") == 0)
        return (e = bpfree_ff_predict_parse(v)) < 0 ? -1 : (c->ff_predict = e, 1);
    if (strcmp(k, "ff_theta") == 0) {
        c->ff_theta_width = strcmp(v, "width") == 0;
        return c->ff_theta_width ? 1 : read_float(v, &c->ff_theta);
    }
    if (strcmp(k, "ff_label") == 0) {
        c->ff_label_max = strcmp(v, "max") == 0;
        return c->ff_label_max ? 1 : read_float(v, &c->ff_label);
    }
    if (strcmp(k, "ff_skip_first") == 0) {
        if (strcmp(v, "0") && strcmp(v, "1")) return -1;
        c->ff_skip_first = v[0] == '1';
        return 1;
    }
    if (strcmp(k, "ff_peer") == 0) return read_float(v, &c->ff_peer);
    if (strcmp(k, "ff_head_lr") == 0) return read_float(v, &c->ff_head_lr);
    if (strcmp(k, "cff_gamma") == 0) return read_float(v, &c->cff_gamma);
    if (strcmp(k, "cff_alpha") == 0) return read_float(v, &c->cff_alpha);
    if (strcmp(k, "cff_gamma_lr") == 0) return read_float(v, &c->cff_gamma_lr);
    return 0; /* unknown: the caller reports it */
}
