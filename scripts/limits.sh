#!/bin/sh
# scripts/limits.sh — the size limits of src/ (CONTRIBUTING.md): no file over
# 500 lines, no function over 60 (counted from the line that opens it to its
# closing brace; brace-initialised tables are not functions).  Prints each
# breach and exits 1 if there is one.
cd "$(dirname "$0")/.."
bad=0
for f in src/*/*.c src/*/*.h; do
    n=$(wc -l <"$f")
    if [ "$n" -gt 500 ]; then echo "limits: $f has $n lines (> 500)"; bad=1; fi
done
for f in src/*/*.c; do
    awk -v f="$f" '
        depth == 0 && /^[A-Za-z].*\)[ \t]*\{[ \t]*$/ && !/=/ { start = NR; name = $0 }
        { o = gsub(/\{/, "{"); c = gsub(/\}/, "}"); depth += o - c }
        depth == 0 && start && /\}/ {
            if (NR - start + 1 > 60) { printf "limits: %s:%d: %d lines: %s\n", f, start, NR - start + 1, name; bad = 1 }
            start = 0
        }
        END { exit bad }' "$f" || bad=1
done
[ "$bad" -eq 0 ] && echo "limits: ok (files <= 500 lines, functions <= 60)"
exit "$bad"
