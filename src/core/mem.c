/* mem.c — the one allocation pair.  Each block carries a 64-byte header with
 * its size, so the owner's counter knows current and peak bytes exactly. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define BP_ALIGN 64

void bp_mem_init(bp_mem *m) {
    m->cur = m->peak = 0;
    m->n_allocs = 0;
    m->fail_after = -1;
}

void *bp_alloc(bp_mem *m, size_t bytes) {
    if (m && m->fail_after >= 0 && m->n_allocs >= m->fail_after) return NULL;
    if (bytes > SIZE_MAX - 2 * BP_ALIGN) return NULL;
    size_t total = (bytes + BP_ALIGN + BP_ALIGN - 1) / BP_ALIGN * BP_ALIGN;
    unsigned char *raw = aligned_alloc(BP_ALIGN, total);
    if (!raw) return NULL;
    memset(raw, 0, total);
    memcpy(raw, &bytes, sizeof bytes);
    if (m) {
        m->n_allocs++;
        m->cur += bytes;
        if (m->cur > m->peak) m->peak = m->cur;
    }
    return raw + BP_ALIGN;
}

void bp_free(bp_mem *m, void *p) {
    if (!p) return;
    unsigned char *raw = (unsigned char *)p - BP_ALIGN;
    size_t bytes;
    memcpy(&bytes, raw, sizeof bytes);
    if (m) m->cur -= bytes;
    free(raw);
}

float *bp_alloc_floats(bp_mem *m, size_t n, const char *what, bpfree_error *err) {
    float *p = n > SIZE_MAX / sizeof(float) ? NULL : bp_alloc(m, n * sizeof(float));
    if (!p)
        bp_fail(err, BPFREE_ENOMEM, "out of memory allocating %s (%zu floats, %.1f MiB)",
                what, n, (double)n * sizeof(float) / (1024.0 * 1024.0));
    return p;
}
