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
 * data, r_j <- 0.9 r_j + 0.1 mean_b h⁺_bj (cfg.ff_peer_update: after the
 * batch's step, or before the term is computed, as in Hinton's code and
 * Loewe's port; the whole batch is then one chunk), and a
 * term lambda (r_j - mean_k r_k) / B is added to dL/dz of every positive row
 * — the gradient of lambda/2 sum_j (r_j - rbar)^2 with r_j taken to move with
 * the batch's mean activity — applied to the unit's input, not gated by
 * f'(z), so a silent ReLU is pushed back to life.  lambda = cfg.ff_peer
 * (Hinton 0.03); r is tracked (and saved) even when lambda = 0.  Loewe's
 * port differentiates lambda mean_j (rbar - r_j)^2 through r's (1 - 0.9)
 * share of the batch, which is this term times 0.2 / width: its lambda
 * 0.03 is far weaker than this one (we keep the per-unit scale described
 * for Hinton's code).
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
 * all allocated at build.
 *
 * Layer 1's shortcut: a positive and a negative row of one image differ only
 * in the C label inputs, and so do the C label rows of a prediction; their
 * norm is the same (the same pixels, the label value at one place), and
 * bp_ff_normalize_grouped scales them by the first row's, so after the
 * normalisation they agree everywhere else.  Layer 1 (dense) then computes
 * the further rows from the first's product and a C-column correction, and
 * its weight gradient from one product of (dz⁺ + dz⁻)ᵀ x̂⁺ and a C-column
 * correction (bp_dense_forward_grouped, bp_dense_grad_paired): the same
 * numbers up to the order of the sums, with half the products of layer 1
 * in training and a C-th of them in prediction.  The neutral rows have
 * another norm and take the plain forward.  Under --greedy, once layer 1 is
 * frozen its product on every training sample's positive row is kept
 * (ff_frozen.c, bp_ff_begin_epoch), so a later layer's step skips it.
 *
 * Files: this one builds the rule (buffers, tensors) and holds its tables;
 * ff_settings.c its settings rows and presets; ff_kernels.c the embedding,
 * normalisation, goodness, negatives and a layer's forward; ff_train.c
 * training, plain and pipelined, through one training step per layer;
 * ff_frozen.c the kept products of a frozen first layer; ff_predict.c the
 * two heads; ff.h the state they share. */
#include "ff.h"

#include <stdio.h>

/* --------------------------------------------------------------- build */

static bpfree_status ff_reserve(bpfree_model *m, bpfree_error *err) {
    ff_state *s = m->rs;
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

/* h_l and n_l (P, O_l): two ping-pong buffers each for ff, one per layer for
 * CFF (see ff_state); and the neutral rows' n_l (R, O_l), which the head
 * reads once every layer has run. */
static void reserve_activations(bpfree_model *m, ff_state *s) {
    const size_t P = (size_t)s->P;
    if (s->kind == FF_PLAIN) {
        size_t Wh = 0; /* widest layer output */
        for (int l = 0; l < s->L; l++)
            Wh = (size_t)m->layers[l].out > Wh ? (size_t)m->layers[l].out : Wh;
        for (int k = 0; k < 4; k++) bp_scratch(m, &s->ping[k], P * Wh);
        for (int l = 0; l < s->L; l++) {
            bp_scratch_alias(m, &s->h[l], &s->ping[l % 2]);
            bp_scratch_alias(m, &s->n[l], &s->ping[2 + l % 2]);
        }
    } else {
        for (int l = 0; l < s->L; l++) {
            bp_scratch(m, &s->h[l], P * m->layers[l].out);
            bp_scratch(m, &s->n[l], P * m->layers[l].out);
        }
    }
    for (int l = 0; l < s->L; l++) bp_scratch(m, &s->nn[l], (size_t)s->R * m->layers[l].out);
}

/* --pipeline and --dist layers: plain ff with random negatives only */
static bpfree_status pipeline_check(const bpfree_model *m, const ff_state *s, bpfree_error *err) {
    if (!m->cfg.ff_head)
        return bp_fail(err, BPFREE_EINVAL,
                       "--ff-head 0 is not built for --pipeline and --dist layers (their "
                       "batches carry the neutral rows to the last layer's head)");
    if (s->kind != FF_PLAIN || m->cfg.ff_negatives != BPFREE_FF_NEG_RANDOM)
        return bp_fail(err, BPFREE_EINVAL,
                       "--pipeline and --dist layers work for ff with random negatives only: %s",
                       s->kind != FF_PLAIN
                           ? "CFF's layers need every layer's goodness of the batch first"
                           : "hard negatives come from the one-pass head's prediction on "
                             "the batch, which needs every layer before layer 1 can train");
    return BPFREE_OK;
}

/* --pipeline: a batch's embedded rows, a workspace */
static bpfree_status pipeline_init(bpfree_model *m, ff_state *s, bpfree_error *err) {
    bpfree_status st = pipeline_check(m, s, err);
    if (!st) bp_scratch(m, &s->Xp, 3 * (size_t)m->batch * m->cfg.inputs);
    return st;
}

/* --dist layers on a model built without --pipeline: the rows allocated
 * now, freed with the model */
static bpfree_status ff_pipe_prepare(bpfree_model *m, bpfree_error *err) {
    ff_state *s = m->rs;
    bpfree_status st = pipeline_check(m, s, err);
    if (st || s->Xp) return st;
    s->Xp = bp_alloc_floats(&m->mem, 3 * (size_t)m->batch * m->cfg.inputs,
                            "layer-parallel embedded inputs", err);
    s->xp_own = s->Xp != NULL;
    return s->Xp ? BPFREE_OK : BPFREE_ENOMEM;
}

static void ff_free(bpfree_model *m) {
    ff_state *s = m->rs;
    if (!s) return;
    if (s->xp_own) bp_free(&m->mem, s->Xp);
    bp_free(&m->mem, s->z1);
    bp_free(&m->mem, s->z1_wb);
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
    if (!c->ff_head && (c->ff_negatives == BPFREE_FF_NEG_HARD || c->ff_predict == BPFREE_FF_PREDICT_ONEPASS))
        return bp_fail(err, BPFREE_EINVAL,
                       "--ff-head 0 leaves the one-pass head untrained, but %s needs it: use "
                       "--ff-negatives random and --ff-predict goodness, or --ff-head 1",
                       c->ff_negatives == BPFREE_FF_NEG_HARD ? "--ff-negatives hard"
                                                             : "--ff-predict onepass");
    /* peer mean updated before use needs the batch's positive rows before
     * any row's gradient: the whole batch is one chunk */
    const int whole = c->ff_peer_update == BPFREE_FF_PEER_BEFORE;
    s->R = whole || m->batch < FF_CHUNK ? m->batch : FF_CHUNK;
    s->P = 3 * s->R > C + 1 ? 3 * s->R : C + 1;
    const size_t P = (size_t)s->P, W = (size_t)bp_max_width(m), hn = (size_t)C * s->sumW + C;
    bp_scratch(m, &s->X, P * c->inputs);        /* embedded inputs */
    bp_scratch(m, &s->dz, 2 * (size_t)s->R * W); /* deltas */
    bp_scratch(m, &s->G, P * s->L);              /* goodness */
    bp_scratch(m, &s->dG, 2 * (size_t)s->R);     /* its gradient */
    bp_scratch(m, &s->logits, P * C);            /* one-pass logits */
    bp_scratch(m, &s->psum, (size_t)s->sumW);    /* peer sums */
    bp_scratch_state(m, &s->hm, hn);             /* the head's Adam moments */
    bp_scratch_state(m, &s->hv, hn);
    bp_persist(m, &s->hopt, sizeof s->hopt);     /* and its clock */
    reserve_activations(m, s);
    bp_scratch_ints(m, &s->neg, (size_t)s->R);   /* negative labels */
    bpfree_status st;
    if (c->pipeline >= 2 && (st = pipeline_init(m, s, err))) return st;
    /* the head's own Adam: PyTorch defaults, no decay, constant lr */
    s->hopt.cfg = (bpfree_optim_config){.kind = BPFREE_OPTIM_ADAM, .lr = c->ff_head_lr,
                                        .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    /* F and c start at 0 (a convex problem); gamma at cfg.cff_gamma (eq. 6) */
    if (s->tgamma >= 0)
        for (int l = 0; l < s->L; l++) bp_tensor_ptr(m, s->tgamma)[l] = c->cff_gamma;
    return BPFREE_OK;
}

ff_io bp_ff_work_io(const ff_state *s, int l) {
    return (ff_io){.in = l == 0 ? s->X : s->n[l - 1], /* layer 0: the embedded input */
                   .h = s->h[l],
                   .n = s->n[l],
                   .G = s->G + (size_t)l * s->P,
                   .dz = s->dz,
                   .dG = s->dG};
}

static void ff_describe(const bpfree_model *m, char *buf, size_t cap) {
    const ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    char theta[32], head[48] = "no one-pass head (--ff-head 0)";
    if (c->ff_head) snprintf(head, sizeof head, "one-pass head %dx%d", c->outputs, s->sumW);
    if (c->ff_theta_width) snprintf(theta, sizeof theta, "width");
    else snprintf(theta, sizeof theta, "%g", (double)c->ff_theta);
    int k = snprintf(buf, cap,
                     "%s goodness, %s norm, theta %s, %s negatives, peer %g (mean updated %s), %s "
                     "prediction%s, %s",
                     bpfree_ff_goodness_name(c->ff_goodness), bpfree_ff_norm_name(c->ff_norm),
                     theta, bpfree_ff_neg_name(c->ff_negatives), (double)c->ff_peer,
                     bpfree_ff_peer_when_name(c->ff_peer_update),
                     bpfree_ff_predict_name(c->ff_predict),
                     c->ff_skip_first ? " (without layer 1)" : "",
                     head);
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
        .begin_epoch = bp_ff_begin_epoch,                                                  \
        .train_batch = bp_ff_train,                                                        \
        .predict = bp_ff_predict,                                                          \
        .n_heads = bp_ff_n_heads,                                                          \
        .describe = ff_describe,                                                           \
        .state_size = sizeof(ff_state),                                                    \
        .settings = bp_ff_settings,                                                        \
        .n_settings = BP_FF_N_SETTINGS,                                                    \
        .presets = bp_ff_presets,                                                          \
        .n_presets = BP_FF_N_PRESETS,                                                      \
        .head_name = bp_ff_head_name, .free = ff_free,                                     \
        .prediction = bp_ff_prediction, .train_source = bp_ff_train_source,                \
        .layer_note = " (Hinton's FF and Mono-Forward's paper leave convolutions out; FF "     \
                      "writes the label into the first inputs)",                              \
        __VA_ARGS__};

FF_RULE(bp_rule_ff, "ff", "Forward-Forward",
        "Hinton 2022, as Gong et al. 2025 sec. 2 eqs. 1-4 and Beigzad 2025 Alg. 1 state it",
        "single-layer",
        "none", .caps = BP_CAP_GREEDY, .pipe_layer = bp_ff_pipe_layer,
        .pipe_begin = bp_ff_pipe_begin, .pipe_need = bp_ff_pipe_need,
        .pipe_prepare = ff_pipe_prepare)
FF_RULE(bp_rule_cff_fixed, "cff-fixed", "Collaborative FF, fixed gamma (F-CFF)",
        "Beigzad 2025, eqs. 5, 6, 8", "multi-layer", "forward",
        .caps = BP_CAP_GREEDY | BP_CAP_COLLAB,
        .pipe_layer = NULL /* every layer's goodness first (eq. 5) */)
FF_RULE(bp_rule_cff_adaptive, "cff-adaptive", "Collaborative FF, learned gamma (A-CFF)",
        "Beigzad 2025, eqs. 5, 7, 8", "multi-layer", "forward",
        .caps = BP_CAP_GREEDY | BP_CAP_COLLAB | BP_CAP_LEARNED_GAMMA,
        .pipe_layer = NULL)

