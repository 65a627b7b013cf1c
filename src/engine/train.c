/* train.c — the epoch loop (shuffle, batch, schedule, NaN guard, in turn
 * or pipelined), evaluation and prediction.  Which signal reaches which
 * layer is the rule's business (src/rules/). */
#include "engine/dist.h"

#include <math.h>
#include <string.h>
#include <time.h>

static void gather(bpfree_model *m, const bpfree_dataset *ds, const int *order, int B) {
    bp_gather(m, ds, order, B, m->xb, m->yb, m->lb, m->ib);
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

/* pipelined epochs: asked for, offered by the rule, and not layer by layer;
 * or over layer-parallel ranks */
static int pipelined(const bpfree_model *m) {
    return (m->cfg.pipeline >= 2 && m->rule->pipe_layer && m->cfg.greedy_epochs == 0) || m->dlay;
}

/* 1 if the caller asked training to stop (bpfree_model_stop_flag) */
static int stop_asked(const bpfree_model *m) { return m->stop && *m->stop; }

/* The epoch's batches k0..nb one after another (m->order holds the order);
 * stops early, with *done < nb, if asked to between two batches. */
static bpfree_status batches_in_turn(bpfree_model *m, const bpfree_dataset *train, int k0, int nb,
                                     int *done, double *loss_sum, long *correct, float *lr,
                                     bpfree_error *err) {
    const int n = train->n, B = m->batch, epoch = m->epochs_done;
    *done = k0;
    for (int k = k0; k < nb; k++) {
        if (k > k0 && !m->dist && stop_asked(m)) return BPFREE_OK; /* ranks stop together or not at all */
        int b0 = k * B, rows = n - b0 < B ? n - b0 : B, off, mine;
        bp_dist_shard(m, rows, &off, &mine); /* data-parallel: this rank's rows */
        gather(m, train, m->order + b0 + off, mine);
        *lr = bp_batch_lr(m, k, nb);
        bp_optim_begin_step(&m->optim, *lr);
        double l = 0.0;
        long c = 0;
        int measured = bp_diag_before(m, k, mine);
        bpfree_status st = m->rule->train_batch(m, mine, &l, &c);
        bp_dist_batch_stats(m, &l, &c);
        *correct += c;
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
        *done = k + 1;
        if (m->on_batch) m->on_batch(m->on_batch_user, k + 1, nb, *loss_sum / (k + 1));
    }
    return BPFREE_OK;
}

/* The same batches with the layers pipelined (src/engine/pipeline.c), or
 * over layer-parallel ranks (src/engine/layers.c: the rank's own threads). */
static bpfree_status batches_pipelined(bpfree_model *m, const bpfree_dataset *train, int k0,
                                       int nb, int *done, double *loss_sum, long *correct,
                                       float *lr, bpfree_error *err) {
    double l = 0.0;
    bpfree_status st;
    if (m->dlay)
        st = bp_dlay_epoch(m, train, k0, nb, done, &l, correct, lr, err);
    else {
        bpfree_set_threads(1); /* one BLAS thread per pipeline stage */
        st = bp_pipe_epoch(m, train, k0, nb, done, &l, correct, lr, err);
        bpfree_set_threads(m->cfg.threads);
    }
    if (st) return st;
    if (!isfinite(l))
        return bp_fail(err, BPFREE_ENAN,
                       "the training loss became %s during epoch %d (rule %s, lr %g, "
                       "pipelined) — try a smaller learning rate",
                       isnan(l) ? "NaN" : "infinite", m->epochs_done + 1, m->cfg.rule,
                       (double)*lr);
    *loss_sum += l;
    m->steps_done += *done - k0;
    return BPFREE_OK;
}

/* Before an epoch's batches: the sample order sized for n samples, the
 * rule's begin_epoch, and (unless a stopped epoch resumes) a fresh shuffle. */
static bpfree_status begin_epoch(bpfree_model *m, const bpfree_dataset *train, bpfree_error *err) {
    const int n = train->n, B = m->batch, epoch = m->epochs_done;
    const int resumed = m->prog.k > 0; /* an epoch stopped between two batches */
    bpfree_status st;
    if (resumed && m->order_n != n)
        return bp_fail(err, BPFREE_ESHAPE,
                       "epoch %d was stopped after %lld batches of a training set of %d "
                       "samples; this one has %d",
                       epoch + 1, (long long)m->prog.k, m->order_n, n);
    if (m->dist && n % B && n % B < m->dist->d.size)
        return bp_fail(err, BPFREE_EINVAL,
                       "data-parallel: the epoch's last batch has %d rows, fewer than the %d "
                       "ranks (%d samples in batches of %d)",
                       n % B, m->dist->d.size, n, B);
    if (m->order_n != n) {
        bp_free(&m->mem, m->order);
        m->order = bp_alloc(&m->mem, (size_t)n * sizeof(int));
        if (!m->order) return bp_fail(err, BPFREE_ENOMEM, "out of memory (sample order)");
        m->order_n = n;
    }
    if (m->rule->begin_epoch && (st = m->rule->begin_epoch(m, train, err))) return st;
    if (!resumed) {
        for (int i = 0; i < n; i++) m->order[i] = i;
        /* greedy layer-wise training: each layer starts a fresh optimizer
         * clock, as it would with an optimizer of its own */
        if (m->cfg.greedy_epochs > 0 && epoch % m->cfg.greedy_epochs == 0) m->optim.t = 0;
        bp_rng_shuffle(&m->rng, m->order, n);
        m->prog = (bp_progress){0};
    }
    return BPFREE_OK;
}

/* the layers' batch normalisation: batch statistics (1) or running (0) */
static void bn_mode(bpfree_model *m, int train) {
    for (int l = 0; l < m->n_layers; l++) m->layers[l].bn_train = train;
}

bpfree_status bpfree_train_epoch(bpfree_model *m, const bpfree_dataset *train,
                                 bpfree_epoch_stats *stats, bpfree_error *err) {
    bpfree_status st = check_data(m, train, err);
    if (st || (st = begin_epoch(m, train, err))) return st;
    const int n = train->n, B = m->batch, epoch = m->epochs_done;

    double t0 = now_seconds(), loss_sum = m->prog.loss;
    long correct = (long)m->prog.correct;
    int nb = (n + B - 1) / B, done = 0;
    float lr = m->cfg.optim.lr;
    bn_mode(m, 1); /* batch statistics while training, running ones otherwise */
    st = pipelined(m) ? batches_pipelined(m, train, (int)m->prog.k, nb, &done, &loss_sum, &correct, &lr, err)
                      : batches_in_turn(m, train, (int)m->prog.k, nb, &done, &loss_sum, &correct, &lr, err);
    bn_mode(m, 0);
    if (!st && done == nb) st = bp_dist_epoch_end(m, train, err);
    if (st) return st;
    double dt = m->prog.seconds + now_seconds() - t0;
    if (done < nb) { /* asked to stop: keep the place (bpfree_model_batches_done) */
        m->prog = (bp_progress){.k = done, .correct = correct, .loss = loss_sum, .seconds = dt};
        return bp_fail(err, BPFREE_EINTR, "training stopped after batch %d of %d of epoch %d",
                       done, nb, epoch + 1);
    }
    m->prog = (bp_progress){0};
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
        const char *by = bpfree_model_train_source(m); /* "none": the rule measured none */
        stats->train_acc = !train->labels        ? 0.0
                           : by && !strcmp(by, "none") ? NAN
                                                       : (double)correct / n;
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
    for (int h = 0; h < nh; h++) /* NaN scores: a head the model does not train */
        out->head_acc[h] = isnan(m->heads[(size_t)h * B * C]) ? NAN : (double)head_correct[h] / ds->n;
    if (!isfinite(out->loss))
        return bp_fail(err, BPFREE_ENAN, "evaluation on '%s' gave a non-finite loss", ds->name);
    return BPFREE_OK;
}
