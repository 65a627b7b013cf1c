#!/bin/sh
# bench/threading.sh — bpfree's two ways of using several threads, A/B.
#
#   bench/threading.sh [--rounds 4] [--threads 2] [CONFIG ...]
#
# CONFIG is "RULE BATCH" (default: bp, mf, dfa at batch 64 and 256).  In
# each round every configuration trains one MNIST epoch with
# --threading blas (OpenBLAS's threads for the products), then with
# --threading split (bpfree splits products and element-wise work itself),
# each in a fresh process; the table gives the median train seconds per
# epoch over the rounds.  BPFREE_BIN overrides ./build/bpfree.
set -eu
cd "$(dirname "$0")/.."
BIN=${BPFREE_BIN:-./build/bpfree}
ROUNDS=4
THREADS=2
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    --*) echo "threading.sh: unknown option $1" >&2; exit 1 ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || set -- "bp 64" "bp 256" "mf 64" "mf 256" "dfa 64" "dfa 256"
[ -x "$BIN" ] || { echo "threading.sh: no $BIN (run make)" >&2; exit 1; }
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
r=1
while [ "$r" -le "$ROUNDS" ]; do
    echo "round $r of $ROUNDS" >&2
    for cfg in "$@"; do
        rule=${cfg%% *} batch=${cfg#* }
        for t in blas split; do
            s=$("$BIN" train --rule "$rule" --batch "$batch" --threads "$THREADS" --threading "$t" \
                --epochs 1 --quiet --profile 2>&1 | sed -n 's/^profile:.*train_seconds=\([0-9.]*\).*/\1/p')
            [ -n "$s" ] || { echo "threading.sh: $rule batch $batch --threading $t failed" >&2; exit 1; }
            echo "$rule $batch $t $s" >>"$OUT"
            printf '  %-4s batch %-4s %-5s %s s\n' "$rule" "$batch" "$t" "$s" >&2
        done
    done
    r=$((r + 1))
done
echo "| config, $THREADS threads | blas s/epoch | split s/epoch | split / blas |"
echo "|---|---:|---:|---:|"
for cfg in "$@"; do
    rule=${cfg%% *} batch=${cfg#* }
    med() { grep "^$rule $batch $1 " "$OUT" | awk '{print $4}' | sort -n |
        awk '{v[NR]=$1} END {print NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
    b=$(med blas) s=$(med split)
    echo "| $rule, batch $batch | $b | $s | $(echo "$s $b" | awk '{printf "%.2f", $1 / $2}') |"
done
