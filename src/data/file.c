/* file.c — a data file opened for reading, raw or gzip alike, and what is
 * a file or a directory: the bottom of the data layer (the IDX, CIFAR and
 * CSV readers and dir.c open their files through it). */
#include "data.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

int bp_data_is_dir(const char *path) { return is_dir(path); }

int bp_data_is_file(const char *path) { return is_file(path); }

/* stat first: gzopen opens a directory too, and would fail only at the
 * first read. */
bpfree_status bp_data_open(const char *path, gzFile *g, size_t *size, bpfree_error *err) {
    *g = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return bp_fail(err, BPFREE_EIO, "cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return bp_fail(err, BPFREE_EIO, "cannot read %s: it is a directory", path);
    *g = gzopen(path, "rb");
    if (!*g) return bp_fail(err, BPFREE_EIO, "cannot open %s: %s", path, strerror(errno));
    if (size) *size = (size_t)st.st_size;
    return BPFREE_OK;
}
