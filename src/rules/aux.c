/* aux.c — a rule's own dense layers: DTP's inverses G_l, DNI's synthetic
 * gradient modules, CCL's feedback network.  Each is one trainable tensor
 * laid out as a layer's parameters (weights, then one bias per unit), seen
 * through a dense bp_layer whose W, b, gW, gb point into the tensor, so the
 * dense kind's own methods compute it and the model's optimizer steps it. */
#include "rules/rules.h"

#include <stdio.h>

int bp_aux_reserve(bpfree_model *m, const char *name, int in, int out) {
    return bp_model_reserve(m, name, (size_t)in * out + (size_t)out, 1);
}

void bp_aux_layer(const bpfree_model *m, int t, int in, int out, bpfree_act act, bp_layer *L) {
    bp_dense_setup(L, in, out, act);
    L->W = bp_tensor_ptr(m, t);
    L->b = L->W + bp_layer_n_weights(L);
    L->gW = bp_tensor_grad(m, t);
    L->gb = L->gW + bp_layer_n_weights(L);
    L->off = m->tensors[t].off;
}

void bp_aux_init(bpfree_model *m, const bp_layer *L, bpfree_init how) {
    bp_layer_init(L, &m->rng, L->W, L->b, how, m->cfg.init_std);
}

void bp_aux_backward_step(bpfree_model *m, int t, const bp_layer *L, const float *x,
                          const float *h, float *dh, int rows) {
    bp_aux_backward_step_with(m, &m->optim, t, L, x, h, dh, rows);
}

void bp_aux_backward_step_with(bpfree_model *m, const bp_optim *o, int t, const bp_layer *L,
                               const float *x, const float *h, float *dh, int rows) {
    float *dz = bp_layer_output_grad(L, h, dh, rows); /* dh ⊙ f'(z) */
    bp_layer_grad_units(L, x, dz, rows, 0, (size_t)L->units, 0.0f);
    if (m->tensors[t].trainable) bp_step_range(m, o, m->tensors[t].off, m->tensors[t].n);
}
