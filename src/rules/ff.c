/* ff.c — Forward-Forward (Hinton 2022, as 003 §2 eqs. 1–4 and 004 §II-C
 * Algorithm 1 state it) and Collaborative Forward-Forward (004 §IV, eqs. 5–8).
 *
 * Dimension letters: B batch, D inputs, C classes, O / I a layer's outputs /
 * inputs, L hidden layers.  Every hidden layer l is trained on its own loss
 * (003 eq. 4; 004 eq. 8 with theta, see NOTES):
 *     L_l = 1/2 mean_b [ softplus(theta - G⁺_b) + softplus(G⁻_b - theta) ]
 * with G = sum_j h_j^2 (003 eq. 1) or mean_j h_j^2, where h = f(W x̂ + b) is
 * the layer's output on x̂ = norm(its input): RMS x/sqrt(mean x^2) (Hinton's
 * code) or L2 x/|x| (the widely copied PyTorch FF), applied to the raw image
 * too, so a layer sees only the direction of its input and not the goodness
 * of the layer below.  Positive rows carry the true label, negative rows the
 * same image with a wrong label.  Labels are embedded by overwriting the
 * first C inputs (MNIST's first pixels are blank), as Hinton's code does.
 * No gradient crosses layers; layer l+1 sees layer l's activation from
 * before layer l's step.
 *
 * Collaborative FF (004 eq. 5): layer l's goodness is
 *     G_l^collab = G_l + gamma_l sum_{k != l} alpha_lk G_k,
 * where the other layers' G_k enter as constants (no gradient reaches
 * W_k).  cff-fixed keeps gamma_l (eq. 6); cff-adaptive steps it by plain
 * gradient descent on L_l, gamma_l -= eta_gamma dL_l/dgamma_l (eq. 7).
 * Under the layer-by-layer schedule a layer that has not been trained yet
 * contributes G_k = 0: its goodness at the initial weights carries no label
 * information and would only shift theta by an amount set by the init
 * scale; Algorithm 1's FORWARDPASS(x, l) also stops at l.  So greedy CFF's
 * first layer trains exactly as FF's, and later layers see the trained
 * layers below them.  In the all-layers schedule every layer contributes its
 * current goodness (computed in the same forward pass, before any step).
 *
 * Negatives: a uniformly random wrong label (never the true one), or hard
 * negatives (Hinton §3.3): a wrong label drawn in proportion to the one-pass
 * head's softmax probabilities on this batch, the true label excluded.
 *
 * Peer normalisation (Hinton's running-mean term, implemented from the
 * descriptions of his code and of Löwe's PyTorch port — not checked line by
 * line against either): each unit keeps a running mean of its activity on positive
 * data, r_j <- 0.9 r_j + 0.1 mean_b h⁺_bj (updated after every batch), and a
 * term lambda (r_j - mean_k r_k) / B is added to dL/dz of every positive row
 * — the gradient of lambda/2 sum_j (r_j - rbar)^2 with r_j taken to move with
 * the batch's mean activity — applied to the unit's input, not gated by
 * f'(z), so a silent ReLU is pushed back to life.  lambda = cfg.ff_peer
 * (Hinton 0.03); r is tracked (and saved) even when lambda = 0.
 *
 * Prediction, both reported (heads): (a) goodness — every one of the C labels
 * embedded, goodness summed over the layers (optionally without layer 1),
 * argmax; done as one batched pass over C·n rows for n samples at a time;
 * (b) one-pass — the input with the neutral label (0.1 in every label input)
 * goes through once and a linear softmax head F (C, sum of widths) + c reads
 * the normalised activities of all layers.  F is trained on the same neutral
 * pass of every batch with its own cross-entropy and its own Adam (lr
 * cfg.ff_head_lr, no decay); nothing flows from it into the layers.  The
 * training accuracy the engine reports is this head's, before its step.
 *
 * Memory: the rule works on at most P rows at a time, P = max(3·min(B, 512),
 * C + 1): a training batch is split into chunks of R = min(B, 512) samples
 * (R positive + R negative + R neutral rows) whose gradients are summed
 * before one step — exact, since nothing but the gradient sum (and the
 * peer-normalisation batch mean) crosses samples; a prediction of n samples
 * runs in passes of floor(P / (C+1)) samples, each (C+1)·n' rows.  Buffers:
 * P·(D + 2·sum of widths) floats for inputs, outputs and normalised outputs,
 * all allocated at build. */
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FF_CHUNK 512          /* samples per training chunk */
#define FF_PEER_MOMENTUM 0.9f /* running mean of the peer normalisation */
#define FF_NEUTRAL 0.1f       /* Hinton's neutral label */

typedef enum { FF_PLAIN = 0, FF_COLLAB_FIXED, FF_COLLAB_ADAPTIVE } ff_kind;

typedef struct ff_state {
    ff_kind kind;
    int P, R;                      /* rows of the work buffers; samples per chunk */
    int L, sumW;                   /* hidden layers, sum of their widths */
    int off[BPFREE_MAX_LAYERS];    /* column of layer l in F and in the peer means */
    float *X;                      /* (P, D) embedded inputs, normalised in place */
    /* (P, O_l) layer outputs and normalised outputs (the next layer's input).
     * ff trains a layer right after its forward, so these alias two
     * ping-pong buffers and activation memory does not grow with depth; CFF
     * needs every layer's goodness before any update and keeps them all. */
    float *h[BPFREE_MAX_LAYERS];
    float *n[BPFREE_MAX_LAYERS];
    float *ping[4];                /* ff: h and n ping-pong (P, max O) */
    float *nn[BPFREE_MAX_LAYERS];  /* (R, O_l) the neutral rows' n_l, for the head's gradient */
    float *dz;                     /* (2R, max O) */
    float *G;                      /* (L, P) goodness of every row */
    float *dG;                     /* (2R) dL/dG^collab */
    float *logits;                 /* (P, C) one-pass head */
    int *neg;                      /* (R) negative labels */
    float *Xp;                     /* --pipeline: (3B, D) a batch's embedded inputs */
    float *psum;                   /* (sumW) sum of positive activities this batch */
    float *hm, *hv;                /* Adam moments of the head (C * (sumW + 1)) */
    bp_optim hopt;                 /* the head's own Adam */
    int tF, tc, tgamma, tpeer;     /* tensors: head F (C, sumW), c (C), gamma (L), peer (sumW) */
} ff_state;

/* ------------------------------------------------------------ kernels */

void bp_ff_embed(const bpfree_config *c, const float *x, int label, float *out) {
    const int D = c->inputs, C = c->outputs < D ? c->outputs : D;
    float v = c->ff_label;
    if (c->ff_label_max && label >= 0) {
        v = bp_maxval(x, D);
    }
    if (out != x) memcpy(out + C, x + C, (size_t)(D - C) * sizeof(float));
    for (int i = 0; i < C; i++) out[i] = label < 0 ? FF_NEUTRAL : i == label ? v : 0.0f;
}

/* the eps of Löwe's RMS port (1e-8) and of the PyTorch L2 FF (1e-4) */
static float norm_scale(bpfree_ff_norm how, double sumsq, int n) {
    float d = how == BPFREE_FF_RMS ? (float)sqrt(sumsq / n) + 1e-8f : (float)sqrt(sumsq) + 1e-4f;
    return 1.0f / d;
}

void bp_ff_normalize(bpfree_ff_norm how, float *v, int B, int n) {
    for (int r = 0; r < B; r++) {
        float *x = v + (size_t)r * n;
        const float inv = norm_scale(how, bp_sumsq(x, n), n);
        for (int i = 0; i < n; i++) x[i] *= inv;
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

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static float theta_of(const bpfree_model *m, int l) {
    return m->cfg.ff_theta_width ? (float)m->layers[l].out : m->cfg.ff_theta;
}

/* The element-wise passes below run over rows (or, for sums over rows,
 * over columns, so that each sum keeps its order) split over the threads
 * with BPFREE_THREADING_SPLIT: the same numbers on any number of threads. */
#define FF_ROW_GRAIN 16
#define FF_COL_GRAIN 64

typedef struct {
    const bpfree_config *c;
    const bp_dense *Ly;
    const float *h, *dG, *rm;
    float *nout, *Gout, *dz, *ps, *gb;
    int O, r, B, beta_first;
    float scale, lambda;
    double mean;
} ff_job;

/* rows a..b: the next layer's normalised input and the goodness (one sum of
 * squares gives both) */
static void norm_rows(void *ctx, size_t a, size_t b) {
    const ff_job *j = ctx;
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

/* Layer l on `rows` rows: h = f(in W^T + b), the next layer's normalised
 * input nout and each row's goodness G. */
static void ff_forward(bpfree_model *m, int l, const float *in, int rows, float *h, float *nout,
                       float *G) {
    const bp_dense *Ly = &m->layers[l];
    const int O = Ly->out;
    bp_dense_forward(Ly, in, h, rows);
    ff_job j = {.c = &m->cfg, .h = h, .nout = nout, .Gout = G, .O = O};
    bp_split_for((double)rows * O * 64, (size_t)rows, FF_ROW_GRAIN, norm_rows, &j);
}

/* The same on rows [r0, r1) of the work buffers: the input is s->X (layer 0,
 * already normalised) or n_{l-1}; writes h_l, n_l and G_l of those rows. */
static void forward_layer(bpfree_model *m, ff_state *s, int l, int r0, int r1) {
    const int D = m->cfg.inputs, O = m->layers[l].out, I = m->layers[l].in;
    const float *in = l == 0 ? s->X + (size_t)r0 * D : s->n[l - 1] + (size_t)r0 * I;
    ff_forward(m, l, in, r1 - r0, s->h[l] + (size_t)r0 * O, s->n[l] + (size_t)r0 * O,
               s->G + (size_t)l * s->P + r0);
}

/* One-pass head, layer by layer: logits (rows, C) = c + sum_l n_l F_l^T. */
static void head_begin(bpfree_model *m, int rows, float *logits) {
    const int C = m->cfg.outputs;
    const float *cb = bp_tensor_ptr(m, ((ff_state *)m->rs)->tc);
    for (int r = 0; r < rows; r++) memcpy(logits + (size_t)r * C, cb, (size_t)C * sizeof(float));
}

static void head_add(bpfree_model *m, ff_state *s, int l, const float *nl, int rows,
                     float *logits) {
    const int C = m->cfg.outputs, O = m->layers[l].out;
    bpfree_gemm(0, 1, rows, C, O, 1.0f, nl, O, bp_tensor_ptr(m, s->tF) + s->off[l], s->sumW,
                1.0f, logits, C);
}

static void softmax_rows(float *z, int B, int C) {
    for (int b = 0; b < B; b++) {
        float *v = z + (size_t)b * C, mx = v[0];
        for (int c = 1; c < C; c++) mx = v[c] > mx ? v[c] : mx;
        double t = 0.0;
        for (int c = 0; c < C; c++) t += exp((double)(v[c] - mx));
        for (int c = 0; c < C; c++) v[c] = (float)(exp((double)(v[c] - mx)) / t);
    }
}

/* ------------------------------------------------------------ training */

/* rows a..b of dz = dL/dG * dG/dh * f'(z), dG/dh = 2h (sum) or 2h/O
 * (mean); on positive rows plus peer normalisation's term at the unit's
 * input */
static void dz_rows(void *ctx, size_t a, size_t b) {
    const ff_job *j = ctx;
    const bp_dense *Ly = j->Ly;
    const int O = j->O;
    for (size_t q = a; q < b; q++) {
        const float g = j->dG[q] * j->scale, *hq = j->h + q * O;
        float *dq = j->dz + q * O;
        for (int k = 0; k < O; k++) dq[k] = g * hq[k];
        bp_act_backward(Ly->act, hq, dq, (size_t)O);
        if (j->lambda > 0.0f && q < (size_t)j->r)
            for (int k = 0; k < O; k++)
                dq[k] += j->lambda * (float)(j->rm[k] - j->mean) / (float)j->B;
    }
}

/* columns a..b: the sum of positive activities (peer normalisation) and gb
 * += sum over rows of dz, each in row order */
static void col_sums(void *ctx, size_t a, size_t b) {
    const ff_job *j = ctx;
    const int O = j->O;
    for (int q = 0; q < j->r; q++)
        for (size_t k = a; k < b; k++) j->ps[k] += j->h[(size_t)q * O + k];
    if (j->beta_first)
        for (size_t k = a; k < b; k++) j->gb[k] = 0.0f;
    for (int q = 0; q < 2 * j->r; q++)
        for (size_t k = a; k < b; k++) j->gb[k] += j->dz[(size_t)q * O + k];
}

/* Layer l's loss on the 2r positive and negative rows of one chunk — its
 * input `in`, output h and goodness G (2r rows each) — and its gradient,
 * accumulated over the chunks of the batch (beta_first: the first chunk);
 * dz (2r, O) and dG (2r) are scratch.  CFF (gamma) reads the other layers'
 * goodness from s->G. */
static void ff_grad(bpfree_model *m, ff_state *s, int l, int r, int last, int B, int beta_first,
                    const float *in, const float *h, const float *G, float *dz, float *dG,
                    double *lsum, double *ggrad) {
    const bpfree_config *c = &m->cfg;
    const int P = s->P;
    const double inv2B = 0.5 / B;
    const float lambda = c->ff_peer;
    float *gamma = s->tgamma >= 0 ? bp_tensor_ptr(m, s->tgamma) : NULL;
    const float *peer = bp_tensor_ptr(m, s->tpeer);
    const bp_dense *Ly = &m->layers[l];
    const int O = Ly->out, I = Ly->in;
    const float th = theta_of(m, l), g_l = gamma ? gamma[l] : 0.0f;
    /* dL_l/dG^collab of every row (004 eq. 8, 003 eq. 4) */
    for (int q = 0; q < 2 * r; q++) {
        double S = 0.0; /* alpha sum_{k != l} G_k, constants */
        if (gamma)
            for (int k = 0; k <= last; k++)
                if (k != l) S += (double)c->cff_alpha * s->G[(size_t)k * P + q];
        double gc_ = (double)G[q] + (double)g_l * S, d;
        if (q < r) {
            *lsum += softplus(th - gc_) * inv2B;
            d = -sigmoid(th - gc_) * inv2B;
        } else {
            *lsum += softplus(gc_ - th) * inv2B;
            d = sigmoid(gc_ - th) * inv2B;
        }
        dG[q] = (float)d;
        if (ggrad) *ggrad += d * S; /* dL_l/dgamma_l (eq. 7) */
    }
    /* peer normalisation on positive rows, at the unit's input */
    const float *rm = peer + s->off[l];
    double mean = 0.0;
    if (lambda > 0.0f) {
        for (int j = 0; j < O; j++) mean += rm[j];
        mean /= O;
    }
    ff_job j = {.c = c, .h = h, .dG = dG, .rm = rm, .dz = dz, .ps = s->psum + s->off[l],
                .gb = Ly->gb, .O = O, .r = r, .B = B, .beta_first = beta_first,
                .scale = c->ff_goodness == BPFREE_FF_MEAN ? 2.0f / (float)O : 2.0f,
                .lambda = lambda, .mean = mean, .Ly = Ly};
    const double work = (double)2 * r * O * 64;
    bp_split_for(work, (size_t)2 * r, FF_ROW_GRAIN, dz_rows, &j);
    /* gW (O, I) += dz^T x̂; gb += sum_rows dz */
    bpfree_gemm(1, 0, O, I, 2 * r, 1.0f, dz, O, in, I, beta_first ? 0.0f : 1.0f, Ly->gW, I);
    bp_split_for(work, (size_t)O, FF_COL_GRAIN, col_sums, &j);
}

/* ff_grad on the chunk in the work buffers */
static void train_layer(bpfree_model *m, ff_state *s, int l, int r, int last, int B,
                        int beta_first, double *lsum, double *ggrad) {
    ff_grad(m, s, l, r, last, B, beta_first, l == 0 ? s->X : s->n[l - 1], s->h[l],
            s->G + (size_t)l * s->P, s->dz, s->dG, &lsum[l], &ggrad[l]);
}

/* After a batch: the running means of peer normalisation, from the batch's
 * sum of positive activities */
static void peer_update(bpfree_model *m, ff_state *s, int l, int B) {
    float *rm = bp_tensor_ptr(m, s->tpeer) + s->off[l];
    const float *ps = s->psum + s->off[l];
    for (int j = 0; j < m->layers[l].out; j++)
        rm[j] = FF_PEER_MOMENTUM * rm[j] + (1.0f - FF_PEER_MOMENTUM) * ps[j] / (float)B;
}

/* The head's gradient from one chunk of r samples whose softmax is in
 * s->logits and whose neutral activities are nn[l] (r, O_l): dCE/dlogits =
 * (p - y) / B, summed over the chunks of the batch. */
static void head_grad(bpfree_model *m, ff_state *s, const int *lb, int r, int B, int beta_first,
                      const float *const *nn) {
    const int C = m->cfg.outputs;
    float *gF = bp_tensor_grad(m, s->tF), *gc = bp_tensor_grad(m, s->tc);
    for (int i = 0; i < r; i++) s->logits[(size_t)i * C + lb[i]] -= 1.0f;
    for (size_t k = 0; k < (size_t)r * C; k++) s->logits[k] *= 1.0f / (float)B;
    for (int l = 0; l < s->L; l++) {
        const int O = m->layers[l].out;
        bpfree_gemm(1, 0, C, O, r, 1.0f, s->logits, C, nn[l], O, beta_first ? 0.0f : 1.0f,
                    gF + s->off[l], s->sumW);
    }
    if (beta_first) memset(gc, 0, (size_t)C * sizeof(float));
    for (int i = 0; i < r; i++)
        for (int k = 0; k < C; k++) gc[k] += s->logits[(size_t)i * C + k];
}

/* the head's own Adam step on F, c (one range) */
static void head_step(bpfree_model *m, ff_state *s) {
    const int C = m->cfg.outputs;
    bp_optim_begin_step(&s->hopt, m->cfg.ff_head_lr);
    const size_t hoff = m->tensors[s->tF].off, hn = (size_t)C * s->sumW + C;
    bp_optim_step(&s->hopt, m->params + hoff, m->grads + hoff, s->hm, s->hv, hn);
}

static bpfree_status ff_train(bpfree_model *m, int B, double *loss, long *correct) {
    ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    const int D = c->inputs, C = c->outputs, L = s->L;
    /* greedy schedule: layer `active` trains, the layers below are frozen,
     * the layers above are not run (they contribute G = 0 to CFF) */
    int active = c->greedy_epochs > 0 ? m->epochs_done / c->greedy_epochs : -1;
    if (active >= L) active = L - 1;
    const int first = active >= 0 ? active : 0, last = active >= 0 ? active : L - 1;
    double lsum[BPFREE_MAX_LAYERS] = {0}, ggrad[BPFREE_MAX_LAYERS] = {0};
    float *gamma = s->tgamma >= 0 ? bp_tensor_ptr(m, s->tgamma) : NULL;
    memset(s->psum, 0, (size_t)s->sumW * sizeof(float));
    for (int b = 0; b < B; b++)
        if (m->lb[b] < 0 || m->lb[b] >= C) return BPFREE_EINVAL; /* FF needs class labels */

    for (int i0 = 0; i0 < B; i0 += s->R) {
        const int r = B - i0 < s->R ? B - i0 : s->R, beta_first = i0 == 0;
        const float *xb = m->xb + (size_t)i0 * D;
        const int *lb = m->lb + i0;
        /* neutral rows [2r, 3r): all layers, the one-pass head */
        for (int i = 0; i < r; i++)
            bp_ff_embed(c, xb + (size_t)i * D, -1, s->X + (size_t)(2 * r + i) * D);
        bp_ff_normalize(c->ff_norm, s->X + (size_t)2 * r * D, r, D);
        head_begin(m, r, s->logits);
        for (int l = 0; l < L; l++) {
            const int O = m->layers[l].out;
            forward_layer(m, s, l, 2 * r, 3 * r);
            memcpy(s->nn[l], s->n[l] + (size_t)2 * r * O, (size_t)r * O * sizeof(float));
            head_add(m, s, l, s->nn[l], r, s->logits);
        }
        *correct += bp_count_correct(s->logits, lb, r, C);
        softmax_rows(s->logits, r, C);
        /* negatives from the head's current predictions (or uniform) */
        bp_ff_negatives(&m->rng, c->ff_negatives, lb, s->logits, r, C, s->neg);
        head_grad(m, s, lb, r, B, beta_first, (const float *const *)s->nn);

        /* positive rows [0, r), negative rows [r, 2r): layers [0, last] */
        for (int i = 0; i < r; i++) {
            bp_ff_embed(c, xb + (size_t)i * D, lb[i], s->X + (size_t)i * D);
            bp_ff_embed(c, xb + (size_t)i * D, s->neg[i], s->X + (size_t)(r + i) * D);
        }
        bp_ff_normalize(c->ff_norm, s->X, 2 * r, D);
        if (s->kind == FF_PLAIN) /* each layer trains right after its forward */
            for (int l = 0; l <= last; l++) {
                forward_layer(m, s, l, 0, 2 * r);
                if (l >= first) train_layer(m, s, l, r, last, B, beta_first, lsum, ggrad);
            }
        else { /* CFF: every layer's goodness first (eq. 5) */
            for (int l = 0; l <= last; l++) forward_layer(m, s, l, 0, 2 * r);
            for (int l = first; l <= last; l++)
                train_layer(m, s, l, r, last, B, beta_first, lsum, ggrad);
        }
    }
    /* steps: every trained layer, the head (its own Adam), gamma, peer means */
    double ltot = 0.0;
    for (int l = first; l <= last; l++) {
        bp_layer_step(m, l);
        ltot += lsum[l];
        if (s->kind == FF_COLLAB_ADAPTIVE) gamma[l] -= c->cff_gamma_lr * (float)ggrad[l];
        peer_update(m, s, l, B);
    }
    head_step(m, s);
    *loss += ltot / (last - first + 1);
    return BPFREE_OK;
}

/* ------------------------------------------------------------ pipelined
 *
 * --pipeline (plain ff, random negatives, all layers every batch): layer l
 * trains on batch k+1 while layer l+1 trains on batch k.  A batch travels as
 * 3B rows — chunk by chunk the positive, negative and neutral rows of R
 * samples, the layout ff_train uses — and carries every layer's neutral
 * activities (the carry: layer l's (B, O_l) at B·off[l]) to the last layer,
 * which runs the one-pass head.  Each layer does exactly ff_train's
 * arithmetic in the same order, so the numbers are those of one thread. */

static void ff_pipe_need(const bpfree_model *m, bp_pipe_need *n) {
    const ff_state *s = m->rs;
    const size_t R = (size_t)s->R, W = (size_t)bp_max_width(m);
    n->mult = 3;
    n->carry = (size_t)m->batch * s->sumW;
    n->scratch = 3 * R * W + 2 * R * W + 3 * R + 2 * R; /* h, dz, G, dG */
}

/* stage 0: the batch's rows embedded and normalised, negatives drawn */
static void ff_pipe_begin(bpfree_model *m, bp_pipe_batch *b) {
    ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    const int D = c->inputs, C = c->outputs, B = b->rows;
    for (int i0 = 0; i0 < B; i0 += s->R) {
        const int r = B - i0 < s->R ? B - i0 : s->R;
        const float *xb = b->x + (size_t)i0 * D;
        const int *lb = b->lb + i0;
        float *X = s->Xp + (size_t)3 * i0 * D;
        for (int i = 0; i < r; i++)
            bp_ff_embed(c, xb + (size_t)i * D, -1, X + (size_t)(2 * r + i) * D);
        bp_ff_negatives(&m->rng, c->ff_negatives, lb, NULL, r, C, s->neg);
        for (int i = 0; i < r; i++) {
            bp_ff_embed(c, xb + (size_t)i * D, lb[i], X + (size_t)i * D);
            bp_ff_embed(c, xb + (size_t)i * D, s->neg[i], X + (size_t)(r + i) * D);
        }
        bp_ff_normalize(c->ff_norm, X, 3 * r, D);
    }
}

/* the last stage: the one-pass head on the carried neutral activities */
static void ff_pipe_head(bpfree_model *m, ff_state *s, bp_pipe_batch *b) {
    const int C = m->cfg.outputs, B = b->rows;
    const float *nn[BPFREE_MAX_LAYERS];
    for (int i0 = 0; i0 < B; i0 += s->R) {
        const int r = B - i0 < s->R ? B - i0 : s->R;
        const int *lb = b->lb + i0;
        head_begin(m, r, s->logits);
        for (int l = 0; l < s->L; l++) {
            nn[l] = b->carry + (size_t)m->batch * s->off[l] + (size_t)i0 * m->layers[l].out;
            head_add(m, s, l, nn[l], r, s->logits);
        }
        b->correct += bp_count_correct(s->logits, lb, r, C);
        softmax_rows(s->logits, r, C);
        head_grad(m, s, lb, r, B, i0 == 0, nn);
    }
    head_step(m, s);
}

static void ff_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int l, const float *in,
                          float *out, bp_pipe_batch *b) {
    ff_state *s = m->rs;
    const bp_dense *Ly = &m->layers[l];
    const int B = b->rows, R = s->R, O = Ly->out, I = Ly->in;
    const size_t W = (size_t)bp_max_width(m);
    float *h = w->rs, *dz = h + 3 * (size_t)R * W, *G = dz + 2 * (size_t)R * W, *dG = G + 3 * R;
    float *nn = b->carry + (size_t)m->batch * s->off[l];
    if (l == 0) in = s->Xp;
    double lsum = 0.0;
    memset(s->psum + s->off[l], 0, (size_t)O * sizeof(float));
    for (int i0 = 0; i0 < B; i0 += R) {
        const int r = B - i0 < R ? B - i0 : R;
        const float *ic = in + (size_t)3 * i0 * I;
        float *oc = out + (size_t)3 * i0 * O;
        /* neutral rows (for the head), then positive and negative rows */
        ff_forward(m, l, ic + (size_t)2 * r * I, r, h + (size_t)2 * r * O,
                   oc + (size_t)2 * r * O, G + 2 * r);
        memcpy(nn + (size_t)i0 * O, oc + (size_t)2 * r * O, (size_t)r * O * sizeof(float));
        ff_forward(m, l, ic, 2 * r, h, oc, G);
        ff_grad(m, s, l, r, s->L - 1, B, i0 == 0, ic, h, G, dz, dG, &lsum, NULL);
    }
    bp_step_range(m, o, Ly->off, (size_t)O * I + O);
    peer_update(m, s, l, B);
    b->loss += lsum; /* the layers' losses in order, then their mean, as ff_train */
    if (l == s->L - 1) {
        ff_pipe_head(m, s, b);
        b->loss /= s->L;
    }
}

/* ---------------------------------------------------------- prediction */

static int ff_n_heads(const bpfree_model *m) { return 2 + m->cfg.n_hidden; }

/* scores (B, C) and, if heads, (2 + L, m->rows, C): goodness, one-pass,
 * each layer's goodness.  n' = P / (C+1) samples per pass: rows c n' + i
 * carry label c, rows C n' + i the neutral label. */
static void ff_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
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
        bp_ff_normalize(c->ff_norm, s->X, (C + 1) * n, D);
        head_begin(m, n, s->logits);
        for (int l = 0; l < L; l++) {
            forward_layer(m, s, l, 0, (C + 1) * n);
            head_add(m, s, l, s->n[l] + (size_t)C * n * m->layers[l].out, n, s->logits);
        }
        for (int i = 0; i < n; i++) {
            float *sc = scores + (size_t)(i0 + i) * C;
            for (int k = 0; k < C; k++) {
                double g = 0.0;
                for (int l = skip; l < L; l++) g += s->G[(size_t)l * P + k * n + i];
                float oneg = s->logits[(size_t)i * C + k];
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

/* --------------------------------------------------------------- build */

static bpfree_status ff_reserve(bpfree_model *m, bpfree_error *err) {
    ff_state *s = bp_alloc(&m->mem, sizeof *s);
    if (!s) return bp_fail(err, BPFREE_ENOMEM, "out of memory (ff state)");
    m->rs = s;
    s->kind = m->rule == &bp_rule_cff_adaptive ? FF_COLLAB_ADAPTIVE
              : m->rule == &bp_rule_cff_fixed  ? FF_COLLAB_FIXED
                                               : FF_PLAIN;
    s->L = m->cfg.n_hidden;
    for (int l = 0; l < s->L; l++) {
        s->off[l] = s->sumW;
        s->sumW += m->cfg.hidden[l];
    }
    const size_t C = (size_t)m->cfg.outputs;
    s->tF = bp_model_reserve(m, "F", C * s->sumW, 1);
    s->tc = bp_model_reserve(m, "Fc", C, 1);
    s->tpeer = bp_model_reserve(m, "peer_mean", (size_t)s->sumW, 0);
    s->tgamma = s->kind != FF_PLAIN ? bp_model_reserve(m, "gamma", (size_t)s->L, 0) : -1;
    if (s->tF < 0 || s->tc < 0 || s->tpeer < 0 || (s->kind != FF_PLAIN && s->tgamma < 0))
        return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    /* F must directly follow in the parameter block: one Adam range F, c */
    if (m->tensors[s->tc].off != m->tensors[s->tF].off + C * s->sumW)
        return bp_fail(err, BPFREE_EINVAL, "ff: head tensors not contiguous");
    return BPFREE_OK;
}

static bpfree_status ff_init(bpfree_model *m, bpfree_error *err) {
    ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    const int C = c->outputs;
    if (c->inputs < C)
        return bp_fail(err, BPFREE_EINVAL,
                       "rule %s embeds the label in the first %d inputs, but there are only %d",
                       c->rule, C, c->inputs);
    if (C < 2) return bp_fail(err, BPFREE_EINVAL, "rule %s needs at least 2 classes", c->rule);
    s->R = m->batch < FF_CHUNK ? m->batch : FF_CHUNK;
    s->P = 3 * s->R > C + 1 ? 3 * s->R : C + 1;
    const size_t P = (size_t)s->P, W = (size_t)bp_max_width(m), hn = (size_t)C * s->sumW + C;
    if (!(s->X = bp_alloc_floats(&m->mem, P * c->inputs, "ff inputs", err)) ||
        !(s->dz = bp_alloc_floats(&m->mem, 2 * (size_t)s->R * W, "ff deltas", err)) ||
        !(s->G = bp_alloc_floats(&m->mem, P * s->L, "goodness", err)) ||
        !(s->dG = bp_alloc_floats(&m->mem, 2 * (size_t)s->R, "goodness gradient", err)) ||
        !(s->logits = bp_alloc_floats(&m->mem, P * C, "one-pass logits", err)) ||
        !(s->psum = bp_alloc_floats(&m->mem, (size_t)s->sumW, "peer sums", err)) ||
        !(s->hm = bp_alloc_floats(&m->mem, hn, "head Adam", err)) ||
        !(s->hv = bp_alloc_floats(&m->mem, hn, "head Adam", err)))
        return BPFREE_ENOMEM;
    if (s->kind == FF_PLAIN) {
        size_t Wh = 0; /* widest layer output */
        for (int l = 0; l < s->L; l++)
            Wh = (size_t)m->layers[l].out > Wh ? (size_t)m->layers[l].out : Wh;
        for (int k = 0; k < 4; k++)
            if (!(s->ping[k] = bp_alloc_floats(&m->mem, P * Wh, "ff activations", err)))
                return BPFREE_ENOMEM;
        for (int l = 0; l < s->L; l++) {
            s->h[l] = s->ping[l % 2];
            s->n[l] = s->ping[2 + l % 2];
        }
    } else {
        for (int l = 0; l < s->L; l++)
            if (!(s->h[l] = bp_alloc_floats(&m->mem, P * m->layers[l].out, "ff activations",
                                            err)) ||
                !(s->n[l] = bp_alloc_floats(&m->mem, P * m->layers[l].out, "ff activations",
                                            err)))
                return BPFREE_ENOMEM;
    }
    for (int l = 0; l < s->L; l++)
        if (!(s->nn[l] = bp_alloc_floats(&m->mem, (size_t)s->R * m->layers[l].out,
                                         "ff neutral activations", err)))
            return BPFREE_ENOMEM;
    if (!(s->neg = bp_alloc(&m->mem, (size_t)s->R * sizeof(int))))
        return bp_fail(err, BPFREE_ENOMEM, "out of memory (negative labels)");
    if (c->pipeline >= 2) {
        if (s->kind != FF_PLAIN || c->ff_negatives != BPFREE_FF_NEG_RANDOM)
            return bp_fail(err, BPFREE_EINVAL,
                           "--pipeline works for ff with random negatives only: %s",
                           s->kind != FF_PLAIN
                               ? "CFF's layers need every layer's goodness of the batch first"
                               : "hard negatives come from the one-pass head's prediction on "
                                 "the batch, which needs every layer before layer 1 can train");
        if (!(s->Xp = bp_alloc_floats(&m->mem, 3 * (size_t)m->batch * c->inputs,
                                      "ff pipelined inputs", err)))
            return BPFREE_ENOMEM;
    }
    /* the head's own Adam: PyTorch defaults, no decay, constant lr */
    s->hopt.cfg = (bpfree_optim_config){.kind = BPFREE_OPTIM_ADAM, .lr = c->ff_head_lr,
                                        .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    /* F and c start at 0 (a convex problem); gamma at cfg.cff_gamma (eq. 6) */
    if (s->tgamma >= 0)
        for (int l = 0; l < s->L; l++) bp_tensor_ptr(m, s->tgamma)[l] = c->cff_gamma;
    return BPFREE_OK;
}

static void ff_free(bpfree_model *m) {
    ff_state *s = m->rs;
    if (!s) return;
    void *bufs[] = {s->X, s->dz, s->G, s->dG, s->logits, s->psum, s->hm, s->hv, s->neg, s->Xp};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) bp_free(&m->mem, bufs[i]);
    for (int l = 0; l < BPFREE_MAX_LAYERS; l++) {
        if (s->kind != FF_PLAIN) {
            bp_free(&m->mem, s->h[l]);
            bp_free(&m->mem, s->n[l]);
        }
        bp_free(&m->mem, s->nn[l]);
    }
    for (int k = 0; k < 4; k++) bp_free(&m->mem, s->ping[k]);
    bp_free(&m->mem, s);
    m->rs = NULL;
}

static void ff_describe(const bpfree_model *m, char *buf, size_t cap) {
    const ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    char theta[32];
    if (c->ff_theta_width) snprintf(theta, sizeof theta, "width");
    else snprintf(theta, sizeof theta, "%g", (double)c->ff_theta);
    int k = snprintf(buf, cap,
                     "%s goodness, %s norm, theta %s, %s negatives, peer %g, %s prediction%s, "
                     "one-pass head %dx%d",
                     bpfree_ff_goodness_name(c->ff_goodness), bpfree_ff_norm_name(c->ff_norm),
                     theta, bpfree_ff_neg_name(c->ff_negatives), (double)c->ff_peer,
                     bpfree_ff_predict_name(c->ff_predict),
                     c->ff_skip_first ? " (without layer 1)" : "", c->outputs, s->sumW);
    if (s->tgamma >= 0 && k >= 0 && (size_t)k < cap) {
        const float *g = bp_tensor_ptr(m, s->tgamma);
        k += snprintf(buf + k, cap - (size_t)k, "; gamma");
        for (int l = 0; l < s->L && k >= 0 && (size_t)k < cap; l++)
            k += snprintf(buf + k, cap - (size_t)k, " %.4f", (double)g[l]);
    }
}

int bpfree_model_gammas(const bpfree_model *m, float *out, int cap) {
    if (m->rule != &bp_rule_cff_fixed && m->rule != &bp_rule_cff_adaptive) return 0;
    const ff_state *s = m->rs;
    const float *g = bp_tensor_ptr(m, s->tgamma);
    for (int l = 0; l < s->L && l < cap; l++) out[l] = g[l];
    return s->L;
}

static void ff_defaults(bpfree_config *c) { c->batch = 100; }

/* FF: single-layer locality and update-unlocked (survey 000 §IV-C/D name FF
 * in both).  CFF: a layer's signal also needs the other layers' goodness of
 * the same sample, so it is multi-layer and, on the all-layers schedule,
 * waits for the forward pass. */
#define FF_RULE(var, nm, ttl, ppr, loc, lock, ...)                                         \
    const bp_rule var = {                                                                  \
        .info = {.name = nm,                                                               \
                 .title = ttl,                                                             \
                 .paper = ppr,                                                             \
                 .output_layer = 0,                                                        \
                 .weight_transport = "no",                                                 \
                 .frozen_activities = "no",                                                \
                 .locality = loc,                                                          \
                 .update_locking = lock},                                                  \
        .defaults = ff_defaults,                                                           \
        .reserve = ff_reserve,                                                             \
        .init = ff_init,                                                                   \
        .train_batch = ff_train,                                                           \
        .predict = ff_predict,                                                             \
        .n_heads = ff_n_heads,                                                             \
        .describe = ff_describe,                                                           \
        .free = ff_free,                                                                   \
        .settings = bp_ff_settings,                                                        \
        .n_settings = BP_FF_N_SETTINGS,                                                    \
        .presets = bp_ff_presets,                                                          \
        .n_presets = BP_FF_N_PRESETS,                                                      \
        .head_name = bp_ff_head_name,                                                      \
        .prediction = bp_ff_prediction,                                                    \
        __VA_ARGS__};

FF_RULE(bp_rule_ff, "ff", "Forward-Forward",
        "Hinton 2022, as 003 sec. 2 eqs. 1-4 and 004 Algorithm 1 state it", "single-layer",
        "none", .caps = BP_CAP_GREEDY, .pipe_layer = ff_pipe_layer, .pipe_begin = ff_pipe_begin,
        .pipe_need = ff_pipe_need)
FF_RULE(bp_rule_cff_fixed, "cff-fixed", "Collaborative FF, fixed gamma (F-CFF)",
        "Beigzad 2025 (paper 004), eqs. 5, 6, 8", "multi-layer", "forward",
        .caps = BP_CAP_GREEDY | BP_CAP_COLLAB,
        .pipe_layer = NULL /* every layer's goodness first (eq. 5) */)
FF_RULE(bp_rule_cff_adaptive, "cff-adaptive", "Collaborative FF, learned gamma (A-CFF)",
        "Beigzad 2025 (paper 004), eqs. 5, 7, 8", "multi-layer", "forward",
        .caps = BP_CAP_GREEDY | BP_CAP_COLLAB | BP_CAP_LEARNED_GAMMA,
        .pipe_layer = NULL)
