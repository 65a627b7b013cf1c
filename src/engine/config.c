/* config.c — a rule's default config and the checks across settings that
 * no single row of the settings table can make; the papers' presets. */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

bpfree_status bpfree_config_default(bpfree_config *c, const char *rule, int inputs,
                                    int outputs, bpfree_error *err) {
    const bp_rule *r = bp_rule_lookup(rule);
    if (!r) return bp_fail(err, BPFREE_EINVAL, "unknown rule '%s'", rule ? rule : "(null)");
    memset(c, 0, sizeof *c);
    snprintf(c->rule, sizeof c->rule, "%s", r->info.name);
    bp_settings_defaults(c); /* every row's, so a config is whole whatever the rule */
    c->inputs = inputs;
    c->outputs = outputs;
    if (r->defaults) r->defaults(c);
    return BPFREE_OK;
}

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

static bpfree_status check_schedule(const bpfree_optim_config *o, bpfree_error *err) {
    CHECK(o->sched != BPFREE_SCHED_STEP || (o->step_epochs > 0 && o->gamma > 0.0f),
          "step schedule needs step epochs > 0 and gamma > 0");
    CHECK(o->sched != BPFREE_SCHED_COOLDOWN || (o->cooldown > 0.0f && o->cooldown <= 1.0f),
          "cooldown fraction must be in (0, 1] (got %g)", (double)o->cooldown);
    CHECK(o->sched != BPFREE_SCHED_MULTISTEP || (o->milestones[0] > 0 && o->gamma > 0.0f),
          "multistep schedule needs at least one milestone > 0 and gamma > 0");
    return BPFREE_OK;
}

bpfree_status bpfree_config_check(const bpfree_config *c, bpfree_error *err) {
    const bp_rule *r = bp_rule_lookup(c->rule);
    CHECK(r, "unknown rule '%s'", c->rule);
    bpfree_status st;
    if ((st = bp_settings_check(c, err)) || (st = check_layers(c, r, err)) ||
        (st = check_schedule(&c->optim, err)))
        return st;
    CHECK(!(c->diagnose & BPFREE_DIAG_VARIANCE) || (c->diag_draws >= 2 && c->diag_draws <= 10000),
          "diag-draws must be in [2, 10000] (got %d)", c->diag_draws);
    return r->check ? r->check(c, err) : BPFREE_OK;
}

/* ------------------------------------------------------------- presets */

static const bpfree_preset *preset_at(int i) {
    for (int r = 0; bp_rule_at(r); r++) {
        const bp_rule *R = bp_rule_at(r);
        for (int k = 0; k < R->n_presets; k++) {
            /* a preset list shared by several rules counts once: its first owner */
            int first = 1;
            for (int q = 0; q < r && first; q++)
                first = bp_rule_at(q)->presets != R->presets;
            if (first && i-- == 0) return &R->presets[k];
        }
    }
    return NULL;
}

int bpfree_preset_count(void) {
    int n = 0;
    while (preset_at(n)) n++;
    return n;
}

const bpfree_preset *bpfree_preset_at(int i) { return i >= 0 ? preset_at(i) : NULL; }

const bpfree_preset *bpfree_preset_find(const char *name) {
    for (int i = 0; name && preset_at(i); i++)
        if (!strcmp(preset_at(i)->name, name)) return preset_at(i);
    return NULL;
}

const char *bpfree_preset_rule(const bpfree_preset *p, const char *current) {
    if (!current || !bp_rule_lookup(current)) return p->rule;
    for (int i = 0; p->kv[i]; i += 2) {
        const bpfree_setting *s = bpfree_setting_find(p->kv[i]);
        if (s && !bpfree_setting_applies(s, current)) return p->rule;
    }
    return current;
}
