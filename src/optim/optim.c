/* optim.c — SGD and Adam with PyTorch's semantics, one fused loop over a
 * flat range of the parameter block; learning-rate schedules. */
#include "optim/optim.h"

#include <math.h>

void bp_optim_begin_step(bp_optim *o, float lr) {
    o->lr = lr;
    o->t++;
    o->bc1 = 1.0f - powf(o->cfg.beta1, (float)o->t);
    o->bc2 = 1.0f - powf(o->cfg.beta2, (float)o->t);
}

/* consume (a constant after inlining): zero each gradient once read, so the
 * next gradient product can accumulate (beta = 1) instead of letting the BLAS
 * clear the whole matrix in a pass of its own first (bp_layer_grad_step). */
static inline void sgd(const bp_optim *o, float *restrict p, float *restrict g,
                       float *restrict buf, size_t n, const int consume) {
    const float lr = o->lr, mu = o->cfg.momentum, wd = o->cfg.weight_decay;
    const int nesterov = o->cfg.nesterov;
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++) {
            p[i] -= lr * (g[i] + wd * p[i]);
            if (consume) g[i] = 0.0f;
        }
        return;
    }
    /* PyTorch: buf = mu buf + g (first step: buf = g); the zero-initialised
     * buffer makes the first step identical. */
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        if (consume) g[i] = 0.0f;
        float b = mu * buf[i] + gi;
        buf[i] = b;
        p[i] -= lr * (nesterov ? gi + mu * b : b);
    }
}

static inline void adam(const bp_optim *o, float *restrict p, float *restrict g,
                        float *restrict m, float *restrict v, size_t n, const int consume) {
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const float wd = o->cfg.weight_decay, lr = o->lr;
    const float step = lr / o->bc1, rbc2 = 1.0f / sqrtf(o->bc2);
    const int decoupled = o->cfg.decoupled;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (consume) g[i] = 0.0f;
        if (decoupled) p[i] -= lr * wd * p[i];
        else gi += wd * p[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        /* p -= lr * mhat / (sqrt(vhat) + eps), mhat = m/bc1, vhat = v/bc2 */
        p[i] -= step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

void bp_optim_step(const bp_optim *o, float *p, const float *g, float *m, float *v, size_t n) {
    float *gw = (float *)g; /* not written: consume = 0 */
    if (o->cfg.kind == BPFREE_OPTIM_ADAM) adam(o, p, gw, m, v, n, 0);
    else sgd(o, p, gw, m, n, 0);
}

void bp_optim_step_consume(const bp_optim *o, float *p, float *g, float *m, float *v,
                           size_t n) {
    if (o->cfg.kind == BPFREE_OPTIM_ADAM) adam(o, p, g, m, v, n, 1);
    else sgd(o, p, g, m, n, 1);
}

float bp_sched_lr(const bpfree_optim_config *c, double e, int epochs) {
    switch (c->sched) {
    case BPFREE_SCHED_STEP: {
        int k = c->step_epochs > 0 ? (int)(e / c->step_epochs) : 0;
        return c->lr * powf(c->gamma, (float)k);
    }
    case BPFREE_SCHED_COOLDOWN: {
        double start = (1.0 - c->cooldown) * epochs;
        if (e <= start || epochs <= 0) return c->lr;
        double f = (e - start) / (epochs - start);
        if (f > 1.0) f = 1.0;
        return (float)(c->lr + (c->lr_min - c->lr) * f);
    }
    case BPFREE_SCHED_MULTISTEP: {
        float lr = c->lr;
        for (int i = 0; i < 4; i++)
            if (c->milestones[i] > 0 && e >= c->milestones[i]) lr *= c->gamma;
        return lr;
    }
    case BPFREE_SCHED_NONE:
    case BPFREE_SCHED_COUNT:
        break;
    }
    return c->lr;
}
