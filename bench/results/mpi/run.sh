#!/bin/sh
# Data-parallel against one process on MNIST 784-1000-1000 (issue 16): the same
# seed and global batch; 2 ranks x 1 thread against 1 process x 2 threads.
# Accuracy only (no timing comparison: the machine is shared).
set -eu
cd "$(dirname "$0")/../../.."
E=${E:-3}
opts="--allow-run-as-root --oversubscribe"
for r in bp mf dfa; do
    nice -n 10 build/bpfree train --rule $r --layers 1000,1000 --epochs $E --seed 1 --threads 2 \
        --quiet --log bench/results/mpi/$r-1proc.jsonl
    nice -n 10 mpirun $opts -np 2 build/bpfree-mpi train --rule $r --layers 1000,1000 --epochs $E \
        --seed 1 --threads 1 --dist data --quiet --log bench/results/mpi/$r-2ranks.jsonl
done
