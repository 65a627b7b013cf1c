#!/usr/bin/env python3
"""Scaling model for data- and layer-parallel training (issue 16), checked
against the 2-rank measurements of run.sh.  Writes scaling.tsv (the table)
and scaling.dat (gnuplot blocks for scaling.gp).

    python3 bench/results/mpi2/scaling.py CORE_MACS_PER_S

CORE_MACS_PER_S: one core's training speed in multiply-adds per second,
calibrated from a measured one-process run (see BENCHMARKS.md).

The model (no overlap of communication with compute except where bpfree
has it):
  - a dense layer of I x O weights costs B I O multiply-adds forward and
    B I O for its weight gradient; BP adds B I O for the signal to the layer
    below (k = 3 per weight per sample), MF / F3 / DRTP none (k = 2);
  - data-parallel (as built: blocking MPI_Allreduce of each layer's gradient
    before its step): each rank has b = 64 rows per step (weak scaling:
    the global batch grows with N), time per step b k P / c + a ring
    allreduce of 4P bytes: 2 (N-1)/N 4P / beta + 2 (N-1) alpha per layer;
  - layer-parallel (as built): N <= L stages of ceil(L / N) equal layers;
    a stage's step b k P_stage / c; the boundary activation (4 b W bytes)
    travels while the next batch is computed (double-buffered), so a step
    costs max(compute, 4 b W / beta + alpha); once per epoch every parameter
    goes to every rank (two allreduces of 4P bytes), spread over the epoch's
    steps; more ranks than layers would need layer x data hybrids (not
    built): the curve stays flat at N = L.
  - network: beta = 25 Gb/s, alpha = 5 us per message (a cluster's
    Ethernet/InfiniBand link), one rank per core at c multiply-adds/s.
"""
import functools
import sys

BETA = 25e9 / 8  # bytes/s
ALPHA = 5e-6     # s
B = 64           # rows per rank per step
STEPS_PER_EPOCH = 938


def net(sizes):
    return [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]


def allreduce(nbytes, n):
    return 0.0 if n == 1 else 2 * (n - 1) / n * nbytes / BETA + 2 * (n - 1) * ALPHA


def data_parallel(layers, k, c, n, b=B):
    P = sum(i * o for i, o in layers)
    t = b * k * P / c + sum(allreduce(4 * i * o, n) for i, o in layers)
    return n * b / t


def layer_parallel(layers, k, c, n):
    L = len(layers)
    n = min(n, L)
    # contiguous blocks, the largest as small as can be (bp_pipe_partition)
    w = [i * o for i, o in layers]

    @functools.lru_cache(maxsize=None)
    def part(start, stages):
        if stages == 1:
            return sum(w[start:])
        return min(max(sum(w[start:cut]), part(cut, stages - 1))
                   for cut in range(start + 1, L - stages + 2))
    biggest = part(0, n)
    width = max(o for _, o in layers[:-1]) if L > 1 else 0
    msg = 4 * B * width / BETA + ALPHA if n > 1 else 0.0
    P = sum(w)
    sync = 2 * allreduce(4 * P, n) / STEPS_PER_EPOCH
    t = max(B * k * biggest / c, msg) + sync
    return B / t


def main():
    c = float(sys.argv[1])
    mnist = net([784, 1000, 1000, 10])
    deep = net([4096] * 17 + [10])  # 16 hidden layers of 4096, a 10-way output
    ranks = [1, 2, 8, 64, 512]
    rows = [
        ("MNIST 784-1000-1000", "bp, data, 64 rows per rank", lambda n: data_parallel(mnist, 3, c, n)),
        ("MNIST 784-1000-1000", "mf/f3, data, 64 rows per rank", lambda n: data_parallel(mnist, 2, c, n)),
        ("MNIST 784-1000-1000", "mf/f3, layers", lambda n: layer_parallel(mnist, 2, c, n)),
        ("16x4096", "bp, data, 64 rows per rank", lambda n: data_parallel(deep, 3, c, n)),
        ("16x4096", "mf/f3, layers", lambda n: layer_parallel(deep, 2, c, n)),
    ]
    with open("scaling.tsv", "w") as f:
        f.write("net\trule, mode\t" + "\t".join("N=%d" % n for n in ranks) + "\n")
        for netname, what, fn in rows:
            f.write("%s\t%s\t%s\n" % (netname, what, "\t".join("%.0f" % fn(n) for n in ranks)))
    with open("scaling.dat", "w") as f:
        for netname, what, fn in rows:
            f.write("# %s: %s\n" % (netname, what))
            for e in range(0, 10):
                n = 2 ** e
                f.write("%d %.1f\n" % (n, fn(n)))
            f.write("\n\n")
    # the check against this machine: 2 ranks, global batch 64 (32 rows each)
    print("model, MNIST, 2 ranks: mf data (32 rows each) %.0f, mf layers %.0f, one core %.0f"
          % (data_parallel(mnist, 2, c, 2, 32), layer_parallel(mnist, 2, c, 2),
             data_parallel(mnist, 2, c, 1)))
    with open("scaling.titles", "w") as f:
        for netname, what, _ in rows:
            f.write("model %s: %s\n" % ("MNIST" if netname.startswith("MNIST") else netname, what))


if __name__ == "__main__":
    main()
