/* model.c — building a model: its layers, tensors (parameters and fixed rule
 * state, one block each), batch buffers and workspaces, all allocated up
 * front; its distribution over processes; freeing it.  What every engine
 * file reads of a model (tensors, workspaces, the shared forward passes,
 * accessors) is in tensors.c, epochs in train.c, gradient steps in step.c. */
#include "engine/dist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* --------------------------------------------------------------- build */

/* the hidden layers of cfg.arch (checked: it parses and fits) */
static void arch_layers(bpfree_model *m) {
    const bpfree_config *c = &m->cfg;
    bp_arch_layer s[BPFREE_MAX_LAYERS];
    bp_geom g[BPFREE_MAX_LAYERS];
    int out[BPFREE_MAX_LAYERS], in = c->inputs;
    char why[256];
    const int n = bp_arch_parse(c->arch, s, BPFREE_MAX_LAYERS - 1, why, sizeof why);
    bp_arch_shapes(s, n, c->in_channels ? c->in_channels : c->inputs,
                   c->in_channels ? c->in_height : 1, c->in_channels ? c->in_width : 1, g, out,
                   why, sizeof why);
    for (int l = 0; l < n; l++) {
        if (s[l].lc) bp_lc_setup(&m->layers[l], &g[l], c->act);
        else if (s[l].conv) bp_conv_setup(&m->layers[l], &g[l], c->act);
        else bp_dense_setup(&m->layers[l], in, out[l], c->act);
        m->layers[l].bn = s[l].bn;
        /* --feedback-point pre-pool: direct signals meet a pooled block
         * before its pooling (only rules with BP_CAP_DIRECT accept it) */
        m->layers[l].sig_pre = c->feedback_point == BPFREE_FBPOINT_PREPOOL &&
                               m->layers[l].g.pool != 0; /* (a dense layer's g is zero) */
        in = out[l];
    }
}

/* batch normalisation's tensors of layer l, right after its W and b: gamma
 * and beta (trainable: W, b, gamma, beta stay one range of the parameter
 * block, bp_layer_n_params), the running mean and variance (state) */
static int bn_tensors(bpfree_model *m, int l) {
    if (!m->layers[l].bn) return 0;
    static const char *const names[4] = {"gamma", "beta", "rmean", "rvar"};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", names[i], l + 1);
        if (bp_model_reserve(m, name, (size_t)m->layers[l].units, i < 2) < 0) return -1;
    }
    return 0;
}

/* layer l's batch-normalisation pointers: gamma, beta after b (one range
 * with W and b), the running mean then variance (reserved one after the
 * other by bn_tensors, so one lookup finds both) */
static void bn_pointers(bpfree_model *m, int l) {
    bp_layer *L = &m->layers[l];
    char name[32];
    L->gamma = L->b + L->units;
    L->beta = L->gamma + L->units;
    L->ggamma = L->gb + L->units;
    L->gbeta = L->ggamma + L->units;
    snprintf(name, sizeof name, "rmean%d", l + 1);
    for (int t = 0; t < m->n_tensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0) L->rmean = bp_tensor_ptr(m, t);
    L->rvar = L->rmean + L->units;
}

static bpfree_status build_layers(bpfree_model *m, bpfree_error *err) {
    const bpfree_config *c = &m->cfg;
    int n = c->n_hidden + (m->rule->info.output_layer ? 1 : 0);
    int in = c->inputs;
    if (c->arch[0]) arch_layers(m);
    for (int l = 0; l < n; l++) {
        bp_layer *L = &m->layers[l];
        int hidden = l < c->n_hidden;
        if (!c->arch[0] || !hidden)
            bp_dense_setup(L, in, hidden ? c->hidden[l] : c->outputs,
                           hidden ? c->act : BPFREE_ACT_IDENTITY);
        char name[32];
        snprintf(name, sizeof name, "W%d", l + 1);
        int tw = bp_model_reserve(m, name, bp_layer_n_weights(L), 1);
        snprintf(name, sizeof name, "b%d", l + 1);
        int tb = bp_model_reserve(m, name, (size_t)L->units, 1);
        bp_tensor_shape(m, tw, L->units);
        if (tw < 0 || tb < 0 || bn_tensors(m, l) < 0)
            return bp_fail(err, BPFREE_EINVAL, "too many tensors");
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
        if (L->bn) bn_pointers(m, l);
    }
    return BPFREE_OK;
}

static void init_layers(bpfree_model *m) {
    for (int l = 0; l < m->n_layers; l++) {
        bp_layer *L = &m->layers[l];
        bp_layer_init(L, &m->rng, L->W, L->b, m->cfg.init, m->cfg.init_std);
        if (L->bn) bp_bn_init(L);
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


bpfree_status bp_model_count(const bp_rule *r, const bpfree_config *cfg, size_t *n_params,
                             size_t *n_state, double *batch_bytes, bpfree_error *err) {
    bpfree_model *m = bp_alloc(NULL, sizeof *m);
    if (!m) return bp_fail(err, BPFREE_ENOMEM, "out of memory (model)");
    void *rs = r->state_size ? bp_alloc(NULL, r->state_size) : NULL;
    bpfree_status st = BPFREE_OK;
    if (r->state_size && !rs) st = bp_fail(err, BPFREE_ENOMEM, "out of memory (rule state)");
    m->cfg = *cfg;
    m->rule = r;
    m->rs = rs;
    m->batch = cfg->batch;
    m->rows = m->batch > BP_PREDICT_ROWS ? m->batch : BP_PREDICT_ROWS;
    if (!st && !(st = build_layers(m, err)) && r->reserve) st = r->reserve(m, err);
    *n_params = m->n_params;
    *n_state = m->n_state;
    double w = (double)cfg->inputs + cfg->outputs;
    for (int l = 0; l < m->n_layers; l++) w += m->layers[l].out;
    *batch_bytes = (double)m->rows * w * sizeof(float);
    bp_free(NULL, rs);
    bp_free(NULL, m);
    return st;
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
        (st = bp_scratch_alloc(m, err))) {
        bpfree_model_free(m);
        return st;
    }
    *out = m;
    return BPFREE_OK;
}

bpfree_status bpfree_model_set_dist(bpfree_model *m, const bpfree_dist *d, bpfree_error *err) {
    bp_dist_free(m);
    bp_dlay_free(m);
    if (!d || d->size == 1) return BPFREE_OK; /* one process: nothing to combine */
    if (d->mode != BPFREE_DIST_LAYERS) return bp_dist_attach(m, d, err);
    if (d->rank < 0 || d->rank >= d->size || !d->sum_floats || !d->sum_doubles || !d->gather)
        return bp_fail(err, BPFREE_EINVAL, "layer-parallel: bad rank %d of %d or a missing "
                       "function", d->rank, d->size);
    return bp_dlay_attach(m, d, err);
}

void bpfree_model_free(bpfree_model *m) {
    if (!m) return;
    bp_diag_free(m);
    bp_pipe_free(m);
    bp_dlay_free(m);
    if (m->rule && m->rule->free) m->rule->free(m);
    bp_mem *mm = &m->mem;
    void *bufs[] = {m->params, m->grads, m->opt_m, m->opt_v, m->state, m->xb, m->yb,
                    m->scores, m->heads, m->lb, m->ib, m->order, m->scratch_block, m->rs, m->dist,
                    m->data.col_mean, m->data.col_std, m->data.tcol_mean, m->data.tcol_std};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(mm, bufs[i]);
    bp_mem mem = *mm;
    bp_free(&mem, m);
}

