#!/usr/bin/python3
"""bench/bn_reference.py — bpfree's batch normalisation against PyTorch's.

One SGD step of bp on a small batch-normalised CNN (conv -> BN -> ReLU ->
max pool, dense -> BN -> ReLU, dense output), from the same weights in
bpfree and in PyTorch (BatchNorm2d/1d defaults): the weights, gamma, beta and
running statistics after the step must agree to float rounding, and so must
the evaluation-mode outputs that use the running statistics.

    /usr/bin/python3 bench/bn_reference.py      (after `make`; needs python3-torch)

Prints the largest difference per tensor and exits 1 if any exceeds 1e-4."""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import bpfree  # noqa: E402

N, C = 32, 4
rng = np.random.default_rng(0)
x = rng.random((N, 1, 8, 8), dtype=np.float32)
t = rng.integers(0, C, N).astype(np.int32)

m = bpfree.Model("bp", arch="3C3-BN-P2-8-BN", batch=N, epochs=1, optim="sgd", lr=0.1,
                 momentum=0, sched="none", threads=1, norm="scale", seed=3)
m._build(64, C, False, None, (1, 8, 8))
w0 = m.weights()
m.fit(x, t)
w1 = m.weights()

torch.manual_seed(0)
conv, bn1 = nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3)
fc, bn2, out = nn.Linear(27, 8), nn.BatchNorm1d(8), nn.Linear(8, C)
with torch.no_grad():
    conv.weight.copy_(torch.from_numpy(w0["W1"].reshape(3, 1, 3, 3)))
    conv.bias.copy_(torch.from_numpy(w0["b1"]))
    fc.weight.copy_(torch.from_numpy(w0["W2"]))
    fc.bias.copy_(torch.from_numpy(w0["b2"]))
    out.weight.copy_(torch.from_numpy(w0["W3"]))
    out.bias.copy_(torch.from_numpy(w0["b3"]))
    for bn, k in ((bn1, "1"), (bn2, "2")):
        bn.weight.copy_(torch.from_numpy(w0["gamma" + k]))
        bn.bias.copy_(torch.from_numpy(w0["beta" + k]))
        bn.running_mean.copy_(torch.from_numpy(w0["rmean" + k]))
        bn.running_var.copy_(torch.from_numpy(w0["rvar" + k]))
mods = nn.ModuleList([conv, bn1, fc, bn2, out])


def net(inp):
    h = F.max_pool2d(F.relu(bn1(conv(inp))), 2).flatten(1)
    return out(F.relu(bn2(fc(h))))


opt = torch.optim.SGD(mods.parameters(), lr=0.1)
mods.train()
loss = F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(t).long())
opt.zero_grad()
loss.backward()
opt.step()

ref = {"W1": conv.weight.reshape(3, 9), "b1": conv.bias, "W2": fc.weight, "b2": fc.bias,
       "W3": out.weight, "b3": out.bias, "gamma1": bn1.weight, "beta1": bn1.bias,
       "rmean1": bn1.running_mean, "rvar1": bn1.running_var, "gamma2": bn2.weight,
       "beta2": bn2.bias, "rmean2": bn2.running_mean, "rvar2": bn2.running_var}
worst = 0.0
for k, v in ref.items():
    d = float(np.max(np.abs(w1[k].reshape(v.shape) - v.detach().numpy())))
    moved = float(np.max(np.abs(w1[k] - w0[k])))
    print("%-7s max |bpfree - torch| = %.2e   (the step moved it by up to %.2e)" % (k, d, moved))
    worst = max(worst, d)
mods.eval()
with torch.no_grad():
    pt = net(torch.from_numpy(x)).numpy()
pb = m.predict(x)
d = float(np.max(np.abs(pb - pt)))
print("eval-mode outputs (running statistics): max |bpfree - torch| = %.2e" % d)
worst = max(worst, d)
print("worst %.2e: %s" % (worst, "agree" if worst <= 1e-4 else "DIFFER"))
sys.exit(0 if worst <= 1e-4 else 1)
