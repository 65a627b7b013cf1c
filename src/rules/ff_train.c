/* ff_train.c — training of Forward-Forward and Collaborative FF (the
 * algorithm and the memory layout: src/rules/ff.c), plain and pipelined. */
#include "ff.h"

#include <math.h>
#include <string.h>

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static float theta_of(const bpfree_model *m, int l) {
    return m->cfg.ff_theta_width ? (float)m->layers[l].out : m->cfg.ff_theta;
}

typedef struct {
    const bpfree_config *c;
    const bp_dense *Ly;
    const float *h, *dG, *rm;
    float *dz, *ps, *gb;
    int O, r, B, beta_first;
    float scale, lambda;
    double mean;
} ff_job;

static void softmax_rows(float *z, int B, int C) {
    for (int b = 0; b < B; b++) {
        float *v = z + (size_t)b * C, mx = v[0];
        for (int c = 1; c < C; c++) mx = v[c] > mx ? v[c] : mx;
        double t = 0.0;
        for (int c = 0; c < C; c++) t += exp((double)(v[c] - mx));
        for (int c = 0; c < C; c++) v[c] = (float)(exp((double)(v[c] - mx)) / t);
    }
}

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

bpfree_status bp_ff_train(bpfree_model *m, int B, double *loss, long *correct) {
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
        bp_ff_head_begin(m, r, s->logits);
        for (int l = 0; l < L; l++) {
            const int O = m->layers[l].out;
            bp_ff_forward_layer(m, s, l, 2 * r, 3 * r);
            memcpy(s->nn[l], s->n[l] + (size_t)2 * r * O, (size_t)r * O * sizeof(float));
            bp_ff_head_add(m, s, l, s->nn[l], r, s->logits);
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
                bp_ff_forward_layer(m, s, l, 0, 2 * r);
                if (l >= first) train_layer(m, s, l, r, last, B, beta_first, lsum, ggrad);
            }
        else { /* CFF: every layer's goodness first (eq. 5) */
            for (int l = 0; l <= last; l++) bp_ff_forward_layer(m, s, l, 0, 2 * r);
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
 * samples, the layout bp_ff_train uses — and carries every layer's neutral
 * activities (the carry: layer l's (B, O_l) at B·off[l]) to the last layer,
 * which runs the one-pass head.  Each layer does exactly bp_ff_train's
 * arithmetic in the same order, so the numbers are those of one thread. */

void bp_ff_pipe_need(const bpfree_model *m, bp_pipe_need *n) {
    const ff_state *s = m->rs;
    const size_t R = (size_t)s->R, W = (size_t)bp_max_width(m);
    n->mult = 3;
    n->carry = (size_t)m->batch * s->sumW;
    n->scratch = 3 * R * W + 2 * R * W + 3 * R + 2 * R; /* h, dz, G, dG */
}

/* stage 0: the batch's rows embedded and normalised, negatives drawn */
void bp_ff_pipe_begin(bpfree_model *m, bp_pipe_batch *b) {
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
        bp_ff_head_begin(m, r, s->logits);
        for (int l = 0; l < s->L; l++) {
            nn[l] = b->carry + (size_t)m->batch * s->off[l] + (size_t)i0 * m->layers[l].out;
            bp_ff_head_add(m, s, l, nn[l], r, s->logits);
        }
        b->correct += bp_count_correct(s->logits, lb, r, C);
        softmax_rows(s->logits, r, C);
        head_grad(m, s, lb, r, B, i0 == 0, nn);
    }
    head_step(m, s);
}

void bp_ff_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int l, const float *in,
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
        bp_ff_forward(m, l, ic + (size_t)2 * r * I, r, h + (size_t)2 * r * O,
                      oc + (size_t)2 * r * O, G + 2 * r);
        memcpy(nn + (size_t)i0 * O, oc + (size_t)2 * r * O, (size_t)r * O * sizeof(float));
        bp_ff_forward(m, l, ic, 2 * r, h, oc, G);
        ff_grad(m, s, l, r, s->L - 1, B, i0 == 0, ic, h, G, dz, dG, &lsum, NULL);
    }
    bp_step_range(m, o, Ly->off, (size_t)O * I + O);
    peer_update(m, s, l, B);
    b->loss += lsum; /* the layers' losses in order, then their mean, as bp_ff_train */
    if (l == s->L - 1) {
        ff_pipe_head(m, s, b);
        b->loss /= s->L;
    }
}
