/* layer.c — what every layer kind shares: the plain backward pass (the
 * reference the fused training path is tested against) and the bias
 * gradient. */
#include "nn/nn.h"

typedef struct {
    const bp_layer *L;
    const float *x, *h;
    float *dh;
    int B;
} backward_job;

/* units a..b: dz = dh ⊙ f'(z) on their columns, then their gradient */
static void backward_part(void *ctx, size_t a, size_t b) {
    const backward_job *j = ctx;
    const bp_layer *L = j->L;
    const size_t cols = (size_t)(L->out / L->units);
    bp_act_backward_cols(L->act, j->h, j->dh, j->B, L->out, a * cols, b * cols);
    bp_layer_grad_units(L, j->x, j->dh, j->B, a, b, 0.0f);
}

void bp_layer_backward(bp_layer *L, const float *x, const float *h, float *dh, float *dx, int B) {
    L->gzero = 0; /* gW written whole below */
    backward_job j = {L, x, h, dh, B};
    bp_split_for((double)B * bp_layer_n_weights(L) * (L->out / L->units), (size_t)L->units,
                 BP_UNIT_GRAIN, backward_part, &j);
    if (dx) bp_layer_input_grad(L, NULL, dh, dx, B);
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
