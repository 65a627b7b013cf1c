/* tensors.c — what every engine file reads of a model: its tensors
 * (parameters and fixed rule state), workspaces and checkpointed run state,
 * the shared forward passes and the model's accessors.  model.c builds and
 * frees the model. */
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
bpfree_status bp_scratch_alloc(bpfree_model *m, bpfree_error *err) {
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

/* ----------------------------------------------------------- accessors */

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
