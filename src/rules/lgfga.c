/* lgfga.c — local greedy activity-perturbed forward gradient, LG-FG-A (Ren
 * et al. 2023, cited in paper 002 §2.3; 002 Appendix A).
 *
 * The net is cut into blocks, each with a loss of its own; no signal crosses
 * a block.  002 Appendix A: "additional local linear outputs with their loss
 * function were added after each layer l < L - 1".  So hidden layer l
 * (l = 1..L-2) has a linear classifier M_l (C, n_l), no bias, whose softmax
 * cross-entropy L_l = CE(h_l M_l^T, y) trains only layer l and M_l; the last
 * hidden layer's classifier is the output layer itself, whose loss is the
 * network's.  With one hidden layer there are no extra heads.
 *
 * Per block, with the block's input h_{l-1} held constant (greedy), a
 * Gaussian u_l ~ N(0, I) per sample perturbs the layer's output; its tangent
 * at the block's linear output G = h_l M^T (M = M_l, or W_L for the last
 * block: the output layer is linear) is  dG = u_l M^T  (tangent.c with a zero
 * input tangent), and each sample's directional derivative of the local
 * loss is  dL_b = e_b · dG[b],  e = dL_l/dG (1/B inside).  Then
 *     layer l:  signal dL_b u_l[b] at its output (FG-A, eq. 5), its step;
 *     M_l:      its true local gradient e^T h_l (C, n_l), its step;
 *     output:   its true gradient e^T h_{L-1}.
 * A hidden block updates as soon as its own forward is done; layer l+1 gets
 * layer l's activation from before the update (as Mono-Forward). */
#include "rules/rules.h"
#include "engine/dist.h"

#include <stdio.h>
#include <string.h>

typedef struct lgfga_state {
    float *a[2];    /* activation ping-pong (B, max width) */
    float *u;       /* (B, max width) perturbation, then the signal */
    float *G, *e;   /* (B, C) local logits and dL/dG */
    float *dG;      /* (B, C) tangent of G */
    float *dl;      /* (B) */
    int M[BPFREE_MAX_LAYERS];
    int n_heads;    /* hidden layers with a head of their own: n_hidden - 1 */
} lgfga_state;

static int lgfga_n_heads(const bpfree_model *m) {
    return m->cfg.n_hidden > 1 ? m->cfg.n_hidden - 1 : 0;
}

static bpfree_status lgfga_reserve(bpfree_model *m, bpfree_error *err) {
    lgfga_state *s = m->rs;
    s->n_heads = lgfga_n_heads(m);
    return bp_layer_mats_reserve(m, "M", s->n_heads, 1, s->M, err); /* M_l (C, n_l) */
}

static bpfree_status lgfga_init(bpfree_model *m, bpfree_error *err) {
    lgfga_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    bp_layer_mats_init(m, s->M, s->n_heads, m->cfg.init); /* like a layer n_l -> C */
    (void)err;
    bp_scratch(m, &s->a[0], B * W); /* activations */
    bp_scratch(m, &s->a[1], B * W);
    bp_scratch(m, &s->u, B * W);    /* perturbations */
    bp_scratch(m, &s->G, B * C);    /* local logits */
    bp_scratch(m, &s->e, B * C);    /* local error */
    bp_scratch(m, &s->dG, B * C);   /* local tangent */
    bp_scratch(m, &s->dl, B);       /* directional derivatives */
    return BPFREE_OK;
}

/* Layer Ly (input x, output h) learns from the FG-A estimate of the loss of
 * its block, whose linear head `head` (C, n) produced logits with error e
 * (B, C): u ~ N(0, I), dG = u head^T, dL_b = e_b · dG[b], signal dL_b u[b]. */
static void block_update(bpfree_model *m, lgfga_state *s, int l, const float *x, const float *h,
                         const bp_layer *head, const float *e, int B) {
    const bp_layer *Ly = &m->layers[l];
    const int n = Ly->out, C = m->cfg.outputs;
    /* the block's input is held constant, so the layer's tangent is u itself;
     * the head is a linear layer n -> C: dG = u head^T */
    bp_dist_normal_rows(m, s->u, (size_t)n, B); /* global batch's draws */
    bp_layer_tangent(head, h, NULL, s->u, NULL, NULL, NULL, s->dG, B);
    bp_tangent_dot(e, s->dG, B, C, s->dl);
    for (int r = 0; r < B; r++) {
        float *ur = s->u + (size_t)r * n;
        for (int k = 0; k < n; k++) ur[k] *= s->dl[r];
    }
    bp_layer_backward_step(m, l, x, h, s->u, B);
}

static bpfree_status lgfga_train(bpfree_model *m, int B, double *loss, long *correct) {
    lgfga_state *s = m->rs;
    const int C = m->cfg.outputs, nh = m->cfg.n_hidden, L = m->n_layers;
    const float *in = m->xb;
    for (int l = 0; l < nh; l++) {
        const bp_layer *Ly = &m->layers[l];
        float *a = s->a[l % 2];
        bp_layer_forward(Ly, in, a, B);
        if (l < s->n_heads) { /* a block with its own head M_l */
            const int n = Ly->out;
            float *M = bp_tensor_ptr(m, s->M[l]);
            bpfree_gemm(0, 1, B, C, n, 1.0f, a, n, M, n, 0.0f, s->G, C); /* G = a M^T */
            bp_loss(m->cfg.loss, s->G, m->yb, B, C, s->e);
            bp_layer H; /* the head as a linear layer n -> C */
            bp_dense_setup(&H, Ly->out, C, BPFREE_ACT_IDENTITY);
            H.W = M;
            block_update(m, s, l, in, a, &H, s->e, B); /* uses M before its step */
            /* dL_l/dM (C, n) = e^T a: the head's true local gradient */
            bpfree_gemm(1, 0, C, n, B, 1.0f, s->e, C, a, n, 0.0f, bp_tensor_grad(m, s->M[l]), n);
            bp_tensor_step(m, s->M[l]);
        }
        in = a;
    }
    /* the last block: the last hidden layer (if any) and the output layer */
    const bp_layer *Out = &m->layers[L - 1];
    bp_layer_forward(Out, in, s->G, B);
    *correct += bp_count_correct(s->G, m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->G, m->yb, B, C, s->e);
    if (nh > 0) block_update(m, s, nh - 1, nh > 1 ? s->a[nh % 2] : m->xb, in, Out, s->e, B);
    bp_layer_backward_step(m, L - 1, in, s->G, s->e, B);
    return BPFREE_OK;
}

static void lgfga_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    lgfga_state *s = m->rs;
    const int C = m->cfg.outputs, L = m->n_layers;
    const float *in = x;
    for (int l = 0; l < L; l++) {
        const bp_layer *Ly = &m->layers[l];
        float *o = l == L - 1 ? scores : s->a[l % 2];
        bp_layer_forward(Ly, in, o, B);
        if (heads && l < s->n_heads) /* heads are laid out (n_heads, m->rows, C) */
            bpfree_gemm(0, 1, B, C, Ly->out, 1.0f, o, Ly->out, bp_tensor_ptr(m, s->M[l]),
                        Ly->out, 0.0f, heads + (size_t)l * m->rows * C, C);
        in = o;
    }
}

const bp_rule bp_rule_lgfga = {
    .info = {.name = "lg-fg-a",
             .title = "Local Greedy Forward Gradient",
             .paper = "Ren et al. 2023; Bacho & Chu 2024 §2.3 and Appendix A",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "no",   /* a block updates after its own forward */
             .locality = "single-layer",  /* each layer learns from its own head */
             .update_locking = "none"},
    .defaults = bp_defaults_fdfa_paper, /* 002 Appendix A */
    .reserve = lgfga_reserve,
    .init = lgfga_init,
    .train_batch = lgfga_train,
    .predict = lgfga_predict,
    .n_heads = lgfga_n_heads,
    .state_size = sizeof(lgfga_state),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
};
