/* data.h — the data layer's own header: what the files of src/data share
 * beyond core/core.h; not part of the library's API. */
#ifndef BPFREE_DATA_DATA_H
#define BPFREE_DATA_DATA_H

#include "core/core.h"

#include <zlib.h>

#define DATA_PATH_MAX 4096

/* dir.c: dir <- $BPFREE_DATA/NAME, ./data/NAME or EXTRA_ROOT/data/NAME, the
 * first that is a directory (bpfree_data_resolve's order, which the named
 * tables of load.c follow too); else an error listing where it looked. */
bpfree_status bp_data_find(const char *name, const char *extra_root, char *dir, size_t cap,
                           bpfree_error *err);

/* file.c: *g <- the file at path opened for reading, raw or gzip alike (zlib
 * tells them apart by the gzip magic); *size (if size is not NULL) <- its
 * size on disk.  The IDX and CSV readers open their files through it. */
bpfree_status bp_data_open(const char *path, gzFile *g, size_t *size, bpfree_error *err);

/* file.c: 1 if path is a directory / exists and is no directory. */
int bp_data_is_dir(const char *path);
int bp_data_is_file(const char *path);

/* cifar.c: 1 if dir holds CIFAR-10 or CIFAR-100 binary files (a first
 * training batch or the test batch), directly or in the archive's own
 * folder (cifar-10-batches-bin/, cifar-100-binary/); else 0. */
int bp_cifar_detect(const char *dir);

#endif
