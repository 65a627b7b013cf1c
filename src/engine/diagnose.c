/* diagnose.c — gradient alignment and estimator variance.
 *
 * Alignment (FDFA paper 002, Fig. 8): on every
 * diag_every-th batch, the true BP gradient of the batch is computed first
 * (no step, no random numbers drawn, so training is unchanged), m->grads is
 * cleared, the rule takes its step, and the angle between each layer's
 * weight update (what the rule wrote into its gradient) and BP's gradient is
 * accumulated.
 *
 * Variance (002, Figs. 5-7): on the same batches, the model's mutable state
 * (parameters, optimizer moments and step, the state block, the RNG) is
 * saved, the rule's step is drawn diag_draws times from that same state —
 * each draw restored afterwards — and the spread of the gradient estimates
 * it wrote is measured.  Only rules whose step changes nothing but those
 * blocks can be measured this way (others keep private state: F³'s store,
 * learned feedback with its own moments); they are refused with a reason.
 * Both cost nothing unless cfg.diagnose asks for them. */
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct bp_diag {
    bp_chain c;
    float *gbp;                       /* (n_params) BP's gradient */
    double sum[BPFREE_MAX_LAYERS];
    long count[BPFREE_MAX_LAYERS];
    /* variance: saved state, and the draws' sums */
    float *save_p, *save_m, *save_v, *save_s, *gsum;
    bp_optim save_opt;
    bp_rng save_rng;
    double vsum[BPFREE_MAX_LAYERS], rsum[BPFREE_MAX_LAYERS];
    long vcount[BPFREE_MAX_LAYERS];
} bp_diag;

bpfree_status bp_diag_init(bpfree_model *m, bpfree_error *err) {
    const int align = m->cfg.diagnose & BPFREE_DIAG_ALIGNMENT;
    const int var = m->cfg.diagnose & BPFREE_DIAG_VARIANCE;
    if (!align && !var) return BPFREE_OK;
    if (align && !m->rule->info.output_layer)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--diagnose alignment compares with backprop's gradient of the output "
                       "loss; rule '%s' has no output layer",
                       m->cfg.rule);
    if (var && !(m->rule->caps & BP_CAP_VARIANCE))
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--diagnose variance redraws a step from saved state; rule '%s' keeps "
                       "state of its own that a redraw would change (`bpfree --help` lists the "
                       "rules it measures under --diagnose)",
                       m->cfg.rule);
    m->keep_grads = 1; /* both read the gradient the rule's step used */
    bp_diag *d = bp_alloc(&m->mem, sizeof *d);
    if (!d) return bp_fail(err, BPFREE_ENOMEM, "out of memory (diagnostics)");
    m->diag = d;
    const size_t np = m->n_params ? m->n_params : 1, ns = m->n_state ? m->n_state : 1;
    if (align) {
        bp_scratch(m, &d->gbp, np); /* BP's gradient */
        bp_chain_reserve(m, &d->c);
    }
    if (var) { /* saved parameters, moments, rule state; gradient sums */
        bp_scratch(m, &d->save_p, np);
        bp_scratch(m, &d->save_m, np);
        bp_scratch(m, &d->save_s, ns);
        bp_scratch(m, &d->gsum, np);
        if (m->opt_v) bp_scratch(m, &d->save_v, np);
    }
    return BPFREE_OK;
}

void bp_diag_free(bpfree_model *m) {
    bp_diag *d = m->diag;
    if (!d) return;
    bp_free(&m->mem, d); /* its buffers are workspaces */
    m->diag = NULL;
}

static void save_state(bpfree_model *m, bp_diag *d, int restore) {
    const size_t np = m->n_params * sizeof(float), ns = m->n_state * sizeof(float);
    float *blocks[] = {m->params, m->opt_m, m->opt_v, m->state};
    float *saved[] = {d->save_p, d->save_m, d->save_v, d->save_s};
    size_t sizes[] = {np, np, np, ns};
    for (int i = 0; i < 4; i++)
        if (blocks[i] && saved[i] && sizes[i])
            memcpy(restore ? blocks[i] : saved[i], restore ? saved[i] : blocks[i], sizes[i]);
    if (restore) {
        m->optim = d->save_opt;
        m->rng = d->save_rng;
    } else {
        d->save_opt = m->optim;
        d->save_rng = m->rng;
    }
}

/* K draws of the rule's step from the same state; the model is left as it
 * was, RNG included, so the real step that follows is unchanged. */
static void measure_variance(bpfree_model *m, bp_diag *d, int B) {
    const int K = m->cfg.diag_draws;
    double sq[BPFREE_MAX_LAYERS] = {0};
    save_state(m, d, 0);
    memset(d->gsum, 0, m->n_params * sizeof(float));
    for (int k = 0; k < K; k++) {
        double loss = 0.0;
        long correct = 0;
        m->rng = d->save_rng;
        for (int j = 0; j < k; j++) bp_rng_u64(&m->rng); /* a different stream per draw */
        bp_rng_seed(&m->rng, bp_rng_u64(&m->rng));
        m->rule->train_batch(m, B, &loss, &correct);
        for (int l = 0; l < m->n_layers; l++) {
            const bp_layer *L = &m->layers[l];
            const size_t n = bp_layer_n_weights(L);
            float *gs = d->gsum + L->off;
            for (size_t i = 0; i < n; i++) {
                gs[i] += L->gW[i];
                sq[l] += (double)L->gW[i] * L->gW[i];
            }
        }
        save_state(m, d, 1);
    }
    /* sum_k |g_k - mean|^2 = sum_k |g_k|^2 - |sum_k g_k|^2 / K */
    for (int l = 0; l < m->n_layers; l++) {
        const bp_layer *L = &m->layers[l];
        const size_t n = bp_layer_n_weights(L);
        double s2 = 0.0;
        for (size_t i = 0; i < n; i++) s2 += (double)d->gsum[L->off + i] * d->gsum[L->off + i];
        if (sq[l] <= 0.0) continue; /* the rule does not update this layer */
        double spread = sq[l] - s2 / K;
        if (spread < 1e-6 * sq[l]) spread = 0.0; /* a deterministic rule: rounding only */
        d->vsum[l] += spread / sq[l];
        d->rsum[l] += spread / ((double)K * (double)n);
        d->vcount[l]++;
    }
}

int bp_diag_before(bpfree_model *m, long k, int B) {
    bp_diag *d = m->diag;
    int every = m->cfg.diag_every > 0 ? m->cfg.diag_every : 1;
    if (!d || k % every != 0) return 0;
    if (m->cfg.diagnose & BPFREE_DIAG_VARIANCE) measure_variance(m, d, B);
    if (!(m->cfg.diagnose & BPFREE_DIAG_ALIGNMENT)) return 0;
    bp_chain_grads(m, &d->c, B);
    memcpy(d->gbp, m->grads, m->n_params * sizeof(float));
    memset(m->grads, 0, m->n_params * sizeof(float));
    return 1;
}

/* angle in degrees between a and b; NaN if either is zero */
static double angle_deg(const float *a, const float *b, size_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0.0 || bb == 0.0) return NAN;
    double c = ab / sqrt(aa * bb);
    c = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
    return acos(c) * (180.0 / 3.14159265358979323846);
}

void bp_diag_after(bpfree_model *m) {
    bp_diag *d = m->diag;
    for (int l = 0; l < m->n_layers; l++) {
        const bp_layer *L = &m->layers[l];
        double a = angle_deg(L->gW, d->gbp + L->off, bp_layer_n_weights(L));
        if (isnan(a)) continue;
        d->sum[l] += a;
        d->count[l]++;
    }
}

void bp_diag_epoch(bpfree_model *m, bpfree_epoch_stats *stats) {
    bp_diag *d = m->diag;
    if (stats) stats->n_align = stats->n_var = 0;
    if (!d) return;
    const int align = m->cfg.diagnose & BPFREE_DIAG_ALIGNMENT;
    const int var = m->cfg.diagnose & BPFREE_DIAG_VARIANCE;
    if (stats) {
        stats->n_align = align ? m->n_layers : 0;
        stats->n_var = var ? m->n_layers : 0;
    }
    for (int l = 0; l < m->n_layers; l++) {
        if (stats && align) stats->align_deg[l] = d->count[l] ? d->sum[l] / d->count[l] : NAN;
        if (stats && var) {
            stats->var_norm[l] = d->vcount[l] ? d->vsum[l] / d->vcount[l] : NAN;
            stats->var_raw[l] = d->vcount[l] ? d->rsum[l] / d->vcount[l] : NAN;
        }
        d->sum[l] = d->vsum[l] = d->rsum[l] = 0.0;
        d->count[l] = d->vcount[l] = 0;
    }
}
