#!/bin/sh
# bench/run.sh — every benchmark of BENCHMARKS.md in one go (`make bench`):
#   1. bench/compare.sh: bpfree against PyTorch, same configurations, runs
#      alternating, medians (torch columns skipped if python3-torch is missing):
#      compare.md (bp, mf, dfa, ff, inference; 1 and 2 threads) and
#      compare-rules.md (every other rule, 1 thread)
#   2. build/bench-gemm: GFLOP/s of each product a training step makes
#   3. bench/memory.sh: peak bytes and RSS against depth (one process each)
#   4. plots: bench/out/epochs.svg (s/epoch, bpfree vs torch) and
#      bench/out/memory.svg
# Everything goes to bench/out/.  The OPENBLAS_* variables are taken as they
# are (this machine sets OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512,
# which caps OpenBLAS at AVX2); to measure with OpenBLAS's own choice run
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE make bench
# Takes about 45 minutes on 2 cores; REPS=1 for a quicker, noisier pass.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
REPS=${REPS:-3}
echo "bench: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}" >&2

# the issue's configurations (bp, mf, dfa, ff, inference) on 1 and 2 threads;
# every other rule on one thread (all on two would add about an hour)
sh bench/compare.sh --reps "$REPS" --threads 1,2 --rules bp,mf,dfa,ff,infer | tee "$OUT/compare.md"
sh bench/compare.sh --reps "$REPS" --threads 1 \
    --rules fa,drtp,f3,llo,pepita,dkp,fdfa,fg-w,fg-a,lg-fg-a,cff-fixed,cff-adaptive |
    tee "$OUT/compare-rules.md"
# bars: one per configuration and side, from the table's s/epoch columns
awk -F'|' '/^\| [a-z]/ && $3 ~ /[0-9]/ && $2 !~ /infer/ {
    gsub(/^ +| +$/, "", $2); b = $3; t = $4; gsub(/[^0-9.]/, "", b); gsub(/[^0-9.]/, "", t)
    if (b != "") printf "%s bpfree\t%s\tbpfree\n", $2, b
    if (t != "") printf "%s torch\t%s\ttorch\n", $2, t
}' "$OUT/compare.md" > "$OUT/epochs.tsv"
sh bench/plot.sh bars "$OUT/epochs.tsv" "$OUT/epochs" "s/epoch: bpfree vs PyTorch (median)" "s / epoch"

./build/bench-gemm --threads 1,2 --batches 64,256 | tee "$OUT/gemm.md"
OUT=$OUT sh bench/memory.sh | tee "$OUT/memory.md"
echo "bench: tables and plots in $OUT/" >&2
