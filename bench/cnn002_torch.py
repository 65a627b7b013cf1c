#!/usr/bin/python3
"""cnn002_torch.py — Bacho & Chu 2024's shallow CNN trained in PyTorch as
the FDFA authors' main.py trains it: inputs mapped to [-1, 1]
(Normalize(0.5, 0.5)), batch 64, Adam 1e-4, StepLR(1, 0.95), cross-entropy,
test accuracy (evaluation mode) after every epoch.  The reference for
bpfree's 002 Table 2 runs: does PyTorch on the same net and data land where
bpfree does?

    /usr/bin/python3 bench/cnn002_torch.py --data fashion-mnist --net printed-bn --epochs 20
    /usr/bin/python3 bench/cnn002_torch.py --rule dkp --data mnist --signal-point output

--rule bp (autograd), dfa or dkp: written as the authors' hooks (their
utils/DFATrainingHook.py, read, not copied): an identity after every hidden
ReLU whose backward replaces the incoming gradient by e B_l, e the
gradient at the logits; dfa's B_l fixed Kaiming-uniform, dkp's from zero
and learned from e^T h_l by its own Adam (1e-4, constant, L2 1e-6).
--signal-point output puts the hook after a block's pooling (bpfree's
default), pre-pool before it (the authors' code, bpfree's --feedback-point
pre-pool).

--net printed-bn: 15C5-BN-P2-40C5-BN-P2-128-BN (the printed net with the
code's normalisation, what bench/results/cnn002bn runs); code: the authors'
networks/conv_mnist.py, 15C5-BN-40C5-BN-P2-128-BN.  One line per epoch, and
"final: ... test_acc=... best=..." at the end.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import read_idx  # noqa: E402  (bench/idx.py)




class Output(torch.autograd.Function):
    """identity; its backward keeps the gradient at the logits for the hooks
    (autograd reaches it before any hidden layer)"""
    e = None

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        Output.e = g
        return g


class Direct(torch.autograd.Function):
    """identity; its backward returns e B instead of the incoming gradient,
    and e^T h as B's gradient when B learns (dkp)"""

    @staticmethod
    def forward(ctx, h, B):
        ctx.save_for_backward(h, B)
        return h.view_as(h)

    @staticmethod
    def backward(ctx, g):
        h, B = ctx.saved_tensors
        e = Output.e
        est = torch.mm(e, B).view_as(h)
        gB = torch.mm(e.t(), h.flatten(1)) if ctx.needs_input_grad[1] else None
        return est, gB


class Net(nn.Module):
    def __init__(self, pool_first, rule="bp", pre_pool=False):
        super().__init__()
        self.pool_first, self.rule, self.pre = pool_first, rule, pre_pool
        self.c1, self.b1 = nn.Conv2d(1, 15, 5), nn.BatchNorm2d(15)
        self.c2, self.b2 = nn.Conv2d(15, 40, 5), nn.BatchNorm2d(40)
        feat = 40 * 4 * 4 if pool_first else 40 * 10 * 10
        self.f1, self.b3 = nn.Linear(feat, 128), nn.BatchNorm1d(128)
        self.out = nn.Linear(128, 10)
        self.B = nn.ParameterList()
        if rule != "bp":  # B_l: C x the features at each hook
            with torch.no_grad():
                for n in self.hook_sizes():
                    b = torch.empty(10, n)
                    if rule == "dfa":
                        nn.init.kaiming_uniform_(b)
                    else:
                        nn.init.zeros_(b)
                    self.B.append(nn.Parameter(b, requires_grad=(rule == "dkp")))

    def hook_sizes(self):
        s1 = 24 if self.pre or not self.pool_first else 12   # conv1: 24 x 24, pooled 12
        c2 = 8 if self.pool_first else 20                    # conv2's maps before its pooling
        return [15 * s1 * s1, 40 * (c2 if self.pre else c2 // 2) ** 2, 128]

    def hook(self, x, i):
        return x if self.rule == "bp" else Direct.apply(x, self.B[i])

    def block(self, x, i, pool):
        if pool and not self.pre:
            return self.hook(F.max_pool2d(x, 2), i)
        if pool:
            return F.max_pool2d(self.hook(x, i), 2)
        return self.hook(x, i)

    def forward(self, x):
        x = self.block(F.relu(self.b1(self.c1(x))), 0, self.pool_first)
        x = self.block(F.relu(self.b2(self.c2(x))), 1, True)
        x = self.hook(F.relu(self.b3(self.f1(torch.flatten(x, 1)))), 2)
        return Output.apply(self.out(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=["mnist", "fashion-mnist"], default="fashion-mnist")
    ap.add_argument("--net", choices=["printed-bn", "code"], default="printed-bn")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rule", choices=["bp", "dfa", "dkp"], default="bp")
    ap.add_argument("--signal-point", choices=["output", "pre-pool"], default="output")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    root = os.environ.get("BPFREE_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
    d = os.path.join(root, a.data)

    def images(n):
        x = torch.from_numpy(read_idx(d, n, "cnn002_torch").astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
        return (x - 0.5) / 0.5

    def labels(n):
        return torch.from_numpy(read_idx(d, n, "cnn002_torch").astype(np.int64))

    xtr, ytr = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    xte, yte = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")
    net = Net(a.net == "printed-bn", a.rule, a.signal_point == "pre-pool")
    fwd = [p for n, p in net.named_parameters() if not n.startswith("B.")]
    opt = torch.optim.Adam(fwd, lr=1e-4)
    fb = torch.optim.Adam(net.B.parameters(), lr=1e-4, weight_decay=1e-6) if a.rule == "dkp" else None
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.95)
    best = 0.0
    for ep in range(1, a.epochs + 1):
        t0 = time.time()
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            if fb:
                fb.zero_grad()
            F.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
            if fb:
                fb.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            acc = sum((net(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, len(xte), 1000)) / len(xte)
        best = max(best, acc)
        print("epoch %3d  test %.2f%%  %.1fs" % (ep, 100 * acc, time.time() - t0), flush=True)
    print("final: rule=%s signal=%s net=%s data=%s seed=%d epochs=%d test_acc=%.4f best=%.4f"
          % (a.rule, a.signal_point, a.net, a.data, a.seed, a.epochs, acc, best))


if __name__ == "__main__":
    main()
