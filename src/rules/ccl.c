/* ccl.c — counter-current learning (Kao and Hariharan, NeurIPS 2024; survey
 * 000 §III-I).
 *
 * Two networks run against each other.  The forward one is the model; the
 * feedback one starts from the targets and runs down (000 §III-I):
 *     h^_{l-1} = f(V_l h^_l + b_{l-1}),   h^_L = y
 * with y the one-hot code of every class (the authors' code feeds all C
 * codes, so h^_l is C x n_l: one feedback activity per class).  At every
 * hidden level the two meet in
 *     L_l = || norm(h_l) norm(h^_l)^T - I ||^2     (000 §III-I; mean over the batch)
 * where norm divides each row by its L2 norm and I's row b is the one-hot
 * code of sample b's label (sample b against class c: 1 if c is its label):
 * the forward activity of a sample should point where its class's feedback
 * activity points, and away from the others.  Each side learns from L_l with
 * its own input held fixed (no gradient crosses a level): W_l from h_l, V_{l+1}
 * from h^_l.  The output layer W_L learns from CE(h_L, y).  Level 0 (the
 * input against h^_0) trains only V_1, which the forward net never uses: it
 * is left out.
 *
 * What `norm` is (ccl_norm):
 *   1  rows over their L2 norms, as 000 writes it: S = cos(h_b, h^_c).
 *      S_b,y = 1 asks every sample of a class to point the same way as its
 *      class's feedback activity, so each hidden layer collapses onto C
 *      directions and passes nothing else up: on MNIST a second hidden layer
 *      made it worse (256 units, 2 epochs: 94.1% with one, 92.6% with two),
 *      and 784-1000-1000 stayed at 95.1% after 8 epochs whatever the rate.
 *   0  raw activities (the authors' MLP code): S = h_b . h^_c.  Only the
 *      projection of h_b on the C feedback directions is asked for, the rest
 *      is free — no collapse — but S starts at O(n) against targets of 0/1;
 *      the authors clip the gradient norm (SGD at lr 1), bpfree has no
 *      clipping: plain SGD diverges and Adam's second moments, filled by the
 *      first huge gradients, stall it (90.7% after 2 epochs).
 *   2  (default) both over sqrt(n): S = h_b . h^_c / n, the mean product —
 *      the raw form's freedom at the targets' scale from the start.  With ELU
 *      units (a product can be 0 without disjoint supports, as the authors'
 *      ELU nets allow) and Adam at 3e-3 it reaches 98% on 784-1000-1000 in 8
 *      epochs (README). */
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct ccl_state {
    float *h[BPFREE_MAX_LAYERS + 1];  /* forward: h[0] = input, h[l+1] = layer l */
    float *g[BPFREE_MAX_LAYERS];      /* feedback activity of hidden level l (C, n_l) */
    float *eye;                       /* (C, C): h^_L, every class's code */
    float *U, *Q;                     /* normalised h_l (B, n), h^_l (C, n) */
    float *ru, *rq;                   /* their row norms */
    float *S;                         /* (B, C) similarities, then dL/dS */
    float *dh, *dq, *e;               /* (B, n), (C, n), (B, C) */
    int V[BPFREE_MAX_LAYERS];         /* feedback layer into hidden level l */
} ccl_state;

/* width of the level above hidden level l: the next hidden layer, or C */
static int above(const bpfree_model *m, int l) {
    return l + 1 < m->cfg.n_hidden ? m->layers[l + 1].out : m->cfg.outputs;
}

static bpfree_status ccl_reserve(bpfree_model *m, bpfree_error *err) {
    ccl_state *s = m->rs;
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "V%d", l + 2); /* V_{l+1} makes h^_l (000's 1-based l) */
        s->V[l] = bp_aux_reserve(m, name, above(m, l), m->layers[l].out);
        if (s->V[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

static void feedback_layer(const bpfree_model *m, int l, bp_layer *F) {
    const ccl_state *s = m->rs;
    bp_aux_layer(m, s->V[l], above(m, l), m->layers[l].out, m->cfg.act, F);
}

static bpfree_status ccl_init(bpfree_model *m, bpfree_error *err) {
    ccl_state *s = m->rs;
    const size_t B = (size_t)m->rows, W = (size_t)bp_max_width(m), C = (size_t)m->cfg.outputs;
    (void)err;
    for (int l = 0; l < m->cfg.n_hidden; l++) {
        bp_layer F;
        feedback_layer(m, l, &F);
        bp_aux_init(m, &F, m->cfg.init);
    }
    bp_acts_reserve(m, s->h);
    for (int l = 0; l < m->cfg.n_hidden; l++) bp_scratch(m, &s->g[l], C * m->layers[l].out);
    bp_scratch(m, &s->eye, C * C);
    bp_scratch(m, &s->U, B * W);
    bp_scratch(m, &s->Q, C * W);
    bp_scratch(m, &s->ru, B);
    bp_scratch(m, &s->rq, C);
    bp_scratch(m, &s->S, B * C);
    bp_scratch(m, &s->dh, B * W);
    bp_scratch(m, &s->dq, C * W);
    bp_scratch(m, &s->e, B * C);
    return BPFREE_OK;
}

/* U (R, n) = rows of h over their L2 norms r (norm 1), over sqrt(n) (norm 2:
 * U Q^T = h q^T / n, the mean product), or h itself (norm 0) */
static void normalise(int norm, const float *h, int R, int n, float *U, float *r) {
    for (int i = 0; i < R; i++) {
        const float *x = h + (size_t)i * n;
        double ss = 0.0;
        for (int k = 0; k < n; k++) ss += (double)x[k] * x[k];
        r[i] = norm == 1 ? (float)sqrt(ss) : norm == 2 ? sqrtf((float)n) : 1.0f;
        const float inv = norm == 1 ? 1.0f / (r[i] + 1e-8f) : 1.0f / r[i];
        for (int k = 0; k < n; k++) U[(size_t)i * n + k] = x[k] * inv;
    }
}

/* d (R, n): dL/dU -> dL/dh through u = h / (|h| + eps) (norm 1) or
 * u = h / sqrt(n) (norm 2), in place */
static void normalise_back(int norm, const float *U, const float *r, float *d, int R, int n) {
    if (norm == 2)
        for (size_t i = 0; i < (size_t)R * n; i++) d[i] /= r[0];
    if (norm != 1) return;
    for (int i = 0; i < R; i++) {
        float *g = d + (size_t)i * n;
        const float *u = U + (size_t)i * n;
        if (r[i] <= 0.0f) { /* no activity: f' is 0 there too */
            memset(g, 0, (size_t)n * sizeof(float));
            continue;
        }
        double ug = 0.0;
        for (int k = 0; k < n; k++) ug += (double)u[k] * g[k];
        const float den = r[i] + 1e-8f, c = (float)(ug * den / r[i]);
        for (int k = 0; k < n; k++) g[k] = (g[k] - u[k] * c) / den;
    }
}

/* Hidden level l: L_l and the steps of W_l and V_{l+1} (inputs held fixed).
 * Returns L_l. */
static double level_step(bpfree_model *m, int l, int B) {
    ccl_state *s = m->rs;
    const int n = m->layers[l].out, C = m->cfg.outputs, nz = m->cfg.ccl_norm;
    normalise(nz, s->h[l + 1], B, n, s->U, s->ru);
    normalise(nz, s->g[l], C, n, s->Q, s->rq);
    bpfree_gemm(0, 1, B, C, n, 1.0f, s->U, n, s->Q, n, 0.0f, s->S, C); /* S = U Q^T */
    double L = 0.0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) { /* dL/dS = 2 (S - I) / B */
            float *x = s->S + (size_t)b * C + c;
            const float d = *x - m->yb[(size_t)b * C + c];
            L += (double)d * d;
            *x = 2.0f * d / (float)B;
        }
    bpfree_gemm(0, 0, B, n, C, 1.0f, s->S, C, s->Q, n, 0.0f, s->dh, n); /* dL/dU = dS Q */
    bpfree_gemm(1, 0, C, n, B, 1.0f, s->S, C, s->U, n, 0.0f, s->dq, n); /* dL/dQ = dS^T U */
    normalise_back(nz, s->U, s->ru, s->dh, B, n);
    normalise_back(nz, s->Q, s->rq, s->dq, C, n);
    bp_layer_backward_step(m, l, s->h[l], s->h[l + 1], s->dh, B);      /* W_l */
    bp_layer F;
    feedback_layer(m, l, &F);
    const float *gin = l + 1 < m->cfg.n_hidden ? s->g[l + 1] : s->eye;
    bp_aux_backward_step(m, s->V[l], &F, gin, s->g[l], s->dq, C);       /* V_{l+1} */
    return L / B;
}

static bpfree_status ccl_train(bpfree_model *m, int B, double *loss, long *correct) {
    ccl_state *s = m->rs;
    const int L = m->n_layers, C = m->cfg.outputs, nh = m->cfg.n_hidden;
    s->h[0] = m->xb;
    bp_forward_all(m, m->xb, s->h, B);
    *correct += bp_count_correct(s->h[L], m->lb, B, C);
    *loss += bp_loss(m->cfg.loss, s->h[L], m->yb, B, C, s->e);
    memset(s->eye, 0, (size_t)C * C * sizeof(float)); /* h^_L = y, every class */
    for (int c = 0; c < C; c++) s->eye[(size_t)c * C + c] = 1.0f;
    for (int l = nh - 1; l >= 0; l--) { /* the feedback pass, top down */
        bp_layer F;
        feedback_layer(m, l, &F);
        bp_layer_forward(&F, l + 1 < nh ? s->g[l + 1] : s->eye, s->g[l], C);
    }
    for (int l = 0; l < nh; l++) level_step(m, l, B);
    bp_layer_backward_step(m, L - 1, s->h[L - 1], s->h[L], s->e, B); /* CE at the output */
    return BPFREE_OK;
}

static void ccl_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    ccl_state *s = m->rs;
    (void)heads;
    bp_forward_all(m, x, s->h, B);
    memcpy(scores, s->h[m->n_layers], (size_t)B * m->cfg.outputs * sizeof(float));
}

/* the authors' ELU units; Adam at 3e-3 (bpfree's choice, against its 1e-3
 * default: 97.5% against 95.6% after 2 epochs of 784-256-256) */
static void ccl_defaults(bpfree_config *c) {
    c->act = BPFREE_ACT_ELU;
    c->optim.lr = 3e-3f;
}

static const bp_setting ccl_settings[] = {
    BP_ROW_NUM("ccl-norm", "ccl_norm", "N",
               "how activities meet: 1 = L2-normalised (000 §III-I), 0 = raw (the authors' "
               "MLP code), 2 = raw over sqrt(n) each, the mean product", "2", BP_SET_INT,
               ccl_norm, 0, 2, 0, 0),
};

const bp_rule bp_rule_ccl = {
    .info = {.name = "ccl",
             .title = "Counter-Current Learning",
             .paper = "Kao & Hariharan 2024; survey Huang et al. 2025 §III-I",
             .output_layer = 1,
             .weight_transport = "no",        /* 000 Table I: a feedback net of its own */
             .frozen_activities = "yes",      /* Fig. 8 (a) */
             .locality = "multi-layer",       /* Fig. 9 (b.2) */
             .update_locking = "backward"},   /* 000 §IV-B4: backwards locked */
    .defaults = ccl_defaults,
    .reserve = ccl_reserve,
    .init = ccl_init,
    .train_batch = ccl_train,
    .predict = ccl_predict,
    .state_size = sizeof(ccl_state),
    .layer_note = " (CCL's feedback net is made of dense layers over each level's flattened features)",
    .caps = BP_CAP_VARIANCE,
    .settings = ccl_settings,
    .n_settings = (int)(sizeof ccl_settings / sizeof *ccl_settings),
};
