/* pipeline.c — layer pipelining for rules that update a layer at once.
 *
 * N threads ("stages") each own a contiguous range of layers.  Batch k goes
 * through stage 0, then 1, ...; stage s works on batch k while stage s+1
 * works on batch k-1, so layer l runs on batch k+1 while layer l+1 runs on
 * batch k — which backprop, whose layers wait for the backward pass, cannot
 * do.  Layer i sees batch k only after its own batches 0..k-1, and gets the
 * activation of batch k that layer i-1 computed before its update on k:
 * exactly the sequential order.  Each stage keeps its own optimizer clock
 * (the same t and lr per batch) and runs its products on one BLAS thread, so
 * the numbers are the same as training on one thread.
 *
 * A rule takes part by giving pipe_layer (one layer on one batch) and, if it
 * needs per-batch data, pipe_begin (run by stage 0 after the gather), and if
 * it needs more than one (B, width) activation per batch, pipe_need: rows
 * per sample (FF: positive, negative, neutral), scratch per stage, and a
 * carry that travels with the batch (FF: every layer's neutral activities
 * for its head) — handed on by swapping the two slots' buffers, not copied.
 * The batch's loss is carried too, so every stage may add to it; the last
 * stage keeps the loss and the count of correct predictions, in batch
 * order.  A rule whose layer i+1 works on something that layer i uses on
 * its next batch (DNI: layer i's synthetic-gradient module learns from a
 * target only layer i+1 can compute) hands it back down with bp_pipe_done
 * and bp_pipe_await: one counter per tag, the last batch done with it. */
#include "engine/engine.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define PIPE_MAX_STAGES 8

/* hand-over from stage s to s+1: one batch's boundary activation and data */
typedef struct pipe_slot {
    float *a, *y, *scores, *aux, *carry;
    int *lb, *ib;
    double loss;
    int full;
} pipe_slot;

struct bp_pipe {
    int S, l0[PIPE_MAX_STAGES], l1[PIPE_MAX_STAGES];
    bp_work w[PIPE_MAX_STAGES];
    float *x0;                          /* stage 0's gathered batch (B, D) */
    pipe_slot slot[PIPE_MAX_STAGES][2]; /* ring s: stage s -> s+1, two batches */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok, abort;
    /* one epoch's job */
    bpfree_model *m;
    const bpfree_dataset *train;
    int k0, nb;   /* batches k0..nb; stage 0 lowers nb when asked to stop */
    bp_optim opt[PIPE_MAX_STAGES];
    int done[BPFREE_MAX_LAYERS]; /* bp_pipe_done: the last batch done with each tag */
    double loss;
    long correct;
};

bpfree_status bp_work_alloc(bpfree_model *m, bp_work *w, int mult, size_t scratch,
                           bpfree_error *err) {
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    if (!(w->a[0] = bp_alloc_floats(&m->mem, B * mult * W, "activations", err)) ||
        !(w->a[1] = bp_alloc_floats(&m->mem, B * mult * W, "activations", err)) ||
        !(w->d = bp_alloc_floats(&m->mem, B * W, "layer signal", err)) ||
        !(w->z = bp_alloc_floats(&m->mem, B * C, "layer outputs (B x C)", err)) ||
        !(w->dz = bp_alloc_floats(&m->mem, B * C, "their gradient", err)) ||
        (scratch && !(w->rs = bp_alloc_floats(&m->mem, scratch, "rule scratch", err))))
        return BPFREE_ENOMEM;
    return BPFREE_OK;
}

void bp_work_reserve(bpfree_model *m, bp_work *w) {
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    bp_scratch(m, &w->a[0], B * W);
    bp_scratch(m, &w->a[1], B * W);
    bp_scratch(m, &w->d, B * W);
    bp_scratch(m, &w->z, B * C);
    bp_scratch(m, &w->dz, B * C);
}

void bp_work_free(bpfree_model *m, bp_work *w) {
    float *bufs[] = {w->a[0], w->a[1], w->d, w->z, w->dz, w->rs};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(&m->mem, bufs[i]);
    memset(w, 0, sizeof *w);
}

/* best[k][i] = the best largest cost of layers [0, i) in k + 1 stages (the
 * linear partition problem; nl <= 32, S <= nl) */
void bp_pipe_partition(const bpfree_model *m, int S, int *l0, int *l1) {
    const int nl = m->n_layers;
    double pre[BPFREE_MAX_LAYERS + 1] = {0}, best[BPFREE_MAX_LAYERS][BPFREE_MAX_LAYERS + 1];
    int cut[BPFREE_MAX_LAYERS][BPFREE_MAX_LAYERS + 1];
    for (int i = 0; i < nl; i++) pre[i + 1] = pre[i] + (double)bp_layer_n_weights(&m->layers[i]);
    for (int i = 1; i <= nl; i++) best[0][i] = pre[i], cut[0][i] = 0;
    for (int k = 1; k < S; k++)
        for (int i = k + 1; i <= nl; i++) {
            best[k][i] = -1.0;
            for (int j = k; j < i; j++) { /* stage k holds layers [j, i) */
                const double c = best[k - 1][j] > pre[i] - pre[j] ? best[k - 1][j] : pre[i] - pre[j];
                if (best[k][i] < 0 || c < best[k][i]) best[k][i] = c, cut[k][i] = j;
            }
        }
    for (int k = S - 1, i = nl; k >= 0; k--) {
        l1[k] = i;
        l0[k] = k ? cut[k][i] : 0;
        i = l0[k];
    }
}

static bpfree_status pipe_build(bpfree_model *m, bpfree_error *err) {
    bp_pipe *p = bp_alloc(&m->mem, sizeof *p);
    if (!p) return bp_fail(err, BPFREE_ENOMEM, "out of memory (pipeline)");
    memset(p, 0, sizeof *p);
    m->pipe = p;
    const int nl = m->n_layers, C = m->cfg.outputs;
    const size_t B = (size_t)m->batch;
    int S = m->cfg.pipeline < nl ? m->cfg.pipeline : nl;
    S = S < PIPE_MAX_STAGES ? S : PIPE_MAX_STAGES;
    bp_pipe_partition(m, S, p->l0, p->l1);
    p->S = S;
    bp_pipe_need need = {.mult = 1};
    if (m->rule->pipe_need) m->rule->pipe_need(m, &need);
    if (!(p->x0 = bp_alloc_floats(&m->mem, B * (size_t)m->cfg.inputs, "pipeline input", err)))
        return BPFREE_ENOMEM;
    for (int k = 0; k < S; k++) {
        bpfree_status e = bp_work_alloc(m, &p->w[k], need.mult, need.scratch, err);
        if (e) return e;
        if (k == S - 1) continue;
        const size_t W = (size_t)m->layers[p->l1[k] - 1].out;
        for (int j = 0; j < 2; j++) {
            pipe_slot *q = &p->slot[k][j];
            if (!(q->a = bp_alloc_floats(&m->mem, B * need.mult * W, "pipeline activations",
                                         err)) ||
                (need.carry &&
                 !(q->carry = bp_alloc_floats(&m->mem, need.carry, "pipeline rule data", err))) ||
                !(q->y = bp_alloc_floats(&m->mem, B * C, "pipeline targets", err)) ||
                !(q->scores = bp_alloc_floats(&m->mem, B * C, "pipeline scores", err)) ||
                !(q->aux = bp_alloc_floats(&m->mem, B * C, "pipeline rule data", err)) ||
                !(q->lb = bp_alloc(&m->mem, B * sizeof(int))) ||
                !(q->ib = bp_alloc(&m->mem, B * sizeof(int))))
                return bp_fail(err, BPFREE_ENOMEM, "out of memory (pipeline)");
        }
    }
    if (pthread_mutex_init(&p->mu, NULL)) return bp_fail(err, BPFREE_ENOMEM, "pipeline lock");
    if (pthread_cond_init(&p->cv, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return bp_fail(err, BPFREE_ENOMEM, "pipeline condition");
    }
    p->sync_ok = 1;
    return BPFREE_OK;
}

void bp_pipe_free(bpfree_model *m) {
    bp_pipe *p = m->pipe;
    if (!p) return;
    for (int k = 0; k < PIPE_MAX_STAGES; k++) {
        if (p->w[k].a[0]) bp_work_free(m, &p->w[k]);
        for (int j = 0; j < 2; j++) {
            pipe_slot *q = &p->slot[k][j];
            void *bufs[] = {q->a, q->y, q->scores, q->aux, q->carry, q->lb, q->ib};
            for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(&m->mem, bufs[i]);
        }
    }
    bp_free(&m->mem, p->x0);
    if (p->sync_ok) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    bp_free(&m->mem, p);
    m->pipe = NULL;
}

/* wait until q is full (or empty) for batch k; 0 if the pipeline is being
 * stopped, or batch k will not come (stage 0 stopped feeding before it) */
static int slot_wait(bp_pipe *p, const pipe_slot *q, int full, int k) {
    pthread_mutex_lock(&p->mu);
    while (q->full != full && !p->abort && k < p->nb) pthread_cond_wait(&p->cv, &p->mu);
    const int ok = !p->abort && k < p->nb;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void bp_pipe_done(const bp_pipe_batch *b, int tag) {
    bp_pipe *p = b->pipe;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->done[tag] = b->k;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void bp_pipe_await(const bp_pipe_batch *b, int tag) {
    bp_pipe *p = b->pipe;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    while (p->done[tag] < b->k - 1 && !p->abort) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void slot_set(bp_pipe *p, pipe_slot *q, int full) {
    pthread_mutex_lock(&p->mu);
    q->full = full;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

typedef struct {
    bp_pipe *p;
    int s;
} stage_arg;

/* Batch k's data into the out slot os (stage 0 gathers it, a later stage
 * copies it on from is); the input of the stage's first layer. */
static const float *stage_input(bp_pipe *p, pipe_slot *is, pipe_slot *os, int k, int rows) {
    bpfree_model *m = p->m;
    const int C = m->cfg.outputs, B = m->batch;
    const size_t bc = (size_t)rows * C * sizeof(float), bi = (size_t)rows * sizeof(int);
    const float *in;
    if (!is) { /* stage 0 gathers the batch */
        bp_gather(m, p->train, m->order + (size_t)k * B, rows, p->x0, os->y, os->lb, os->ib);
        memset(os->scores, 0, bc);
        in = p->x0;
    } else {
        in = is->a;
        if (os) {
            memcpy(os->y, is->y, bc);
            memcpy(os->scores, is->scores, bc);
            memcpy(os->aux, is->aux, bc);
            memcpy(os->lb, is->lb, bi);
            memcpy(os->ib, is->ib, bi);
        }
    }
    if (is && os) { /* the rule's carry goes on by a swap: both slots are ours */
        float *t = os->carry;
        os->carry = is->carry;
        is->carry = t;
    }
    return in;
}

static void *stage_run(void *arg) {
    bp_pipe *p = ((stage_arg *)arg)->p;
    const int s = ((stage_arg *)arg)->s, S = p->S;
    bpfree_model *m = p->m;
    const int B = m->batch, n = p->train->n;
    bp_work *w = &p->w[s];
    const int nb = p->nb;
    for (int k = p->k0; k < nb; k++) {
        if (s == 0 && k > p->k0 && m->stop && *m->stop) { /* feed no more batches */
            pthread_mutex_lock(&p->mu);
            p->nb = k;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        const int rows = n - k * B < B ? n - k * B : B;
        pipe_slot *is = s > 0 ? &p->slot[s - 1][k % 2] : NULL;
        pipe_slot *os = s < S - 1 ? &p->slot[s][k % 2] : NULL;
        if ((is && !slot_wait(p, is, 1, k)) || (os && !slot_wait(p, os, 0, k))) return NULL;
        bp_optim_begin_step(&p->opt[s], bp_batch_lr(m, k, nb));
        const float *in = stage_input(p, is, os, k, rows);
        const pipe_slot *d = os ? os : is; /* this batch's data */
        bp_pipe_batch b = {.rows = rows, .y = d->y, .lb = d->lb, .ib = d->ib,
                           .scores = d->scores, .aux = d->aux, .loss = is ? is->loss : 0.0,
                           .x = is ? NULL : p->x0, .carry = d->carry, .pipe = p, .k = k};
        if (!is && m->rule->pipe_begin) m->rule->pipe_begin(m, &b);
        for (int i = p->l0[s]; i < p->l1[s]; i++) {
            float *a = i == p->l1[s] - 1 && os ? os->a : w->a[i % 2];
            m->rule->pipe_layer(m, &p->opt[s], w, i, in, a, &b);
            in = a;
        }
        if (!is && m->on_batch) m->on_batch(m->on_batch_user, k + 1, nb, NAN);
        if (!os) { /* the last stage keeps the books, in batch order */
            p->loss += b.loss;
            p->correct += b.correct;
        } else
            os->loss = b.loss;
        if (is) slot_set(p, is, 0);
        if (os) slot_set(p, os, 1);
    }
    return NULL;
}

bpfree_status bp_pipe_epoch(bpfree_model *m, const bpfree_dataset *train, int k0, int nb,
                            int *done, double *loss, long *correct, float *lr, bpfree_error *err) {
    bpfree_status st;
    if (!m->pipe && (st = pipe_build(m, err))) return st;
    bp_pipe *p = m->pipe;
    p->m = m;
    p->train = train;
    p->k0 = k0;
    p->nb = nb;
    p->loss = 0.0;
    p->correct = 0;
    p->abort = 0;
    for (int t = 0; t < BPFREE_MAX_LAYERS; t++) p->done[t] = k0 - 1;
    for (int k = 0; k < p->S; k++) {
        p->opt[k] = m->optim;
        p->slot[k][0].full = p->slot[k][1].full = 0;
    }
    pthread_t tid[PIPE_MAX_STAGES];
    stage_arg args[PIPE_MAX_STAGES];
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
        return bp_fail(err, BPFREE_ENOMEM, "cannot start %d pipeline threads", p->S - 1);
    }
    args[0] = (stage_arg){p, 0};
    stage_run(&args[0]);
    for (int k = 1; k < p->S; k++) pthread_join(tid[k], NULL);
    m->optim = p->opt[p->S - 1];
    *lr = m->optim.lr;
    *done = p->nb;
    *loss += p->loss;
    *correct += p->correct;
    return BPFREE_OK;
}
