#!/bin/sh
# bench/fig5.sh — Gong et al. 2025 (003) Figs. 4 and 5: MNIST test accuracy
# per epoch of BP and Mono-Forward on n x 1000 ReLU layers (Adam 1e-3, no
# schedule, batch 256, 10 epochs, 10 seeds, one thread per run).
#
#   sh bench/fig5.sh            (about 2 hours on two cores from nothing;
#                                seconds when the committed logs are there)
#
# Fig. 4 is 4 hidden layers (bench/results/fig4-003-mnist), Fig. 5 is 15
# (bench/results/fig5-003-mnist).  Both are `bpfree compare` runs, so a run
# whose log already ends with its "final" line is skipped and an interrupted
# sweep resumes; each directory gets summary.md/.csv, runs.csv and test.svg
# (Fig. 4, and Fig. 5a: BP-15 against MF-15).  Fig. 5b — MF-15 against
# MF-4, the mean test accuracy per epoch with a +-1 std band — is drawn from
# the two runs' test.dat into bench/results/fig5-003-mnist/mf-depth.svg/.png.
# BPFREE overrides ./build/bpfree; JOBS (default 2) runs at a time.
set -eu
cd "$(dirname "$0")/.."
B=${BPFREE:-./build/bpfree}
JOBS=${JOBS:-2}

run() { # DEPTH OUTDIR
    layers=$(printf '1000,%.0s' $(seq "$1") | sed 's/,$//')
    "$B" compare --rules bp,mf --seeds 1,2,3,4,5,6,7,8,9,10 --data mnist --layers "$layers" \
        --batch 256 --lr 1e-3 --sched none --epochs 10 --threads 1 --jobs "$JOBS" --out "$2"
}
run 4 bench/results/fig4-003-mnist
run 15 bench/results/fig5-003-mnist

# Fig. 5b: the "mf" block of each test.dat (blocks start with "# RULE")
out=bench/results/fig5-003-mnist/mf-depth
for d in fig4-003-mnist fig5-003-mnist; do
    awk 'BEGIN { RS = "" } $1 == "#" && $2 == "mf" { print; print ""; print ""; exit }' \
        "bench/results/$d/test.dat"
done > "$out.dat"
printf 'MF-4\nMF-15\n' > "$out.titles"
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "data='$out.dat'; titles='$out.titles'; out='$out'; ylabel='test accuracy (%)'; \
plottitle='Mono-Forward on 4 and on 15 hidden layers of 1000 (MNIST, 10 seeds)'" scripts/compare.gp
    echo "fig5: wrote $out.svg and $out.png"
else
    echo "fig5: gnuplot is not installed (apt-get install gnuplot-nox): no $out.svg" >&2
fi
