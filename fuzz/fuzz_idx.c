/* fuzz_idx.c — the IDX reader (bpfree_idx_load): byte 0 and 1 of the input
 * say where the image file ends (little-endian u16), the rest is the label
 * file.  Any outcome but a crash, a leak or undefined behaviour is fine;
 * a load that succeeds must describe itself consistently. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 2) return 0;
    size_t cut = (size_t)d[0] | (size_t)d[1] << 8;
    d += 2;
    n -= 2;
    if (cut > n) cut = n;
    char pi[256], pl[256];
    fz_file(pi, sizeof pi, "images", d, cut);
    fz_file(pl, sizeof pl, "labels", d + cut, n - cut);
    bpfree_dataset ds;
    bpfree_error e;
    if (bpfree_idx_load(pi, pl, &ds, &e) == BPFREE_OK) {
        if (ds.n < 1 || ds.dim < 1 || ds.classes < 2 || ds.height * ds.width != ds.dim) abort();
        for (int i = 0; i < ds.n; i++)
            if (ds.labels[i] < 0 || ds.labels[i] >= ds.classes) abort();
        (void)bpfree_data_checksum(&ds);
        bpfree_data_free(&ds);
    } else if (!e.msg[0]) {
        abort(); /* an error always says what */
    }
    unlink(pi);
    unlink(pl);
    return 0;
}
