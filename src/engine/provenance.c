/* provenance.c — what a model was trained on (bpfree_data_info), and data
 * prepared the way its training data was (bpfree_data_prepare). */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

bpfree_status bpfree_model_set_data(bpfree_model *m, const bpfree_data_info *d,
                                    bpfree_error *err) {
    if (d->n_cols < 0 || (d->n_cols > 0 && (d->n_cols != m->cfg.inputs || !d->col_mean ||
                                            !d->col_std)))
        return bp_fail(err, BPFREE_EINVAL,
                       "data record: %d standardised columns for a model of %d inputs",
                       d->n_cols, m->cfg.inputs);
    for (int j = 0; j < d->n_cols; j++)
        if (!isfinite(d->col_mean[j]) || !(d->col_std[j] > 0.0f) || !isfinite(d->col_std[j]))
            return bp_fail(err, BPFREE_EINVAL,
                           "data record: column %d has mean %g and std %g (need finite, std > 0)",
                           j, (double)d->col_mean[j], (double)d->col_std[j]);
    float *mean = NULL, *std = NULL;
    if (d->n_cols > 0) {
        const size_t n = (size_t)d->n_cols;
        if (!(mean = bp_alloc_floats(&m->mem, n, "column means", err))) return BPFREE_ENOMEM;
        if (!(std = bp_alloc_floats(&m->mem, n, "column deviations", err))) {
            bp_free(&m->mem, mean);
            return BPFREE_ENOMEM;
        }
        memcpy(mean, d->col_mean, n * sizeof(float));
        memcpy(std, d->col_std, n * sizeof(float));
    }
    bp_free(&m->mem, m->data.col_mean);
    bp_free(&m->mem, m->data.col_std);
    m->data = *d;
    m->data.name[sizeof m->data.name - 1] = '\0';
    m->data.targets[sizeof m->data.targets - 1] = '\0';
    m->data.col_mean = mean;
    m->data.col_std = std;
    m->has_data = 1;
    return BPFREE_OK;
}

const bpfree_data_info *bpfree_model_data(const bpfree_model *m) {
    return m->has_data ? &m->data : NULL;
}

/* "1x28x28" */
static void shape_text(const int *s, char *b, size_t cap) {
    snprintf(b, cap, "%dx%dx%d", s[0], s[1], s[2]);
}

bpfree_status bpfree_data_prepare(const bpfree_model *m, bpfree_dataset *ds, bpfree_error *err) {
    const bpfree_config *c = &m->cfg;
    if (ds->dim != c->inputs)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has %d input features, the model expects %d",
                       ds->name, ds->dim, c->inputs);
    const int *ms = m->has_data ? m->data.shape : NULL;
    if (ms && ms[0] > 0 && ds->shape[0] > 0 &&
        (ms[0] != ds->shape[0] || ms[1] != ds->shape[1] || ms[2] != ds->shape[2])) {
        char a[48], b[48];
        shape_text(ds->shape, a, sizeof a);
        shape_text(ms, b, sizeof b);
        return bp_fail(err, BPFREE_ESHAPE,
                       "data '%s' has inputs of shape %s, the model was trained on %s", ds->name,
                       a, b);
    }
    if (!ds->y && ds->classes > c->outputs)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has %d classes, the model has %d outputs",
                       ds->name, ds->classes, c->outputs);
    if (ds->y && ds->outputs != c->outputs)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has %d targets, the model has %d outputs",
                       ds->name, ds->outputs, c->outputs);
    if (c->norm == BPFREE_NORM_STANDARDIZE) bpfree_data_normalize(ds, c->norm_mean, c->norm_std);
    if (m->has_data && m->data.n_cols > 0)
        bpfree_data_col_normalize(ds->x, ds->n, ds->dim, m->data.col_mean, m->data.col_std);
    return BPFREE_OK;
}
