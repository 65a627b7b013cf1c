/* load.c — one entry point for every dataset the CLI's --data accepts:
 * image sets (IDX, dir.c; CIFAR-10/100, cifar.c), scikit-learn's diabetes
 * and breast-cancer tables (as scripts/fetch-data.sh installs them) and
 * csv:PATH. */
#include "data.h"

#include <stdio.h>
#include <string.h>

/* A scikit-learn table and how its files are laid out. */
typedef struct named_table {
    const char *name;
    const char *file;         /* features (and targets if no targets_file) */
    const char *targets_file; /* or NULL */
    int skip_lines, classify;
    int n, dim, classes;      /* what the file must hold */
} named_table;

static const named_table tables[] = {
    /* diabetes_data_raw.csv.gz: 442 rows of 10 space-separated numbers, no
     * header (age, sex, bmi, bp, s1..s6, unscaled); diabetes_target.csv.gz:
     * one number per row, disease progression one year after baseline. */
    {"diabetes", "diabetes_data_raw.csv.gz", "diabetes_target.csv.gz", 0, 0, 442, 10, 0},
    /* breast_cancer.csv: a first line "569,30,malignant,benign" (counts and
     * class names, not column names), then 569 rows of 30 features and the
     * class, 0 = malignant, 1 = benign. */
    {"breast-cancer", "breast_cancer.csv", NULL, 1, 1, 569, 30, 2},
};

/* What every table shares: the split and the standardisation asked for.
 * Regression targets are standardised too (training mean and std), so the
 * MSE is in units of the target's variance, as the regression setup of the
 * F³ paper reports it (diabetes). */
static void csv_options(const bpfree_data_options *o, int classify, bpfree_csv_options *co) {
    bpfree_csv_options_default(co);
    co->classify = classify;
    co->test_fraction = o->test_fraction;
    co->seed = o->seed;
    co->standardize = o->standardize;
    co->standardize_targets = o->standardize && !classify;
}

static bpfree_status check_shape(const named_table *t, const char *path,
                                 const bpfree_dataset *tr, const bpfree_dataset *te,
                                 bpfree_error *err) {
    if (tr->n + te->n == t->n && tr->dim == t->dim && tr->classes == t->classes)
        return BPFREE_OK;
    return bp_fail(err, BPFREE_EFORMAT,
                   "%s: expected %d samples x %d features, %d classes (scikit-learn's %s); "
                   "found %d x %d, %d classes — run scripts/fetch-data.sh %s",
                   path, t->n, t->dim, t->classes, t->name, tr->n + te->n, tr->dim,
                   tr->classes, t->name);
}

static bpfree_status load_named(const named_table *t, const char *extra_root,
                                const bpfree_data_options *o, bpfree_dataset *tr,
                                bpfree_dataset *te, bpfree_error *err) {
    char dir[DATA_PATH_MAX], path[DATA_PATH_MAX + 64], tpath[DATA_PATH_MAX + 64];
    bpfree_status s = bp_data_find(t->name, extra_root, dir, sizeof dir, err);
    if (s != BPFREE_OK) return s;
    snprintf(path, sizeof path, "%s/%s", dir, t->file);
    if (t->targets_file) snprintf(tpath, sizeof tpath, "%s/%s", dir, t->targets_file);
    bpfree_csv_options co;
    csv_options(o, t->classify, &co);
    co.header = 0;
    co.skip_lines = t->skip_lines;
    co.targets_path = t->targets_file ? tpath : NULL;
    s = bpfree_csv_load(path, &co, tr, te, err);
    if (s == BPFREE_OK) s = check_shape(t, path, tr, te, err);
    if (s != BPFREE_OK) {
        bpfree_data_free(tr);
        bpfree_data_free(te);
        return s;
    }
    snprintf(tr->name, sizeof tr->name, "%s", t->name);
    snprintf(te->name, sizeof te->name, "%s", t->name);
    return BPFREE_OK;
}

static bpfree_status load_csv(const char *path, const bpfree_data_options *o,
                              bpfree_dataset *tr, bpfree_dataset *te, bpfree_error *err) {
    bpfree_csv_options co;
    csv_options(o, o->classify, &co);
    co.targets = o->targets;
    bpfree_status s = bpfree_csv_load(path, &co, tr, te, err);
    if (s == BPFREE_OK) memcpy(te->name, tr->name, sizeof te->name);
    return s;
}

/* spec's dataset part and its CIFAR-100 label choice: "cifar100:coarse" ->
 * "cifar100", coarse 1; ":fine" (the default) is accepted too.  Any other
 * spec, or one that is itself a directory, is kept whole. */
static bpfree_status split_labels(const char *spec, char *base, size_t cap, int *coarse,
                                  bpfree_error *err) {
    *coarse = 0;
    size_t n = strlen(spec);
    const char *colon = strrchr(spec, ':');
    if (colon && (!strcmp(colon, ":coarse") || !strcmp(colon, ":fine")) &&
        !bp_data_is_dir(spec)) {
        *coarse = colon[1] == 'c';
        n = (size_t)(colon - spec);
    }
    if (n >= cap) return bp_fail(err, BPFREE_EINVAL, "dataset name too long: %s", spec);
    memcpy(base, spec, n);
    base[n] = '\0';
    return BPFREE_OK;
}

static bpfree_status load_images(const char *spec, const char *extra_root,
                                 bpfree_dataset *tr, bpfree_dataset *te, bpfree_error *err) {
    char dir[DATA_PATH_MAX], base[DATA_PATH_MAX];
    int coarse;
    bpfree_status s = split_labels(spec, base, sizeof base, &coarse, err);
    if (s != BPFREE_OK) return s;
    s = bpfree_data_resolve(base, extra_root, dir, sizeof dir, err);
    if (s == BPFREE_EINVAL && !strchr(base, '/')) /* an unknown name: list them all */
        return bp_fail(err, BPFREE_EINVAL,
                       "unknown dataset '%s' (known: mnist, fashion-mnist, cifar10, cifar100, "
                       "cifar100:coarse, diabetes, breast-cancer, csv:PATH, or a directory "
                       "holding the four IDX files or CIFAR's binary batches)", base);
    if (s != BPFREE_OK) return s;
    /* A CIFAR name asks for that version; a directory is whatever it holds. */
    int version = strcmp(base, "cifar10") == 0 ? 10 : strcmp(base, "cifar100") == 0 ? 100 : 0;
    if (version || coarse) return bpfree_cifar_load_dir(dir, version, coarse, tr, te, err);
    return bpfree_data_load_dir(dir, tr, te, err);
}

void bpfree_data_options_default(bpfree_data_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->test_fraction = 0.2;
    opt->standardize = 1;
}

bpfree_status bpfree_data_load(const char *spec, const char *extra_root,
                               const bpfree_data_options *opt, bpfree_dataset *train,
                               bpfree_dataset *test, bpfree_error *err) {
    if (!spec || !train || !test || train == test)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_data_load: bad arguments");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    bpfree_data_options o;
    if (opt) o = *opt;
    else bpfree_data_options_default(&o);
    if (strncmp(spec, "csv:", 4) == 0) {
        if (!spec[4]) return bp_fail(err, BPFREE_EINVAL, "csv: needs a file: csv:PATH");
        return load_csv(spec + 4, &o, train, test, err);
    }
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(spec, tables[i].name) == 0)
            return load_named(&tables[i], extra_root, &o, train, test, err);
    return load_images(spec, extra_root, train, test, err);
}
