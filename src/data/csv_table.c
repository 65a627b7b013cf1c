/* csv_table.c — a whole CSV file read into a table: every cell as a float,
 * (rows, cols) row-major, except a classification target column, whose
 * strings become class ids (csv_columns.c). */
#include "csv.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- table */

void bp_csv_table_free(table *t) {
    for (int i = 0; i < t->nlab; i++) bp_free(NULL, t->lname[i]);
    bp_free(NULL, t->lname);
    bp_free(NULL, t->head);
    bp_free(NULL, t->name);
    bp_free(NULL, t->role);
    bp_free(NULL, t->tcol);
    bp_free(NULL, t->v);
    bp_free(NULL, t->lab);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- rows */

/* The whole field as a finite float, or why not (NULL if it is one). */
static const char *parse_float(const char *s, float *out) {
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end) return "is not a number";
    if (!isfinite(d) || fabs(d) > FLT_MAX) return "is not a finite float";
    *out = (float)d;
    return NULL;
}

static bpfree_status room_for_row(table *t, const reader *r, bpfree_error *err) {
    if (t->rows < t->cap) return BPFREE_OK;
    int cap = t->cap ? 2 * t->cap : 256;
    size_t C = (size_t)t->cols;
    if (t->cap > INT_MAX / 2 ||
        !bp_csv_grow(&t->v, (size_t)t->rows * C * sizeof(float),
                     (size_t)cap * C * sizeof(float)) ||
        (t->label_col >= 0 &&
         !bp_csv_grow(&t->lab, (size_t)t->rows * sizeof(int), (size_t)cap * sizeof(int))))
        return bp_fail(err, BPFREE_ENOMEM, "%s:%ld: out of memory for %d rows of %d columns",
                       r->path, r->line, cap, t->cols);
    t->cap = cap;
    return BPFREE_OK;
}

static bpfree_status add_row(table *t, const fields *F, const reader *r, bpfree_error *err) {
    if (F->n != t->cols)
        return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: %d fields, expected %d (as on line %ld)",
                       r->path, r->line, F->n, t->cols, t->first_line);
    bpfree_status s = room_for_row(t, r, err);
    if (s != BPFREE_OK) return s; /* t->v may be NULL: no row pointer into it */
    float *row = t->v + (size_t)t->rows * (size_t)t->cols;
    for (int c = 0; c < t->cols && s == BPFREE_OK; c++) {
        const char *why = NULL;
        if (c == t->label_col) {
            if (*F->f[c]) s = bp_csv_intern(t, F->f[c], &t->lab[t->rows], r, c, err);
            else why = "is an empty class label";
        } else if (t->role[c] != COL_SKIP) {
            why = parse_float(F->f[c], &row[c]);
        }
        char buf[320];
        if (why)
            s = bp_fail(err, BPFREE_EFORMAT, "%s:%ld: %s: '%s' %s", r->path, r->line,
                        bp_csv_col_name(t, c, buf, sizeof buf), F->f[c], why);
    }
    if (s == BPFREE_OK) t->rows++;
    return s;
}

/* --------------------------------------------------------------- files */

/* The header (or the first row): separator, columns, roles. */
static bpfree_status read_first(table *t, reader *r, fields *F, const bpfree_csv_options *o,
                                const char *spec, holds what, bpfree_error *err) {
    int got;
    bpfree_status s = BPFREE_OK;
    for (int i = 0; i < o->skip_lines && s == BPFREE_OK; i++) s = bp_csv_next(r, &got, err);
    if (s == BPFREE_OK) s = bp_csv_data(r, &got, err);
    if (s != BPFREE_OK) return s;
    if (!got)
        return bp_fail(err, BPFREE_EFORMAT, "%s: empty file (no %s after %d skipped lines)",
                       t->path, o->header ? "header" : "data", o->skip_lines);
    t->first_line = r->line;
    t->sep = strchr(r->buf, ',') ? ',' : ' ';
    if (o->header && !(t->head = bp_csv_dup(r->buf)))
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for the header", t->path);
    s = bp_csv_split(o->header ? t->head : r->buf, t->sep, F, r, err);
    if (s != BPFREE_OK) return s;
    t->cols = F->n;
    if (o->header) {
        if (!(t->name = bp_alloc(NULL, (size_t)F->n * sizeof(char *))))
            return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for the header", t->path);
        memcpy(t->name, F->f, (size_t)F->n * sizeof(char *));
    }
    s = bp_csv_set_roles(t, spec, o->classify && what != HOLDS_FEATURES, what, err);
    if (s == BPFREE_OK && !o->header) s = add_row(t, F, r, err);
    return s;
}

/* Read a whole file.  spec: target columns (NULL = the last). */
bpfree_status bp_csv_read_table(table *t, const char *path, const bpfree_csv_options *o,
                                const char *spec, holds what, bpfree_error *err) {
    memset(t, 0, sizeof *t);
    t->path = path;
    reader r;
    fields F = {0};
    bpfree_status s = bp_csv_open(&r, path, err);
    if (s == BPFREE_OK) s = read_first(t, &r, &F, o, spec, what, err);
    for (int got = 1; s == BPFREE_OK;) {
        s = bp_csv_data(&r, &got, err);
        if (s != BPFREE_OK || !got) break;
        s = bp_csv_split(r.buf, t->sep, &F, &r, err);
        if (s == BPFREE_OK) s = add_row(t, &F, &r, err);
    }
    if (s == BPFREE_OK && t->rows == 0)
        s = bp_fail(err, BPFREE_EFORMAT, "%s: no data rows after the header on line %ld", path,
                    t->first_line);
    bp_csv_close(&r);
    bp_free(NULL, F.f);
    if (s != BPFREE_OK) bp_csv_table_free(t);
    return s;
}
