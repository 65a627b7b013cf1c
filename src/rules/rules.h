/* rules.h — what the rule files share beyond the engine: the rule
 * objects of the table, the papers' default setups several rules use, and
 * the Forward-Forward pieces the tests call. */
#ifndef BPFREE_RULES_H
#define BPFREE_RULES_H

#include "engine/engine.h"

/* The rule table (rules.c): by name, and the i-th (NULL past the end);
 * bp_rule_register adds one after the built-in rules (tests; at most 8). */
const bp_rule *bp_rule_lookup(const char *name);
const bp_rule *bp_rule_at(int i);
int bp_rule_register(const bp_rule *r);

extern const bp_rule bp_rule_bp;
extern const bp_rule bp_rule_mf;
extern const bp_rule bp_rule_dfa;
extern const bp_rule bp_rule_fa;
extern const bp_rule bp_rule_drtp;
extern const bp_rule bp_rule_f3;
extern const bp_rule bp_rule_pepita;
extern const bp_rule bp_rule_llo;
extern const bp_rule bp_rule_ff;
extern const bp_rule bp_rule_cff_fixed;
extern const bp_rule bp_rule_cff_adaptive;
extern const bp_rule bp_rule_fgw;
extern const bp_rule bp_rule_fga;
extern const bp_rule bp_rule_lgfga;
extern const bp_rule bp_rule_dkp;
extern const bp_rule bp_rule_fdfa;
extern const bp_rule bp_rule_usf;
extern const bp_rule bp_rule_kp;
extern const bp_rule bp_rule_chl;
extern const bp_rule bp_rule_dtp;
extern const bp_rule bp_rule_dni;
extern const bp_rule bp_rule_ccl;
extern const bp_rule bp_rule_tinyfoa;

/* Defaults of drtp, f3 and llo: the F³ paper's MNIST setup. */
void bp_defaults_f3_paper(bpfree_config *c);
/* Defaults of fg-w, fg-a, lg-fg-a, dkp, fdfa: 002's Appendix A setup. */
void bp_defaults_fdfa_paper(bpfree_config *c);
/* dkp, fdfa: that setup, and feedback learned from zero with Adam at 1e-4 */
void bp_defaults_learned_feedback(bpfree_config *c);

/* A rule's own dense layer in -> out (aux.c: DTP's inverses, DNI's modules,
 * CCL's feedback net): one trainable tensor `name` of in*out weights then
 * out biases (reserve returns its index, -1 if full); bp_aux_layer sets up
 * L over it (after the blocks exist); _init draws W and b like a layer of
 * the model; _backward_step: dz = dh ⊙ f'(z) in place, gW, gb from x (rows,
 * in), then the tensor's optimizer step. */
int bp_aux_reserve(bpfree_model *m, const char *name, int in, int out);
void bp_aux_layer(const bpfree_model *m, int t, int in, int out, bpfree_act act, bp_layer *L);
void bp_aux_init(bpfree_model *m, const bp_layer *L, bpfree_init how);
void bp_aux_backward_step(bpfree_model *m, int t, const bp_layer *L, const float *x,
                          const float *h, float *dh, int rows);
/* the same with the optimizer clock o (a pipeline stage's) */
void bp_aux_backward_step_with(bpfree_model *m, const bp_optim *o, int t, const bp_layer *L,
                               const float *x, const float *h, float *dh, int rows);

/* CHL (chl.c), for the tests: the states of the last training batch's free
 * (clamped = 0) or clamped phase, h[0] = input .. h[n_layers] = output, and
 * the sweeps that phase took (chl_iters + 1: not settled). */
float *const *bp_chl_states(const bpfree_model *m, int clamped, int *sweeps);

/* F³'s delayed-error store (C floats per dataset index), for tests. */
const float *bp_f3_store(const bpfree_model *m);

/* Forward-Forward kernels (ff_kernels.c), which the tests call too. */
/* out (D) = x (D) with the first C inputs replaced by the label code:
 * label >= 0: one-hot times cfg.ff_label (or the row's largest value);
 * label < 0: the neutral label, 0.1 in every label input. */
void bp_ff_embed(const bpfree_config *c, const float *x, int label, float *out);
/* Each row of v (B, n) divided by its RMS or L2 norm, in place. */
void bp_ff_normalize(bpfree_ff_norm how, float *v, int B, int n);
/* Goodness of one row h (n): sum or mean of squares. */
float bp_ff_goodness(bpfree_ff_goodness how, const float *h, int n);
/* A wrong label for each row: uniform over the C-1 wrong labels, or
 * (HARD) drawn in proportion to probs (B, C) with the true label excluded
 * (uniform if the wrong labels' total is 0). */
void bp_ff_negatives(bp_rng *r, bpfree_ff_neg how, const int *labels, const float *probs,
                     int B, int C, int *neg);

/* The Forward-Forward rules' settings rows, presets, head names and
 * prediction name (ff_settings.c), shared by the three rule objects. */
#define BP_FF_N_SETTINGS 14
#define BP_FF_N_PRESETS 2
extern const bp_setting bp_ff_settings[BP_FF_N_SETTINGS];
extern const bpfree_preset bp_ff_presets[BP_FF_N_PRESETS];
const char *bp_ff_head_name(const bpfree_model *m, int h);
const char *bp_ff_prediction(const bpfree_config *c);
const char *bp_ff_train_source(const bpfree_config *c);

#endif /* BPFREE_RULES_H */
