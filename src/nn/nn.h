/* nn.h — what a layer computes: activations, losses and the layer kinds
 * (dense), each with a forward pass, its gradients and its forward-mode
 * tangent.  Knows nothing of models or rules. */
#ifndef BPFREE_NN_H
#define BPFREE_NN_H

#include "core/core.h"

/* -------------------------------------------------------- activations */

/* h = f(h) in place over n values. */
void bp_act_forward(bpfree_act a, float *h, size_t n);
/* d = d * f'(z) with f' computed from h = f(z), in place over n values. */
void bp_act_backward(bpfree_act a, const float *h, float *d, size_t n);
/* the same on columns c0..c1 of a (B, O) row-major array */
void bp_act_forward_cols(bpfree_act a, float *h, int B, int O, size_t c0, size_t c1);
void bp_act_backward_cols(bpfree_act a, const float *h, float *d, int B, int O, size_t c0,
                          size_t c1);
/* Reference: f(z) and f'(z) of one value (tests). */
float bp_act_f(bpfree_act a, float z);
float bp_act_df(bpfree_act a, float z);

/* ------------------------------------------------------------- losses */

/* logits z (B, C), targets y (B, C).  Returns the mean loss over the batch
 * and, if dz is not NULL, writes dL/dz (B, C) = (p - y) / B where
 * p = softmax(z) (CE), sigmoid(z) (BCE) or z (MSE).  dz may alias nothing. */
double bp_loss(bpfree_loss l, const float *z, const float *y, int B, int C,
               float *dz);
/* Number of rows whose argmax of z equals labels[b]. */
int bp_count_correct(const float *z, const int *labels, int B, int C);
int bp_argmax(const float *v, int n);

/* ------------------------------------------------------------ layers */

/* A layer: x (B, in) -> h (B, out), each sample's features flattened
 * row-major (channels x height x width for images).  Its parameters are
 * `units` groups of unit_w weights, W contiguous (units * unit_w floats),
 * then `units` biases b, at [off, off + n_params) of the model's parameter
 * block; so are their gradients gW, gb and the optimizer state.  A dense
 * layer's unit is an output neuron (unit_w = in, W is (O, I)).  A unit's
 * outputs are `out / units` consecutive columns of h.
 *
 * Rules and the engine speak to a layer only through its kind's methods and
 * the signal delivered at its output, so that a new kind needs no change to
 * any rule (CONTRIBUTING.md, "How to add a layer kind"). */
typedef struct bp_layer bp_layer;

typedef struct bp_layer_kind {
    const char *name;
    /* h (B, out) = the layer's output, activation (and pooling) included;
     * what its backward methods need of this pass stays in its workspace */
    void (*forward)(const bp_layer *L, const float *x, float *h, int B);
    /* units a..b: dz, the gradient at the pre-activation (B, zcols), from
     * the signal dh (B, out) at the layer's output and its output h: dense
     * dz = dh ⊙ f'(z), in place (dz == dh); a pooled block routes dh back
     * through the pooling first.  dz is bp_layer_dz(L, dh). */
    void (*output_grad)(const bp_layer *L, const float *h, const float *dh, float *dz, int B,
                        size_t a, size_t b);
    /* where dz lives for a signal dh: dh itself, or the layer's workspace */
    float *(*dz_of)(const bp_layer *L, float *dh);
    /* dx (B, in) = the signal dz (B, zcols) at the pre-activation carried back
     * to the input through weights W: the layer's own (the chain rule) or
     * another block of the same shape (FA's B) */
    void (*input_grad)(const bp_layer *L, const float *W, const float *dz, float *dx, int B);
    /* units a..b: gW[a:b] = their weight gradient from x and dz, gb[a:b]
     * the sum of dz over rows and the unit's columns; beta 1 adds both to
     * what is there (gradient sums over chunks; gW known zero), 0
     * overwrites.  The part starting at unit 0 profiles its product as the
     * whole */
    void (*grad_units)(const bp_layer *L, const float *x, const float *dz, int B, size_t a,
                       size_t b, float beta);
    /* forward-mode tangent (see bp_perturb): x, h the layer's input and
     * output, din the tangent at its input or NULL (zero); V (weights'
     * shape), vb (units), u (B, sig_cols: added at the signal point) may
     * each be NULL; dout (B, out) */
    void (*tangent)(const bp_layer *L, const float *x, const float *h, const float *din,
                    const float *V, const float *vb, const float *u, float *dout, int B);
    /* fill w (the weights' shape) with an initialisation, and b if not NULL
     * with the kind's bias init for it (or leave it zero) */
    void (*init)(const bp_layer *L, bp_rng *r, float *w, float *b, bpfree_init how, float std);
    /* the workspace the layer needs for `rows` samples: floats and ints
     * (NULL: none) — set at L->ws, L->wsi by the model */
    void (*ws_size)(const bp_layer *L, int rows, size_t *floats, size_t *ints);
    /* 1: grad_units and output_grad of disjoint unit ranges may run at once
     * on different threads */
    int split_units;
} bp_layer_kind;

/* The geometry of an image layer: input C x H x W, a K x K kernel with
 * stride and zero padding, giving oc x ch x cw, then pooling pool x pool
 * (stride pool; 0 = none) to oc x oh x ow.  Unused by dense layers. */
typedef struct bp_geom {
    int ic, ih, iw;
    int k, stride, pad;
    int oc, ch, cw;   /* the convolution's output */
    int pool;         /* BP_POOL_* */
    int q;            /* pooling window and stride */
    int oh, ow;       /* after pooling */
} bp_geom;

#define BP_POOL_NONE 0
#define BP_POOL_MAX 1
#define BP_POOL_AVG 2

struct bp_layer {
    const bp_layer_kind *kind;
    int in, out;      /* features per sample at the input and output */
    int units;        /* weight groups with one bias each (dense: out) */
    size_t unit_w;    /* weights per unit (dense: in) */
    int zcols;        /* pre-activation features per sample (dense: out) */
    bpfree_act act;
    bp_geom g;        /* image layers */
    float *ws;        /* the kind's workspace (ws_size), or NULL */
    int *wsi;
    int ws_rows;      /* the samples it was sized for */
    int ws_parts;     /* the threads it was sized for (0 or 1: one): a kind
                       * may split a batch into this many parts, each with
                       * its own slice of the workspace */
    float *W, *b;
    float *gW, *gb;
    size_t off;       /* offset of W in the parameter block */
    /* 1: gW and gb are all zero because the last step consumed them
     * (bp_optim_step_consume), so the next gradient product accumulates
     * into gW (beta = 1) and OpenBLAS skips the pass that clears C for
     * beta = 0 (4-5% of a batch-64 bp epoch).  Set only by
     * bp_layer_grad_step / bp_layer_backward_step when they step and the
     * model does not keep its gradients (keep_grads); bp_layer_backward clears
     * it.  Rules that write gW themselves (ff, pepita, fg-w) never call
     * those two, so their layers keep gzero = 0. */
    int gzero;
    /* batch normalisation between the product and the activation (bn.c):
     * bn 1 = on; gamma, beta (units each) follow b in the parameter block
     * (ggamma, gbeta their gradients), rmean, rvar in the state block;
     * bn_train 1 = batch statistics (set by the engine while it trains), 0 =
     * the running ones.  Its workspace (zhat, 1/std) starts at ws, after
     * an image block's pre-pool buffers */
    int bn, bn_train;
    float *gamma, *beta, *ggamma, *gbeta, *rmean, *rvar;
    /* where a rule's direct signal (a feedback matrix's e B_l, and FDFA's
     * activity perturbation) enters the layer: 0 = its output (B, out), as
     * every other signal; 1 = a pooled block's activations before the
     * pooling (B, zcols), as the FDFA authors' hooks (--feedback-point) */
    int sig_pre;
};

static inline size_t bp_layer_n_weights(const bp_layer *L) { return (size_t)L->units * L->unit_w; }
/* W, b, and with batch normalisation gamma, beta */
static inline size_t bp_layer_n_params(const bp_layer *L) {
    return bp_layer_n_weights(L) + (size_t)L->units * (L->bn ? 3 : 1);
}

/* features of a direct signal at the layer (sig_pre: zcols, else out) */
static inline int bp_layer_sig_cols(const bp_layer *L) { return L->sig_pre ? L->zcols : L->out; }
/* the activations (B, bp_layer_sig_cols) at the signal point of the last
 * forward pass: h itself, or a pooled block's pre-pool maps (block.c) */
const float *bp_layer_sig_act(const bp_layer *L, const float *h);
/* units a..b: dz (B, zcols) from a direct signal sig (B, sig_cols) at the
 * signal point: the kind's output_grad, or with sig_pre f' and batch
 * normalisation only (the pooling is past the signal point); dz is
 * bp_layer_sig_dz(L, sig) */
void bp_layer_sig_grad(const bp_layer *L, const float *h, const float *sig, float *dz, int B,
                       size_t a, size_t b);
float *bp_layer_sig_dz(const bp_layer *L, float *sig);

/* The methods, through the layer's kind. */
static inline void bp_layer_forward(const bp_layer *L, const float *x, float *h, int B) {
    L->kind->forward(L, x, h, B);
}
static inline void bp_layer_input_grad(const bp_layer *L, const float *W, const float *dz,
                                       float *dx, int B) {
    L->kind->input_grad(L, W ? W : L->W, dz, dx, B);
}
static inline void bp_layer_grad_units(const bp_layer *L, const float *x, const float *dz, int B,
                                       size_t a, size_t b, float beta) {
    L->kind->grad_units(L, x, dz, B, a, b, beta);
}
static inline void bp_layer_tangent(const bp_layer *L, const float *x, const float *h,
                                    const float *din, const float *V, const float *vb,
                                    const float *u, float *dout, int B) {
    L->kind->tangent(L, x, h, din, V, vb, u, dout, B);
}

static inline float *bp_layer_dz(const bp_layer *L, float *dh) { return L->kind->dz_of(L, dh); }
/* dz of all units (see output_grad); returns where it is */
static inline float *bp_layer_output_grad(const bp_layer *L, const float *h, float *dh, int B) {
    float *dz = bp_layer_dz(L, dh);
    L->kind->output_grad(L, h, dh, dz, B, 0, (size_t)L->units);
    return dz;
}
static inline void bp_layer_init(const bp_layer *L, bp_rng *r, float *w, float *b,
                                 bpfree_init how, float std) {
    L->kind->init(L, r, w, b, how, std);
}

/* The plain backward pass, no step (training goes through
 * bp_layer_backward_step, which fuses it with the step; the tests use this
 * one as its reference).  Given dh = dL/dh (B, out) at the layer's output
 * (overwritten with dL/dz), its input x (B, in) and output h (B, out):
 *   dz = dh ⊙ f'(z);  gW, gb from all units;
 *   if dx != NULL: dx (B, in) = dz carried back through the current W. */
void bp_layer_backward(bp_layer *L, const float *x, const float *h, float *dh, float *dx, int B);
/* gb[a:b] = sum over the B rows of dz (B, O) of columns a..b, added to
 * gb[a:b] when beta is 1 (0: overwritten), each column in row order */
void bp_bias_grad(float *gb, const float *dz, int B, int O, size_t a, size_t b, float beta);
/* a layer's units are split over threads in parts of at least this many */
#define BP_UNIT_GRAIN 32

/* Batch normalisation (bn.c) of units a..b of z (B, zcols) in place, with
 * the batch's statistics (L->bn_train; updates the running ones) or the
 * running ones; the way back (dy -> dz in place, and gamma's and beta's
 * gradients); the tangent of all units (vg, vbe: gamma's and beta's
 * perturbations, or NULL); the floats it needs in the workspace for `rows`;
 * gamma 1, beta 0, running mean 0, variance 1. */
void bp_bn_forward(const bp_layer *L, float *z, int B, size_t a, size_t b);
void bp_bn_backward(const bp_layer *L, float *d, int B, size_t a, size_t b);
void bp_bn_tangent(const bp_layer *L, float *t, int B, const float *vg, const float *vbe);
size_t bp_bn_ws_floats(const bp_layer *L, int rows);
void bp_bn_init(const bp_layer *L);

/* The dense kind: h = f(x W^T + b), W (O, I). */
extern const bp_layer_kind bp_kind_dense;
/* Grouped rows: x (groups r, I) whose row g r + i equals row i outside its
 * first k columns (Forward-Forward's rows of one image with different labels
 * differ only in the label inputs).  The forward of all of them, h (groups r,
 * O), with one product of r rows and a k-column correction per further
 * group, instead of a product of groups r rows.  The weight gradient of two
 * such groups (2r rows) with one product of r rows (rows [0, r) of dz are
 * overwritten with the sums dz[i] + dz[r+i]), beta as grad_units.  The same
 * values as the plain forward and grad_units up to the order of the sums
 * (tests/test_ff.c checks both against them).  No batch normalisation.
 * first_given: h's first r rows already hold group 0's x W^T + b, before
 * the activation (bp_dense_product; FF keeps them for a frozen layer). */
void bp_dense_forward_grouped(const bp_layer *L, const float *x, float *h, int r, int groups,
                              int k, int first_given);
/* z (r, O) = x W^T + b, without the activation: the grouped forward's one
 * product */
void bp_dense_product(const bp_layer *L, const float *x, float *z, int r);
void bp_dense_grad_paired(const bp_layer *L, const float *x, float *dz, int r, int k,
                          float beta);
/* L becomes a dense layer in -> out with activation act (no parameters
 * attached yet: W, b, gW, gb, off are the model's to set). */
void bp_dense_setup(bp_layer *L, int in, int out, bpfree_act act);

/* The convolution block kind (conv.c): K x K convolution + bias, the
 * activation, optional max/average pooling; one unit per output channel. */
extern const bp_layer_kind bp_kind_conv;
/* the same with only the im2col lowering (the oneDNN build's convolution
 * primitives are tested against it; elsewhere it is bp_kind_conv) */
extern const bp_layer_kind bp_kind_conv_im2col;
/* g for an ic x ih x iw input, oc channels of K x K, stride, `same`
 * padding ((K-1)/2) or none, then pooling (BP_POOL_*) q x q: 0, or -1 if
 * the sizes do not fit */
int bp_geom_setup(bp_geom *g, int ic, int ih, int iw, int oc, int k, int stride, int same,
                  int pool, int q);
void bp_conv_setup(bp_layer *L, const bp_geom *g, bpfree_act act);
/* one sample's im2col (taps, positions; _ld: tap rows ld apart) and its
 * adjoint (accumulates) */
void bp_im2col(const bp_geom *g, const float *x, float *col);
void bp_im2col_ld(const bp_geom *g, const float *x, float *col, size_t ld);
void bp_col2im(const bp_geom *g, const float *col, float *dx);
/* pooling of one sample's a (oc, ch, cw) into out (oc, oh, ow), max
 * recording each window's argmax; dh routed back into dz for channels
 * a..b; and the pooling a forward fixed, applied to a tangent t */
void bp_pool_fwd(const bp_geom *g, const float *a, float *out, int *arg);
void bp_pool_bwd(const bp_geom *g, const float *dh, const int *arg, float *dz, size_t a, size_t b);
void bp_pool_linear(const bp_geom *g, const float *t, const int *arg, float *out);

/* The locally connected block kind (lc.c): as a convolution, but every
 * output position has kernels of its own (003 Table 1's "locally connected"
 * nets); one unit per (channel, position). */
extern const bp_layer_kind bp_kind_lc;
void bp_lc_setup(bp_layer *L, const bp_geom *g, bpfree_act act);

/* Forward-mode tangents (a layer's tangent method, engine/tangent.c; 002 Algorithms 1-3, NOTES "FDFA (002)").
 * Alongside h_{l+1} = f(z_l), z_l = h_l W_l^T + b_l, a layer carries
 *     d_{l+1} = (d_l W_l^T [+ h_l V_l^T + vb_l]) ⊙ f'(z_l) [+ u_l]      (B, O)
 * the derivative of its output along a direction made of weight
 * perturbations V_l (O, I), vb_l (O) and activity perturbations u_l (B, O)
 * added to the layer's output h (post-activation).  Biases do not enter
 * d_l W_l^T.  d_0 = 0: the input is not perturbed. */
typedef struct bp_perturb {
    const float *V[BPFREE_MAX_LAYERS];  /* (O, I) per layer, or NULL */
    const float *vb[BPFREE_MAX_LAYERS]; /* (O) per layer, or NULL */
    const float *u[BPFREE_MAX_LAYERS];  /* (B, O) per layer, or NULL */
} bp_perturb;
#endif /* BPFREE_NN_H */
