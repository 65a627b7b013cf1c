/* act.c — activations.  The backward pass computes f'(z) from h = f(z), so a
 * layer keeps only its output. */
#include "internal.h"

#include <math.h>

void bp_act_forward(bpfree_act a, float *h, size_t n) {
    switch (a) {
    case BPFREE_ACT_RELU:
        for (size_t i = 0; i < n; i++) h[i] = h[i] < 0.0f ? 0.0f : h[i]; /* NaN passes, as in PyTorch */
        break;
    case BPFREE_ACT_TANH:
        for (size_t i = 0; i < n; i++) h[i] = tanhf(h[i]);
        break;
    case BPFREE_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) h[i] = 1.0f / (1.0f + expf(-h[i]));
        break;
    case BPFREE_ACT_IDENTITY:
    case BPFREE_ACT_COUNT:
        break;
    }
}

void bp_act_backward(bpfree_act a, const float *h, float *d, size_t n) {
    switch (a) {
    case BPFREE_ACT_RELU: /* f'(0) = 0, as PyTorch */
        for (size_t i = 0; i < n; i++) d[i] = h[i] > 0.0f ? d[i] : 0.0f;
        break;
    case BPFREE_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= 1.0f - h[i] * h[i];
        break;
    case BPFREE_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= h[i] * (1.0f - h[i]);
        break;
    case BPFREE_ACT_IDENTITY:
    case BPFREE_ACT_COUNT:
        break;
    }
}

float bp_act_f(bpfree_act a, float z) {
    bp_act_forward(a, &z, 1);
    return z;
}

float bp_act_df(bpfree_act a, float z) {
    float h = bp_act_f(a, z), d = 1.0f;
    bp_act_backward(a, &h, &d, 1);
    return d;
}
