#!/bin/sh
# Why 2-rank --dist data epochs were slow (issue 16 part 2): bp on MNIST
# 784-1000-1000, 1 epoch, 2 ranks x 1 thread, with Open MPI's options one at
# a time; alternated with one process x 2 threads, R rounds.  Prints
# "variant seconds" per run (the epoch's training seconds from the log).
set -eu
cd "$(dirname "$0")/../../.."
R=${R:-3}; rule=${RULE:-bp}; mode=${MODE:-data}
out=bench/results/mpi2/opts; mkdir -p $out
base="--allow-run-as-root --oversubscribe --mca btl self,vader"
secs() { sed -n 's/.*"type": "epoch".*"seconds": \([0-9.]*\).*/\1/p' "$1" | tail -n 1; }
for i in $(seq 1 "$R"); do
    nice -n 10 build/bpfree train --rule $rule --layers 1000,1000 --epochs 1 --seed 1 --threads 2 \
        --quiet --log $out/$rule-1proc-$i.jsonl >/dev/null
    echo "1proc-2threads $(secs $out/$rule-1proc-$i.jsonl)"
    for v in default yield bindnone both; do
        case $v in
            default) o="";;
            yield) o="--mca mpi_yield_when_idle 1";;
            bindnone) o="--bind-to none";;
            both) o="--bind-to none --mca mpi_yield_when_idle 1";;
        esac
        nice -n 10 mpirun $base $o -np 2 build/bpfree-mpi train --rule $rule --layers 1000,1000 \
            --epochs 1 --seed 1 --threads 1 --dist $mode --quiet --log $out/$rule-$mode-$v-$i.jsonl >/dev/null
        echo "$mode-$v $(secs $out/$rule-$mode-$v-$i.jsonl)"
    done
done
