/* tangent.c — forward-mode directional derivatives without autograd, the one
 * implementation behind fg-w, fg-a, lg-fg-a and fdfa (002, Algorithm 1 lines
 * 11-16, Algorithm 2 line 12, Algorithm 3 lines 12-15).
 *
 * Shapes (row-major, batch-major as everywhere): x, din (B, I); h, u, dout
 * (B, O); W, V (O, I); vb (O).  Batch form of the paper's column form:
 *     W d  ->  d W^T,     V h  ->  h V^T.
 * The tangent is carried on post-activation values (NOTES, FDFA (002)):
 *     d_out = (din W^T + x V^T + vb) ⊙ f'(z) + u
 * f'(z) is computed from the layer's output h = f(z), as the backward pass
 * does (bp_act_backward), so nothing but h is kept.  Biases are constants of
 * the tangent: only their perturbation vb enters it. */
#include "engine/engine.h"

#include <string.h>


void bp_tangent_forward(const bpfree_model *m, const bp_perturb *p, const float *x, float **h,
                        float *const t[2], float *dout, int B) {
    const int L = m->n_layers;
    const float *din = NULL;
    h[0] = (float *)x;
    for (int l = 0; l < L; l++) {
        const bp_layer *Ly = &m->layers[l];
        bp_layer_forward(Ly, h[l], h[l + 1], B);
        float *d = l == L - 1 ? dout : t[l % 2];
        bp_layer_tangent(Ly, h[l], h[l + 1], din, p ? p->V[l] : NULL, p ? p->vb[l] : NULL,
                         p ? p->u[l] : NULL, d, B);
        din = d;
    }
}

void bp_tangent_dot(const float *e, const float *d, int B, int C, float *dl) {
    for (int r = 0; r < B; r++) {
        const float *er = e + (size_t)r * C, *dr = d + (size_t)r * C;
        float s = 0.0f;
        for (int c = 0; c < C; c++) s += er[c] * dr[c];
        dl[r] = s;
    }
}
