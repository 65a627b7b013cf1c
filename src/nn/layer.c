/* layer.c — what every layer kind shares: the plain backward pass (the
 * reference the fused training path is tested against), the bias
 * gradient, and where a rule's direct signal enters (sig_pre). */
#include "nn/block.h"

typedef struct {
    const bp_layer *L;
    const float *x, *h;
    float *dh, *dz;
    int B;
} backward_job;

/* units a..b: their dz, then their gradient */
static void backward_part(void *ctx, size_t a, size_t b) {
    const backward_job *j = ctx;
    j->L->kind->output_grad(j->L, j->h, j->dh, j->dz, j->B, a, b);
    bp_layer_grad_units(j->L, j->x, j->dz, j->B, a, b, 0.0f);
}

void bp_layer_backward(bp_layer *L, const float *x, const float *h, float *dh, float *dx, int B) {
    L->gzero = 0; /* gW written whole below */
    backward_job j = {L, x, h, dh, bp_layer_dz(L, dh), B};
    const double macs = (double)B * bp_layer_n_weights(L) * (L->zcols / L->units);
    if (L->kind->split_units)
        bp_split_for(macs, (size_t)L->units, BP_UNIT_GRAIN, backward_part, &j);
    else
        backward_part(&j, 0, (size_t)L->units);
    if (dx) bp_layer_input_grad(L, NULL, j.dz, dx, B);
}

/* gb[a:b] = sum over the B rows of dz[:, a:b] (row-major, O wide) */
void bp_bias_grad(float *gb, const float *dz, int B, int O, size_t a, size_t b, float beta) {
    if (beta == 0.0f)
        for (size_t o = a; o < b; o++) gb[o] = 0.0f;
    for (int r = 0; r < B; r++) {
        const float *d = dz + (size_t)r * O;
        for (size_t o = a; o < b; o++) gb[o] += d[o];
    }
}

/* sig_pre is set only on pooled blocks (model.c), whose workspace starts
 * with the pre-pool activations and their gradient (block.h) */
const float *bp_layer_sig_act(const bp_layer *L, const float *h) {
    return L->sig_pre ? bp_block_ws_a(L) : h;
}

float *bp_layer_sig_dz(const bp_layer *L, float *sig) {
    return L->sig_pre ? bp_block_ws_dz(L) : bp_layer_dz(L, sig);
}

void bp_layer_sig_grad(const bp_layer *L, const float *h, const float *sig, float *dz, int B,
                       size_t a, size_t b) {
    /* a block's channels c0..c1 of units a..b: a conv unit is a channel, an
     * LC unit one position of one (its methods take all units at once) */
    const size_t per = (size_t)L->units / (size_t)(L->g.oc > 0 ? L->g.oc : 1);
    if (L->sig_pre) bp_block_sig_grad(L, sig, dz, B, a / per, (b + per - 1) / per);
    else L->kind->output_grad(L, h, sig, dz, B, a, b);
}
