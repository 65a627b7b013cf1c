/* mem.c — the one allocation pair.  Each block carries a 64-byte header with
 * its size (and, for a mapped block, its mapping's length), so the owner's
 * counter knows current and peak bytes exactly. */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS, madvise, MADV_HUGEPAGE (Linux) */
#include "core/core.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BP_ALIGN 64
/* Blocks of at least BP_HUGE bytes (parameters, gradients, moments,
 * activations at large batches, a dataset) are mapped on their own, start on
 * a 2 MiB boundary and ask for transparent huge pages: the optimizer streams
 * four such blocks per step and a batch is gathered from rows scattered over
 * the dataset, and with 4 KiB pages both spend their time in TLB misses (the
 * gather fell from 4.6% to 0.7% of a batch-64 bp run).  Mapping them, rather
 * than posix_memalign, keeps the 2 MiB alignment from leaving gaps in the
 * heap (+13 MiB of peak RSS on bp at batch 10,000).  Where THP is off the
 * advice is ignored. */
#define BP_HUGE_ALIGN ((size_t)2 << 20)
#define BP_HUGE ((size_t)4 << 20)

/* the 64-byte header: the size asked for, then the mapped length (0: malloc) */
typedef struct {
    size_t bytes, mapped;
} header;

void bp_mem_init(bp_mem *m) {
    m->cur = m->peak = 0;
    m->n_allocs = 0;
    m->fail_after = -1;
}

/* total bytes (a multiple of BP_ALIGN), zeroed, at a 2 MiB boundary, in
 * pages of their own; *len: the length to unmap */
static unsigned char *map_block(size_t total, size_t *len) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t body = (total + page - 1) / page * page;
    if (body > SIZE_MAX - BP_HUGE_ALIGN) return NULL;
    const size_t span = body + BP_HUGE_ALIGN;
    void *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    const uintptr_t at = ((uintptr_t)p + BP_HUGE_ALIGN - 1) & ~(uintptr_t)(BP_HUGE_ALIGN - 1);
    const size_t head = (size_t)(at - (uintptr_t)p), tail = span - head - body;
    if (head) munmap(p, head);
    if (tail) munmap((void *)(at + body), tail);
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)at, body / BP_HUGE_ALIGN * BP_HUGE_ALIGN, MADV_HUGEPAGE);
#endif
    *len = body;
    return (unsigned char *)at; /* anonymous pages are zero */
}

/* Allocation-failure injection for the tests, over every allocation of the
 * process (models build their own counters, datasets have none): after
 * bp_mem_fail_after(n), n more allocations succeed and every later one
 * fails, until bp_mem_fail_after(-1). */
static _Atomic long inject_left = -1;
static _Atomic long inject_seen = 0;

void bp_mem_fail_after(long n) {
    inject_seen = 0;
    inject_left = n;
}

long bp_mem_allocs_seen(void) { return inject_seen; }

static int inject_fail(void) {
    if (inject_left < 0) return 0;
    inject_seen++;
    if (inject_left == 0) return 1;
    inject_left--;
    return 0;
}

void *bp_malloc(size_t bytes) { return inject_fail() ? NULL : malloc(bytes ? bytes : 1); }

void *bp_alloc(bp_mem *m, size_t bytes) {
    if (m && m->fail_after >= 0 && m->n_allocs >= m->fail_after) return NULL;
    if (inject_fail()) return NULL;
    if (bytes > SIZE_MAX - 2 * BP_ALIGN) return NULL;
    const size_t total = (bytes + BP_ALIGN + BP_ALIGN - 1) / BP_ALIGN * BP_ALIGN;
    header h = {bytes, 0};
    unsigned char *raw;
    if (bytes >= BP_HUGE) {
        if (!(raw = map_block(total, &h.mapped))) return NULL;
    } else {
        if (!(raw = aligned_alloc(BP_ALIGN, total))) return NULL;
        memset(raw, 0, total);
    }
    memcpy(raw, &h, sizeof h);
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
    header h;
    memcpy(&h, raw, sizeof h);
    if (m) m->cur -= h.bytes;
    if (h.mapped) munmap(raw, h.mapped);
    else free(raw);
}

float *bp_alloc_floats(bp_mem *m, size_t n, const char *what, bpfree_error *err) {
    float *p = n > SIZE_MAX / sizeof(float) ? NULL : bp_alloc(m, n * sizeof(float));
    if (!p)
        bp_fail(err, BPFREE_ENOMEM, "out of memory allocating %s (%zu floats, %.1f MiB)",
                what, n, (double)n * sizeof(float) / (1024.0 * 1024.0));
    return p;
}
