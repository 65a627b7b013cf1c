/* fuzz_util.h — what the libFuzzer harnesses share: the input as a file
 * (the loaders read files; /dev/shm keeps it in memory), one per process. */
#ifndef BPFREE_FUZZ_UTIL_H
#define BPFREE_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfree.h"

/* path <- a per-process file name with `tag`; the bytes written to it */
static inline const char *fz_file(char *path, size_t cap, const char *tag, const uint8_t *d,
                                  size_t n) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, cap, "%s/bpfree-fuzz-%d-%s", dir, (int)getpid(), tag);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
    return path;
}
#endif
