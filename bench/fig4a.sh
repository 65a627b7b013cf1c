#!/bin/sh
# bench/fig4a.sh — Flügel et al. 2024 (001) Fig. 4a: MNIST test accuracy
# against depth for BP, DFA, DRTP and F³ on the paper's fully connected nets
# (hidden layers of 500 tanh units, sigmoid outputs with BCE, standardised
# pixels, Adam at a fixed rate — the paper's §4.1 setup; bpfree's f3 defaults:
# 1.5e-4, batch 50), one thread per run.
#
#   bench/fig4a.sh [OUTDIR]      (default bench/results/fig4a-001)
#   RULES="bp dfa drtp f3" DEPTHS="1 5 10 25 50 100" SEEDS="1" EPOCHS=3 bench/fig4a.sh
#
# The paper does not print its epoch budget for Fig. 4a (Fig. 4b: the best
# test accuracy over 100 epochs); EPOCHS (default 3) is what fits here: a
# 100-layer epoch takes about 3.5 minutes on one core.  Every run writes
# OUTDIR/R-dD-sS.jsonl and is skipped when its log already ends with its
# "final" line, so the sweep can be run in pieces.  Writes OUTDIR/fig4a.tsv
# (rule, depth, seed, last and best test accuracy), OUTDIR/fig4a.md (mean
# over seeds, one row per depth) and, with gnuplot, OUTDIR/fig4a.svg/.png.
# BPFREE overrides ./build/bpfree.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/fig4a-001}
B=${BPFREE:-./build/bpfree}
RULES=${RULES:-bp dfa drtp f3}
DEPTHS=${DEPTHS:-1 5 10 25 50 100}
SEEDS=${SEEDS:-1}
EPOCHS=${EPOCHS:-3}
mkdir -p "$OUT"
# --allow-divergence: a deep BP net that climbs off chance and falls back is
# a result of this figure, not an error to stop at (bpfree's guard would end
# the run and leave it without its final line)
common="--data mnist --act tanh --loss bce --norm standardize --optim adam --lr 1.5e-4 --sched none --batch 50 --epochs $EPOCHS --threads 1 --allow-divergence"

layers() { # D hidden layers of 500
    i=1; l=500
    while [ "$i" -lt "$1" ]; do l="$l,500"; i=$((i + 1)); done
    echo "$l"
}

for d in $DEPTHS; do
    for r in $RULES; do
        for s in $SEEDS; do
            name="$r-d$d-s$s"
            if [ -s "$OUT/$name.jsonl" ] && grep -q '"type": "final"' "$OUT/$name.jsonl"; then
                echo "fig4a: $name done already"; continue
            fi
            echo "fig4a: $name"
            # shellcheck disable=SC2086
            "$B" train --rule "$r" $common --layers "$(layers "$d")" --seed "$s" \
                --log "$OUT/$name.jsonl" >"$OUT/$name.txt" 2>&1 ||
                echo "fig4a: $name failed (see $OUT/$name.txt)"
        done
    done
done

# one row per finished run: rule, depth, seed, last and best test accuracy
rows=$(mktemp)
for f in "$OUT"/*-d*-s*.jsonl; do
    [ -e "$f" ] && grep -q '"type": "final"' "$f" || continue
    awk -v n="$(basename "$f" .jsonl)" '
        /"type": "epoch"/ {
            match($0, /"test_acc": [^,}]*/); a = substr($0, RSTART + 12, RLENGTH - 12) + 0
            if (a > best) best = a
            last = a
        }
        END {
            split(n, p, "-d"); split(p[2], q, "-s")
            printf "%s\t%s\t%s\t%.4f\t%.4f\n", p[1], q[1], q[2], last, best
        }' "$f" >>"$rows"
done
{
    printf 'rule\tdepth\tseed\ttest_acc\tbest_acc\n'
    sort -t"$(printf '\t')" -k2,2n -k1,1 -k3,3n "$rows"
} >"$OUT/fig4a.tsv"
rm -f "$rows"

# the table: depth down, rules across, mean test accuracy after the last
# epoch over the seeds that finished (n), best epoch in brackets
awk -F'\t' -v rules="$RULES" -v epochs="$EPOCHS" '
    NR > 1 { k = $2 SUBSEP $1; s[k] += $4; b[k] += $5; n[k]++; d[$2] = 1 }
    END {
        nr = split(rules, R, " ")
        printf "MNIST test accuracy (%%) after %s epoch(s), mean over seeds (runs), best epoch in brackets\n\n", epochs
        printf "| hidden layers |"; for (i = 1; i <= nr; i++) printf " %s |", R[i]; printf "\n|---:|"
        for (i = 1; i <= nr; i++) printf "---:|"; printf "\n"
        m = 0; for (x in d) D[++m] = x + 0
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (D[j] < D[i]) { t = D[i]; D[i] = D[j]; D[j] = t }
        for (i = 1; i <= m; i++) {
            printf "| %d |", D[i]
            for (j = 1; j <= nr; j++) {
                k = D[i] SUBSEP R[j]
                if (n[k]) printf " %.2f (%.2f; %d) |", 100 * s[k] / n[k], 100 * b[k] / n[k], n[k]
                else printf " – |"
            }
            printf "\n"
        }
    }' "$OUT/fig4a.tsv" >"$OUT/fig4a.md"
cat "$OUT/fig4a.md"
if command -v gnuplot >/dev/null 2>&1; then
    for term in svg png; do
        gnuplot -e "tsv='$OUT/fig4a.tsv'; out='$OUT/fig4a.$term'; term='$term'; rules='$RULES'" scripts/fig4a.gp
    done
    echo "fig4a: plots $OUT/fig4a.svg, $OUT/fig4a.png"
else
    echo "fig4a: gnuplot not found: no plot (the table is above)"
fi
