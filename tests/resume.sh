#!/bin/sh
# Runs that survive (issue 17), end to end with the real command on MNIST:
#   1. SIGKILL at a random moment after the first checkpoint, then
#      `train --resume`: the saved model equals the uninterrupted run's,
#      byte for byte (parameters, state, header);
#   2. SIGINT: exit code 130, a log of whole JSON lines ending in a "stop"
#      line, a saved model that `eval` reads, a checkpoint from which the
#      run resumes to the same bytes again;
#   3. the same pipelined (mf --pipeline 2).
# usage: sh tests/resume.sh [BPFREE_BINARY]      (prints "resume: N passed, M failed")
set -u
B=${1:-${BPFREE_BIN:-build/bpfree}}
T=$(mktemp -d "${TMPDIR:-/tmp}/bpfree-resume.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "resume: ok: $1"; }
bad() { fail=$((fail + 1)); echo "resume: FAILED: $1"; }
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

check_run() { # name, training options...
    name=$1; shift
    "$B" train "$@" --save "$T/$name-straight.bpf" --quiet >/dev/null 2>&1 || { bad "$name: straight run"; return; }
    # 1. SIGKILL after the first checkpoint, at a random moment
    "$B" train "$@" --checkpoint "$T/$name-k.ckpt" --save "$T/$name-k.bpf" --quiet >/dev/null 2>&1 &
    pid=$!
    i=0; while [ ! -f "$T/$name-k.ckpt" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    sleep "0.$(( $(rand) % 10 ))"
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    "$B" train --resume "$T/$name-k.ckpt" --quiet >/dev/null 2>&1 || { bad "$name: resume after SIGKILL"; return; }
    if cmp -s "$T/$name-straight.bpf" "$T/$name-k.bpf"; then ok "$name: SIGKILL + resume = uninterrupted run"
    else bad "$name: SIGKILL + resume differs from the uninterrupted run"; fi
    ls "$T" | grep -q '\.tmp\.' && bad "$name: temporary files left: $(ls "$T" | grep '\.tmp\.')"
    # 2. SIGINT
    "$B" train "$@" --checkpoint "$T/$name-i.ckpt" --log "$T/$name-i.jsonl" --save "$T/$name-i.bpf" >"$T/$name-i.out" 2>&1 &
    pid=$!
    i=0; while ! grep -q '"type": "epoch"' "$T/$name-i.jsonl" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    sleep "0.$(( $(rand) % 5 ))"
    kill -0 $pid 2>/dev/null || bad "$name: the run ended before SIGINT (make it longer)"
    kill -INT $pid; wait $pid; rc=$?
    [ $rc -eq 130 ] && ok "$name: SIGINT exits 130" || bad "$name: SIGINT exit status $rc (want 130)"
    tail -n 1 "$T/$name-i.jsonl" | grep -q '"type": "stop"' && ok "$name: the log ends in a stop line" \
        || bad "$name: the log's last line is not a stop line: $(tail -n 1 "$T/$name-i.jsonl")"
    head -n 1 "$T/$name-i.jsonl" | grep -q '"type": "header".*"checksum"' && ok "$name: the log starts with its header" \
        || bad "$name: no header line"
    "$B" eval "$T/$name-i.bpf" >/dev/null 2>&1 && ok "$name: the model saved at SIGINT loads and evaluates" \
        || bad "$name: eval of the model saved at SIGINT"
    "$B" train --resume "$T/$name-i.ckpt" --save "$T/$name-i2.bpf" --quiet >/dev/null 2>&1 || { bad "$name: resume after SIGINT"; return; }
    cmp -s "$T/$name-straight.bpf" "$T/$name-i2.bpf" && ok "$name: SIGINT + resume = uninterrupted run" \
        || bad "$name: SIGINT + resume differs from the uninterrupted run"
}

# 20 epochs of these small nets last a few seconds: far longer than the
# random wait before a signal (at most 0.9 s), so the signal always lands in
# a running process (with 3 epochs a fast machine finished first)
check_run bp --rule bp --data mnist --layers 32 --epochs 20 --threads 1
check_run f3-t2 --rule f3 --data mnist --layers 32 --epochs 20 --threads 2
check_run mf-pipe --rule mf --data mnist --layers 32,32 --epochs 20 --threads 2 --pipeline 2
echo "resume: $pass passed, $fail failed"
[ $fail -eq 0 ]
