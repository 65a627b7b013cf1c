/* sections.c — the sections of a version 2 model file (layout: model_io.c):
 * "data.cols" and "data.tcols" (per-column mean then std), and a
 * checkpoint's run.* / optim.* / rule.* sections (bp_run_sections: run state,
 * RNG, optimizer, rule state), "rule.extra", "run.settings" and "note" —
 * collected and written on save, read, checked and applied on load (the
 * checkpoint loader that applies a checkpoint's: checkpoint.c). */
#include "io/io.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- save */

/* "name=value\n" of every setting of the rule a model file does not keep */
static char *run_settings(const bpfree_config *c) {
    size_t cap = 4096, n = 0;
    char *t = bp_malloc(cap);
    if (!t) return NULL;
    t[0] = '\0';
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        char v[512];
        if (s->key || bpfree_setting_internal(s) || !bpfree_setting_applies(s, c->rule)) continue;
        if (bpfree_config_get(c, s->name, v, sizeof v) < 0) continue;
        int k = snprintf(t + n, cap - n, "%s=%s\n", s->name, v);
        if (k < 0 || (size_t)k >= cap - n) break;
        n += (size_t)k;
    }
    return t;
}

/* The sections of a model file (checkpoint = 0) or a checkpoint into o,
 * *n of them (also on failure: the caller frees those it owns). */
bpfree_status bp_io_collect(const bpfree_model *mc, int checkpoint, const char *note,
                            out_section *o, int *n, bpfree_error *err) {
    bpfree_model *m = (bpfree_model *)mc; /* views only: nothing is written */
    *n = 0;
    if (m->has_data && m->data.n_cols > 0) {
        size_t k = (size_t)m->data.n_cols * sizeof(float);
        float *cols = bp_malloc(2 * k);
        if (!cols) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
        memcpy(cols, m->data.col_mean, k);
        memcpy((char *)cols + k, m->data.col_std, k);
        o[(*n)++] = (out_section){"data.cols", cols, 2 * k, 1};
    }
    if (m->has_data && m->data.n_tcols > 0) {
        size_t k = (size_t)m->data.n_tcols * sizeof(float);
        float *cols = bp_malloc(2 * k);
        if (!cols) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
        memcpy(cols, m->data.tcol_mean, k);
        memcpy((char *)cols + k, m->data.tcol_std, k);
        o[(*n)++] = (out_section){"data.tcols", cols, 2 * k, 1};
    }
    if (!checkpoint) return BPFREE_OK;
    bp_section rs[BP_MAX_PERSIST + 16];
    int k = bp_run_sections(m, rs, (int)(sizeof rs / sizeof *rs));
    if (k < 0 || *n + k + 3 > MAX_OUT) return bp_fail(err, BPFREE_EINVAL, "too many sections");
    for (int i = 0; i < k; i++) {
        o[*n] = (out_section){"", rs[i].p, rs[i].bytes, 0};
        memcpy(o[*n].name, rs[i].name, sizeof o->name);
        (*n)++;
    }
    size_t xb = m->rule->extra_bytes ? m->rule->extra_bytes(m) : 0;
    if (xb) {
        void *x = bp_malloc(xb);
        if (!x) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
        m->rule->extra_save(m, x);
        o[(*n)++] = (out_section){"rule.extra", x, xb, 1};
    }
    char *rset = run_settings(&m->cfg);
    if (!rset) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    o[(*n)++] = (out_section){"run.settings", rset, strlen(rset), 1};
    o[(*n)++] = (out_section){"note", note ? note : "", note ? strlen(note) : 0, 0};
    return BPFREE_OK;
}

int bp_io_write_sections(FILE *f, const out_section *sec, int n, uLong *crc) {
    unsigned char b[8];
    le32(b, (uint32_t)n);
    int bad = bp_io_write_all(f, b, 4, crc);
    for (int i = 0; i < n; i++) {
        uint32_t nl = (uint32_t)strlen(sec[i].name);
        le32(b, nl);
        bad |= bp_io_write_all(f, b, 4, crc);
        bad |= bp_io_write_all(f, sec[i].name, nl, crc);
        le64(b, sec[i].bytes);
        bad |= bp_io_write_all(f, b, 8, crc);
        bad |= bp_io_write_all(f, sec[i].p, sec[i].bytes, crc);
    }
    return bad;
}

/* --------------------------------------------------------------- load */

void bp_io_loaded_free(loaded *L) {
    for (int i = 0; i < L->n_sec; i++) free(L->sec[i].p);
    L->n_sec = 0;
}

const in_section *bp_io_find_section(const loaded *L, const char *name) {
    for (int i = 0; i < L->n_sec; i++)
        if (!strcmp(L->sec[i].name, name)) return &L->sec[i];
    return NULL;
}

bpfree_status bp_io_read_sections(FILE *f, const char *path, uLong *crc, loaded *L,
                                  bpfree_error *err) {
    unsigned char b[8];
    bpfree_status st;
    if ((st = bp_io_read_exact(f, b, 4, crc, path, "section count", err))) return st;
    uint32_t n = rd32(b);
    if (n > MAX_SECTIONS)
        return bp_fail(err, BPFREE_EFORMAT, "%s: %u sections (at most %d)", path, n, MAX_SECTIONS);
    for (uint32_t i = 0; i < n; i++) {
        in_section *s = &L->sec[L->n_sec];
        if ((st = bp_io_read_exact(f, b, 4, crc, path, "section name length", err))) return st;
        uint32_t nl = rd32(b);
        if (nl == 0 || nl >= sizeof s->name)
            return bp_fail(err, BPFREE_EFORMAT, "%s: section %u: bad name length %u", path, i, nl);
        if ((st = bp_io_read_exact(f, s->name, nl, crc, path, "section name", err))) return st;
        s->name[nl] = '\0';
        if (strlen(s->name) != nl)
            return bp_fail(err, BPFREE_EFORMAT, "%s: section %u: NUL byte in its name", path, i);
        if (bp_io_find_section(L, s->name))
            return bp_fail(err, BPFREE_EFORMAT, "%s: section '%s' is given twice", path, s->name);
        if ((st = bp_io_read_exact(f, b, 8, crc, path, "section size", err))) return st;
        uint64_t bytes = rd64(b);
        if (bytes + 4 > bp_io_bytes_left(f) || bytes > SIZE_MAX - 1)
            return bp_fail(err, BPFREE_EFORMAT,
                           "%s: section '%s' announces %llu bytes but only %llu follow", path,
                           s->name, (unsigned long long)bytes,
                           (unsigned long long)bp_io_bytes_left(f));
        s->bytes = (size_t)bytes;
        if (!(s->p = bp_malloc(bytes ? bytes + 1 : 1))) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
        L->n_sec++;
        if ((st = bp_io_read_exact(f, s->p, s->bytes, crc, path, "section", err))) return st;
        s->p[s->bytes] = 0; /* text sections end in NUL */
    }
    return BPFREE_OK;
}

bpfree_status bp_io_apply_settings(bpfree_config *cfg, const loaded *L, const char *path,
                                   bpfree_error *err) {
    bpfree_error ce;
    const in_section *rs = bp_io_find_section(L, "run.settings");
    for (char *line = rs ? (char *)rs->p : NULL; line && *line;) {
        char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
        if (!nl || !eq || eq > nl)
            return bp_fail(err, BPFREE_EFORMAT, "%s: bad line in section run.settings", path);
        *nl = *eq = '\0';
        const bpfree_setting *s = bpfree_setting_find(line);
        if (!s || s->key) {
            *eq = '=';
            return bp_fail(err, BPFREE_EFORMAT, "%s: run.settings: unknown setting '%s'", path,
                           line);
        }
        if (bpfree_config_set(cfg, line, eq + 1, &ce))
            return bp_fail(err, BPFREE_EFORMAT, "%s: run.settings: %s", path, ce.msg);
        *nl = '\n';
        *eq = '=';
        line = nl + 1;
    }
    return BPFREE_OK;
}

bpfree_status bp_io_apply_data(bpfree_model *m, const bpfree_data_info *di, const loaded *L,
                               const char *path, bpfree_error *err) {
    if (!di) return BPFREE_OK;
    bpfree_data_info d = *di;
    const in_section *c = bp_io_find_section(L, "data.cols");
    const size_t want = (size_t)d.n_cols * 2 * sizeof(float);
    if (d.n_cols > 0 && (!c || c->bytes != want || d.n_cols != m->cfg.inputs))
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: the header records %d standardised columns but section 'data.cols' "
                       "%s (the model has %d inputs)",
                       path, d.n_cols, c ? "has another size" : "is missing", m->cfg.inputs);
    d.col_mean = d.n_cols ? (float *)c->p : NULL;
    d.col_std = d.n_cols ? (float *)(c->p + want / 2) : NULL;
    const in_section *t = bp_io_find_section(L, "data.tcols");
    const size_t twant = (size_t)d.n_tcols * 2 * sizeof(float);
    if (d.n_tcols > 0 && (!t || t->bytes != twant || d.n_tcols != m->cfg.outputs))
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: the header records %d standardised targets but section 'data.tcols' "
                       "%s (the model has %d outputs)",
                       path, d.n_tcols, t ? "has another size" : "is missing", m->cfg.outputs);
    d.tcol_mean = d.n_tcols ? (float *)t->p : NULL;
    d.tcol_std = d.n_tcols ? (float *)(t->p + twant / 2) : NULL;
    return bpfree_model_set_data(m, &d, err);
}
