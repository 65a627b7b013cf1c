#!/bin/sh
# The table of bench/results/mpi2/run.sh's logs: per rule and mode, the final
# test accuracy (round 1, E epochs) and the first epoch's samples/s in every
# round, with their median.
cd "$(dirname "$0")"
field() { sed -n "s/.*\"type\": \"epoch\".*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1"; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo "| rule | run | final test acc. (round 1) | samples/s, epoch 1, per round | median |"
echo "|---|---|---|---|---|"
for r in mf f3; do
    for mode in 1proc pipe2 layers data; do
        [ -f $r-$mode-1.jsonl ] || continue
        acc=$(field $r-$mode-1.jsonl test_acc | tail -n 1)
        all=""; for f in $r-$mode-*.jsonl; do all="$all $(field $f samples_per_s | head -n 1)"; done
        med=$(for v in $all; do echo $v; done | median)
        case $mode in
            1proc) what="1 process x 2 threads";; pipe2) what="1 process, --pipeline 2 (1 thread each)";;
            layers) what="2 ranks x 1 thread, --dist layers";; data) what="2 ranks x 1 thread, --dist data";;
        esac
        printf '| %s | %s | %s | %s | %s |\n' $r "$what" \
            "$(awk -v a=$acc 'BEGIN{printf "%.2f%%", 100*a}')" "$(echo $all | sed 's/ /, /g')" "$med"
    done
done
