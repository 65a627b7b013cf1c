#!/usr/bin/python3
"""torch_bench.py — the PyTorch side of bench/compare.sh.

The same rules, nets, data and hyperparameters as bpfree's defaults, written
as a competent PyTorch user would (nn.Linear, F.cross_entropy,
torch.optim.Adam with its default settings, tensors indexed directly — no
DataLoader), timed per training epoch.  Run it with Debian's interpreter,
which sees Debian's python3-torch:

    /usr/bin/python3 bench/torch_bench.py --rule bp --batch 64 --threads 1 --epochs 1
    /usr/bin/python3 bench/torch_bench.py --rule drtp --layers 1000,1000 --batch 64 --eval
    /usr/bin/python3 bench/torch_bench.py --infer --threads 1

It prints per-epoch lines ("epoch ...") and one machine-readable line at the
end:

    torch: rule=bp batch=64 threads=1 seconds_per_epoch=8.10 epochs=1 samples=60000 ...
    torch: infer batch=10000 seconds=... threads=1
    torch: infer batch=1 microseconds=... threads=1

Each rule's defaults (net, activation, output loss, pixel normalisation,
optimizer, learning rate, schedule, batch) are bpfree's for that rule
(`bpfree --help`, "rule defaults"); --layers, --batch and --lr override them
as bpfree's options of the same names do.  Notation: h_0 = x, h_l = f(z_l)
the output of hidden layer l, z the logits, e = dL/dz = (p - y*)/B with
p = softmax(z) (ce) or sigmoid(z) (bce: sum over the C outputs of BCE, / B),
y* one-hot; f'(z_l) is computed from h_l (relu: h > 0; tanh: 1 - h^2).
"Manual" twins compute their gradients under torch.no_grad(), write them
into .grad and take one optimizer step per batch: in every rule below no
layer's step changes what another layer's gradient is computed from within
the same batch, so this is the same arithmetic as bpfree's layer-by-layer
steps (which share one optimizer clock per batch).

What each rule computes (read against src/rules/):
  bp   784-1000-1000-10 ReLU, softmax CE, autograd, Adam 1e-3.
  mf   Mono-Forward (src/rules/mf.c): layer i: a_i = relu(W_i a_{i-1} + b_i),
       G_i = a_i M_i^T (M_i: C x n_i, no bias), local CE; W_i, b_i, M_i are
       updated from L_i alone, a_i goes on detached.  The local losses are
       summed and one backward + one Adam step is taken: since no gradient
       crosses layers and a_i is from before the update, this is the same
       arithmetic as bpfree's layer-by-layer steps.  Adam 1e-3.
  dfa  Direct Feedback Alignment (src/rules/dfa.c): forward, e = dCE/dlogits
       = (softmax - onehot)/B, hidden layer l gets e B_l (B_l: C x n_l, fixed,
       He-uniform U(+-sqrt(6/n_l))), dW_l = (e B_l * relu'(z_l))^T h_{l-1};
       the output layer gets its true gradient.  Manual gradients under
       torch.no_grad() written into .grad, then Adam 2e-4.  8 matmuls per step
       (3 forward, 2 feedback, 3 weight gradients), as bpfree.
  fa   Feedback Alignment (src/rules/fa.c, bp_chain_train in common.c):
       784-1000-1000-10 ReLU, CE, Adam 1e-3.  Autograd, with layers 2..L as a
       torch.autograd.Function whose backward sends dz_l B_l to its input
       instead of dz_l W_l (B_l fixed, W_l's shape O x I, He-uniform
       U(+-sqrt(6/I)) as bpfree's --feedback-init default); the weight
       gradients are the true dz_l^T h_{l-1}.  Layer 1 is a plain nn.Linear
       (the data needs no gradient, bpfree sends none).  8 matmuls, as bp.
  drtp Direct Random Target Projection (src/rules/drtp.c, bp_onepass_layer in
       common.c): bpfree's F3-paper defaults, 500 tanh, sigmoid output + BCE,
       standardised pixels (one mean, one std over the 60,000 training
       images), Adam 1.5e-4, batch 50; compare.sh runs --layers 1000,1000.
       Hidden layer l: dz_l = (y* B_l / B) * tanh'(z_l) (B_l: C x n_l,
       He-uniform, positive sign as bpfree and the authors' code),
       dW_l = dz_l^T h_{l-1}; output layer: its true gradient.  Manual;
       3 forward + 2 projections (B x C x n_l) + 3 weight gradients.
  f3   Feed-Forward with delayed Feedback (src/rules/f3.c): as drtp, with
       y* replaced by e^{t-1}[x], a store of C floats per training sample,
       indexed by the sample's index, starting as the one-hot targets (so
       epoch 1 is DRTP) and overwritten after each step with this step's
       y* - sigmoid(z) (bce; softmax for ce), z from the forward pass before
       the output layer's step.  Same matmuls as drtp.
  llo  Last Layer Only (src/rules/llo.c): drtp's defaults; hidden layers
       frozen (requires_grad False, forward under no_grad), the output layer
       trained by autograd on BCE with Adam 1.5e-4 over its own parameters.
       3 forward + 1 weight gradient.
  pepita PEPITA (src/rules/pepita.c): 784-1000-1000-10 ReLU, CE, He-uniform
       weights U(+-sqrt(6/I)), no biases (bpfree's are zero and never
       trained: nn.Linear(bias=False) is the same arithmetic), F (D x C) =
       0.05 U(+-sqrt(6/D)) fixed; SGD lr 0.01 momentum 0.9, x0.1 at epochs
       60 and 90 (multistep).  Standard pass h_l, e = softmax(z) - y*
       (per sample, no 1/B); modulated pass on x + e F^T gives hm_l, zm;
       hidden: dW_l = ((h_l - hm_l)/B)^T hm_{l-1} (no f'), last layer:
       dW_L = ((softmax(zm) - y*)/B)^T hm_{L-1}.  Manual; 3 + 1 (B x D x C)
       + 3 forward + 3 weight gradients.
  dkp  Direct Kolen-Pollack (src/rules/dkp.c, fblearn.c): bpfree's 002
       Appendix A defaults, 800-800-800 ReLU, CE, Adam 1e-4 x0.95 per epoch
       (step schedule); compare.sh runs --layers 1000,1000.  DFA's signal
       e B_l with B_l (C x n_l) starting at zero and learning from
       grad B_l = e^T h_l with its own Adam (lr 1e-4 scaled by the forward
       schedule, L2 weight decay 1e-4 coupled as torch.optim.Adam's); the
       signal uses B_l before its step.  Manual; DFA's 8 matmuls + 2
       feedback gradients (C x n_l x B).
  fdfa Forward DFA (src/rules/fdfa.c, tangent.c): dkp's defaults, feedback
       decay 0.  Per batch v_l ~ N(0, 1) (B x n_l) on every hidden output;
       forward-mode tangent d_1 = v_1, d_l = (d_{l-1} W_l^T) * f'(z_l) + v_l,
       d_L = d_{L-1} W_L^T; B_l steps (own Adam) on B_l - d_L^T v_l / B
       before it is used; hidden layers get e B_l as DFA; output layer its
       true gradient.  Manual; 3 forward + L-1 tangent + L-1 feedback
       targets + L-1 signals + L weight gradients.
  fg-w Forward gradient, weight perturbation (src/rules/fgw.c, tangent.c):
       dkp's net and optimizer.  Per batch one V_l ~ N(0, 1) of W_l's and
       b_l's shapes for every layer; tangent d_l = (d_{l-1} W_l^T +
       h_{l-1} V_l^T + vb_l) * f'(z_l) (output: identity), dL = sum_b
       e_b . d_L[b]; grad W_l = dL V_l, grad b_l = dL vb_l.  Manual; 3 forward
       + 5 tangent matmuls, no weight-gradient products.
  fg-a Forward gradient, activity perturbation (src/rules/fga.c): dkp's net
       and optimizer.  u_l ~ N(0, 1) (B x n_l) on every layer's output,
       the output layer included; d_1 = u_1, d_l = (d_{l-1} W_l^T) * f'(z_l)
       + u_l; dL_b = e_b . d_L[b]; layer l's signal dL_b u_l[b] times f'(z_l)
       gives dW_l = dz^T h_{l-1}.  Manual; 3 forward + 2 tangent + 3 weight
       gradients.
  lg-fg-a Local greedy FG-A (src/rules/lgfga.c): dkp's net and optimizer.
       Hidden layer l < L-1 (all but the last) has a linear head M_l (C x n_l,
       nn.Linear's init, trained by the same Adam) with its own CE on
       G = h_l M_l^T; the last hidden layer's head is the output layer.  Each
       hidden layer: u ~ N(0, 1) (B x n_l), dG = u head^T, dL_b = e_b . dG[b]
       (e of its own head's loss), dW_l = (dL_b u * f'(z_l))^T h_{l-1};
       M_l and the output layer take their true gradients e^T h.  Layer l+1
       sees h_l from before layer l's step.  Manual; 3 forward + 2 dG +
       1 head logits + 1 head gradient + 3 weight gradients.
  ff   Forward-Forward, bpfree's --preset cff-paper with --greedy 0
       (src/rules/ff.c, ff_train): 784-500-500 ReLU, every layer's input
       L2-normalised (x / (|x| + 1e-4)), goodness = mean of squares,
       theta = 2, label embedded in the first 10 inputs with the image's max
       as value, a uniformly random wrong label for the negatives, loss
       1/(2B) [sum_pos softplus(theta - G) + sum_neg softplus(G - theta)]
       per layer, layers see the previous layer's normalised output detached,
       all layers trained on every batch with Adam 0.03.  Plus the one-pass
       head, as bpfree does it on every batch: a neutral-label (0.1) pass
       through all layers (no gradient), a linear softmax head (10 x 1000,
       zero-initialised) on the concatenated normalised activities, CE,
       trained with its own Adam 1e-3 (here: a second parameter group of the
       same torch.optim.Adam).  Standardised pixels, 50,000 training samples
       (the preset holds 10,000 out for validation).  Like bpfree, a batch is
       processed in chunks of 512 samples whose gradients add up before the
       one step (exact: the losses are sums / B; gradient accumulation, the
       usual PyTorch idiom for a big batch).  --chunk 0 runs the whole batch
       at once: at batch 50,000 that needs 2.8 GB and was 2.6x slower here
       (the big temporaries are fresh mmap'd pages every step).
  cff-fixed, cff-adaptive  Collaborative FF (src/rules/ff.c, ff_train and
       ff_grad), --preset cff-paper --greedy 0 as ff: the same passes, but
       layer l's loss uses G_l + gamma_l sum_{k != l} alpha G_k, the other
       layers' goodness of the same rows detached (alpha = 1, gamma_l = 1).
       cff-adaptive also learns gamma_l by plain gradient descent
       (torch.optim.SGD, lr 0.01, no schedule) on the same loss, its gradient
       summed over the chunks.  Same matmuls as ff.
bp, mf, dfa, fa, drtp, f3, llo use bpfree's default linear cooldown (lr
constant for the first half of --epochs, then linearly to 0, set at every
batch); dkp, fdfa, fg-w, fg-a, lg-fg-a the step schedule x0.95 per epoch;
pepita multistep; ff and cff-* a constant lr (preset: --sched none).
--flops counts the matrix-product FLOPs of training (2 M N K of every
aten::mm, addmm, addmm_, bmm, baddbmm, forward and backward, from
torch.profiler's recorded shapes; not timed meaningfully) and prints
gflop_per_epoch, bpfree's --profile gflop.
"""
import argparse
import gzip
import math
import os
import sys
import time

RULE_NAMES = ["bp", "fa", "dfa", "drtp", "f3", "pepita", "llo", "mf", "fg-w", "fg-a", "lg-fg-a",
              "dkp", "fdfa", "ff", "cff-fixed", "cff-adaptive"]
FF_FAMILY = ("ff", "cff-fixed", "cff-adaptive")

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--rule", choices=RULE_NAMES, default="bp")
ap.add_argument("--batch", type=int, default=None,
                help="minibatch size (default: bpfree's for the rule: 64; drtp, f3, llo 50; "
                     "ff, cff-* 50000 as the preset)")
ap.add_argument("--layers", default=None,
                help="hidden widths N,N,... (default: bpfree's for the rule)")
ap.add_argument("--threads", type=int, default=1, help="intra-op and BLAS threads")
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--limit", type=int, default=0,
                help="use only the first N training samples (quick checks)")
ap.add_argument("--arch", default=None,
                help="bp, fa, mf, dfa, dkp, fdfa: hidden layers in bpfree's --arch notation (NcK, NcKs, NcK/S "
                     "convolutions, PQ / AQ max / average pooling of the convolution before, "
                     "N dense), e.g. 15C5-P2-40C5-P2-128")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--data", default=None,
                help="directory with the MNIST IDX files (default: $BPFREE_DATA/mnist, "
                     "./data/mnist, then the checkout's data/mnist)")
ap.add_argument("--lr", type=float, default=None, help="override the rule's learning rate")
ap.add_argument("--chunk", type=int, default=512,
                help="ff, cff-*: process a batch in chunks of N samples and accumulate their "
                     "gradients before the step, as bpfree does (FF_CHUNK 512); 0 = the "
                     "whole batch at once (default 512)")
ap.add_argument("--adam-foreach", choices=["default", "on", "off"], default="default",
                help="torch.optim.Adam's foreach argument (default: torch's own default, "
                     "which in 1.13 is the single-tensor loop on CPU)")
ap.add_argument("--eval", action="store_true",
                help="after training, report test accuracy and loss (not timed)")
ap.add_argument("--flops", action="store_true",
                help="count the matrix-product FLOPs of training with torch.profiler and "
                     "print gflop_per_epoch (the epoch time is then not meaningful)")
ap.add_argument("--infer", action="store_true",
                help="time inference of the bp net instead of training")
ap.add_argument("--infer-reps", type=int, default=5,
                help="--infer: repetitions of the 10,000-image batch (median)")
ap.add_argument("--infer-single-reps", type=int, default=2000,
                help="--infer: repetitions of the single image (median)")
ap.add_argument("--quiet", action="store_true", help="print only the final line(s)")
args = ap.parse_args()
if args.threads < 1:
    ap.error("--threads must be >= 1")
LAYERS = None
if args.layers is not None:
    try:
        LAYERS = tuple(int(w) for w in args.layers.split(","))
    except ValueError:
        LAYERS = ()
    if not LAYERS or min(LAYERS) < 1:
        ap.error("--layers must be a list of positive widths like 1000,1000")

# Debian's torch calls sgemm_ of libblas.so.3, i.e. the system OpenBLAS
# (pthread build), and does not tell it the thread count: OpenBLAS would use
# every core.  Fix both pools before torch is loaded, as bpfree's --threads
# does with openblas_set_num_threads.  OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
# are left as the caller set them.
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(args.seed)

C = 10
D = 784


def say(*a):
    if not args.quiet:
        print(*a, flush=True)


# ------------------------------------------------------------------ data

def data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    cands = []
    if args.data:
        cands.append(args.data)
    else:
        if os.environ.get("BPFREE_DATA"):
            cands.append(os.path.join(os.environ["BPFREE_DATA"], "mnist"))
        cands += ["data/mnist", os.path.join(here, "..", "data", "mnist")]
    for d in cands:
        if os.path.exists(os.path.join(d, "train-images-idx3-ubyte")) or \
                os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    sys.exit("torch_bench: error: no MNIST IDX files in %s (run scripts/fetch-data.sh)"
             % ", ".join(cands))


def read_idx(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        p += ".gz"
    with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    a = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return a.reshape(dims[0], -1) if ndim > 1 else a


def load_mnist():
    d = data_dir()
    xtr = read_idx(d, "train-images-idx3-ubyte").astype(np.float32) / 255.0
    ytr = read_idx(d, "train-labels-idx1-ubyte").astype(np.int64)
    xte = read_idx(d, "t10k-images-idx3-ubyte").astype(np.float32) / 255.0
    yte = read_idx(d, "t10k-labels-idx1-ubyte").astype(np.int64)
    return (torch.from_numpy(xtr), torch.from_numpy(ytr),
            torch.from_numpy(xte), torch.from_numpy(yte))


def standardize(xtr, xte):
    """bpfree's --norm standardize: one mean and one (population) standard
    deviation over all training pixels (bpfree_data_stats, src/data/norm.c)."""
    mean = xtr.double().mean()
    std = ((xtr.double() - mean).square().mean()).sqrt()
    return (((xtr - float(mean)) / float(std)).contiguous(),
            ((xte - float(mean)) / float(std)).contiguous())


# ------------------------------------------------------------- helpers

def linear(i, o, bias=True):
    return nn.Linear(i, o, bias=bias)  # Kaiming-uniform U(+-1/sqrt(i)), as bpfree


def he_uniform(o, i):
    """bpfree's he-uniform (its --feedback-init default): U(+-sqrt(6/i)) on an (o, i) matrix"""
    return (torch.rand(o, i) * 2 - 1) * math.sqrt(6.0 / i)


def cooldown_lr(lr, e, epochs, frac=0.5, lr_min=0.0):
    """bpfree's default schedule (bp_sched_lr, BPFREE_SCHED_COOLDOWN)."""
    start = (1.0 - frac) * epochs
    if e <= start or epochs <= 0:
        return lr
    f = min((e - start) / (epochs - start), 1.0)
    return lr + (lr_min - lr) * f


def sched_lr(rule, e, epochs):
    """bp_sched_lr (src/optim/optim.c) for the rule's schedule at fractional epoch e"""
    if rule.sched == "cooldown":
        return cooldown_lr(rule.lr, e, epochs)
    if rule.sched == "step":
        return rule.lr * rule.gamma ** int(e / rule.step_epochs)
    if rule.sched == "multistep":
        return rule.lr * rule.gamma ** sum(1 for m in rule.milestones if e >= m)
    return rule.lr


def adam(params, lr, **extra):
    kw = {} if args.adam_foreach == "default" else {"foreach": args.adam_foreach == "on"}
    return torch.optim.Adam(params, lr=lr, **kw, **extra)


def set_lr(opt, lrs):
    for g, lr in zip(opt.param_groups, lrs):
        g["lr"] = lr


def l2n(x):
    """FF's L2 normalisation of a layer's input: x / (|x|_2 + 1e-4) per row."""
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + 1e-4)


def act(name, z):
    """the hidden activation, in place on a fresh pre-activation"""
    return z.tanh_() if name == "tanh" else z.relu_()


def act_grad_(name, d, h):
    """d *= f'(z), computed from h = f(z) as bpfree's bp_act_backward (relu'(0) = 0)"""
    if name == "tanh":
        return d.mul_(1.0 - h * h)
    return d.masked_fill_(h <= 0, 0.0)


def out_error(loss, z, y, yoh):
    """(mean loss, e = dL/dz = (p - y*)/B): softmax + CE or sigmoid + BCE (summed
    over the C outputs, mean over the batch), as bp_loss (src/nn/loss.c)"""
    B = len(y)
    if loss == "bce":
        lv = F.binary_cross_entropy_with_logits(z, yoh, reduction="sum") / B
        e = torch.sigmoid(z).sub_(yoh)
    else:
        logp = F.log_softmax(z, 1)
        lv = F.nll_loss(logp, y)
        e = logp.exp_().sub_(yoh)
    return lv, e.mul_(1.0 / B)


def onehot(y):
    return F.one_hot(y, C).to(torch.float32)


def mlp(hidden, bias=True):
    dims = [D] + list(hidden) + [C]
    return nn.ModuleList([linear(dims[i], dims[i + 1], bias) for i in range(len(dims) - 1)])


def set_grad(Ly, dz, x):
    """Ly's gradient from the signal dz (B, O) at its pre-activation: dz^T x, sum_b dz"""
    Ly.weight.grad = torch.mm(dz.t(), x)
    if Ly.bias is not None:
        Ly.bias.grad = dz.sum(0)


# ------------------------------------------------------------- the rules

class Twin:
    """bpfree's global defaults (bpfree_config_default, src/core/model.c)"""
    layers = (1000, 1000)
    act = "relu"
    loss = "ce"
    norm = "scale"
    batch = 64
    lr = 1e-3
    sched = "cooldown"
    step_epochs, gamma, milestones = 10, 0.1, ()

    def set_lr(self, lr):
        set_lr(self.opt, [lr] * len(self.opt.param_groups))

    @torch.no_grad()
    def predict(self, x):
        inp = x
        for Ly in self.L[:-1]:
            inp = act(self.act, Ly(inp))
        return self.L[-1](inp)


class FDFAPaper(Twin):
    """bp_defaults_fdfa_paper (src/rules/common.c): 002 Appendix A"""
    layers = (800, 800, 800)
    lr = 1e-4
    sched = "step"
    step_epochs, gamma = 1, 0.95


class F3Paper(Twin):
    """bp_defaults_f3_paper (src/rules/common.c): 001's MNIST setup"""
    layers = (500,)
    act = "tanh"
    loss = "bce"
    norm = "standardize"
    batch = 50
    lr = 1.5e-4


class BP(Twin):
    def __init__(self):
        mods = []
        dims = [D] + list(self.layers)
        for i in range(len(self.layers)):
            mods += [linear(dims[i], dims[i + 1]), nn.ReLU()]
        self.net = nn.Sequential(*mods, linear(dims[-1], C))
        self.opt = adam(self.net.parameters(), self.lr)

    def step(self, x, y, idx=None):
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, x):
        return self.net(x)


class MF(Twin):
    def __init__(self):
        dims = [D] + list(self.layers)
        self.W = nn.ModuleList([linear(dims[i], dims[i + 1]) for i in range(len(self.layers))])
        self.M = nn.ModuleList([linear(n, C, bias=False) for n in self.layers])
        self.opt = adam(list(self.W.parameters()) + list(self.M.parameters()), self.lr)

    def step(self, x, y, idx=None):
        inp, total, scores = x, 0.0, 0.0
        for W, M in zip(self.W, self.M):
            a = F.relu(W(inp))
            G = M(a)                          # goodness, eq. 5
            li = F.cross_entropy(G, y)        # local loss, eq. 6
            total = total + li
            scores = scores + G.detach()      # "FF pred": sum of the layers' G
            inp = a.detach()                  # Algorithm 1 line 10: nothing crosses layers
        self.opt.zero_grad(set_to_none=True)
        total.backward()                      # eqs. 7-8, each layer from its own loss
        self.opt.step()
        return li.detach(), (scores.argmax(1) == y).sum()  # bpfree reports the last layer's loss

    @torch.no_grad()
    def predict(self, x):
        inp, scores = x, 0.0
        for W, M in zip(self.W, self.M):
            inp = F.relu(W(inp))
            scores = scores + M(inp)
        return scores


class DFA(Twin):
    lr = 2e-4

    def __init__(self):
        self.L = mlp(self.layers)
        # B_l (C, n_l), drawn like the weight of a layer n_l -> C, He-uniform
        self.B = [he_uniform(C, n) for n in self.layers]
        self.opt = adam(self.L.parameters(), self.lr)

    @torch.no_grad()
    def step(self, x, y, idx=None):
        hs = [x]
        for Ly in self.L[:-1]:
            hs.append(F.relu(Ly(hs[-1])))
        logits = self.L[-1](hs[-1])
        logp = F.log_softmax(logits, 1)
        loss = F.nll_loss(logp, y)
        e = logp.exp_()                                   # e = (softmax - onehot) / B
        e[torch.arange(len(y)), y] -= 1.0
        e.mul_(1.0 / len(y))
        for l, Bl in enumerate(self.B):
            dz = torch.mm(e, Bl).masked_fill_(hs[l + 1] <= 0, 0.0)   # e B_l * relu'(z_l)
            set_grad(self.L[l], dz, hs[l])
        set_grad(self.L[-1], e, hs[-1])                   # output layer: its true gradient
        self.opt.step()
        return loss, (logits.argmax(1) == y).sum()


class FALinear(torch.autograd.Function):
    """y = x W^T + b whose backward sends g B (B fixed, W's shape) to x, not g W"""

    @staticmethod
    def forward(ctx, x, W, b, Bm):
        ctx.save_for_backward(x, Bm)
        return torch.addmm(b, x, W.t())

    @staticmethod
    def backward(ctx, g):
        x, Bm = ctx.saved_tensors
        gx = torch.mm(g, Bm) if ctx.needs_input_grad[0] else None
        return gx, torch.mm(g.t(), x), g.sum(0), None


class FA(Twin):
    def __init__(self):
        self.L = mlp(self.layers)
        # B_l for layers 2..L, drawn like W_l itself with --feedback-init he-uniform
        self.B = [None] + [he_uniform(Ly.out_features, Ly.in_features) for Ly in self.L[1:]]
        self.opt = adam(self.L.parameters(), self.lr)

    def forward(self, x):
        h = x
        for l, Ly in enumerate(self.L):
            z = Ly(h) if l == 0 else FALinear.apply(h, Ly.weight, Ly.bias, self.B[l])
            h = F.relu(z) if l < len(self.L) - 1 else z
        return h

    def step(self, x, y, idx=None):
        logits = self.forward(x)
        loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()


class DRTP(F3Paper):
    def __init__(self):
        self.L = mlp(self.layers)
        self.B = [he_uniform(C, n) for n in self.layers]   # B_l (C, n_l), as dfa's
        self.opt = adam(self.L.parameters(), self.lr)

    def signal(self, idx, yoh):
        return yoh                                        # delta_h_l = y* B_l

    def remember(self, idx, z, yoh):
        pass

    @torch.no_grad()
    def step(self, x, y, idx=None):
        B = len(y)
        yoh = onehot(y)
        E = self.signal(idx, yoh)
        inp = x
        for Ly, Bl in zip(self.L[:-1], self.B):
            h = act(self.act, Ly(inp))
            dz = act_grad_(self.act, torch.mm(E, Bl).mul_(1.0 / B), h)
            set_grad(Ly, dz, inp)                         # the layer's update needs nothing later
            inp = h                                       # h from before the step goes on
        z = self.L[-1](inp)
        loss, e = out_error(self.loss, z, y, yoh)
        set_grad(self.L[-1], e, inp)
        self.remember(idx, z, yoh)
        self.opt.step()
        return loss, (z.argmax(1) == y).sum()


class F3(DRTP):
    store = None

    def bind(self, ytr):
        """Algorithm 1 line 1: e^0 = Y*, one row per training sample"""
        self.store = onehot(ytr)

    def signal(self, idx, yoh):
        return self.store[idx]                            # e^{t-1}[x]

    def remember(self, idx, z, yoh):                      # line 9: e = y* - y
        p = torch.softmax(z, 1) if self.loss == "ce" else torch.sigmoid(z)
        self.store[idx] = yoh - p


class LLO(F3Paper):
    def __init__(self):
        self.L = mlp(self.layers)
        for Ly in self.L[:-1]:
            Ly.requires_grad_(False)                      # hidden layers keep their init
        self.opt = adam(self.L[-1].parameters(), self.lr)

    def step(self, x, y, idx=None):
        with torch.no_grad():
            h = x
            for Ly in self.L[:-1]:
                h = act(self.act, Ly(h))
        z = self.L[-1](h)
        if self.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(z, onehot(y), reduction="sum") / len(y)
        else:
            loss = F.cross_entropy(z, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (z.detach().argmax(1) == y).sum()


class PEPITA(Twin):
    lr = 0.01
    sched = "multistep"
    milestones, gamma = (60, 90), 0.1
    momentum = 0.9
    pepita_f = 0.05

    def __init__(self):
        self.L = mlp(self.layers, bias=False)
        for Ly in self.L:                                 # --init he-uniform
            with torch.no_grad():
                Ly.weight.copy_(he_uniform(Ly.out_features, Ly.in_features))
        self.F = (torch.rand(D, C) * 2 - 1) * (self.pepita_f * math.sqrt(6.0 / D))
        self.opt = torch.optim.SGD(self.L.parameters(), lr=self.lr, momentum=self.momentum)

    def _out(self, z, yoh):
        return (torch.softmax(z, 1) if self.loss == "ce" else torch.sigmoid(z)).sub_(yoh)

    @torch.no_grad()
    def step(self, x, y, idx=None):
        B, nL = len(y), len(self.L)
        yoh = onehot(y)
        hs = [x]                                          # 1. standard pass
        for l, Ly in enumerate(self.L):
            z = Ly(hs[-1])
            hs.append(act(self.act, z) if l < nL - 1 else z)
        z = hs[-1]
        if self.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(z, yoh, reduction="sum") / B
        else:
            loss = F.cross_entropy(z, y)
        e = self._out(z, yoh)                             # e = y - y*, per sample
        inp = torch.addmm(x, e, self.F.t())               # 2. x + F e
        for l, Ly in enumerate(self.L):                   # 3. modulated pass
            zm = Ly(inp)
            if l < nL - 1:
                hm = act(self.act, zm)
                dz = (hs[l + 1] - hm).mul_(1.0 / B)       # eq. 5, no f'
            else:
                hm = None
                dz = self._out(zm, yoh).mul_(1.0 / B)
            Ly.weight.grad = torch.mm(dz.t(), inp)
            inp = hm
        self.opt.step()
        return loss, (z.argmax(1) == y).sum()


class DKP(FDFAPaper):
    fb_lr = 1e-4
    fb_wd = 1e-4

    def __init__(self):
        self.L = mlp(self.layers)
        self.B = [nn.Parameter(torch.zeros(C, n)) for n in self.layers]   # from zero
        self.opt = adam(self.L.parameters(), self.lr)
        self.fb_opt = adam(self.B, self.fb_lr, weight_decay=self.fb_wd)

    def set_lr(self, lr):
        set_lr(self.opt, [lr])
        set_lr(self.fb_opt, [self.fb_lr * lr / self.lr])  # alpha follows the schedule

    def forward(self, x):
        hs = [x]
        for Ly in self.L[:-1]:
            hs.append(act(self.act, Ly(hs[-1])))
        return hs, self.L[-1](hs[-1])

    @torch.no_grad()
    def step(self, x, y, idx=None):
        hs, z = self.forward(x)
        loss, e = out_error(self.loss, z, y, onehot(y))
        for l, Bl in enumerate(self.B):
            dz = act_grad_(self.act, torch.mm(e, Bl), hs[l + 1])   # e B_l, as DFA
            Bl.grad = torch.mm(e.t(), hs[l + 1])                  # Kolen-Pollack: e^T h_l
            set_grad(self.L[l], dz, hs[l])
        set_grad(self.L[-1], e, hs[-1])
        self.opt.step()
        self.fb_opt.step()
        return loss, (z.argmax(1) == y).sum()


class FDFA(DKP):
    fb_wd = 0.0

    @torch.no_grad()
    def step(self, x, y, idx=None):
        B = len(y)
        hs, d, vs = [x], None, []
        for l, Ly in enumerate(self.L):                   # forward + tangent (lines 9-17)
            z = Ly(hs[-1])
            if l < len(self.L) - 1:
                h = act(self.act, z)
                v = torch.randn(B, Ly.out_features)
                vs.append(v)
                d = v if d is None else act_grad_(self.act, torch.mm(d, Ly.weight.t()), h).add_(v)
                hs.append(h)
            else:
                d = torch.mm(d, Ly.weight.t())            # d_L (B, C)
        loss, e = out_error(self.loss, z, y, onehot(y))
        set_grad(self.L[-1], e, hs[-1])                   # line 20
        for Bl, v in zip(self.B, vs):                     # eqs. 9-10: grad B = B - d^T v / B
            Bl.grad = Bl.detach() - torch.mm(d.t(), v).mul_(1.0 / B)
        self.fb_opt.step()                                # B updated before it is used
        for l, Bl in enumerate(self.B):                   # eq. 14: e B_l
            dz = act_grad_(self.act, torch.mm(e, Bl), hs[l + 1])
            set_grad(self.L[l], dz, hs[l])
        self.opt.step()
        return loss, (z.argmax(1) == y).sum()


class FGA(FDFAPaper):
    def __init__(self):
        self.L = mlp(self.layers)
        self.opt = adam(self.L.parameters(), self.lr)

    @torch.no_grad()
    def step(self, x, y, idx=None):
        B, nL = len(y), len(self.L)
        hs, d, us = [x], None, []
        for l, Ly in enumerate(self.L):                   # forward + tangent, every layer perturbed
            z = Ly(hs[-1])
            h = act(self.act, z) if l < nL - 1 else z
            u = torch.randn(B, Ly.out_features)
            us.append(u)
            if d is None:
                d = u
            else:
                d = torch.mm(d, Ly.weight.t())
                if l < nL - 1:
                    act_grad_(self.act, d, h)
                d.add_(u)
            hs.append(h)
        loss, e = out_error(self.loss, hs[-1], y, onehot(y))
        dl = (e * d).sum(1, keepdim=True)                 # dL_b = e_b . d_L[b] (eq. 4)
        for l, (Ly, u) in enumerate(zip(self.L, us)):     # eq. 5
            dz = u.mul_(dl)
            if l < nL - 1:
                act_grad_(self.act, dz, hs[l + 1])
            set_grad(Ly, dz, hs[l])
        self.opt.step()
        return loss, (hs[-1].argmax(1) == y).sum()


class FGW(FGA):
    @torch.no_grad()
    def step(self, x, y, idx=None):
        nL = len(self.L)
        h, d, Vs = x, None, []
        for l, Ly in enumerate(self.L):                   # forward + tangent (lines 9-12)
            V, vb = torch.randn_like(Ly.weight), torch.randn_like(Ly.bias)
            Vs.append((V, vb))
            z = Ly(h)
            t = torch.addmm(vb, h, V.t())                 # h_{l-1} V_l^T + vb_l
            if d is not None:
                t.addmm_(d, Ly.weight.t())                # + d_{l-1} W_l^T
            if l < nL - 1:
                h = act(self.act, z)
                d = act_grad_(self.act, t, h)
            else:
                h, d = z, t
        loss, e = out_error(self.loss, h, y, onehot(y))
        dL = float((e * d).sum())                         # eq. 2: one scalar per batch
        for Ly, (V, vb) in zip(self.L, Vs):               # eq. 3
            Ly.weight.grad = V.mul_(dL)
            Ly.bias.grad = vb.mul_(dL)
        self.opt.step()
        return loss, (h.argmax(1) == y).sum()


class LGFGA(FDFAPaper):
    def __init__(self):
        self.L = mlp(self.layers)
        # heads M_l (C, n_l) of every hidden layer but the last, nn.Linear's init
        self.M = nn.ModuleList([linear(n, C, bias=False) for n in self.layers[:-1]])
        self.opt = adam(list(self.L.parameters()) + list(self.M.parameters()), self.lr)

    def block(self, Ly, x, h, head, e):
        """FG-A of the block's loss: u, dG = u head^T, dL_b u_b * f'(z) -> Ly's gradient"""
        u = torch.randn_like(h)
        dl = (e * torch.mm(u, head.t())).sum(1, keepdim=True)
        set_grad(Ly, act_grad_(self.act, u.mul_(dl), h), x)

    @torch.no_grad()
    def step(self, x, y, idx=None):
        yoh = onehot(y)
        inp = prev = x
        for l, Ly in enumerate(self.L[:-1]):
            a = act(self.act, Ly(inp))
            if l < len(self.M):                           # a block with its own head
                M = self.M[l].weight
                _, e1 = out_error(self.loss, torch.mm(a, M.t()), y, yoh)
                self.block(Ly, inp, a, M, e1)
                M.grad = torch.mm(e1.t(), a)              # the head's true local gradient
            prev, inp = inp, a
        Out = self.L[-1]
        z = Out(inp)
        loss, e = out_error(self.loss, z, y, yoh)
        self.block(self.L[-2], prev, inp, Out.weight, e)  # last hidden layer: head = output
        set_grad(Out, e, inp)
        self.opt.step()
        return loss, (z.argmax(1) == y).sum()


class FF(Twin):
    layers = (500, 500)
    batch = 50000
    lr = 0.03
    head_lr = 1e-3
    sched = "none"
    norm = "standardize"
    theta = 2.0
    neutral = 0.1
    kind = "ff"
    cff_gamma = 1.0
    cff_alpha = 1.0
    cff_gamma_lr = 0.01

    def __init__(self):
        dims = [D] + list(self.layers)
        self.L = nn.ModuleList([linear(dims[i], dims[i + 1]) for i in range(len(self.layers))])
        self.head = linear(sum(self.layers), C)
        nn.init.zeros_(self.head.weight)   # bpfree: F and c start at 0
        nn.init.zeros_(self.head.bias)
        self.opt = adam([{"params": self.L.parameters()},
                          {"params": self.head.parameters(), "lr": self.head_lr}], self.lr)
        self.cffg = None
        if self.kind != "ff":              # 004 eq. 5: gamma_l, one per layer
            self.cffg = nn.Parameter(torch.full((len(self.layers),), self.cff_gamma),
                                      requires_grad=self.kind == "cff-adaptive")
            self.gopt = torch.optim.SGD([self.cffg], lr=self.cff_gamma_lr)   # eq. 7

    def embed(self, x, labels, value):
        """the label overwrites the first C inputs: `value` at the label, 0 elsewhere"""
        z = x.clone()
        z[:, :C] = 0.0
        z[torch.arange(len(x)), labels] = value
        return z

    def chunk_loss(self, x, y, B):
        """summed losses of samples x (r of the batch's B); backward gives the gradient
        sums bpfree's chunks add up"""
        r = len(x)
        # one-pass head on the neutral-label pass (no gradient reaches the layers)
        with torch.no_grad():
            inp = x.clone()
            inp[:, :C] = self.neutral
            inp = l2n(inp)
            feats = []
            for Ly in self.L:
                inp = l2n(F.relu(Ly(inp)))
                feats.append(inp)
            feats = torch.cat(feats, 1)
        logits = self.head(feats)
        head_loss = F.cross_entropy(logits, y, reduction="sum") / B
        correct = (logits.detach().argmax(1) == y).sum()
        # positive and negative rows: true label / random wrong label, value = image max
        neg = (y + torch.randint(1, C, (r,))) % C
        xmax = x.max(1).values
        inp = l2n(torch.cat([self.embed(x, y, xmax), self.embed(x, neg, xmax)]))
        Gs = []
        for Ly in self.L:
            h = F.relu(Ly(inp))
            Gs.append(h.square().mean(1))                # mean goodness
            inp = l2n(h.detach())                        # next layer: normalised, detached
        ff_loss, per_layer = 0.0, []
        for l, G in enumerate(Gs):
            if self.cffg is not None:                    # CFF: the others' G as constants
                S = self.cff_alpha * sum(Gk.detach() for k, Gk in enumerate(Gs) if k != l)
                G = G + self.cffg[l] * S
            ll = (F.softplus(self.theta - G[:r]).sum() + F.softplus(G[r:] - self.theta).sum()) \
                * (0.5 / B)
            ff_loss = ff_loss + ll
            per_layer.append(ll.detach())
        return ff_loss + head_loss, sum(per_layer) / len(per_layer), correct

    def step(self, x, y, idx=None):
        B = len(x)
        R = args.chunk if args.chunk > 0 else B
        self.opt.zero_grad(set_to_none=True)
        if self.cffg is not None:
            self.gopt.zero_grad(set_to_none=True)
        loss, correct = 0.0, 0
        for i in range(0, B, R):
            tot, ll, cor = self.chunk_loss(x[i:i + R], y[i:i + R], B)
            tot.backward()                               # gradients add up over chunks
            loss, correct = loss + ll, correct + cor
        self.opt.step()
        if self.kind == "cff-adaptive":
            self.gopt.step()                             # gamma_l -= eta dL_l/dgamma_l
        return loss, correct

    @torch.no_grad()
    def predict(self, x):
        """(goodness prediction, one-pass prediction)"""
        n, good = len(x), torch.zeros(len(x), C)
        xmax = x.max(1).values
        for k in range(C):
            inp = l2n(self.embed(x, torch.full((n,), k), xmax))
            for Ly in self.L:
                h = F.relu(Ly(inp))
                good[:, k] += h.square().mean(1)
                inp = l2n(h)
        inp = x.clone()
        inp[:, :C] = self.neutral
        inp, feats = l2n(inp), []
        for Ly in self.L:
            inp = l2n(F.relu(Ly(inp)))
            feats.append(inp)
        return good, self.head(torch.cat(feats, 1))


class CFFFixed(FF):
    kind = "cff-fixed"


class CFFAdaptive(FF):
    kind = "cff-adaptive"



# ------------------------------------------------------------------ CNNs
# --arch: bpfree's grammar (src/engine/arch.c) for bp, fa, mf, dfa, dkp and fdfa.  A
# convolution with its pooling is one layer ("block", as bpfree's): conv
# (nn.Conv2d's init, bpfree's Kaiming-uniform) -> ReLU -> optional pooling;
# the first dense layer after a block flattens it.  MNIST as (B, 1, 28, 28).
#   bp   nn.Sequential, autograd, Adam 1e-3.
#   mf   each hidden layer l (block or dense): a_l = layer(a_{l-1} detached),
#        G_l = flatten(a_l) M_l^T (M_l: C x features, no bias), CE; the
#        layers' losses summed, one backward, one Adam step (as the MLP mf).
#   dfa  each hidden layer's output h_l from its detached input, keeping its
#        own graph; e = (softmax - onehot)/B; one backward over
#        [CE of the output layer (on h_L detached), h_1 .. h_L] with
#        gradients [1, e B_1 .. e B_L] (B_l: C x features of h_l,
#        He-uniform): autograd carries e B_l back through the pooling and
#        ReLU into the block's kernels, as bpfree's output_grad does.

def parse_arch(spec):
    import re
    hidden, shape = [], (1, 28, 28)
    pools = (nn.MaxPool2d, nn.AvgPool2d)
    for pos, tok in enumerate(spec.split("-"), 1):
        m = re.fullmatch(r"(\d+)[cC](\d+)(s?)(?:/(\d+))?", tok)
        pm = re.fullmatch(r"([PA])(\d+)", tok)
        if m:
            oc, k, same, st = int(m[1]), int(m[2]), bool(m[3]), int(m[4] or 1)
            pad = (k - 1) // 2 if same else 0
            hidden.append([nn.Conv2d(shape[0], oc, k, stride=st, padding=pad), nn.ReLU()])
            hw = [(d + 2 * pad - k) // st + 1 for d in shape[1:]]
            shape = (oc, hw[0], hw[1])
        elif pm and hidden and isinstance(hidden[-1][0], nn.Conv2d) and \
                not any(isinstance(x, pools) for x in hidden[-1]):
            q = int(pm[2])
            hidden[-1].append(nn.MaxPool2d(q) if pm[1] == "P" else nn.AvgPool2d(q))
            shape = (shape[0], shape[1] // q, shape[2] // q)
        elif tok in ("BN", "bn") and hidden:
            # batch normalisation between the layer's product and its ReLU
            # (bpfree's BN token; PyTorch's defaults, as bpfree's)
            h = hidden[-1]
            i = next(j for j, x in enumerate(h) if isinstance(x, (nn.Conv2d, nn.Linear)))
            h.insert(i + 1, nn.BatchNorm2d(h[i].out_channels) if isinstance(h[i], nn.Conv2d)
                     else nn.BatchNorm1d(h[i].out_features))
        elif tok.isdigit():
            n = shape[0] * shape[1] * shape[2] if isinstance(shape, tuple) else shape
            flat = [nn.Flatten()] if isinstance(shape, tuple) else []
            hidden.append(flat + [nn.Linear(n, int(tok)), nn.ReLU()])
            shape = int(tok)
        else:
            ap.error("--arch: bad token '%s' at position %d" % (tok, pos))
    feats = shape[0] * shape[1] * shape[2] if isinstance(shape, tuple) else shape
    return [nn.Sequential(*h) for h in hidden], feats


def features(h):
    return h.flatten(1)


class CNNBP(Twin):
    def __init__(self):
        hidden, feats = parse_arch(args.arch)
        self.net = nn.Sequential(*hidden, nn.Flatten(), linear(feats, C))
        self.opt = adam(self.net.parameters(), self.lr)

    def forward(self, x):
        return self.net(x)

    def step(self, x, y, idx=None):
        logits = self.forward(x.view(-1, 1, 28, 28))
        loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, x):
        return self.net(x.view(-1, 1, 28, 28))


class CNNMF(Twin):
    def __init__(self):
        self.H, _ = parse_arch(args.arch)
        with torch.no_grad():
            sizes = [features(h).shape[1] for h in self.trace(torch.zeros(2, 1, 28, 28))]
        self.M = nn.ModuleList([linear(n, C, bias=False) for n in sizes])
        params = [p for h in self.H for p in h.parameters()] + list(self.M.parameters())
        self.opt = adam(params, self.lr)

    def trace(self, x):
        out = []
        for h in self.H:
            x = h(x)
            out.append(x)
        return out

    def step(self, x, y, idx=None):
        inp, total, scores = x.view(-1, 1, 28, 28), 0.0, 0.0
        for H, M in zip(self.H, self.M):
            a = H(inp)
            G = M(features(a))
            li = F.cross_entropy(G, y)
            total = total + li
            scores = scores + G.detach()
            inp = a.detach()
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        return li.detach(), (scores.argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, x):
        inp, scores = x.view(-1, 1, 28, 28), 0.0
        for H, M in zip(self.H, self.M):
            inp = H(inp)
            scores = scores + M(features(inp))
        return scores


def cnn_blocks():
    """the hidden blocks of --arch, each block's output shape, the features
    the output layer reads"""
    H, feats = parse_arch(args.arch)
    with torch.no_grad():
        x = torch.zeros(2, 1, 28, 28)  # 2: BatchNorm in training needs more than one row
        shapes = []
        for h in H:
            x = h(x)
            shapes.append(tuple(x.shape[1:]))
    return H, shapes, feats


class CNNDFA(Twin):
    lr = 2e-4

    def __init__(self):
        self.H, self.shapes, feats = cnn_blocks()
        self.out = linear(feats, C)
        self.B = self.feedback([math.prod(s) for s in self.shapes])
        params = [p for h in self.H for p in h.parameters()] + list(self.out.parameters())
        self.opt = adam(params, self.lr)

    def feedback(self, sizes):
        return [he_uniform(C, n) for n in sizes]

    def learn_feedback(self, e, hs):
        pass  # fixed

    def step(self, x, y, idx=None):
        hs, inp = [], x.view(-1, 1, 28, 28)
        for H in self.H:
            h = H(inp)
            hs.append(h)
            inp = h.detach()                     # each layer's graph is its own
        logits = self.out(features(inp))
        loss = F.cross_entropy(logits, y)
        with torch.no_grad():
            e = F.softmax(logits, 1)             # e = (softmax - onehot) / B
            e[torch.arange(len(y)), y] -= 1.0
            e.mul_(1.0 / len(y))
            sig = [torch.mm(e, Bl).view_as(h) for Bl, h in zip(self.B, hs)]
        self.opt.zero_grad(set_to_none=True)
        torch.autograd.backward([loss] + hs, [None] + sig)
        self.opt.step()
        self.learn_feedback(e, hs)
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, x):
        inp = x.view(-1, 1, 28, 28)
        for H in self.H:
            inp = H(inp)
        return self.out(features(inp))


class CNNDKP(CNNDFA):
    """dkp on a CNN: CNNDFA's signal e B_l with B_l (C x features, from
    zero) learned from e^T h_l by its own Adam (lr 1e-4, constant; L2 1e-6
    coupled, bpfree's dkp defaults), stepped after its use; the forward
    optimizer as fdfa's (Adam 1e-4 x 0.95 per epoch)."""
    lr, sched, step_epochs, gamma = FDFAPaper.lr, FDFAPaper.sched, FDFAPaper.step_epochs, FDFAPaper.gamma
    fb_lr, fb_wd = 1e-4, 1e-6

    def feedback(self, sizes):
        B = [nn.Parameter(torch.zeros(C, n)) for n in sizes]
        self.fb_opt = adam(B, self.fb_lr, weight_decay=self.fb_wd)
        return B

    def set_lr(self, lr):
        set_lr(self.opt, [lr])  # the feedback's rate stays constant

    @torch.no_grad()
    def learn_feedback(self, e, hs):
        for Bl, h in zip(self.B, hs):            # Kolen-Pollack: grad B_l = e^T h_l
            Bl.grad = torch.mm(e.t(), features(h))
        self.fb_opt.step()


class CNNFDFA(CNNDKP):
    """fdfa on a CNN as the FDFA authors' code runs it: forward-mode AD
    (torch.autograd.forward_ad) through every block, each hidden output's
    tangent gaining v_l ~ N(0, 1) of the output's shape; B_l (C x features,
    from zero, no decay) steps on its own Adam (lr 1e-4, constant) on
    B_l - d_L^T v_l / B before it is used; the hidden outputs get e B_l as
    CNNDFA's, the output layer its true gradient."""
    fb_wd = 0.0

    def step(self, x, y, idx=None):
        import torch.autograd.forward_ad as fwAD
        n = len(y)
        hs, vs, inp, t = [], [], x.view(-1, 1, 28, 28), None
        with fwAD.dual_level():                  # forward + tangent (Algorithm 1 lines 9-17)
            for H, shape in zip(self.H, self.shapes):
                h = H(inp if t is None else fwAD.make_dual(inp, t))
                p, tp = fwAD.unpack_dual(h)
                v = torch.randn(n, *shape)
                vs.append(v.view(n, -1))
                t = v if tp is None else tp.detach() + v
                hs.append(p)                     # its graph: this block alone
                inp = p.detach()
            logits, dL = fwAD.unpack_dual(self.out(fwAD.make_dual(features(inp), features(t))))
            dL = dL.detach()
        loss = F.cross_entropy(logits, y)        # backward outside the dual level (BatchNorm)
        with torch.no_grad():
            e = F.softmax(logits, 1)             # e = (softmax - onehot) / B
            e[torch.arange(n), y] -= 1.0
            e.mul_(1.0 / n)
            for Bl, v in zip(self.B, vs):        # eqs. 9-10: grad B = B - d^T v / B
                Bl.grad = Bl.detach() - torch.mm(dL.t(), v).mul_(1.0 / n)
            self.fb_opt.step()                   # B updated before it is used
            sig = [torch.mm(e, Bl).view_as(h) for Bl, h in zip(self.B, hs)]   # eq. 14
        self.opt.zero_grad(set_to_none=True)
        torch.autograd.backward([loss] + hs, [None] + sig)
        self.opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()


class FAConv(torch.autograd.Function):
    """conv2d(x, W) + b whose backward sends g through the fixed kernels Bk (W's
    shape) to x, not through W; W's and b's gradients are the true ones"""

    @staticmethod
    def forward(ctx, x, W, b, Bk, pad):
        ctx.save_for_backward(x, Bk)
        ctx.wshape, ctx.pad = W.shape, pad
        return F.conv2d(x, W, b, padding=pad)

    @staticmethod
    def backward(ctx, g):
        x, Bk = ctx.saved_tensors
        gx = (torch.nn.grad.conv2d_input(x.shape, Bk, g, padding=ctx.pad)
              if ctx.needs_input_grad[0] else None)
        gW = torch.nn.grad.conv2d_weight(x, ctx.wshape, g, padding=ctx.pad)
        return gx, gW, g.sum((0, 2, 3)), None, None


class CNNFA(CNNBP):
    """fa on a CNN: the backward chain of bp with every layer's W (kernels or
    matrix) replaced by a fixed B_l of its shape, drawn as bpfree's
    --feedback-init he-uniform, U(+-sqrt(6/fan_in)); the first block sends
    no signal; the output layer's own gradient is exact."""

    def __init__(self):
        super().__init__()
        self.fb = {}
        for mod in self.net.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                o = mod.weight.shape[0]
                self.fb[mod] = he_uniform(o, mod.weight[0].numel()).view_as(mod.weight)

    def forward(self, x):
        for mod in self.net.modules():
            if isinstance(mod, nn.Sequential):
                continue
            if isinstance(mod, nn.Conv2d):
                x = FAConv.apply(x, mod.weight, mod.bias, self.fb[mod], mod.padding)
            elif isinstance(mod, nn.Linear):
                x = FALinear.apply(x, mod.weight, mod.bias, self.fb[mod])
            else:
                x = mod(x)
        return x


CNN_RULES = {"bp": CNNBP, "fa": CNNFA, "mf": CNNMF, "dfa": CNNDFA, "dkp": CNNDKP, "fdfa": CNNFDFA}

RULES = {"bp": BP, "fa": FA, "dfa": DFA, "drtp": DRTP, "f3": F3, "pepita": PEPITA, "llo": LLO,
         "mf": MF, "fg-w": FGW, "fg-a": FGA, "lg-fg-a": LGFGA, "dkp": DKP, "fdfa": FDFA,
         "ff": FF, "cff-fixed": CFFFixed, "cff-adaptive": CFFAdaptive}
assert sorted(RULES) == sorted(RULE_NAMES)


# ------------------------------------------------------------- training

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm")


def matmul_flops(prof):
    """2 M N K summed over the matrix products the profiler recorded (its own
    flop counter skips in-place addmm_, so count from the shapes)"""
    tot = 0
    for ev in prof.events():
        if ev.name not in MATMUL_OPS:
            continue
        sh = [s for s in ev.input_shapes if len(s) >= 2]
        if len(sh) < 2:
            continue
        a, b = sh[-2], sh[-1]
        batch = a[0] if len(a) == 3 else 1
        tot += 2 * batch * a[-2] * a[-1] * b[-1]
    return tot


def train():
    xtr, ytr, xte, yte = load_mnist()
    Rule = RULES[args.rule]
    if args.arch:
        if args.rule not in CNN_RULES:
            sys.exit("torch_bench: error: --arch is twinned for %s only" % ", ".join(CNN_RULES))
        Rule = CNN_RULES[args.rule]
    if args.rule in FF_FAMILY:
        # the preset: 10,000 training samples held out, standardised pixels
        g = torch.Generator().manual_seed(args.seed)
        perm = torch.randperm(len(xtr), generator=g)
        keep = perm[10000:]
        xtr, ytr = xtr[keep].contiguous(), ytr[keep].contiguous()
    if Rule.norm == "standardize":
        xtr, xte = standardize(xtr, xte)
    if args.limit > 0:
        xtr, ytr = xtr[:args.limit].contiguous(), ytr[:args.limit].contiguous()
    batch = args.batch or Rule.batch
    if args.lr:
        Rule.lr = args.lr
    if LAYERS:
        Rule.layers = LAYERS
    model = Rule()
    if hasattr(model, "bind"):
        model.bind(ytr)
    n = len(xtr)
    nb = (n + batch - 1) // batch
    say("torch %s: %s, %d train samples, batch %d, %d epochs, threads %d, layers %s, lr %g (%s)"
        % (torch.__version__, args.rule, n, batch, args.epochs, args.threads,
           args.arch or "-".join(str(w) for w in Rule.layers), Rule.lr, Rule.sched))
    g = torch.Generator().manual_seed(args.seed + 1)
    times = []
    prof = None
    if args.flops:
        prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                      record_shapes=True)
        prof.__enter__()
    for ep in range(args.epochs):
        perm = torch.randperm(n, generator=g)      # the shuffle is not timed (as bpfree)
        loss_sum, correct = 0.0, 0
        t0 = time.perf_counter()
        for k in range(nb):
            idx = perm[k * batch:(k + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]            # the gather is timed (as bpfree's)
            if Rule.sched != "none":
                model.set_lr(sched_lr(Rule, ep + k / nb, args.epochs))
            loss, cor = model.step(xb, yb, idx)
            loss_sum = loss_sum + loss
            correct = correct + cor
        dt = time.perf_counter() - t0
        times.append(dt)
        say("epoch %d/%d  loss %.4f  train %.2f%%  %.3fs  %.0f samples/s"
            % (ep + 1, args.epochs, float(loss_sum) / nb, 100.0 * float(correct) / n, dt, n / dt))
    extra = ""
    if prof is not None:
        prof.__exit__(None, None, None)
        extra += " gflop_per_epoch=%.3f" % (matmul_flops(prof) / args.epochs * 1e-9)
    if args.eval:
        if args.rule in FF_FAMILY:
            good, one = model.predict(xte)
            extra += " test_acc_goodness=%.4f test_acc_onepass=%.4f" % (
                float((good.argmax(1) == yte).float().mean()),
                float((one.argmax(1) == yte).float().mean()))
        else:
            z = model.predict(xte)
            if getattr(model, "loss", "ce") == "bce":
                tl = F.binary_cross_entropy_with_logits(z, onehot(yte), reduction="sum") / len(yte)
            else:
                tl = F.cross_entropy(z, yte)
            extra += " test_acc=%.4f test_loss=%.4f" % (
                float((z.argmax(1) == yte).float().mean()), float(tl))
        if getattr(model, "cffg", None) is not None:
            extra += " gamma=%s" % ",".join("%.4f" % float(v) for v in model.cffg)
    if args.rule in FF_FAMILY:
        extra = " chunk=%d" % (args.chunk if 0 < args.chunk < batch else batch) + extra
    if LAYERS:
        extra = " layers=%s" % ",".join(str(w) for w in LAYERS) + extra
    if args.arch:
        extra = " arch=%s" % args.arch + extra
    print("torch: rule=%s batch=%d threads=%d seconds_per_epoch=%.4f epochs=%d samples=%d "
          "last_loss=%.4f%s" % (args.rule, batch, args.threads, sum(times) / len(times),
                                args.epochs, n, float(loss_sum) / nb, extra), flush=True)


# ------------------------------------------------------------ inference

def infer():
    _, _, xte, _ = load_mnist()
    net = BP().net.eval()
    with torch.no_grad():
        net(xte)                                   # warm-up
        t = []
        for _ in range(max(1, args.infer_reps)):
            t0 = time.perf_counter()
            net(xte)
            t.append(time.perf_counter() - t0)
        big = float(np.median(t))
        x1 = xte[:1].clone()
        for _ in range(50):
            net(x1)
        t = []
        for _ in range(max(1, args.infer_single_reps)):
            t0 = time.perf_counter()
            net(x1)
            t.append(time.perf_counter() - t0)
        one = float(np.median(t))
    print("torch: infer batch=%d seconds=%.6f threads=%d reps=%d"
          % (len(xte), big, args.threads, args.infer_reps), flush=True)
    print("torch: infer batch=1 microseconds=%.2f threads=%d reps=%d"
          % (one * 1e6, args.threads, args.infer_single_reps), flush=True)


if __name__ == "__main__":
    infer() if args.infer else train()
