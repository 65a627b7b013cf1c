/* engine.h — the model, the epoch loop, the pipeline, diagnostics and the
 * passes several rules share (BP's chain, layers that update at once,
 * feedback matrices, forward-mode tangents).  Rules build on it; it knows
 * no rule by name. */
#ifndef BPFREE_ENGINE_H
#define BPFREE_ENGINE_H

#include "nn/nn.h"
#include "optim/optim.h"

#include <math.h>
#include <signal.h>

/* ------------------------------------------------------------- model */

typedef struct bp_rule bp_rule;
typedef struct bp_pipe bp_pipe;
typedef struct bp_work bp_work;
typedef struct bp_pipe_batch bp_pipe_batch;
typedef struct bp_pipe_need bp_pipe_need;

/* A named slice of the parameter block (trainable) or state block (fixed). */
typedef struct bp_tensor {
    char name[32];
    size_t off, n;
    int trainable;
    int rows;              /* its shape is rows x n/rows (row-major), or (n) if 0 */
} bp_tensor;

#define BP_MAX_TENSORS (8 * BPFREE_MAX_LAYERS + 8) /* W, b, and gamma, beta, running mean, variance */

/* A workspace asked for while the model is built: where its pointer goes,
 * its size, or (alias) the workspace whose pointer it shares. */
typedef struct bp_scratch_slot {
    void **slot;
    size_t bytes;
    void **alias;
} bp_scratch_slot;

#define BP_MAX_SCRATCH (8 * BPFREE_MAX_LAYERS + 64)

/* Run state outside the model's blocks that a checkpoint must carry: a
 * field of the rule's state (an optimizer clock: bp_persist) or a
 * workspace whose contents live from batch to batch (moments:
 * bp_scratch_state, then `slot` says where it ended up). */
typedef struct bp_persist_slot {
    void *p;      /* fixed memory, or NULL */
    void **slot;  /* a workspace's pointer, or NULL */
    size_t bytes;
} bp_persist_slot;

#define BP_MAX_PERSIST (4 * BPFREE_MAX_LAYERS + 16)

/* Where training stands inside an epoch that was stopped between two
 * batches (bpfree_model_stop_flag): k batches of the epoch done (0: at an
 * epoch boundary), their loss sum and correct count, and their seconds.
 * m->order keeps that epoch's order meanwhile. */
typedef struct bp_progress {
    int64_t k, correct;
    double loss, seconds;
} bp_progress;

/* One piece of run state as a checkpoint section: a name and a view of
 * its bytes in the model. */
typedef struct bp_section {
    char name[32];
    void *p;
    size_t bytes;
} bp_section;

/* Prediction chunks at least this big keep the products near full speed
 * even for a model trained at batch 64 (10,000 images: 87% of GEMM speed in
 * chunks of 64 rows). */
#define BP_PREDICT_ROWS 256

struct bpfree_model {
    bpfree_config cfg;
    const bp_rule *rule;
    bp_mem mem;
    bp_rng rng;            /* init, feedback, shuffling: all from the seed */

    int n_layers;          /* dense layers: hidden (+ output if rule has one) */
    bp_layer layers[BPFREE_MAX_LAYERS];

    /* One block per kind of state (parameters, gradients, Adam m, Adam v),
     * and one for fixed rule state (feedback matrices) that is saved too. */
    float *params, *grads, *opt_m, *opt_v;
    size_t n_params;
    float *state;
    size_t n_state;
    bp_tensor tensors[BP_MAX_TENSORS];
    int n_tensors;
    bp_optim optim;
    /* 1: gradients stay readable after a step (diagnostics read the rule's
     * gW after it; tests read them); 0: bp_layer_grad_step's step zeroes
     * them as it reads them (bp_layer.gzero) */
    int keep_grads;

    int batch;             /* training batch */
    int rows;              /* buffer rows: max(batch, BP_PREDICT_ROWS) — prediction and
                            * evaluation run in chunks of this many samples */
    float *xb, *yb;        /* batch input (B, D), targets (B, C) */
    int *lb, *ib;          /* batch labels (B), dataset indices (B) */
    float *scores;         /* (B, C) prediction scores */
    float *heads;          /* (n_heads, B, C) per-head scores, or NULL */
    int *order;            /* shuffled sample order, sized at first epoch */
    int order_n;

    void *rs;              /* the rule's own state (rule->state_size bytes, zeroed) */
    /* workspaces of the rule and the engine's passes: one block */
    bp_scratch_slot scratch[BP_MAX_SCRATCH];
    int n_scratch, scratch_full;
    void *scratch_block;
    struct bp_diag *diag;  /* diagnostics state, or NULL */
    struct bp_pipe *pipe;  /* layer pipeline, built at the first pipelined epoch */
    int epochs_done;
    long steps_done;
    bp_progress prog;          /* a stopped epoch's place (checkpointed) */
    const volatile sig_atomic_t *stop; /* bpfree_model_stop_flag, or NULL */
    bpfree_data_info data;     /* what it was trained on (bpfree_model_set_data) */
    int has_data;
    void (*on_batch)(void *user, int k, int nb, double loss); /* bpfree_model_on_batch */
    void *on_batch_user;
    bp_persist_slot persist[BP_MAX_PERSIST];
    int n_persist, persist_full;
    struct bp_dist *dist;      /* data-parallel training (dist.h), or NULL */
    struct bp_dlay *dlay;      /* layer-parallel training (dist.h, layers.c), or NULL */
};

/* Workspaces.  While the model is built (a rule's reserve and init, the
 * engine's passes, diagnostics) bp_scratch(m, &s->e, n) records that n
 * floats are wanted at s->e; once the rule is built the engine allocates
 * every workspace in one counted block (each 64-byte aligned, zeroed) and
 * sets the pointers.  So a rule neither checks nor frees its buffers, and
 * must not touch them before its init has returned.  _ints: n ints;
 * _alias: *slot will be *of, one workspace under a second name. */
void bp_scratch(bpfree_model *m, float **slot, size_t n);
void bp_scratch_ints(bpfree_model *m, int **slot, size_t n);
void bp_scratch_alias(bpfree_model *m, float **slot, float **of);
/* A workspace whose contents a run carries from batch to batch (an
 * optimizer's moments): as bp_scratch, and checkpoints save and restore it. */
void bp_scratch_state(bpfree_model *m, float **slot, size_t n);
/* After the rule is built (model.c): the layers' shared workspaces reserved
 * and every workspace allocated in one block, the slots set. */
bpfree_status bp_scratch_alloc(bpfree_model *m, bpfree_error *err);
/* `bytes` at p (in the rule's state struct, say an optimizer's clock) are
 * run state: checkpoints save and restore them.  Call while the model is
 * built (reserve or init). */
void bp_persist(bpfree_model *m, void *p, size_t bytes);
/* Every piece of run state of m beyond the parameter and state blocks, in
 * a fixed order, as sections (at most cap; returns how many, or -1 if cap
 * is too small): counters, RNG, optimizer clock and moments, gradients,
 * the stopped epoch's order, each bp_persist / bp_scratch_state region.
 * The rule's own extra state (bp_rule.extra_*) is not among them. */
int bp_run_sections(bpfree_model *m, bp_section *s, int cap);

/* Reserve a tensor of n floats in the parameter block (trainable) or the
 * state block during build; pointers are resolved by bp_tensor_ptr after
 * the blocks exist.  Returns its index or -1 if full. */
int bp_model_reserve(bpfree_model *m, const char *name, size_t n, int trainable);
float *bp_tensor_ptr(const bpfree_model *m, int t);
/* Say that tensor t (if >= 0) is a matrix of `rows` rows (for export). */
void bp_tensor_shape(bpfree_model *m, int t, int rows);
float *bp_tensor_grad(const bpfree_model *m, int t);
/* Step tensor t's parameters with its gradient. */
void bp_tensor_step(bpfree_model *m, int t);
/* Step layer l's W and b. */
void bp_layer_step(bpfree_model *m, int l);
/* bp_layer_backward (no dx) of layer l, then bp_layer_step — with
 * BPFREE_THREADING_SPLIT fused per range of units (step.c). */
void bp_layer_backward_step(bpfree_model *m, int l, const float *x, const float *h, float *dh,
                            int B);
/* the same with the optimizer clock o (pipelined layers keep one each) */
void bp_layer_backward_step_with(bpfree_model *m, int l, const float *x, const float *h,
                                 float *dh, int B, const bp_optim *o);
/* the same for a rule's direct signal sig (B, bp_layer_sig_cols) — a
 * feedback matrix's e B_l — delivered at the layer's signal point (its
 * output, or a pooled block's pre-pool maps with --feedback-point
 * pre-pool); o NULL: the model's clock */
void bp_layer_signal_step(bpfree_model *m, int l, const float *x, const float *h, float *sig,
                          int B, const bp_optim *o);
/* the same with an explicit optimizer clock (pipelined layers keep one each) */
void bp_step_range(bpfree_model *m, const bp_optim *o, size_t off, size_t n);
/* learning rate of batch k of nb in the current epoch (schedules, greedy) */
float bp_batch_lr(const bpfree_model *m, int k, int nb);
/* The rows of a per-sample store indexed by dataset index (F3's delayed
 * errors, FF's kept products): the largest index + 1; -1 with "WHO: dataset
 * index I is negative" if one is. */
int bp_data_index_rows(const bpfree_dataset *ds, const char *who, bpfree_error *err);
/* rows order[0..B) of ds into x (B, D), one-hot or regression targets y
 * (B, C), labels lb (B, -1 for regression), dataset indices ib (may be NULL) */
void bp_gather(const bpfree_model *m, const bpfree_dataset *ds, const int *order, int B,
               float *x, float *y, int *lb, int *ib);
/* layer l's gW, gb from dz (B, O) and its input x (B, I); then, if step !=
 * NULL, W and b stepped with that optimizer clock */
void bp_layer_grad_step(bpfree_model *m, int l, const float *x, const float *dz, int B,
                        const bp_optim *step);

#include "engine/settings.h"

/* ------------------------------------------------------------- rules */

/* A rule decides which signal reaches which layer, and when.  It owns its
 * extra state (rs) and the activation buffers it needs. */
struct bp_rule {
    bpfree_rule_info info;
    /* bytes of the rule's state struct, allocated zeroed at m->rs before
     * reserve and freed with the model (0: none) */
    size_t state_size;
    /* Apply the rule's defaults on top of the generic ones. */
    void (*defaults)(bpfree_config *cfg);
    /* Reserve parameter/state tensors (before the blocks are allocated). */
    bpfree_status (*reserve)(bpfree_model *m, bpfree_error *err);
    /* Allocate rule state and buffers, initialise fixed tensors. */
    bpfree_status (*init)(bpfree_model *m, bpfree_error *err);
    /* Optional: called at the start of every epoch with the training set
     * (F³ sizes and checks its per-sample error store here). */
    bpfree_status (*begin_epoch)(bpfree_model *m, const bpfree_dataset *train, bpfree_error *err);
    /* One training step on the batch in m->xb/yb/lb/ib of B rows.  Adds the
     * batch's mean loss to *loss and the number of correct predictions (from
     * the training forward pass) to *correct. */
    bpfree_status (*train_batch)(bpfree_model *m, int B, double *loss, long *correct);
    /* Optional, for --pipeline: layer i on one batch with optimizer clock o
     * and the thread's scratch w (see bp_pipe_batch); and a hook stage 0 runs
     * after gathering a batch. */
    void (*pipe_layer)(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                       float *out, bp_pipe_batch *b);
    void (*pipe_begin)(bpfree_model *m, bp_pipe_batch *b);
    /* 1 if pipe_layer hands state back down the stages (bp_pipe_done /
     * bp_pipe_await: DNI trains layer i's module in layer i+1's stage): that
     * works between the threads of one process (--pipeline) only, and
     * --dist layers refuses the rule. */
    int pipe_handback;
    /* Optional: what the rule's pipelined layers need beyond one (B, width)
     * activation per batch (see bp_pipe_need); NULL = nothing more. */
    void (*pipe_need)(const bpfree_model *m, bp_pipe_need *n);
    /* Optional: what pipe_begin / pipe_layer need that the rule's init
     * reserves only under --pipeline, allocated now on a built model (for
     * layer-parallel ranks); an error if the settings do not allow it. */
    bpfree_status (*pipe_prepare)(bpfree_model *m, bpfree_error *err);
    /* Scores (B, C) for x (B, D), B <= m->batch.  If heads is not NULL also
     * each head's scores (n_heads, B, C).  Required. */
    void (*predict)(bpfree_model *m, const float *x, int B, float *scores, float *heads);
    int (*n_heads)(const bpfree_model *m);
    /* Optional: one line on the rule's own state for the run summary. */
    void (*describe)(const bpfree_model *m, char *buf, size_t cap);
    void (*free)(bpfree_model *m);
    /* Optional: run state neither a workspace (bp_scratch_state) nor
     * bp_persist can hold because its size comes from the data (F³'s
     * store): its bytes for a checkpoint, written to dst; and back from
     * src (a wrong size is an error). */
    size_t (*extra_bytes)(const bpfree_model *m);
    void (*extra_save)(const bpfree_model *m, void *dst);
    bpfree_status (*extra_load)(bpfree_model *m, const void *src, size_t bytes,
                                bpfree_error *err);
    /* Optional: per-sample state, *rows x *width floats indexed by dataset
     * index (F³'s store), or NULL: data-parallel ranks exchange its rows. */
    float *(*sample_state)(bpfree_model *m, size_t *rows, size_t *width);
    /* What the rule can do (BP_CAP_*), the settings rows of its own
     * hyperparameters, the papers' setups it offers, and checks across its
     * settings that no single row can make (NULL = none). */
    unsigned caps;
    /* why the rule trains dense layers only, if it does (appended to the
     * message that refuses --arch with convolutions) */
    const char *layer_note;
    const bp_setting *settings;
    int n_settings;
    const bpfree_preset *presets;
    int n_presets;
    bpfree_status (*check)(const bpfree_config *c, bpfree_error *err);
    /* Optional: the name of head h when it is not a layer's own (FF's
     * "goodness"), else NULL; and the name of the way the model's main score
     * is made, for rules that offer several. */
    const char *(*head_name)(const bpfree_model *m, int h);
    const char *(*prediction)(const bpfree_config *c);
    /* Optional: the predictor behind the training accuracy when it is not
     * the main score's (FF: the one-pass head's, seen before its step). */
    const char *(*train_source)(const bpfree_config *c);
};


/* 1 if the row applies to rule R: one of the generic rows or of R's own,
 * and R has the capabilities it needs. */
int bp_setting_applies_rule(const bp_setting *row, const bp_rule *R);
/* The checks of cfg for rule r: every row of rows[0..n), then what spans
 * several settings (layers, pipeline, schedules), then the rule's own. */
bpfree_status bp_config_check(const bp_rule *r, const bp_setting *const *rows, int n,
                              const bpfree_config *c, bpfree_error *err);
/* The parameter and state floats a model of rule r and cfg would have, and
 * the bytes of its batch buffers — counted without allocating them (the
 * model loader checks a file against them before building anything). */
bpfree_status bp_model_count(const bp_rule *r, const bpfree_config *cfg, size_t *n_params,
                             size_t *n_state, double *batch_bytes, bpfree_error *err);
/* A model for rule r and a checked cfg: all memory is allocated here. */
bpfree_status bp_model_build(const bp_rule *r, const bpfree_config *cfg, bpfree_model **out,
                             bpfree_error *err);

/* Engine helpers the rules share. */
/* Forward through layers [0, n_layers): h[0] = x, h[l+1] = layer l output;
 * every h[l+1] must hold B * layers[l].out floats. */
void bp_forward_all(const bpfree_model *m, const float *x, float **h, int B);
/* Largest width among inputs and layers. */
int bp_max_width(const bpfree_model *m);
/* Forward through all layers ping-ponging between two buffers of
 * B * bp_max_width floats; the last layer writes into `out` (B, C). */
void bp_forward_pingpong(const bpfree_model *m, const float *x, int B, float *buf0,
                         float *buf1, float *out);
/* Output buffers h[1..n_layers] (rows x width of each layer), as workspaces. */
void bp_acts_reserve(bpfree_model *m, float **h);
/* Fixed feedback matrices B_l (C, n_l), one per hidden layer, in the state
 * block: reserve (in rule->reserve), fill (in rule->init) with
 * cfg.feedback_init, and project dh (B, n_l) = e (B, C) B_l. */
bpfree_status bp_feedback_reserve(bpfree_model *m, int *fb, bpfree_error *err);
/* The same for any n first layers: tensors PREFIX1.. (C, n_l) in the
 * parameter block (trainable: local heads) or the state block; drawn with
 * `how` like the weight of a layer n_l -> C. */
bpfree_status bp_layer_mats_reserve(bpfree_model *m, const char *prefix, int n, int trainable,
                                    int *t, bpfree_error *err);
void bp_layer_mats_init(bpfree_model *m, const int *t, int n, bpfree_init how);
void bp_feedback_init(bpfree_model *m, const int *fb);
void bp_feedback_signal(const bpfree_model *m, const int *fb, int l, float alpha,
                        const float *e, int B, float *dh);

/* Rules with a backward chain (BP, FA): every layer's output is kept, and
 * the signal into layer l-1 is dz_l M_l with M_l = back[l] if given, else
 * W_l (the chain rule). */
typedef struct bp_chain {
    float *h[BPFREE_MAX_LAYERS + 1]; /* h[0] = input, h[l+1] = output of layer l */
    float *d[2];                     /* delta ping-pong (B, max width) */
} bp_chain;
void bp_chain_reserve(bpfree_model *m, bp_chain *c); /* its workspaces */
void bp_chain_train(bpfree_model *m, bp_chain *c, const float *const *back, int B, double *loss,
                    long *correct);

/* The true BP gradient of the current batch into m->grads, without a step. */
void bp_chain_grads(bpfree_model *m, bp_chain *c, int B);

/* Diagnostics (src/core/diagnose.c). */
bpfree_status bp_diag_init(bpfree_model *m, bpfree_error *err);
void bp_diag_free(bpfree_model *m);
/* Around one training step k: before() returns 1 if this step is measured
 * (it then holds BP's gradient and clears m->grads); after() accumulates the
 * angles; epoch() writes the epoch's means into stats and resets. */
int bp_diag_before(bpfree_model *m, long k, int B);
void bp_diag_after(bpfree_model *m);
void bp_diag_epoch(bpfree_model *m, bpfree_epoch_stats *stats);

/* Rules that update every hidden layer at once, during the forward pass
 * (DRTP, F³, LLO): only two activation buffers are alive. */
/* One thread's scratch for running layers one batch at a time. */
struct bp_work {
    float *a[2];  /* activation ping-pong (B, max width) */
    float *d;     /* signal at a layer's output (B, max width) */
    float *z, *dz; /* (B, C): output logits / MF goodness, and their gradient */
    float *rs;    /* pipelined: the rule's own scratch (bp_pipe_need.scratch floats) */
};
void bp_work_reserve(bpfree_model *m, bp_work *w); /* a, d, z, dz as workspaces */
/* The same allocated now (a stage's, freed with it): activations of mult
 * rows per sample, `scratch` floats of the rule's own */
bpfree_status bp_work_alloc(bpfree_model *m, bp_work *w, int mult, size_t scratch,
                            bpfree_error *err);
void bp_work_free(bpfree_model *m, bp_work *w);
typedef bp_work bp_onepass;

/* One batch as it travels through the layers (sequentially or pipelined). */
struct bp_pipe_batch {
    int rows;
    const float *y;   /* targets (rows, C) */
    const int *lb;    /* labels (rows), -1 for regression */
    const int *ib;    /* dataset indices (rows) */
    float *scores;    /* (rows, C) running sum of per-layer scores (MF), zeroed */
    float *aux;       /* (rows, C) the rule's per-batch data (F3: stored errors) */
    double loss;      /* set by the layer that reports the batch loss; pipelined,
                         carried from stage to stage (starts at 0) */
    long correct;     /* set by the layer that predicts */
    const float *x;   /* pipelined, stage 0 only: the gathered inputs (rows, D) */
    float *carry;     /* pipelined: bp_pipe_need.carry floats that travel with the
                         batch from stage to stage (handed on, not copied) */
    bp_pipe *pipe;    /* pipelined: the pipeline (NULL when sequential) */
    int k;            /* pipelined: the batch's index in the epoch */
};

/* A hand-over back down the pipeline, for rules whose layer i+1 works on
 * something of layer i's (DNI: layer i's synthetic-gradient module learns
 * from the target layer i+1 computes): bp_pipe_done(b, tag) says batch b is
 * done with `tag` (0 <= tag < BPFREE_MAX_LAYERS); bp_pipe_await(b, tag)
 * waits until the batch before b is.  Both do nothing when sequential. */
void bp_pipe_done(const bp_pipe_batch *b, int tag);
void bp_pipe_await(const bp_pipe_batch *b, int tag);

/* A pipelined rule's extra needs: activations of mult·B rows instead of B
 * (FF: positive, negative and neutral rows of every sample), `carry` floats
 * that go with each batch through the stages, `scratch` floats per stage. */
struct bp_pipe_need {
    int mult;
    size_t carry, scratch;
};

/* Pipelined epoch over cfg.pipeline threads (src/core/pipeline.c); the
 * rule's pipe_layer does one layer on one batch. */
/* Batches k0..nb; stage 0 stops feeding batches when asked to stop
 * (m->stop), the others finish what was fed; *done = batches done. */
bpfree_status bp_pipe_epoch(bpfree_model *m, const bpfree_dataset *train, int k0, int nb,
                            int *done, double *loss, long *correct, float *lr, bpfree_error *err);
void bp_pipe_free(bpfree_model *m);
/* Layers into S contiguous stages [l0[k], l1[k]) with the smallest largest
 * cost, a layer's cost being its weights (= its multiply-adds per sample for
 * a dense layer): shared by --pipeline and layer-parallel ranks. */
void bp_pipe_partition(const bpfree_model *m, int S, int *l0, int *l1);

/* drtp, f3, llo: layer i on one batch.  A hidden layer gets the signal
 * E_l = B_l^T aux (B_l = feedback tensor fb[i]) when fb is given, else
 * stays frozen; the output layer trains on its true gradient and sets
 * b->loss, b->correct, leaving its logits in w->z. */
void bp_onepass_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                      float *out, const int *fb, const float *E, bp_pipe_batch *b);
/* Forward through the hidden layers; if E (B, C) is not NULL, hidden layer l
 * gets delta_h_l = (1/B) E B_l and steps at once, before layer l+1 runs.
 * Returns the last hidden activation (computed before its layer's step). */
/* the whole batch in m->xb through every layer with bp_onepass_layer */
void bp_onepass_train(bpfree_model *m, bp_work *w, const int *fb, const float *E, int B,
                      double *loss, long *correct);
void bp_onepass_predict(bpfree_model *m, bp_onepass *p, const float *x, int B, float *scores);
/* predict for a rule whose state struct starts with a bp_onepass (drtp, llo) */
void bp_onepass_rule_predict(bpfree_model *m, const float *x, int B, float *scores,
                             float *heads);

/* The whole net: h[0] = x, h[l+1] = output of layer l (every h[l+1] holds
 * B * width floats, as bp_forward_all); the tangent ping-pongs through
 * t[0], t[1] (each B * bp_max_width floats) and the output's lands in
 * dout (B, C).  p may be NULL (then dout = 0). */
void bp_tangent_forward(const bpfree_model *m, const bp_perturb *p, const float *x, float **h,
                        float *const t[2], float *dout, int B);
/* dl (B) = row-wise dot of e (B, C) and d (B, C): the directional derivative
 * of each sample's loss, given e = dL/dy (as bp_loss writes it, with 1/B). */
void bp_tangent_dot(const float *e, const float *d, int B, int C, float *dl);
/* Learned direct feedback (fblearn.c; dkp, fdfa): B_l (C, n_l) per hidden
 * layer in the state block (saved with the model, outside the parameter
 * block, so optim.weight_decay and the parameter count leave them alone),
 * initialised with cfg.feedback_init, and stepped by an optimizer of their
 * own: cfg.fb_optim at lr cfg.fb_lr times the schedule's factor
 * (lr in force / optim.lr), L2 decay cfg.fb_wd, moments in rule memory. */
typedef struct bp_fblearn {
    int fb[BPFREE_MAX_LAYERS]; /* state tensors of B_l */
    size_t off[BPFREE_MAX_LAYERS];
    float *m, *v;              /* optimizer moments over all B_l */
    float *g;                  /* (C, max n_l) gradient scratch */
    bp_optim opt;
} bp_fblearn;
bpfree_status bp_fblearn_reserve(bpfree_model *m, bp_fblearn *f, bpfree_error *err);
bpfree_status bp_fblearn_init(bpfree_model *m, bp_fblearn *f, bpfree_error *err);
/* Once per batch, before the steps: the lr in force and Adam's clock. */
void bp_fblearn_begin(bpfree_model *m, bp_fblearn *f);
/* B_l -= step(f->g + fb_wd B_l), with f->g (C, n_l) filled by the caller. */
void bp_fblearn_step(bpfree_model *m, bp_fblearn *f, int l);

#endif /* BPFREE_ENGINE_H */
