/* csv_columns.c — the columns of a CSV table: which are features, which
 * targets (by header name or index, as the `targets` option names them),
 * and class labels mapped to class ids. */
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- columns */

/* "column 'mean radius' (3)", or "column 3" without a header. */
const char *bp_csv_col_name(const table *t, int c, char *buf, size_t cap) {
    if (t->name) snprintf(buf, cap, "column '%s' (%d)", t->name[c], c);
    else snprintf(buf, cap, "column %d", c);
    return buf;
}

static void list_columns(const table *t, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int c = 0; c < t->cols && used < cap; c++) {
        int k = t->name ? snprintf(buf + used, cap - used, "%s'%s'", c ? ", " : "", t->name[c])
                        : snprintf(buf + used, cap - used, "%s%d", c ? ", " : "", c);
        if (k < 0) return;
        used += (size_t)k;
    }
}

/* Column named `tok`: a header name first, else a 0-based index; -1 if none. */
static int find_column(const table *t, const char *tok) {
    if (t->name)
        for (int c = 0; c < t->cols; c++)
            if (strcmp(t->name[c], tok) == 0) return c;
    char *end;
    errno = 0;
    long k = strtol(tok, &end, 10);
    if (end == tok || *end || errno || k < 0 || k >= t->cols || !isdigit((unsigned char)*tok))
        return -1;
    return (int)k;
}

static bpfree_status add_target(table *t, const char *tok, bpfree_error *err) {
    int c = find_column(t, tok);
    if (c < 0) {
        char cols[256];
        list_columns(t, cols, sizeof cols);
        return bp_fail(err, BPFREE_EINVAL, "%s: no target column '%s' (%d columns: %s)",
                       t->path, tok, t->cols, cols);
    }
    if (t->role[c] == COL_TARGET)
        return bp_fail(err, BPFREE_EINVAL, "%s: target column '%s' named twice", t->path, tok);
    t->role[c] = COL_TARGET;
    t->tcol[t->nt++] = c;
    return BPFREE_OK;
}

/* Roles from the targets spec ("a,b" / "3,4" / NULL = last column); the
 * other columns are features, or skipped (HOLDS_TARGETS). */
bpfree_status bp_csv_set_roles(table *t, const char *spec, int classify, holds what,
                               bpfree_error *err) {
    t->role = bp_alloc(NULL, (size_t)t->cols);
    t->tcol = bp_alloc(NULL, (size_t)t->cols * sizeof(int));
    char *copy = bp_csv_dup(spec ? spec : "");
    if (!t->role || !t->tcol || !copy) {
        bp_free(NULL, copy);
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for %d columns", t->path, t->cols);
    }
    memset(t->role, what == HOLDS_TARGETS ? COL_SKIP : COL_FEATURE, (size_t)t->cols);
    t->label_col = -1;
    bpfree_status s = BPFREE_OK;
    if (what == HOLDS_FEATURES) spec = NULL;
    else if (!spec) {
        t->role[t->cols - 1] = COL_TARGET;
        t->tcol[t->nt++] = t->cols - 1;
    }
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); spec && tok && !s;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';) *--e = '\0';
        s = add_target(t, tok, err);
    }
    bp_free(NULL, copy);
    if (what == HOLDS_FEATURES) return s;
    if (s == BPFREE_OK && t->nt == 0)
        s = bp_fail(err, BPFREE_EINVAL, "%s: no target column named in '%s'", t->path, spec);
    if (s == BPFREE_OK && classify && t->nt != 1)
        s = bp_fail(err, BPFREE_EINVAL,
                    "%s: classification takes one target column, %d named ('%s')", t->path,
                    t->nt, spec);
    t->label_col = classify && s == BPFREE_OK ? t->tcol[0] : -1;
    return s;
}

/* -------------------------------------------------------------- labels */

/* Class id of label string s, by first appearance (added if new). */
bpfree_status bp_csv_intern(table *t, const char *s, int *id, const reader *r, int c,
                            bpfree_error *err) {
    for (int i = 0; i < t->nlab; i++)
        if (strcmp(t->lname[i], s) == 0) { *id = i; return BPFREE_OK; }
    char buf[320];
    if (t->nlab == MAX_CLASSES)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s:%ld: %s: more than %d distinct class labels — is it a regression "
                       "target?", r->path, r->line, bp_csv_col_name(t, c, buf, sizeof buf),
                       MAX_CLASSES);
    if (t->nlab == 0 && !(t->lname = bp_alloc(NULL, MAX_CLASSES * sizeof(char *))))
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for class labels", r->path);
    if (!(t->lname[t->nlab] = bp_csv_dup(s)))
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for class labels", r->path);
    *id = t->nlab++;
    return BPFREE_OK;
}

typedef struct int_label {
    long v;
    int id;
} int_label;

static int cmp_label(const void *a, const void *b) {
    long x = ((const int_label *)a)->v, y = ((const int_label *)b)->v;
    return (x > y) - (x < y);
}

/* If every label is an integer, renumber classes by ascending value.
 * Returns the number of classes. */
int bp_csv_integer_classes(table *t) {
    int_label L[MAX_CLASSES];
    int remap[MAX_CLASSES];
    for (int i = 0; i < t->nlab; i++) {
        char *end;
        errno = 0;
        L[i].v = strtol(t->lname[i], &end, 10);
        L[i].id = i;
        if (end == t->lname[i] || *end || errno) return t->nlab; /* strings */
    }
    qsort(L, (size_t)t->nlab, sizeof L[0], cmp_label);
    int k = -1;
    for (int i = 0; i < t->nlab; i++) {
        if (i == 0 || L[i].v != L[i - 1].v) k++; /* "1" and "01" are one class */
        remap[L[i].id] = k;
    }
    for (int i = 0; i < t->rows; i++) t->lab[i] = remap[t->lab[i]];
    return k + 1;
}
