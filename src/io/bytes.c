/* bytes.c — bytes to and from a model file, each added to the file's CRC
 * (the layer under model_io.c and sections.c). */
#include "io/io.h"

#include <errno.h>
#include <string.h>

int bp_io_write_all(FILE *f, const void *p, size_t n, uLong *crc) {
    const unsigned char *b = p;
    for (size_t done = 0; done < n;) { /* crc32 takes uInt lengths */
        size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
        *crc = crc32(*crc, b + done, (uInt)k);
        done += k;
    }
    return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1;
}

bpfree_status bp_io_read_exact(FILE *f, void *p, size_t n, uLong *crc, const char *path,
                               const char *what, bpfree_error *err) {
    size_t got = n ? fread(p, 1, n, f) : 0;
    if (got != n && ferror(f))
        return bp_fail(err, BPFREE_EIO, "%s: read error in the %s: %s", path, what,
                       strerror(errno));
    if (got != n)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: truncated model file: expected %zu bytes of %s, found %zu", path, n,
                       what, got);
    if (crc)
        for (size_t done = 0; done < n;) {
            size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
            *crc = crc32(*crc, (const unsigned char *)p + done, (uInt)k);
            done += k;
        }
    return BPFREE_OK;
}

uint64_t bp_io_bytes_left(FILE *f) {
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) return UINT64_MAX;
    long end = ftell(f);
    if (fseek(f, here, SEEK_SET) != 0 || end < here) return UINT64_MAX;
    return (uint64_t)(end - here);
}
