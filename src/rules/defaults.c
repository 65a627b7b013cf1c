/* defaults.c — the papers' setups that several rules start from. */
#include "rules/rules.h"

/* The setup of the F³ paper's MNIST experiments (001 §4, the authors' code):
 * one hidden layer of 500 tanh, sigmoid output with binary cross-entropy,
 * standardised inputs, Adam 1.5e-4, batch 50, 100 epochs.  bpfree adds its
 * linear cooldown over the second half: with a constant rate F³'s loss
 * cycles (see README), and the cooldown lets the last epoch settle. */
void bp_defaults_f3_paper(bpfree_config *c) {
    c->n_hidden = 1;
    c->hidden[0] = 500;
    c->act = BPFREE_ACT_TANH;
    c->loss = BPFREE_LOSS_BCE;
    c->norm = BPFREE_NORM_STANDARDIZE;
    c->optim.kind = BPFREE_OPTIM_ADAM;
    c->optim.lr = 1.5e-4f;
    c->batch = 50;
    c->epochs = 100;
    c->signal_scaling = BPFREE_SIGNAL_AUTHORS; /* the authors' balance of hidden and output steps */
}

/* The setup of 002's fully connected experiments (Appendix A, Table B.5):
 * three hidden layers of 800 ReLU, Adam with lambda = 1e-4, x0.95 per epoch,
 * batch 64; 30 epochs instead of the paper's 100.  Used by fg-w, fg-a,
 * lg-fg-a, dkp and fdfa. */
void bp_defaults_learned_feedback(bpfree_config *c) {
    bp_defaults_fdfa_paper(c);
    c->feedback_init = BPFREE_INIT_ZEROS; /* 002 Algorithm 1 line 3 */
    c->fb_lr = 1e-4f;                     /* alpha (Appendix A) */
    c->fb_optim = BPFREE_FB_ADAM;
}

void bp_defaults_fdfa_paper(bpfree_config *c) {
    c->n_hidden = 3;
    c->hidden[0] = c->hidden[1] = c->hidden[2] = 800;
    c->epochs = 30;
    c->batch = 64;
    c->optim.kind = BPFREE_OPTIM_ADAM;
    c->optim.lr = 1e-4f;
    c->optim.sched = BPFREE_SCHED_STEP;
    c->optim.step_epochs = 1;
    c->optim.gamma = 0.95f;
}
