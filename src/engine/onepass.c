/* onepass.c — rules that update every hidden layer at once, during the
 * forward pass (DRTP, F³, LLO): only two activation buffers are alive. */
#include "engine/dist.h"

#include <stdio.h>
#include <string.h>

void bp_onepass_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                      float *out, const int *fb, const float *E, bp_pipe_batch *b) {
    const bp_layer *L = &m->layers[i];
    const int B = b->rows, C = m->cfg.outputs;
    if (i < m->n_layers - 1) { /* hidden: update at once, from the layer's own signal */
        bp_layer_forward(L, in, out, B);
        if (E) { /* (1/B) E B_l, or summed over the batch as the authors' code */
            const int sum = m->cfg.signal_scaling == BPFREE_SIGNAL_AUTHORS;
            bp_feedback_signal(m, fb, i, sum ? bp_dist_sum_scale(m, B) : 1.0f / (float)B, E, B, w->d);
            bp_layer_signal_step(m, i, in, out, w->d, B, o);
        }
        return; /* `out` — from before the update — goes on */
    }
    (void)out; /* the output layer: its true gradient; logits stay in w->z */
    bp_layer_forward(L, in, w->z, B);
    b->correct = bp_count_correct(w->z, b->lb, B, C);
    b->loss = bp_loss(m->cfg.loss, w->z, b->y, B, C, w->dz);
    if (m->cfg.signal_scaling == BPFREE_SIGNAL_AUTHORS && m->cfg.loss != BPFREE_LOSS_CE)
        for (size_t k = 0; k < (size_t)B * C; k++) w->dz[k] /= (float)C; /* mean over B C */
    bp_layer_backward_step_with(m, i, in, w->z, w->dz, B, o);
}

void bp_onepass_train(bpfree_model *m, bp_work *w, const int *fb, const float *E, int B,
                      double *loss, long *correct) {
    bp_pipe_batch b = {.rows = B, .y = m->yb, .lb = m->lb, .ib = m->ib, .aux = (float *)E};
    const float *in = m->xb;
    for (int i = 0; i < m->n_layers; i++) {
        float *a = w->a[i % 2];
        bp_onepass_layer(m, &m->optim, w, i, in, a, fb, E, &b);
        in = a;
    }
    *loss += b.loss;
    *correct += b.correct;
}

void bp_onepass_predict(bpfree_model *m, bp_onepass *p, const float *x, int B, float *scores) {
    bp_forward_pingpong(m, x, B, p->a[0], p->a[1], scores);
}

void bp_onepass_rule_predict(bpfree_model *m, const float *x, int B, float *scores,
                             float *heads) {
    (void)heads;
    bp_onepass_predict(m, (bp_onepass *)m->rs, x, B, scores);
}


