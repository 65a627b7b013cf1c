/* rules.c — the table of learning rules. */
#include "rules/rules.h"

#include <string.h>

static const bp_rule *const rules[] = {&bp_rule_bp,   &bp_rule_fa,    &bp_rule_dfa,
                                       &bp_rule_drtp, &bp_rule_f3,    &bp_rule_pepita,
                                       &bp_rule_llo,  &bp_rule_mf,    &bp_rule_fgw,
                                       &bp_rule_fga,  &bp_rule_lgfga, &bp_rule_dkp,
                                       &bp_rule_fdfa,
                                       &bp_rule_ff,   &bp_rule_cff_fixed, &bp_rule_cff_adaptive};

int bpfree_rule_count(void) { return (int)(sizeof rules / sizeof *rules); }

const bp_rule *bp_rule_at(int i) {
    return i >= 0 && i < bpfree_rule_count() ? rules[i] : NULL;
}

const bpfree_rule_info *bpfree_rule_at(int i) {
    const bp_rule *r = bp_rule_at(i);
    return r ? &r->info : NULL;
}

const bp_rule *bp_rule_lookup(const char *name) {
    for (int i = 0; name && i < bpfree_rule_count(); i++)
        if (strcmp(rules[i]->info.name, name) == 0) return rules[i];
    return NULL;
}

const bpfree_rule_info *bpfree_rule_find(const char *name) {
    const bp_rule *r = bp_rule_lookup(name);
    return r ? &r->info : NULL;
}
