/* layers.c — layer-parallel training over ranks (bpfree_dist mode
 * BPFREE_DIST_LAYERS): --pipeline's schedule (pipeline.c) with a process
 * per stage instead of a thread, for the rules that give pipe_layer (the
 * update-unlocked ones: a layer steps as soon as it has its input).
 *
 * Rank s owns layers [l0[s], l1[s]) (bp_pipe_partition: contiguous, the
 * largest block's weights as small as can be).  For batch k rank 0 gathers
 * the batch (it alone reads the shuffle), runs its layers and sends rank 1
 * one message: the loss so far, the labels and dataset indices, targets,
 * the rule's per-batch data (MF's running scores, F3's stored errors, FF's
 * carried neutral activities), then the boundary activation.  Rank s > 0
 * receives it, runs its layers and sends it on.  Each rank has two receive
 * and two send buffers: it posts the receive of batch k+2 as soon as it is
 * done with batch k, and reuses a send buffer once the send of two batches
 * ago has completed — so rank 0 works on batch k+1 while rank 1 is on
 * batch k, and the messages travel while the products run.
 *
 * Every rank holds the whole model (built from the same seed) and steps
 * only its own layers, with its own optimizer clock (the same t and lr per
 * batch): layer i sees the batches, in order, with the activations that
 * layer i-1 computed before its own step on them — the sequential order,
 * so the model is the one-process one bit for bit when each rank runs the
 * products on the BLAS threads that run uses (as --pipeline N, one each).
 *
 * At the epoch's end (the pipeline drains, as --pipeline's threads join):
 *  - each parameter and state float goes from the rank that changed it to
 *    every rank: a rank sends the floats whose bits changed this epoch and
 *    -0.0 for the others (x + -0.0 = x for every x, so the sum is an exact
 *    copy), and a count of changers, which catches two ranks changing the
 *    same float (an error: the rule shares a parameter across layers);
 *  - the last rank's loss sum and correct count go to every rank;
 *  - per-sample state (F3's store: rows written by the output layer's rank,
 *    read by rank 0 as a sample's batch enters) goes from the last rank to
 *    rank 0, one message of n x C floats: a row written in epoch t is read
 *    only in epoch t+1, so once per epoch is exactly in time;
 *  - rank 0's generator (FF's negatives draw from it) goes to every rank. */
#include "engine/dist.h"

#include <stdint.h>
#include <string.h>

typedef struct bp_dlay {
    bpfree_dist d;
    int l0[BPFREE_MAX_LAYERS], l1[BPFREE_MAX_LAYERS];
    bp_work w;
    /* a message: loss (double) | lb | ib (B ints) | y | scores | aux (B x C
     * floats) | carry | activation (rows x a_in or a_out floats) */
    size_t o_lb, o_ib, o_y, o_sc, o_aux, o_carry, head;
    size_t a_in, a_out; /* activation floats per sample, received and sent */
    int has_carry;
    char *in[2], *out[2];
    int rreq[2], sreq[2]; /* pending requests, -1: none */
    float *x0;            /* rank 0: the gathered inputs (B, D) */
    float *snap, *flag;   /* the epoch's first parameters + state; changers */
    int *bytes;           /* (size) gather sizes */
} bp_dlay;

/* why rule and settings cannot train layer-parallel over S ranks, or OK */
static bpfree_status refuse(const bpfree_model *m, int S, bpfree_error *err) {
    const bpfree_config *c = &m->cfg;
    const char *lock = m->rule->info.update_locking;
    if (!strcmp(lock, "backward"))
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--dist layers needs an update-unlocked rule: '%s' is backwards locked "
                       "(update_locking: backward, the survey's Table I — a layer's update "
                       "waits for the error of every layer above it on the same batch, so "
                       "each rank would wait for all later ranks); use --dist data", c->rule);
    if (!strcmp(lock, "forward"))
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--dist layers needs an update-unlocked rule: '%s' is forwards locked "
                       "(update_locking: forward, the survey's Table I — a layer's update "
                       "waits for the forward pass to reach the output, whose error it "
                       "needs); use --dist data", c->rule);
    if (!m->rule->pipe_layer)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "'%s' is update-unlocked but has no per-layer step here (neither "
                       "--pipeline nor --dist layers is built for it); use --dist data", c->rule);
    if (m->rule->pipe_handback)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "'%s' hands state back down its stages (layer i's module is trained in "
                       "layer i+1's stage): --pipeline does that between threads, --dist layers "
                       "does not send it between ranks; use --pipeline or --dist data", c->rule);
    if (c->greedy_epochs)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--dist layers trains every layer on every batch; greedy layer-wise "
                       "training (greedy epochs %d) trains one: use --dist data", c->greedy_epochs);
    if (c->pipeline >= 2)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--dist layers pipelines the layers over the ranks already: drop "
                       "--pipeline %d", c->pipeline);
    if (m->diag) return bp_fail(err, BPFREE_EUNSUPPORTED, "--dist layers has no --diagnose");
    if (S > m->n_layers)
        return bp_fail(err, BPFREE_EINVAL,
                       "--dist layers over %d ranks needs at least %d layers; the model has %d",
                       S, S, m->n_layers);
    return BPFREE_OK;
}

/* the message layout for batches of B rows; buffers for it */
static bpfree_status layout(bpfree_model *m, bp_dlay *t, const bp_pipe_need *need,
                            bpfree_error *err) {
    const size_t B = (size_t)m->batch, C = (size_t)m->cfg.outputs;
    const int s = t->d.rank, S = t->d.size;
    t->o_lb = sizeof(double);
    t->o_ib = t->o_lb + B * sizeof(int);
    t->o_y = t->o_ib + B * sizeof(int);
    t->o_sc = t->o_y + B * C * sizeof(float);
    t->o_aux = t->o_sc + B * C * sizeof(float);
    t->o_carry = t->o_aux + B * C * sizeof(float);
    t->head = (t->o_carry + need->carry * sizeof(float) + 63) / 64 * 64;
    t->has_carry = need->carry > 0;
    t->a_in = s ? (size_t)need->mult * m->layers[t->l1[s - 1] - 1].out : 0;
    t->a_out = s < S - 1 ? (size_t)need->mult * m->layers[t->l1[s] - 1].out : 0;
    const size_t n = m->n_params + m->n_state;
    for (int j = 0; j < 2; j++) {
        if (s && !(t->in[j] = bp_alloc(&m->mem, t->head + B * t->a_in * sizeof(float))))
            return bp_fail(err, BPFREE_ENOMEM, "out of memory (layer-parallel messages)");
        if (s < S - 1 && !(t->out[j] = bp_alloc(&m->mem, t->head + B * t->a_out * sizeof(float))))
            return bp_fail(err, BPFREE_ENOMEM, "out of memory (layer-parallel messages)");
        t->rreq[j] = t->sreq[j] = -1;
    }
    if ((!s && !(t->x0 = bp_alloc_floats(&m->mem, B * m->cfg.inputs, "layer-parallel input", err))) ||
        !(t->snap = bp_alloc_floats(&m->mem, n ? n : 1, "layer-parallel parameters", err)) ||
        !(t->flag = bp_alloc_floats(&m->mem, n ? n : 1, "layer-parallel parameters", err)))
        return BPFREE_ENOMEM;
    return bp_work_alloc(m, &t->w, need->mult, need->scratch, err);
}

bpfree_status bp_dlay_attach(bpfree_model *m, const bpfree_dist *d, bpfree_error *err) {
    if (!d->isend || !d->irecv || !d->wait)
        return bp_fail(err, BPFREE_EINVAL, "layer-parallel: a missing message function");
    bpfree_status st = refuse(m, d->size, err);
    if (st) return st;
    if (m->rule->pipe_prepare && (st = m->rule->pipe_prepare(m, err))) return st;
    bp_dlay *t = bp_alloc(&m->mem, sizeof *t + (size_t)d->size * sizeof(int));
    if (!t) return bp_fail(err, BPFREE_ENOMEM, "out of memory (layer-parallel state)");
    memset(t, 0, sizeof *t);
    t->d = *d;
    t->bytes = (int *)(t + 1);
    m->dlay = t;
    bp_pipe_partition(m, d->size, t->l0, t->l1);
    bp_pipe_need need = {.mult = 1};
    if (m->rule->pipe_need) m->rule->pipe_need(m, &need);
    if ((st = layout(m, t, &need, err))) bp_dlay_free(m);
    return st;
}

void bp_dlay_free(bpfree_model *m) {
    bp_dlay *t = m->dlay;
    if (!t) return;
    if (t->w.a[0]) bp_work_free(m, &t->w);
    void *bufs[] = {t->in[0], t->in[1], t->out[0], t->out[1], t->x0, t->snap, t->flag};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(&m->mem, bufs[i]);
    bp_free(&m->mem, t);
    m->dlay = NULL;
}

int bpfree_model_dist_layers(const bpfree_model *m, int r, int *first, int *end) {
    const bp_dlay *t = m->dlay;
    if (!t || r < 0 || r >= t->d.size) return 0;
    *first = t->l0[r];
    *end = t->l1[r];
    return 1;
}

static void wait_req(bp_dlay *t, int *req) {
    if (*req >= 0) t->d.wait(t->d.ctx, *req);
    *req = -1;
}

static int batch_rows(int n, int B, int k) { return n - k * B < B ? n - k * B : B; }

/* post the receive of batch k into in[k % 2] */
static void post_recv(bp_dlay *t, int n, int B, int k) {
    const size_t bytes = t->head + (size_t)batch_rows(n, B, k) * t->a_in * sizeof(float);
    t->rreq[k % 2] = t->d.irecv(t->d.ctx, t->d.rank - 1, t->in[k % 2], bytes);
}

/* the batch in message q (rows rows) as the rules see it */
static bp_pipe_batch view(const bp_dlay *t, char *q, int rows) {
    bp_pipe_batch b = {.rows = rows, .lb = (int *)(q + t->o_lb), .ib = (int *)(q + t->o_ib),
                       .y = (float *)(q + t->o_y), .scores = (float *)(q + t->o_sc),
                       .aux = (float *)(q + t->o_aux),
                       .carry = t->has_carry ? (float *)(q + t->o_carry) : NULL};
    memcpy(&b.loss, q, sizeof b.loss);
    return b;
}

/* Batch k on this rank's layers: its message received (or, on rank 0, the
 * batch gathered), the layers run and stepped, the message sent on (or, on
 * the last rank, the loss and count kept). */
static void one_batch(bpfree_model *m, bp_dlay *t, const bpfree_dataset *train, bp_optim *o,
                      int k, int nb, double *loss, long *correct) {
    const int s = t->d.rank, S = t->d.size, B = m->batch, n = train->n;
    const int rows = batch_rows(n, B, k);
    char *in = s ? t->in[k % 2] : NULL, *out = s < S - 1 ? t->out[k % 2] : NULL;
    if (in) wait_req(t, &t->rreq[k % 2]);
    if (out) wait_req(t, &t->sreq[k % 2]); /* batch k-2 has left this buffer */
    bp_optim_begin_step(o, bp_batch_lr(m, k, nb));
    const float *x = in ? (const float *)(in + t->head) : t->x0;
    if (!in) {
        const double zero = 0.0;
        memcpy(out, &zero, sizeof zero);
        bp_gather(m, train, m->order + (size_t)k * B, rows, t->x0, (float *)(out + t->o_y),
                  (int *)(out + t->o_lb), (int *)(out + t->o_ib));
        memset(out + t->o_sc, 0, (size_t)rows * m->cfg.outputs * sizeof(float));
    } else if (out)
        memcpy(out, in, t->head);
    bp_pipe_batch b = view(t, out ? out : in, rows);
    if (!in) {
        b.x = t->x0;
        if (m->rule->pipe_begin) m->rule->pipe_begin(m, &b);
    }
    for (int i = t->l0[s]; i < t->l1[s]; i++) {
        float *a = i == t->l1[s] - 1 && out ? (float *)(out + t->head) : t->w.a[i % 2];
        m->rule->pipe_layer(m, o, &t->w, i, x, a, &b);
        x = a;
    }
    if (!in && m->on_batch) m->on_batch(m->on_batch_user, k + 1, nb, NAN);
    if (out) {
        memcpy(out, &b.loss, sizeof b.loss);
        const size_t bytes = t->head + (size_t)rows * t->a_out * sizeof(float);
        t->sreq[k % 2] = t->d.isend(t->d.ctx, s + 1, out, bytes);
    } else {
        *loss += b.loss;
        *correct += b.correct;
    }
    if (in && k + 2 < nb) post_recv(t, n, B, k + 2); /* this buffer is free again */
}

/* every float of p from the rank that changed it this epoch (see above);
 * flag: the number of ranks that did, summed after */
static void keep_changed(float *p, const float *snap, float *flag, size_t n) {
    const float mz = -0.0f;
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, p + i, sizeof a);
        memcpy(&b, snap + i, sizeof b);
        flag[i] = a != b ? 1.0f : 0.0f;
        if (a == b) p[i] = mz;
    }
}

static bpfree_status share_params(bpfree_model *m, bp_dlay *t, bpfree_error *err) {
    const size_t np = m->n_params, ns = m->n_state, n = np + ns;
    keep_changed(m->params, t->snap, t->flag, np);
    keep_changed(m->state, t->snap + np, t->flag + np, ns);
    t->d.sum_floats(t->d.ctx, m->params, np);
    if (ns) t->d.sum_floats(t->d.ctx, m->state, ns);
    t->d.sum_floats(t->d.ctx, t->flag, n);
    size_t both = 0;
    for (size_t i = 0; i < n; i++) {
        float *p = i < np ? m->params + i : m->state + (i - np);
        if (t->flag[i] == 0.0f) *p = t->snap[i];
        both += t->flag[i] > 1.5f;
    }
    if (both)
        return bp_fail(err, BPFREE_EINVAL,
                       "layer-parallel: %zu parameter or state floats were changed by more than "
                       "one rank in an epoch (the rule shares them across layers)", both);
    return BPFREE_OK;
}

/* The epoch's end on every rank (see above). */
static bpfree_status epoch_end(bpfree_model *m, bp_dlay *t, double *loss, long *correct,
                               bpfree_error *err) {
    const int s = t->d.rank, S = t->d.size;
    for (int j = 0; j < 2; j++) wait_req(t, &t->sreq[j]);
    size_t rows = 0, width = 0;
    float *st = m->rule->sample_state ? m->rule->sample_state(m, &rows, &width) : NULL;
    if (st && rows && width && (s == 0 || s == S - 1)) {
        const size_t bytes = rows * width * sizeof(float);
        int req = s == S - 1 ? t->d.isend(t->d.ctx, 0, st, bytes)
                             : t->d.irecv(t->d.ctx, S - 1, st, bytes);
        wait_req(t, &req);
    }
    double v[2] = {*loss, (double)*correct};
    t->d.sum_doubles(t->d.ctx, v, 2); /* only the last rank's are not 0 */
    *loss = v[0];
    *correct = (long)v[1];
    for (int r = 0; r < S; r++) t->bytes[r] = r ? 0 : (int)sizeof m->rng;
    t->d.gather(t->d.ctx, &m->rng, t->bytes);
    return share_params(m, t, err);
}

bpfree_status bp_dlay_epoch(bpfree_model *m, const bpfree_dataset *train, int k0, int nb,
                            int *done, double *loss, long *correct, float *lr, bpfree_error *err) {
    bp_dlay *t = m->dlay;
    const int s = t->d.rank;
    memcpy(t->snap, m->params, m->n_params * sizeof(float));
    memcpy(t->snap + m->n_params, m->state, m->n_state * sizeof(float));
    if (s)
        for (int k = k0; k < nb && k < k0 + 2; k++) post_recv(t, train->n, m->batch, k);
    bp_optim o = m->optim;
    double l = 0.0;
    long c = 0;
    for (int k = k0; k < nb; k++) one_batch(m, t, train, &o, k, nb, &l, &c);
    m->optim = o;
    *lr = o.lr;
    *done = nb;
    bpfree_status st = epoch_end(m, t, &l, &c, err);
    *loss += l;
    *correct += c;
    return st;
}
