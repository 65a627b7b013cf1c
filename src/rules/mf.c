/* mf.c — Mono-Forward (Gong, Li, Abdulla; paper 003, Algorithm 1, eqs. 5–8).
 *
 * Every hidden layer i has a projection M_i (C, n_i), no bias.  Its goodness
 *     G_i = a_i M_i^T                    (eq. 5)     (B, C)
 * feeds a local softmax cross-entropy L_i (eq. 6).  W_i, b_i (eq. 7) and M_i
 * (eq. 8) are updated from L_i alone, as soon as layer i's forward is done;
 * a_i — computed before the update, as Algorithm 1 line 10 passes it — then
 * goes to layer i+1.  No gradient crosses layers, so only one layer's input
 * and output are alive at a time: memory does not grow with depth.
 *
 * There is no separate output layer: the last layer's M is the classifier.
 * The raw input has no projection of its own (003 does not say; bpfree's
 * choice).  Prediction: FF = sum of all G_i ("FF pred"), BP = last G only. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* one thread's scratch for running layers */
typedef struct mf_work {
    float *a[2];   /* activation ping-pong (B, max width) */
    float *da;     /* dL_i/da_i (B, max width) */
    float *G, *dG; /* (B, C) */
} mf_work;

/* hand-over from pipeline stage s to s+1: one batch's boundary activation,
 * its targets and the running sum of goodness (FF prediction) */
typedef struct mf_slot {
    float *a, *y, *scores;
    int *lb;
    int full;
} mf_slot;

#define MF_MAX_STAGES 8

typedef struct mf_pipe {
    int S, l0[MF_MAX_STAGES], l1[MF_MAX_STAGES];
    mf_work w[MF_MAX_STAGES];
    float *x0;                        /* stage 0's gathered batch (B, D) */
    mf_slot slot[MF_MAX_STAGES][2];   /* ring s: stage s -> s+1, two batches */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int abort; /* a stage could not start: the others stop */
    /* one epoch's job */
    bpfree_model *m;
    const bpfree_dataset *train;
    int nb;
    bp_optim opt[MF_MAX_STAGES];      /* each stage's optimizer clock */
    double loss;
    long correct;
} mf_pipe;

typedef struct mf_state {
    mf_work w;
    int M[BPFREE_MAX_LAYERS];
    mf_pipe *pipe; /* built at the first pipelined epoch */
} mf_state;

static void mf_defaults(bpfree_config *c) { (void)c; }

static int mf_n_heads(const bpfree_model *m) { return m->cfg.n_hidden; }

static bpfree_status mf_reserve(bpfree_model *m, bpfree_error *err) {
    mf_state *s = bp_alloc(&m->mem, sizeof *s);
    if (!s) return bp_fail(err, BPFREE_ENOMEM, "out of memory (mf state)");
    m->rs = s;
    for (int i = 0; i < m->cfg.n_hidden; i++) {
        char name[32];
        snprintf(name, sizeof name, "M%d", i + 1);
        s->M[i] = bp_model_reserve(m, name, (size_t)m->cfg.outputs * m->cfg.hidden[i], 1);
        if (s->M[i] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

static bpfree_status work_alloc(bpfree_model *m, mf_work *w, bpfree_error *err) {
    const size_t B = (size_t)m->batch, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    if (!(w->a[0] = bp_alloc_floats(&m->mem, B * W, "activations", err)) ||
        !(w->a[1] = bp_alloc_floats(&m->mem, B * W, "activations", err)) ||
        !(w->da = bp_alloc_floats(&m->mem, B * W, "layer signal", err)) ||
        !(w->G = bp_alloc_floats(&m->mem, B * C, "goodness", err)) ||
        !(w->dG = bp_alloc_floats(&m->mem, B * C, "goodness gradient", err)))
        return BPFREE_ENOMEM;
    return BPFREE_OK;
}

static void work_free(bpfree_model *m, mf_work *w) {
    void *bufs[] = {w->a[0], w->a[1], w->da, w->G, w->dG};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(&m->mem, bufs[i]);
}

static bpfree_status mf_init(bpfree_model *m, bpfree_error *err) {
    mf_state *s = m->rs;
    /* M_i (C, n_i) starts like the weight of a layer n_i -> C. */
    for (int i = 0; i < m->cfg.n_hidden; i++)
        bp_init_fill(&m->rng, bp_tensor_ptr(m, s->M[i]), m->cfg.outputs, m->cfg.hidden[i],
                     m->cfg.init, m->cfg.init_std);
    return work_alloc(m, &s->w, err);
}

/* G (B, C) = a (B, n) M^T, M (C, n)   (eq. 5) */
static void goodness(const float *a, const float *M, int B, int n, int C, float *G) {
    bpfree_gemm(0, 1, B, C, n, 1.0f, a, n, M, n, 0.0f, G, C);
}

static void add_into(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* Algorithm 1, lines 4-10, for layer i on one batch: a = f(in W^T + b), its
 * goodness and local loss, W_i, b_i, M_i stepped with `opt`.  Adds G into
 * scores if given; leaves G in w->G; returns the layer's loss. */
static double mf_layer(bpfree_model *m, const bp_optim *opt, mf_work *w, int i, const float *in,
                       float *a, const float *y, int B, float *scores) {
    mf_state *s = m->rs;
    const bp_dense *L = &m->layers[i];
    const int n = L->out, C = m->cfg.outputs;
    const float *M = bp_tensor_ptr(m, s->M[i]);
    bp_dense_forward(L, in, a, B);                           /* lines 4–5 */
    goodness(a, M, B, n, C, w->G);                           /* line 6, eq. 5 */
    if (scores) add_into(scores, w->G, (size_t)B * C);
    const double li = bp_loss(m->cfg.loss, w->G, y, B, C, w->dG); /* line 7, eq. 6 */
    /* eq. 8: dL/dM (C, n) = dG^T a */
    bpfree_gemm(1, 0, C, n, B, 1.0f, w->dG, C, a, n, 0.0f, bp_tensor_grad(m, s->M[i]), n);
    /* eq. 7: dL/da (B, n) = dG M, then through f' into W_i, b_i */
    bpfree_gemm(0, 0, B, n, C, 1.0f, w->dG, C, M, n, 0.0f, w->da, n);
    bp_act_backward(L->act, a, w->da, (size_t)B * n);
    bp_dense_grad_step(m, i, in, w->da, B, opt);             /* line 8 */
    bp_step_range(m, opt, m->tensors[s->M[i]].off, m->tensors[s->M[i]].n); /* line 9 */
    return li;
}

static bpfree_status mf_train(bpfree_model *m, int B, double *loss, long *correct) {
    mf_state *s = m->rs;
    const int C = m->cfg.outputs, nl = m->n_layers;
    const size_t BC = (size_t)B * C;
    /* greedy schedule: layers before `active` are frozen, later ones idle */
    const int active = m->cfg.greedy_epochs > 0 ? m->epochs_done / m->cfg.greedy_epochs : -1;
    const int last = active >= 0 ? (active < nl ? active : nl - 1) : nl - 1;
    const int ff = m->cfg.predict == BPFREE_PREDICT_FF && active < 0;
    const float *in = m->xb;
    double li = 0.0;
    if (ff) memset(m->scores, 0, BC * sizeof(float));
    for (int i = 0; i <= last; i++) {
        float *a = s->w.a[i % 2];
        if (active >= 0 && i < active) bp_dense_forward(&m->layers[i], in, a, B); /* frozen */
        else li = mf_layer(m, &m->optim, &s->w, i, in, a, m->yb, B, ff ? m->scores : NULL);
        in = a;                                              /* line 10 */
    }
    *loss += li;
    *correct += bp_count_correct(ff ? m->scores : s->w.G, m->lb, B, C);
    return BPFREE_OK;
}

/* ------------------------------------------------------ layer pipeline
 *
 * Stage s owns layers [l0, l1).  Batch k goes through stage 0, then 1, ...;
 * stage s works on batch k while stage s+1 works on batch k-1.  Layer i
 * sees batch k only after its own batches 0..k-1 and gets a_{i-1} of batch k
 * computed by layer i-1 before its update on k: exactly the sequential
 * order, so the numbers are the same (each stage's products run on one BLAS
 * thread, which is deterministic). */

static bpfree_status pipe_build(bpfree_model *m, mf_state *s, bpfree_error *err) {
    mf_pipe *p = bp_alloc(&m->mem, sizeof *p);
    if (!p) return bp_fail(err, BPFREE_ENOMEM, "out of memory (pipeline)");
    memset(p, 0, sizeof *p);
    s->pipe = p;
    const int nl = m->n_layers, C = m->cfg.outputs;
    const size_t B = (size_t)m->batch;
    int S = m->cfg.pipeline < nl ? m->cfg.pipeline : nl;
    S = S < MF_MAX_STAGES ? S : MF_MAX_STAGES;
    /* contiguous ranges of about equal multiply-adds (in * out per layer) */
    double tot = 0.0, acc = 0.0;
    for (int i = 0; i < nl; i++) tot += (double)m->layers[i].in * m->layers[i].out;
    int st = 0;
    p->l0[0] = 0;
    for (int i = 0; i < nl; i++) {
        acc += (double)m->layers[i].in * m->layers[i].out;
        const int left = nl - 1 - i, need = S - 1 - st; /* layers left, stages to open */
        if (st < S - 1 && (acc >= tot * (st + 1) / S || left == need)) {
            p->l1[st] = i + 1;
            p->l0[++st] = i + 1;
        }
    }
    p->l1[S - 1] = nl;
    p->S = S;
    if (!(p->x0 = bp_alloc_floats(&m->mem, B * (size_t)m->cfg.inputs, "pipeline input", err)))
        return BPFREE_ENOMEM;
    for (int k = 0; k < S; k++) {
        bpfree_status e = work_alloc(m, &p->w[k], err);
        if (e) return e;
        if (k == S - 1) continue;
        const size_t W = (size_t)m->layers[p->l1[k] - 1].out;
        for (int j = 0; j < 2; j++) {
            mf_slot *q = &p->slot[k][j];
            if (!(q->a = bp_alloc_floats(&m->mem, B * W, "pipeline activations", err)) ||
                !(q->y = bp_alloc_floats(&m->mem, B * C, "pipeline targets", err)) ||
                !(q->scores = bp_alloc_floats(&m->mem, B * C, "pipeline scores", err)) ||
                !(q->lb = bp_alloc(&m->mem, B * sizeof(int))))
                return bp_fail(err, BPFREE_ENOMEM, "out of memory (pipeline)");
        }
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return BPFREE_OK;
}

static void pipe_free(bpfree_model *m, mf_pipe *p) {
    if (!p) return;
    for (int k = 0; k < p->S; k++) {
        work_free(m, &p->w[k]);
        for (int j = 0; j < 2; j++) {
            mf_slot *q = &p->slot[k][j];
            bp_free(&m->mem, q->a);
            bp_free(&m->mem, q->y);
            bp_free(&m->mem, q->scores);
            bp_free(&m->mem, q->lb);
        }
    }
    bp_free(&m->mem, p->x0);
    if (p->S) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    bp_free(&m->mem, p);
}

/* wait until q is full (or empty); 0 if the pipeline is being stopped */
static int slot_wait(mf_pipe *p, const mf_slot *q, int full) {
    pthread_mutex_lock(&p->mu);
    while (q->full != full && !p->abort) pthread_cond_wait(&p->cv, &p->mu);
    const int ok = !p->abort;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static void slot_set(mf_pipe *p, mf_slot *q, int full) {
    pthread_mutex_lock(&p->mu);
    q->full = full;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

typedef struct { mf_pipe *p; int s; } stage_arg;

static void *stage_run(void *arg) {
    mf_pipe *p = ((stage_arg *)arg)->p;
    const int s = ((stage_arg *)arg)->s, S = p->S;
    bpfree_model *m = p->m;
    const int C = m->cfg.outputs, B = m->batch, n = p->train->n;
    const int ff = m->cfg.predict == BPFREE_PREDICT_FF;
    mf_work *w = &p->w[s];
    for (int k = 0; k < p->nb; k++) {
        const int rows = n - k * B < B ? n - k * B : B;
        mf_slot *is = s > 0 ? &p->slot[s - 1][k % 2] : NULL;
        mf_slot *os = s < S - 1 ? &p->slot[s][k % 2] : NULL;
        bp_optim_begin_step(&p->opt[s], bp_batch_lr(m, k, p->nb));
        if ((is && !slot_wait(p, is, 1)) || (os && !slot_wait(p, os, 0))) return NULL;
        const float *in, *y;
        const int *lb;
        float *scores;
        if (!is) { /* stage 0 gathers the batch */
            bp_gather(m, p->train, m->order + (size_t)k * B, rows, p->x0, os->y, os->lb, NULL);
            in = p->x0;
            memset(os->scores, 0, (size_t)rows * C * sizeof(float));
        } else {
            in = is->a;
            if (os) {
                memcpy(os->y, is->y, (size_t)rows * C * sizeof(float));
                memcpy(os->lb, is->lb, (size_t)rows * sizeof(int));
                memcpy(os->scores, is->scores, (size_t)rows * C * sizeof(float));
            }
        }
        y = os ? os->y : is->y;
        lb = os ? os->lb : is->lb;
        scores = os ? os->scores : is->scores;
        double li = 0.0;
        for (int i = p->l0[s]; i < p->l1[s]; i++) {
            float *a = i == p->l1[s] - 1 && os ? os->a : w->a[i % 2];
            li = mf_layer(m, &p->opt[s], w, i, in, a, y, rows, ff ? scores : NULL);
            in = a;
        }
        if (!os) { /* the last stage keeps the books, in batch order */
            p->loss += li;
            p->correct += bp_count_correct(ff ? scores : w->G, lb, rows, C);
        }
        if (is) slot_set(p, is, 0);
        if (os) slot_set(p, os, 1);
    }
    return NULL;
}

static bpfree_status mf_epoch_pipe(bpfree_model *m, const bpfree_dataset *train, int nb,
                                   double *loss, long *correct, float *lr, bpfree_error *err) {
    mf_state *s = m->rs;
    bpfree_status st;
    if (!s->pipe && (st = pipe_build(m, s, err))) return st;
    mf_pipe *p = s->pipe;
    p->m = m;
    p->train = train;
    p->nb = nb;
    p->loss = 0.0;
    p->correct = 0;
    for (int k = 0; k < p->S; k++) {
        p->opt[k] = m->optim;
        for (int j = 0; j < 2; j++) p->slot[k][j].full = 0;
    }
    pthread_t tid[MF_MAX_STAGES];
    stage_arg args[MF_MAX_STAGES];
    int started = 1;
    for (int k = 1; k < p->S; k++) {
        args[k] = (stage_arg){p, k};
        if (pthread_create(&tid[k], NULL, stage_run, &args[k])) break;
        started++;
    }
    if (started < p->S) { /* could not start every stage: stop those that did */
        pthread_mutex_lock(&p->mu);
        p->abort = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int k = 1; k < started; k++) pthread_join(tid[k], NULL);
        p->abort = 0;
        return bp_fail(err, BPFREE_ENOMEM, "cannot start %d pipeline threads", p->S - 1);
    }
    args[0] = (stage_arg){p, 0};
    stage_run(&args[0]);
    for (int k = 1; k < p->S; k++) pthread_join(tid[k], NULL);
    m->optim = p->opt[p->S - 1];
    *lr = m->optim.lr;
    *loss += p->loss;
    *correct += p->correct;
    return BPFREE_OK;
}

static void mf_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    mf_state *s = m->rs;
    const int C = m->cfg.outputs, nl = m->n_layers;
    const size_t BC = (size_t)B * C;
    const float *in = x;
    memset(scores, 0, BC * sizeof(float));
    for (int i = 0; i < nl; i++) {
        const bp_dense *L = &m->layers[i];
        float *a = s->w.a[i % 2];
        /* heads are laid out (n_heads, m->batch, C) */
        float *G = heads ? heads + (size_t)i * m->batch * C : s->w.G;
        bp_dense_forward(L, in, a, B);
        goodness(a, bp_tensor_ptr(m, s->M[i]), B, L->out, C, G);
        if (m->cfg.predict == BPFREE_PREDICT_FF) add_into(scores, G, BC);
        else if (i == nl - 1) memcpy(scores, G, BC * sizeof(float));
        in = a;
    }
}

static void mf_free(bpfree_model *m) {
    mf_state *s = m->rs;
    if (!s) return;
    work_free(m, &s->w);
    pipe_free(m, s->pipe);
    bp_free(&m->mem, s);
    m->rs = NULL;
}

const bp_rule bp_rule_mf = {
    .info = {.name = "mf",
             .title = "Mono-Forward",
             .paper = "Gong, Li, Abdulla 2025 (paper 003), Algorithm 1, eqs. 5-8",
             .output_layer = 0,
             .weight_transport = "no",
             .frozen_activities = "no",
             .locality = "single-layer",
             .update_locking = "none"},
    .defaults = mf_defaults,
    .reserve = mf_reserve,
    .init = mf_init,
    .train_batch = mf_train,
    .train_epoch_pipe = mf_epoch_pipe,
    .predict = mf_predict,
    .n_heads = mf_n_heads,
    .free = mf_free,
};
