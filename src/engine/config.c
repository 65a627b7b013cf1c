/* config.c — the checks across settings that no single row of the settings
 * table can make. */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) return bp_fail(err, BPFREE_EINVAL, __VA_ARGS__);                    \
    } while (0)

static bpfree_status check_layers(const bpfree_config *c, const bp_rule *r, bpfree_error *err) {
    const int out = r->info.output_layer ? 1 : 0;
    CHECK(c->n_hidden >= 1 - out, "rule '%s' needs at least one hidden layer", c->rule);
    CHECK(c->n_hidden + out <= BPFREE_MAX_LAYERS, "too many layers: %d (at most %d)",
          c->n_hidden + out, BPFREE_MAX_LAYERS);
    const int need = c->n_hidden + out;
    CHECK(c->pipeline == 0 || (c->pipeline >= 2 && c->pipeline <= need),
          "pipeline must be 0 (off) or between 2 and the number of layers (%d, at most 8), got %d",
          need, c->pipeline);
    CHECK(c->pipeline == 0 || r->pipe_layer,
          "rule '%s' cannot pipeline its layers (--pipeline works for the rules that update "
          "a layer at once and say so: see `bpfree rules`)", c->rule);
    CHECK(c->pipeline == 0 || c->diagnose == 0,
          "--pipeline and --diagnose cannot be combined (diagnostics measure one batch at a "
          "time)");
    return BPFREE_OK;
}

/* --arch against the input shape, and n_hidden / hidden[] against --arch */
static bpfree_status check_arch(const bpfree_config *c, const bp_rule *r, bpfree_error *err) {
    CHECK(c->in_channels == 0 ||
              (long)c->in_channels * c->in_height * c->in_width == (long)c->inputs,
          "the input shape %dx%dx%d does not hold the %d inputs", c->in_channels, c->in_height,
          c->in_width, c->inputs);
    if (!c->arch[0]) return BPFREE_OK;
    bp_arch_layer s[BPFREE_MAX_LAYERS];
    bp_geom g[BPFREE_MAX_LAYERS];
    int out[BPFREE_MAX_LAYERS], conv = 0, bn = 0;
    char why[256];
    const int n = bp_arch_parse(c->arch, s, BPFREE_MAX_LAYERS - 1, why, sizeof why);
    CHECK(n > 0, "--arch %s", why);
    for (int l = 0; l < n; l++) conv |= s[l].conv, bn |= s[l].bn;
    CHECK(!conv || c->in_channels, "--arch %s has convolutions, but the data has no image shape",
          c->arch);
    CHECK(!conv || (r->caps & BP_CAP_ANY_LAYER),
          "rule '%s' trains dense layers only, and --arch %s has convolutions%s", c->rule,
          c->arch, r->layer_note ? r->layer_note : "");
    CHECK(!bn || ((r->caps & BP_CAP_ANY_LAYER) && !(r->caps & BP_CAP_NO_BN)),
          "rule '%s' has no batch normalisation (--arch %s has BN)%s", c->rule, c->arch,
          (r->caps & BP_CAP_NO_BN) ? " (its forward pass runs twice a batch, which would "
                                     "count each batch twice in the running statistics)"
                                   : r->layer_note ? r->layer_note : "");
    int bad = bp_arch_shapes(s, n, c->in_channels ? c->in_channels : c->inputs,
                             c->in_channels ? c->in_height : 1, c->in_channels ? c->in_width : 1,
                             g, out, why, sizeof why);
    CHECK(!bad, "--arch %s: %s", c->arch, why);
    int same = n == c->n_hidden;
    for (int l = 0; same && l < n; l++) same = out[l] == c->hidden[l];
    CHECK(same, "--arch %s and the hidden layers (--layers) disagree: --arch defines them "
                "(set it after the input shape, e.g. with bpfree_config_set)", c->arch);
    return BPFREE_OK;
}

static bpfree_status check_schedule(const bpfree_optim_config *o, bpfree_error *err) {
    CHECK(o->sched != BPFREE_SCHED_STEP || (o->step_epochs > 0 && o->gamma > 0.0f),
          "step schedule needs step epochs > 0 and gamma > 0");
    CHECK(o->sched != BPFREE_SCHED_COOLDOWN || (o->cooldown > 0.0f && o->cooldown <= 1.0f),
          "cooldown fraction must be in (0, 1] (got %g)", (double)o->cooldown);
    CHECK(o->sched != BPFREE_SCHED_MULTISTEP || (o->milestones[0] > 0 && o->gamma > 0.0f),
          "multistep schedule needs at least one milestone > 0 and gamma > 0");
    return BPFREE_OK;
}

bpfree_status bp_config_check(const bp_rule *r, const bp_setting *const *rows, int n,
                              const bpfree_config *c, bpfree_error *err) {
    bpfree_status st;
    if ((st = bp_settings_check(rows, n, c, err)) || (st = check_layers(c, r, err)) ||
        (st = check_arch(c, r, err)) ||
        (st = check_schedule(&c->optim, err)))
        return st;
    CHECK(!(c->diagnose & BPFREE_DIAG_VARIANCE) || (c->diag_draws >= 2 && c->diag_draws <= 10000),
          "diag-draws must be in [2, 10000] (got %d)", c->diag_draws);
    return r->check ? r->check(c, err) : BPFREE_OK;
}
