#!/usr/bin/python3
"""bench/fa_cnn_reference.py — bpfree's feedback alignment on a CNN against
PyTorch's.

One SGD step of fa on a small CNN (8C3s-A2-16C3s-A2-12, 64 Fashion-MNIST
images) from the same weights and the same fixed feedback kernels B_l in
bpfree (lr 1e-30 gives its initial tensors, lr 0.1 one step) and in PyTorch
(a conv and a linear layer whose backward sends the signal through B_l, not
W_l): the gradients must agree to float rounding.  Written when 003 Table 2's
Fashion-MNIST FA came out 4.6 points under the paper, to tell a wrong
gradient from the setup.

    /usr/bin/python3 bench/fa_cnn_reference.py   (after `make`; needs python3-torch
                                                  and scripts/fetch-data.sh fashion-mnist)

Prints the largest difference per tensor and exits 1 if any exceeds 1e-5."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import bpfree  # noqa: E402
xa, ta, _, _ = bpfree.load_data("fashion-mnist")
x = xa[:64].reshape(64, 1, 28, 28).astype(np.float32); t = ta[:64].astype(np.int32)
arch = "8C3s-A2-16C3s-A2-12"
kw = dict(arch=arch, optim="sgd", momentum=0, sched="none", batch=64, epochs=1, seed=5, threads=1, wd=0)
m0 = bpfree.Model("fa", lr=1e-30, **kw); m0.fit(x, t)
m1 = bpfree.Model("fa", lr=0.1, **kw); m1.fit(x, t)
w0, w1 = m0.weights(), m1.weights()
g = {k: (w0[k] - w1[k]) / 0.1 for k in w0 if not k.startswith("B")}
# the same net in PyTorch, from bpfree's initial tensors (conv kernels: units x (in x 3 x 3))
def conv_w(a, oc, ic): return torch.tensor(a).reshape(oc, ic, 3, 3)
W1 = conv_w(w0["W1"], 8, 1).requires_grad_(); b1 = torch.tensor(w0["b1"]).requires_grad_()
W2 = conv_w(w0["W2"], 16, 8).requires_grad_(); b2 = torch.tensor(w0["b2"]).requires_grad_()
W3 = torch.tensor(w0["W3"]).requires_grad_(); b3 = torch.tensor(w0["b3"]).requires_grad_()
W4 = torch.tensor(w0["W4"]).requires_grad_(); b4 = torch.tensor(w0["b4"]).requires_grad_()
B2 = conv_w(w0["B2"], 16, 8); B3 = torch.tensor(w0["B3"]); B4 = torch.tensor(w0["B4"])
class FAConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b, Bk):
        ctx.save_for_backward(x, Bk); ctx.ws = W.shape
        return F.conv2d(x, W, b, padding=1)
    @staticmethod
    def backward(ctx, gy):
        x, Bk = ctx.saved_tensors
        return (torch.nn.grad.conv2d_input(x.shape, Bk, gy, padding=1),
                torch.nn.grad.conv2d_weight(x, ctx.ws, gy, padding=1), gy.sum((0, 2, 3)), None)
class FALin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b, Bm):
        ctx.save_for_backward(x, Bm); return x @ W.t() + b
    @staticmethod
    def backward(ctx, gy):
        x, Bm = ctx.saved_tensors
        return gy @ Bm, gy.t() @ x, gy.sum(0), None
X = torch.tensor(x)
h = F.avg_pool2d(F.relu(F.conv2d(X, W1, b1, padding=1)), 2)
h = F.avg_pool2d(F.relu(FAConv.apply(h, W2, b2, B2)), 2)
h = F.relu(FALin.apply(h.flatten(1), W3, b3, B3))
out = FALin.apply(h, W4, b4, B4)
loss = F.cross_entropy(out, torch.tensor(t, dtype=torch.long)); loss.backward()
tg = {"W1": W1.grad.reshape(8, -1), "b1": b1.grad, "W2": W2.grad.reshape(16, -1), "b2": b2.grad,
      "W3": W3.grad, "b3": b3.grad, "W4": W4.grad, "b4": b4.grad}
worst = 0.0
for k in tg:
    a, b = g[k].reshape(-1), tg[k].detach().numpy().reshape(-1)
    d = float(np.abs(a - b).max())
    worst = max(worst, d)
    print("%-3s largest |bpfree - torch| %.3g   largest |gradient| %.3g" % (k, d, np.abs(b).max()))
print("fa_cnn_reference: %s (largest difference %.3g)" % ("ok" if worst <= 1e-5 else "FAILED", worst))
sys.exit(0 if worst <= 1e-5 else 1)
