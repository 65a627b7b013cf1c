/* fblearn.c — direct feedback matrices that learn (dkp, fdfa).
 *
 * B_l (C, n_l), one per hidden layer, lives in the model's state block, as
 * DFA's fixed matrices do: it is saved with the model, it is not a trained
 * parameter of the network (bpfree_model_param_count and Table B.5 of 002
 * count the network alone), and the forward optimizer's weight decay never
 * reaches it.  It steps with an optimizer of its own (002 Appendix A: "We
 * also used Adam for the updates of feedback matrices in the FDFA and DKP
 * algorithms"), so its learning rate alpha is separate from lambda:
 *     alpha_t = cfg.fb_lr                                  (the authors' code)
 * or, with --fb-schedule follow,
 *     alpha_t = cfg.fb_lr * (lr in force / cfg.optim.lr)
 * i.e. the forward schedule (x0.95 per epoch in Appendix A) scales both.
 * Its moments live in the rule's memory (not in a model file, like the
 * forward optimizer's; checkpoints carry both).  Adam's betas, eps and SGD's momentum come from cfg.optim. */
#include "engine/dist.h"

#include <string.h>

bpfree_status bp_fblearn_reserve(bpfree_model *m, bp_fblearn *f, bpfree_error *err) {
    return bp_feedback_reserve(m, f->fb, err);
}

bpfree_status bp_fblearn_init(bpfree_model *m, bp_fblearn *f, bpfree_error *err) {
    const bpfree_config *c = &m->cfg;
    if (!(c->fb_lr > 0.0f))
        return bp_fail(err, BPFREE_EINVAL, "%s: the feedback learning rate must be > 0 (got %g)",
                       c->rule, (double)c->fb_lr);
    if (c->fb_optim == BPFREE_FB_EMA && c->fb_lr > 1.0f)
        return bp_fail(err, BPFREE_EINVAL,
                       "%s: the exponential average needs alpha in (0, 1] (got %g)", c->rule,
                       (double)c->fb_lr);
    bp_feedback_init(m, f->fb); /* the rules default to zeros (002 Algorithm 1 line 3) */
    size_t total = 0, widest = 1;
    for (int l = 0; l < c->n_hidden; l++) {
        f->off[l] = total;
        total += m->tensors[f->fb[l]].n;
        if (m->tensors[f->fb[l]].n > widest) widest = m->tensors[f->fb[l]].n;
    }
    bp_scratch(m, &f->g, widest);                                        /* gradient */
    if (c->fb_optim != BPFREE_FB_EMA && total > 0) bp_scratch_state(m, &f->m, total); /* moments */
    if (c->fb_optim == BPFREE_FB_ADAM && total > 0) bp_scratch_state(m, &f->v, total);
    bp_persist(m, &f->opt, sizeof f->opt); /* its clock */
    f->opt.cfg = c->optim;
    f->opt.cfg.kind = c->fb_optim == BPFREE_FB_ADAM ? BPFREE_OPTIM_ADAM : BPFREE_OPTIM_SGD;
    f->opt.cfg.weight_decay = c->fb_wd;
    f->opt.cfg.decoupled = 0;
    f->opt.t = 0;
    return BPFREE_OK;
}

void bp_fblearn_begin(bpfree_model *m, bp_fblearn *f) {
    float scale = m->cfg.fb_follow && m->cfg.optim.lr > 0.0f ? m->optim.lr / m->cfg.optim.lr : 1.0f;
    bp_optim_begin_step(&f->opt, m->cfg.fb_lr * scale);
}

void bp_fblearn_step(bpfree_model *m, bp_fblearn *f, int l) {
    const size_t n = m->tensors[f->fb[l]].n;
    bp_dist_mean(m, f->g, n); /* data-parallel: the global batch's gradient */
    bp_optim_step(&f->opt, bp_tensor_ptr(m, f->fb[l]), f->g, f->m + f->off[l],
                  f->v ? f->v + f->off[l] : NULL, n);
}
