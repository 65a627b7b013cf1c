#!/bin/sh
# bench/compare.sh — the same configurations in bpfree and in PyTorch, one
# invocation, alternating runs, a Markdown table at the end.
#
#   bench/compare.sh [--reps 3] [--threads 1,2] [--epochs 1] [--rules bp,mf,dfa,...,infer]
#                    [--quick] [--keep] [--cnn | --cnn-only] [--cnn-samples 10000,2000]
#                    [--cnn002 SPEC]
#
# In each of --reps rounds, every configuration runs bpfree, then PyTorch
# (bench/torch_bench.py under Debian's /usr/bin/python3), each in a fresh
# process; the table reports medians over the rounds.  Configurations: bp, mf,
# dfa, fa, drtp, f3, llo, pepita, dkp, fdfa, fg-w, fg-a, lg-fg-a on
# 784-1000-1000-10 (mf: heads instead of the output layer; lg-fg-a: plus a
# head on layer 1) at batch 64 and 256, each with its rule's other defaults
# (drtp, f3, llo: tanh, sigmoid + BCE, standardised pixels, Adam 1.5e-4;
# dkp, fdfa, fg-*: Adam 1e-4; pepita: SGD) — rules whose default net is
# another get --layers 1000,1000 on both sides, shown in the table; ff,
# cff-fixed, cff-adaptive as --preset cff-paper --greedy 0 (784-500-500, all
# layers every batch) at batch 1000 and 50000 (full batch); each at every
# --threads value; plus inference of the bp net (10,000 test images in one
# batch; one image); with 2 threads also mf and ff with --pipeline 2, and bp,
# mf, dfa with --threading blas (the BLAS's threads instead of bpfree's split).
# --rules picks any of: bp, mf, dfa, fa, drtp, f3, llo,
# pepita, dkp, fdfa, fg-w, fg-a, lg-fg-a, ff, cff-fixed, cff-adaptive, infer
# (default: all).
# --quick: 1 rep, batch 256 (ff, cff-*: 1000), 1 thread — a smoke test.
# --cnn: also the CNNs, for bp, mf, dfa, dkp and fdfa (those of --rules), batch 64, at
# every --threads value: Bacho & Chu 2024's 15C5-BN-P2-40C5-BN-P2-128-BN
# (batch norm in every hidden layer, as the authors' code; --cnn002 SPEC
# another, e.g. 15C5-P2-40C5-P2-128 without it) and Gong et
# al. 2025's 64C3s-A2-128C3s-A2-256C3s-A2-512C3s-A2, each trained on the
# first N training images (--cnn-samples N002,N003; default 10000,2000: an
# epoch of the 003 CNN takes minutes) and evaluated on the first 1000 test
# images — both sides read the same subset.  Their s/epoch column is the
# time of that shorter epoch (the label says how many samples).  --cnn-only:
# the CNN rows alone.
#
# The script sets neither OPENBLAS_CORETYPE nor OPENBLAS_L2_SIZE: both sides
# run in the caller's environment, e.g.
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/compare.sh
# --keep keeps every run's output (the directory is printed at the end).
# TORCH_PYTHON, BPFREE_BIN, BENCH_INFER, BENCH_PEAK override /usr/bin/python3,
# ./build/bpfree, ./build/bench-infer and ./build/bench-peak.
set -eu
cd "$(dirname "$0")/.."

REPS=3
THREADS=1,2
EPOCHS=1
# the net of 784-1000-1000-10 rules and of the FF family, in table order
NET_RULES="bp mf dfa fa drtp f3 llo pepita dkp fdfa fg-w fg-a lg-fg-a"
FF_RULES="ff cff-fixed cff-adaptive"
KNOWN="$NET_RULES $FF_RULES infer"
RULES=$(echo "$KNOWN" | tr ' ' ',')
QUICK=0
KEEP=0
CNN=0
CNN_ONLY=0
CNN_SAMPLES=10000,2000
CNN002=15C5-BN-P2-40C5-BN-P2-128-BN
CNN003=64C3s-A2-128C3s-A2-256C3s-A2-512C3s-A2
# overridable for tests: the interpreter that sees Debian's torch, the binaries
PY=${TORCH_PYTHON:-/usr/bin/python3}
BPFREE=${BPFREE_BIN:-./build/bpfree}
INFER=${BENCH_INFER:-./build/bench-infer}
PEAK=${BENCH_PEAK:-./build/bench-peak}

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

while [ $# -gt 0 ]; do
    case $1 in
    --reps) REPS=$2; shift 2 ;;
    --reps=*) REPS=${1#*=}; shift ;;
    --threads) THREADS=$2; shift 2 ;;
    --threads=*) THREADS=${1#*=}; shift ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --epochs=*) EPOCHS=${1#*=}; shift ;;
    --rules) RULES=$2; shift 2 ;;
    --rules=*) RULES=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --keep) KEEP=1; shift ;;
    --cnn) CNN=1; shift ;;
    --cnn-only) CNN=1; CNN_ONLY=1; shift ;;
    --cnn-samples) CNN_SAMPLES=$2; shift 2 ;;
    --cnn002) CNN002=$2; shift 2 ;;
    --cnn-samples=*) CNN_SAMPLES=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
    esac
done
case $REPS in ''|*[!0-9]*|0) echo "compare.sh: --reps must be a positive integer" >&2; exit 1 ;; esac
case $EPOCHS in ''|*[!0-9]*|0) echo "compare.sh: --epochs must be a positive integer" >&2; exit 1 ;; esac
case $CNN_SAMPLES in [1-9]*,[1-9]*) ;; *) echo "compare.sh: --cnn-samples must be two counts like 10000,2000" >&2; exit 1 ;; esac
case $THREADS in ''|*[!0-9,]*) echo "compare.sh: --threads must be a list like 1,2" >&2; exit 1 ;; esac
for r in $(echo "$RULES" | tr ',' ' '); do
    case " $KNOWN " in
    *" $r "*) ;;
    *) echo "compare.sh: unknown rule '$r' in --rules (known: $(echo "$KNOWN" | sed 's/ /, /g'))" >&2; exit 1 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    REPS=1
    THREADS=1
fi
BATCHES="64 256"
FF_BATCHES="1000 50000"
if [ "$QUICK" = 1 ]; then
    BATCHES=256
    FF_BATCHES=1000
fi

if [ ! -x "$BPFREE" ]; then
    echo "compare.sh: $BPFREE not found — run make first" >&2
    exit 1
fi
# PyTorch's OpenMP threads spin-wait by default and then fight OpenBLAS's
# threads for the two cores (2-6x slower on 2 threads than on 1 here);
# PASSIVE is its best setting on this machine, so the comparison uses it
# unless the caller sets OMP_WAIT_POLICY.
TORCH_WAIT=${OMP_WAIT_POLICY:-PASSIVE}
HAVE_TORCH=0
if "$PY" -c 'import torch' >/dev/null 2>&1; then HAVE_TORCH=1; fi
HAVE_PROFILE=0
if "$BPFREE" train --help 2>&1 | grep -q -- '--profile'; then HAVE_PROFILE=1; fi
HAVE_INFER=0
if [ -x "$INFER" ]; then HAVE_INFER=1; fi

has_rule() { case ",$RULES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bpfree-compare.XXXXXX")
if [ "$KEEP" = 0 ]; then trap 'rm -rf "$TMP"' EXIT; fi
RES=$TMP/results
: >"$RES"

# ------------------------------------------------------------------ header
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
blas_ver=$(pkgver libopenblas0-pthread)
blas_pkg=libopenblas0-pthread
if [ -z "$blas_ver" ]; then blas_ver=$(pkgver libopenblas0-openmp); blas_pkg=libopenblas0-openmp; fi
if [ -z "$blas_ver" ]; then blas_ver=$(pkgver libopenblas0); blas_pkg=libopenblas0; fi
blas_link=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')
core=$(OPENBLAS_VERBOSE=2 "$BPFREE" rules 2>&1 | sed -n 's/^Core: //p' | head -1)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')
if [ "$HAVE_TORCH" = 1 ]; then
    torch_ver="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) (python3-torch $(pkgver python3-torch)), $PY; intra-op threads = --threads, inter-op 1, OpenBLAS threads = --threads, OMP_WAIT_POLICY=$TORCH_WAIT"
else
    torch_ver="not available ($PY -c 'import torch' fails)"
fi
core_env="unset"
[ -n "${OPENBLAS_CORETYPE+x}" ] && core_env="'$OPENBLAS_CORETYPE'"
l2_env="unset"
[ -n "${OPENBLAS_L2_SIZE+x}" ] && l2_env="'$OPENBLAS_L2_SIZE'"

echo "## bpfree vs PyTorch (bench/compare.sh)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- CPU: ${cpu:-unknown}, $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- OpenBLAS: $blas_pkg ${blas_ver:-unknown}, kernel core '${core:-?}' (OPENBLAS_VERBOSE=2); bpfree links libopenblas.so.0, Debian's torch calls sgemm_ through libblas.so.3 -> $blas_link"
echo "- torch: $torch_ver"
echo "- environment in force: OPENBLAS_CORETYPE=$core_env OPENBLAS_L2_SIZE=$l2_env — the script sets neither; bpfree and torch both run in this same environment"
# the machine's limit, measured now: fp32 FMA GFLOP/s per thread count
# (the widest ISA the CPU has), for the "% of peak" column
PEAKS=""
if [ -x "$PEAK" ]; then
    "$PEAK" --threads "$THREADS" --reps 5 --min-ms 200 >"$TMP/peak.md" 2>"$TMP/peak.txt" || true
    PEAKS=$(awk '/^peak / { split($2, i, "="); split($3, t, "="); split($4, g, "=");
                 if (!(t[2] in seen)) { seen[t[2]] = 1; printf "%s:%s ", t[2], g[2] } }' "$TMP/peak.txt")
fi
backend=$("$BPFREE" --version 2>/dev/null | sed -n 's/.*matrix products: \([a-z]*\).*/\1/p')
echo "- bpfree's product library: ${backend:-unknown} (make BLAS=...); oneDNN $(pkgver libdnnl2) reports ISA by CPU detection, not steered by the OpenBLAS variables"
if [ -n "$PEAKS" ]; then
    echo "- machine peak, measured now (build/bench-peak, fp32 FMA on registers, widest ISA, median of 5): $(echo "$PEAKS" | sed 's/\([0-9]*\):\([0-9.]*\)/\1 thread(s) \2 GFLOP\/s,/g; s/, *$//')"
    sed 's/^/  /' "$TMP/peak.md"
else
    echo "- NOTE: $PEAK not built (make bench): no % of peak column"
fi
echo "- $REPS round(s) over all configurations, $EPOCHS epoch(s) per run; in each round every configuration runs bpfree, then torch, each in a fresh process; medians over the rounds"
[ "$QUICK" = 1 ] && echo "- --quick: 1 round, batch 256 (ff, cff-*: 1000), 1 thread"
[ "$HAVE_TORCH" = 0 ] && echo "- NOTE: torch is not importable by $PY: the torch columns are skipped"
[ "$HAVE_PROFILE" = 0 ] && echo "- NOTE: this build of bpfree has no --profile: GFLOP/s and GEMM columns are skipped (s/epoch from its 'final:' line)"
if has_rule infer && [ "$HAVE_INFER" = 0 ]; then
    echo "- NOTE: $INFER not built: the bpfree inference rows are skipped"
fi
echo
echo "progress (stderr):" >&2

# ------------------------------------------------------------------ runs
# One line per run into $RES: "<id> <side> key=value ...", or "<id> <side> fail=1".

run_bpfree() { # id args...
    id=$1; shift
    log=$TMP/$(echo "$id" | tr ' /' '__').bpfree.$rep.log
    prof=
    [ "$HAVE_PROFILE" = 1 ] && prof=--profile
    # --eval-every is left at its default: the CLI evaluates only after
    # training each epoch, outside the epoch time it reports
    if "$BPFREE" train "$@" --epochs "$EPOCHS" --quiet $prof </dev/null >"$log" 2>&1; then
        awk -v id="$id" '
            /^profile: / {
                for (i = 2; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] }
                have = 1
            }
            /^final: [0-9]+ epochs, / { spe_final = $4 }
            END {
                if (have && p["epochs"] > 0 && p["train_seconds"] > 0) {
                    ts = p["train_seconds"]
                    # conv_*: the convolution primitives (CNN rows, oneDNN build)
                    frac = ("products_fraction" in p) ? p["products_fraction"] : p["gemm_fraction"]
                    printf "%s bpfree spe=%.6g gflops=%.6g frac=%.6g alone=%.6g\n", id,
                           ts / p["epochs"], (p["gflop"] + p["conv_gflop"]) / ts, frac,
                           p["gemm_alone_seconds"] / ts
                } else if (spe_final != "") printf "%s bpfree spe=%s\n", id, spe_final
                else printf "%s bpfree fail=1\n", id
            }' "$log" >>"$RES"
    else
        echo "$id bpfree fail=1" >>"$RES"
        echo "  bpfree failed ($id), see $log:" >&2
        tail -n 3 "$log" >&2
    fi
    printf '  %-22s bpfree %s\n' "$id" "$(tail -n 1 "$RES" | cut -d' ' -f3-)" >&2
}

run_torch() { # id args...
    id=$1; shift
    [ "$HAVE_TORCH" = 1 ] || return 0
    log=$TMP/$(echo "$id" | tr ' /' '__').torch.$rep.log
    if OMP_WAIT_POLICY=$TORCH_WAIT "$PY" bench/torch_bench.py "$@" --epochs "$EPOCHS" </dev/null >"$log" 2>&1; then
        awk -v id="$id" '
            /^torch: rule=/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] }; have = 1 }
            END { if (have) printf "%s torch spe=%s\n", id, p["seconds_per_epoch"]
                  else printf "%s torch fail=1\n", id }' "$log" >>"$RES"
    else
        echo "$id torch fail=1" >>"$RES"
        echo "  torch failed ($id), see $log:" >&2
        tail -n 3 "$log" >&2
    fi
    printf '  %-22s torch  %s\n' "$id" "$(tail -n 1 "$RES" | cut -d' ' -f3-)" >&2
}

# inference: one process per side gives both rows (batch 10000 and batch 1)
run_infer() { # threads
    t=$1
    if [ "$HAVE_INFER" = 1 ]; then
        log=$TMP/infer-t$t.bpfree.$rep.log
        if "$INFER" --threads "$t" </dev/null >"$log" 2>&1; then
            # bench-infer prints one batch=10000 line per model batch: take the
            # model built for batch 10,000 (one batch, as torch), else the first;
            # gemm_ratio / gemm_alone_microseconds give the GEMM-alone column
            awk -v t="$t" '
                /^bpfree: infer batch=/ {
                    for (i = 2; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] }
                    if (p["batch"] == 1 && p["microseconds"] != "") {
                        one = sprintf("infer1-t%s bpfree v=%s", t, p["microseconds"])
                        if (p["gemm_alone_microseconds"] != "" && p["microseconds"] > 0)
                            one = one sprintf(" alone=%.6g", p["gemm_alone_microseconds"] / p["microseconds"])
                    } else if (p["batch"] != 1 && p["seconds"] != "" && (big == "" || p["model_batch"] == p["batch"])) {
                        big = sprintf("inferN-t%s bpfree v=%s n=%s", t, p["seconds"], p["batch"])
                        if (p["gemm_ratio"] != "") big = big " alone=" p["gemm_ratio"]
                    }
                    split("", p)
                }
                END { print (big != "" ? big : sprintf("inferN-t%s bpfree fail=1", t))
                      print (one != "" ? one : sprintf("infer1-t%s bpfree fail=1", t))}' "$log" >>"$RES"
        else
            printf 'inferN-t%s bpfree fail=1\ninfer1-t%s bpfree fail=1\n' "$t" "$t" >>"$RES"
            echo "  bench-infer failed, see $log:" >&2
            tail -n 3 "$log" >&2
        fi
        printf '  %-22s bpfree done\n' "infer t$t" >&2
    fi
    if [ "$HAVE_TORCH" = 1 ]; then
        log=$TMP/infer-t$t.torch.$rep.log
        if OMP_WAIT_POLICY=$TORCH_WAIT "$PY" bench/torch_bench.py --infer --threads "$t" </dev/null >"$log" 2>&1; then
            awk -v t="$t" '
                /^torch: infer batch=/ {
                    for (i = 3; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] }
                    if (p["batch"] == 1) { printf "infer1-t%s torch v=%s\n", t, p["microseconds"]; n1 = 1 }
                    else { printf "inferN-t%s torch v=%s n=%s\n", t, p["seconds"], p["batch"]; nN = 1 }
                    split("", p)
                }
                END { if (!nN) printf "inferN-t%s torch fail=1\n", t
                      if (!n1) printf "infer1-t%s torch fail=1\n", t }' "$log" >>"$RES"
        else
            printf 'inferN-t%s torch fail=1\ninfer1-t%s torch fail=1\n' "$t" "$t" >>"$RES"
            echo "  torch inference failed, see $log:" >&2
            tail -n 3 "$log" >&2
        fi
        printf '  %-22s torch  done\n' "infer t$t" >&2
    fi
}

# bpfree options a rule needs beyond its defaults to run the benchmark's net
# (its default net is another), passed to both sides and shown in the table
net_opts() {
    case $1 in
    drtp|f3|llo|dkp|fdfa|fg-w|fg-a|lg-fg-a) echo "--layers 1000,1000" ;;
    *) echo "" ;;
    esac
}

# MNIST's first N training and first 1000 test images as IDX files in
# $TMP/mnist-N (bpfree's --data DIR; torch_bench.py --data DIR)
mnist_subset() { # n
    d=$TMP/mnist-$1
    [ -d "$d" ] && { echo "$d"; return 0; }
    mkdir -p "$d"
    "$PY" - "${BPFREE_DATA:-data}/mnist" "$d" "$1" <<'PYEOF'
import os, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, keep in (("train-images-idx3-ubyte", n), ("train-labels-idx1-ubyte", n),
                   ("t10k-images-idx3-ubyte", 1000), ("t10k-labels-idx1-ubyte", 1000)):
    raw = open(os.path.join(src, name), "rb").read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    per = 1
    for d_ in dims[1:]:
        per *= d_
    keep = min(keep, dims[0])
    head = raw[:4] + keep.to_bytes(4, "big") + raw[8:4 + 4 * ndim]
    open(os.path.join(dst, name), "wb").write(head + raw[4 + 4 * ndim:4 + 4 * ndim + keep * per])
PYEOF
    echo "$d"
}

# the configurations, in table order:
# "id|samples per epoch|bpfree args|torch args|options shown in the table"
CONFIGS=$TMP/configs
: >"$CONFIGS"
for t in $(echo "$THREADS" | tr ',' ' '); do
    for r in $NET_RULES; do
        has_rule "$r" || continue
        o=$(net_opts "$r")
        for b in $BATCHES; do
            echo "$r-b$b-t$t|60000|--rule $r $o --batch $b --threads $t|--rule $r $o --batch $b --threads $t|$o" >>"$CONFIGS"
        done
    done
    # bp, mf, dfa with the BLAS's own threads instead of bpfree's split (the
    # default), for the record (torch: the same twin)
    if [ "$t" -ge 2 ]; then
        for r in bp mf dfa; do
            has_rule "$r" || continue
            for b in $BATCHES; do
                echo "$r.blas-b$b-t$t|60000|--rule $r --threading blas --batch $b --threads $t|--rule $r --batch $b --threads $t|--threading blas" >>"$CONFIGS"
            done
        done
    fi
    # mf with its layers pipelined over the threads (torch: plain mf on as many)
    if has_rule mf && [ "$t" -ge 2 ]; then
        for b in $BATCHES; do
            echo "mfpipe-b$b-t$t|60000|--rule mf --pipeline $t --batch $b --threads $t|--rule mf --batch $b --threads $t|" >>"$CONFIGS"
        done
    fi
    for r in $FF_RULES; do
        has_rule "$r" || continue
        for b in $FF_BATCHES; do
            echo "$r-b$b-t$t|50000|--rule $r --preset cff-paper --greedy 0 --batch $b --threads $t|--rule $r --batch $b --threads $t|" >>"$CONFIGS"
        done
    done
    # ff with its two layers pipelined over two threads, at batch 1000 (at
    # full batch there is one batch per epoch: nothing to overlap)
    if has_rule ff && [ "$t" = 2 ]; then
        b=${FF_BATCHES%% *}
        echo "ffpipe-b$b-t$t|50000|--rule ff --preset cff-paper --greedy 0 --pipeline $t --batch $b --threads $t|--rule ff --batch $b --threads $t|" >>"$CONFIGS"
    fi
    has_rule infer && echo "infer-t$t||||" >>"$CONFIGS"
    # the CNNs (--cnn): RULE.cnn002 / RULE.cnn003, batch 64
    if [ "$CNN" = 1 ]; then
        for net in 002 003; do
            if [ $net = 002 ]; then arch=$CNN002; n=${CNN_SAMPLES%%,*}; else arch=$CNN003; n=${CNN_SAMPLES##*,}; fi
            d=$(mnist_subset "$n")
            for r in bp mf dfa dkp fdfa; do
                has_rule "$r" || continue
                echo "$r.cnn$net-b64-t$t|$n|--rule $r --arch $arch --data $d --batch 64 --threads $t|--rule $r --arch $arch --data $d --batch 64 --threads $t|--arch $arch" >>"$CONFIGS"
            done
        done
    fi
done

if [ "$CNN_ONLY" = 1 ]; then
    grep '^[a-z]*\.cnn00' "$CONFIGS" >"$CONFIGS.cnn" || true
    mv "$CONFIGS.cnn" "$CONFIGS"
fi
if [ ! -s "$CONFIGS" ]; then
    echo "compare.sh: no configuration selected (--rules $RULES; known: $(echo "$KNOWN" | sed 's/ /, /g'))" >&2
    exit 1
fi

# rounds outermost, so that drift in the machine's load hits every
# configuration alike; within a round, each configuration runs bpfree then torch
rep=1
while [ "$rep" -le "$REPS" ]; do
    [ "$REPS" -gt 1 ] && echo " round $rep of $REPS" >&2
    while IFS='|' read -r id _samples bargs targs _shown; do
        case $id in
        infer-t*) run_infer "${id#infer-t}" ;;
        *)
            # shellcheck disable=SC2086 # word splitting of the option lists is intended
            run_bpfree "$id" $bargs
            # shellcheck disable=SC2086
            run_torch "$id" $targs
            ;;
        esac
    done <"$CONFIGS"
    rep=$((rep + 1))
done

# ------------------------------------------------------------------ table
awk -v havetorch="$HAVE_TORCH" -v haveprof="$HAVE_PROFILE" -v haveinfer="$HAVE_INFER" -v peaks="$PEAKS" '
function median(key,    n, i, j, t, a) {
    n = cnt[key]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
function f(v, fmt) { return v == "" ? "–" : sprintf(fmt, v) }
function pk(g, t) { return (g == "" || peak[t] == "") ? "–" : sprintf("%.0f%%", 100 * g / peak[t]) }
function fails(id, side) { return nfail[id, side] ? sprintf(" (%d failed)", nfail[id, side]) : "" }
BEGIN { np_ = split(peaks, pp, " "); for (i = 1; i <= np_; i++) { split(pp[i], kv, ":"); peak[kv[1]] = kv[2] } }
FNR == NR {   # the configs file
    split($0, c, "|"); order[++no] = c[1]; samples[c[1]] = c[2]; shown[c[1]] = c[5]; next
}
{
    id = $1; side = $2
    for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "fail") nfail[id, side]++
        else add(id SUBSEP side SUBSEP kv[1], kv[2])
    }
}
END {
    print "| config | bpfree median s/epoch | torch median s/epoch | ratio bpfree/torch | bpfree samples/s | bpfree achieved GFLOP/s | % of peak | fraction of time in products | GEMM-alone time / step time |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (k = 1; k <= no; k++) {
        id = order[k]
        if (id ~ /^infer-t/) {
            t = substr(id, 8)
            # 784-1000-1000-10: 1,794,000 multiply-adds per image
            for (w = 0; w < 2; w++) {
                rid = (w == 0 ? "inferN-t" : "infer1-t") t
                b = median(rid SUBSEP "bpfree" SUBSEP "v"); q = median(rid SUBSEP "torch" SUBSEP "v")
                nimg = w == 0 ? median(rid SUBSEP "bpfree" SUBSEP "n") : 1
                if (nimg == "") nimg = median(rid SUBSEP "torch" SUBSEP "n")
                if (nimg == "") nimg = 10000
                sec = b == "" ? "" : (w == 0 ? b : b * 1e-6)
                unit = w == 0 ? "s" : "µs"
                label = w == 0 ? sprintf("infer bp, %d images in one batch, t%s (s, not s/epoch)", nimg, t) \
                               : sprintf("infer bp, 1 image, t%s (µs, not s/epoch)", t)
                bs = haveinfer ? f(b, w == 0 ? "%.4f" : "%.1f") fails(rid, "bpfree") : "– (no bench-infer)"
                ts = havetorch ? f(q, w == 0 ? "%.4f" : "%.1f") fails(rid, "torch") : "– (no torch)"
                al = median(rid SUBSEP "bpfree" SUBSEP "alone")
                gi = sec != "" ? 2 * 1794000 * nimg / sec * 1e-9 : ""
                printf "| %s | %s | %s | %s | %s | %s | %s | – | %s |\n", label, bs, ts,
                       (b != "" && q != "" && q > 0) ? sprintf("%.2f", b / q) : "–",
                       sec != "" ? sprintf("%.0f", nimg / sec) : "–",
                       f(gi, "%.1f"), pk(gi, t), f(al, "%.2f")
            }
            continue
        }
        b = median(id SUBSEP "bpfree" SUBSEP "spe"); q = median(id SUBSEP "torch" SUBSEP "spe")
        g = median(id SUBSEP "bpfree" SUBSEP "gflops"); fr = median(id SUBSEP "bpfree" SUBSEP "frac")
        al = median(id SUBSEP "bpfree" SUBSEP "alone")
        # id = RULE-bB-tT, RULE may hold dashes (fg-w, cff-fixed)
        np = split(id, p, "-")
        rule = p[1]
        for (i = 2; i <= np - 2; i++) rule = rule "-" p[i]
        nb_ = substr(p[np - 1], 2); nt = substr(p[np], 2)
        label = sprintf("%s%s, batch %s, %s thread%s", rule, shown[id] != "" ? " `" shown[id] "`" : "",
                        nb_, nt, nt == "1" ? "" : "s")
        if (rule ~ /\.cnn00[23]$/) label = substr(label, 1, length(rule) - 7) substr(label, length(rule) + 1) sprintf(" (epoch of %d samples)", samples[id])
        if (rule ~ /\.blas$/) label = substr(label, 1, length(rule) - 5) substr(label, length(rule) + 1)
        if (rule == "ff" || rule ~ /^cff-/) label = label " (cff-paper net)"
        if (rule == "mfpipe") label = "mf --pipeline " nt substr(label, 7) " (torch: plain mf)"
        if (rule == "ffpipe") label = "ff --pipeline " nt substr(label, 7) " (cff-paper net; torch: plain ff)"
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label,
               f(b, "%.3f") fails(id, "bpfree"),
               havetorch ? f(q, "%.3f") fails(id, "torch") : "– (no torch)",
               (b != "" && q != "" && q > 0) ? sprintf("%.2f", b / q) : "–",
               (b != "" && b > 0) ? sprintf("%.0f", samples[id] / b) : "–",
               f(g, "%.1f"), pk(g, nt), f(fr, "%.2f"), f(al, "%.2f")
    }
}' "$CONFIGS" "$RES"

echo
echo "Columns: s/epoch = training time of one epoch (ff, cff-*: 50,000 samples; the others 60,000), evaluation and data loading excluded, median over the reps; ratio < 1: bpfree is faster. bpfree's GFLOP/s, GEMM fraction and GEMM-alone come from its --profile line: matmul and convolution FLOPs (2MNK summed) / train seconds; time inside matrix products and convolution primitives / train seconds; the same GEMM shapes replayed alone / train seconds. % of peak = achieved GFLOP/s / the machine peak on as many threads, measured at the start of this run by build/bench-peak. Inference rows: bpfree from build/bench-infer (the model built for batch 10,000, so one call is one batch, as in torch), torch under torch.no_grad(); samples/s and GFLOP/s there from the bpfree time, GEMM-alone from bench-infer (the same products alone / predict time)."
if [ "$KEEP" = 1 ]; then echo; echo "raw logs: $TMP"; fi
