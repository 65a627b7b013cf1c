/* model.c — the engine: builds a model (all memory up front), runs epochs
 * (shuffle, batch, schedule, NaN guard) and evaluates.  Which signal reaches
 * which layer is the rule's business (src/rules/). */
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- tensors */

int bp_model_reserve(bpfree_model *m, const char *name, size_t n, int trainable) {
    if (m->n_tensors >= BP_MAX_TENSORS) return -1;
    bp_tensor *t = &m->tensors[m->n_tensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n = n;
    t->trainable = trainable;
    if (trainable) {
        t->off = m->n_params;
        m->n_params += n;
    } else {
        t->off = m->n_state;
        m->n_state += n;
    }
    return m->n_tensors++;
}

float *bp_tensor_ptr(const bpfree_model *m, int t) {
    const bp_tensor *x = &m->tensors[t];
    return (x->trainable ? m->params : m->state) + x->off;
}

float *bp_tensor_grad(const bpfree_model *m, int t) {
    const bp_tensor *x = &m->tensors[t];
    return x->trainable ? m->grads + x->off : NULL;
}

static void dense_grad_step(bpfree_model *m, int l, const float *x, const float *h, float *dz,
                            int B, const bp_optim *step);

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

static void step_range_c(bpfree_model *m, const bp_optim *o, size_t off, size_t n, int consume) {
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
    float *dz;      /* written only when h != NULL: dh made dz in place */
    const float *h; /* backward_step_part: the layer's output */
    const bp_optim *step;
    int B;
    float beta;     /* 1 when gW is known zero (L->gzero), else 0 */
    int consume;    /* the step zeroes what it reads */
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
}

/* units a..b: dz = dh ⊙ f'(z), then as grad_step_part */
static void backward_step_part(void *ctx, size_t a, size_t b) {
    const grad_job *j = ctx;
    const size_t cols = (size_t)(j->L->out / j->L->units); /* a unit's columns */
    bp_act_backward_cols(j->L->act, j->h, j->dz, j->B, j->L->out, a * cols, b * cols);
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
static void dense_grad_step(bpfree_model *m, int l, const float *x, const float *h, float *dz,
                            int B, const bp_optim *step) {
    bp_layer *L = &m->layers[l];
    const int U = L->units;
    const int consume = step && !m->keep_grads;
    grad_job j = {m, L, x, dz, h, step, B, L->gzero ? 1.0f : 0.0f, consume};
    const double macs = (double)B * bp_layer_n_weights(L) * (L->out / U);
    if (U >= 2 * BP_UNIT_GRAIN && bp_split_width(macs) > 1) {
        bp_par_for((size_t)U, BP_UNIT_GRAIN, h ? backward_step_part : grad_step_part, &j);
    } else {
        if (h) bp_act_backward(L->act, h, dz, (size_t)B * L->out);
        bp_layer_grad_units(L, x, dz, B, 0, (size_t)U, j.beta);
        if (step) step_range_c(m, step, L->off, bp_layer_n_params(L), consume);
    }
    L->gzero = consume;
}

void bp_layer_grad_step(bpfree_model *m, int l, const float *x, const float *dz, int B,
                        const bp_optim *step) {
    dense_grad_step(m, l, x, NULL, (float *)dz, B, step); /* h == NULL: dz only read */
}

void bp_layer_backward_step(bpfree_model *m, int l, const float *x, const float *h, float *dh,
                            int B) {
    dense_grad_step(m, l, x, h, dh, B, &m->optim);
}

void bp_layer_step(bpfree_model *m, int l) {
    const bp_layer *L = &m->layers[l];
    step_range(m, L->off, bp_layer_n_params(L));
}

int bp_max_width(const bpfree_model *m) {
    int w = m->cfg.inputs;
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].out > w) w = m->layers[l].out;
    return w;
}

void bp_forward_all(const bpfree_model *m, const float *x, float **h, int B) {
    for (int l = 0; l < m->n_layers; l++)
        bp_layer_forward(&m->layers[l], l == 0 ? x : h[l], h[l + 1], B);
}

void bp_forward_pingpong(const bpfree_model *m, const float *x, int B, float *buf0,
                         float *buf1, float *out) {
    const float *in = x;
    for (int l = 0; l < m->n_layers; l++) {
        float *o = l == m->n_layers - 1 ? out : (l % 2 ? buf1 : buf0);
        bp_layer_forward(&m->layers[l], in, o, B);
        in = o;
    }
}

int bp_check_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* --------------------------------------------------------------- build */

static bpfree_status build_layers(bpfree_model *m, bpfree_error *err) {
    const bpfree_config *c = &m->cfg;
    int n = c->n_hidden + (m->rule->info.output_layer ? 1 : 0);
    int in = c->inputs;
    for (int l = 0; l < n; l++) {
        bp_layer *L = &m->layers[l];
        int hidden = l < c->n_hidden;
        bp_dense_setup(L, in, hidden ? c->hidden[l] : c->outputs,
                       hidden ? c->act : BPFREE_ACT_IDENTITY);
        char name[32];
        snprintf(name, sizeof name, "W%d", l + 1);
        int tw = bp_model_reserve(m, name, bp_layer_n_weights(L), 1);
        snprintf(name, sizeof name, "b%d", l + 1);
        int tb = bp_model_reserve(m, name, (size_t)L->units, 1);
        if (tw < 0 || tb < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
        L->off = m->tensors[tw].off;
        in = L->out;
    }
    m->n_layers = n;
    return BPFREE_OK;
}

static bpfree_status alloc_blocks(bpfree_model *m, bpfree_error *err) {
    size_t np = m->n_params ? m->n_params : 1, ns = m->n_state ? m->n_state : 1;
    if (!(m->params = bp_alloc_floats(&m->mem, np, "parameters", err)) ||
        !(m->grads = bp_alloc_floats(&m->mem, np, "gradients", err)) ||
        !(m->opt_m = bp_alloc_floats(&m->mem, np, "optimizer state", err)) ||
        !(m->state = bp_alloc_floats(&m->mem, ns, "rule state", err)))
        return BPFREE_ENOMEM;
    if (m->cfg.optim.kind == BPFREE_OPTIM_ADAM &&
        !(m->opt_v = bp_alloc_floats(&m->mem, np, "Adam second moments", err)))
        return BPFREE_ENOMEM;
    for (int l = 0; l < m->n_layers; l++) {
        bp_layer *L = &m->layers[l];
        size_t nw = bp_layer_n_weights(L);
        L->W = m->params + L->off;
        L->b = L->W + nw;
        L->gW = m->grads + L->off;
        L->gb = L->gW + nw;
    }
    return BPFREE_OK;
}

static void init_layers(bpfree_model *m) {
    for (int l = 0; l < m->n_layers; l++) {
        bp_layer *L = &m->layers[l];
        L->kind->init(L, &m->rng, L->W, L->b, m->cfg.init, m->cfg.init_std);
    }
}

static bpfree_status alloc_batch(bpfree_model *m, bpfree_error *err) {
    const int D = m->cfg.inputs, C = m->cfg.outputs;
    m->batch = m->cfg.batch;
    m->rows = m->batch > BP_PREDICT_ROWS ? m->batch : BP_PREDICT_ROWS;
    const int B = m->rows;
    if (!(m->xb = bp_alloc_floats(&m->mem, (size_t)B * D, "batch inputs", err)) ||
        !(m->yb = bp_alloc_floats(&m->mem, (size_t)B * C, "batch targets", err)) ||
        !(m->scores = bp_alloc_floats(&m->mem, (size_t)B * C, "scores", err)))
        return BPFREE_ENOMEM;
    m->lb = bp_alloc(&m->mem, (size_t)B * sizeof(int));
    m->ib = bp_alloc(&m->mem, (size_t)B * sizeof(int));
    if (!m->lb || !m->ib) return bp_fail(err, BPFREE_ENOMEM, "out of memory (batch labels)");
    int nh = m->rule->n_heads ? m->rule->n_heads(m) : 0;
    if (nh > 0 && !(m->heads = bp_alloc_floats(&m->mem, (size_t)nh * B * C, "head scores", err)))
        return BPFREE_ENOMEM;
    return BPFREE_OK;
}

/* ---------------------------------------------------------- workspaces */

static void scratch_add(bpfree_model *m, void **slot, size_t bytes, void **alias) {
    if (m->n_scratch >= BP_MAX_SCRATCH) {
        m->scratch_full = 1;
        return;
    }
    m->scratch[m->n_scratch++] = (bp_scratch_slot){slot, bytes, alias};
}

void bp_scratch(bpfree_model *m, float **slot, size_t n) {
    scratch_add(m, (void **)slot, n * sizeof(float), NULL);
}

void bp_scratch_ints(bpfree_model *m, int **slot, size_t n) {
    scratch_add(m, (void **)slot, n * sizeof(int), NULL);
}

void bp_scratch_alias(bpfree_model *m, float **slot, float **of) {
    scratch_add(m, (void **)slot, 0, (void **)of);
}

#define SCRATCH_ALIGN ((size_t)64)

/* One block for every workspace asked for; each slot points into it. */
static bpfree_status alloc_scratch(bpfree_model *m, bpfree_error *err) {
    if (m->scratch_full)
        return bp_fail(err, BPFREE_EINVAL, "too many workspaces (at most %d)", BP_MAX_SCRATCH);
    size_t total = 0;
    for (int i = 0; i < m->n_scratch; i++)
        total += (m->scratch[i].bytes + SCRATCH_ALIGN - 1) & ~(SCRATCH_ALIGN - 1);
    if (total && !(m->scratch_block = bp_alloc(&m->mem, total)))
        return bp_fail(err, BPFREE_ENOMEM, "out of memory (workspaces, %.1f MiB)",
                       (double)total / 1048576.0);
    char *p = m->scratch_block;
    for (int i = 0; i < m->n_scratch; i++) {
        const bp_scratch_slot *s = &m->scratch[i];
        if (s->alias) continue;
        *s->slot = s->bytes ? p : NULL;
        p += (s->bytes + SCRATCH_ALIGN - 1) & ~(SCRATCH_ALIGN - 1);
    }
    for (int i = 0; i < m->n_scratch; i++) /* after every workspace has its place */
        if (m->scratch[i].alias) *m->scratch[i].slot = *m->scratch[i].alias;
    return BPFREE_OK;
}

bpfree_status bp_model_build(const bp_rule *r, const bpfree_config *cfg, bpfree_model **out,
                             bpfree_error *err) {
    *out = NULL;
    bpfree_status st;
    bp_mem mem;
    bp_mem_init(&mem);
    bpfree_model *m = bp_alloc(&mem, sizeof *m);
    if (!m) return bp_fail(err, BPFREE_ENOMEM, "out of memory (model)");
    m->mem = mem;
    m->cfg = *cfg;
    m->rule = r;
    m->optim.cfg = cfg->optim;
    bp_rng_seed(&m->rng, cfg->seed);
    bpfree_set_threading(cfg->threading);
    bpfree_set_threads(cfg->threads);
    if (r->state_size && !(m->rs = bp_alloc(&m->mem, r->state_size))) {
        bpfree_model_free(m);
        return bp_fail(err, BPFREE_ENOMEM, "out of memory (%s state)", r->info.name);
    }
    if ((st = build_layers(m, err)) || (m->rule->reserve && (st = m->rule->reserve(m, err))) ||
        (st = alloc_blocks(m, err))) {
        bpfree_model_free(m);
        return st;
    }
    init_layers(m);
    if ((st = alloc_batch(m, err)) || (st = m->rule->init(m, err)) || (st = bp_diag_init(m, err)) ||
        (st = alloc_scratch(m, err))) {
        bpfree_model_free(m);
        return st;
    }
    *out = m;
    return BPFREE_OK;
}

void bpfree_model_free(bpfree_model *m) {
    if (!m) return;
    bp_diag_free(m);
    bp_pipe_free(m);
    if (m->rule && m->rule->free) m->rule->free(m);
    bp_mem *mm = &m->mem;
    void *bufs[] = {m->params, m->grads, m->opt_m, m->opt_v, m->state, m->xb, m->yb,
                    m->scores, m->heads, m->lb, m->ib, m->order, m->scratch_block, m->rs};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(mm, bufs[i]);
    bp_mem mem = *mm;
    bp_free(&mem, m);
}

const bpfree_config *bpfree_model_config(const bpfree_model *m) { return &m->cfg; }
const bpfree_rule_info *bpfree_model_rule(const bpfree_model *m) { return &m->rule->info; }
size_t bpfree_model_param_count(const bpfree_model *m) { return m->n_params; }
size_t bpfree_model_bytes(const bpfree_model *m) { return m->mem.cur; }
size_t bpfree_model_peak_bytes(const bpfree_model *m) { return m->mem.peak; }
int bpfree_model_epochs_done(const bpfree_model *m) { return m->epochs_done; }

const char *bpfree_model_head_name(const bpfree_model *m, int h) {
    return m->rule->head_name ? m->rule->head_name(m, h) : NULL;
}

const char *bpfree_model_prediction(const bpfree_model *m) {
    return m->rule->prediction ? m->rule->prediction(&m->cfg) : NULL;
}

void bpfree_model_describe(const bpfree_model *m, char *buf, size_t cap) {
    if (cap == 0) return;
    buf[0] = '\0';
    if (m->rule->describe) m->rule->describe(m, buf, cap);
}

/* ------------------------------------------------------------ training */

/* Copy rows order[0..B) of ds into the batch buffers; targets as one-hot
 * rows for classification, or ds->y for regression. */
void bp_gather(const bpfree_model *m, const bpfree_dataset *ds, const int *order, int B,
               float *x, float *y, int *lb, int *ib) {
    const int D = m->cfg.inputs, C = m->cfg.outputs;
    memset(y, 0, (size_t)B * C * sizeof(float));
    for (int r = 0; r < B; r++) {
        int i = order[r];
        memcpy(x + (size_t)r * D, ds->x + (size_t)i * D, (size_t)D * sizeof(float));
        if (ib) ib[r] = ds->index ? ds->index[i] : i;
        lb[r] = ds->labels ? ds->labels[i] : -1;
        if (ds->y) memcpy(y + (size_t)r * C, ds->y + (size_t)i * C, (size_t)C * sizeof(float));
        else if (ds->labels) y[(size_t)r * C + ds->labels[i]] = 1.0f;
    }
}

static void gather(bpfree_model *m, const bpfree_dataset *ds, const int *order, int B) {
    bp_gather(m, ds, order, B, m->xb, m->yb, m->lb, m->ib);
}

float bp_batch_lr(const bpfree_model *m, int k, int nb) {
    const int epoch = m->epochs_done, g = m->cfg.greedy_epochs;
    const double e = g > 0 ? (double)(epoch % g) + (double)k / nb : (double)epoch + (double)k / nb;
    const int total = g > 0 ? g : m->cfg.epochs;
    return bp_sched_lr(&m->cfg.optim, e, total);
}

static bpfree_status check_data(const bpfree_model *m, const bpfree_dataset *ds,
                                bpfree_error *err) {
    if (!ds || ds->n <= 0 || !ds->x)
        return bp_fail(err, BPFREE_EINVAL, "dataset '%s' is empty", ds ? ds->name : "(null)");
    if (ds->dim != m->cfg.inputs)
        return bp_fail(err, BPFREE_ESHAPE,
                       "dataset '%s' has %d input features, the model expects %d", ds->name,
                       ds->dim, m->cfg.inputs);
    if (ds->y ? ds->outputs != m->cfg.outputs : ds->classes > m->cfg.outputs)
        return bp_fail(err, BPFREE_ESHAPE, "dataset '%s' has %d %s, the model has %d outputs",
                       ds->name, ds->y ? ds->outputs : ds->classes,
                       ds->y ? "targets" : "classes", m->cfg.outputs);
    if (!ds->y && !ds->labels)
        return bp_fail(err, BPFREE_EINVAL, "dataset '%s' has neither labels nor targets",
                       ds->name);
    return BPFREE_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* pipelined epochs: asked for, offered by the rule, and not layer by layer */
static int pipelined(const bpfree_model *m) {
    return m->cfg.pipeline >= 2 && m->rule->pipe_layer && m->cfg.greedy_epochs == 0;
}

/* The epoch's nb batches one after another (m->order holds the order). */
static bpfree_status batches_in_turn(bpfree_model *m, const bpfree_dataset *train, int nb,
                                     double *loss_sum, long *correct, float *lr,
                                     bpfree_error *err) {
    const int n = train->n, B = m->batch, epoch = m->epochs_done;
    for (int k = 0; k < nb; k++) {
        int b0 = k * B, rows = n - b0 < B ? n - b0 : B;
        gather(m, train, m->order + b0, rows);
        *lr = bp_batch_lr(m, k, nb);
        bp_optim_begin_step(&m->optim, *lr);
        double l = 0.0;
        int measured = bp_diag_before(m, k, rows);
        bpfree_status st = m->rule->train_batch(m, rows, &l, correct);
        if (st)
            return bp_fail(err, st, "rule '%s' failed at epoch %d, batch %d", m->cfg.rule,
                           epoch + 1, k + 1);
        if (!isfinite(l))
            return bp_fail(err, BPFREE_ENAN,
                           "the training loss became %s at epoch %d, batch %d of %d "
                           "(rule %s, lr %g) — try a smaller learning rate",
                           isnan(l) ? "NaN" : "infinite", epoch + 1, k + 1, nb, m->cfg.rule,
                           (double)*lr);
        if (measured) bp_diag_after(m);
        *loss_sum += l;
        m->steps_done++;
    }
    return BPFREE_OK;
}

/* The same batches with the layers pipelined (src/core/pipeline.c). */
static bpfree_status batches_pipelined(bpfree_model *m, const bpfree_dataset *train, int nb,
                                       double *loss_sum, long *correct, float *lr,
                                       bpfree_error *err) {
    bpfree_set_threads(1); /* one BLAS thread per pipeline stage */
    bpfree_status st = bp_pipe_epoch(m, train, nb, loss_sum, correct, lr, err);
    bpfree_set_threads(m->cfg.threads);
    if (st) return st;
    if (!isfinite(*loss_sum))
        return bp_fail(err, BPFREE_ENAN,
                       "the training loss became %s during epoch %d (rule %s, lr %g, "
                       "pipelined) — try a smaller learning rate",
                       isnan(*loss_sum) ? "NaN" : "infinite", m->epochs_done + 1, m->cfg.rule,
                       (double)*lr);
    m->steps_done += nb;
    return BPFREE_OK;
}

bpfree_status bpfree_train_epoch(bpfree_model *m, const bpfree_dataset *train,
                                 bpfree_epoch_stats *stats, bpfree_error *err) {
    bpfree_status st = check_data(m, train, err);
    if (st) return st;
    const int n = train->n, B = m->batch, epoch = m->epochs_done;
    if (m->order_n != n) {
        bp_free(&m->mem, m->order);
        m->order = bp_alloc(&m->mem, (size_t)n * sizeof(int));
        if (!m->order) return bp_fail(err, BPFREE_ENOMEM, "out of memory (sample order)");
        m->order_n = n;
    }
    if (m->rule->begin_epoch && (st = m->rule->begin_epoch(m, train, err))) return st;
    for (int i = 0; i < n; i++) m->order[i] = i;
    /* greedy layer-wise training: each layer starts a fresh optimizer clock,
     * as it would with an optimizer of its own */
    if (m->cfg.greedy_epochs > 0 && epoch % m->cfg.greedy_epochs == 0) m->optim.t = 0;
    bp_rng_shuffle(&m->rng, m->order, n);

    double t0 = now_seconds(), loss_sum = 0.0;
    long correct = 0;
    int nb = (n + B - 1) / B;
    float lr = m->cfg.optim.lr;
    st = pipelined(m) ? batches_pipelined(m, train, nb, &loss_sum, &correct, &lr, err)
                      : batches_in_turn(m, train, nb, &loss_sum, &correct, &lr, err);
    if (st) return st;
    double dt = now_seconds() - t0;
    /* a NaN can hide from the loss (e.g. behind a saturated unit): check the
     * parameters once per epoch too */
    if (!bp_check_finite(m->params, m->n_params))
        return bp_fail(err, BPFREE_ENAN,
                       "the parameters became non-finite during epoch %d (rule %s, lr %g) — "
                       "check the data for NaN, or try a smaller learning rate",
                       epoch + 1, m->cfg.rule, (double)lr);
    m->epochs_done++;
    if (stats) {
        stats->epoch = epoch;
        stats->train_loss = loss_sum / nb;
        stats->train_acc = train->labels ? (double)correct / n : 0.0;
        stats->seconds = dt;
        stats->samples_per_s = dt > 0 ? n / dt : 0.0;
        stats->lr = lr;
        stats->active_layer = m->cfg.greedy_epochs > 0 ? epoch / m->cfg.greedy_epochs : -1;
    }
    bp_diag_epoch(m, stats);
    return BPFREE_OK;
}

/* ---------------------------------------------------------- evaluation */

bpfree_status bpfree_predict(bpfree_model *m, const float *x, int n, float *scores,
                             bpfree_error *err) {
    if (n < 0 || !x || !scores) return bp_fail(err, BPFREE_EINVAL, "bad predict arguments");
    const int D = m->cfg.inputs, C = m->cfg.outputs;
    for (int b0 = 0; b0 < n; b0 += m->rows) {
        int rows = n - b0 < m->rows ? n - b0 : m->rows;
        m->rule->predict(m, x + (size_t)b0 * D, rows, scores + (size_t)b0 * C, NULL);
    }
    return BPFREE_OK;
}

bpfree_status bpfree_evaluate(bpfree_model *m, const bpfree_dataset *ds, bpfree_eval *out,
                              bpfree_error *err) {
    bpfree_status st = check_data(m, ds, err);
    if (st) return st;
    const int B = m->rows, C = m->cfg.outputs;
    const int nh = m->rule->n_heads ? m->rule->n_heads(m) : 0;
    long correct = 0, head_correct[BPFREE_MAX_LAYERS] = {0};
    double loss = 0.0;
    for (int b0 = 0; b0 < ds->n; b0 += B) {
        int rows = ds->n - b0 < B ? ds->n - b0 : B;
        /* gather keeps targets and labels in step; the order is the identity */
        for (int r = 0; r < rows; r++) m->ib[r] = b0 + r;
        int *ord = m->ib;
        gather(m, ds, ord, rows);
        m->rule->predict(m, m->xb, rows, m->scores, nh ? m->heads : NULL);
        loss += bp_loss(m->cfg.loss, m->scores, m->yb, rows, C, NULL) * rows;
        if (ds->labels) {
            correct += bp_count_correct(m->scores, m->lb, rows, C);
            for (int h = 0; h < nh; h++)
                head_correct[h] += bp_count_correct(m->heads + (size_t)h * B * C, m->lb, rows, C);
        }
    }
    memset(out, 0, sizeof *out);
    out->loss = loss / ds->n;
    out->acc = (double)correct / ds->n;
    out->n_heads = nh;
    for (int h = 0; h < nh; h++) out->head_acc[h] = (double)head_correct[h] / ds->n;
    if (!isfinite(out->loss))
        return bp_fail(err, BPFREE_ENAN, "evaluation on '%s' gave a non-finite loss", ds->name);
    return BPFREE_OK;
}
