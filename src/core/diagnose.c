/* diagnose.c — gradient alignment (FDFA paper 002, Fig. 8): on every
 * diag_every-th batch, the true BP gradient of the batch is computed first
 * (no step, no random numbers drawn, so training is unchanged), m->grads is
 * cleared, the rule takes its step, and the angle between each layer's
 * weight update (what the rule wrote into its gradient) and BP's gradient is
 * accumulated.  Costs nothing unless cfg.diagnose asks for it. */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef struct bp_diag {
    bp_chain c;
    float *gbp;                       /* (n_params) BP's gradient */
    double sum[BPFREE_MAX_LAYERS];
    long count[BPFREE_MAX_LAYERS];
} bp_diag;

bpfree_status bp_diag_init(bpfree_model *m, bpfree_error *err) {
    if (!(m->cfg.diagnose & BPFREE_DIAG_ALIGNMENT)) return BPFREE_OK;
    if (!m->rule->info.output_layer)
        return bp_fail(err, BPFREE_EUNSUPPORTED,
                       "--diagnose alignment compares with backprop's gradient of the output "
                       "loss; rule '%s' has no output layer",
                       m->cfg.rule);
    bp_diag *d = bp_alloc(&m->mem, sizeof *d);
    if (!d) return bp_fail(err, BPFREE_ENOMEM, "out of memory (diagnostics)");
    m->diag = d;
    if (!(d->gbp = bp_alloc_floats(&m->mem, m->n_params, "BP gradient (diagnostics)", err)))
        return BPFREE_ENOMEM;
    return bp_chain_alloc(m, &d->c, err);
}

void bp_diag_free(bpfree_model *m) {
    bp_diag *d = m->diag;
    if (!d) return;
    bp_chain_free(m, &d->c);
    bp_free(&m->mem, d->gbp);
    bp_free(&m->mem, d);
    m->diag = NULL;
}

int bp_diag_before(bpfree_model *m, long k, int B) {
    bp_diag *d = m->diag;
    int every = m->cfg.diag_every > 0 ? m->cfg.diag_every : 1;
    if (!d || k % every != 0) return 0;
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
        const bp_dense *L = &m->layers[l];
        double a = angle_deg(L->gW, d->gbp + L->off, (size_t)L->out * L->in);
        if (isnan(a)) continue;
        d->sum[l] += a;
        d->count[l]++;
    }
}

void bp_diag_epoch(bpfree_model *m, bpfree_epoch_stats *stats) {
    bp_diag *d = m->diag;
    if (!d) {
        if (stats) stats->n_align = 0;
        return;
    }
    if (stats) stats->n_align = m->n_layers;
    for (int l = 0; l < m->n_layers; l++) {
        if (stats) stats->align_deg[l] = d->count[l] ? d->sum[l] / d->count[l] : NAN;
        d->sum[l] = 0.0;
        d->count[l] = 0;
    }
}
