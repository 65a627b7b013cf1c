#!/usr/bin/python3
"""bench/fig5_reference.py — 003 Fig. 5's deep BP net in PyTorch, to check
bpfree's 15-layer BP runs (bench/results/fig5-003-mnist) against an
independent implementation.

    /usr/bin/python3 bench/fig5_reference.py DEPTH [EPOCHS] [SEED]
    (needs python3-torch and scripts/fetch-data.sh's MNIST)

The setup is bpfree's `compare --rules bp --layers 1000 x DEPTH --batch 256
--lr 1e-3 --sched none` (003 Fig. 5: n x 1000, Adam 1e-3, batch 256):
DEPTH hidden layers of 1000 ReLU, softmax cross-entropy averaged over the
batch, pixels scaled to [0, 1], every nn.Linear with PyTorch's default init
(bpfree's kaiming-uniform), torch.optim.Adam with its defaults, the last
partial batch kept.  Prints the mean training loss and the test accuracy
after every epoch."""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from idx import read_idx  # noqa: E402

if len(sys.argv) < 2:
    sys.exit(__doc__)
depth = int(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
torch.manual_seed(seed)
torch.set_num_threads(1)

d = os.path.join(os.environ.get("BPFREE_DATA", "data"), "mnist")
who = "fig5_reference"
xtr = torch.tensor(read_idx(d, "train-images-idx3-ubyte", who).reshape(-1, 784) / 255.0, dtype=torch.float32)
ytr = torch.tensor(read_idx(d, "train-labels-idx1-ubyte", who).astype(np.int64))
xte = torch.tensor(read_idx(d, "t10k-images-idx3-ubyte", who).reshape(-1, 784) / 255.0, dtype=torch.float32)
yte = torch.tensor(read_idx(d, "t10k-labels-idx1-ubyte", who).astype(np.int64))

sizes = [784] + [1000] * depth
mods = []
for a, b in zip(sizes, sizes[1:]):
    mods += [nn.Linear(a, b), nn.ReLU()]
net = nn.Sequential(*mods, nn.Linear(sizes[-1], 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)

for ep in range(1, epochs + 1):
    perm = torch.randperm(len(xtr))
    tot, nb = 0.0, 0
    for k in range(0, len(xtr), 256):
        idx = perm[k:k + 256]
        loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += loss.item()
        nb += 1
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print("epoch %d/%d  loss %.4f  test %.2f%%" % (ep, epochs, tot / nb, 100 * acc), flush=True)
