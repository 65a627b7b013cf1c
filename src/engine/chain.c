/* chain.c — rules with a backward chain (BP, FA): every layer's output is
 * kept and the signal travels back layer by layer; also the per-layer
 * activation buffers it and other rules use. */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

void bp_acts_reserve(bpfree_model *m, float **h) {
    for (int l = 0; l < m->n_layers; l++) bp_scratch(m, &h[l + 1], (size_t)m->rows * m->layers[l].out);
}

void bp_chain_reserve(bpfree_model *m, bp_chain *c) {
    bp_acts_reserve(m, c->h);
    for (int i = 0; i < 2; i++) bp_scratch(m, &c->d[i], (size_t)m->rows * bp_max_width(m));
}

static void chain_pass(bpfree_model *m, bp_chain *c, const float *const *back, int B,
                       double *loss, long *correct, int step) {
    const int L = m->n_layers, C = m->cfg.outputs;
    c->h[0] = m->xb;
    bp_forward_all(m, m->xb, c->h, B);
    *correct += bp_count_correct(c->h[L], m->lb, B, C);
    float *dcur = c->d[0], *dnext = c->d[1];
    *loss += bp_loss(m->cfg.loss, c->h[L], m->yb, B, C, dcur);
    /* Layer l's gradient and the signal at its input use its current weights;
     * its step comes after, so the result equals computing all gradients
     * first. */
    for (int l = L - 1; l >= 0; l--) {
        const bp_layer *Ly = &m->layers[l];
        float *dz = bp_layer_output_grad(Ly, c->h[l + 1], dcur, B); /* dz_l (dense: in dcur) */
        if (l > 0) /* delta_h_{l-1} = dz_l carried back through M = W_l or B_l, before the step */
            bp_layer_input_grad(Ly, back ? back[l] : NULL, dz, dnext, B);
        bp_layer_grad_step(m, l, c->h[l], dz, B, step ? &m->optim : NULL);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
}

void bp_chain_train(bpfree_model *m, bp_chain *c, const float *const *back, int B, double *loss,
                    long *correct) {
    chain_pass(m, c, back, B, loss, correct, 1);
}

void bp_chain_grads(bpfree_model *m, bp_chain *c, int B) {
    double loss = 0.0;
    long correct = 0;
    chain_pass(m, c, NULL, B, &loss, &correct, 0);
}
