#!/bin/sh
# bench/repro/stage_logs.sh — `git add` the finished experiment logs under
# bench/results: every JSON-lines log, new or modified (a partial log
# committed earlier and since rerun to its end), whose last line is bpfree's
# "final" object, with its .txt beside it.  A log still being written, or
# stopped with a checkpoint, is left alone, so a commit never catches a run
# midway.  Run from the repository root; then `make reproduction`.
set -eu
n=0
for f in $( (git ls-files --others --exclude-standard bench/results; git ls-files -m bench/results) | grep '\.jsonl$'); do
    tail -n 1 "$f" | grep -q '"type": "final"' || continue
    git add "$f"
    t="${f%.jsonl}.txt"
    [ -f "$t" ] && git add "$t"
    n=$((n + 1))
done
echo "stage_logs: $n finished logs staged"
