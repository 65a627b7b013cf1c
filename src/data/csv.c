/* csv.c — read tabular data (CSV, raw or gzip) into training and test sets.
 *
 * A file is read once into a table: every cell as a float, (rows, cols)
 * row-major, except a classification target column, whose strings become
 * class ids.  The dataset is then assembled from the table's columns:
 * features x (N, D) in file order, targets y (N, outputs) in the order the
 * `targets` option names them (or labels (N)).  Then split, then
 * standardised with the training rows' statistics. */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define MAX_CLASSES 1000 /* more distinct labels than this: surely not classes */

enum { COL_FEATURE, COL_TARGET, COL_SKIP };

/* What a file holds: features and targets, only features (the first of two
 * files), or only targets (the second; its other columns are skipped). */
typedef enum { HOLDS_BOTH, HOLDS_FEATURES, HOLDS_TARGETS } holds;

/* --------------------------------------------------------------- memory */

/* *p, holding `used` bytes, moves into a new zeroed block of `bytes`. */
static int grow(void *p, size_t used, size_t bytes) {
    void **pp = p;
    void *q = bp_alloc(NULL, bytes);
    if (!q) return 0;
    if (used) memcpy(q, *pp, used);
    bp_free(NULL, *pp);
    *pp = q;
    return 1;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = bp_alloc(NULL, n);
    if (d) memcpy(d, s, n);
    return d;
}

/* --------------------------------------------------------------- lines */

typedef struct reader {
    gzFile g;
    const char *path;
    long line;  /* 1-based number of the line in buf */
    char *buf;  /* the line, without its \n or \r\n */
    size_t cap;
} reader;

static bpfree_status rd_open(reader *r, const char *path, bpfree_error *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    struct stat st;
    if (stat(path, &st) != 0)
        return bp_fail(err, BPFREE_EIO, "cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return bp_fail(err, BPFREE_EIO, "cannot read %s: it is a directory", path);
    r->cap = 4096;
    r->buf = bp_alloc(NULL, r->cap);
    if (!r->buf) return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for a line", path);
    r->g = gzopen(path, "rb");
    if (!r->g) return bp_fail(err, BPFREE_EIO, "cannot open %s: %s", path, strerror(errno));
    return BPFREE_OK;
}

static void rd_close(reader *r) {
    if (r->g) gzclose(r->g);
    bp_free(NULL, r->buf);
    memset(r, 0, sizeof *r);
}

static bpfree_status rd_error(reader *r, bpfree_error *err) {
    int z = 0;
    const char *msg = gzerror(r->g, &z);
    if (z == Z_ERRNO)
        return bp_fail(err, BPFREE_EIO, "%s:%ld: read error: %s", r->path, r->line + 1,
                       strerror(errno));
    size_t n = strlen(r->path); /* zlib's message starts with the path */
    if (strncmp(msg, r->path, n) == 0 && strncmp(msg + n, ": ", 2) == 0) msg += n + 2;
    return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: corrupt gzip data: %s", r->path, r->line + 1,
                   msg);
}

/* Next line into r->buf.  *got = 1, or 0 at the end of the file. */
static bpfree_status rd_next(reader *r, int *got, bpfree_error *err) {
    size_t len = 0;
    *got = 0;
    for (;;) {
        if (r->cap - len < 2) {
            if (r->cap > INT_MAX / 2 || !grow(&r->buf, len, 2 * r->cap))
                return bp_fail(err, BPFREE_ENOMEM, "%s:%ld: line too long (%zu bytes)",
                               r->path, r->line + 1, len);
            r->cap *= 2;
        }
        if (!gzgets(r->g, r->buf + len, (int)(r->cap - len))) {
            int z = 0;
            gzerror(r->g, &z);
            if (z != Z_OK) return rd_error(r, err);
            if (len == 0) return BPFREE_OK; /* end of file */
            break;
        }
        len += strlen(r->buf + len);
        if (len > 0 && r->buf[len - 1] == '\n') break;
    }
    while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r')) r->buf[--len] = 0;
    r->line++;
    *got = 1;
    return BPFREE_OK;
}

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0';
}

/* Next non-blank line. */
static bpfree_status rd_data(reader *r, int *got, bpfree_error *err) {
    bpfree_status s;
    while ((s = rd_next(r, got, err)) == BPFREE_OK && *got && is_blank(r->buf)) {}
    return s;
}

/* -------------------------------------------------------------- fields */

typedef struct fields {
    char **f;
    int n, cap;
} fields;

static bpfree_status push(fields *F, char *s, const reader *r, bpfree_error *err) {
    if (F->n == F->cap) {
        int cap = F->cap ? 2 * F->cap : 64;
        if (F->cap > INT_MAX / 4 || !grow(&F->f, (size_t)F->n * sizeof(char *),
                                          (size_t)cap * sizeof(char *)))
            return bp_fail(err, BPFREE_ENOMEM, "%s:%ld: out of memory for %d fields", r->path,
                           r->line, cap);
        F->cap = cap;
    }
    F->f[F->n++] = s;
    return BPFREE_OK;
}

/* Runs of spaces and tabs separate fields. */
static bpfree_status split_blank(char *p, fields *F, const reader *r, bpfree_error *err) {
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return BPFREE_OK;
        char *start = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = '\0';
        bpfree_status s = push(F, start, r, err);
        if (s != BPFREE_OK) return s;
    }
}

/* A "quoted" field starting at *pp ("" stands for "), unquoted in place. */
static bpfree_status unquote(char **pp, const reader *r, bpfree_error *err) {
    char *p = *pp, *w = p;
    for (p++;; p++) {
        if (!*p)
            return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: unterminated quote", r->path,
                           r->line);
        if (*p == '"' && p[1] != '"') break;
        if (*p == '"') p++;
        *w++ = *p;
    }
    for (p++; *p == ' ' || *p == '\t'; p++) {}
    if (*p && *p != ',')
        return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: text after a closing quote: '%s'",
                       r->path, r->line, p);
    *w = '\0';
    *pp = p;
    return BPFREE_OK;
}

/* Commas separate fields, trimmed of blanks; a field may be "quoted". */
static bpfree_status split_comma(char *p, fields *F, const reader *r, bpfree_error *err) {
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *end = NULL;
        bpfree_status s = BPFREE_OK;
        if (*p == '"') {
            s = unquote(&p, r, err); /* ends the field itself */
        } else {
            while (*p && *p != ',') p++;
            for (end = p; end > start && (end[-1] == ' ' || end[-1] == '\t');) end--;
        }
        char c = *p;
        if (end) *end = '\0';
        if (s == BPFREE_OK) s = push(F, start, r, err);
        if (s != BPFREE_OK || c != ',') return s;
        p++;
    }
}

static bpfree_status split(char *line, char sep, fields *F, const reader *r,
                           bpfree_error *err) {
    F->n = 0;
    return sep == ',' ? split_comma(line, F, r, err) : split_blank(line, F, r, err);
}

/* --------------------------------------------------------------- table */

typedef struct table {
    const char *path;
    char sep;            /* ',' or ' ' (blanks) */
    long first_line;     /* line of the header, or of the first row */
    int cols;
    char *head;          /* copy of the header line; name[] points into it */
    char **name;         /* cols names, or NULL without a header */
    unsigned char *role; /* cols: COL_FEATURE, COL_TARGET, COL_SKIP */
    int *tcol, nt;       /* target columns, in the order named */
    int label_col;       /* classification: the target column; else -1 */
    int rows, cap;
    float *v;            /* (cap, cols); a label column holds 0 */
    int *lab;            /* (cap) class ids by first appearance */
    char **lname;        /* distinct label strings, by first appearance */
    int nlab;
} table;

static void table_free(table *t) {
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

/* "column 'mean radius' (3)", or "column 3" without a header. */
static const char *col_name(const table *t, int c, char *buf, size_t cap) {
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
static bpfree_status set_roles(table *t, const char *spec, int classify, holds what,
                               bpfree_error *err) {
    t->role = bp_alloc(NULL, (size_t)t->cols);
    t->tcol = bp_alloc(NULL, (size_t)t->cols * sizeof(int));
    char *copy = dup_str(spec ? spec : "");
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

/* Class id of label string s, by first appearance (added if new). */
static bpfree_status intern(table *t, const char *s, int *id, const reader *r, int c,
                            bpfree_error *err) {
    for (int i = 0; i < t->nlab; i++)
        if (strcmp(t->lname[i], s) == 0) { *id = i; return BPFREE_OK; }
    char buf[320];
    if (t->nlab == MAX_CLASSES)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s:%ld: %s: more than %d distinct class labels — is it a regression "
                       "target?", r->path, r->line, col_name(t, c, buf, sizeof buf),
                       MAX_CLASSES);
    if (t->nlab == 0 && !(t->lname = bp_alloc(NULL, MAX_CLASSES * sizeof(char *))))
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for class labels", r->path);
    if (!(t->lname[t->nlab] = dup_str(s)))
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for class labels", r->path);
    *id = t->nlab++;
    return BPFREE_OK;
}

static bpfree_status room_for_row(table *t, const reader *r, bpfree_error *err) {
    if (t->rows < t->cap) return BPFREE_OK;
    int cap = t->cap ? 2 * t->cap : 256;
    size_t C = (size_t)t->cols;
    if (t->cap > INT_MAX / 2 ||
        !grow(&t->v, (size_t)t->rows * C * sizeof(float), (size_t)cap * C * sizeof(float)) ||
        (t->label_col >= 0 &&
         !grow(&t->lab, (size_t)t->rows * sizeof(int), (size_t)cap * sizeof(int))))
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
    float *row = t->v + (size_t)t->rows * (size_t)t->cols;
    for (int c = 0; c < t->cols && s == BPFREE_OK; c++) {
        const char *why = NULL;
        if (c == t->label_col) {
            if (*F->f[c]) s = intern(t, F->f[c], &t->lab[t->rows], r, c, err);
            else why = "is an empty class label";
        } else if (t->role[c] != COL_SKIP) {
            why = parse_float(F->f[c], &row[c]);
        }
        char buf[320];
        if (why)
            s = bp_fail(err, BPFREE_EFORMAT, "%s:%ld: %s: '%s' %s", r->path, r->line,
                        col_name(t, c, buf, sizeof buf), F->f[c], why);
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
    for (int i = 0; i < o->skip_lines && s == BPFREE_OK; i++) s = rd_next(r, &got, err);
    if (s == BPFREE_OK) s = rd_data(r, &got, err);
    if (s != BPFREE_OK) return s;
    if (!got)
        return bp_fail(err, BPFREE_EFORMAT, "%s: empty file (no %s after %d skipped lines)",
                       t->path, o->header ? "header" : "data", o->skip_lines);
    t->first_line = r->line;
    t->sep = strchr(r->buf, ',') ? ',' : ' ';
    if (o->header && !(t->head = dup_str(r->buf)))
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for the header", t->path);
    s = split(o->header ? t->head : r->buf, t->sep, F, r, err);
    if (s != BPFREE_OK) return s;
    t->cols = F->n;
    if (o->header) {
        if (!(t->name = bp_alloc(NULL, (size_t)F->n * sizeof(char *))))
            return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for the header", t->path);
        memcpy(t->name, F->f, (size_t)F->n * sizeof(char *));
    }
    s = set_roles(t, spec, o->classify && what != HOLDS_FEATURES, what, err);
    if (s == BPFREE_OK && !o->header) s = add_row(t, F, r, err);
    return s;
}

/* Read a whole file.  spec: target columns (NULL = the last). */
static bpfree_status read_table(table *t, const char *path, const bpfree_csv_options *o,
                                const char *spec, holds what, bpfree_error *err) {
    memset(t, 0, sizeof *t);
    t->path = path;
    reader r;
    fields F = {0};
    bpfree_status s = rd_open(&r, path, err);
    if (s == BPFREE_OK) s = read_first(t, &r, &F, o, spec, what, err);
    for (int got = 1; s == BPFREE_OK;) {
        s = rd_data(&r, &got, err);
        if (s != BPFREE_OK || !got) break;
        s = split(r.buf, t->sep, &F, &r, err);
        if (s == BPFREE_OK) s = add_row(t, &F, &r, err);
    }
    if (s == BPFREE_OK && t->rows == 0)
        s = bp_fail(err, BPFREE_EFORMAT, "%s: no data rows after the header on line %ld", path,
                    t->first_line);
    rd_close(&r);
    bp_free(NULL, F.f);
    if (s != BPFREE_OK) table_free(t);
    return s;
}

/* -------------------------------------------------------------- labels */

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
static int integer_classes(table *t) {
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

/* ------------------------------------------------------------- dataset */

/* x from X's feature columns, y or labels from Y's targets (X may be Y). */
static bpfree_status assemble(const table *X, table *Y, bpfree_dataset *ds, bpfree_error *err) {
    int dim = 0, classes = 0;
    for (int c = 0; c < X->cols; c++) dim += X->role[c] == COL_FEATURE;
    if (dim == 0)
        return bp_fail(err, BPFREE_EINVAL, "%s: every column is a target: no features left",
                       X->path);
    if (Y->label_col >= 0 && (classes = integer_classes(Y)) < 2)
        return bp_fail(err, BPFREE_EFORMAT, "%s: the label column holds one class only ('%s')",
                       Y->path, Y->lname[0]);
    bpfree_status s =
        bpfree_data_alloc(ds, X->rows, dim, classes, Y->label_col >= 0 ? 0 : Y->nt, err);
    if (s != BPFREE_OK) return s;
    for (int i = 0; i < X->rows; i++) {
        const float *xr = X->v + (size_t)i * (size_t)X->cols;
        const float *yr = Y->v + (size_t)i * (size_t)Y->cols;
        float *x = ds->x + (size_t)i * (size_t)dim;
        for (int c = 0, j = 0; c < X->cols; c++)
            if (X->role[c] == COL_FEATURE) x[j++] = xr[c];
        if (ds->labels) ds->labels[i] = Y->lab[i];
        for (int k = 0; ds->y && k < Y->nt; k++)
            ds->y[(size_t)i * (size_t)Y->nt + (size_t)k] = yr[Y->tcol[k]];
    }
    return BPFREE_OK;
}

/* "data/x/breast_cancer.csv.gz" -> "breast_cancer". */
static void base_name(char *name, size_t cap, const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 3 && strcmp(b + n - 3, ".gz") == 0) n -= 3;
    const char *dot = memchr(b, '.', n);
    if (dot && dot > b) n = (size_t)(dot - b);
    snprintf(name, cap, "%.*s", (int)n, b);
}

/* Both files read, their rows counted against each other. */
static bpfree_status read_all(const char *path, const bpfree_csv_options *o, table *X,
                              table *Y, bpfree_error *err) {
    if (!o->targets_path) return read_table(X, path, o, o->targets, HOLDS_BOTH, err);
    bpfree_status s = read_table(X, path, o, NULL, HOLDS_FEATURES, err);
    if (s == BPFREE_OK) s = read_table(Y, o->targets_path, o, o->targets, HOLDS_TARGETS, err);
    if (s == BPFREE_OK && X->rows != Y->rows)
        s = bp_fail(err, BPFREE_ESHAPE, "%s has %d data rows but its targets file %s has %d",
                    path, X->rows, o->targets_path, Y->rows);
    return s;
}

/* ------------------------------------------------------- standardising */

void bpfree_data_col_stats(const float *v, int n, int d, float *mean, float *std) {
    for (int j = 0; j < d; j++) {
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < n; i++) s += v[(size_t)i * (size_t)d + (size_t)j];
        double mu = n > 0 ? s / n : 0.0;
        for (int i = 0; i < n; i++) {
            double e = v[(size_t)i * (size_t)d + (size_t)j] - mu;
            s2 += e * e;
        }
        double sd = n > 0 ? sqrt(s2 / n) : 0.0;
        mean[j] = (float)mu;
        std[j] = sd > 1e-8 ? (float)sd : 1.0f; /* constant column: only centred */
    }
}

void bpfree_data_col_normalize(float *v, int n, int d, const float *mean, const float *std) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float *p = v + (size_t)i * (size_t)d + (size_t)j;
            *p = (*p - mean[j]) / std[j];
        }
}

/* v of train (n, d) and of test with train's per-column statistics. */
static bpfree_status standardize(float *tr, int n_tr, float *te, int n_te, int d,
                                 bpfree_error *err) {
    float *mean = bp_alloc(NULL, 2 * (size_t)d * sizeof(float));
    if (!mean) return bp_fail(err, BPFREE_ENOMEM, "out of memory for %d column statistics", d);
    float *std = mean + d;
    bpfree_data_col_stats(tr, n_tr, d, mean, std);
    bpfree_data_col_normalize(tr, n_tr, d, mean, std);
    bpfree_data_col_normalize(te, n_te, d, mean, std);
    bp_free(NULL, mean);
    return BPFREE_OK;
}

/* ----------------------------------------------------------------- API */

void bpfree_csv_options_default(bpfree_csv_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->header = 1;
    opt->test_fraction = 0.2;
    opt->standardize = 1;
}

static bpfree_status check_options(const char *path, const bpfree_csv_options *o,
                                   bpfree_error *err) {
    if (!(o->test_fraction > 0.0 && o->test_fraction < 1.0))
        return bp_fail(err, BPFREE_EINVAL, "%s: test fraction %g must be between 0 and 1",
                       path, o->test_fraction);
    if (o->skip_lines < 0)
        return bp_fail(err, BPFREE_EINVAL, "%s: negative number of lines to skip (%d)", path,
                       o->skip_lines);
    return BPFREE_OK;
}

/* Split off ceil(fraction * n) test rows (scikit-learn's rounding). */
static bpfree_status split_off(bpfree_dataset *train, bpfree_dataset *test,
                               const char *path, const bpfree_csv_options *o,
                               bpfree_error *err) {
    int n = train->n, n_test = (int)ceil(o->test_fraction * n - 1e-9);
    if (n_test < 1 || n_test >= n)
        return bp_fail(err, BPFREE_EINVAL,
                       "%s: %d data row%s cannot be split with test fraction %g (%d test rows)",
                       path, n, n == 1 ? "" : "s", o->test_fraction, n_test);
    return bpfree_data_split(train, n_test, o->seed, test, err);
}

static bpfree_status finish(bpfree_dataset *tr, bpfree_dataset *te, const char *path,
                            const bpfree_csv_options *o, bpfree_error *err) {
    base_name(tr->name, sizeof tr->name, path);
    bpfree_status s = split_off(tr, te, path, o, err);
    if (s == BPFREE_OK && o->standardize)
        s = standardize(tr->x, tr->n, te->x, te->n, tr->dim, err);
    if (s == BPFREE_OK && o->standardize_targets && tr->y)
        s = standardize(tr->y, tr->n, te->y, te->n, tr->outputs, err);
    return s;
}

bpfree_status bpfree_csv_load(const char *path, const bpfree_csv_options *opt,
                              bpfree_dataset *train, bpfree_dataset *test,
                              bpfree_error *err) {
    if (!path || !train || !test || train == test)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_csv_load: bad arguments");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    bpfree_csv_options o;
    if (opt) o = *opt;
    else bpfree_csv_options_default(&o);
    table X = {0}, Y = {0};
    bpfree_status s = check_options(path, &o, err);
    if (s == BPFREE_OK) s = read_all(path, &o, &X, &Y, err);
    if (s == BPFREE_OK) s = assemble(&X, o.targets_path ? &Y : &X, train, err);
    table_free(&X);
    table_free(&Y);
    if (s == BPFREE_OK) s = finish(train, test, path, &o, err);
    if (s != BPFREE_OK) {
        bpfree_data_free(train);
        bpfree_data_free(test);
    }
    return s;
}
