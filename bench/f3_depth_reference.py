#!/usr/bin/python3
"""bench/f3_depth_reference.py — 001's deep fully connected nets in PyTorch,
set up as the F3 authors' code describes them, to check bpfree's Fig. 4a
runs (bench/fig4a.sh) against an independent implementation.

    /usr/bin/python3 bench/f3_depth_reference.py RULE DEPTH [EPOCHS] [SEED]
    RULE: bp, dfa, drtp, f3      (needs python3-torch and scripts/fetch-data.sh's MNIST)

The setup (001 §4.1 and the authors' repository): DEPTH hidden layers of 500
tanh, sigmoid outputs with binary cross-entropy averaged over batch and
classes, MNIST standardised by one global mean and std, Adam 1.5e-4, batch
50, every nn.Linear with PyTorch's default init.  Between hidden blocks the
graph is cut and the block output h_l receives e B_l as its gradient (summed
over the batch by the Linear's backward, as the authors' connector does);
B_l (C x 500) is kaiming_uniform(a = sqrt 5), i.e. U(+-1/sqrt 500).  e is
y* (drtp), y* - y of this batch's extra forward pass (dfa), or the error
stored for this sample in the previous epoch, y* at first (f3).  Prints the
mean training loss and the test accuracy after every epoch."""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from idx import read_idx  # noqa: E402

if len(sys.argv) < 3 or sys.argv[1] not in ("bp", "dfa", "drtp", "f3"):
    sys.exit(__doc__)
rule, depth = sys.argv[1], int(sys.argv[2])
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
torch.manual_seed(seed)
torch.set_num_threads(1)

d = os.path.join(os.environ.get("BPFREE_DATA", "data"), "mnist")
xtr = read_idx(d, "train-images-idx3-ubyte", "f3_depth_reference").reshape(-1, 784) / 255.0
ytr = read_idx(d, "train-labels-idx1-ubyte", "f3_depth_reference").astype(np.int64)
xte = read_idx(d, "t10k-images-idx3-ubyte", "f3_depth_reference").reshape(-1, 784) / 255.0
yte = read_idx(d, "t10k-labels-idx1-ubyte", "f3_depth_reference").astype(np.int64)
mean, std = 0.1307, 0.3081  # the authors' Normalize((0.1307,), (0.3081,))
xtr = torch.tensor((xtr - mean) / std, dtype=torch.float32)
xte = torch.tensor((xte - mean) / std, dtype=torch.float32)
ttr = F.one_hot(torch.tensor(ytr), 10).float()
yte = torch.tensor(yte)

sizes = [784] + [500] * depth + [10]
layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
fb = []
for _ in range(depth):
    b = torch.empty(10, 500)
    nn.init.kaiming_uniform_(b, a=math.sqrt(5))
    fb.append(b)
opt = torch.optim.Adam(layers.parameters(), lr=1.5e-4)
store = ttr.clone()  # F3: e^0 = y*


def forward(x, cut):
    hs = []
    for i, L in enumerate(layers):
        x = L(x)
        if i < depth:
            x = torch.tanh(x)
            hs.append(x)
            if cut:
                x = x.detach()
    return torch.sigmoid(x), hs


for ep in range(1, epochs + 1):
    perm = torch.randperm(len(xtr))
    tot, nb = 0.0, 0
    for k in range(0, len(xtr), 50):
        idx = perm[k:k + 50]
        x, t = xtr[idx], ttr[idx]
        if rule == "drtp":
            e = t
        elif rule == "dfa":
            with torch.no_grad():
                e = t - forward(x, False)[0]
        else:
            e = store[idx]
        opt.zero_grad()
        y, hs = forward(x, rule != "bp")
        loss = F.binary_cross_entropy(y, t)
        if rule == "bp":
            loss.backward()
        else:
            loss.backward(retain_graph=True)
            for h, b in zip(hs, fb):
                h.backward(e @ b)
        opt.step()
        if rule == "f3":
            store[idx] = (t - y).detach()
        tot += loss.item()
        nb += 1
    with torch.no_grad():
        acc = (forward(xte, False)[0].argmax(1) == yte).float().mean().item()
    print("epoch %d/%d  loss %.4f  test %.2f%%" % (ep, epochs, tot / nb, 100 * acc), flush=True)
