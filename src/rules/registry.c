/* registry.c — the library's entry points that need the whole table of
 * rules: the list of every settings row (the engine's generic rows, then
 * each rule's own), settings by name, a rule's default config and its
 * check, presets, and building a model by its rule's name.  The engine below
 * works with the rule object it is given and never looks a rule up. */
#include "rules/rules.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ all rows */

/* The generic rows, then every rule's own rows in rule-table order (a row
 * array shared by several rules counts once); rebuilt when a rule is
 * registered (tests add one). */
static const bp_setting *rows[256];
static int n_rows, rows_for = -1; /* rows of the first rows_for rules */
static pthread_mutex_t rows_lock = PTHREAD_MUTEX_INITIALIZER;

static void rows_sync(void) {
    pthread_mutex_lock(&rows_lock);
    if (rows_for != bpfree_rule_count()) {
        int ng, n = 0;
        const bp_setting *g = bp_settings_generic(&ng);
        for (int i = 0; i < ng; i++) rows[n++] = &g[i];
        for (int r = 0; bp_rule_at(r); r++) {
            const bp_rule *R = bp_rule_at(r);
            for (int i = 0; i < R->n_settings; i++) {
                int seen = 0;
                for (int j = 0; j < n && !seen; j++) seen = rows[j] == &R->settings[i];
                if (!seen && n < (int)(sizeof rows / sizeof *rows)) rows[n++] = &R->settings[i];
            }
        }
        n_rows = n;
        rows_for = bpfree_rule_count();
    }
    pthread_mutex_unlock(&rows_lock);
}

int bpfree_setting_count(void) {
    rows_sync();
    return n_rows;
}

const bpfree_setting *bpfree_setting_at(int i) {
    rows_sync();
    return i >= 0 && i < n_rows ? &rows[i]->pub : NULL;
}

const bpfree_setting *bpfree_setting_find(const char *name) {
    rows_sync();
    for (int i = 0; name && i < n_rows; i++)
        if (!strcmp(rows[i]->pub.name, name) || (rows[i]->pub.key && !strcmp(rows[i]->pub.key, name)))
            return &rows[i]->pub;
    return NULL;
}

int bpfree_setting_internal(const bpfree_setting *s) {
    return s && (bp_setting_row(s)->flags & BP_SET_INPUT) != 0;
}

int bpfree_setting_applies(const bpfree_setting *s, const char *rule) {
    const bp_rule *R = bp_rule_lookup(rule);
    return s && R && bp_setting_applies_rule(bp_setting_row(s), R);
}

/* ------------------------------------------------------- public set/get */

bpfree_status bpfree_config_set(bpfree_config *c, const char *name, const char *value,
                                bpfree_error *err) {
    const bpfree_setting *p = bpfree_setting_find(name);
    if (!p || bpfree_setting_internal(p))
        return bp_fail(err, BPFREE_EINVAL, "unknown setting '%s' (see bpfree --help)",
                       name ? name : "(null)");
    if (!bp_rule_lookup(c->rule))
        return bp_fail(err, BPFREE_EINVAL, "unknown rule '%s'", c->rule);
    if (!bpfree_setting_applies(p, c->rule)) {
        char users[256] = "";
        for (int r = 0; bp_rule_at(r); r++)
            if (bpfree_setting_applies(p, bp_rule_at(r)->info.name))
                snprintf(users + strlen(users), sizeof users - strlen(users), "%s%s",
                         users[0] ? ", " : "", bp_rule_at(r)->info.name);
        return bp_fail(err, BPFREE_EINVAL, "--%s does not apply to rule %s (it is used by %s)",
                       p->name, c->rule, users[0] ? users : "no rule");
    }
    if (!value) return bp_fail(err, BPFREE_EINVAL, "--%s needs a value", p->name);
    return bp_setting_read(bp_setting_row(p), c, value, err);
}

bpfree_status bpfree_config_set_input(bpfree_config *c, const char *name, const char *value,
                                      bpfree_error *err) {
    const bpfree_setting *p = bpfree_setting_find(name);
    if (!p || !bpfree_setting_internal(p))
        return bp_fail(err, BPFREE_EINVAL, "'%s' is not a setting the data decides",
                       name ? name : "(null)");
    if (!value) return bp_fail(err, BPFREE_EINVAL, "%s needs a value", p->name);
    return bp_setting_read(bp_setting_row(p), c, value, err);
}

int bpfree_config_get(const bpfree_config *c, const char *name, char *buf, size_t cap) {
    const bpfree_setting *p = bpfree_setting_find(name);
    return p ? bp_setting_write(bp_setting_row(p), c, buf, cap) : -1;
}

/* ------------------------------------------------------ config, model */

bpfree_status bpfree_config_default(bpfree_config *c, const char *rule, int inputs,
                                    int outputs, bpfree_error *err) {
    const bp_rule *r = bp_rule_lookup(rule);
    rows_sync();
    if (!r) return bp_fail(err, BPFREE_EINVAL, "unknown rule '%s'", rule ? rule : "(null)");
    memset(c, 0, sizeof *c);
    snprintf(c->rule, sizeof c->rule, "%s", r->info.name);
    bp_settings_defaults(rows, n_rows, c); /* every row's: a config is whole whatever the rule */
    c->inputs = inputs;
    c->outputs = outputs;
    if (r->defaults) r->defaults(c);
    return BPFREE_OK;
}

size_t bpfree_sizeof(const char *type) {
#define BP_SIZEOF(T) \
    if (type && !strcmp(type, #T)) return sizeof(T);
    BP_SIZEOF(bpfree_config)
    BP_SIZEOF(bpfree_dataset)
    BP_SIZEOF(bpfree_data_options)
    BP_SIZEOF(bpfree_epoch_stats)
    BP_SIZEOF(bpfree_eval)
    BP_SIZEOF(bpfree_tensor_info)
    BP_SIZEOF(bpfree_error)
#undef BP_SIZEOF
    return 0;
}

bpfree_status bpfree_config_check(const bpfree_config *c, bpfree_error *err) {
    const bp_rule *r = bp_rule_lookup(c->rule);
    if (!r) return bp_fail(err, BPFREE_EINVAL, "unknown rule '%s'", c->rule);
    rows_sync();
    return bp_config_check(r, rows, n_rows, c, err);
}

bpfree_status bpfree_model_new(const bpfree_config *cfg, bpfree_model **out,
                               bpfree_error *err) {
    *out = NULL;
    bpfree_status st = bpfree_config_check(cfg, err);
    return st ? st : bp_model_build(bp_rule_lookup(cfg->rule), cfg, out, err);
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
