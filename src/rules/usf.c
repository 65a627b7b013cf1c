/* usf.c — uniform sign-concordant feedback (Liao, Leibo, Poggio 2016, "How
 * important is weight symmetry in backpropagation?"; survey Huang et al. 2025 §III-D with
 * FA).  BP's backward chain with each W_l^T replaced by the signs of the
 * current forward weights:
 *     delta_h_{l-1} = delta_z_l B_l,   B_l = s_l sign(W_l)          (O, I)
 * Only the signs travel back, not the weights' values.  The paper's uSF is
 * B = sign(W) with batch normalisation keeping the signal's scale; this rule
 * does not count on the net having BN layers, so s_l keeps the magnitude: by default
 * s_l = mean |W_l| (recomputed every batch, so B_l has W_l's mean absolute
 * value), or --usf-scale S for a fixed one.  sign(0) = 0. */
#include "rules/rules.h"

#include <math.h>

typedef struct usf_state {
    bp_chain c;
    float *B[BPFREE_MAX_LAYERS];          /* workspaces: s_l sign(W_l), l >= 1 */
    const float *back[BPFREE_MAX_LAYERS];
} usf_state;

static bpfree_status usf_init(bpfree_model *m, bpfree_error *err) {
    (void)err;
    usf_state *s = m->rs;
    for (int l = 1; l < m->n_layers; l++) bp_scratch(m, &s->B[l], bp_layer_n_weights(&m->layers[l]));
    bp_chain_reserve(m, &s->c);
    return BPFREE_OK;
}

/* B_l = s_l sign(W_l) from the weights in force */
static void usf_feedback(bpfree_model *m, usf_state *s) {
    for (int l = 1; l < m->n_layers; l++) {
        const bp_layer *L = &m->layers[l];
        const size_t n = bp_layer_n_weights(L);
        float scale = m->cfg.usf_scale;
        if (scale == 0.0f) {
            double sum = 0.0;
            for (size_t i = 0; i < n; i++) sum += fabsf(L->W[i]);
            scale = (float)(sum / (double)n);
        }
        float *B = s->B[l];
        for (size_t i = 0; i < n; i++)
            B[i] = L->W[i] > 0.0f ? scale : L->W[i] < 0.0f ? -scale : 0.0f;
        s->back[l] = B;
    }
}

static bpfree_status usf_train(bpfree_model *m, int B, double *loss, long *correct) {
    usf_state *s = m->rs;
    usf_feedback(m, s);
    bp_chain_train(m, &s->c, s->back, B, loss, correct);
    return BPFREE_OK;
}

static void usf_predict(bpfree_model *m, const float *x, int B, float *scores, float *heads) {
    (void)heads;
    usf_state *s = m->rs;
    bp_forward_pingpong(m, x, B, s->c.d[0], s->c.d[1], scores);
}

static const bp_setting usf_settings[] = {
    BP_ROW_NUM("usf-scale", "usf_scale", "F",
               "the feedback's magnitude s_l in B_l = s_l sign(W_l); 0 = mean |W_l|, every batch",
               "0", BP_SET_FLOAT, usf_scale, 0, BP_SET_BIG, 0, 0),
};

const bp_rule bp_rule_usf = {
    .info = {.name = "usf",
             .title = "Uniform sign-concordant feedback",
             .paper = "Liao, Leibo, Poggio 2016; survey Huang et al. 2025 §III-D",
             .output_layer = 1,
             .weight_transport = "no", /* survey Table I: only the signs travel */
             .frozen_activities = "yes",
             .locality = "non-local",
             .update_locking = "backward"},
    .init = usf_init,
    .train_batch = usf_train,
    .predict = usf_predict,
    .state_size = sizeof(usf_state),
    .caps = BP_CAP_VARIANCE | BP_CAP_ANY_LAYER,
    .settings = usf_settings,
    .n_settings = 1,
};
