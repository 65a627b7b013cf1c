/* provenance.c — what a model was trained on (bpfree_data_info), and data
 * prepared the way its training data was (bpfree_data_prepare). */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

/* n floats copied into the model's memory (NULL if n == 0) */
static bpfree_status dup_cols(bpfree_model *m, const float *v, int n, float **out,
                              bpfree_error *err) {
    *out = NULL;
    if (n <= 0) return BPFREE_OK;
    if (!(*out = bp_alloc_floats(&m->mem, (size_t)n, "column statistics", err))) return BPFREE_ENOMEM;
    memcpy(*out, v, (size_t)n * sizeof(float));
    return BPFREE_OK;
}

static bpfree_status check_cols(const float *mean, const float *std, int n, const char *what,
                                bpfree_error *err) {
    for (int j = 0; j < n; j++)
        if (!isfinite(mean[j]) || !(std[j] > 0.0f) || !isfinite(std[j]))
            return bp_fail(err, BPFREE_EINVAL,
                           "data record: %s column %d has mean %g and std %g (need finite, std > 0)",
                           what, j, (double)mean[j], (double)std[j]);
    return BPFREE_OK;
}

bpfree_status bpfree_model_set_data(bpfree_model *m, const bpfree_data_info *d,
                                    bpfree_error *err) {
    if (d->n_cols < 0 || (d->n_cols > 0 && (d->n_cols != m->cfg.inputs || !d->col_mean ||
                                            !d->col_std)))
        return bp_fail(err, BPFREE_EINVAL,
                       "data record: %d standardised columns for a model of %d inputs",
                       d->n_cols, m->cfg.inputs);
    if (d->n_tcols < 0 || (d->n_tcols > 0 && (d->n_tcols != m->cfg.outputs || !d->tcol_mean ||
                                              !d->tcol_std)))
        return bp_fail(err, BPFREE_EINVAL,
                       "data record: %d standardised targets for a model of %d outputs",
                       d->n_tcols, m->cfg.outputs);
    if (d->repeat < 0 || d->repeat > 4096 || (d->repeat > 1 && m->cfg.inputs % d->repeat))
        return bp_fail(err, BPFREE_EINVAL,
                       "data record: input repeat %d for a model of %d inputs (must divide them, "
                       "at most 4096)", d->repeat, m->cfg.inputs);
    bpfree_status st;
    if ((st = check_cols(d->col_mean, d->col_std, d->n_cols, "input", err)) ||
        (st = check_cols(d->tcol_mean, d->tcol_std, d->n_tcols, "target", err)))
        return st;
    float *v[4] = {NULL, NULL, NULL, NULL};
    if ((st = dup_cols(m, d->col_mean, d->n_cols, &v[0], err)) ||
        (st = dup_cols(m, d->col_std, d->n_cols, &v[1], err)) ||
        (st = dup_cols(m, d->tcol_mean, d->n_tcols, &v[2], err)) ||
        (st = dup_cols(m, d->tcol_std, d->n_tcols, &v[3], err))) {
        for (int i = 0; i < 4; i++) bp_free(&m->mem, v[i]);
        return st;
    }
    float *old[4] = {m->data.col_mean, m->data.col_std, m->data.tcol_mean, m->data.tcol_std};
    for (int i = 0; i < 4; i++) bp_free(&m->mem, old[i]);
    m->data = *d;
    m->data.name[sizeof m->data.name - 1] = '\0';
    m->data.targets[sizeof m->data.targets - 1] = '\0';
    m->data.col_mean = v[0];
    m->data.col_std = v[1];
    m->data.tcol_mean = v[2];
    m->data.tcol_std = v[3];
    m->has_data = 1;
    return BPFREE_OK;
}

const bpfree_data_info *bpfree_model_data(const bpfree_model *m) {
    return m->has_data ? &m->data : NULL;
}


int bpfree_norm_affine(const bpfree_config *c, float *mean, float *std) {
    switch (c->norm) {
    case BPFREE_NORM_STANDARDIZE: *mean = c->norm_mean, *std = c->norm_std; return 1;
    case BPFREE_NORM_SYMMETRIC: *mean = 0.5f, *std = 0.5f; return 1;
    default: return 0;
    }
}

bpfree_status bpfree_data_prepare(const bpfree_model *m, bpfree_dataset *ds, bpfree_error *err) {
    const bpfree_config *c = &m->cfg;
    const int rep = m->has_data && m->data.repeat > 1 ? m->data.repeat : 1;
    const int pad = m->has_data && ds->channels > 0 ? m->data.pad : 0;
    const long want = pad > 0 ? (long)ds->channels * rep * (ds->height + 2 * pad) * (ds->width + 2 * pad)
                              : (long)ds->dim * rep;
    bpfree_status st;
    /* data as loaded: its inputs repeated and padded as in training */
    if ((rep > 1 || pad > 0) && ds->dim != c->inputs && want == c->inputs &&
        ((st = bpfree_data_repeat(ds, rep, err)) || (st = bpfree_data_pad(ds, pad, err))))
        return st;
    if (ds->dim != c->inputs)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has %d input features, the model expects %d",
                       ds->name, ds->dim, c->inputs);
    if (c->in_channels > 0 && ds->channels > 0 &&
        (c->in_channels != ds->channels || c->in_height != ds->height || c->in_width != ds->width))
        return bp_fail(err, BPFREE_ESHAPE,
                       "data '%s' has inputs of shape %dx%dx%d, the model was trained on %dx%dx%d",
                       ds->name, ds->channels, ds->height, ds->width, c->in_channels,
                       c->in_height, c->in_width);
    if (!ds->y && ds->classes > c->outputs)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has %d classes, the model has %d outputs",
                       ds->name, ds->classes, c->outputs);
    if (ds->y && ds->outputs != c->outputs)
        return bp_fail(err, BPFREE_ESHAPE, "data '%s' has %d targets, the model has %d outputs",
                       ds->name, ds->outputs, c->outputs);
    if (m->has_data && m->data.n_cols > 0)
        bpfree_data_col_normalize(ds->x, ds->n, ds->dim, m->data.col_mean, m->data.col_std);
    float mean, std;
    if (bpfree_norm_affine(c, &mean, &std)) bpfree_data_normalize(ds, mean, std);
    if (m->has_data && m->data.n_tcols > 0 && ds->y)
        bpfree_data_col_normalize(ds->y, ds->n, ds->outputs, m->data.tcol_mean, m->data.tcol_std);
    return BPFREE_OK;
}
