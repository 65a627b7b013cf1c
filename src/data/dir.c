/* dir.c — find a dataset's directory (an image set's, or that of one of
 * load.c's tables), and load an image set's four standard IDX files (or
 * hand a CIFAR directory to cifar.c). */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Train images, train labels, test images, test labels; each raw or .gz. */
static const char *const idx_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

static const char *const known_names[] = {"mnist", "fashion-mnist", "cifar10", "cifar100"};

/* path <- dir/name if it exists, else dir/name.gz if that does. */
static bpfree_status find_idx(const char *dir, const char *name, char *path, size_t cap,
                              bpfree_error *err) {
    int k = snprintf(path, cap, "%s/%s.gz", dir, name);
    if (k < 0 || (size_t)k >= cap)
        return bp_fail(err, BPFREE_EINVAL, "path too long: %s/%s", dir, name);
    path[k - 3] = '\0';
    if (bp_data_is_file(path)) return BPFREE_OK;
    path[k - 3] = '.';
    if (bp_data_is_file(path)) return BPFREE_OK;
    return bp_fail(err, BPFREE_EIO, "no %s[.gz] in %s — run scripts/fetch-data.sh", name, dir);
}

bpfree_status bpfree_data_load_dir(const char *dir, bpfree_dataset *train,
                                   bpfree_dataset *test, bpfree_error *err) {
    if (!dir || !train || !test)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_data_load_dir: NULL argument");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!bp_data_is_dir(dir))
        return bp_fail(err, BPFREE_EIO, "%s: no such directory — run scripts/fetch-data.sh",
                       dir);
    if (bp_cifar_detect(dir)) return bpfree_cifar_load_dir(dir, 0, 0, train, test, err);
    char path[4][DATA_PATH_MAX];
    for (int i = 0; i < 4; i++) {
        bpfree_status s = find_idx(dir, idx_names[i], path[i], sizeof path[i], err);
        if (s != BPFREE_OK) return s;
    }
    bpfree_status s = bpfree_idx_load(path[0], path[1], train, err);
    if (s == BPFREE_OK) s = bpfree_idx_load(path[2], path[3], test, err);
    if (s == BPFREE_OK && (train->height != test->height || train->width != test->width))
        s = bp_fail(err, BPFREE_ESHAPE,
                    "%s: training images are %d x %d pixels, test images %d x %d", dir,
                    train->height, train->width, test->height, test->width);
    if (s != BPFREE_OK) {
        bpfree_data_free(train);
        bpfree_data_free(test);
        return s;
    }
    /* Both halves share one label space. */
    int classes = train->classes > test->classes ? train->classes : test->classes;
    train->classes = test->classes = classes;
    return BPFREE_OK;
}

static bpfree_status copy_out(const char *path, char *dir, size_t cap, bpfree_error *err) {
    int k = snprintf(dir, cap, "%s", path);
    if (k < 0 || (size_t)k >= cap)
        return bp_fail(err, BPFREE_EINVAL, "dataset path too long (%d bytes, room for %zu): %s",
                       k, cap - 1, path);
    return BPFREE_OK;
}

static int is_known(const char *name) {
    for (size_t i = 0; i < sizeof known_names / sizeof known_names[0]; i++)
        if (strcmp(name, known_names[i]) == 0) return 1;
    return 0;
}

/* How to get dataset NAME: scripts/fetch-data.sh fetches all but CIFAR,
 * which a user downloads from its home page (README, "Using the command"). */
static void fetch_hint(char *buf, size_t cap, const char *name) {
    if (strcmp(name, "cifar10") == 0 || strcmp(name, "cifar100") == 0)
        snprintf(buf, cap, "download %s-binary.tar.gz from "
                 "https://www.cs.toronto.edu/~kriz/cifar.html and untar it into one of them",
                 strcmp(name, "cifar10") == 0 ? "cifar-10" : "cifar-100");
    else snprintf(buf, cap, "run scripts/fetch-data.sh %s", name);
}

/* $BPFREE_DATA/NAME, ./data/NAME, EXTRA_ROOT/data/NAME: first found wins. */
bpfree_status bp_data_find(const char *name, const char *extra_root, char *dir, size_t cap,
                           bpfree_error *err) {
    char cand[3][DATA_PATH_MAX], looked[3 * DATA_PATH_MAX] = "";
    int n = 0;
    const char *env = getenv("BPFREE_DATA");
    if (env && *env) snprintf(cand[n++], DATA_PATH_MAX, "%s/%s", env, name);
    snprintf(cand[n++], DATA_PATH_MAX, "data/%s", name);
    if (extra_root && *extra_root)
        snprintf(cand[n++], DATA_PATH_MAX, "%s/data/%s", extra_root, name);
    for (int i = 0; i < n; i++) {
        if (bp_data_is_dir(cand[i])) return copy_out(cand[i], dir, cap, err);
        size_t used = strlen(looked);
        snprintf(looked + used, sizeof looked - used, "%s%s", i ? ", " : "", cand[i]);
    }
    char hint[160];
    fetch_hint(hint, sizeof hint, name);
    return bp_fail(err, BPFREE_EIO, "dataset '%s' not found; looked in %s%s — %s", name, looked,
                   env && *env ? "" : " ($BPFREE_DATA not set)", hint);
}

bpfree_status bpfree_data_resolve(const char *name_or_dir, const char *extra_root,
                                  char *dir, size_t cap, bpfree_error *err) {
    if (!name_or_dir || !dir || cap == 0)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_data_resolve: NULL argument");
    if (bp_data_is_dir(name_or_dir)) return copy_out(name_or_dir, dir, cap, err);
    if (strchr(name_or_dir, '/'))
        return bp_fail(err, BPFREE_EIO, "%s: no such data directory", name_or_dir);
    if (!is_known(name_or_dir))
        return bp_fail(err, BPFREE_EINVAL,
                       "unknown dataset '%s' (known: mnist, fashion-mnist, cifar10, cifar100, "
                       "or a directory holding the four IDX files or CIFAR's binary batches)",
                       name_or_dir);
    return bp_data_find(name_or_dir, extra_root, dir, cap, err);
}
