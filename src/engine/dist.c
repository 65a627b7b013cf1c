/* dist.c — data-parallel training's side in the engine (dist.h): shards,
 * weighted means, draws for the global batch, per-sample state exchanged
 * at the end of an epoch.  The communication itself is the caller's
 * (bpfree_dist; src/dist/mpi.c). */
#include "engine/dist.h"

#include <string.h>

bpfree_status bp_dist_attach(bpfree_model *m, const bpfree_dist *d, bpfree_error *err) {
    if (d->size < 1 || d->rank < 0 || d->rank >= d->size || !d->sum_floats || !d->sum_doubles ||
        !d->gather)
        return bp_fail(err, BPFREE_EINVAL, "data-parallel: bad rank %d of %d or a missing function",
                       d->rank, d->size);
    if (m->cfg.batch < d->size)
        return bp_fail(err, BPFREE_EINVAL,
                       "data-parallel: a batch of %d cannot be split over %d ranks (each needs a row)",
                       m->cfg.batch, d->size);
    if (m->cfg.pipeline >= 2 && m->rule->pipe_layer)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "data-parallel training does not pipeline layers (--pipeline %d): use "
                       "--pipeline 1", m->cfg.pipeline);
    if (m->diag)
        return bp_fail(err, BPFREE_EUNSUPPORTED, "data-parallel training has no --diagnose");
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].bn)
            return bp_fail(err, BPFREE_EUNSUPPORTED,
                           "data-parallel training has no batch normalisation (layer %d's BN "
                           "would see each rank's rows only): use --dist layers or one process",
                           l + 1);
    bp_dist *t = bp_alloc(&m->mem, sizeof *t + (size_t)d->size * (sizeof(int) + sizeof(float)));
    if (!t) return bp_fail(err, BPFREE_ENOMEM, "out of memory (data-parallel state)");
    memset(t, 0, sizeof *t);
    t->d = *d;
    t->bytes = (int *)(t + 1);
    t->one = (float *)(t->bytes + d->size);
    m->dist = t;
    return BPFREE_OK;
}

void bp_dist_free(bpfree_model *m) {
    if (m->dist) bp_free(&m->mem, m->dist);
    m->dist = NULL;
}

/* rank r's rows of a batch of `rows`: [rows r / N, rows (r + 1) / N) */
static int shard_start(int rows, int r, int N) { return (int)((long)rows * r / N); }

void bp_dist_shard(bpfree_model *m, int rows, int *off, int *n) {
    bp_dist *t = m->dist;
    if (!t) {
        *off = 0;
        *n = rows;
        return;
    }
    t->rows = rows;
    t->off = shard_start(rows, t->d.rank, t->d.size);
    t->n = shard_start(rows, t->d.rank + 1, t->d.size) - t->off;
    *off = t->off;
    *n = t->n;
}

int bp_dist_rows(const bpfree_model *m, int B) { return m->dist ? m->dist->rows : B; }

float bp_dist_sum_scale(const bpfree_model *m, int B) {
    return m->dist ? (float)m->dist->rows / (float)B : 1.0f;
}

void bp_dist_mean(bpfree_model *m, float *g, size_t n) {
    bp_dist *t = m->dist;
    if (!t || n == 0) return;
    const float w = (float)t->n / (float)t->rows;
    for (size_t i = 0; i < n; i++) g[i] *= w;
    t->d.sum_floats(t->d.ctx, g, n);
}

void bp_dist_mean_d(bpfree_model *m, double *g, size_t n) {
    bp_dist *t = m->dist;
    if (!t || n == 0) return;
    const double w = (double)t->n / (double)t->rows;
    for (size_t i = 0; i < n; i++) g[i] *= w;
    t->d.sum_doubles(t->d.ctx, g, n);
}

float bp_dist_max(bpfree_model *m, float v) {
    bp_dist *t = m->dist;
    if (!t) return v;
    for (int r = 0; r < t->d.size; r++) t->bytes[r] = (int)sizeof(float);
    t->one[t->d.rank] = v;
    t->d.gather(t->d.ctx, t->one, t->bytes);
    for (int r = 0; r < t->d.size; r++) v = t->one[r] > v || t->one[r] != t->one[r] ? t->one[r] : v;
    return v;
}

void bp_dist_batch_stats(bpfree_model *m, double *loss, long *correct) {
    bp_dist *t = m->dist;
    if (!t) return;
    double v[2] = {*loss * t->n / t->rows, (double)*correct};
    t->d.sum_doubles(t->d.ctx, v, 2);
    *loss = v[0];
    *correct = (long)v[1];
}

void bp_dist_normal_rows(bpfree_model *m, float *buf, size_t per_row, int B) {
    const bp_dist *t = m->dist;
    bp_normal_fill(&m->rng, buf, (t ? (size_t)t->rows : (size_t)B) * per_row);
    if (t && t->off) memmove(buf, buf + (size_t)t->off * per_row, (size_t)B * per_row * sizeof(float));
}

int bp_dist_gather_rows(bpfree_model *m, void *buf, size_t row_bytes, int B) {
    bp_dist *t = m->dist;
    if (!t) return 0;
    const int N = t->d.size;
    for (int r = 0; r < N; r++)
        t->bytes[r] = (int)((size_t)(shard_start(t->rows, r + 1, N) - shard_start(t->rows, r, N)) *
                            row_bytes);
    if (t->off) memmove((char *)buf + (size_t)t->off * row_bytes, buf, (size_t)B * row_bytes);
    t->d.gather(t->d.ctx, buf, t->bytes);
    return t->off;
}

/* 1 if position p of an epoch of n samples in batches of B is this rank's */
static int mine(const bp_dist *t, int n, int B, int p) {
    const int b0 = p / B * B, rows = n - b0 < B ? n - b0 : B, N = t->d.size;
    const int q = p - b0;
    return q >= shard_start(rows, t->d.rank, N) && q < shard_start(rows, t->d.rank + 1, N);
}

bpfree_status bp_dist_epoch_end(bpfree_model *m, const bpfree_dataset *ds, bpfree_error *err) {
    bp_dist *t = m->dist;
    size_t rows = 0, width = 0;
    float *st = t && m->rule->sample_state ? m->rule->sample_state(m, &rows, &width) : NULL;
    if (!st) return BPFREE_OK;
    /* keep[i]: this rank's row i is the one every rank takes */
    unsigned char *keep = bp_alloc(&m->mem, rows ? rows : 1);
    if (!keep) return bp_fail(err, BPFREE_ENOMEM, "out of memory (data-parallel sample rows)");
    memset(keep, t->d.rank == 0, rows);
    for (int p = 0; p < ds->n; p++) {
        const int i = m->order[p], k = ds->index ? ds->index[i] : i;
        if (k >= 0 && (size_t)k < rows) keep[k] = (unsigned char)mine(t, ds->n, m->batch, p);
    }
    for (size_t i = 0; i < rows; i++)
        if (!keep[i]) memset(st + i * width, 0, width * sizeof(float));
    bp_free(&m->mem, keep);
    t->d.sum_floats(t->d.ctx, st, rows * width); /* x + 0 + ... + 0: exact */
    return BPFREE_OK;
}
