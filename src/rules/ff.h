/* ff.h — what the Forward-Forward files share (src/rules/ff*.c): the rule's
 * state and the pieces its training, pipelined training and prediction are
 * made of.  The algorithm is described at the top of ff.c. */
#ifndef BPFREE_FF_H
#define BPFREE_FF_H

#include "rules/rules.h"

#include <stdint.h>

#define FF_CHUNK 512          /* samples per training chunk */
#define FF_PEER_MOMENTUM 0.9f /* running mean of the peer normalisation */
#define FF_NEUTRAL 0.1f       /* Hinton's neutral label */

typedef enum { FF_PLAIN = 0, FF_COLLAB_FIXED, FF_COLLAB_ADAPTIVE } ff_kind;

typedef struct ff_state {
    ff_kind kind;
    int P, R;                      /* rows of the work buffers; samples per chunk */
    int L, sumW;                   /* hidden layers, sum of their widths */
    int off[BPFREE_MAX_LAYERS];    /* column of layer l in F and in the peer means */
    float *X;                      /* (P, D) embedded inputs, normalised in place */
    /* (P, O_l) layer outputs and normalised outputs (the next layer's input).
     * ff trains a layer right after its forward, so these alias two
     * ping-pong buffers and activation memory does not grow with depth; CFF
     * needs every layer's goodness before any update and keeps them all. */
    float *h[BPFREE_MAX_LAYERS];
    float *n[BPFREE_MAX_LAYERS];
    float *ping[4];                /* ff: h and n ping-pong (P, max O) */
    float *nn[BPFREE_MAX_LAYERS];  /* (R, O_l) the neutral rows' n_l, for the head's gradient */
    float *dz;                     /* (2R, max O) */
    float *G;                      /* (L, P) goodness of every row */
    float *dG;                     /* (2R) dL/dG^collab */
    float *logits;                 /* (P, C) one-pass head */
    int *neg;                      /* (R) negative labels */
    float *Xp;                     /* --pipeline: (3B, D) a batch's embedded inputs */
    int xp_own;                    /* Xp allocated for --dist layers (freed with the model) */
    float *psum;                   /* (sumW) sum of positive activities this batch */
    float *hm, *hv;                /* Adam moments of the head (C * (sumW + 1)) */
    bp_optim hopt;                 /* the head's own Adam */
    int tF, tc, tgamma, tpeer;     /* tensors: head F (C, sumW), c (C), gamma (L), peer (sumW) */
    /* Greedy training past layer 1 (ff_train.c, bp_ff_begin_epoch): layer 1
     * is frozen, so its product on every training sample's positive row is
     * computed once and kept; the negative rows add their label correction
     * to it (bp_dense_forward_grouped with the first group given). */
    int z1_on;                     /* 1: this epoch's layer 1 reads z1 */
    float *z1;                     /* (n_z1, O_1) x̂⁺ W_1^T + b_1 by dataset index, or NULL */
    int n_z1;
    float *z1_wb;                  /* the W_1, b_1 it was computed with */
    uint64_t z1_sum;               /* and the training set: a fingerprint of it, its size */
    int z1_n;
} ff_state;

/* FF's element-wise passes (the forward's, the gradient's) run over rows
 * (or, for sums over rows, over columns, so that each sum keeps its order)
 * split over the threads with BPFREE_THREADING_SPLIT: the same numbers on
 * any number of threads. */
#define FF_ROW_GRAIN 16
#define FF_COL_GRAIN 64

/* One chunk of a training batch: r samples, laid out as r positive rows
 * [0, r), r negative rows [r, 2r) and r neutral rows [2r, 3r) — in the work
 * buffers and, chunk after chunk, in a pipelined batch. */
typedef struct ff_chunk {
    int r, B;       /* samples in the chunk, in the batch (the losses are means over B) */
    int beta_first; /* 1 on the batch's first chunk: the gradient sums start from 0 */
    int last;       /* the last layer run this batch (CFF's other layers: [0, last]) */
} ff_chunk;

/* Where layer l reads and writes on one chunk, rows in the chunk's layout. */
typedef struct ff_io {
    const float *in; /* (3r, I) its input, normalised */
    float *h, *n;    /* (3r, O) its output and normalised output (the next layer's input) */
    float *G;        /* (3r) each row's goodness (CFF reads the other layers' from s->G) */
    float *dz, *dG;  /* (2r, O) and (2r) scratch of the gradient */
} ff_io;

/* ff.c: layer l's view of the work buffers that build allocates */
ff_io bp_ff_work_io(const ff_state *s, int l);

/* ff_kernels.c */
/* the inputs that carry the label (the first C, or all D if fewer) */
static inline int bp_ff_label_cols(const bpfree_config *c) {
    return c->outputs < c->inputs ? c->outputs : c->inputs;
}
/* Layer l on rows [r0, r1) of io: h = f(in W^T + b), the next layer's
 * normalised input n and each row's goodness G. */
void bp_ff_forward(bpfree_model *m, int l, const ff_io *io, int r0, int r1);
/* The same on `groups` groups of r rows, rows [0, groups r), that hold one
 * image each with different labels: layer 0 (dense) computes the groups
 * after the first from the first's product and their difference in the
 * label inputs (bp_dense_forward_grouped: about groups times cheaper), as
 * its gradient does for the positive and negative rows (layer_grad);
 * later layers as bp_ff_forward.  The rows must have been normalised by
 * bp_ff_normalize_grouped, so that they agree outside the label inputs.
 * first_given (layer 0 only): io->h's first r rows already hold the first
 * group's product (ff_state.z1). */
int bp_ff_grouped(const bpfree_model *m, int l);
void bp_ff_forward_grouped(bpfree_model *m, int l, const ff_io *io, int r, int groups,
                           int first_given);
/* Rows i, r + i, ..., (groups-1) r + i of v (groups r, n) — one image with
 * different labels, the same norm — each scaled by row i's normaliser, so
 * that they stay equal outside the label inputs (bp_ff_normalize gives each
 * row its own, equal but for rounding). */
void bp_ff_normalize_grouped(bpfree_ff_norm how, float *v, int r, int groups, int n);
/* The one-pass head, layer by layer: logits (rows, C) = c + sum_l n_l F_l^T. */
void bp_ff_head_begin(bpfree_model *m, int rows, float *logits);
/* the first layer the one-pass head reads: 1 with --ff-skip-first (Hinton's
 * code: "works better without predicting the label from the first hidden
 * layer", for the goodness and the head alike), else 0 */
static inline int bp_ff_head_first(const bpfree_model *m, const ff_state *s) {
    return m->cfg.ff_skip_first && s->L > 1;
}
void bp_ff_head_add(bpfree_model *m, ff_state *s, int l, const float *nl, int rows,
                    float *logits);
/* A chunk's r samples x (r, D) embedded into X (3r, D): rows [2r, 3r) with
 * the neutral label; rows [0, r) with their labels lb, rows [r, 2r) with the
 * wrong labels neg. */
void bp_ff_embed_neutral(const bpfree_config *c, const float *x, int r, float *X);
void bp_ff_embed_signed(const bpfree_config *c, const float *x, const int *lb, const int *neg,
                        int r, float *X);

/* ff_train.c: training, plain and pipelined (the rule's hooks) */
/* The layers this batch trains, [*first, *last]: all, or on the greedy
 * schedule the active layer alone. */
void bp_ff_trained_layers(const bpfree_model *m, const ff_state *s, int *first, int *last);
/* ff_frozen.c: before an epoch, ff_state.z1 made ready (or switched off) */
bpfree_status bp_ff_begin_epoch(bpfree_model *m, const bpfree_dataset *train, bpfree_error *err);
bpfree_status bp_ff_train(bpfree_model *m, int B, double *loss, long *correct);
void bp_ff_pipe_need(const bpfree_model *m, bp_pipe_need *n);
void bp_ff_pipe_begin(bpfree_model *m, bp_pipe_batch *b);
void bp_ff_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int l, const float *in,
                      float *out, bp_pipe_batch *b);

/* ff_predict.c */
int bp_ff_n_heads(const bpfree_model *m);
void bp_ff_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads);

#endif /* BPFREE_FF_H */
