#!/bin/sh
# bench/fig7.sh — Bacho & Chu 2024 Fig. 7: the loss after one epoch against
# the normalised variance of the gradient estimate, for BP made noisy with
# --grad-noise V and for FG-W, FG-A and FDFA, on their two-layer MNIST net
# (784-1000-10), Adam 1e-4 (their Appendix A), seed 1, one thread; FDFA's
# feedback by eq. 8's running average (--fb-optim ema).
#
#   bench/fig7.sh [OUTDIR]      (default bench/results/fig7)
#
# The variance is measured by --diagnose variance (10 draws of the step on
# every 50th batch, normalised by the estimates' mean squared norm; layer 1,
# the 784,000 weights); the loss is the mean training loss of the epoch and
# the test loss after it, from each run's JSONL log.  Writes OUTDIR/fig7.tsv,
# OUTDIR/fig7.md and, with gnuplot, OUTDIR/fig7.svg and .png.
# BPFREE overrides ./build/bpfree.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/fig7}
B=${BPFREE:-./build/bpfree}
mkdir -p "$OUT"
common="--data mnist --layers 1000 --epochs 1 --threads 1 --seed 1 --lr 1e-4 --optim adam --diagnose variance --diag-draws 10 --diag-every 50"

run() { # name, options...
    name=$1; shift
    if [ -s "$OUT/$name.jsonl" ] && grep -q '"type": "final"' "$OUT/$name.jsonl"; then
        echo "fig7: $name done already"; return
    fi
    echo "fig7: $name"
    # shellcheck disable=SC2086
    "$B" train $common "$@" --log "$OUT/$name.jsonl" >"$OUT/$name.txt" 2>&1
}

for v in 0 0.01 0.1 0.3 1 3 10 100 1000 10000; do run "bp-noise$v" --rule bp --grad-noise "$v"; done
for r in fg-w fg-a; do run "$r" --rule "$r"; done
# FDFA with eq. 8's running average of its feedback (a redraw of the step
# must not change private optimizer moments: --diagnose variance needs it)
run fdfa --rule fdfa --fb-optim ema

# one row per run: name, layer-1 normalised variance (mean over the measured
# batches of the epoch), mean training loss of the epoch, test loss
printf 'run\tvar_norm_layer1\ttrain_loss\ttest_loss\ttest_acc\n' >"$OUT/fig7.tsv"
for f in "$OUT"/*.jsonl; do
    n=$(basename "$f" .jsonl)
    awk -v n="$n" '
        /"type": "epoch"/ {
            match($0, /"var_norm": \[[^],]*/); v = substr($0, RSTART + 13, RLENGTH - 13)
            match($0, /"train_loss": [^,]*/); tl = substr($0, RSTART + 14, RLENGTH - 14)
            match($0, /"test_loss": [^,]*/); te = substr($0, RSTART + 13, RLENGTH - 13)
            match($0, /"test_acc": [^,]*/); ta = substr($0, RSTART + 12, RLENGTH - 12)
        }
        END { printf "%s\t%s\t%s\t%s\t%s\n", n, v, tl, te, ta }' "$f" >>"$OUT/fig7.tsv"
done
{
    echo "| run | normalised variance (layer 1) | training loss, epoch 1 | test loss | test accuracy |"
    echo "|---|---:|---:|---:|---:|"
    tail -n +2 "$OUT/fig7.tsv" | sort -t"$(printf '\t')" -k2,2g |
        awk -F'\t' '{ printf "| %s | %.4f | %.4f | %.4f | %.2f%% |\n", $1, $2, $3, $4, 100 * $5 }'
} >"$OUT/fig7.md"
cat "$OUT/fig7.md"
if command -v gnuplot >/dev/null 2>&1; then
    for term in svg png; do
        gnuplot -e "tsv='$OUT/fig7.tsv'; out='$OUT/fig7.$term'; term='$term'" scripts/fig7.gp
    done
    echo "fig7: plots $OUT/fig7.svg, $OUT/fig7.png"
else
    echo "fig7: gnuplot not found: no plot (the table is above)"
fi
