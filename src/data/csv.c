/* csv.c — read tabular data (CSV, raw or gzip) into training and test sets.
 *
 * A file is read once into a table (csv_table.c): every cell as a float,
 * (rows, cols) row-major, except a classification target column, whose
 * strings become class ids (csv_columns.c).  The dataset is then assembled
 * from the table's columns: features x (N, D) in file order, targets y
 * (N, outputs) in the order the `targets` option names them (or labels (N)).
 * Then split, then standardised with the training rows' statistics. */
#include "csv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------- dataset */

/* x from X's feature columns, y or labels from Y's targets (X may be Y). */
static bpfree_status assemble(const table *X, table *Y, bpfree_dataset *ds, bpfree_error *err) {
    int dim = 0, classes = 0;
    for (int c = 0; c < X->cols; c++) dim += X->role[c] == COL_FEATURE;
    if (dim == 0)
        return bp_fail(err, BPFREE_EINVAL, "%s: every column is a target: no features left",
                       X->path);
    if (Y->label_col >= 0 && (classes = bp_csv_integer_classes(Y)) < 2)
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
    if (!o->targets_path) return bp_csv_read_table(X, path, o, o->targets, HOLDS_BOTH, err);
    bpfree_status s = bp_csv_read_table(X, path, o, NULL, HOLDS_FEATURES, err);
    if (s == BPFREE_OK)
        s = bp_csv_read_table(Y, o->targets_path, o, o->targets, HOLDS_TARGETS, err);
    if (s == BPFREE_OK && X->rows != Y->rows)
        s = bp_fail(err, BPFREE_ESHAPE, "%s has %d data rows but its targets file %s has %d",
                    path, X->rows, o->targets_path, Y->rows);
    return s;
}

/* ------------------------------------------------------- standardising */

/* v of train (n, d) and of test with train's per-column statistics
 * (bpfree_data_col_stats, norm.c). */
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
    bp_csv_table_free(&X);
    bp_csv_table_free(&Y);
    if (s == BPFREE_OK) s = finish(train, test, path, &o, err);
    if (s != BPFREE_OK) {
        bpfree_data_free(train);
        bpfree_data_free(test);
    }
    return s;
}