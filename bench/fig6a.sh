#!/bin/sh
# bench/fig6a.sh — Bacho & Chu 2024 Fig. 6a: the variance of the FG-W and
# FG-A gradient estimates of a two-layer net against the number of inputs
# n0, grown by repeating each image's pixels K times (--input-repeat K:
# n0 = 784 K), hidden width 256, MNIST (one epoch on 10,000 samples: the
# other 50,000 held out with --val), Adam 1e-4, seed 1, one thread.
#
#   bench/fig6a.sh [OUTDIR]      (default bench/results/fig6a)
#
# The variance is --diagnose variance's per-weight variance of layer 1's
# estimate (var_raw, 10 draws on every 20th batch, mean over the epoch)
# (the paper's quantity), and that times layer 1's n0 x 256 weights (the
# estimate's total variance).  Log-log slopes against n0 are fitted by least
# squares (paper: ~1 for FG-W, ~0 for FG-A — FG-W's variance grows with the
# inputs, FG-A's does not).
# Writes OUTDIR/fig6a.tsv and .md (and .svg/.png with gnuplot).
# BPFREE overrides ./build/bpfree.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/fig6a}
B=${BPFREE:-./build/bpfree}
H=256
mkdir -p "$OUT"
common="--data mnist --layers $H --epochs 1 --val 50000 --threads 1 --seed 1 --lr 1e-4 --optim adam --diagnose variance --diag-draws 10 --diag-every 20"

printf 'rule\tK\tn0\tvar_raw_layer1\ttotal_var_layer1\n' >"$OUT/fig6a.tsv"
for r in fg-w fg-a; do
    for k in 1 2 4 8; do
        name=$r-k$k
        if ! { [ -s "$OUT/$name.jsonl" ] && grep -q '"type": "final"' "$OUT/$name.jsonl"; }; then
            echo "fig6a: $name"
            # shellcheck disable=SC2086
            "$B" train --rule "$r" --input-repeat "$k" $common --log "$OUT/$name.jsonl" \
                >"$OUT/$name.txt" 2>&1
        fi
        awk -v r="$r" -v k="$k" -v h="$H" '
            /"type": "epoch"/ { match($0, /"var_raw": \[[^],]*/); v = substr($0, RSTART + 12, RLENGTH - 12) }
            END { printf "%s\t%d\t%d\t%s\t%.6g\n", r, k, 784 * k, v, v * 784 * k * h }' \
            "$OUT/$name.jsonl" >>"$OUT/fig6a.tsv"
    done
done
# least-squares slopes of log(variance) against log(n0), per rule: of the
# per-weight variance (the paper's quantity: FG-W's grows with the inputs,
# FG-A's does not) and of the total over layer 1's n0 x 256 weights
slope() { # column of the tsv
    awk -F'\t' -v c="$1" 'NR > 1 { x = log($3); y = log($c); n[$1]++; sx[$1] += x; sy[$1] += y
            sxx[$1] += x * x; sxy[$1] += x * y }
        END { for (r in n) printf "%s\t%.2f\n", r, (n[r] * sxy[r] - sx[r] * sy[r]) / (n[r] * sxx[r] - sx[r] * sx[r]) }' \
        "$OUT/fig6a.tsv" | sort
}
slope 4 >"$OUT/slope-per-weight.tsv"
slope 5 >"$OUT/slope-total.tsv"
{
    echo "| rule | per-weight variance at n0 = 784 / 1568 / 3136 / 6272 | slope, per weight (paper: FG-W ~1, FG-A ~0) | slope, total over layer 1 |"
    echo "|---|---|---:|---:|"
    for r in fg-a fg-w; do
        v=$(awk -F'\t' -v r="$r" 'NR > 1 && $1 == r { printf "%s%.3g", s, $4; s = " / " }' "$OUT/fig6a.tsv")
        printf '| %s | %s | %s | %s |\n' "$r" "$v" "$(awk -v r="$r" '$1 == r { print $2 }' "$OUT/slope-per-weight.tsv")" \
            "$(awk -v r="$r" '$1 == r { print $2 }' "$OUT/slope-total.tsv")"
    done
} >"$OUT/fig6a.md"
cat "$OUT/fig6a.md"
