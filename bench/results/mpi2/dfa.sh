#!/bin/sh
# DFA (backward-unlocked, not update-unlocked) on MNIST 784-1000-1000, 1
# epoch, seed 1: where one process's time goes (--profile-shapes: forward
# products vs weight-gradient products), and data-parallel on 2 ranks
# against one process x 2 threads, R rounds alternated.
set -eu
cd "$(dirname "$0")/../../.."
R=${R:-2}; out=bench/results/mpi2
mpi="--allow-run-as-root --oversubscribe --mca btl self,vader --bind-to none"
common="--rule dfa --layers 1000,1000 --epochs 1 --seed 1 --quiet"
nice -n 10 build/bpfree train $common --threads 1 --profile --profile-shapes > $out/dfa-profile.txt 2>&1
for i in $(seq 1 "$R"); do
    nice -n 10 build/bpfree train $common --threads 2 --log $out/dfa-1proc-$i.jsonl >/dev/null
    nice -n 10 mpirun $mpi -np 2 build/bpfree-mpi train $common --threads 1 --dist data \
        --log $out/dfa-data-$i.jsonl >/dev/null
done
