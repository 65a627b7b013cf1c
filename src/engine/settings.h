/* settings.h — the settings table's rows (one per bpfree_config field),
 * the capability bits rows and rules share, and --arch parsing: part of
 * engine.h (which includes it), kept apart for size. */
#ifndef BPFREE_ENGINE_SETTINGS_H
#define BPFREE_ENGINE_SETTINGS_H

#include "nn/nn.h"

#include <math.h>
#include <stddef.h>

/* ---------------------------------------------------------- settings */

/* How a row's value is stored in bpfree_config and read from text. */
typedef enum bp_set_kind {
    BP_SET_INT,   /* int in [lo, hi] */
    BP_SET_U64,   /* uint64_t (the seed) */
    BP_SET_FLOAT, /* float in [lo, hi] (lo excluded with BP_SET_LO_OPEN), finite */
    BP_SET_FLAG,  /* int 0/1; an option without a value on the command line */
    BP_SET_NAME,  /* an enum stored as int: one of the names of name_of/parse_name */
    BP_SET_TEXT   /* its own parse and format (lists, "F or a word") */
} bp_set_kind;

/* Row flags. */
#define BP_SET_LO_OPEN 1u  /* numbers: lo itself is not allowed */
#define BP_SET_INPUT 2u    /* an input of the model (inputs, outputs, norm stats): no option */
#define BP_SET_SUMMARY 4u  /* shown in the rule defaults of --help */
#define BP_SET_HI_OPEN 8u  /* numbers: hi itself is not allowed */

/* A rule's capabilities: a row with `needs` applies to the rules that have
 * every one of its bits.  (Rows a rule declares itself apply to it alone.) */
#define BP_CAP_FEEDBACK 1u         /* draws fixed or learned feedback matrices */
#define BP_CAP_LEARNED_FEEDBACK 2u /* learns them with an optimizer of their own */
#define BP_CAP_GREEDY 4u           /* can train layer by layer (greedy_epochs) */
#define BP_CAP_VARIANCE 8u         /* a step changes only the model's blocks and
                                      RNG, so --diagnose variance can redraw it */
#define BP_CAP_COLLAB 16u          /* collaborative FF: gamma and alpha */
#define BP_CAP_LEARNED_GAMMA 32u   /* ... with gamma learned (A-CFF) */
#define BP_CAP_ANY_LAYER 64u       /* reaches layers only through their kind's methods,
                                      so it trains convolutions too */
#define BP_CAP_LAYERWISE 128u      /* a layer is done with a batch before the next
                                      layer runs: layers may share one workspace */
#define BP_CAP_ONEPASS 256u        /* the one-pass layers (onepass.c): signal_scaling */
#define BP_CAP_NO_BN 512u          /* an ANY_LAYER rule that refuses batch normalisation
                                      (its forward pass runs twice a batch, or on a copy) */
#define BP_CAP_DIRECT 1024u        /* feedback matrices B_l from the output to each
                                      hidden layer's signal point (--feedback-point) */

/* One setting: a field of bpfree_config (at `off`) with everything that
 * defaults, checks, parses, prints, saves and documents it. */
typedef struct bp_setting {
    bpfree_setting pub; /* name, key, arg, help, default text */
    bp_set_kind kind;
    size_t off;         /* offsetof(bpfree_config, field) */
    double lo, hi;      /* INT, FLOAT: accepted range */
    unsigned flags;     /* BP_SET_* */
    unsigned needs;     /* BP_CAP_* the rule must have */
    /* NAME: the enum's names (name_of returns "?" past the last) */
    const char *(*name_of)(int v);
    int (*parse_name)(const char *s);
    /* TEXT: 0 if the text was read (else why, in `why`); the field as text */
    int (*parse)(bpfree_config *c, const char *v, char *why, size_t cap);
    int (*format)(const bpfree_config *c, char *buf, size_t cap);
} bp_setting;

/* Rows as the tables write them: option name, model-file key (NULL: not
 * saved), value placeholder, help, default text, then the field of
 * bpfree_config and its kind, range, flags and needed capabilities. */
#define BP_SET_BIG HUGE_VAL
#define BP_ROW_NUM(nm, ky, ar, hp, df, kd, f, l, h, fl, nd)                                  \
    {.pub = {nm, ky, ar, hp, df, ((fl) & BP_SET_SUMMARY) != 0}, .kind = kd, .off = offsetof(bpfree_config, f), .lo = l,     \
     .hi = h, .flags = fl, .needs = nd}
#define BP_ROW_NAME(nm, ky, hp, df, f, fl, nd, nof, prs)                                     \
    {.pub = {nm, ky, "NAME", hp, df, ((fl) & BP_SET_SUMMARY) != 0}, .kind = BP_SET_NAME, .off = offsetof(bpfree_config, f), \
     .flags = fl, .needs = nd, .name_of = nof, .parse_name = prs}
#define BP_ROW_TEXT(nm, ky, ar, hp, df, f, fl, prs, fmt)                                     \
    {.pub = {nm, ky, ar, hp, df, ((fl) & BP_SET_SUMMARY) != 0}, .kind = BP_SET_TEXT, .off = offsetof(bpfree_config, f),     \
     .flags = fl, .parse = prs, .format = fmt}

/* One hidden layer of an architecture string (arch.c): dense (conv 0) of
 * `units`, or a convolution of `units` channels, k x k, with its pooling;
 * bn: batch-normalised. */
typedef struct bp_arch_layer {
    int units;
    int conv, lc, k, stride, same, pool, q; /* lc: locally connected (unshared) */
    int bn;
} bp_arch_layer;
/* The layers of arch into out[0..max): their number, or -1 with why. */
int bp_arch_parse(const char *arch, bp_arch_layer *out, int max, char *why, size_t cap);
/* Their geometry on an ic x ih x iw input (g[l] for convolutions) and each
 * layer's output features out[l]: 0, or -1 with why. */
int bp_arch_shapes(const bp_arch_layer *s, int n, int ic, int ih, int iw, bp_geom *g, int *out,
                   char *why, size_t cap);

/* The row of a public setting. */
const bp_setting *bp_setting_row(const bpfree_setting *s);
/* Text -> field, checking kind and range; a message names the setting as
 * `who` ("--lr", "model.bin: key 'lr'"), or as --name.  No rule check. */
bpfree_status bp_setting_read_as(const bp_setting *s, bpfree_config *c, const char *v,
                                 const char *who, bpfree_error *err);
bpfree_status bp_setting_read(const bp_setting *s, bpfree_config *c, const char *v,
                              bpfree_error *err);
/* Field -> text (bytes written, or -1 if cap is too small). */
int bp_setting_write(const bp_setting *s, const bpfree_config *c, char *buf, size_t cap);
/* The engine's own rows (every rule's), n of them. */
const bp_setting *bp_settings_generic(int *n);
/* Range and name checks of rows[0..n) against cfg. */
bpfree_status bp_settings_check(const bp_setting *const *rows, int n, const bpfree_config *c,
                                bpfree_error *err);
/* The default of each of rows[0..n) into cfg (a rule's own defaults come after). */
void bp_settings_defaults(const bp_setting *const *rows, int n, bpfree_config *c);

#endif /* BPFREE_ENGINE_SETTINGS_H */
