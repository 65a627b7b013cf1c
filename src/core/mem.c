/* mem.c — the one allocation pair.  Each block carries a 64-byte header with
 * its size, so the owner's counter knows current and peak bytes exactly. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE (Linux) */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BP_ALIGN 64
/* Blocks of at least BP_HUGE bytes (parameters, gradients, moments, a
 * dataset) start on a 2 MiB boundary and ask the kernel for transparent huge
 * pages: the optimizer streams four such blocks per step and a batch is
 * gathered from rows scattered over the dataset, and with 4 KiB pages both
 * spend their time in TLB misses.  Where THP is off or unsupported the
 * advice is ignored and nothing changes. */
#define BP_HUGE_ALIGN ((size_t)2 << 20)
#define BP_HUGE ((size_t)4 << 20)

void bp_mem_init(bp_mem *m) {
    m->cur = m->peak = 0;
    m->n_allocs = 0;
    m->fail_after = -1;
}

void *bp_alloc(bp_mem *m, size_t bytes) {
    if (m && m->fail_after >= 0 && m->n_allocs >= m->fail_after) return NULL;
    if (bytes > SIZE_MAX - 2 * BP_ALIGN) return NULL;
    const size_t align = bytes >= BP_HUGE ? BP_HUGE_ALIGN : BP_ALIGN;
    if (bytes > SIZE_MAX - BP_ALIGN - align) return NULL;
    size_t total = (bytes + BP_ALIGN + align - 1) / align * align;
    unsigned char *raw = aligned_alloc(align, total);
    if (!raw) return NULL;
#ifdef MADV_HUGEPAGE
    if (align == BP_HUGE_ALIGN) (void)madvise(raw, total, MADV_HUGEPAGE);
#endif
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
