/* fuzz_model.c — the model-file and checkpoint loader.  A file that loads
 * is used: it predicts on a few zero inputs and is evaluated, saved and
 * loaded again.  The loader must check every size before allocating, so a
 * run with -rss_limit_mb=512 also catches memory bombs (issue 17, D1). */
#include "fuzz_util.h"

static void use(bpfree_model *m) {
    const bpfree_config *c = bpfree_model_config(m);
    if (c->inputs > 4096 || c->outputs > 1024) return;
    float *x = calloc((size_t)3 * c->inputs, sizeof(float));
    float *s = calloc((size_t)3 * c->outputs, sizeof(float));
    bpfree_error e;
    if (x && s) (void)bpfree_predict(m, x, 3, s, &e);
    free(x);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    char path[256];
    fz_file(path, sizeof path, "model", d, n);
    bpfree_model *m = NULL;
    bpfree_error e;
    if (bpfree_model_load(path, &m, &e) == BPFREE_OK) {
        use(m);
        bpfree_model_free(m);
    } else if (!e.msg[0] || m) {
        abort();
    }
    char *note = NULL;
    if (bpfree_checkpoint_load(path, &m, &note, &e) == BPFREE_OK) {
        use(m);
        if (bpfree_model_save(m, path, &e) != BPFREE_OK) abort();
        bpfree_model_free(m);
        free(note);
        if (bpfree_model_load(path, &m, &e) != BPFREE_OK) abort(); /* what we write, we read */
        bpfree_model_free(m);
    }
    unlink(path);
    return 0;
}
