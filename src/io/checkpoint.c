/* checkpoint.c — the checkpoint loader: a model file (model_io.c) with its
 * run state sections (sections.c) applied. */
#include "io/io.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The run state of a checkpoint into m: every section bp_run_sections
 * names, of exactly its size; the order of a stopped epoch allocated. */
static bpfree_status apply_run(bpfree_model *m, const loaded *L, const char *path,
                               bpfree_error *err) {
    const in_section *pr = bp_io_find_section(L, "run.progress");
    if (!pr || pr->bytes != sizeof m->prog)
        return bp_fail(err, BPFREE_EFORMAT, "%s: not a checkpoint (no run state)", path);
    memcpy(&m->prog, pr->p, sizeof m->prog);
    const in_section *ord = bp_io_find_section(L, "run.order");
    if (m->prog.k < 0 || (m->prog.k > 0 && (!ord || ord->bytes == 0 || ord->bytes % sizeof(int) ||
                                             ord->bytes / sizeof(int) > INT_MAX)))
        return bp_fail(err, BPFREE_EFORMAT, "%s: a stopped epoch without its sample order", path);
    if (m->prog.k > 0) {
        m->order_n = (int)(ord->bytes / sizeof(int));
        if (!(m->order = bp_alloc(&m->mem, ord->bytes)))
            return bp_fail(err, BPFREE_ENOMEM, "out of memory (sample order)");
        memcpy(m->order, ord->p, ord->bytes);
        for (int i = 0; i < m->order_n; i++)
            if (m->order[i] < 0 || m->order[i] >= m->order_n)
                return bp_fail(err, BPFREE_EFORMAT, "%s: bad sample order", path);
    }
    bp_section rs[BP_MAX_PERSIST + 16];
    const int k = bp_run_sections(m, rs, (int)(sizeof rs / sizeof *rs));
    for (int i = 0; i < k; i++) {
        if (!strcmp(rs[i].name, "run.order") || !strcmp(rs[i].name, "run.progress")) continue;
        const in_section *s = bp_io_find_section(L, rs[i].name);
        if (!s || s->bytes != rs[i].bytes)
            return bp_fail(err, BPFREE_EFORMAT,
                           "%s: checkpoint section '%s' %s (this model needs %zu bytes)", path,
                           rs[i].name, s ? "has another size" : "is missing", rs[i].bytes);
        if (s->bytes) memcpy(rs[i].p, s->p, s->bytes);
    }
    m->optim.cfg = m->cfg.optim; /* the clock's config is the model's own */
    const in_section *x = bp_io_find_section(L, "rule.extra");
    if (x && !m->rule->extra_load)
        return bp_fail(err, BPFREE_EFORMAT, "%s: rule %s keeps no extra state", path, m->cfg.rule);
    if (x) return m->rule->extra_load(m, x->p, x->bytes, err);
    return BPFREE_OK;
}

bpfree_status bpfree_checkpoint_load(const char *path, bpfree_model **out, char **note,
                                     bpfree_error *err) {
    *out = NULL;
    if (note) *note = NULL;
    loaded *L = bp_malloc(sizeof *L);
    if (!L) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    bpfree_status st = bp_io_load_file(path, L, err);
    if (!st) st = apply_run(L->m, L, path, err);
    if (!st && note) {
        const in_section *n = bp_io_find_section(L, "note");
        size_t len = n ? n->bytes : 0;
        if (!(*note = bp_malloc(len + 1))) st = bp_fail(err, BPFREE_ENOMEM, "out of memory");
        else {
            if (len) memcpy(*note, n->p, len);
            (*note)[len] = '\0';
        }
    }
    if (st) bpfree_model_free(L->m);
    else *out = L->m;
    bp_io_loaded_free(L);
    free(L);
    return st;
}
