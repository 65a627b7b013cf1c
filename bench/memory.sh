#!/bin/sh
# bench/memory.sh — memory against depth (003 Figs. 1–3), one process per
# configuration (peak RSS is a per-process high-water mark).
#
#   sh bench/memory.sh
#
# For every rule in RULES and depth in DEPTHS it runs
#   build/bench-memory --one RULE DEPTH WIDTH BATCH --steps STEPS --threads THREADS
# (MLP 784-WIDTH x DEPTH-10, a couple of training steps on a random full
# batch; see bench/memory.c), then the BIG configuration for every rule, and
# prints Markdown tables: allocator peak (split into parameters + gradients +
# optimizer state and the rest) and peak RSS; the least-squares slope of
# each against depth (MiB per added hidden layer) and its ratio to bp's,
# beside 003's Fig. 3a (BP 204.00, MF 16.16); and the BIG row's margins.
# It writes bench/out/memory.tsv (all rows, columns named on the first
# line) and bench/out/memory.svg and .png (bench/plot.sh, gnuplot).
#
# Environment (defaults in brackets):
#   RULES [bp,mf,dfa,f3,ff]  DEPTHS [2,4,8,15]  WIDTH [1000]  BATCH [10000]
#   BIG [5x2000@30000]  (DEPTHxWIDTH@BATCH, empty to skip)
#   STEPS [2]  BIG_STEPS [1]  THREADS [1]  OUT [bench/out]
# Every buffer is allocated when the model is built, or in the first step
# (the sample order, F³'s store), so the peaks are reached in step 1: the
# BIG configuration (minutes per step) takes one.
# A quick check: RULES=bp,mf DEPTHS=2,4 BATCH=1000 BIG= sh bench/memory.sh
#
# Configurations run one at a time: bp with 15 hidden layers of 1000 at
# batch 10,000 holds ~0.95 GiB, and 5 x 2000 at batch 30,000 ~2.1 GiB.
set -eu
cd "$(dirname "$0")/.."
RULES=${RULES:-bp,mf,dfa,f3,ff}
DEPTHS=${DEPTHS:-2,4,8,15}
WIDTH=${WIDTH:-1000}
BATCH=${BATCH:-10000}
BIG=${BIG-5x2000@30000}
STEPS=${STEPS:-2}
BIG_STEPS=${BIG_STEPS:-1}
THREADS=${THREADS:-1}
OUT=${OUT:-bench/out}

make -s build/bench-memory >&2
mkdir -p "$OUT"
tsv=$OUT/memory.tsv
tmp=$OUT/memory.tsv.part
./build/bench-memory --tsv-header >"$tmp"
fails=0
run() { # rule depth width batch steps
    if ! ./build/bench-memory --one "$1" "$2" "$3" "$4" --steps "$5" --threads "$THREADS" >>"$tmp"; then
        echo "memory.sh: $1 $2 x $3 batch $4 failed (see above)" >&2
        fails=$((fails + 1))
    fi
}
for r in $(echo "$RULES" | tr , ' '); do
    for d in $(echo "$DEPTHS" | tr , ' '); do run "$r" "$d" "$WIDTH" "$BATCH" "$STEPS"; done
done
if [ -n "$BIG" ]; then
    bd=${BIG%%x*}
    rest=${BIG#*x}
    bw=${rest%%@*}
    bb=${rest#*@}
    for r in $(echo "$RULES" | tr , ' '); do run "$r" "$bd" "$bw" "$bb" "$BIG_STEPS"; done
fi
mv "$tmp" "$tsv"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); threads $THREADS, $STEPS training steps per configuration ($BIG_STEPS for $BIG)"
echo
awk -F '\t' -v W="$((WIDTH))" -v B="$((BATCH))" -v BIG="$BIG" '
function mib(b) { return b / 1048576 }
NR == 1 { W += 0; B += 0; for (i = 1; i <= NF; i++) c[$i] = i; next }
{
    n++
    rule[n] = $c["rule"]; dep[n] = $c["depth"] + 0; wid[n] = $c["width"] + 0; bat[n] = $c["batch"] + 0
    peak[n] = mib($c["peak_bytes"]); pgo[n] = mib($c["pgo_bytes"]); rest[n] = mib($c["rest_bytes"])
    rss[n] = $c["rss_peak_kib"] / 1024; base[n] = $c["rss_data_kib"] / 1024
    start[n] = $c["rss_start_kib"] / 1024; data[n] = mib($c["data_bytes"]); secs[n] = $c["step_s"]
    if (!(rule[n] in seen)) { seen[rule[n]] = 1; nr++; rname[nr] = rule[n] }
}
function slope(r, which,    i, k, sx, sy, sxx, sxy, v) {
    k = sx = sy = sxx = sxy = 0
    for (i = 1; i <= n; i++) {
        if (rule[i] != r || wid[i] != W || bat[i] != B) continue
        v = which == "peak" ? peak[i] : which == "rest" ? rest[i] : rss[i]
        k++; sx += dep[i]; sy += v; sxx += dep[i] * dep[i]; sxy += dep[i] * v
    }
    if (k < 2 || k * sxx == sx * sx) return "nan"
    return (k * sxy - sx * sy) / (k * sxx - sx * sx)
}
END {
    printf "Hidden layers of %d, batch %d (784 inputs, 10 classes, ReLU, each rule'"'"'s optimizer):\n\n", W, B
    print "| rule | hidden layers | allocator peak MiB | params+grads+optimizer MiB | rest MiB | peak RSS MiB | RSS − start − data MiB | s/step |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= n; i++) if (wid[i] == W && bat[i] == B)
        printf "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", rule[i], dep[i], peak[i], pgo[i], rest[i], rss[i], rss[i] - base[i], secs[i]
    for (i = 1; i <= n; i++) if (wid[i] == W && bat[i] == B) { s0 = start[i]; d0 = data[i]; break }
    printf "\nRSS at process start (code, libc, OpenBLAS threads): %.1f MiB; the random batch: %.1f MiB.\n\n", s0, d0
    bp_p = slope("bp", "peak"); bp_r = slope("bp", "rss")
    print "Least-squares slope against the number of hidden layers (MiB per added layer):"
    print ""
    print "| rule | allocator peak | of which not params+grads+optimizer | peak RSS | peak slope / bp | RSS slope / bp |"
    print "|---|---:|---:|---:|---:|---:|"
    for (k = 1; k <= nr; k++) {
        r = rname[k]; sp = slope(r, "peak"); sr = slope(r, "rss"); se = slope(r, "rest")
        if (sp == "nan") continue
        printf "| %s | %.1f | %.1f | %.1f | %s | %s |\n", r, sp, se, sr,
            (bp_p != "nan" && bp_p > 0) ? sprintf("%.3f", sp / bp_p) : "–",
            (bp_r != "nan" && bp_r > 0) ? sprintf("%.3f", sr / bp_r) : "–"
    }
    print "| 003 Fig. 3a: BP (GPU, full batch) | 204.00 | | | 1 | |"
    print "| 003 Fig. 3a: MF | 16.16 | | | 0.079 | |"
    printf "\nOne added hidden layer of %d holds %.1f MiB of parameters + gradients + Adam moments ((%d² + %d) x 4 floats), and a %d x %d float activation is %.1f MiB.\n", W, (W * W + W) * 16 / 1048576, W, W, B, W, B * W * 4 / 1048576
    if (BIG != "") {
        split(BIG, p, /[x@]/); p[1] += 0; p[2] += 0; p[3] += 0
        printf "\n%s hidden layers of %s, batch %s (003 Figs. 1–2):\n\n", p[1], p[2], p[3]
        print "| rule | allocator peak MiB | params+grads+optimizer MiB | rest MiB | peak RSS MiB | peak − bp peak MiB | peak / bp peak |"
        print "|---|---:|---:|---:|---:|---:|---:|"
        bpb = -1
        for (i = 1; i <= n; i++) if (dep[i] == p[1] && wid[i] == p[2] && bat[i] == p[3] && rule[i] == "bp") bpb = peak[i]
        for (i = 1; i <= n; i++) if (dep[i] == p[1] && wid[i] == p[2] && bat[i] == p[3])
            printf "| %s | %.1f | %.1f | %.1f | %.1f | %s | %s |\n", rule[i], peak[i], pgo[i], rest[i], rss[i],
                (bpb > 0 ? sprintf("%+.1f", peak[i] - bpb) : "–"), (bpb > 0 ? sprintf("%.1f%%", 100 * peak[i] / bpb) : "–")
    }
}' "$tsv"
sh bench/plot.sh memory "$tsv" "$OUT/memory" "$WIDTH" "$BATCH"
echo
echo "wrote $tsv and $OUT/memory.svg"
[ "$fails" -eq 0 ]
