/* csv.h — what the CSV loader's files share; not part of the library's API.
 *
 * csv_lines.c reads lines and splits them into fields, csv_columns.c gives
 * the columns their roles and maps class labels to ids, csv_table.c reads a
 * whole file into a table, and csv.c assembles, splits and standardises the
 * dataset (bpfree_csv_load). */
#ifndef BPFREE_DATA_CSV_H
#define BPFREE_DATA_CSV_H

#include "data.h"

#define MAX_CLASSES 1000 /* more distinct labels than this: surely not classes */

enum { COL_FEATURE, COL_TARGET, COL_SKIP };

/* What a file holds: features and targets, only features (the first of two
 * files), or only targets (the second; its other columns are skipped). */
typedef enum { HOLDS_BOTH, HOLDS_FEATURES, HOLDS_TARGETS } holds;

/* ------------------------------------------------ memory (csv_lines.c) */

/* *p, holding `used` bytes, moves into a new zeroed block of `bytes`. */
int bp_csv_grow(void *p, size_t used, size_t bytes);
char *bp_csv_dup(const char *s);

/* ------------------------------------------------- lines (csv_lines.c) */

typedef struct reader {
    gzFile g;
    const char *path;
    long line;  /* 1-based number of the line in buf */
    char *buf;  /* the line, without its \n or \r\n */
    size_t cap;
} reader;

bpfree_status bp_csv_open(reader *r, const char *path, bpfree_error *err);
void bp_csv_close(reader *r);
/* Next line into r->buf.  *got = 1, or 0 at the end of the file. */
bpfree_status bp_csv_next(reader *r, int *got, bpfree_error *err);
/* Next non-blank line. */
bpfree_status bp_csv_data(reader *r, int *got, bpfree_error *err);

/* ------------------------------------------------ fields (csv_lines.c) */

typedef struct fields {
    char **f;
    int n, cap;
} fields;

/* line's fields into F, in place: sep ',' (trimmed, "quoted" allowed) or
 * ' ' (runs of blanks). */
bpfree_status bp_csv_split(char *line, char sep, fields *F, const reader *r,
                           bpfree_error *err);

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

/* csv_columns.c */

/* "column 'mean radius' (3)", or "column 3" without a header. */
const char *bp_csv_col_name(const table *t, int c, char *buf, size_t cap);
/* Roles from the targets spec ("a,b" / "3,4" / NULL = last column); the
 * other columns are features, or skipped (HOLDS_TARGETS). */
bpfree_status bp_csv_set_roles(table *t, const char *spec, int classify, holds what,
                               bpfree_error *err);
/* Class id of label string s, by first appearance (added if new). */
bpfree_status bp_csv_intern(table *t, const char *s, int *id, const reader *r, int c,
                            bpfree_error *err);
/* If every label is an integer, renumber classes by ascending value.
 * Returns the number of classes. */
int bp_csv_integer_classes(table *t);

/* csv_table.c */

/* Read a whole file.  spec: target columns (NULL = the last). */
bpfree_status bp_csv_read_table(table *t, const char *path, const bpfree_csv_options *o,
                                const char *spec, holds what, bpfree_error *err);
void bp_csv_table_free(table *t);

#endif
