#!/usr/bin/python3
"""Reproduce a README row from Python: the "Depth" table (F³ section), one
hidden layer of 500 tanh, bp, SGD 0.01 momentum 0.9, batch 50, 3 epochs:
test accuracy 97.42% in the README, measured with

    ./build/bpfree train --rule bp --layers 500 --act tanh --loss bce --norm standardize \\
        --batch 50 --optim sgd --lr 0.01 --momentum 0.9 --sched none --epochs 3

Python and the CLI give the same numbers bit for bit for the same --threads:
both print 97.42% (the CLI's default is 2 threads; add --threads 1 to it).

    /usr/bin/python3 python/example_readme_row.py [THREADS]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpfree  # noqa: E402

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
m = bpfree.Model("bp", layers=[500], act="tanh", loss="bce", norm="standardize", batch=50,
                 optim="sgd", lr=0.01, momentum=0.9, sched="none", epochs=3, seed=1,
                 threads=threads)
m.fit_dataset("mnist", callback=lambda r: print(
    "epoch %d  loss %.4f  train %.2f%%  test %.2f%%" %
    (r["epoch"], r["train_loss"], 100 * r["train_acc"], 100 * r["test_acc"])))
print("final: bp on mnist: test accuracy %.2f%% (README: 97.42%%)" % (100 * m.history[-1]["test_acc"]))
