/*
 * bpfree.h — train neural networks with and without backpropagation.
 *
 * The whole public API of libbpfree.  One idea carries the engine (see
 * README.md): every rule does (1) a forward pass, z = h_prev W^T + b, h = f(z);
 * (2) decides which learning signal delta_h reaches each layer and when;
 * (3) lets the layer turn delta_h into its own update with data it holds.
 * Rules differ mostly in step 2 (a few, such as chl, pepita and ff, also run
 * forward passes of their own).
 *
 * Conventions, fixed once for the whole library
 *   - float32 everywhere; matrices are row-major and batch-major:
 *       a batch of activations is (B, N): row b is sample b;
 *       a dense weight is (O, I) as in PyTorch's nn.Linear, so z = h W^T + b.
 *   - Dimension letters: B batch, I inputs of a layer, O outputs of a layer,
 *     C classes (network outputs), N samples of a dataset, D input features.
 *   - Every fallible function returns a bpfree_status (0 = BPFREE_OK) and, if
 *     `err` is not NULL, fills it with a message naming the problem and the
 *     place.  The library never exits, aborts or prints on bad input.
 *   - No global mutable state: random numbers come from the model's own
 *     seeded generator; the same seed and thread count give the same numbers.
 *   - Ownership: a function that returns a pointer through `out` hands
 *     ownership to the caller, who releases it with the matching _free.
 */
#ifndef BPFREE_H
#define BPFREE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What this header declares is the shared library's interface: exported
 * although the library is built with -fvisibility=hidden (nothing else is). */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

#define BPFREE_VERSION "0.1.0"
#define BPFREE_MAX_LAYERS 128 /* hidden layers + output layer (F³'s Fig. 4a goes to 100) */

/* ---------------------------------------------------------------- errors */

typedef enum bpfree_status {
    BPFREE_OK = 0,
    BPFREE_ENOMEM = -1,      /* allocation failed */
    BPFREE_EIO = -2,         /* a file could not be opened, read or written */
    BPFREE_EFORMAT = -3,     /* a file is corrupt, truncated or foreign */
    BPFREE_ESHAPE = -4,      /* dimensions do not agree */
    BPFREE_EINVAL = -5,      /* a bad argument or option value */
    BPFREE_ENAN = -6,        /* a NaN or infinity appeared during training */
    BPFREE_EUNSUPPORTED = -7, /* the rule/model does not support this */
    BPFREE_EINTR = -8        /* training stopped on request (bpfree_model_stop_flag) */
} bpfree_status;

/* Filled by any fallible call that is given one.  msg is NUL-terminated. */
typedef struct bpfree_error {
    bpfree_status code;
    char msg[512];
} bpfree_error;

/* A short static description of a status code ("out of memory", ...). */
const char *bpfree_strerror(bpfree_status code);

/* ------------------------------------------------------------ vocabulary */

/* How N > 1 threads are used.  Process-wide, like the thread count. */
typedef enum bpfree_threading {
    /* bpfree splits each product, and each dense layer's forward and
     * gradient passes, over its own threads (BLAS on one thread): a thread
     * does the bias, activation, derivative, bias gradient and optimizer
     * step of the units whose product it computed, while they are in its
     * cache.  The default. */
    BPFREE_THREADING_SPLIT = 0,
    /* the BLAS's own threads for the products; bpfree's threads only for
     * the optimizer step */
    BPFREE_THREADING_BLAS = 1
} bpfree_threading;

typedef enum bpfree_act {
    BPFREE_ACT_RELU = 0,
    BPFREE_ACT_TANH,
    BPFREE_ACT_SIGMOID,
    BPFREE_ACT_IDENTITY,
    BPFREE_ACT_ELU, /* z > 0 ? z : e^z - 1 (alpha 1, Clevert et al. 2016) */
    BPFREE_ACT_COUNT
} bpfree_act;

/* Loss on the network output (the logits of the last layer).
 *   CE : softmax cross-entropy,  L = -sum_c y_c log softmax(z)_c
 *   BCE: sigmoid + binary cross-entropy, L = -sum_c y_c log s_c + (1-y_c) log(1-s_c)
 *   MSE: mean squared error,      L = 1/2 sum_c (z_c - y_c)^2
 * Each is averaged over the batch; dL/dz is (p - y)/B for all three. */
typedef enum bpfree_loss {
    BPFREE_LOSS_CE = 0,
    BPFREE_LOSS_BCE,
    BPFREE_LOSS_MSE,
    BPFREE_LOSS_COUNT
} bpfree_loss;

typedef enum bpfree_init {
    BPFREE_INIT_KAIMING_UNIFORM = 0, /* U(±1/sqrt(fan_in)), PyTorch nn.Linear default */
    BPFREE_INIT_HE_UNIFORM,          /* U(±sqrt(6/fan_in)) */
    BPFREE_INIT_XAVIER_UNIFORM,      /* U(±sqrt(6/(fan_in+fan_out))) */
    BPFREE_INIT_NORMAL,              /* N(0, init_std^2) */
    BPFREE_INIT_ZEROS,
    /* feedback initialisations of F³ (001 §4.3, Fig. 3b) */
    BPFREE_INIT_TRINOMIAL,           /* each entry uniform in {-1, 0, 1} */
    BPFREE_INIT_BINOMIAL,            /* each entry uniform in {0, 1} */
    BPFREE_INIT_PM_IDENTITY,         /* identity repeated along the larger
                                        dimension with alternating signs */
    BPFREE_INIT_LECUN_NORMAL,        /* N(0, 1/fan_in): Hinton's FF code */
    BPFREE_INIT_COUNT
} bpfree_init;

typedef enum bpfree_optim_kind {
    BPFREE_OPTIM_SGD = 0, /* momentum, Nesterov, L2 weight decay (PyTorch SGD) */
    BPFREE_OPTIM_ADAM,    /* bias-corrected Adam (PyTorch Adam), L2 or decoupled decay */
    BPFREE_OPTIM_COUNT
} bpfree_optim_kind;

/* Learning-rate schedule, evaluated at every batch from the fractional epoch.
 *   NONE    : lr constant.
 *   STEP    : lr * gamma^floor(epoch / step_epochs).
 *   COOLDOWN: lr constant for the first (1 - cooldown) of training, then
 *             linearly down to lr_min over the last `cooldown` fraction.
 *   MULTISTEP: lr * gamma^k, k = number of milestones (epochs) passed. */
typedef enum bpfree_sched {
    BPFREE_SCHED_NONE = 0,
    BPFREE_SCHED_STEP,
    BPFREE_SCHED_COOLDOWN,
    BPFREE_SCHED_MULTISTEP, /* lr * gamma^(number of milestones passed) */
    BPFREE_SCHED_COUNT
} bpfree_sched;

typedef enum bpfree_norm {
    BPFREE_NORM_SCALE = 0,   /* pixels / 255 into [0, 1] */
    BPFREE_NORM_STANDARDIZE, /* then (x - mean) / std, one mean and std over
                                all training pixels (torchvision convention) */
    BPFREE_NORM_CHANNEL,     /* then (x - mean[c]) / std[c] per image channel
                                (CIFAR's usual preprocessing), with the training
                                rows' statistics; they travel in the data record
                                (bpfree_data_info's per-column statistics, each
                                column its channel's), as the CLI sets them */
    BPFREE_NORM_SYMMETRIC,   /* then (x - 0.5) / 0.5 into [-1, 1]: torchvision's
                                Normalize(0.5, 0.5), the FDFA authors' inputs */
    BPFREE_NORM_COUNT
} bpfree_norm;

/* How a model with several heads (Mono-Forward) predicts. */
typedef enum bpfree_predict_mode {
    BPFREE_PREDICT_FF = 0, /* sum of every layer's goodness G_i ("FF pred") */
    BPFREE_PREDICT_BP      /* last layer's G only ("BP pred") */
} bpfree_predict_mode;

/* Forward-Forward choices (ff, cff-fixed, cff-adaptive), each named in the
 * CLI and the model file; see src/rules/ff.c. */
typedef enum bpfree_ff_goodness {
    BPFREE_FF_SUM = 0, /* G = sum_j h_j^2 (003 eq. 1; pairs with theta = width) */
    BPFREE_FF_MEAN,    /* G = mean_j h_j^2 (the PyTorch FF 004 uses; theta ~ 2) */
    BPFREE_FF_GOODNESS_COUNT
} bpfree_ff_goodness;
typedef enum bpfree_ff_norm {
    BPFREE_FF_RMS = 0, /* x / sqrt(mean(x^2)) (Hinton's code) */
    BPFREE_FF_L2,      /* x / |x|_2 (the PyTorch FF) */
    BPFREE_FF_NORM_COUNT
} bpfree_ff_norm;
typedef enum bpfree_ff_neg {
    BPFREE_FF_NEG_RANDOM = 0, /* a uniformly random wrong label */
    BPFREE_FF_NEG_HARD,       /* a wrong label drawn from the one-pass head's softmax */
    BPFREE_FF_NEG_COUNT
} bpfree_ff_neg;
typedef enum bpfree_ff_predict {
    BPFREE_FF_PREDICT_GOODNESS = 0, /* every label embedded, sum of goodness, argmax */
    BPFREE_FF_PREDICT_ONEPASS,      /* neutral label, linear softmax head */
    BPFREE_FF_PREDICT_COUNT
} bpfree_ff_predict;

/* When FF's peer-normalisation running mean takes in the batch's positive
 * activities: after the batch's step (the term uses the previous batches'
 * mean), or before the term is computed, as Hinton's code and Loewe's port
 * do (the whole batch is then one chunk: the mean needs all its rows). */
typedef enum bpfree_ff_peer_when {
    BPFREE_FF_PEER_AFTER = 0,
    BPFREE_FF_PEER_BEFORE,
    BPFREE_FF_PEER_COUNT
} bpfree_ff_peer_when;

/* How learned feedback matrices (fdfa, dkp) are updated. */
typedef enum bpfree_fb_optim {
    BPFREE_FB_ADAM = 0, /* Adam on the feedback gradient (002 Appendix A) */
    BPFREE_FB_SGD,      /* plain SGD (optim.momentum applies) */
    BPFREE_FB_EMA,      /* fdfa: B = (1 - alpha) B + alpha mean(d (x) v) (002 eq. 8) */
    BPFREE_FB_COUNT
} bpfree_fb_optim;

/* Names <-> enums, for CLIs and files.  *_parse returns -1 if unknown. */
const char *bpfree_act_name(bpfree_act a);
int bpfree_act_parse(const char *s);
const char *bpfree_loss_name(bpfree_loss l);
int bpfree_loss_parse(const char *s);
const char *bpfree_init_name(bpfree_init i);
int bpfree_init_parse(const char *s);
const char *bpfree_optim_name(bpfree_optim_kind o);
int bpfree_optim_parse(const char *s);
const char *bpfree_sched_name(bpfree_sched s);
int bpfree_sched_parse(const char *s);
const char *bpfree_norm_name(bpfree_norm n);
int bpfree_norm_parse(const char *s);
const char *bpfree_predict_name(bpfree_predict_mode p);
int bpfree_predict_parse(const char *s);
const char *bpfree_ff_goodness_name(bpfree_ff_goodness g); /* "sum", "mean" */
int bpfree_ff_goodness_parse(const char *s);
const char *bpfree_ff_norm_name(bpfree_ff_norm n);         /* "rms", "l2" */
int bpfree_ff_norm_parse(const char *s);
const char *bpfree_ff_neg_name(bpfree_ff_neg n);           /* "random", "hard" */
int bpfree_ff_neg_parse(const char *s);
const char *bpfree_ff_predict_name(bpfree_ff_predict p);   /* "goodness", "onepass" */
int bpfree_ff_predict_parse(const char *s);
const char *bpfree_ff_peer_when_name(bpfree_ff_peer_when w); /* "after", "before" */
int bpfree_ff_peer_when_parse(const char *s);

/* ----------------------------------------------------------------- rules */

/* A learning rule and its place in the survey's taxonomy (000, Table I). */
typedef struct bpfree_rule_info {
    const char *name;    /* "bp", "mf", "dfa", ... */
    const char *title;   /* "Mono-Forward" */
    const char *paper;   /* the paper and where in it the algorithm is */
    int output_layer;    /* 1 if the net ends in a trained output layer;
                            0 for rules whose last hidden layer's head is the
                            classifier (Mono-Forward) */
    /* Table I of the survey: does the rule need ... */
    const char *weight_transport;  /* "yes" / "no": W^T in the learning signal */
    const char *frozen_activities; /* "yes" / "no": activities held while errors travel */
    const char *locality;          /* "non-local" / "single-layer" / "multi-layer" */
    const char *update_locking;    /* "backward" (backwards locked) / "forward" (waits for
                                      the forward pass) / "none" (update unlocked) */
} bpfree_rule_info;

int bpfree_rule_count(void);
const char *bpfree_rule_default(void);                   /* the rule a CLI trains unnamed */
const bpfree_rule_info *bpfree_rule_at(int i);           /* NULL if out of range */
const bpfree_rule_info *bpfree_rule_find(const char *name); /* NULL if unknown */

/* ---------------------------------------------------------------- config */

typedef struct bpfree_optim_config {
    bpfree_optim_kind kind;
    float lr;            /* base learning rate */
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    float weight_decay;  /* L2 added to the gradient (both optimizers) */
    int decoupled;       /* Adam: 1 = AdamW-style decoupled decay */
    float beta1, beta2, eps; /* Adam */
    bpfree_sched sched;
    int step_epochs;     /* STEP: decay every this many epochs */
    float gamma;         /* STEP: factor */
    float cooldown;      /* COOLDOWN: fraction of training spent decaying (0..1] */
    float lr_min;        /* COOLDOWN: final learning rate */
    int milestones[4];   /* MULTISTEP: epochs at which lr *= gamma (0 = unused) */
} bpfree_optim_config;

/* Everything that defines a model and how it trains.  Start from
 * bpfree_config_default(), which fills the rule's own defaults, then change
 * fields. */
typedef struct bpfree_config {
    char rule[32];
    int inputs;                      /* D */
    int outputs;                     /* C */
    int n_hidden;                    /* number of hidden layers */
    int hidden[BPFREE_MAX_LAYERS];   /* their widths (output features) */
    /* The hidden layers in the papers' notation (--arch; README), e.g.
     * "15C5-P2-40C5-P2-128": convolutions, pooling, dense layers; "BN"
     * after a layer's token batch-normalises that layer (README).  "" =
     * dense layers of hidden[].  bpfree_config_set(cfg, "arch", ...) sets
     * n_hidden and hidden[] from it, given the input shape below. */
    char arch[128];
    /* The inputs' image shape, channels x height x width (from the data;
     * 0 = a flat vector). */
    int in_channels, in_height, in_width;
    bpfree_act act;                  /* hidden activation */
    bpfree_loss loss;
    bpfree_init init;                /* forward weights (biases start at 0,
                                        except KAIMING_UNIFORM: U(±1/sqrt(fan_in))
                                        as PyTorch) */
    float init_std;                  /* NORMAL init */
    /* Gaussian noise added to every gradient before its step, of variance
     * grad_noise x the mean squared gradient of the layer (or tensor) being
     * stepped: a gradient's normalised variance becomes about
     * grad_noise / (1 + grad_noise).  Bacho & Chu 2024 Fig. 7 ("BP with
     * added gradient noise"); 0 = off, and then no random number is drawn. */
    float grad_noise;
    bpfree_init feedback_init;       /* DFA feedback matrices */
    int epochs;
    int batch;
    uint64_t seed;
    int threads;                     /* threads for products and element-wise
                                        work (see threading); 0 = all cores */
    /* Layer pipelining (rules that update a layer at once: mf, drtp, f3,
     * llo, ff with random negatives): N >= 2 threads, each owning a
     * contiguous range of layers, so layer l works on batch k+1 while layer
     * l+1 works on batch k; each thread's products run on one BLAS thread.
     * Same numbers as N = 0 (off).  Ignored under greedy_epochs (one layer
     * trains).  Not saved. */
    int pipeline;
    bpfree_threading threading;      /* with threads > 1; not saved */
    bpfree_optim_config optim;
    /* Mono-Forward */
    bpfree_predict_mode predict;         /* FF (sum of heads) or BP (last head) */
    int greedy_epochs;               /* >0: train layer 1 for this many epochs,
                                        then layer 2, ...; 0 = all layers every batch */
    /* Forward-Forward (ff; cff-fixed, cff-adaptive: 004 eqs. 5-8).  The
     * layer-by-layer schedule is greedy_epochs above. */
    bpfree_ff_goodness ff_goodness;  /* sum or mean of squares */
    float ff_theta;                  /* threshold theta (unless ff_theta_width) */
    int ff_theta_width;              /* 1: theta = the layer's width */
    bpfree_ff_norm ff_norm;          /* normalisation of every layer's input */
    float ff_label;                  /* value written into the true label's input */
    int ff_label_max;                /* 1: the row's largest input value instead */
    bpfree_ff_neg ff_negatives;      /* how the wrong label is chosen */
    float ff_peer;                   /* peer normalisation weight (0 = off) */
    bpfree_ff_peer_when ff_peer_update; /* running mean updated after or before use */
    bpfree_ff_predict ff_predict;    /* the main score: goodness or one-pass */
    int ff_skip_first;               /* goodness prediction leaves out layer 1 */
    float ff_head_lr;                /* Adam lr of the one-pass softmax head */
    int ff_head;                     /* 1: train the one-pass head on a neutral pass of
                                        every batch; 0: no head, no neutral pass, no
                                        training accuracy (random negatives, goodness
                                        prediction only) */
    float cff_gamma;                 /* gamma_l at the start (F-CFF: always), eq. 6 */
    float cff_alpha;                 /* alpha_lk for every k != l, eq. 5 */
    float cff_gamma_lr;              /* eta_gamma of A-CFF, eq. 7 */
    /* F³ (001, eq. 1 and §4.2): which delayed error is stored per sample */
    int f3_loss;                     /* 0: e = y* - y (F³-Error); 1: e = -dL/dy (F³-Loss) */
    int f3_onehot;                   /* keep only the target class's entry */
    int f3_softmax;                  /* softmax on the output before the error */
    /* dfa, dkp, fdfa, drtp, f3: where a feedback matrix's signal e B_l (and
     * fdfa's activity perturbation) enters a pooled conv/LC block
     * (BPFREE_FBPOINT_*); dense layers and unpooled blocks have one point */
    int feedback_point;
    /* drtp, f3, llo: how the hidden signal and the output gradient scale
     * with the batch (BPFREE_SIGNAL_*); Adam barely cares, SGD does */
    int signal_scaling;
    /* fg-a: the output layer's step (BPFREE_FGOUT_*): FORWARD perturbs it as
     * the hidden layers (002 eq. 4); EXACT perturbs only the hidden layers
     * and gives it its true gradient (Algorithm 3 leaves it open) */
    int fg_output;
    /* PEPITA (000 §III-H): F = pepita_f * U(±sqrt(6/D)), (D, C) */
    float pepita_f;
    /* uSF: B_l = usf_scale sign(W_l), 0 = mean |W_l|; KP: the decay lambda
     * that W and B both get, so that B - W shrinks by (1 - lr lambda) a step */
    float usf_scale;
    float kp_decay;
    /* Learned feedback (fdfa, dkp; 002 eqs. 8-10, Appendix A): B_l's own
     * learning rate alpha (scaled by the same schedule as optim.lr), its own
     * optimizer (fb_optim) and an L2 decay on B added to its gradient (fb_wd).  The
     * forward optim.weight_decay never touches B. */
    float fb_lr;
    int fb_follow;                   /* 1: alpha follows the forward lr schedule;
                                        0: constant (the authors' code) */
    bpfree_fb_optim fb_optim;
    float fb_wd;
    /* Contrastive Hebbian learning (chl; 000 §III-B): feedback gamma W^T,
     * at most chl_iters sweeps of the layer equations per phase, settled
     * when no activity moves by more than chl_tol */
    float chl_gamma;
    int chl_iters;
    float chl_tol;
    /* Difference target propagation (dtp; 000 §III-C): the top target's
     * step eta-hat and the noise sigma of the inverses' reconstruction loss */
    float dtp_eta;
    float dtp_noise;
    /* Decoupled neural interfaces (dni; 000 §III-E): hidden units of each
     * synthetic-gradient module (0 = linear); 1 = conditioned on the label */
    int dni_hidden;
    int dni_cond;
    /* Counter-current learning (ccl; 000 §III-I): 1 = activities normalised
     * before their similarity (the survey's norm), 0 = raw (the authors' MLP code) */
    int ccl_norm;
    /* TinyFoA (000 §III-J): N_s slices per layer; 1 = binarised forward weights */
    int tinyfoa_slices;
    int tinyfoa_binary;
    /* Input preprocessing the model was trained with (saved with it, so
     * `eval` applies the same): SCALE, or STANDARDIZE with these numbers. */
    bpfree_norm norm;
    float norm_mean, norm_std;
    /* Diagnostics (not saved with the model; they cost only when asked):
     * BPFREE_DIAG_ALIGNMENT measures, every diag_every-th batch, the angle
     * between each layer's update and the true BP gradient on the same batch,
     * before the step (002, Fig. 8).  Needs a rule with an output layer.
     * BPFREE_DIAG_VARIANCE draws the rule's gradient estimate diag_draws
     * times on the same batch and reports, per layer, its variance
     * normalised by the expected squared norm (002, Figs. 5-7).  Training
     * is bit-identical with and without either. */
    int diagnose;
    int diag_every;
    int diag_draws;
} bpfree_config;

/* signal_scaling: MEAN averages the hidden signal E B_l over the batch, as
 * the output's dL/dz = (p - y)/B; AUTHORS is the F³ authors' code: the
 * hidden signal summed over the batch, and BCE/MSE averaged over batch and
 * classes, so the output's gradient is (p - y)/(B C) — under SGD a hidden
 * step B C times larger relative to the output's. */
/* feedback_point: OUTPUT delivers e B_l at the block's pooled output (B_l
 * is C x out) and carries it back through the pooling's argmax; PREPOOL at
 * the activations before the pooling (B_l is C x channels x the unpooled
 * map), as the FDFA authors' code hooks its CNNs (Bacho & Chu 2024). */
#define BPFREE_FBPOINT_OUTPUT 0
#define BPFREE_FBPOINT_PREPOOL 1

#define BPFREE_FGOUT_FORWARD 0
#define BPFREE_FGOUT_EXACT 1

#define BPFREE_SIGNAL_MEAN 0
#define BPFREE_SIGNAL_AUTHORS 1

#define BPFREE_DIAG_ALIGNMENT 1
#define BPFREE_DIAG_VARIANCE 2

/* Fill `cfg` with the defaults of `rule` (which must name a known rule) for
 * a D -> C problem: 2 hidden layers of 1000 ReLU, and the rule's own tuned
 * optimizer settings (see README, "Defaults").  Returns BPFREE_EINVAL for an
 * unknown rule. */
bpfree_status bpfree_config_default(bpfree_config *cfg, const char *rule,
                                    int inputs, int outputs, bpfree_error *err);

/* Check a config for consistency (sizes > 0, known enums, lr > 0 ...). */
bpfree_status bpfree_config_check(const bpfree_config *cfg, bpfree_error *err);
/* sizeof of a public struct by its name ("bpfree_config", "bpfree_dataset",
 * "bpfree_data_options", "bpfree_epoch_stats", "bpfree_eval",
 * "bpfree_tensor_info", "bpfree_error"), 0 for another name: for bindings
 * that mirror the structs (python/bpfree.py checks its mirrors against it at
 * import) or hold a config as opaque bytes reached only through
 * bpfree_config_set/get. */
size_t bpfree_sizeof(const char *type);

/* ------------------------------------------------------------- settings
 *
 * Every field of bpfree_config is one row of one table: its name, the
 * model-file key, a help line, its default, the values it accepts and the
 * rules it applies to.  The generic rows live in the engine; a rule declares
 * the rows of its own hyperparameters.  That table alone drives
 * bpfree_config_default, bpfree_config_check, bpfree_config_set (the CLI's
 * options, config files), the model file and `bpfree --help`.
 *
 * Values are text, as a user writes them: numbers ("1e-3"), names ("adam",
 * or their index), lists ("1000,1000" for "layers"), "1"/"0" for flags. */
typedef struct bpfree_setting {
    const char *name; /* option / config-file name: "lr", "ff-peer" */
    const char *key;  /* model-file key ("weight_decay" for "wd"), or NULL if
                         the setting is not saved with a model */
    const char *arg;  /* what the value looks like in help ("F", "N", "NAME"),
                         or NULL for a flag (an option without a value) */
    const char *help; /* one line, naming the accepted values */
    const char *dflt; /* the table's default, as text */
    int headline;     /* 1: one of the few settings --help shows for every rule */
} bpfree_setting;

int bpfree_setting_count(void);
const bpfree_setting *bpfree_setting_at(int i); /* NULL if out of range */
/* By option name or model-file key; NULL if unknown. */
const bpfree_setting *bpfree_setting_find(const char *name);
/* 1 if the setting applies to `rule` (a known rule's name), else 0. */
int bpfree_setting_applies(const bpfree_setting *s, const char *rule);
/* 1 if the setting is an input of the model rather than an option (inputs,
 * outputs, the normalisation statistics): files carry it, the CLI does not. */
int bpfree_setting_internal(const bpfree_setting *s);

/* Set one setting of cfg from text, checking the text, the value's range and
 * that the setting applies to cfg->rule ("--ff-peer does not apply to rule
 * bp").  The rule itself is chosen by bpfree_config_default, not here. */
bpfree_status bpfree_config_set(bpfree_config *cfg, const char *name, const char *value,
                                bpfree_error *err);
/* The setting's value in cfg as text that bpfree_config_set reads back
 * exactly (floats with 9 significant digits).  Returns the length, or -1 for
 * an unknown name or a value that does not fit in cap bytes. */
int bpfree_config_get(const bpfree_config *cfg, const char *name, char *buf, size_t cap);
/* Set one of the settings the data decides (bpfree_setting_internal:
 * "inputs", "outputs", "norm-mean", "norm-std"), which bpfree_config_set
 * refuses because they are no options: for callers that hold the config as
 * opaque bytes (python/bpfree.py).  C code may set the fields directly. */
bpfree_status bpfree_config_set_input(bpfree_config *cfg, const char *name, const char *value,
                                      bpfree_error *err);

/* A paper's whole setup under one name (`--preset hinton`): settings
 * applied in order where the preset is named. */
typedef struct bpfree_preset {
    const char *name;      /* "hinton" */
    const char *what;      /* one paragraph */
    const char *rule;      /* the rule it trains, unless the rule chosen
                              already takes every one of its settings */
    const char *const *kv; /* name, value, name, value, ..., NULL; a name that is
                              no setting ("val") is the CLI's run option */
} bpfree_preset;

int bpfree_preset_count(void);
const bpfree_preset *bpfree_preset_at(int i);            /* NULL if out of range */
const bpfree_preset *bpfree_preset_find(const char *name); /* NULL if unknown */
/* The rule a preset trains when `current` was chosen before it: current if
 * it takes every setting of the preset, else p->rule. */
const char *bpfree_preset_rule(const bpfree_preset *p, const char *current);

/* ---------------------------------------------------------------- data */

/* A dataset in memory.  x is (n, dim) row-major.  labels (n) holds class
 * indices for classification (or is NULL); y (n, outputs), if not NULL,
 * holds real targets (regression) and takes precedence over labels for the
 * loss.  Each sample keeps its position in `index` (its row in the original
 * file), which survives splitting and shuffling. */
typedef struct bpfree_dataset {
    int n;
    int dim;
    /* images: dim = channels x height x width, each sample's pixels stored
     * channel by channel, row by row (C, H, W row-major); 0, 0, 0 for data
     * without a shape (tables) */
    int channels, height, width;
    int classes;      /* number of classes (labels), 0 for regression */
    int outputs;      /* width of y, 0 if y is NULL */
    float *x;
    int *labels;
    float *y;
    int *index;
    char name[64];
} bpfree_dataset;

/* A 64-bit FNV-1a hash of a dataset's contents: n, dim, the inputs' bits,
 * labels and targets, in row order (not its name, index or shape).  Taken
 * before any normalisation, it tells whether two loads saw the same data. */
uint64_t bpfree_data_checksum(const bpfree_dataset *ds);

/* Read an IDX image file and its IDX label file (raw or .gz, detected by the
 * gzip magic, not the name).  Checks the magic numbers (0x00000803 images,
 * 0x00000801 labels), the dimensions against the file size, and that both
 * hold the same number of items.  Pixels are scaled to [0, 1].  `classes`
 * becomes max label + 1 (at least 2). */
bpfree_status bpfree_idx_load(const char *images_path, const char *labels_path,
                              bpfree_dataset *out, bpfree_error *err);

/* Load the four standard files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or with .gz) from
 * a directory; a directory holding CIFAR files instead (see below) is read
 * as bpfree_cifar_load_dir(dir, 0, 0, ...) does. */
bpfree_status bpfree_data_load_dir(const char *dir, bpfree_dataset *train,
                                   bpfree_dataset *test, bpfree_error *err);

/* Read the binary version of CIFAR-10 or CIFAR-100 (cifar-10-binary.tar.gz,
 * cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)
 * from `dir`, or from the folder the archive unpacks to inside it
 * (dir/cifar-10-batches-bin, dir/cifar-100-binary).
 *   CIFAR-10: records of 1 label byte (0..9) + 3072 pixel bytes.  train =
 *     data_batch_1.bin .. data_batch_K.bin in that order, the unbroken run
 *     from 1 (K = 5 in the real set; fewer are read as they are, a gap such
 *     as 1, 2, 4 is refused); test = test_batch.bin.  10 classes.
 *   CIFAR-100: records of a coarse label byte (0..19), a fine label byte
 *     (0..99) + 3072 pixel bytes; train = train.bin, test = test.bin.  The
 *     fine labels (100 classes), or with `coarse` the coarse ones (20).
 * Pixels are 1024 red, 1024 green, 1024 blue, each 32 x 32 row by row: the
 * dataset is (C, H, W) = (3, 32, 32), dim 3072, scaled to [0, 1]; name
 * "cifar10" or "cifar100"; index = the record's position in the files read
 * one after the other.  `version`: 10, 100, or 0 = whichever `dir` holds
 * (CIFAR-10 first; coarse implies 100).  Refused, with the file named: a size
 * that is not a whole, non-zero number of records (with the byte offset of
 * the cut record), a label out of range (record and byte offset), a gzip
 * file.  On error train and test are left empty. */
bpfree_status bpfree_cifar_load_dir(const char *dir, int version, int coarse,
                                    bpfree_dataset *train, bpfree_dataset *test,
                                    bpfree_error *err);

/* Resolve a dataset name ("mnist", "fashion-mnist", "cifar10", "cifar100")
 * or a directory into a directory path.  Names are looked up in $BPFREE_DATA, then ./data, then
 * the data/ folder beside the executable's parent (set by the CLI through
 * `extra_root`, may be NULL).  Writes at most `cap` bytes into `dir`. */
bpfree_status bpfree_data_resolve(const char *name_or_dir, const char *extra_root,
                                  char *dir, size_t cap, bpfree_error *err);

/* Standardise: compute one mean and std over train->x and apply
 * (x - mean) / std to every dataset given (train first; others may be NULL). */
void bpfree_data_standardize(bpfree_dataset *train, bpfree_dataset *a,
                             bpfree_dataset *b);

/* One mean and std over all of ds->x (double accumulation; std floored at
 * 1e-8), and x = (x - mean) / std in place. */
void bpfree_data_stats(const bpfree_dataset *ds, float *mean, float *std);
void bpfree_data_normalize(bpfree_dataset *ds, float mean, float std);

/* 1 when the config's norm maps every pixel by one (x - mean) / std, with
 * that mean and std in *mean, *std: BPFREE_NORM_STANDARDIZE (the config's
 * norm_mean, norm_std, the training pixels') and BPFREE_NORM_SYMMETRIC (0.5,
 * 0.5); else 0.  bpfree_data_prepare applies it; a caller preparing data by
 * hand applies it with bpfree_data_normalize. */
int bpfree_norm_affine(const bpfree_config *c, float *mean, float *std);

/* Per-channel standardisation of images (CIFAR's usual preprocessing):
 * mean[c] and std[c] over every pixel of channel c of every sample of ds
 * (population std, double accumulation; a constant channel gets std 1, so
 * it is only centred), for c < ds->channels (one channel if ds has no
 * shape); and x = (x - mean[c]) / std[c] in place over channel c of every
 * sample.  Compute the statistics on the training set (after any
 * validation split) and apply them to every set. */
void bpfree_data_channel_stats(const bpfree_dataset *ds, float *mean, float *std);
void bpfree_data_channel_normalize(bpfree_dataset *ds, const float *mean, const float *std);

/* Move `n_val` samples, chosen by a permutation seeded with `seed`, from
 * train into *val (train keeps the rest in their original order). */
bpfree_status bpfree_data_split(bpfree_dataset *train, int n_val, uint64_t seed,
                                bpfree_dataset *val, bpfree_error *err);

/* Allocate an empty dataset of n samples (x zeroed, labels zero, index 0..n-1). */
bpfree_status bpfree_data_alloc(bpfree_dataset *ds, int n, int dim, int classes,
                                int outputs, bpfree_error *err);
void bpfree_data_free(bpfree_dataset *ds);

/* ------------------------------------------------------- tabular data */

/* How bpfree_csv_load reads a CSV file.  Start from
 * bpfree_csv_options_default() (defaults in brackets), then change fields.
 *
 * The separator is detected from the first line read: a comma if it holds
 * one (fields trimmed of blanks, "double quotes" allowed), else runs of
 * spaces and tabs.  Blank lines are skipped.  Column numbers here and in
 * messages are 0-based; line numbers are the file's own, 1-based. */
typedef struct bpfree_csv_options {
    const char *targets;      /* target columns: header names or 0-based
                                 indices, comma-separated ("price", "3,4");
                                 NULL = the last column [NULL] */
    int classify;             /* 1: one target column of class labels -> labels;
                                 0: regression, the target columns -> y [0] */
    int header;               /* 1: the first line read names the columns [1] */
    int skip_lines;           /* lines skipped before the header/data [0]
                                 (sklearn's breast_cancer.csv: 1) */
    const char *targets_path; /* NULL, or a second file whose row i holds the
                                 targets of data row i (sklearn's diabetes),
                                 read with the same header/skip settings:
                                 `targets` then picks its columns and every
                                 column of the first file is a feature [NULL] */
    double test_fraction;     /* ceil(fraction * rows) rows, chosen by a
                                 permutation seeded with `seed`, become the
                                 test set; in (0, 1) [0.2] */
    uint64_t seed;            /* [0] */
    int standardize;          /* features: (x - mean) / std per column, with
                                 the training rows' statistics [1] */
    int standardize_targets;  /* regression targets likewise [0] */
} bpfree_csv_options;

void bpfree_csv_options_default(bpfree_csv_options *opt);

/* Read a CSV file (raw or gzip, by content) into a training and a test set.
 * Every other column than the targets is a feature and must hold numbers.
 * Class labels: if every label is an integer, classes are the distinct
 * values in ascending order (0/1 stay 0/1; 1,2,3 become 0,1,2); otherwise
 * each distinct string is a class, numbered in order of first appearance.
 * Each sample's `index` is its 0-based data row in the file.  The statistics
 * used to standardise are not kept: a caller that needs them (to apply them
 * to new data; model files store only the one scalar mean/std of images)
 * loads with standardize = 0 and uses bpfree_data_col_stats/_normalize.
 * opt may be NULL (defaults).  On error train and test are left empty. */
bpfree_status bpfree_csv_load(const char *path, const bpfree_csv_options *opt,
                              bpfree_dataset *train, bpfree_dataset *test,
                              bpfree_error *err);

/* Per-column statistics of v (n, d): mean[j] and std[j] (population std,
 * double accumulation; a constant column gets std 1, as scikit-learn's
 * StandardScaler), and v[:, j] = (v[:, j] - mean[j]) / std[j] in place. */
void bpfree_data_col_stats(const float *v, int n, int d, float *mean, float *std);
void bpfree_data_col_normalize(float *v, int n, int d, const float *mean,
                               const float *std);

/* What bpfree_data_load needs beyond the name.  Image datasets ignore it
 * (they come split; the CLI's --norm standardises them). */
typedef struct bpfree_data_options {
    const char *targets;  /* csv: target columns as in bpfree_csv_options [NULL] */
    int classify;         /* csv: 1 = classification, 0 = regression [0] */
    double test_fraction; /* tabular sets: share held out as test [0.2] */
    uint64_t seed;        /* tabular sets: seeds the split [0] */
    int standardize;      /* tabular sets: standardise features per column
                             with training statistics, and regression
                             targets too (diabetes, csv regression) [1] */
} bpfree_data_options;

void bpfree_data_options_default(bpfree_data_options *opt);

/* Load any dataset the CLI's --data accepts:
 *   mnist, fashion-mnist, or a directory of IDX files (bpfree_data_resolve +
 *     bpfree_data_load_dir);
 *   cifar10, cifar100 (fine labels), cifar100:coarse (the 20 superclasses),
 *     or a directory of CIFAR files (DIR:coarse for coarse labels):
 *     bpfree_data_resolve + bpfree_cifar_load_dir;
 *   diabetes: scikit-learn's diabetes regression set, 442 samples x 10
 *     features, target = disease progression one year later (1 output);
 *   breast-cancer: scikit-learn's Wisconsin breast cancer set, 569 samples x
 *     30 features, 2 classes (0 = malignant, 1 = benign);
 *   csv:PATH: any CSV file with a header row, targets/classify from opt.
 * The named tabular sets are looked up like the image sets ($BPFREE_DATA/NAME,
 * ./data/NAME, EXTRA_ROOT/data/NAME; scripts/fetch-data.sh puts them there).
 * opt may be NULL (defaults). */
bpfree_status bpfree_data_load(const char *spec, const char *extra_root,
                               const bpfree_data_options *opt, bpfree_dataset *train,
                               bpfree_dataset *test, bpfree_error *err);

/* ---------------------------------------------------------------- model */

typedef struct bpfree_model bpfree_model;

/* Build a model for `cfg`: all parameters, optimizer state, activation and
 * workspace buffers are allocated here, none while training.  The rule
 * decides which activations it keeps: "at once" rules (mf) keep one layer's. */
bpfree_status bpfree_model_new(const bpfree_config *cfg, bpfree_model **out,
                               bpfree_error *err);
void bpfree_model_free(bpfree_model *m);

const bpfree_config *bpfree_model_config(const bpfree_model *m);
const bpfree_rule_info *bpfree_model_rule(const bpfree_model *m);

/* Number of trained parameters (weights, biases, rule heads). */
size_t bpfree_model_param_count(const bpfree_model *m);

/* Bytes the model holds now and at most so far, counted by the library's
 * own allocator: parameters, gradients, optimizer state, rule state,
 * activations and workspaces.  (Blocks of 4 MiB or more — and datasets —
 * are 2 MiB aligned and advised as transparent huge pages on Linux; the
 * counts are the bytes asked for, not the rounding.) */
size_t bpfree_model_bytes(const bpfree_model *m);
size_t bpfree_model_peak_bytes(const bpfree_model *m);

/* One line about the rule's own state (e.g. F³'s delayed-error store and
 * its bytes), or "" if it has nothing to say.  Writes at most cap bytes. */
void bpfree_model_describe(const bpfree_model *m, char *buf, size_t cap);

/* Collaborative FF (cff-fixed, cff-adaptive): copy each hidden layer's
 * gamma_l (004 eq. 5) into out[0..cap) and return how many the model has
 * (n_hidden); 0 for every other rule. */
int bpfree_model_gammas(const bpfree_model *m, float *out, int cap);

/* The name of head h of bpfree_eval.head_acc when it is not one layer's own
 * head ("goodness", "one-pass"), or NULL for a layer's head (the layer heads
 * come after the named ones). */
const char *bpfree_model_head_name(const bpfree_model *m, int h);
/* How the model turns outputs into scores when its rule can do it in more
 * than one way ("ff" or "bp" for mf, "goodness" or "onepass" for ff), else
 * NULL. */
const char *bpfree_model_prediction(const bpfree_model *m);
/* The predictor behind bpfree_epoch_stats.train_acc, where the rule has
 * several ("one-pass" for ff: its head, before each step, while the test
 * accuracy is by goodness), else as bpfree_model_prediction; "none" when
 * training measures no accuracy (ff with ff_head = 0: train_acc is NaN). */
const char *bpfree_model_train_source(const bpfree_model *m);

/* The scores behind bpfree_eval.head_acc for the Forward-Forward rules:
 * head 0 = goodness prediction, head 1 = one-pass head, head 2 + l = layer
 * l's goodness alone. */
#define BPFREE_FF_HEAD_GOODNESS 0
#define BPFREE_FF_HEAD_ONEPASS 1
#define BPFREE_FF_HEAD_LAYER0 2

typedef struct bpfree_epoch_stats {
    int epoch;          /* 0-based */
    double train_loss;  /* mean over the epoch's batches */
    double train_acc;   /* fraction correct on the training batches, as seen
                           during training (before each batch's update); NaN
                           when the rule measures none (bpfree_model_train_source
                           "none") */
    double seconds;
    double samples_per_s;
    double lr;          /* learning rate at the end of the epoch */
    int active_layer;   /* greedy training: the layer being trained, else -1 */
    /* --diagnose alignment: mean angle in degrees between each dense layer's
     * weight update and the BP gradient, over the measured batches of the
     * epoch (n_align layers; NaN for a layer the rule did not update). */
    int n_align;
    double align_deg[BPFREE_MAX_LAYERS];
    /* --diagnose variance: mean normalised variance per dense layer,
     * sum_k |g_k - mean g|^2 / sum_k |g_k|^2 over the draws (0 = deterministic) */
    int n_var;
    double var_norm[BPFREE_MAX_LAYERS];
    double var_raw[BPFREE_MAX_LAYERS]; /* the same spread, per weight (not normalised) */
} bpfree_epoch_stats;

/* One epoch over `train` in an order shuffled by the model's RNG.  Returns
 * BPFREE_ENAN (with the epoch and batch) if the loss stops being finite. */
bpfree_status bpfree_train_epoch(bpfree_model *m, const bpfree_dataset *train,
                                 bpfree_epoch_stats *stats, bpfree_error *err);

/* Epochs completed so far. */
int bpfree_model_epochs_done(const bpfree_model *m);

typedef struct bpfree_eval {
    double loss;
    double acc;
    int n_heads;                       /* >0 for rules with per-layer heads */
    double head_acc[BPFREE_MAX_LAYERS];/* accuracy of each layer's head alone; NaN for a
                                          head the model does not train (ff's one-pass
                                          head with ff_head = 0) */
} bpfree_eval;

/* Loss and accuracy on a dataset (labels required for accuracy). */
bpfree_status bpfree_evaluate(bpfree_model *m, const bpfree_dataset *ds,
                              bpfree_eval *out, bpfree_error *err);

/* Output scores (n, C) for n inputs x (n, D): logits, or summed/last goodness
 * for Mono-Forward according to cfg.predict, or for the Forward-Forward rules
 * the goodness summed over layers with each label embedded, or the one-pass
 * head's logits, according to cfg.ff_predict. */
bpfree_status bpfree_predict(bpfree_model *m, const float *x, int n,
                             float *scores, bpfree_error *err);

/* ------------------------------------------------------- provenance */

/* What a model was trained on, saved in its file, so that `eval MODEL`
 * loads the same data the same way and prepares it as training did.
 * Fill it with bpfree_model_set_data after building the model. */
typedef struct bpfree_data_info {
    char name[512];     /* the data set as named to bpfree_data_load
                           ("mnist", "csv:/path/x.csv", a directory) */
    char targets[256];  /* csv: target columns ("" = default) */
    int classify;       /* csv: 1 = class labels */
    int val;            /* samples held out of training for validation */
    uint64_t checksum;  /* bpfree_data_checksum of the training set as
                           loaded (before the hold-out and normalisation) */
    int classes;        /* classes of the training data (0: regression) */
    /* per-column standardisation (x - mean[j]) / std[j] (tabular data), applied
     * by bpfree_data_prepare after the config's norm; n_cols = 0: none */
    int n_cols;
    float *col_mean, *col_std; /* owned by the model when it returns them */
    /* the same for regression targets (n_tcols = outputs, or 0): the model
     * learns and reports losses on standardised targets */
    int n_tcols;
    float *tcol_mean, *tcol_std;
    /* each sample's inputs repeated this many times (bpfree_data_repeat,
     * --input-repeat), applied by bpfree_data_prepare first; 0 or 1: none */
    int repeat;
    /* each image padded with this many zero pixels on every side
     * (bpfree_data_pad, --input-pad), applied by bpfree_data_prepare after
     * the repeat; 0: none */
    int pad;
} bpfree_data_info;

/* Each sample's inputs written k times in a row, in place (x reallocated):
 * dim becomes k dim and an image's channels k channels (the copies as extra
 * channels, so the shape stays an image).  Bacho & Chu 2024 Fig. 6a grows
 * the input count n0 this way ("the pixels of input images were
 * duplicated").  k in [1, 4096]; k = 1 changes nothing. */
bpfree_status bpfree_data_repeat(bpfree_dataset *ds, int k, bpfree_error *err);

/* Each image (channels x height x width) framed by p zero pixels on every
 * side, in place (x reallocated): height and width grow by 2p.  Gong et al.
 * 2025's CNN is written for 32 x 32 inputs (four 2 x 2 poolings leave
 * 512 x 2 x 2 for its classifier); p = 2 gives MNIST that size.  p in
 * [0, 64]; 0 changes nothing; data without an image shape is refused. */
bpfree_status bpfree_data_pad(bpfree_dataset *ds, int p, bpfree_error *err);

/* Record `d` with the model (copied, columns included); saved with it. */
bpfree_status bpfree_model_set_data(bpfree_model *m, const bpfree_data_info *d,
                                    bpfree_error *err);
/* What the model records, or NULL if nothing (a file from before issue 17). */
const bpfree_data_info *bpfree_model_data(const bpfree_model *m);
/* Prepare data as loaded (bpfree_data_load with standardize = 0 for tabular
 * sets; images come scaled to [0, 1]) the way the model's training data was:
 * its input repeat (data as loaded, of dim x repeat = the model's
 * inputs), its per-column statistics (of the inputs, and of regression
 * targets), then its config's norm (one mean/std).  Checks
 * the input count, the shape (when both are known) and the class count
 * (channels x height x width against the config's in_*, when both have
 * one) against the model first, with a message.  bpfree_predict and
 * bpfree_evaluate take prepared inputs. */
bpfree_status bpfree_data_prepare(const bpfree_model *m, bpfree_dataset *ds,
                                  bpfree_error *err);

/* ---------------------------------------------- stopping and checkpoints */

/* Ask training to stop between two batches: bpfree_train_epoch reads
 * *flag (set from a signal handler or another thread, say) before each
 * batch after the first and, when it is non-zero, returns BPFREE_EINTR with
 * the epoch half done.  With the oneDNN build, do not let a signal handler
 * run on a thread that trains: block the signals there and take them on a
 * thread of their own (sigwait), as the CLI does (src/cli/run.c) — a handler
 * run inside a oneDNN product was seen to corrupt the heap.  The next bpfree_train_epoch continues that epoch where it stopped,
 * with exactly the numbers of an uninterrupted run; a checkpoint saved in
 * between carries the place.  Pipelined runs stop feeding batches and
 * finish the ones in flight.  flag NULL: never stop. */
void bpfree_model_stop_flag(bpfree_model *m, const volatile sig_atomic_t *flag);
/* Batches done of a stopped epoch (0 at an epoch boundary). */
long bpfree_model_batches_done(const bpfree_model *m);
/* Called on the training thread after each batch (pipelined: after stage 0
 * has fed it; loss is then NaN) with batches done k of nb in the epoch and
 * the running mean loss.  For progress lines; fn NULL: none. */
void bpfree_model_on_batch(bpfree_model *m, void (*fn)(void *user, int k, int nb, double loss),
                           void *user);

/* Data-parallel training over `size` processes (ranks) that each hold the
 * same model, built from the same config and seed, and call
 * bpfree_train_epoch with the same data.  Each batch of cfg.batch rows
 * (shuffled alike everywhere) is split into contiguous shards, rank r
 * taking rows [B r / size, B (r + 1) / size); each rank computes its
 * shard's gradients and the ranks combine them with `sum` before every
 * optimizer step, weighted so that the step equals one process's on the
 * whole batch (up to the order of the float sums); per-sample random draws,
 * batch statistics (FF's peer means) and per-sample state (F³'s store) are
 * kept global too.  The library never calls MPI: the caller's functions do
 * (src/dist/mpi.c: MPI_Allreduce and MPI_Allgatherv on MPI_COMM_WORLD).
 * Every rank must make the same calls in the same order, and a function
 * that fails must end the job (it has no way to report).  Not with
 * --pipeline, --diagnose or a stop between batches.  d NULL: one process
 * again.  d is copied. */
typedef enum { BPFREE_DIST_DATA = 0, BPFREE_DIST_LAYERS = 1 } bpfree_dist_mode;
typedef struct bpfree_dist {
    int rank, size;
    void *ctx;
    /* buf[0..n) = the sum of every rank's buf[0..n) */
    void (*sum_floats)(void *ctx, float *buf, size_t n);
    void (*sum_doubles)(void *ctx, double *buf, size_t n);
    /* buf holds every rank's block of bytes[r] bytes, in rank order; this
     * rank's block is in place at its offset; fill the others */
    void (*gather)(void *ctx, void *buf, const int *bytes);
    /* BPFREE_DIST_LAYERS (layer-parallel training, update-unlocked rules
     * only): rank r owns a contiguous block of layers (balanced by their
     * weights, as --pipeline's stages) and trains it on batch k as soon as
     * rank r-1 has sent that batch's activations, while rank r-1 goes on
     * with batch k+1.  The model is the one --pipeline N (or plain training
     * on the same BLAS threads) gives, bit for bit.  After every epoch each
     * layer's parameters go from its owner to every rank, so evaluation,
     * prediction and saving see the whole model everywhere.  Non-blocking
     * messages of `bytes` bytes to / from rank `peer`: start one and return
     * a request number >= 0 that wait completes; messages between two ranks
     * arrive in the order they were sent (MPI's non-overtaking rule). */
    bpfree_dist_mode mode;
    int (*isend)(void *ctx, int peer, const void *buf, size_t bytes);
    int (*irecv)(void *ctx, int peer, void *buf, size_t bytes);
    void (*wait)(void *ctx, int req);
} bpfree_dist;
bpfree_status bpfree_model_set_dist(bpfree_model *m, const bpfree_dist *d, bpfree_error *err);
/* Layer-parallel: the layers [*first, *end) rank r trains (0 if the model
 * is not layer-parallel, else 1). */
int bpfree_model_dist_layers(const bpfree_model *m, int r, int *first, int *end);

/* Save everything a run needs to continue exactly: the model file's contents
 * plus the optimizer's moments and clock, the gradients, every RNG state,
 * the rule's run state (F³'s error store, learned feedback's optimizer,
 * FF's head optimizer), epochs and batches done (and a stopped epoch's
 * sample order), the settings that are not saved with a model (threads,
 * pipeline, threading, diagnostics), and the caller's `note` (text, may be
 * NULL: the CLI keeps its run options and the log so far there).  A model
 * file (bpfree_model_load reads it, `eval` too); written atomically like
 * bpfree_model_save. */
bpfree_status bpfree_checkpoint_save(const bpfree_model *m, const char *path, const char *note,
                                     bpfree_error *err);
/* Load a checkpoint: the model ready to continue, and, if note is not NULL,
 * the note (malloc'd, free() it; "" if none).  A model file without run
 * state is refused. */
bpfree_status bpfree_checkpoint_load(const char *path, bpfree_model **out, char **note,
                                     bpfree_error *err);

/* The model's tensors — weights "W1" (units x inputs), biases "b1", and the
 * rule's own: feedback "B1" (C x n_1), local heads "M1", PEPITA's "F", ... —
 * in the order of the parameter and state blocks.  bpfree_model_tensor
 * returns tensor i's floats (the model's own: writing them changes the
 * model) and fills *info if not NULL; NULL if i is out of range. */
typedef struct bpfree_tensor_info {
    const char *name;
    size_t n;           /* floats */
    int ndim;           /* 2: a rows x cols row-major matrix; 1: a vector of n */
    int rows, cols;     /* ndim 1: rows = n, cols = 1 */
    int trainable;      /* 1: a parameter the optimizer steps; 0: fixed rule state */
} bpfree_tensor_info;

int bpfree_model_tensor_count(const bpfree_model *m);
float *bpfree_model_tensor(bpfree_model *m, int i, bpfree_tensor_info *info);

/* Save the model — config (architecture, rule, hyperparameters), epochs done,
 * the data record (bpfree_model_set_data), parameters and fixed rule state —
 * to `path` (format version 2).  Written to `path`.tmp.PID-XXXXXX, fsync'd
 * and renamed (then the directory fsync'd), so a failure never leaves a
 * half-written file; the file gets the mode a new file would (0666 less the
 * process's umask).  Format: see README ("Model files"). */
bpfree_status bpfree_model_save(const bpfree_model *m, const char *path,
                                bpfree_error *err);

/* Load a model saved by bpfree_model_save (or a checkpoint, as a model;
 * format versions 1 and 2).  Rejects foreign, truncated and corrupt files
 * (magic, version, duplicate keys or sections, sizes, CRC-32) with a
 * message; every size the header implies (parameters, state, batch
 * buffers, sections) is checked against the file and a cap before anything
 * is allocated. */
bpfree_status bpfree_model_load(const char *path, bpfree_model **out,
                                bpfree_error *err);

/* The git commit the library was built from ("unknown" outside a checkout;
 * "-dirty" appended when src/ or include/ had uncommitted changes) and the
 * BLAS it calls ("onednn", "openblas", "blis"). */
const char *bpfree_build_commit(void);
const char *bpfree_build_blas(void);

/* --------------------------------------------------------- linear algebra */

/* C (M,N) = alpha * op(A) op(B) + beta * C, row-major, op = transpose if t*.
 * op(A) is (M,K), op(B) is (K,N).  Through oneDNN's dnnl_sgemm, or CBLAS
 * (OpenBLAS, BLIS), as built (make BLAS=...). */
void bpfree_gemm(int ta, int tb, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc);
/* The same, three plain loops: the reference the tests compare against. */
void bpfree_gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb,
                       float beta, float *C, int ldc);
/* Threads (0 = all cores): bpfree's pool, and the BLAS's threads when the
 * threading is BPFREE_THREADING_BLAS (one BLAS thread under SPLIT).
 * Process-wide; not to be changed while another thread trains.  Calls from
 * several threads at once (two models, or bpfree_gemm from the caller's
 * threads) are safe: while one call uses the pool, the others run on their
 * own thread.  Returns the number in force. */
int bpfree_set_threads(int n);
/* Chooses how threads are used (see bpfree_threading) and applies it to the
 * thread count in force.  0, or -1 for an unknown value.  bpfree_model_create
 * calls it with the config's value. */
int bpfree_set_threading(bpfree_threading t);
bpfree_threading bpfree_get_threading(void);

/* Profiling of the matrix products, for benchmarks.  Between start and stop
 * every bpfree_gemm call (from any thread) is timed and counted by shape;
 * off, it costs one relaxed atomic load per call.  Process-wide, not per
 * model. */
typedef struct bpfree_profile {
    long calls;     /* GEMM calls */
    double seconds; /* wall time inside them */
    double flops;   /* 2 M N K summed over the calls */
    int shapes;     /* distinct (transposes, M, N, K) seen */
    int dropped;    /* calls not counted: more than 128 distinct shapes */
    /* the convolution primitives of the oneDNN build (forward, input and
     * weight gradients: each call's plain-layout reorders and, in the
     * forward, the activation and pooling done while the maps are in
     * cache, included); 0 elsewhere (im2col products are GEMM calls) */
    long conv_calls;
    double conv_seconds, conv_flops;
} bpfree_profile;
void bpfree_profile_start(int reset); /* reset: clear the counters first */
void bpfree_profile_stop(bpfree_profile *out);
/* After stop: replays every recorded shape alone (its calls back to back,
 * `reps` times, median) on scratch matrices, and returns the seconds all the
 * recorded calls would take at that speed — "GEMM alone" for the same work.
 * Returns < 0 if scratch memory cannot be allocated. */
double bpfree_profile_replay(int reps);

/* One recorded shape (shape and whether it accumulated into C — a
 * gradient product after a step that zeroed the gradient does, and then the
 * BLAS skips clearing C): C (M, N) = op(A) (M, K) op(B) (K, N), ta/tb = 1 when
 * A/B is transposed; `calls` and `seconds` as in bpfree_profile; `alone` the
 * seconds the same calls took in the last bpfree_profile_replay (< 0 before
 * any replay of this shape). */
typedef struct bpfree_profile_shape {
    int ta, tb, M, N, K;
    int accumulate; /* 1: C += op(A) op(B) (beta != 0), 0: C overwritten */
    long calls;
    double seconds, alone;
} bpfree_profile_shape;
/* Copies up to `max` recorded shapes, most time first, into `out` (may be
 * NULL when max is 0); returns how many are recorded (at most 128). */
int bpfree_profile_shapes(bpfree_profile_shape *out, int max);

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* BPFREE_H */
