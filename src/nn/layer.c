/* layer.c — what every layer kind shares: the plain backward pass (the
 * reference the fused training path is tested against) and the bias
 * gradient. */
#include "nn/nn.h"

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
