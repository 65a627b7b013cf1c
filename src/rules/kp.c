/* kp.c — Kolen–Pollack learning (Kolen & Pollack 1994; Akrout et al. 2019,
 * "Deep learning without weight transport"; survey Huang et al. 2025 §III-D with FA).
 * BP's backward chain through feedback matrices B_l of W_l's shape,
 *     delta_h_{l-1} = delta_z_l B_l,
 * where B_l learns with the same update and the same decay as W_l:
 *     W <- W + dW - lr lambda W,     B <- B + dW - lr lambda B,
 * dW being whatever W's optimizer applied.  So B - W shrinks by the factor
 * (1 - lr lambda) at every step, whatever dW is, and B converges to W
 * without W ever being sent backwards.  bpfree keeps D_l = W_l - B_l (state
 * block, saved with the model): after the optimizer's step, W and D are
 * scaled by (1 - lr lambda) (lambda = --kp-decay, lr the rate in force), and
 * B = W - D is formed before each backward pass.  D starts at W - B0, B0
 * drawn as FA's feedback (--feedback-init). */
#include "rules/rules.h"

#include <stdio.h>

typedef struct kp_state {
    bp_chain c;
    int D[BPFREE_MAX_LAYERS];              /* state tensors W_l - B_l, l >= 1 */
    float *B[BPFREE_MAX_LAYERS];           /* workspaces: W_l - D_l */
    const float *back[BPFREE_MAX_LAYERS];
} kp_state;

static bpfree_status kp_reserve(bpfree_model *m, bpfree_error *err) {
    kp_state *s = m->rs;
    for (int l = 1; l < m->n_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "D%d", l + 1);
        s->D[l] = bp_model_reserve(m, name, bp_layer_n_weights(&m->layers[l]), 0);
        if (s->D[l] < 0) return bp_fail(err, BPFREE_EINVAL, "too many tensors");
    }
    return BPFREE_OK;
}

static bpfree_status kp_init(bpfree_model *m, bpfree_error *err) {
    (void)err;
    kp_state *s = m->rs;
    for (int l = 1; l < m->n_layers; l++) {
        const bp_layer *L = &m->layers[l];
        float *D = bp_tensor_ptr(m, s->D[l]);
        bp_layer_init(L, &m->rng, D, NULL, m->cfg.feedback_init, m->cfg.init_std); /* B0 */
        for (size_t i = 0; i < bp_layer_n_weights(L); i++) D[i] = L->W[i] - D[i];
        bp_scratch(m, &s->B[l], bp_layer_n_weights(L));
    }
    bp_chain_reserve(m, &s->c);
    return BPFREE_OK;
}

static bpfree_status kp_train(bpfree_model *m, int B, double *loss, long *correct) {
    kp_state *s = m->rs;
    for (int l = 1; l < m->n_layers; l++) { /* B = W - D */
        const bp_layer *L = &m->layers[l];
        const float *D = bp_tensor_ptr(m, s->D[l]);
        for (size_t i = 0; i < bp_layer_n_weights(L); i++) s->B[l][i] = L->W[i] - D[i];
        s->back[l] = s->B[l];
    }
    bp_chain_train(m, &s->c, s->back, B, loss, correct);
    /* both decay: W and (so) B by 1 - lr lambda, which leaves D scaled by it */
    const float keep = 1.0f - m->optim.lr * m->cfg.kp_decay;
    for (int l = 0; l < m->n_layers; l++) {
        const bp_layer *L = &m->layers[l];
        const size_t n = bp_layer_n_weights(L);
        for (size_t i = 0; i < n; i++) L->W[i] *= keep;
        if (l == 0) continue; /* layer 0 sends no signal: no B */
        float *D = bp_tensor_ptr(m, s->D[l]);
        for (size_t i = 0; i < n; i++) D[i] *= keep;
    }
    return BPFREE_OK;
}

static void kp_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    kp_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->c.d[0], s->c.d[1], scores);
}

static bpfree_status kp_check(const bpfree_config *c, bpfree_error *err) {
    if (!(c->kp_decay * c->optim.lr < 1.0f))
        return bp_fail(err, BPFREE_EINVAL,
                       "kp: lr x kp-decay must be < 1 (got %g x %g): W and B would flip sign",
                       (double)c->optim.lr, (double)c->kp_decay);
    return BPFREE_OK;
}

static const bp_setting kp_settings[] = {
    BP_ROW_NUM("kp-decay", "kp_decay", "F",
               "the decay lambda that W and B share (B - W shrinks by 1 - lr lambda a step)",
               "0.1", BP_SET_FLOAT, kp_decay, 0, BP_SET_BIG, 0, 0),
};

const bp_rule bp_rule_kp = {
    .info = {.name = "kp",
             .title = "Kolen-Pollack",
             .paper = "Kolen & Pollack 1994; Akrout et al. 2019; survey Huang et al. 2025 §III-D",
             .output_layer = 1,
             .weight_transport = "no",
             .frozen_activities = "yes",
             .locality = "non-local",
             .update_locking = "backward"},
    .reserve = kp_reserve,
    .init = kp_init,
    .train_batch = kp_train,
    .predict = kp_predict,
    .state_size = sizeof(kp_state),
    .caps = BP_CAP_FEEDBACK | BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
    .check = kp_check,
    .settings = kp_settings,
    .n_settings = 1,
};
