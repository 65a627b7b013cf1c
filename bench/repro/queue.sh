#!/bin/sh
# bench/repro/queue.sh — run a file of commands (one a line, as pending.sh
# prints them) on J workers, each taking the file's first line under a lock
# until the file is empty.  Lines can be appended, removed or reordered while
# it runs; a worker reads the next line only when its run ends.  Every start
# and end (with the exit code) goes to FILE.done.  Run from the repository
# root; stop with `kill -- -PID` of the whole group (a run with --checkpoint
# resumes where it was: pending.sh lists it again with --resume).
#
#   sh bench/repro/pending.sh 1,2,3 "003 Table 2" > /tmp/cmds
#   sh bench/repro/queue.sh -j 2 /tmp/cmds
set -eu
jobs=1
if [ "${1:-}" = "-j" ]; then jobs=$2; shift 2; fi
[ $# -eq 1 ] || { echo "usage: queue.sh [-j N] FILE" >&2; exit 2; }
file=$1
[ -f "$file" ] || { echo "queue.sh: no such file: $file" >&2; exit 2; }
command -v flock >/dev/null || { echo "queue.sh: needs flock (util-linux)" >&2; exit 2; }
lock="$file.lock"
: >> "$lock"

# the file's first non-empty line, removed from it, under the lock
next() {
    flock "$lock" sh -c 'l=$(grep -m1 . "$1" || true)
        [ -n "$l" ] && { awk -v l="$l" "!d && \$0 == l { d = 1; next } 1" "$1" > "$1.tmp" && mv "$1.tmp" "$1"; }
        printf "%s\n" "$l"' sh "$file"
}

worker() {
    while :; do
        line=$(next)
        [ -n "$line" ] || break
        echo "$(date -u +%FT%TZ) worker $1 start $line" >> "$file.done"
        rc=0
        sh -c "$line" || rc=$?
        echo "$(date -u +%FT%TZ) worker $1 rc=$rc $line" >> "$file.done"
    done
}

i=1
while [ "$i" -le "$jobs" ]; do
    worker "$i" &
    i=$((i + 1))
done
wait
