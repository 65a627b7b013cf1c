/* dist.h — the engine's side of data-parallel training (bpfree_model_set_dist):
 * which rows of a batch this rank trains on, and the few places where the
 * ranks' numbers are combined.  With no dist set (one process) every
 * helper is the identity and draws exactly what one process draws, so the
 * plain build's numbers do not change.
 *
 * The contract with the rules: a gradient a rule steps is the mean over its
 * B rows (or a quantity the same on every rank: weight decay, a running
 * mean already combined).  bp_dist_mean makes it the mean over the global
 * batch by weighting rank r's by B_r / B_global and summing; a rule whose
 * gradient is a sum over rows scales it by bp_dist_sum_scale first.
 * Whatever a rule draws per sample it draws for the global batch and keeps
 * its own rows (bp_dist_normal_rows), so every rank's generator stays in
 * step with one process's. */
#ifndef BPFREE_DIST_H
#define BPFREE_DIST_H

#include "engine/engine.h"

typedef struct bp_dist {
    bpfree_dist d;
    int rows;   /* this batch: rows of the global batch */
    int off, n; /* this rank's first row in it, and its rows */
    int *bytes; /* (size) gather sizes */
    float *one; /* (size) one float per rank */
} bp_dist;

/* The shard of a global batch of `rows` rows: *off, *n (all of it with no dist). */
void bp_dist_shard(bpfree_model *m, int rows, int *off, int *n);
/* Rows of the global batch this rank's batch of B rows belongs to (B with no dist). */
int bp_dist_rows(const bpfree_model *m, int B);
/* Global rows / B: the factor that turns a sum over B rows into its share
 * of the global sum once bp_dist_mean weights it (1 with no dist). */
float bp_dist_sum_scale(const bpfree_model *m, int B);
/* g[0..n) = the global batch's mean, from every rank's mean over its rows. */
void bp_dist_mean(bpfree_model *m, float *g, size_t n);
void bp_dist_mean_d(bpfree_model *m, double *g, size_t n);
/* The largest of every rank's v (a stopping test over the global batch). */
float bp_dist_max(bpfree_model *m, float v);
/* After a batch: the loss (a mean over the rows) and correct count, global. */
void bp_dist_batch_stats(bpfree_model *m, double *loss, long *correct);
/* per_row normals for every row of the global batch into buf (which holds
 * them all), this rank's B rows then moved to its start. */
void bp_dist_normal_rows(bpfree_model *m, float *buf, size_t per_row, int B);
/* buf holds this rank's B rows of row_bytes each; after it, the global
 * batch's rows in order (buf must hold them all).  Returns the offset of
 * this rank's rows in it. */
int bp_dist_gather_rows(bpfree_model *m, void *buf, size_t row_bytes, int B);
/* After an epoch over `ds` in m->order: per-sample state (bp_rule.sample_state)
 * made the same on every rank — each row from the rank that trained on its
 * sample this epoch (rank 0 for rows no rank trained on). */
bpfree_status bp_dist_epoch_end(bpfree_model *m, const bpfree_dataset *ds, bpfree_error *err);
/* data-parallel training over d's ranks (bpfree_model_set_dist, model.c,
 * chooses it or layers.c's bp_dlay_attach) */
bpfree_status bp_dist_attach(bpfree_model *m, const bpfree_dist *d, bpfree_error *err);
void bp_dist_free(bpfree_model *m);

/* Layer-parallel training (bpfree_dist mode BPFREE_DIST_LAYERS; layers.c):
 * m->dlay, set by bpfree_model_set_dist; m->dist stays NULL, so every
 * helper above is the identity on a layer rank. */
bpfree_status bp_dlay_attach(bpfree_model *m, const bpfree_dist *d, bpfree_error *err);
/* Batches k0..nb of an epoch over the ranks (every rank calls it), then
 * the epoch's end: each layer's parameters from its owner to every rank,
 * the loss and correct count from the last rank, F3's store to rank 0. */
bpfree_status bp_dlay_epoch(bpfree_model *m, const bpfree_dataset *train, int k0, int nb,
                            int *done, double *loss, long *correct, float *lr, bpfree_error *err);
void bp_dlay_free(bpfree_model *m);

#endif /* BPFREE_DIST_H */
