/* ff_kernels.c — the pieces of Forward-Forward (src/rules/ff.c): the label
 * embedding, the normalisation, the goodness, the negative labels, a layer's
 * forward and the one-pass head's logits. */
#include "ff.h"

#include <math.h>
#include <string.h>

void bp_ff_embed(const bpfree_config *c, const float *x, int label, float *out) {
    const int D = c->inputs, C = bp_ff_label_cols(c);
    float v = c->ff_label;
    if (c->ff_label_max && label >= 0) {
        v = bp_maxval(x, D);
    }
    if (out != x) memcpy(out + C, x + C, (size_t)(D - C) * sizeof(float));
    for (int i = 0; i < C; i++) out[i] = label < 0 ? FF_NEUTRAL : i == label ? v : 0.0f;
}

void bp_ff_embed_neutral(const bpfree_config *c, const float *x, int r, float *X) {
    const int D = c->inputs;
    for (int i = 0; i < r; i++) bp_ff_embed(c, x + (size_t)i * D, -1, X + (size_t)(2 * r + i) * D);
}

void bp_ff_embed_signed(const bpfree_config *c, const float *x, const int *lb, const int *neg,
                        int r, float *X) {
    const int D = c->inputs;
    for (int i = 0; i < r; i++) {
        bp_ff_embed(c, x + (size_t)i * D, lb[i], X + (size_t)i * D);
        bp_ff_embed(c, x + (size_t)i * D, neg[i], X + (size_t)(r + i) * D);
    }
}

/* the eps of Löwe's RMS port (1e-8) and of the PyTorch L2 FF (1e-4) */
static float norm_scale(bpfree_ff_norm how, double sumsq, int n) {
    float d = how == BPFREE_FF_RMS ? (float)sqrt(sumsq / n) + 1e-8f : (float)sqrt(sumsq) + 1e-4f;
    return 1.0f / d;
}

/* each row by its own normaliser: B groups of one */
void bp_ff_normalize(bpfree_ff_norm how, float *v, int B, int n) {
    bp_ff_normalize_grouped(how, v, B, 1, n);
}

void bp_ff_normalize_grouped(bpfree_ff_norm how, float *v, int r, int groups, int n) {
    for (int i = 0; i < r; i++) {
        const float inv = norm_scale(how, bp_sumsq(v + (size_t)i * n, n), n);
        for (int g = 0; g < groups; g++) {
            float *x = v + ((size_t)g * r + i) * n;
            for (int q = 0; q < n; q++) x[q] *= inv;
        }
    }
}

static float goodness_of(bpfree_ff_goodness how, double sumsq, int n) {
    return (float)(how == BPFREE_FF_MEAN ? sumsq / n : sumsq);
}

float bp_ff_goodness(bpfree_ff_goodness how, const float *h, int n) {
    return goodness_of(how, bp_sumsq(h, n), n);
}

void bp_ff_negatives(bp_rng *r, bpfree_ff_neg how, const int *labels, const float *probs, int B,
                     int C, int *neg) {
    for (int b = 0; b < B; b++) {
        const int y = labels[b];
        int pick = -1;
        if (how == BPFREE_FF_NEG_HARD && probs) {
            const float *p = probs + (size_t)b * C;
            double tot = 0.0;
            for (int c = 0; c < C; c++)
                if (c != y && p[c] > 0.0f) tot += p[c];
            if (tot > 0.0 && isfinite(tot)) {
                double u = (double)bp_rng_uniform(r) * tot, acc = 0.0;
                for (int c = 0; c < C && pick < 0; c++) {
                    if (c == y || !(p[c] > 0.0f)) continue;
                    acc += p[c];
                    if (u < acc) pick = c;
                }
                for (int c = C - 1; pick < 0 && c >= 0; c--) /* rounding at the top end */
                    if (c != y && p[c] > 0.0f) pick = c;
            }
        }
        if (pick < 0) { /* uniform over the C - 1 wrong labels */
            int k = (int)bp_rng_below(r, (uint32_t)(C - 1));
            pick = k >= y ? k + 1 : k;
        }
        neg[b] = pick;
    }
}

typedef struct {
    const bpfree_config *c;
    const float *h;
    float *nout, *Gout;
    int O;
} norm_job;

/* rows a..b: the next layer's normalised input and the goodness (one sum of
 * squares gives both) */
static void norm_rows(void *ctx, size_t a, size_t b) {
    const norm_job *j = ctx;
    const int O = j->O;
    for (size_t r = a; r < b; r++) {
        const float *hr = j->h + r * O;
        float *nr = j->nout + r * O;
        const double ss = bp_sumsq(hr, O);
        const float inv = norm_scale(j->c->ff_norm, ss, O);
        j->Gout[r] = goodness_of(j->c->ff_goodness, ss, O);
        for (int k = 0; k < O; k++) nr[k] = hr[k] * inv;
    }
}

/* rows [r0, r1) of layer l's output in io: normalised and their goodness */
static void norm_out(const bpfree_model *m, int l, const ff_io *io, int r0, int r1) {
    const int O = m->layers[l].out, rows = r1 - r0;
    norm_job j = {.c = &m->cfg, .h = io->h + (size_t)r0 * O, .nout = io->n + (size_t)r0 * O,
                  .Gout = io->G + r0, .O = O};
    bp_split_for((double)rows * O * 64, (size_t)rows, FF_ROW_GRAIN, norm_rows, &j);
}

void bp_ff_forward(bpfree_model *m, int l, const ff_io *io, int r0, int r1) {
    const bp_layer *Ly = &m->layers[l];
    bp_layer_forward(Ly, io->in + (size_t)r0 * Ly->in, io->h + (size_t)r0 * Ly->out, r1 - r0);
    norm_out(m, l, io, r0, r1);
}

int bp_ff_grouped(const bpfree_model *m, int l) {
    const bp_layer *Ly = &m->layers[l];
    return l == 0 && Ly->kind == &bp_kind_dense && !Ly->bn;
}

void bp_ff_forward_grouped(bpfree_model *m, int l, const ff_io *io, int r, int groups,
                           int first_given) {
    if (!bp_ff_grouped(m, l)) {
        bp_ff_forward(m, l, io, 0, groups * r);
        return;
    }
    bp_dense_forward_grouped(&m->layers[l], io->in, io->h, r, groups, bp_ff_label_cols(&m->cfg),
                             first_given);
    norm_out(m, l, io, 0, groups * r);
}

void bp_ff_head_begin(bpfree_model *m, int rows, float *logits) {
    const int C = m->cfg.outputs;
    const float *cb = bp_tensor_ptr(m, ((ff_state *)m->rs)->tc);
    for (int r = 0; r < rows; r++) memcpy(logits + (size_t)r * C, cb, (size_t)C * sizeof(float));
}

void bp_ff_head_add(bpfree_model *m, ff_state *s, int l, const float *nl, int rows,
                    float *logits) {
    const int C = m->cfg.outputs, O = m->layers[l].out;
    bpfree_gemm(0, 1, rows, C, O, 1.0f, nl, O, bp_tensor_ptr(m, s->tF) + s->off[l], s->sumW,
                1.0f, logits, C);
}
