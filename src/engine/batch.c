/* batch.c — a batch of the training set gathered into buffers, and the
 * learning rate of a batch: what the epoch loops (train.c, pipeline.c,
 * layers.c) share; and the size of a per-sample store. */
#include "engine/engine.h"

#include <string.h>

/* Copy rows order[0..B) of ds into the batch buffers; targets as one-hot
 * rows for classification, or ds->y for regression. */
typedef struct {
    const bpfree_dataset *ds;
    const int *order;
    int D, C;
    float *x, *y;
    int *lb, *ib;
} gather_job;

/* rows a..b of a batch: inputs, labels, targets (y cleared first) */
static void gather_rows(void *ctx, size_t a, size_t b) {
    const gather_job *j = ctx;
    const bpfree_dataset *ds = j->ds;
    const int D = j->D, C = j->C;
    float *x = j->x, *y = j->y;
    int *lb = j->lb, *ib = j->ib;
    memset(y + a * (size_t)C, 0, (b - a) * (size_t)C * sizeof(float));
    for (int r = (int)a; r < (int)b; r++) {
        int i = j->order[r];
        memcpy(x + (size_t)r * D, ds->x + (size_t)i * D, (size_t)D * sizeof(float));
        if (ib) ib[r] = ds->index ? ds->index[i] : i;
        lb[r] = ds->labels ? ds->labels[i] : -1;
        if (ds->y) memcpy(y + (size_t)r * C, ds->y + (size_t)i * C, (size_t)C * sizeof(float));
        else if (ds->labels) y[(size_t)r * C + ds->labels[i]] = 1.0f;
    }
}

void bp_gather(const bpfree_model *m, const bpfree_dataset *ds, const int *order, int B,
               float *x, float *y, int *lb, int *ib) {
    const int D = m->cfg.inputs, C = m->cfg.outputs;
    gather_job j = {ds, order, D, C, x, y, lb, ib};
    /* a batch's rows come from all over the data set: copying them is
     * memory-bound, and two cores move more than one (mf at batch 256 on 2
     * threads: the part outside the products scaled 1.25x without this) */
    if ((size_t)B * D >= ((size_t)1 << 16) && bp_par_width() > 1)
        bp_par_for((size_t)B, 16, gather_rows, &j);
    else
        gather_rows(&j, 0, (size_t)B);
}

float bp_batch_lr(const bpfree_model *m, int k, int nb) {
    const int epoch = m->epochs_done, g = m->cfg.greedy_epochs;
    const double e = g > 0 ? (double)(epoch % g) + (double)k / nb : (double)epoch + (double)k / nb;
    const int total = g > 0 ? g : m->cfg.epochs;
    return bp_sched_lr(&m->cfg.optim, e, total);
}

int bp_data_index_rows(const bpfree_dataset *ds, const char *who, bpfree_error *err) {
    int rows = 0;
    for (int i = 0; i < ds->n; i++) {
        const int k = ds->index ? ds->index[i] : i;
        if (k < 0) {
            bp_fail(err, BPFREE_EINVAL, "%s: dataset index %d is negative", who, k);
            return -1;
        }
        rows = k + 1 > rows ? k + 1 : rows;
    }
    return rows;
}
