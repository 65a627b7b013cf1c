#!/usr/bin/python3
"""torch_bench.py — the PyTorch side of bench/compare.sh.

The same rules, nets, data and hyperparameters as bpfree's defaults, written
as a competent PyTorch user would (nn.Linear, F.cross_entropy,
torch.optim.Adam with its default settings, tensors indexed directly — no
DataLoader), timed per training epoch.  Run it with Debian's interpreter,
which sees Debian's python3-torch:

    /usr/bin/python3 bench/torch_bench.py --rule bp --batch 64 --threads 1 --epochs 1
    /usr/bin/python3 bench/torch_bench.py --infer --threads 1

It prints per-epoch lines ("epoch ...") and one machine-readable line at the
end:

    torch: rule=bp batch=64 threads=1 seconds_per_epoch=8.10 epochs=1 samples=60000 ...
    torch: infer batch=10000 seconds=... threads=1
    torch: infer batch=1 microseconds=... threads=1

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
bp, mf and dfa use bpfree's default linear cooldown (lr constant for the
first half of --epochs, then linearly to 0, set at every batch) and pixels
scaled to [0, 1]; ff uses a constant lr (preset: --sched none).
"""
import argparse
import gzip
import math
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--rule", choices=["bp", "mf", "dfa", "ff"], default="bp")
ap.add_argument("--batch", type=int, default=None,
                help="minibatch size (default: bpfree's: 64; ff 50000 as the preset)")
ap.add_argument("--threads", type=int, default=1, help="intra-op and BLAS threads")
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--limit", type=int, default=0,
                help="use only the first N training samples (quick checks)")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--data", default=None,
                help="directory with the MNIST IDX files (default: $BPFREE_DATA/mnist, "
                     "./data/mnist, then the checkout's data/mnist)")
ap.add_argument("--lr", type=float, default=None, help="override the rule's learning rate")
ap.add_argument("--chunk", type=int, default=512,
                help="ff: process a batch in chunks of N samples and accumulate their "
                     "gradients before the step, as bpfree does (FF_CHUNK 512); 0 = the "
                     "whole batch at once (default 512)")
ap.add_argument("--adam-foreach", choices=["default", "on", "off"], default="default",
                help="torch.optim.Adam's foreach argument (default: torch's own default, "
                     "which in 1.13 is the single-tensor loop on CPU)")
ap.add_argument("--eval", action="store_true",
                help="after training, report test accuracy (not timed)")
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


# ------------------------------------------------------------- helpers

def linear(i, o, bias=True):
    return nn.Linear(i, o, bias=bias)  # Kaiming-uniform U(+-1/sqrt(i)), as bpfree


def cooldown_lr(lr, e, epochs, frac=0.5, lr_min=0.0):
    """bpfree's default schedule (bp_sched_lr, BPFREE_SCHED_COOLDOWN)."""
    start = (1.0 - frac) * epochs
    if e <= start or epochs <= 0:
        return lr
    f = min((e - start) / (epochs - start), 1.0)
    return lr + (lr_min - lr) * f


def adam(params, lr):
    kw = {} if args.adam_foreach == "default" else {"foreach": args.adam_foreach == "on"}
    return torch.optim.Adam(params, lr=lr, **kw)


def set_lr(opt, lrs):
    for g, lr in zip(opt.param_groups, lrs):
        g["lr"] = lr


def l2n(x):
    """FF's L2 normalisation of a layer's input: x / (|x|_2 + 1e-4) per row."""
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + 1e-4)


# ------------------------------------------------------------- the rules

class BP:
    lr = 1e-3
    cooldown = True

    def __init__(self):
        self.net = nn.Sequential(linear(784, 1000), nn.ReLU(), linear(1000, 1000), nn.ReLU(),
                                 linear(1000, C))
        self.opt = adam(self.net.parameters(), self.lr)

    def step(self, x, y):
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, x):
        return self.net(x)


class MF:
    lr = 1e-3
    cooldown = True

    def __init__(self):
        self.W = nn.ModuleList([linear(784, 1000), linear(1000, 1000)])
        self.M = nn.ModuleList([linear(1000, C, bias=False), linear(1000, C, bias=False)])
        self.opt = adam(list(self.W.parameters()) + list(self.M.parameters()), self.lr)

    def step(self, x, y):
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


class DFA:
    lr = 2e-4
    cooldown = True

    def __init__(self):
        self.L = nn.ModuleList([linear(784, 1000), linear(1000, 1000), linear(1000, C)])
        # B_l (C, n_l), drawn like the weight of a layer n_l -> C, He-uniform
        self.B = [(torch.rand(C, n) * 2 - 1) * math.sqrt(6.0 / n) for n in (1000, 1000)]
        self.opt = adam(self.L.parameters(), self.lr)

    @torch.no_grad()
    def step(self, x, y):
        L1, L2, L3 = self.L
        h1 = F.relu(L1(x))
        h2 = F.relu(L2(h1))
        logits = L3(h2)
        logp = F.log_softmax(logits, 1)
        loss = F.nll_loss(logp, y)
        e = logp.exp_()                                   # e = (softmax - onehot) / B
        e[torch.arange(len(y)), y] -= 1.0
        e.mul_(1.0 / len(y))
        for Ly, h_in, h_out, Bl in ((L1, x, h1, self.B[0]), (L2, h1, h2, self.B[1])):
            dz = torch.mm(e, Bl).masked_fill_(h_out <= 0, 0.0)   # e B_l * relu'(z_l)
            Ly.weight.grad = torch.mm(dz.t(), h_in)
            Ly.bias.grad = dz.sum(0)
        L3.weight.grad = torch.mm(e.t(), h2)               # output layer: its true gradient
        L3.bias.grad = e.sum(0)
        self.opt.step()
        return loss, (logits.argmax(1) == y).sum()

    @torch.no_grad()
    def predict(self, x):
        L1, L2, L3 = self.L
        return L3(F.relu(L2(F.relu(L1(x)))))


class FF:
    lr = 0.03
    head_lr = 1e-3
    cooldown = False
    theta = 2.0
    neutral = 0.1

    def __init__(self):
        self.L = nn.ModuleList([linear(784, 500), linear(500, 500)])
        self.head = linear(1000, C)
        nn.init.zeros_(self.head.weight)   # bpfree: F and c start at 0
        nn.init.zeros_(self.head.bias)
        self.opt = adam([{"params": self.L.parameters()},
                          {"params": self.head.parameters(), "lr": self.head_lr}], self.lr)

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
        ff_loss, per_layer = 0.0, []
        for Ly in self.L:
            h = F.relu(Ly(inp))
            G = h.square().mean(1)                       # mean goodness
            ll = (F.softplus(self.theta - G[:r]).sum() + F.softplus(G[r:] - self.theta).sum()) \
                * (0.5 / B)
            ff_loss = ff_loss + ll
            per_layer.append(ll.detach())
            inp = l2n(h.detach())                        # next layer: normalised, detached
        return ff_loss + head_loss, sum(per_layer) / len(per_layer), correct

    def step(self, x, y):
        B = len(x)
        R = args.chunk if args.chunk > 0 else B
        self.opt.zero_grad(set_to_none=True)
        loss, correct = 0.0, 0
        for i in range(0, B, R):
            tot, ll, cor = self.chunk_loss(x[i:i + R], y[i:i + R], B)
            tot.backward()                               # gradients add up over chunks
            loss, correct = loss + ll, correct + cor
        self.opt.step()
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


RULES = {"bp": BP, "mf": MF, "dfa": DFA, "ff": FF}


# ------------------------------------------------------------- training

def train():
    xtr, ytr, xte, yte = load_mnist()
    if args.rule == "ff":
        # the preset: 10,000 training samples held out, standardised pixels
        g = torch.Generator().manual_seed(args.seed)
        perm = torch.randperm(len(xtr), generator=g)
        keep = perm[10000:]
        xtr, ytr = xtr[keep].contiguous(), ytr[keep].contiguous()
        mean = xtr.double().mean()
        std = ((xtr.double() - mean).square().mean()).sqrt()
        xtr = ((xtr - float(mean)) / float(std)).contiguous()
        xte = ((xte - float(mean)) / float(std)).contiguous()
    if args.limit > 0:
        xtr, ytr = xtr[:args.limit].contiguous(), ytr[:args.limit].contiguous()
    batch = args.batch or (50000 if args.rule == "ff" else 64)
    Rule = RULES[args.rule]
    if args.lr:
        Rule.lr = args.lr
    model = Rule()
    n = len(xtr)
    nb = (n + batch - 1) // batch
    say("torch %s: %s, %d train samples, batch %d, %d epochs, threads %d, lr %g"
        % (torch.__version__, args.rule, n, batch, args.epochs, args.threads, Rule.lr))
    g = torch.Generator().manual_seed(args.seed + 1)
    times = []
    for ep in range(args.epochs):
        perm = torch.randperm(n, generator=g)      # the shuffle is not timed (as bpfree)
        loss_sum, correct = 0.0, 0
        t0 = time.perf_counter()
        for k in range(nb):
            idx = perm[k * batch:(k + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]            # the gather is timed (as bpfree's)
            if Rule.cooldown:
                lr = cooldown_lr(Rule.lr, ep + k / nb, args.epochs)
                set_lr(model.opt, [lr])
            loss, cor = model.step(xb, yb)
            loss_sum = loss_sum + loss
            correct = correct + cor
        dt = time.perf_counter() - t0
        times.append(dt)
        say("epoch %d/%d  loss %.4f  train %.2f%%  %.3fs  %.0f samples/s"
            % (ep + 1, args.epochs, float(loss_sum) / nb, 100.0 * float(correct) / n, dt, n / dt))
    extra = ""
    if args.eval:
        if args.rule == "ff":
            good, one = model.predict(xte)
            extra = " test_acc_goodness=%.4f test_acc_onepass=%.4f" % (
                float((good.argmax(1) == yte).float().mean()),
                float((one.argmax(1) == yte).float().mean()))
        else:
            extra = " test_acc=%.4f" % float((model.predict(xte).argmax(1) == yte).float().mean())
    if args.rule == "ff":
        extra = " chunk=%d" % (args.chunk if 0 < args.chunk < batch else batch) + extra
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
