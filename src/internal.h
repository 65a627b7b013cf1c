/* internal.h — what the library's files share and the public header hides.
 * Shapes follow bpfree.h: row-major, batch-major; W is (O, I). */
#ifndef BPFREE_INTERNAL_H
#define BPFREE_INTERNAL_H

#include "bpfree.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------- errors */

/* Fill err (if not NULL) with code and a printf-style message; returns code. */
bpfree_status bp_fail(bpfree_error *err, bpfree_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------- memory */

/* Every allocation of a model goes through one counter, which is how the
 * papers' memory claims are measured.  fail_after >= 0 makes the
 * (fail_after+1)-th allocation fail (tests of the ENOMEM paths). */
typedef struct bp_mem {
    size_t cur, peak;
    long n_allocs;
    long fail_after;
} bp_mem;

void bp_mem_init(bp_mem *m);
/* 64-byte aligned, zeroed; NULL on failure.  m may be NULL (uncounted). */
void *bp_alloc(bp_mem *m, size_t bytes);
void bp_free(bp_mem *m, void *p);
/* Convenience: n floats, with error message naming `what`. */
float *bp_alloc_floats(bp_mem *m, size_t n, const char *what, bpfree_error *err);

/* ---------------------------------------------------------------- RNG */

/* xoshiro256** seeded by splitmix64: owned by whoever draws from it. */
typedef struct bp_rng {
    uint64_t s[4];
    int has_spare;
    float spare;
} bp_rng;

void bp_rng_seed(bp_rng *r, uint64_t seed);
uint64_t bp_rng_u64(bp_rng *r);
float bp_rng_uniform(bp_rng *r);           /* [0, 1) */
float bp_rng_normal(bp_rng *r);            /* N(0, 1), Box-Muller */
uint32_t bp_rng_below(bp_rng *r, uint32_t n); /* uniform integer in [0, n) */
void bp_rng_shuffle(bp_rng *r, int *a, int n);

/* Fill w (rows=fan_out, cols=fan_in) with an initialisation. */
void bp_init_fill(bp_rng *r, float *w, int fan_out, int fan_in, bpfree_init how,
                  float std);

/* -------------------------------------------------------- activations */

/* h = f(h) in place over n values. */
void bp_act_forward(bpfree_act a, float *h, size_t n);
/* d = d * f'(z) with f' computed from h = f(z), in place over n values. */
void bp_act_backward(bpfree_act a, const float *h, float *d, size_t n);
/* the same on columns c0..c1 of a (B, O) row-major array */
void bp_act_forward_cols(bpfree_act a, float *h, int B, int O, size_t c0, size_t c1);
void bp_act_backward_cols(bpfree_act a, const float *h, float *d, int B, int O, size_t c0,
                          size_t c1);
/* Reference: f(z) and f'(z) of one value (tests). */
float bp_act_f(bpfree_act a, float z);
float bp_act_df(bpfree_act a, float z);

/* ------------------------------------------------------------- losses */

/* logits z (B, C), targets y (B, C).  Returns the mean loss over the batch
 * and, if dz is not NULL, writes dL/dz (B, C) = (p - y) / B where
 * p = softmax(z) (CE), sigmoid(z) (BCE) or z (MSE).  dz may alias nothing. */
double bp_loss(bpfree_loss l, const float *z, const float *y, int B, int C,
               float *dz);
/* Number of rows whose argmax of z equals labels[b]. */
int bp_count_correct(const float *z, const int *labels, int B, int C);
int bp_argmax(const float *v, int n);

/* ----------------------------------------------------------- optimizer */

typedef struct bp_optim {
    bpfree_optim_config cfg;
    float lr;        /* in force for this step (schedule applied) */
    long t;          /* Adam: steps taken (incremented once per batch) */
    float bc1, bc2;  /* Adam: 1 - beta^t */
} bp_optim;

/* Begin a batch: t++ and the bias corrections. */
void bp_optim_begin_step(bp_optim *o, float lr);
/* One step over n parameters p with gradient g and state m, v (v unused by SGD). */
void bp_optim_step(const bp_optim *o, float *p, const float *g, float *m, float *v,
                   size_t n);
/* The same, and g is zeroed as it is read (see bp_dense.gzero). */
void bp_optim_step_consume(const bp_optim *o, float *p, float *g, float *m, float *v,
                           size_t n);
/* Learning rate of the schedule at fractional epoch `e` of `epochs`. */
float bp_sched_lr(const bpfree_optim_config *c, double e, int epochs);

/* ------------------------------------------------------------ layers */

/* A dense layer h = f(x W^T + b).  W (O, I) and b (O) are contiguous in the
 * model's parameter block at [off, off + O*I + O); so are their gradients
 * gW, gb and the optimizer state. */
typedef struct bp_dense {
    int in, out;      /* I, O */
    bpfree_act act;
    float *W, *b;
    float *gW, *gb;
    size_t off;       /* offset of W in the parameter block */
    /* 1: gW and gb are all zero because the last step consumed them
     * (bp_optim_step_consume), so the next gradient product accumulates
     * into gW (beta = 1) and OpenBLAS skips the pass that clears C for
     * beta = 0 (4-5% of a batch-64 bp epoch).  Set only by
     * bp_dense_grad_step / bp_dense_backward_step when they step and the
     * model does not keep its gradients (keep_grads); bp_dense_backward clears
     * it.  Rules that write gW themselves (ff, pepita, fg-w) never call
     * those two, so their layers keep gzero = 0. */
    int gzero;
} bp_dense;

/* x (B, I) -> h (B, O): h = f(x W^T + b). */
void bp_dense_forward(const bp_dense *L, const float *x, float *h, int B);
/* The plain backward pass, no step (training goes through
 * bp_dense_backward_step, which fuses it with the step; the tests use this
 * one as its reference).  Given dh = dL/dh (B, O) at the layer's output (overwritten with dL/dz),
 * the layer's input x (B, I) and its output h (B, O):
 *   dz = dh ⊙ f'(z);  gW = dz^T x;  gb = sum_b dz;
 *   if dx != NULL: dx (B, I) = dz W   (computed with the current W). */
void bp_dense_backward(bp_dense *L, const float *x, const float *h, float *dh, float *dx,
                       int B);
/* gb[a:b] = sum over the B rows of dz (B, O) of columns a..b */
void bp_bias_grad(float *gb, const float *dz, int B, int O, size_t a, size_t b);
/* Units a..b of layer L: gW[a:b] = dz[:, a:b]^T x + beta gW[a:b] (one BLAS
 * call, profiled as the whole product by the part that starts at unit 0) and
 * gb[a:b]; beta is 1 only when gW is known zero (gzero). */
void bp_dense_grad_units(const bp_dense *L, const float *x, const float *dz, int B, size_t a,
                         size_t b, float beta);
/* a layer's units are split over threads in parts of at least this many */
#define BP_UNIT_GRAIN 32

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
} bp_tensor;

#define BP_MAX_TENSORS (4 * BPFREE_MAX_LAYERS + 8)

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
    bp_dense layers[BPFREE_MAX_LAYERS];

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
     * gW after it; tests read them); 0: bp_dense_grad_step's step zeroes
     * them as it reads them (bp_dense.gzero) */
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

    void *rs;              /* the rule's own state */
    struct bp_diag *diag;  /* diagnostics state, or NULL */
    struct bp_pipe *pipe;  /* layer pipeline, built at the first pipelined epoch */
    int epochs_done;
    long steps_done;
};

/* Reserve a tensor of n floats in the parameter block (trainable) or the
 * state block during build; pointers are resolved by bp_tensor_ptr after
 * the blocks exist.  Returns its index or -1 if full. */
int bp_model_reserve(bpfree_model *m, const char *name, size_t n, int trainable);
float *bp_tensor_ptr(const bpfree_model *m, int t);
float *bp_tensor_grad(const bpfree_model *m, int t);
/* Step tensor t's parameters with its gradient. */
void bp_tensor_step(bpfree_model *m, int t);
/* Step layer l's W and b. */
void bp_layer_step(bpfree_model *m, int l);
/* bp_dense_backward (no dx) of layer l, then bp_layer_step — with
 * BPFREE_THREADING_SPLIT fused per range of units (src/core/model.c). */
void bp_dense_backward_step(bpfree_model *m, int l, const float *x, const float *h, float *dh,
                            int B);
/* the same with an explicit optimizer clock (pipelined layers keep one each) */
void bp_step_range(bpfree_model *m, const bp_optim *o, size_t off, size_t n);
/* learning rate of batch k of nb in the current epoch (schedules, greedy) */
float bp_batch_lr(const bpfree_model *m, int k, int nb);
/* rows order[0..B) of ds into x (B, D), one-hot or regression targets y
 * (B, C), labels lb (B, -1 for regression), dataset indices ib (may be NULL) */
void bp_gather(const bpfree_model *m, const bpfree_dataset *ds, const int *order, int B,
               float *x, float *y, int *lb, int *ib);
/* layer l's gW, gb from dz (B, O) and its input x (B, I); then, if step !=
 * NULL, W and b stepped with that optimizer clock */
void bp_dense_grad_step(bpfree_model *m, int l, const float *x, const float *dz, int B,
                        const bp_optim *step);

/* ------------------------------------------------------------- rules */

/* A rule decides which signal reaches which layer, and when.  It owns its
 * extra state (rs) and the activation buffers it needs. */
struct bp_rule {
    bpfree_rule_info info;
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
    /* Optional: what the rule's pipelined layers need beyond one (B, width)
     * activation per batch (see bp_pipe_need); NULL = nothing more. */
    void (*pipe_need)(const bpfree_model *m, bp_pipe_need *n);
    /* Scores (B, C) for x (B, D), B <= m->batch.  If heads is not NULL also
     * each head's scores (n_heads, B, C).  NULL = forward through all layers. */
    void (*predict)(bpfree_model *m, const float *x, int B, float *scores, float *heads);
    int (*n_heads)(const bpfree_model *m);
    /* Optional: one line on the rule's own state for the run summary. */
    void (*describe)(const bpfree_model *m, char *buf, size_t cap);
    void (*free)(bpfree_model *m);
};

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

const bp_rule *bp_rule_lookup(const char *name);

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
/* Output buffers h[1..n_layers] (B x width of each layer). */
bpfree_status bp_acts_alloc(bpfree_model *m, float **h, bpfree_error *err);
void bp_acts_free(bpfree_model *m, float **h);
/* Fixed feedback matrices B_l (C, n_l), one per hidden layer, in the state
 * block: reserve (in rule->reserve), fill (in rule->init) with
 * cfg.feedback_init, and project dh (B, n_l) = e (B, C) B_l. */
bpfree_status bp_feedback_reserve(bpfree_model *m, int *fb, bpfree_error *err);
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
bpfree_status bp_chain_alloc(bpfree_model *m, bp_chain *c, bpfree_error *err);
void bp_chain_free(bpfree_model *m, bp_chain *c);
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

/* Defaults of drtp, f3 and llo: the F³ paper's MNIST setup. */
void bp_defaults_f3_paper(bpfree_config *c);
/* Defaults of fg-w, fg-a, lg-fg-a, dkp, fdfa: 002's Appendix A setup. */
void bp_defaults_fdfa_paper(bpfree_config *c);

/* Rules that update every hidden layer at once, during the forward pass
 * (DRTP, F³, LLO): only two activation buffers are alive. */
/* One thread's scratch for running layers one batch at a time. */
struct bp_work {
    float *a[2];  /* activation ping-pong (B, max width) */
    float *d;     /* signal at a layer's output (B, max width) */
    float *z, *dz; /* (B, C): output logits / MF goodness, and their gradient */
    float *rs;    /* pipelined: the rule's own scratch (bp_pipe_need.scratch floats) */
};
bpfree_status bp_work_alloc(bpfree_model *m, bp_work *w, bpfree_error *err);
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
};

/* A pipelined rule's extra needs: activations of mult·B rows instead of B
 * (FF: positive, negative and neutral rows of every sample), `carry` floats
 * that go with each batch through the stages, `scratch` floats per stage. */
struct bp_pipe_need {
    int mult;
    size_t carry, scratch;
};

/* Pipelined epoch over cfg.pipeline threads (src/core/pipeline.c); the
 * rule's pipe_layer does one layer on one batch. */
bpfree_status bp_pipe_epoch(bpfree_model *m, const bpfree_dataset *train, int nb, double *loss,
                            long *correct, float *lr, bpfree_error *err);
void bp_pipe_free(bpfree_model *m);

/* drtp, f3, llo: layer i on one batch.  A hidden layer gets the signal
 * E_l = B_l^T aux (B_l = feedback tensor fb[i]) when fb is given, else
 * stays frozen; the output layer trains on its true gradient and sets
 * b->loss, b->correct, leaving its logits in w->z. */
void bp_onepass_layer(bpfree_model *m, const bp_optim *o, bp_work *w, int i, const float *in,
                      float *out, const int *fb, const float *E, bp_pipe_batch *b);
bpfree_status bp_onepass_alloc(bpfree_model *m, bp_onepass *p, bpfree_error *err);
void bp_onepass_free(bpfree_model *m, bp_onepass *p);
/* Forward through the hidden layers; if E (B, C) is not NULL, hidden layer l
 * gets delta_h_l = (1/B) E B_l and steps at once, before layer l+1 runs.
 * Returns the last hidden activation (computed before its layer's step). */
/* the whole batch in m->xb through every layer with bp_onepass_layer */
void bp_onepass_train(bpfree_model *m, bp_work *w, const int *fb, const float *E, int B,
                      double *loss, long *correct);
void bp_onepass_predict(bpfree_model *m, bp_onepass *p, const float *x, int B, float *scores);
/* predict and free for a rule whose state struct starts with a bp_onepass
 * and owns nothing else (drtp, llo). */
void bp_onepass_rule_predict(bpfree_model *m, const float *x, int B, float *scores,
                             float *heads);
void bp_onepass_rule_free(bpfree_model *m);
/* 1 if every value is finite. */
int bp_check_finite(const float *v, size_t n);
/* Element-wise passes split over the --threads cores (src/core/par.c):
 * fn(ctx, a, b) runs on [a, b) parts of [0, n), at least `grain` each. */
void bp_par_threads(int n);
void bp_par_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b), void *ctx);
/* threads a bp_par_for would use now: 1 inside a part (no nesting) */
int bp_par_width(void);
/* parts to split work of `macs` multiply-adds into: 1 unless threading is
 * BPFREE_THREADING_SPLIT, the pool has several threads and the work is big
 * enough (src/core/gemm.c) */
int bp_split_width(double macs);
/* fn over [0, n) split over the pool (parts of >= grain) when
 * bp_split_width(work) > 1, else fn(ctx, 0, n) on this thread */
void bp_split_for(double work, size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b),
                  void *ctx);
/* one BLAS call for a slice of a product (M, N) x K of a whole (fullM,
 * fullN) x K: profiled as the whole product when `record` (part 0 does,
 * the others do not), never split further */
void bp_gemm_slice(int record, int fullM, int fullN, int ta, int tb, int M, int N, int K,
                   float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc);
/* sum of squares, vectorised with fixed-order lanes (src/core/vec.c) */
double bp_sumsq(const float *x, int n);
/* largest element of x[0..n), n >= 1 (NaNs are skipped unless x[0] is one) */
float bp_maxval(const float *x, int n);

/* Forward-Forward pieces (src/rules/ff.c), shared with the engine, the
 * model file and the tests. */
void bp_ff_config_defaults(bpfree_config *c);
bpfree_status bp_ff_config_check(const bpfree_config *c, bpfree_error *err);
/* Header lines "ff_...=v\n" / "cff_...=v\n": bytes written, or -1 if cap is
 * too small; parse: 1 = the key is an FF key and was read, 0 = not an FF
 * key, -1 = an FF key with a bad value. */
int bp_ff_header_write(const bpfree_config *c, char *buf, size_t cap);
int bp_ff_header_parse(bpfree_config *c, const char *k, const char *v);
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

/* Forward-mode tangents (tangent.c; 002 Algorithms 1-3, NOTES "FDFA (002)").
 * Alongside h_{l+1} = f(z_l), z_l = h_l W_l^T + b_l, a layer carries
 *     d_{l+1} = (d_l W_l^T [+ h_l V_l^T + vb_l]) ⊙ f'(z_l) [+ u_l]      (B, O)
 * the derivative of its output along a direction made of weight
 * perturbations V_l (O, I), vb_l (O) and activity perturbations u_l (B, O)
 * added to the layer's output h (post-activation).  Biases do not enter
 * d_l W_l^T.  d_0 = 0: the input is not perturbed. */
typedef struct bp_perturb {
    const float *V[BPFREE_MAX_LAYERS];  /* (O, I) per layer, or NULL */
    const float *vb[BPFREE_MAX_LAYERS]; /* (O) per layer, or NULL */
    const float *u[BPFREE_MAX_LAYERS];  /* (B, O) per layer, or NULL */
} bp_perturb;
/* One layer: x (B, I) its input, h (B, O) its output, din (B, I) the tangent
 * at its input or NULL (zero); V, vb, u may each be NULL.  dout (B, O). */
void bp_tangent_dense(const bp_dense *L, const float *x, const float *h, const float *din,
                      const float *V, const float *vb, const float *u, float *dout, int B);
/* The whole net: h[0] = x, h[l+1] = output of layer l (every h[l+1] holds
 * B * width floats, as bp_forward_all); the tangent ping-pongs through
 * t[0], t[1] (each B * bp_max_width floats) and the output's lands in
 * dout (B, C).  p may be NULL (then dout = 0). */
void bp_tangent_forward(const bpfree_model *m, const bp_perturb *p, const float *x, float **h,
                        float *const t[2], float *dout, int B);
/* dl (B) = row-wise dot of e (B, C) and d (B, C): the directional derivative
 * of each sample's loss, given e = dL/dy (as bp_loss writes it, with 1/B). */
void bp_tangent_dot(const float *e, const float *d, int B, int C, float *dl);
/* n draws of N(0, 1) from r. */
void bp_normal_fill(bp_rng *r, float *v, size_t n);

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
void bp_fblearn_free(bpfree_model *m, bp_fblearn *f);
/* Once per batch, before the steps: the lr in force and Adam's clock. */
void bp_fblearn_begin(bpfree_model *m, bp_fblearn *f);
/* B_l -= step(f->g + fb_wd B_l), with f->g (C, n_l) filled by the caller. */
void bp_fblearn_step(bpfree_model *m, bp_fblearn *f, int l);

#endif /* BPFREE_INTERNAL_H */
