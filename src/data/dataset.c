/* dataset.c — allocate, free, split and standardise in-memory datasets.
 * x is (N, D) row-major; labels (N), y (N, outputs) and index (N) follow the
 * rows.  All memory goes through bp_alloc/bp_free (uncounted: m = NULL). */
#include "core/core.h"

#include <limits.h>
#include <string.h>

/* x (n, dim) zeroed, index 0..n-1, labels (n) if `with_labels`, y (n,
 * outputs) if outputs > 0. */
static bpfree_status ds_alloc(bpfree_dataset *ds, int n, int dim, int with_labels,
                              int outputs, bpfree_error *err) {
    memset(ds, 0, sizeof *ds);
    if (n < 1 || dim < 1 || outputs < 0)
        return bp_fail(err, BPFREE_EINVAL, "dataset: bad size n=%d dim=%d outputs=%d", n, dim,
                       outputs);
    size_t bytes = (size_t)n * (size_t)dim * sizeof(float);
    ds->x = bp_alloc(NULL, bytes);
    ds->index = bp_alloc(NULL, (size_t)n * sizeof(int));
    if (with_labels) ds->labels = bp_alloc(NULL, (size_t)n * sizeof(int));
    if (outputs > 0) ds->y = bp_alloc(NULL, (size_t)n * (size_t)outputs * sizeof(float));
    if (!ds->x || !ds->index || (with_labels && !ds->labels) || (outputs > 0 && !ds->y)) {
        bpfree_data_free(ds);
        return bp_fail(err, BPFREE_ENOMEM,
                       "out of memory for a dataset of %d samples x %d features (%.1f MiB)", n,
                       dim, (double)bytes / (1024.0 * 1024.0));
    }
    ds->n = n;
    ds->dim = dim;
    ds->outputs = outputs;
    for (int i = 0; i < n; i++) ds->index[i] = i;
    return BPFREE_OK;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t bpfree_data_checksum(const bpfree_dataset *ds) {
    uint64_t h = 0xcbf29ce484222325ull;
    if (!ds) return h;
    int32_t head[3] = {ds->n, ds->dim, ds->outputs};
    h = fnv(h, head, sizeof head);
    const size_t n = ds->n > 0 ? (size_t)ds->n : 0, D = ds->dim > 0 ? (size_t)ds->dim : 0;
    if (ds->x) h = fnv(h, ds->x, n * D * sizeof(float));
    if (ds->labels) h = fnv(h, ds->labels, n * sizeof(int));
    if (ds->y && ds->outputs > 0) h = fnv(h, ds->y, n * (size_t)ds->outputs * sizeof(float));
    return h;
}

bpfree_status bpfree_data_alloc(bpfree_dataset *ds, int n, int dim, int classes,
                                int outputs, bpfree_error *err) {
    if (!ds) return bp_fail(err, BPFREE_EINVAL, "bpfree_data_alloc: NULL dataset");
    if (classes < 0) {
        memset(ds, 0, sizeof *ds);
        return bp_fail(err, BPFREE_EINVAL, "dataset: bad number of classes %d", classes);
    }
    bpfree_status s = ds_alloc(ds, n, dim, classes > 0, outputs, err);
    if (s == BPFREE_OK) ds->classes = classes;
    return s;
}

void bpfree_data_free(bpfree_dataset *ds) {
    if (!ds) return;
    bp_free(NULL, ds->x);
    bp_free(NULL, ds->labels);
    bp_free(NULL, ds->y);
    bp_free(NULL, ds->index);
    memset(ds, 0, sizeof *ds);
}

/* Row i of s -> row j of d (d may be s with j < i: rows do not overlap). */
static void copy_row(bpfree_dataset *d, int j, const bpfree_dataset *s, int i) {
    size_t D = (size_t)s->dim, O = (size_t)s->outputs;
    memcpy(d->x + (size_t)j * D, s->x + (size_t)i * D, D * sizeof(float));
    if (s->labels) d->labels[j] = s->labels[i];
    if (s->y) memcpy(d->y + (size_t)j * O, s->y + (size_t)i * O, O * sizeof(float));
    d->index[j] = s->index[i];
}

/* pick[i] = 1 for the n_val rows chosen by a permutation seeded with `seed`. */
static bpfree_status choose(int n, int n_val, uint64_t seed, unsigned char *pick,
                            bpfree_error *err) {
    int *perm = bp_alloc(NULL, (size_t)n * sizeof(int));
    if (!perm) return bp_fail(err, BPFREE_ENOMEM, "split: out of memory for %d indices", n);
    for (int i = 0; i < n; i++) perm[i] = i;
    bp_rng rng;
    bp_rng_seed(&rng, seed);
    bp_rng_shuffle(&rng, perm, n);
    for (int i = 0; i < n_val; i++) pick[perm[i]] = 1;
    bp_free(NULL, perm);
    return BPFREE_OK;
}

bpfree_status bpfree_data_split(bpfree_dataset *train, int n_val, uint64_t seed,
                                bpfree_dataset *val, bpfree_error *err) {
    if (!train || !val || train == val || !train->x || !train->index)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_data_split: bad arguments");
    memset(val, 0, sizeof *val); /* safe to free whatever happens */
    int n = train->n;
    if (n_val <= 0 || n_val >= n)
        return bp_fail(err, BPFREE_EINVAL,
                       "validation size %d must be between 1 and %d (%s has %d samples)", n_val,
                       n - 1, train->name[0] ? train->name : "the training set", n);
    unsigned char *pick = bp_alloc(NULL, (size_t)n);
    if (!pick) return bp_fail(err, BPFREE_ENOMEM, "split: out of memory for %d flags", n);
    bpfree_status s = choose(n, n_val, seed, pick, err);
    if (s == BPFREE_OK) s = ds_alloc(val, n_val, train->dim, train->labels != NULL,
                                     train->y ? train->outputs : 0, err);
    if (s != BPFREE_OK) {
        bp_free(NULL, pick);
        return s;
    }
    val->classes = train->classes;
    val->channels = train->channels;
    val->height = train->height;
    val->width = train->width;
    memcpy(val->name, train->name, sizeof val->name);
    int j = 0, k = 0; /* next row of train kept, of val */
    for (int i = 0; i < n; i++) {
        if (pick[i]) copy_row(val, k++, train, i);
        else if (j++ != i) copy_row(train, j - 1, train, i);
    }
    train->n = n - n_val;
    bp_free(NULL, pick);
    return BPFREE_OK;
}

/* One mean and std over all of train->x (bpfree_data_stats, norm.c), applied
 * to each dataset given, each once. */
void bpfree_data_standardize(bpfree_dataset *train, bpfree_dataset *a,
                             bpfree_dataset *b) {
    if (!train || !train->x || train->n < 1 || train->dim < 1) return;
    float mean, std;
    bpfree_data_stats(train, &mean, &std);
    bpfree_data_normalize(train, mean, std);
    if (a && a->x && a != train) bpfree_data_normalize(a, mean, std);
    if (b && b->x && b != train && b != a) bpfree_data_normalize(b, mean, std);
}

bpfree_status bpfree_data_pad(bpfree_dataset *ds, int p, bpfree_error *err) {
    if (p < 0 || p > 64) return bp_fail(err, BPFREE_EINVAL, "input pad %d: must be in [0, 64]", p);
    if (p == 0 || ds->n == 0) return BPFREE_OK;
    if (ds->channels < 1 || ds->height < 1 || ds->width < 1)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has no image shape to pad", ds->name);
    const size_t C = (size_t)ds->channels, H = (size_t)ds->height, W = (size_t)ds->width;
    const size_t H2 = H + 2 * (size_t)p, W2 = W + 2 * (size_t)p, n = (size_t)ds->n;
    float *x = bp_alloc(NULL, n * C * H2 * W2 * sizeof(float)); /* zeroed */
    if (!x)
        return bp_fail(err, BPFREE_ENOMEM, "out of memory padding the images of '%s'", ds->name);
    for (size_t i = 0; i < n * C; i++) /* image i / C, channel i % C */
        for (size_t y = 0; y < H; y++)
            memcpy(x + (i * H2 + y + (size_t)p) * W2 + (size_t)p, ds->x + (i * H + y) * W,
                   W * sizeof(float));
    bp_free(NULL, ds->x);
    ds->x = x;
    ds->height = (int)H2, ds->width = (int)W2;
    ds->dim = (int)(C * H2 * W2);
    return BPFREE_OK;
}

bpfree_status bpfree_data_repeat(bpfree_dataset *ds, int k, bpfree_error *err) {
    if (k < 1 || k > 4096)
        return bp_fail(err, BPFREE_EINVAL, "input repeat %d: must be in [1, 4096]", k);
    if (k == 1 || ds->n == 0) return BPFREE_OK;
    const size_t D = (size_t)ds->dim, n = (size_t)ds->n;
    if (D * (size_t)k > (size_t)INT_MAX)
        return bp_fail(err, BPFREE_EINVAL, "data '%s': %zu inputs repeated %d times is too many",
                       ds->name, D, k);
    float *x = bp_alloc(NULL, n * D * (size_t)k * sizeof(float));
    if (!x)
        return bp_fail(err, BPFREE_ENOMEM, "out of memory repeating the %zu x %zu inputs of '%s' %d times",
                       n, D, ds->name, k);
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < k; r++)
            memcpy(x + (i * (size_t)k + (size_t)r) * D, ds->x + i * D, D * sizeof(float));
    bp_free(NULL, ds->x);
    ds->x = x;
    ds->dim = (int)(D * (size_t)k);
    if (ds->channels > 0) ds->channels *= k;
    return BPFREE_OK;
}
