/* common.c — pieces several rules share: per-layer activation buffers and
 * fixed random feedback matrices. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

bpfree_status bp_acts_alloc(bpfree_model *m, float **h, bpfree_error *err) {
    const size_t B = (size_t)m->rows;
    for (int l = 0; l < m->n_layers; l++)
        if (!(h[l + 1] = bp_alloc_floats(&m->mem, B * m->layers[l].out, "activations", err)))
            return BPFREE_ENOMEM;
    return BPFREE_OK;
}

void bp_acts_free(bpfree_model *m, float **h) {
    for (int l = 1; l <= BPFREE_MAX_LAYERS; l++) {
        bp_free(&m->mem, h[l]);
        h[l] = NULL;
    }
}

bpfree_status bp_feedback_reserve(bpfree_model *m, int *fb, bpfree_error *err) {
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "B%d", l + 1);
        fb[l] = bp_model_reserve(m, name, (size_t)m->cfg.outputs * m->cfg.hidden[l], 0);
        if (fb[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

void bp_feedback_init(bpfree_model *m, const int *fb) {
    /* B_l (C, n_l) is drawn like the weight of a layer n_l -> C */
    for (int l = 0; l < m->cfg.n_hidden; l++)
        bp_init_fill(&m->rng, bp_tensor_ptr(m, fb[l]), m->cfg.outputs, m->cfg.hidden[l],
                     m->cfg.feedback_init, m->cfg.init_std);
}

void bp_feedback_signal(const bpfree_model *m, const int *fb, int l, float alpha,
                        const float *e, int B, float *dh) {
    const int n = m->layers[l].out, C = m->cfg.outputs;
    /* dh (B, n) = alpha e (B, C) B_l (C, n) */
    bpfree_gemm(0, 0, B, n, C, alpha, e, C, bp_tensor_ptr(m, fb[l]), n, 0.0f, dh, n);
}

/* The setup of the F³ paper's MNIST experiments (001 §4, the authors' code):
 * one hidden layer of 500 tanh, sigmoid output with binary cross-entropy,
 * standardised inputs, Adam 1.5e-4, batch 50, 100 epochs.  bpfree adds its
 * linear cooldown over the second half: with a constant rate F³'s loss
 * cycles (see README), and the cooldown lets the last epoch settle. */
void bp_defaults_f3_paper(bpfree_config *c) {
    c->n_hidden = 1;
    c->hidden[0] = 500;
    c->act = BPFREE_ACT_TANH;
    c->loss = BPFREE_LOSS_BCE;
    c->norm = BPFREE_NORM_STANDARDIZE;
    c->optim.kind = BPFREE_OPTIM_ADAM;
    c->optim.lr = 1.5e-4f;
    c->batch = 50;
    c->epochs = 100;
}

/* The setup of 002's fully connected experiments (Appendix A, Table B.5):
 * three hidden layers of 800 ReLU, Adam with lambda = 1e-4, x0.95 per epoch,
 * batch 64; 30 epochs instead of the paper's 100.  Used by fg-w, fg-a,
 * lg-fg-a, dkp and fdfa. */
void bp_defaults_fdfa_paper(bpfree_config *c) {
    c->n_hidden = 3;
    c->hidden[0] = c->hidden[1] = c->hidden[2] = 800;
    c->epochs = 30;
    c->batch = 64;
    c->optim.kind = BPFREE_OPTIM_ADAM;
    c->optim.lr = 1e-4f;
    c->optim.sched = BPFREE_SCHED_STEP;
    c->optim.step_epochs = 1;
    c->optim.gamma = 0.95f;
}

/* ------------------------------------------------ rules that update at once */

bpfree_status bp_onepass_alloc(bpfree_model *m, bp_onepass *p, bpfree_error *err) {
    return bp_work_alloc(m, p, err);
}

void bp_onepass_free(bpfree_model *m, bp_onepass *p) { bp_work_free(m, p); }

void bp_onepass_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                      float *out, const int *fb, const float *E, bp_pipe_batch *b) {
    const bp_dense *L = &m->layers[i];
    const int B = b->rows, C = m->cfg.outputs;
    if (i < m->n_layers - 1) { /* hidden: update at once, from the layer's own signal */
        bp_dense_forward(L, in, out, B);
        if (E) {
            bp_feedback_signal(m, fb, i, 1.0f / (float)B, E, B, w->d);
            bp_act_backward(L->act, out, w->d, (size_t)B * L->out);
            bp_dense_grad_step(m, i, in, w->d, B, o);
        }
        return; /* `out` — from before the update — goes on */
    }
    (void)out; /* the output layer: its true gradient; logits stay in w->z */
    bp_dense_forward(L, in, w->z, B);
    b->correct = bp_count_correct(w->z, b->lb, B, C);
    b->loss = bp_loss(m->cfg.loss, w->z, b->y, B, C, w->dz);
    bp_act_backward(L->act, w->z, w->dz, (size_t)B * C);
    bp_dense_grad_step(m, i, in, w->dz, B, o);
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

void bp_onepass_rule_free(bpfree_model *m) {
    if (!m->rs) return;
    bp_onepass_free(m, (bp_onepass *)m->rs);
    bp_free(&m->mem, m->rs);
    m->rs = NULL;
}

/* ------------------------------------------- rules with a backward chain */

bpfree_status bp_chain_alloc(bpfree_model *m, bp_chain *c, bpfree_error *err) {
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m);
    bpfree_status st = bp_acts_alloc(m, c->h, err);
    if (st) return st;
    for (int i = 0; i < 2; i++)
        if (!(c->d[i] = bp_alloc_floats(&m->mem, B * W, "deltas", err))) return BPFREE_ENOMEM;
    return BPFREE_OK;
}

void bp_chain_free(bpfree_model *m, bp_chain *c) {
    bp_acts_free(m, c->h);
    bp_free(&m->mem, c->d[0]);
    bp_free(&m->mem, c->d[1]);
    c->d[0] = c->d[1] = NULL;
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
        const bp_dense *Ly = &m->layers[l];
        bp_act_backward(Ly->act, c->h[l + 1], dcur, (size_t)B * Ly->out); /* dcur := dz_l */
        if (l > 0) /* delta_h_{l-1} (B, I) = dz_l (B, O) M (O, I), M = W_l or B_l, before the step */
            bpfree_gemm(0, 0, B, Ly->in, Ly->out, 1.0f, dcur, Ly->out,
                        back && back[l] ? back[l] : Ly->W, Ly->in, 0.0f, dnext, Ly->in);
        bp_dense_grad_step(m, l, c->h[l], dcur, B, step ? &m->optim : NULL);
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
