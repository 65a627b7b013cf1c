#!/usr/bin/python3
"""ff_probe.py — how much class information FF's neutral-label activities hold.

    /usr/bin/python3 bench/ff_probe.py MODEL.bpf [MODEL2.bpf ...]

For a model trained by `ff` (dense layers, --norm scale): embeds the neutral
label (0.1 in each label input) as the library does, normalises every layer's
input (the model's --ff-norm), and fits a fresh linear probe (ridge least
squares on one-hot targets, 60,000 training images) to each layer's
normalised neutral activities and to all layers together; prints the probe's
MNIST test accuracy, and the fraction of units active on the neutral input.
A probe trained afresh to its optimum separates "the representation lost the
class" from "the one-pass head failed to track it" (README, FF head decline).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import bpfree  # noqa: E402


def normalise(v, how):
    if how == "rms":
        return v / (np.sqrt((v * v).mean(1, keepdims=True)) + 1e-8)
    return v / (np.sqrt((v * v).sum(1, keepdims=True)) + 1e-4)


def neutral_layers(w, x, C, how, L):
    x = x.copy()
    x[:, :C] = 0.1
    h = normalise(x, how)
    out = []
    for l in range(1, L + 1):
        a = np.maximum(h @ w["W%d" % l].T + w["b%d" % l], 0.0)
        out.append((a, normalise(a, how)))
        h = out[-1][1]
    return out


def probe(ftr, ytr, fte, yte, C, lam=1e-3):
    A = np.hstack([ftr, np.ones((len(ftr), 1), np.float32)]).astype(np.float64)
    T = np.eye(C)[ytr]
    G = A.T @ A + lam * len(A) * np.eye(A.shape[1])
    Wp = np.linalg.solve(G, A.T @ T)
    B = np.hstack([fte, np.ones((len(fte), 1), np.float32)])
    return float((np.argmax(B @ Wp, 1) == yte).mean())


def main():
    xtr, ytr, xte, yte = bpfree.load_data("mnist")
    if xtr.max() > 1.5:  # raw pixels: --norm scale
        xtr, xte = xtr / 255.0, xte / 255.0
    C = 10
    for path in sys.argv[1:]:
        m = bpfree.Model.load(path)
        cfg = m.config
        how = cfg.get("ff-norm", cfg.get("ff_norm", "rms"))
        w = m.weights()
        L = sum(1 for k in w if k.startswith("W") and k[1:].isdigit())
        tr = neutral_layers(w, xtr, C, how, L)
        te = neutral_layers(w, xte, C, how, L)
        accs = [probe(tr[l][1], ytr, te[l][1], yte, C) for l in range(L)]
        both = probe(np.hstack([t[1] for t in tr]), ytr, np.hstack([t[1] for t in te]), yte, C)
        active = [float((te[l][0] > 0).mean()) for l in range(L)]
        print("%s: probe on neutral activities, test %%: %s; all layers %.2f; "
              "units active on the neutral input: %s" %
              (path, " / ".join("layer %d %.2f" % (l + 1, 100 * a) for l, a in enumerate(accs)),
               100 * both, " / ".join("%.1f%%" % (100 * a) for a in active)))


if __name__ == "__main__":
    main()
