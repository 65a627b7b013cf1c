/* ff_predict.c — prediction of Forward-Forward and Collaborative FF (the
 * two heads: src/rules/ff.c). */
#include "ff.h"

#include <math.h>

int bp_ff_n_heads(const bpfree_model *m) { return 2 + m->cfg.n_hidden; }

/* scores (B, C) and, if heads, (2 + L, m->rows, C): goodness, one-pass,
 * each layer's goodness.  n' = P / (C+1) samples per pass: rows c n' + i
 * carry label c, rows C n' + i the neutral label. */
void bp_ff_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    const int D = c->inputs, C = c->outputs, L = s->L, P = s->P, np = P / (C + 1);
    const int skip = c->ff_skip_first && L > 1;
    const size_t HB = (size_t)m->rows * C;
    for (int i0 = 0; i0 < B; i0 += np) {
        const int n = B - i0 < np ? B - i0 : np;
        for (int k = 0; k <= C; k++)
            for (int i = 0; i < n; i++)
                bp_ff_embed(c, x + (size_t)(i0 + i) * D, k < C ? k : -1,
                            s->X + (size_t)(k * n + i) * D);
        bp_ff_normalize_grouped(c->ff_norm, s->X, n, C, D);          /* the C labels */
        bp_ff_normalize(c->ff_norm, s->X + (size_t)C * n * D, n, D); /* the neutral one */
        if (c->ff_head) bp_ff_head_begin(m, n, s->logits);
        for (int l = 0; l < L; l++) {
            const ff_io io = bp_ff_work_io(s, l);
            bp_ff_forward_grouped(m, l, &io, n, C, 0);
            bp_ff_forward(m, l, &io, C * n, (C + 1) * n);
            if (c->ff_head && l >= bp_ff_head_first(m, s))
                bp_ff_head_add(m, s, l, io.n + (size_t)C * n * m->layers[l].out, n, s->logits);
        }
        for (int i = 0; i < n; i++) {
            float *sc = scores + (size_t)(i0 + i) * C;
            for (int k = 0; k < C; k++) {
                double g = 0.0;
                for (int l = skip; l < L; l++) g += s->G[(size_t)l * P + k * n + i];
                const float oneg = c->ff_head ? s->logits[(size_t)i * C + k] : NAN; /* no head */
                sc[k] = c->ff_predict == BPFREE_FF_PREDICT_ONEPASS ? oneg : (float)g;
                if (heads) {
                    heads[BPFREE_FF_HEAD_GOODNESS * HB + (size_t)(i0 + i) * C + k] = (float)g;
                    heads[BPFREE_FF_HEAD_ONEPASS * HB + (size_t)(i0 + i) * C + k] = oneg;
                    for (int l = 0; l < L; l++)
                        heads[(BPFREE_FF_HEAD_LAYER0 + l) * HB + (size_t)(i0 + i) * C + k] =
                            s->G[(size_t)l * P + k * n + i];
                }
            }
        }
    }
}
