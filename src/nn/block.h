/* block.h — what the image block kinds share (conv.c, lc.c): a block is a
 * product (convolution or locally connected), the activation, then optional
 * pooling; the kinds differ only in the product and its gradients.
 * Workspace layout, rows R = L->ws_rows: with pooling, the pre-pool
 * activations a (R, zcols) then dz (R, zcols); with batch normalisation
 * its zhat (R, zcols) and 1/std (units) (bn.c); the kind's own buffers
 * after (bp_block_ws_tail). */
#ifndef BPFREE_NN_BLOCK_H
#define BPFREE_NN_BLOCK_H

#include "nn/nn.h"

static inline size_t bp_npos(const bp_geom *g) { return (size_t)g->ch * g->cw; }
static inline size_t bp_ntaps(const bp_geom *g) { return (size_t)g->ic * g->k * g->k; }

static inline float *bp_block_ws_a(const bp_layer *L) { return L->ws; }
static inline float *bp_block_ws_dz(const bp_layer *L) {
    return L->ws + (size_t)L->ws_rows * L->zcols;
}
/* floats of the shared part for R rows: the pre-pool buffers, then the
 * batch normalisation's (bn.c) */
static inline size_t bp_block_ws_floats(const bp_layer *L, int rows) {
    return (L->g.pool ? 2 * (size_t)rows * L->zcols : 0) + bp_bn_ws_floats(L, rows);
}
static inline float *bp_block_ws_tail(const bp_layer *L) {
    return L->ws + bp_block_ws_floats(L, L->ws_rows);
}

/* A kind's product: z rows (zld apart) of n samples x = (or +=) the
 * block's linear map with weights W (NULL: none) plus bias (NULL: none). */
typedef void (*bp_block_product)(const bp_layer *L, const float *W, const float *bias,
                                 const float *x, int n, float *z, size_t zld, int accumulate);

/* h = pool(f(product(x))) in chunks of S samples; with batch
 * normalisation the products of all chunks first, then bp_block_finish */
void bp_block_forward(const bp_layer *L, const float *x, float *h, int B, int S,
                      bp_block_product product);
/* the rest of a forward pass once the products z of all B samples are
 * where the kind puts them (a pooled block's workspace, else h): batch
 * normalisation, the activation, the pooling */
void bp_block_finish(const bp_layer *L, float *h, int B);
float *bp_block_dz_of(const bp_layer *L, float *dh);
/* dz of channels c0..c1 = (dh back through the pooling) ⊙ f'(z) */
void bp_block_output_grad(const bp_layer *L, const float *h, const float *dh, float *dz, int B,
                          size_t c0, size_t c1);
/* dz of channels c0..c1 from a signal (B, zcols) at the pre-pool
 * activations (sig_pre): f' and batch normalisation's way back only */
void bp_block_sig_grad(const bp_layer *L, const float *sig, float *dz, int B, size_t c0,
                       size_t c1);
/* dout = pool((product(din; W) + product(x; V, vb)) ⊙ f'(z)) + u, the
 * products on chunks of S samples */
void bp_block_tangent(const bp_layer *L, const float *x, const float *h, const float *din,
                      const float *V, const float *vb, const float *u, float *dout, int B, int S,
                      bp_block_product product);
/* every unit's kernel as a weight of fan-in ic K K; biases U(±1/sqrt(fan-in))
 * with KAIMING_UNIFORM (PyTorch's Conv2d), else left at zero */
void bp_block_init(const bp_layer *L, bp_rng *r, float *w, float *b, bpfree_init how,
                   float std);
void bp_block_setup(bp_layer *L, const bp_layer_kind *kind, const bp_geom *g, bpfree_act act,
                    int units);

/* The convolution's fast path (conv_dnnl.c: oneDNN's convolution
 * primitives on the oneDNN build; elsewhere none).  Each returns 1 if it
 * did the work, 0 if the caller must run conv.c's im2col path (no fast
 * path, a primitive that cannot be made, a batch its workspace was not
 * sized for).  forward: h of all B samples (activation and pooling
 * included); input_grad: dx = dz carried back through W; grad: every
 * unit's gW, gb from x and dz, added (beta 1) or overwriting (beta 0). */
size_t bp_conv_fast_ws(const bp_layer *L, int rows); /* floats in the tail; 0: none */
int bp_conv_fast_forward(const bp_layer *L, const float *x, float *h, int B);
int bp_conv_fast_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx, int B);
int bp_conv_fast_grad(const bp_layer *L, const float *x, const float *dz, int B, float beta);

#endif /* BPFREE_NN_BLOCK_H */
