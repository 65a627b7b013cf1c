/* step.c — a layer's gradient and its optimizer step, fused: with
 * BPFREE_THREADING_SPLIT each thread does a range of units, product and
 * step, while its gradient rows are in its cache; and the steps of tensors
 * and parameter ranges. */
#include "engine/dist.h"

static void layer_grad_step(bpfree_model *m, int l, const float *x, const float *h, float *dz,
                            int B, const bp_optim *step, int sig);

typedef struct {
    bpfree_model *m;
    const bp_optim *o;
    size_t off;
    int consume; /* zero the gradient as it is read (bp_optim_step_consume) */
} step_job;

static void optim_step(const bp_optim *o, int consume, bpfree_model *m, size_t off, size_t n) {
    float *v = m->opt_v ? m->opt_v + off : NULL;
    if (consume) bp_optim_step_consume(o, m->params + off, m->grads + off, m->opt_m + off, v, n);
    else bp_optim_step(o, m->params + off, m->grads + off, m->opt_m + off, v, n);
}

static void step_part(void *ctx, size_t a, size_t b) {
    const step_job *j = ctx;
    optim_step(j->o, j->consume, j->m, j->off + a, b - a);
}

/* floats below which a step is not worth splitting over threads */
#define STEP_GRAIN ((size_t)1 << 15)

/* --grad-noise V: g += N(0, V mean(g^2)) over this range (a layer's W and
 * b, or a tensor), from the model's generator on the calling thread, so
 * the same seed and threads give the same noise (Bacho & Chu 2024 Fig. 7:
 * BP's gradient made as noisy as a forward gradient's). */
static void grad_noise(bpfree_model *m, float *g, size_t n) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    const float sd = (float)sqrt((double)m->cfg.grad_noise * ss / (double)n);
    if (!(sd > 0.0f)) return;
    float z[256];
    for (size_t i = 0; i < n; i += 256) {
        const size_t k = n - i < 256 ? n - i : 256;
        bp_normal_fill(&m->rng, z, k);
        for (size_t j = 0; j < k; j++) g[i + j] += sd * z[j];
    }
}

/* The one place every step of the model's parameters passes (bp_step_range,
 * bp_tensor_step, bp_layer_step, a layer's unfused gradient and step):
 * data-parallel ranks combine the gradient here, on the calling thread,
 * and --grad-noise adds its noise to the combined gradient. */
static void step_range_c(bpfree_model *m, const bp_optim *o, size_t off, size_t n, int consume) {
    bp_dist_mean(m, m->grads + off, n);
    if (m->cfg.grad_noise > 0.0f && n) grad_noise(m, m->grads + off, n);
    step_job j = {m, o, off, consume};
    bp_par_for(n, STEP_GRAIN, step_part, &j);
}

void bp_step_range(bpfree_model *m, const bp_optim *o, size_t off, size_t n) {
    step_range_c(m, o, off, n, 0);
}

static void step_range(bpfree_model *m, size_t off, size_t n) {
    bp_step_range(m, &m->optim, off, n);
}

void bp_tensor_step(bpfree_model *m, int t) {
    if (m->tensors[t].trainable) step_range(m, m->tensors[t].off, m->tensors[t].n);
}

typedef struct {
    bpfree_model *m;
    const bp_layer *L;
    const float *x;
    float *dh;      /* backward_step_part: the signal at the layer's output */
    float *dz;      /* the pre-activation gradient (== dh for a dense layer) */
    const float *h; /* backward_step_part: the layer's output */
    const bp_optim *step;
    int B;
    float beta;     /* 1 when gW is known zero (L->gzero), else 0 */
    int consume;    /* the step zeroes what it reads */
    int sig;        /* dh is a direct signal at the layer's signal point */
} grad_job;

/* units a..b: gW[a:b] = dz[:, a:b]^T x, gb[a:b], then their step */
static void grad_step_part(void *ctx, size_t a, size_t b) {
    const grad_job *j = ctx;
    const bp_layer *L = j->L;
    const size_t U = L->unit_w;
    bp_layer_grad_units(L, j->x, j->dz, j->B, a, b, j->beta);
    if (!j->step) return;
    optim_step(j->step, j->consume, j->m, L->off + a * U, (b - a) * U);
    optim_step(j->step, j->consume, j->m, L->off + bp_layer_n_weights(L) + a, b - a);
    if (L->bn) /* gamma[a:b], beta[a:b]: output_grad wrote their gradients */
        for (size_t k = 2; k <= 3; k++)
            optim_step(j->step, j->consume, j->m, L->off + bp_layer_n_weights(L) +
                       (k - 1) * (size_t)L->units + a, b - a);
}

/* units a..b: their dz from dh (dense: dh ⊙ f'(z) in place), then as
 * grad_step_part */
static void backward_step_part(void *ctx, size_t a, size_t b) {
    const grad_job *j = ctx;
    if (j->sig) bp_layer_sig_grad(j->L, j->h, j->dh, j->dz, j->B, a, b);
    else j->L->kind->output_grad(j->L, j->h, j->dh, j->dz, j->B, a, b);
    grad_step_part(ctx, a, b);
}

/* gW = dz^T x and gb = sum_b dz of layer l, then (if step) the optimizer
 * step of W and b with that clock — one call for "gradient, then step";
 * h != NULL: dz = dh ⊙ f'(z) first, in place.
 * With BPFREE_THREADING_SPLIT each thread does a range of units, product
 * and step, so its gradient rows are still in its cache when it steps them.
 * (On one thread, computing gW in row blocks and stepping each block while
 * it is in cache was tried: the smaller products cost more than the traffic
 * saved — bp batch 256 went from 4.8 to 5.3 s per epoch.)
 * The step consumes the gradient (zeroes it as it reads it) unless the
 * model keeps its gradients (diagnostics, tests); the next product then
 * accumulates into the zeros (beta = 1), bit for bit what beta = 0 gives,
 * without OpenBLAS's separate pass that clears C. */
static void layer_grad_step(bpfree_model *m, int l, const float *x, const float *h, float *dh,
                            int B, const bp_optim *step, int sig) {
    bp_layer *L = &m->layers[l];
    const int U = L->units;
    const int consume = step && !m->keep_grads;
    float *dz = !h ? dh : sig ? bp_layer_sig_dz(L, dh) : bp_layer_dz(L, dh);
    grad_job j = {m, L, x, dh, dz, h, step, B, L->gzero ? 1.0f : 0.0f, consume, sig};
    const double macs = (double)B * bp_layer_n_weights(L) * (L->zcols / U);
    /* fused per range of units on the pool's threads — unless the ranks must
     * combine the whole gradient before the step (data-parallel) or noise is
     * added to it (--grad-noise: over the whole layer, in one order) */
    if (!m->dist && !(m->cfg.grad_noise > 0.0f) && L->kind->split_units && U >= 2 * BP_UNIT_GRAIN && bp_split_width(macs) > 1) {
        bp_par_for((size_t)U, BP_UNIT_GRAIN, h ? backward_step_part : grad_step_part, &j);
    } else {
        if (h && sig) bp_layer_sig_grad(L, h, dh, dz, B, 0, (size_t)U);
        else if (h) L->kind->output_grad(L, h, dh, dz, B, 0, (size_t)U);
        bp_layer_grad_units(L, x, dz, B, 0, (size_t)U, j.beta);
        if (step) step_range_c(m, step, L->off, bp_layer_n_params(L), consume);
    }
    L->gzero = consume;
}

void bp_layer_grad_step(bpfree_model *m, int l, const float *x, const float *dz, int B,
                        const bp_optim *step) {
    layer_grad_step(m, l, x, NULL, (float *)dz, B, step, 0); /* h == NULL: dz only read */
}

void bp_layer_backward_step(bpfree_model *m, int l, const float *x, const float *h, float *dh,
                            int B) {
    layer_grad_step(m, l, x, h, dh, B, &m->optim, 0);
}

void bp_layer_backward_step_with(bpfree_model *m, int l, const float *x, const float *h,
                                 float *dh, int B, const bp_optim *o) {
    layer_grad_step(m, l, x, h, dh, B, o, 0);
}

void bp_layer_signal_step(bpfree_model *m, int l, const float *x, const float *h, float *sig,
                          int B, const bp_optim *o) {
    layer_grad_step(m, l, x, h, sig, B, o ? o : &m->optim, 1);
}

void bp_layer_step(bpfree_model *m, int l) {
    const bp_layer *L = &m->layers[l];
    step_range(m, L->off, bp_layer_n_params(L));
}
