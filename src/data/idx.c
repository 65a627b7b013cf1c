/* idx.c — read IDX files (the MNIST format), raw or gzip, into datasets.
 *
 * An IDX file is a big-endian header and a row-major payload:
 *   magic  u32  0x0000TTDD: TT = 0x08 (unsigned byte), DD = number of dims
 *   dims   DD x u32
 *   data   prod(dims) bytes
 * Images are 0x00000803 (N, rows, cols), labels 0x00000801 (N).
 * zlib's gzopen/gzread read gzip and raw files alike, by the gzip magic. */
#include "data.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
/* deflate cannot expand more than about 1032:1, so a gzip file of S bytes
 * holds at most this many times S: a cheap bound before allocating. */
#define GZ_MAX_RATIO 1100u

/* One IDX file: its header and, once read, its payload. */
typedef struct idx_file {
    const char *path;
    const char *what;   /* "pixels" or "labels", for messages */
    int ndims;
    uint32_t dims[3];
    size_t bytes;       /* prod(dims): payload size the header declares */
    unsigned char *data;
} idx_file;

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read up to n bytes; returns how many were read (short at end of file), or
 * -1 on a read or decompression error. */
static long long gz_read_full(gzFile g, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(g, buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static bpfree_status read_error(gzFile g, const idx_file *F, bpfree_error *err) {
    int zerr = 0;
    const char *msg = gzerror(g, &zerr);
    if (zerr == Z_ERRNO)
        return bp_fail(err, BPFREE_EIO, "%s: read error: %s", F->path, strerror(errno));
    return bp_fail(err, BPFREE_EFORMAT, "%s: corrupt gzip data: %s", F->path, msg);
}

static bpfree_status truncated(const idx_file *F, size_t found, bpfree_error *err) {
    return bp_fail(err, BPFREE_EFORMAT, "%s: truncated: expected %zu bytes of %s, found %zu",
                   F->path, F->bytes, F->what, found);
}

static bpfree_status bad_magic(const idx_file *F, uint32_t got, uint32_t want,
                               bpfree_error *err) {
    const char *hint = "";
    if (want == IDX_IMAGES && got == IDX_LABELS) hint = " — is this a labels file?";
    else if (want == IDX_LABELS && got == IDX_IMAGES) hint = " — is this an images file?";
    else if ((got >> 16) != 0 || ((got >> 8) & 0xff) != 0x08) hint = " — not an unsigned-byte IDX file";
    return bp_fail(err, BPFREE_EFORMAT, "%s: bad magic 0x%08x, expected 0x%08x%s", F->path,
                   (unsigned)got, (unsigned)want, hint);
}

/* Magic and dimension sizes; sets F->ndims, F->dims, F->bytes. */
static bpfree_status read_header(gzFile g, idx_file *F, uint32_t want, bpfree_error *err) {
    unsigned char h[4 + 4 * 3];
    F->ndims = (int)(want & 0xff);
    long long r = gz_read_full(g, h, 4);
    if (r < 0) return read_error(g, F, err);
    if (r < 4)
        return bp_fail(err, BPFREE_EFORMAT, "%s: too short for an IDX header (%lld bytes)",
                       F->path, r);
    if (be32(h) != want) return bad_magic(F, be32(h), want, err);
    r = gz_read_full(g, h + 4, 4 * (size_t)F->ndims);
    if (r < 0) return read_error(g, F, err);
    if (r < 4 * F->ndims)
        return bp_fail(err, BPFREE_EFORMAT, "%s: truncated header: expected %d dimension sizes",
                       F->path, F->ndims);
    F->bytes = 1;
    for (int d = 0; d < F->ndims; d++) {
        F->dims[d] = be32(h + 4 + 4 * d);
        if (F->dims[d] == 0 || F->dims[d] > INT_MAX)
            return bp_fail(err, BPFREE_EFORMAT, "%s: dimension %d is %u (must be 1..%d)",
                           F->path, d, (unsigned)F->dims[d], INT_MAX);
        if (F->bytes > SIZE_MAX / F->dims[d])
            return bp_fail(err, BPFREE_EFORMAT, "%s: dimensions too large", F->path);
        F->bytes *= F->dims[d];
    }
    return BPFREE_OK;
}

/* Before allocating the payload: a raw file's size must match the header
 * exactly; a gzip file must at least be able to hold it. */
static bpfree_status check_size(gzFile g, const idx_file *F, size_t fsize, bpfree_error *err) {
    size_t hdr = 4 + 4 * (size_t)F->ndims;
    if (gzdirect(g)) {
        size_t have = fsize > hdr ? fsize - hdr : 0;
        if (have < F->bytes) return truncated(F, have, err);
        if (have > F->bytes)
            return bp_fail(err, BPFREE_EFORMAT,
                           "%s: %zu trailing bytes after the %zu bytes of %s the header declares",
                           F->path, have - F->bytes, F->bytes, F->what);
    } else if (F->bytes / GZ_MAX_RATIO > fsize) {
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: truncated: expected %zu bytes of %s, more than a gzip file of "
                       "%zu bytes can hold", F->path, F->bytes, F->what, fsize);
    }
    return BPFREE_OK;
}

/* The exact payload, then end of file (which also checks the gzip CRC). */
static bpfree_status read_payload(gzFile g, idx_file *F, bpfree_error *err) {
    F->data = bp_alloc(NULL, F->bytes);
    if (!F->data)
        return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for %zu bytes of %s", F->path,
                       F->bytes, F->what);
    long long r = gz_read_full(g, F->data, F->bytes);
    if (r < 0) return read_error(g, F, err);
    if ((size_t)r < F->bytes) return truncated(F, (size_t)r, err);
    unsigned char extra[1];
    r = gz_read_full(g, extra, sizeof extra);
    if (r < 0) return read_error(g, F, err);
    if (r > 0)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: trailing bytes after the %zu bytes of %s the header declares",
                       F->path, F->bytes, F->what);
    return BPFREE_OK;
}

/* Read one IDX file whose magic must be `want`. */
static bpfree_status idx_read(idx_file *F, uint32_t want, bpfree_error *err) {
    gzFile g;
    size_t fsize;
    bpfree_status s = bp_data_open(F->path, &g, &fsize, err);
    if (s != BPFREE_OK) return s;
    gzbuffer(g, 1u << 20);
    s = read_header(g, F, want, err);
    if (s == BPFREE_OK) s = check_size(g, F, fsize, err);
    if (s == BPFREE_OK) s = read_payload(g, F, err);
    gzclose(g);
    if (s != BPFREE_OK) {
        bp_free(NULL, F->data);
        F->data = NULL;
    }
    return s;
}

/* name <- the name of the directory holding `path`:
 * "data/mnist/train-images-idx3-ubyte" -> "mnist", "x" -> ".". */
static void dir_name(char *name, size_t cap, const char *path) {
    size_t end = strlen(path);
    while (end > 0 && path[end - 1] != '/') end--; /* drop the file name */
    if (end == 0) { snprintf(name, cap, "."); return; }
    while (end > 1 && path[end - 1] == '/') end--; /* and the slashes before it */
    size_t beg = end;
    while (beg > 0 && path[beg - 1] != '/') beg--;
    if (beg == end) { snprintf(name, cap, "/"); return; }
    snprintf(name, cap, "%.*s", (int)(end - beg), path + beg);
}

/* Images (N, rows, cols) and labels (N) -> a dataset x (N, rows*cols) / 255. */
static bpfree_status to_dataset(const idx_file *im, const idx_file *lb, bpfree_dataset *out,
                                bpfree_error *err) {
    if (lb->dims[0] != im->dims[0])
        return bp_fail(err, BPFREE_ESHAPE, "%s holds %u labels but %s holds %u images",
                       lb->path, (unsigned)lb->dims[0], im->path, (unsigned)im->dims[0]);
    if ((size_t)im->dims[1] * im->dims[2] > INT_MAX)
        return bp_fail(err, BPFREE_EFORMAT, "%s: images of %u x %u pixels are too large",
                       im->path, (unsigned)im->dims[1], (unsigned)im->dims[2]);
    int n = (int)im->dims[0], dim = (int)(im->dims[1] * im->dims[2]);
    int max_label = 0;
    for (int i = 0; i < n; i++)
        if (lb->data[i] > max_label) max_label = lb->data[i];
    int classes = max_label + 1 < 2 ? 2 : max_label + 1;
    bpfree_status s = bpfree_data_alloc(out, n, dim, classes, 0, err);
    if (s != BPFREE_OK) return s;
    for (size_t i = 0; i < im->bytes; i++) out->x[i] = (float)im->data[i] / 255.0f;
    for (int i = 0; i < n; i++) out->labels[i] = lb->data[i];
    out->channels = 1;
    out->height = (int)im->dims[1];
    out->width = (int)im->dims[2];
    dir_name(out->name, sizeof out->name, im->path);
    return BPFREE_OK;
}

bpfree_status bpfree_idx_load(const char *images_path, const char *labels_path,
                              bpfree_dataset *out, bpfree_error *err) {
    if (!images_path || !labels_path || !out)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_idx_load: NULL argument");
    memset(out, 0, sizeof *out);
    idx_file im = {.path = images_path, .what = "pixels"};
    idx_file lb = {.path = labels_path, .what = "labels"};
    bpfree_status s = idx_read(&lb, IDX_LABELS, err);
    if (s == BPFREE_OK) s = idx_read(&im, IDX_IMAGES, err);
    if (s == BPFREE_OK) s = to_dataset(&im, &lb, out, err);
    bp_free(NULL, im.data);
    bp_free(NULL, lb.data);
    return s;
}
