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

/* A dense layer h = f(x W^T + b).  W (O, I) and b (O) are contiguous in the
 * model's parameter block at [off, off + O*I + O); so are their gradients
 * gW, gb and the optimizer state. */
typedef struct bp_dense {
    int in, out;      /* I, O */
    bpfree_act act;
    float *W, *b;
    float *gW, *gb;
    size_t off;       /* offset of W in the parameter block */
    /* 1: gW and gb are all zero because the last step consumed them
     * (bp_optim_step_consume), so the next gradient product accumulates
     * into gW (beta = 1) and OpenBLAS skips the pass that clears C for
     * beta = 0 (4-5% of a batch-64 bp epoch).  Set only by
     * bp_dense_grad_step / bp_dense_backward_step when they step and the
     * model does not keep its gradients (keep_grads); bp_dense_backward clears
     * it.  Rules that write gW themselves (ff, pepita, fg-w) never call
     * those two, so their layers keep gzero = 0. */
    int gzero;
} bp_dense;

/* x (B, I) -> h (B, O): h = f(x W^T + b). */
void bp_dense_forward(const bp_dense *L, const float *x, float *h, int B);
/* The plain backward pass, no step (training goes through
 * bp_dense_backward_step, which fuses it with the step; the tests use this
 * one as its reference).  Given dh = dL/dh (B, O) at the layer's output (overwritten with dL/dz),
 * the layer's input x (B, I) and its output h (B, O):
 *   dz = dh ⊙ f'(z);  gW = dz^T x;  gb = sum_b dz;
 *   if dx != NULL: dx (B, I) = dz W   (computed with the current W). */
void bp_dense_backward(bp_dense *L, const float *x, const float *h, float *dh, float *dx,
                       int B);
/* gb[a:b] = sum over the B rows of dz (B, O) of columns a..b */
void bp_bias_grad(float *gb, const float *dz, int B, int O, size_t a, size_t b);
/* Units a..b of layer L: gW[a:b] = dz[:, a:b]^T x + beta gW[a:b] (one BLAS
 * call, profiled as the whole product by the part that starts at unit 0) and
 * gb[a:b]; beta is 1 only when gW is known zero (gzero). */
void bp_dense_grad_units(const bp_dense *L, const float *x, const float *dz, int B, size_t a,
                         size_t b, float beta);
/* a layer's units are split over threads in parts of at least this many */
#define BP_UNIT_GRAIN 32

/* Forward-mode tangents (tangent.c; 002 Algorithms 1-3, NOTES "FDFA (002)").
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
/* One layer: x (B, I) its input, h (B, O) its output, din (B, I) the tangent
 * at its input or NULL (zero); V, vb, u may each be NULL.  dout (B, O). */
void bp_tangent_dense(const bp_dense *L, const float *x, const float *h, const float *din,
                      const float *V, const float *vb, const float *u, float *dout, int B);
#endif /* BPFREE_NN_H */
