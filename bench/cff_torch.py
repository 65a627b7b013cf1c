#!/usr/bin/python3
"""cff_torch.py — a PyTorch twin of 004's FF / F-CFF setup (Beigzad 2025
§IV-C, Algorithm 1), to check bpfree's `--preset cff-paper` curve.

    /usr/bin/python3 bench/cff_torch.py [--rule ff|cff-fixed] [--data mnist]
        [--steps 200] [--eval-every 50] [--seed 1] [--fixed-negatives]

784-500-500 ReLU; every layer's input (the image too) divided by its L2 norm
+ 1e-4; goodness = mean of h^2; loss = mean of softplus(theta - G+) and
softplus(G- - theta), theta = 2; Adam 0.03; layer by layer, `--steps`
full-batch steps each on 50,000 training images (the last 10,000 held out);
pixels standardised with the training set's mean and std; the label written
into the first 10 inputs with the value of the image's maximum; a fresh
uniformly random wrong label for every image at every step (Algorithm 1
line 5), or, with --fixed-negatives, one drawn once (the PyTorch FF 004
builds on draws y[randperm] once).  F-CFF (eq. 5, gamma = alpha = 1): layer
l's goodness adds the trained layers' below it, as constants.  Prediction:
each of the 10 labels embedded, goodness summed over the trained layers,
argmax.  nn.Linear's default init, as bpfree's kaiming-uniform.

Written from the paper's description; no code is taken from any repository.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import read_idx  # noqa: E402  (bench/idx.py)




def embed(x, labels, C=10):
    x = x.clone()
    v = x.max(1).values
    x[:, :C] = 0.0
    x[torch.arange(x.shape[0]), labels] = v
    return x


def unit(x):
    return x / (x.norm(2, 1, keepdim=True) + 1e-4)


def goodnesses(layers, x, upto):
    """G_k of layers 0..upto on rows x (no gradient), and the input of layer upto"""
    gs, h = [], unit(x)
    for k in range(upto):
        with torch.no_grad():
            a = F.relu(layers[k](h))
        gs.append(a.pow(2).mean(1))
        h = unit(a)
    return gs, h


def accuracy(layers, x, y, trained, C=10):
    with torch.no_grad():
        score = torch.zeros(x.shape[0], C)
        per = torch.zeros(len(layers), x.shape[0], C)
        for c in range(C):
            h = unit(embed(x, torch.full((x.shape[0],), c)))
            for k in range(len(layers)):
                a = F.relu(layers[k](h))
                per[k, :, c] = a.pow(2).mean(1)
                h = unit(a)
        for k in range(trained):
            score += per[k]
        acc = [(per[k].argmax(1) == y).float().mean().item() * 100 for k in range(len(layers))]
        return (score.argmax(1) == y).float().mean().item() * 100, acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rule", default="ff", choices=["ff", "cff-fixed"])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fixed-negatives", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    d = os.path.join(os.environ.get("BPFREE_DATA", "data"), a.data)
    xtr = read_idx(d, "train-images-idx3-ubyte", "cff_torch").reshape(60000, 784).astype(np.float32) / 255
    ytr = read_idx(d, "train-labels-idx1-ubyte", "cff_torch").astype(np.int64)
    xte = read_idx(d, "t10k-images-idx3-ubyte", "cff_torch").reshape(10000, 784).astype(np.float32) / 255
    yte = read_idx(d, "t10k-labels-idx1-ubyte", "cff_torch").astype(np.int64)
    perm = np.random.RandomState(a.seed).permutation(60000)
    tr, va = perm[:50000], perm[50000:]
    mu, sd = xtr[tr].mean(), xtr[tr].std()
    X = torch.from_numpy((xtr[tr] - mu) / sd)
    Y = torch.from_numpy(ytr[tr])
    Xv, Yv = torch.from_numpy((xtr[va] - mu) / sd), torch.from_numpy(ytr[va])
    Xt, Yt = torch.from_numpy((xte - mu) / sd), torch.from_numpy(yte)
    layers = [torch.nn.Linear(784, 500), torch.nn.Linear(500, 500)]
    wrong = None
    print("cff_torch: %s on %s, 784-500-500, %d full-batch steps a layer, seed %d, %s negatives"
          % (a.rule, a.data, a.steps, a.seed, "fixed" if a.fixed_negatives else "fresh"),
          flush=True)
    for l, layer in enumerate(layers):
        opt = torch.optim.Adam(layer.parameters(), lr=0.03)
        t0 = time.time()
        # the layers below l are frozen: the positive rows' pass through them
        # is the same at every step of this phase (so are the negatives' when
        # they are drawn once)
        gp, hp = goodnesses(layers, embed(X, Y), l)
        neg = None
        for s in range(1, a.steps + 1):
            if wrong is None or not a.fixed_negatives:
                wrong = (Y + torch.randint(1, 10, Y.shape)) % 10
                neg = None
            if neg is None:
                neg = goodnesses(layers, embed(X, wrong), l)
            gn, hn = neg
            Gp = layer(hp).relu().pow(2).mean(1)
            Gn = layer(hn).relu().pow(2).mean(1)
            if a.rule == "cff-fixed":  # eq. 5, gamma = alpha = 1, the others as constants
                for g in gp:
                    Gp = Gp + g
                for g in gn:
                    Gn = Gn + g
            loss = torch.cat([F.softplus(2.0 - Gp), F.softplus(Gn - 2.0)]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if s % a.eval_every == 0 or s == a.steps:
                va_acc, _ = accuracy(layers, Xv, Yv, l + 1)
                te_acc, per = accuracy(layers, Xt, Yt, l + 1)
                print("layer %d step %4d  loss %.4f  val %.2f%%  test %.2f%%  layers %s  %.2fs/step"
                      % (l + 1, s, loss.item(), va_acc, te_acc,
                         ",".join("%.2f" % p for p in per), (time.time() - t0) / s), flush=True)


if __name__ == "__main__":
    main()
