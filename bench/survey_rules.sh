#!/bin/sh
# The survey's other representatives (issue 20) on full MNIST, 784-1000-1000
# (+10 output), each rule's defaults except the epochs, seeds 1-3, one run at
# a time on one thread.  Logs: bench/results/survey/RULE-sS.{txt,json}.
# Usage: sh bench/survey_rules.sh [BIN] [RULES...]
set -e
BIN=${1:-./build/bpfree}
[ $# -gt 0 ] && shift
RULES=${*:-"tinyfoa dni ccl dtp chl"}
OUT=bench/results/survey
mkdir -p "$OUT"
for r in $RULES; do
    case $r in chl) EP=4 ;; *) EP=8 ;; esac
    for s in 1 2 3; do
        "$BIN" train --rule "$r" --data mnist --layers 1000,1000 --epochs "$EP" --seed "$s" \
            --threads 1 --log "$OUT/$r-s$s.json" > "$OUT/$r-s$s.txt" 2>&1
    done
done
