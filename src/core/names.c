/* names.c — enum <-> name tables, kept in step with the enums by the compiler. */
#include "core/core.h"

#include <string.h>

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const act_names[] = {
    [BPFREE_ACT_RELU] = "relu", [BPFREE_ACT_TANH] = "tanh",
    [BPFREE_ACT_SIGMOID] = "sigmoid", [BPFREE_ACT_IDENTITY] = "identity",
    [BPFREE_ACT_ELU] = "elu"};
static const char *const loss_names[] = {
    [BPFREE_LOSS_CE] = "ce", [BPFREE_LOSS_BCE] = "bce", [BPFREE_LOSS_MSE] = "mse"};
static const char *const init_names[] = {
    [BPFREE_INIT_KAIMING_UNIFORM] = "kaiming-uniform", [BPFREE_INIT_HE_UNIFORM] = "he-uniform",
    [BPFREE_INIT_XAVIER_UNIFORM] = "xavier", [BPFREE_INIT_NORMAL] = "normal",
    [BPFREE_INIT_ZEROS] = "zeros", [BPFREE_INIT_TRINOMIAL] = "trinomial",
    [BPFREE_INIT_BINOMIAL] = "binomial", [BPFREE_INIT_PM_IDENTITY] = "pm-identity",
    [BPFREE_INIT_LECUN_NORMAL] = "lecun-normal"};
static const char *const optim_names[] = {[BPFREE_OPTIM_SGD] = "sgd", [BPFREE_OPTIM_ADAM] = "adam"};
static const char *const sched_names[] = {
    [BPFREE_SCHED_NONE] = "none", [BPFREE_SCHED_STEP] = "step",
    [BPFREE_SCHED_COOLDOWN] = "cooldown", [BPFREE_SCHED_MULTISTEP] = "multistep"};
static const char *const norm_names[] = {[BPFREE_NORM_SCALE] = "scale",
                                         [BPFREE_NORM_STANDARDIZE] = "standardize",
                                         [BPFREE_NORM_CHANNEL] = "channel",
                                         [BPFREE_NORM_SYMMETRIC] = "symmetric"};

_Static_assert(sizeof act_names / sizeof *act_names == BPFREE_ACT_COUNT, "act names");
_Static_assert(sizeof loss_names / sizeof *loss_names == BPFREE_LOSS_COUNT, "loss names");
_Static_assert(sizeof init_names / sizeof *init_names == BPFREE_INIT_COUNT, "init names");
_Static_assert(sizeof optim_names / sizeof *optim_names == BPFREE_OPTIM_COUNT, "optim names");
_Static_assert(sizeof sched_names / sizeof *sched_names == BPFREE_SCHED_COUNT, "sched names");
_Static_assert(sizeof norm_names / sizeof *norm_names == BPFREE_NORM_COUNT, "norm names");

const char *bp_name_of(const char *const *t, int n, int v) { return v >= 0 && v < n ? t[v] : "?"; }

int bp_name_parse(const char *const *t, int n, const char *s) {
    for (int i = 0; s && i < n; i++)
        if (strcmp(t[i], s) == 0) return i;
    return -1;
}

BP_NAMES(act, bpfree_act, act_names)
BP_NAMES(loss, bpfree_loss, loss_names)
const char *bpfree_init_name(bpfree_init v) { return bp_name_of(init_names, COUNT_OF(init_names), (int)v); }
int bpfree_init_parse(const char *s) {
    if (s && strcmp(s, "kaiming") == 0) return BPFREE_INIT_KAIMING_UNIFORM; /* 001's name */
    return bp_name_parse(init_names, COUNT_OF(init_names), s);
}
BP_NAMES(optim, bpfree_optim_kind, optim_names)
BP_NAMES(sched, bpfree_sched, sched_names)
BP_NAMES(norm, bpfree_norm, norm_names)
