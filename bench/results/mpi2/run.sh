#!/bin/sh
# Layer-parallel against one process and data-parallel on MNIST 784-1000-1000
# (issue 16 part 2): mf and f3, seed 1, batch 64.  Each round runs, one after
# another (alternated: the machine is shared): one process x 2 threads;
# mpirun -np 2 --dist layers x 1 thread; mpirun -np 2 --dist data x 1
# thread.  Round 1 trains E epochs (accuracy) and also runs one process
# --pipeline 2 x 1 thread (the model --dist layers equals bit for bit);
# rounds 2..R train 1 epoch (speed only).  Speed = the first epoch's
# samples/s, median over the rounds (bench/results/mpi2/table.sh).
set -eu
cd "$(dirname "$0")/../../.."
E=${E:-3}; R=${R:-3}; RULES=${RULES:-mf f3}
out=bench/results/mpi2
mpi="--allow-run-as-root --oversubscribe --mca btl self,vader --bind-to none"
for i in $(seq 1 "$R"); do
    e=1; [ "$i" -eq 1 ] && e=$E
    common="--layers 1000,1000 --epochs $e --seed 1 --quiet"
    for r in $RULES; do
        nice -n 10 build/bpfree train --rule $r $common --threads 2 --log $out/$r-1proc-$i.jsonl
        if [ "$i" -eq 1 ]; then
            nice -n 10 build/bpfree train --rule $r $common --threads 1 --pipeline 2 \
                --log $out/$r-pipe2-$i.jsonl
        fi
        for mode in layers data; do
            nice -n 10 mpirun $mpi -np 2 build/bpfree-mpi train --rule $r $common --threads 1 \
                --dist $mode --log $out/$r-$mode-$i.jsonl
        done
    done
done
