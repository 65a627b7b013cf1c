/* ff_train.c — training of Forward-Forward and Collaborative FF (the
 * algorithm, its equations and the memory layout: src/rules/ff.c).
 *
 * Plain and pipelined training are made of the same steps: a chunk's rows
 * embedded (bp_ff_embed_neutral, bp_ff_embed_signed) and normalised; a
 * layer's forward on them (bp_ff_forward); the layer's training step on the
 * chunk — loss, dL/dG, dz and the gradient sums (layer_grad) — and, after
 * the batch's last chunk, its optimizer step and peer means (layer_step);
 * the one-pass head on each chunk's neutral rows (head_chunk, head_grad) and
 * its own step (head_step).  They differ only in the order of the loops.
 * Plain training takes a chunk through every layer before the next chunk:
 * the work buffers hold one chunk, and hard negatives need the head's
 * prediction, so every layer's neutral pass, before the chunk's positive and
 * negative rows.  A pipelined stage takes every chunk of a batch through its
 * layer before the next layer, on another thread, gets the batch.  Nothing
 * crosses chunks but the gradient and peer sums, each added in chunk order,
 * so the two give the same numbers. */
#include "ff.h"
#include "engine/dist.h"

#include <math.h>
#include <string.h>

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static float theta_of(const bpfree_model *m, int l) {
    return m->cfg.ff_theta_width ? (float)m->layers[l].out : m->cfg.ff_theta;
}

/* the chunk of a batch of B samples that starts at sample i0 */
static ff_chunk chunk_at(const ff_state *s, int i0, int B, int last) {
    return (ff_chunk){.r = B - i0 < s->R ? B - i0 : s->R, .B = B, .beta_first = i0 == 0,
                      .last = last};
}

/* ------------------------------------------------- a layer's training step */

typedef struct {
    const bpfree_config *c;
    const bp_layer *Ly;
    const float *h, *dG, *rm;
    float *dz, *ps;
    int O, r, B, beta_first;
    float scale, lambda;
    double mean;
} ff_job;

/* rows a..b of dz = dL/dG * dG/dh * f'(z), dG/dh = 2h (sum) or 2h/O
 * (mean); on positive rows plus peer normalisation's term at the unit's
 * input */
static void dz_rows(void *ctx, size_t a, size_t b) {
    const ff_job *j = ctx;
    const bp_layer *Ly = j->Ly;
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

/* columns a..b: the sum of positive activities (peer normalisation), in
 * row order */
static void col_sums(void *ctx, size_t a, size_t b) {
    const ff_job *j = ctx;
    const int O = j->O;
    for (int q = 0; q < j->r; q++)
        for (size_t k = a; k < b; k++) j->ps[k] += j->h[(size_t)q * O + k];
}

/* After a batch: the running means of peer normalisation, from the batch's
 * sum of positive activities */
static void peer_update(bpfree_model *m, ff_state *s, int l, int B) {
    float *rm = bp_tensor_ptr(m, s->tpeer) + s->off[l];
    float *ps = s->psum + s->off[l];
    const int O = m->layers[l].out;
    float n = (float)B;
    if (m->dist) { /* data-parallel: the global batch's mean activity */
        for (int j = 0; j < O; j++) ps[j] /= n;
        bp_dist_mean(m, ps, (size_t)O);
        n = 1.0f;
    }
    for (int j = 0; j < O; j++)
        rm[j] = FF_PEER_MOMENTUM * rm[j] + (1.0f - FF_PEER_MOMENTUM) * ps[j] / n;
}

/* Layer l's training step on one chunk whose forward is in io: its loss on
 * the 2r positive and negative rows added to *lsum, dL_l/dgamma_l to *ggrad
 * (if not NULL), and its gradient to gW, gb (which the batch's first chunk
 * sets).  CFF (gamma) reads the other layers' goodness from s->G. */
static void layer_grad(bpfree_model *m, ff_state *s, int l, const ff_chunk *k, const ff_io *io,
                       double *lsum, double *ggrad) {
    const bpfree_config *c = &m->cfg;
    const int P = s->P, r = k->r, B = k->B;
    const double inv2B = 0.5 / B;
    const float lambda = c->ff_peer;
    float *gamma = s->tgamma >= 0 ? bp_tensor_ptr(m, s->tgamma) : NULL;
    const float *peer = bp_tensor_ptr(m, s->tpeer);
    const bp_layer *Ly = &m->layers[l];
    const int O = Ly->out;
    const float th = theta_of(m, l), g_l = gamma ? gamma[l] : 0.0f;
    /* dL_l/dG^collab of every row (004 eq. 8, 003 eq. 4) */
    for (int q = 0; q < 2 * r; q++) {
        double S = 0.0; /* alpha sum_{k != l} G_k, constants */
        if (gamma)
            for (int j = 0; j <= k->last; j++)
                if (j != l) S += (double)c->cff_alpha * s->G[(size_t)j * P + q];
        double gc_ = (double)io->G[q] + (double)g_l * S, d;
        if (q < r) {
            *lsum += softplus(th - gc_) * inv2B;
            d = -sigmoid(th - gc_) * inv2B;
        } else {
            *lsum += softplus(gc_ - th) * inv2B;
            d = sigmoid(gc_ - th) * inv2B;
        }
        io->dG[q] = (float)d;
        if (ggrad) *ggrad += d * S; /* dL_l/dgamma_l (eq. 7) */
    }
    /* peer normalisation on positive rows, at the unit's input; with
     * ff_peer_update before, the running mean first takes in this batch
     * (its only chunk, ff.c) */
    const int before = c->ff_peer_update == BPFREE_FF_PEER_BEFORE;
    const float *rm = peer + s->off[l];
    ff_job j = {.c = c, .h = io->h, .dG = io->dG, .rm = rm, .dz = io->dz,
                .ps = s->psum + s->off[l], .O = O, .r = r, .B = B,
                .beta_first = k->beta_first,
                .scale = c->ff_goodness == BPFREE_FF_MEAN ? 2.0f / (float)O : 2.0f,
                .lambda = lambda, .Ly = Ly};
    const double work = (double)2 * r * O * 64;
    if (before) {
        bp_split_for(work, (size_t)O, FF_COL_GRAIN, col_sums, &j);
        peer_update(m, s, l, B);
    }
    double mean = 0.0;
    if (lambda > 0.0f) {
        for (int j = 0; j < O; j++) mean += rm[j];
        mean /= O;
    }
    j.mean = mean;
    bp_split_for(work, (size_t)2 * r, FF_ROW_GRAIN, dz_rows, &j);
    /* gW += dz^T x̂, gb += sum_rows dz (the batch's first chunk sets them) */
    if (bp_ff_grouped(m, l)) /* positive and negative rows differ in the label inputs only */
        bp_dense_grad_paired(Ly, io->in, io->dz, r, bp_ff_label_cols(c),
                             k->beta_first ? 0.0f : 1.0f);
    else
        bp_layer_grad_units(Ly, io->in, io->dz, 2 * r, 0, (size_t)Ly->units,
                            k->beta_first ? 0.0f : 1.0f);
    if (!before) bp_split_for(work, (size_t)O, FF_COL_GRAIN, col_sums, &j);
}

/* After the batch's last chunk: layer l's W and b stepped with optimizer
 * clock o, A-CFF's gamma_l by plain gradient descent (eq. 7), and the
 * running means of peer normalisation. */
static void layer_step(bpfree_model *m, ff_state *s, const bp_optim *o, int l, int B,
                       double ggrad) {
    const bp_layer *Ly = &m->layers[l];
    bp_step_range(m, o, Ly->off, bp_layer_n_params(Ly));
    if (s->kind == FF_COLLAB_ADAPTIVE) {
        bp_dist_mean_d(m, &ggrad, 1); /* data-parallel: the global batch's */
        bp_tensor_ptr(m, s->tgamma)[l] -= m->cfg.cff_gamma_lr * (float)ggrad;
    }
    if (m->cfg.ff_peer_update == BPFREE_FF_PEER_AFTER) peer_update(m, s, l, B);
}

/* Layer l's forward on the chunk's neutral rows, their normalised outputs
 * copied to nn (r, O) for the head */
static void neutral_rows(bpfree_model *m, int l, const ff_io *io, int r, float *nn) {
    const int O = m->layers[l].out;
    bp_ff_forward(m, l, io, 2 * r, 3 * r);
    memcpy(nn, io->n + (size_t)2 * r * O, (size_t)r * O * sizeof(float));
}

/* ------------------------------------------------------- the one-pass head */

static void softmax_rows(float *z, int B, int C) {
    for (int b = 0; b < B; b++) {
        float *v = z + (size_t)b * C, mx = v[0];
        for (int c = 1; c < C; c++) mx = v[c] > mx ? v[c] : mx;
        double t = 0.0;
        for (int c = 0; c < C; c++) t += exp((double)(v[c] - mx));
        for (int c = 0; c < C; c++) v[c] = (float)(exp((double)(v[c] - mx)) / t);
    }
}

/* The head on one chunk of r samples whose neutral activities are nn[l]
 * (r, O_l): its softmax, left in s->logits, and the number of its correct
 * predictions (the training accuracy reported: the head's, before its
 * step). */
static int head_chunk(bpfree_model *m, ff_state *s, const float *const *nn, const int *lb, int r) {
    const int C = m->cfg.outputs;
    bp_ff_head_begin(m, r, s->logits);
    for (int l = bp_ff_head_first(m, s); l < s->L; l++) bp_ff_head_add(m, s, l, nn[l], r, s->logits);
    const int correct = bp_count_correct(s->logits, lb, r, C);
    softmax_rows(s->logits, r, C);
    return correct;
}

/* The head's gradient from that chunk: dCE/dlogits = (p - y) / B, summed
 * over the chunks of the batch. */
static void head_grad(bpfree_model *m, ff_state *s, const int *lb, const ff_chunk *k,
                      const float *const *nn) {
    const int C = m->cfg.outputs, r = k->r;
    float *gF = bp_tensor_grad(m, s->tF), *gc = bp_tensor_grad(m, s->tc);
    for (int i = 0; i < r; i++) s->logits[(size_t)i * C + lb[i]] -= 1.0f;
    for (size_t q = 0; q < (size_t)r * C; q++) s->logits[q] *= 1.0f / (float)k->B;
    for (int l = bp_ff_head_first(m, s); l < s->L; l++) { /* a skipped layer's block stays 0 */
        const int O = m->layers[l].out;
        bpfree_gemm(1, 0, C, O, r, 1.0f, s->logits, C, nn[l], O, k->beta_first ? 0.0f : 1.0f,
                    gF + s->off[l], s->sumW);
    }
    if (k->beta_first) memset(gc, 0, (size_t)C * sizeof(float));
    for (int i = 0; i < r; i++)
        for (int q = 0; q < C; q++) gc[q] += s->logits[(size_t)i * C + q];
}

/* the head's own Adam step on F, c (one range) */
static void head_step(bpfree_model *m, ff_state *s) {
    const int C = m->cfg.outputs;
    bp_optim_begin_step(&s->hopt, m->cfg.ff_head_lr);
    const size_t hoff = m->tensors[s->tF].off, hn = (size_t)C * s->sumW + C;
    bp_dist_mean(m, m->grads + hoff, hn); /* data-parallel: the global batch's gradient */
    bp_optim_step(&s->hopt, m->params + hoff, m->grads + hoff, s->hm, s->hv, hn);
}

/* ------------------------------------------------------------ plain */

/* The chunk's wrong labels.  Data-parallel (one chunk per rank): drawn for
 * the global batch, from every rank's labels and head predictions, so the
 * generator stays in step with one process's; this rank keeps its own. */
static bpfree_status draw_negatives(bpfree_model *m, ff_state *s, const int *lb, int r) {
    const int C = m->cfg.outputs, G = bp_dist_rows(m, r);
    if (!m->dist) {
        bp_ff_negatives(&m->rng, m->cfg.ff_negatives, lb, s->logits, r, C, s->neg);
        return BPFREE_OK;
    }
    if (G > s->R || m->dist->n != r) return BPFREE_EUNSUPPORTED; /* needs one chunk */
    memcpy(s->neg, lb, (size_t)r * sizeof(int)); /* labels in, wrong labels out (in place) */
    const int off = bp_dist_gather_rows(m, s->neg, sizeof(int), r);
    const int hard = m->cfg.ff_negatives == BPFREE_FF_NEG_HARD; /* random reads no prediction */
    if (hard) bp_dist_gather_rows(m, s->logits, (size_t)C * sizeof(float), r);
    bp_ff_negatives(&m->rng, m->cfg.ff_negatives, s->neg, s->logits, G, C, s->neg);
    memmove(s->neg, s->neg + off, (size_t)r * sizeof(int));
    if (hard) memmove(s->logits, s->logits + (size_t)off * C, (size_t)r * C * sizeof(float));
    return BPFREE_OK;
}

/* A chunk's neutral rows through every layer, the head on them and its
 * gradient, and the chunk's wrong labels, drawn from the head's prediction
 * (hard negatives) or uniformly.  Returns the head's correct predictions. */
static int neutral_pass(bpfree_model *m, ff_state *s, const float *xb, const int *lb,
                        const ff_chunk *k, bpfree_status *st) {
    const bpfree_config *c = &m->cfg;
    const int D = c->inputs, r = k->r;
    bp_ff_embed_neutral(c, xb, r, s->X);
    bp_ff_normalize(c->ff_norm, s->X + (size_t)2 * r * D, r, D);
    for (int l = 0; l < s->L; l++) {
        const ff_io io = bp_ff_work_io(s, l);
        neutral_rows(m, l, &io, r, s->nn[l]);
    }
    const int correct = head_chunk(m, s, (const float *const *)s->nn, lb, r);
    *st = draw_negatives(m, s, lb, r);
    head_grad(m, s, lb, k, (const float *const *)s->nn);
    return correct;
}

/* The chunk's positive and negative rows through layers [0, k->last]; the
 * layers from `first` on take their training step.  FF trains each layer
 * right after its forward (its buffers ping-pong); CFF needs every layer's
 * goodness first (eq. 5). */
static void signed_pass(bpfree_model *m, ff_state *s, const float *xb, const int *lb,
                        const int *ib, const ff_chunk *k, int first, double *lsum,
                        double *ggrad) {
    const bpfree_config *c = &m->cfg;
    const int r = k->r, collab = s->kind != FF_PLAIN;
    bp_ff_embed_signed(c, xb, lb, s->neg, r, s->X);
    bp_ff_normalize_grouped(c->ff_norm, s->X, r, 2, c->inputs);
    for (int l = 0; l <= k->last; l++) {
        const ff_io io = bp_ff_work_io(s, l);
        const int given = l == 0 && s->z1_on; /* the positive rows' product, kept */
        if (given) {
            const size_t O = (size_t)m->layers[0].out;
            for (int q = 0; q < r; q++)
                memcpy(io.h + q * O, s->z1 + (size_t)ib[q] * O, O * sizeof(float));
        }
        bp_ff_forward_grouped(m, l, &io, r, 2, given);
        if (!collab && l >= first) layer_grad(m, s, l, k, &io, &lsum[l], &ggrad[l]);
    }
    for (int l = first; collab && l <= k->last; l++) {
        const ff_io io = bp_ff_work_io(s, l);
        layer_grad(m, s, l, k, &io, &lsum[l], &ggrad[l]);
    }
}

/* The layers this batch trains, [*first, *last]: all, or on the greedy
 * schedule layer `active` alone — the layers below it are frozen, those
 * above it are not run (they contribute G = 0 to CFF). */
void bp_ff_trained_layers(const bpfree_model *m, const ff_state *s, int *first, int *last) {
    int active = m->cfg.greedy_epochs > 0 ? m->epochs_done / m->cfg.greedy_epochs : -1;
    if (active >= s->L) active = s->L - 1;
    *first = active >= 0 ? active : 0;
    *last = active >= 0 ? active : s->L - 1;
}

bpfree_status bp_ff_train(bpfree_model *m, int B, double *loss, long *correct) {
    ff_state *s = m->rs;
    const int D = m->cfg.inputs;
    int first, last;
    bp_ff_trained_layers(m, s, &first, &last);
    double lsum[BPFREE_MAX_LAYERS] = {0}, ggrad[BPFREE_MAX_LAYERS] = {0};
    memset(s->psum, 0, (size_t)s->sumW * sizeof(float));
    for (int b = 0; b < B; b++) /* FF needs class labels */
        if (m->lb[b] < 0 || m->lb[b] >= m->cfg.outputs) return BPFREE_EINVAL;
    for (int i0 = 0; i0 < B; i0 += s->R) {
        const ff_chunk k = chunk_at(s, i0, B, last);
        const float *xb = m->xb + (size_t)i0 * D;
        bpfree_status st = BPFREE_OK;
        if (m->cfg.ff_head) *correct += neutral_pass(m, s, xb, m->lb + i0, &k, &st);
        else st = draw_negatives(m, s, m->lb + i0, k.r); /* random: the same draws */
        if (st) return st;
        signed_pass(m, s, xb, m->lb + i0, m->ib + i0, &k, first, lsum, ggrad);
    }
    /* steps: every trained layer (and gamma, the peer means), the head */
    double ltot = 0.0;
    for (int l = first; l <= last; l++) {
        layer_step(m, s, &m->optim, l, B, ggrad[l]);
        ltot += lsum[l];
    }
    if (m->cfg.ff_head) head_step(m, s);
    *loss += ltot / (last - first + 1);
    return BPFREE_OK;
}

/* ------------------------------------------------------------ pipelined
 *
 * --pipeline (plain ff, random negatives, all layers every batch): layer l
 * trains on batch k+1 while layer l+1 trains on batch k.  A batch travels as
 * 3B rows — chunk by chunk the positive, negative and neutral rows of R
 * samples, the layout of the work buffers — and carries every layer's
 * neutral activities (the carry: layer l's (B, O_l) at B·off[l]) to the last
 * layer, which runs the one-pass head.  A layer's h, dz, G and dG are its
 * stage's scratch (w->rs).  The numbers are plain training's (see above). */

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
        bp_ff_embed_neutral(c, xb, r, X);
        bp_ff_negatives(&m->rng, c->ff_negatives, lb, NULL, r, C, s->neg);
        bp_ff_embed_signed(c, xb, lb, s->neg, r, X);
        bp_ff_normalize_grouped(c->ff_norm, X, r, 2, D);
        bp_ff_normalize(c->ff_norm, X + (size_t)2 * r * D, r, D);
    }
}

/* the last stage: the one-pass head on the carried neutral activities */
static void pipe_head(bpfree_model *m, ff_state *s, bp_pipe_batch *b) {
    const int B = b->rows;
    const float *nn[BPFREE_MAX_LAYERS];
    for (int i0 = 0; i0 < B; i0 += s->R) {
        const ff_chunk k = chunk_at(s, i0, B, s->L - 1);
        for (int l = 0; l < s->L; l++)
            nn[l] = b->carry + (size_t)m->batch * s->off[l] + (size_t)i0 * m->layers[l].out;
        b->correct += head_chunk(m, s, nn, b->lb + i0, k.r);
        head_grad(m, s, b->lb + i0, &k, nn);
    }
    head_step(m, s);
}

void bp_ff_pipe_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int l, const float *in,
                      float *out, bp_pipe_batch *b) {
    ff_state *s = m->rs;
    const int B = b->rows, R = s->R, O = m->layers[l].out, I = m->layers[l].in;
    const size_t W = (size_t)bp_max_width(m);
    float *h = w->rs, *dz = h + 3 * (size_t)R * W, *G = dz + 2 * (size_t)R * W, *dG = G + 3 * R;
    float *nn = b->carry + (size_t)m->batch * s->off[l];
    if (l == 0) in = s->Xp;
    double lsum = 0.0;
    memset(s->psum + s->off[l], 0, (size_t)O * sizeof(float));
    for (int i0 = 0; i0 < B; i0 += R) {
        const ff_chunk k = chunk_at(s, i0, B, s->L - 1);
        const ff_io io = {.in = in + (size_t)3 * i0 * I, .h = h, .n = out + (size_t)3 * i0 * O,
                          .G = G, .dz = dz, .dG = dG};
        neutral_rows(m, l, &io, k.r, nn + (size_t)i0 * O); /* for the head */
        bp_ff_forward_grouped(m, l, &io, k.r, 2, 0);
        layer_grad(m, s, l, &k, &io, &lsum, NULL);
    }
    layer_step(m, s, o, l, B, 0.0);
    b->loss += lsum; /* the layers' losses in order, then their mean, as bp_ff_train */
    if (l == s->L - 1) {
        pipe_head(m, s, b);
        b->loss /= s->L;
    }
}
