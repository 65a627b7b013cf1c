/* rules.c — the table of learning rules.  Adding a rule: its file, and its
 * line here (CONTRIBUTING.md). */
#include "rules/rules.h"

#include <stdatomic.h>
#include <string.h>

static const bp_rule *const builtin[] = {
    &bp_rule_bp,   &bp_rule_fa,   &bp_rule_dfa,   &bp_rule_drtp, &bp_rule_f3,
    &bp_rule_pepita, &bp_rule_llo, &bp_rule_mf,   &bp_rule_fgw,  &bp_rule_fga,
    &bp_rule_lgfga, &bp_rule_dkp, &bp_rule_fdfa,  &bp_rule_ff,   &bp_rule_cff_fixed,
    &bp_rule_cff_adaptive, &bp_rule_usf, &bp_rule_kp, &bp_rule_chl, &bp_rule_dtp,
    &bp_rule_dni, &bp_rule_ccl, &bp_rule_tinyfoa};
#define N_BUILTIN ((int)(sizeof builtin / sizeof *builtin))

/* rules added at run time (a test's toy rule), after the built-in ones */
#define MAX_EXTRA 8
static const bp_rule *extra[MAX_EXTRA];
static atomic_int n_extra;

int bp_rule_register(const bp_rule *r) {
    int n = atomic_load(&n_extra);
    if (!r || n >= MAX_EXTRA || bp_rule_lookup(r->info.name)) return -1;
    extra[n] = r;
    atomic_store(&n_extra, n + 1); /* published after the slot is written */
    return 0;
}

/* what the CLI trains when no rule is named: Mono-Forward, the project's
 * headline rule (README) */
const char *bpfree_rule_default(void) { return bp_rule_mf.info.name; }

int bpfree_rule_count(void) { return N_BUILTIN + atomic_load(&n_extra); }

const bp_rule *bp_rule_at(int i) {
    if (i < 0 || i >= bpfree_rule_count()) return NULL;
    return i < N_BUILTIN ? builtin[i] : extra[i - N_BUILTIN];
}

const bpfree_rule_info *bpfree_rule_at(int i) {
    const bp_rule *r = bp_rule_at(i);
    return r ? &r->info : NULL;
}

const bp_rule *bp_rule_lookup(const char *name) {
    for (int i = 0; name && i < bpfree_rule_count(); i++)
        if (strcmp(bp_rule_at(i)->info.name, name) == 0) return bp_rule_at(i);
    return NULL;
}

const bpfree_rule_info *bpfree_rule_find(const char *name) {
    const bp_rule *r = bp_rule_lookup(name);
    return r ? &r->info : NULL;
}
