/* fuzz_csv.c — the CSV reader (bpfree_csv_load).  Byte 0 picks the options
 * (classify, header, standardise, a target column by index or the last),
 * the rest is the file. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    const uint8_t o = d[0];
    char path[256];
    fz_file(path, sizeof path, "csv", d + 1, n - 1);
    bpfree_csv_options opt;
    bpfree_csv_options_default(&opt);
    opt.classify = o & 1;
    opt.header = (o >> 1) & 1;
    opt.standardize = (o >> 2) & 1;
    opt.skip_lines = (o >> 3) & 1;
    opt.targets = (o >> 4) & 1 ? "0" : (o >> 5) & 1 ? "y" : NULL;
    bpfree_dataset tr, te;
    bpfree_error e;
    if (bpfree_csv_load(path, &opt, &tr, &te, &e) == BPFREE_OK) {
        if (tr.n < 1 || te.n < 1 || tr.dim != te.dim || tr.dim < 1) abort();
        if (opt.classify)
            for (int i = 0; i < tr.n; i++)
                if (tr.labels[i] < 0 || tr.labels[i] >= tr.classes) abort();
        bpfree_data_free(&tr);
        bpfree_data_free(&te);
    } else if (!e.msg[0]) {
        abort();
    }
    unlink(path);
    return 0;
}
