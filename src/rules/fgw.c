/* fgw.c — weight-perturbed forward gradient, FG-W (Baydin et al. 2022;
 * paper 002 §2.2 eqs. 2-3, Appendix C, Algorithm 2).
 *
 * Per batch, every weight and every bias of every layer gets a Gaussian
 * perturbation V_l ~ N(0, I) (line 9; biases too, so they learn: their
 * perturbation vb_l enters the tangent as z's does).  The tangent is carried
 * to the output alongside the forward pass (line 12, tangent.c):
 *     d_l = (d_{l-1} W_l^T + h_{l-1} V_l^T + vb_l) ⊙ f'(z_l),
 * the directional derivative of the loss is the scalar (line 14, eq. 2)
 *     dL = sum_b e_b · d_L[b],   e = dL/dy_L (the batch mean's, 1/B inside)
 * and every layer steps with g(W_l) = dL V_l, g(b_l) = dL vb_l (line 17,
 * eq. 3) through the model's optimizer.
 *
 * One V per batch, not per sample: Algorithm 2 draws V per sample, which for
 * a batch would be a (B, O, I) tensor per layer (64 x 800 x 800 floats =
 * 164 MB for one hidden layer of the paper's net) and B x as many normal
 * draws.  With one V per batch, dL is the derivative of the batch-mean loss
 * along V and g is an unbiased estimate of the batch gradient
 * (E[(g·v) v] = g, Theorem 3); its variance does not fall with B as a
 * per-sample V's would.  Cost: one normal draw per parameter per batch and
 * a second GEMM per layer.  All layers update after the forward pass. */
#include "rules/rules.h"

#include <string.h>

typedef struct fgw_state {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l */
    float *t[2];                     /* tangent ping-pong (B, max width) */
    float *dout, *e;                 /* (B, C) output tangent and dL/dy */
    float *dl;                       /* (B) per-sample directional derivatives */
    float *V;                        /* perturbations, laid out as the parameter block */
} fgw_state;

static bpfree_status fgw_init(bpfree_model *m, bpfree_error *err) {
    fgw_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    (void)err;
    bp_acts_reserve(m, s->h);
    bp_scratch(m, &s->t[0], B * W);      /* tangents */
    bp_scratch(m, &s->t[1], B * W);
    bp_scratch(m, &s->dout, B * C);      /* output tangent */
    bp_scratch(m, &s->e, B * C);         /* output error */
    bp_scratch(m, &s->dl, B);            /* directional derivatives */
    bp_scratch(m, &s->V, m->n_params);   /* weight perturbations */
    return BPFREE_OK;
}

static bpfree_status fgw_train(bpfree_model *m, int B, double *loss, long *correct) {
    fgw_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs;
    bp_perturb p;
    memset(&p, 0, sizeof p);
    for (int l = 0; l < L; l++) { /* line 9: V_l and vb_l ~ N(0, I) */
        const bp_layer *Ly = &m->layers[l];
        const size_t nw = bp_layer_n_weights(Ly);
        float *V = s->V + Ly->off;
        bp_normal_fill(&m->rng, V, bp_layer_n_params(Ly));
        p.V[l] = V;
        p.vb[l] = V + nw;
    }
    bp_tangent_forward(m, &p, m->xb, s->h, s->t, s->dout, B); /* lines 10-12 */
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e);
    bp_tangent_dot(s->e, s->dout, B, C, s->dl);                /* line 14 */
    double dsum = 0.0;
    for (int r = 0; r < B; r++) dsum += s->dl[r];
    const float d = (float)dsum;
    for (int l = 0; l < L; l++) {                              /* lines 16-17 */
        const bp_layer *Ly = &m->layers[l];
        const size_t n = bp_layer_n_params(Ly); /* W then b */
        const float *V = s->V + Ly->off;
        for (size_t i = 0; i < n; i++) Ly->gW[i] = d * V[i];
        bp_layer_step(m, l);
    }
    return BPFREE_OK;
}

static void fgw_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    fgw_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->t[0], s->t[1], scores);
}

const bp_rule bp_rule_fgw = {
    .info = {.name = "fg-w",
             .title = "Forward Gradient (weights)",
             .paper = "Baydin et al. 2022; Bacho & Chu 2024 §2.2 eqs. 2-3, Appendix C Algorithm 2",
             .output_layer = 1,
             .weight_transport = "no",
             /* survey Table I classifies FGD (forward gradient descent) as
              * non-frozen, single-layer and update-unlocked: forward-mode
              * differentiation carries the tangent along with the forward
              * pass and needs no backward pass.  (This implementation keeps
              * each layer's output and perturbation until the scalar dL is
              * known at the output.) */
             .frozen_activities = "no",
             .locality = "single-layer",
             .update_locking = "none"},
    .defaults = bp_defaults_fdfa_paper, /* 002 Appendix A */
    .init = fgw_init,
    .train_batch = fgw_train,
    .predict = fgw_predict,
    .state_size = sizeof(fgw_state),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
};
