/* model.c — building a model: its layers, tensors (parameters and fixed rule
 * state, one block each), batch buffers and workspaces, all allocated up
 * front; the shared forward passes; the model's accessors.  Epochs are in
 * train.c, gradient steps in step.c. */
#include "engine/dist.h"

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

void bp_tensor_shape(bpfree_model *m, int t, int rows) {
    if (t >= 0 && t < m->n_tensors) m->tensors[t].rows = rows;
}

int bpfree_model_tensor_count(const bpfree_model *m) { return m->n_tensors; }

float *bpfree_model_tensor(bpfree_model *m, int i, bpfree_tensor_info *info) {
    if (i < 0 || i >= m->n_tensors) return NULL;
    const bp_tensor *t = &m->tensors[i];
    if (info) {
        info->name = t->name;
        info->n = t->n;
        info->rows = t->rows > 0 ? t->rows : (int)t->n;
        info->cols = t->rows > 0 ? (int)(t->n / (size_t)t->rows) : 1;
        info->ndim = t->rows > 0 ? 2 : 1;
        info->trainable = t->trainable;
    }
    return bp_tensor_ptr(m, i);
}

float *bp_tensor_ptr(const bpfree_model *m, int t) {
    const bp_tensor *x = &m->tensors[t];
    return (x->trainable ? m->params : m->state) + x->off;
}

float *bp_tensor_grad(const bpfree_model *m, int t) {
    const bp_tensor *x = &m->tensors[t];
    return x->trainable ? m->grads + x->off : NULL;
}

int bp_max_width(const bpfree_model *m) {
    int w = m->cfg.inputs;
    for (int l = 0; l < m->n_layers; l++) {
        if (m->layers[l].out > w) w = m->layers[l].out;
        if (bp_layer_sig_cols(&m->layers[l]) > w) w = bp_layer_sig_cols(&m->layers[l]);
    }
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

static void persist_add(bpfree_model *m, void *p, void **slot, size_t bytes) {
    if (m->n_persist >= BP_MAX_PERSIST) {
        m->persist_full = 1;
        return;
    }
    m->persist[m->n_persist++] = (bp_persist_slot){p, slot, bytes};
}

void bp_scratch_state(bpfree_model *m, float **slot, size_t n) {
    bp_scratch(m, slot, n);
    persist_add(m, NULL, (void **)slot, n * sizeof(float));
}

void bp_persist(bpfree_model *m, void *p, size_t bytes) { persist_add(m, p, NULL, bytes); }

static void section(bp_section *s, int *n, int cap, const char *name, void *p, size_t bytes) {
    if (*n < cap) {
        snprintf(s[*n].name, sizeof s[*n].name, "%s", name);
        s[*n].p = p;
        s[*n].bytes = bytes;
    }
    (*n)++;
}

int bp_run_sections(bpfree_model *m, bp_section *s, int cap) {
    int n = 0;
    const size_t np = m->n_params * sizeof(float);
    section(s, &n, cap, "run.epochs", &m->epochs_done, sizeof m->epochs_done);
    section(s, &n, cap, "run.steps", &m->steps_done, sizeof m->steps_done);
    section(s, &n, cap, "run.progress", &m->prog, sizeof m->prog);
    section(s, &n, cap, "run.order", m->order, m->prog.k > 0 ? (size_t)m->order_n * sizeof(int) : 0);
    section(s, &n, cap, "run.rng", &m->rng, sizeof m->rng);
    section(s, &n, cap, "optim.clock", &m->optim, sizeof m->optim);
    section(s, &n, cap, "optim.grads", m->grads, np);
    section(s, &n, cap, "optim.m", m->opt_m, np);
    section(s, &n, cap, "optim.v", m->opt_v, m->opt_v ? np : 0);
    for (int i = 0; i < m->n_persist; i++) {
        char name[32];
        snprintf(name, sizeof name, "rule.%d", i);
        const bp_persist_slot *p = &m->persist[i];
        section(s, &n, cap, name, p->slot ? *p->slot : p->p, p->bytes);
    }
    return n <= cap ? n : -1;
}

#define SCRATCH_ALIGN ((size_t)64)

/* The layers' own workspaces (a convolution's pre-pool activations, col
 * buffer, argmax): one per layer, or — for a rule that finishes a layer
 * before the next runs (BP_CAP_LAYERWISE), not pipelined — one shared by
 * all, so its memory does not grow with depth. */
static void reserve_layer_ws(bpfree_model *m) {
    const int share = (m->rule->caps & BP_CAP_LAYERWISE) && m->cfg.pipeline < 2;
    size_t maxf = 0, maxi = 0;
    int first = -1, has[BPFREE_MAX_LAYERS] = {0};
    for (int l = 0; l < m->n_layers; l++) {
        bp_layer *L = &m->layers[l];
        size_t nf = 0, ni = 0;
        if (!L->kind->ws_size) continue;
        /* a pipeline stage runs its layers' parts inline, on one thread */
        L->ws_parts = m->cfg.pipeline >= 2 ? 1 : bp_split_width(1e18);
        L->kind->ws_size(L, m->rows, &nf, &ni);
        L->ws_rows = m->rows;
        if (!nf && !ni) continue; /* a dense layer without batch normalisation */
        has[l] = 1;
        if (!share) {
            if (nf) bp_scratch(m, &L->ws, nf);
            if (ni) bp_scratch_ints(m, &L->wsi, ni);
            continue;
        }
        if (first < 0) first = l;
        maxf = nf > maxf ? nf : maxf;
        maxi = ni > maxi ? ni : maxi;
    }
    if (first < 0) return;
    bp_scratch(m, &m->layers[first].ws, maxf);
    bp_scratch_ints(m, &m->layers[first].wsi, maxi);
    for (int l = first + 1; l < m->n_layers; l++) {
        if (!has[l]) continue;
        bp_scratch_alias(m, &m->layers[l].ws, &m->layers[first].ws);
        scratch_add(m, (void **)&m->layers[l].wsi, 0, (void **)&m->layers[first].wsi);
    }
}

/* One block for every workspace asked for; each slot points into it. */
static bpfree_status alloc_scratch(bpfree_model *m, bpfree_error *err) {
    reserve_layer_ws(m);
    if (m->scratch_full)
        return bp_fail(err, BPFREE_EINVAL, "too many workspaces (at most %d)", BP_MAX_SCRATCH);
    if (m->persist_full)
        return bp_fail(err, BPFREE_EINVAL, "too many pieces of run state (at most %d)",
                       BP_MAX_PERSIST);
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

const bpfree_config *bpfree_model_config(const bpfree_model *m) { return &m->cfg; }
const bpfree_rule_info *bpfree_model_rule(const bpfree_model *m) { return &m->rule->info; }
size_t bpfree_model_param_count(const bpfree_model *m) { return m->n_params; }
size_t bpfree_model_bytes(const bpfree_model *m) { return m->mem.cur; }
size_t bpfree_model_peak_bytes(const bpfree_model *m) { return m->mem.peak; }
int bpfree_model_epochs_done(const bpfree_model *m) { return m->epochs_done; }
long bpfree_model_batches_done(const bpfree_model *m) { return (long)m->prog.k; }
void bpfree_model_stop_flag(bpfree_model *m, const volatile sig_atomic_t *flag) { m->stop = flag; }
void bpfree_model_on_batch(bpfree_model *m, void (*fn)(void *user, int k, int nb, double loss),
                           void *user) {
    m->on_batch = fn;
    m->on_batch_user = user;
}

const char *bpfree_model_head_name(const bpfree_model *m, int h) {
    return m->rule->head_name ? m->rule->head_name(m, h) : NULL;
}

const char *bpfree_model_prediction(const bpfree_model *m) {
    return m->rule->prediction ? m->rule->prediction(&m->cfg) : NULL;
}

const char *bpfree_model_train_source(const bpfree_model *m) {
    return m->rule->train_source ? m->rule->train_source(&m->cfg) : bpfree_model_prediction(m);
}

void bpfree_model_describe(const bpfree_model *m, char *buf, size_t cap) {
    if (cap == 0) return;
    buf[0] = '\0';
    if (m->rule->describe) m->rule->describe(m, buf, cap);
}
