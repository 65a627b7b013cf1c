#!/bin/sh
# bench/repro/pending.sh — the runs REPRODUCTION.md still lacks, as commands.
#
#   sh bench/repro/pending.sh [SEEDS] [PATTERN] [BIN]
#
# For every cell of bench/repro/cells.tsv whose cell name or paper matches
# the grep pattern PATTERN (default: all) and every seed in SEEDS (comma
# list, default 1,2,3): the cell's command with S = the seed, `bpfree`
# replaced by BIN (default ./build/bpfree) and its output kept beside the
# log (LOG.txt; its folder made first), unless that seed's log exists and ends with its "final"
# line; a run whose --checkpoint file exists (stopped midway) is resumed
# from it, its output appended.  Cells without data here (glob "-"), `bpfree compare` cells, and
# cells sharing a log with one already listed (mf's last layer) are
# skipped; a probe cell (its note begins "probe:", one seed by design) gets
# only the first seed of SEEDS.  One command a line, cheapest data set first within a cell as
# listed; feed them to a queue or a shell.  Run from the repository root.
set -eu
want_rule=$(cat "$(dirname "$0")/want.awk")
seeds=${1:-1,2,3}
pat=${2:-.}
bin=${3:-./build/bpfree}
cells=bench/repro/cells.tsv
# a log is a result when it ends with its "final" line, or (logs written
# before bpfree wrote that line) when its last epoch reached the header's
# "epochs", or it has epochs and no header (older logs): table.sh's test
finished() {
    awk '/"type": "final"/ { f = 1 }
    '"$want_rule"'
    /"epoch": [0-9]+/ { f = 0; match($0, /"epoch": [0-9]+/); e = substr($0, RSTART + 9, RLENGTH - 9) + 0 }
    END { exit !(f || (e > 0 && (want == 0 || e >= want))) }' "$1"
}
grep -v '^#' "$cells" | grep -v '^[[:space:]]*$' | grep -e "$pat" |
while IFS='	' read -r paper cell value tol glob cmd note; do
    [ "$glob" = "-" ] && continue
    case $cmd in "bpfree train "*) ;; *) continue ;; esac
    ss=$(echo "$seeds" | tr ',' ' ')
    case $note in probe:*) ss=${ss%% *} ;; esac
    for s in $ss; do
        c=$(printf "%s\n" "$cmd" | sed "s/--seed S\b/--seed $s/; s/-sS\./-s$s./g")
        log=$(printf '%s\n' "$c" | sed -n 's/.*--log \([^ ]*\).*/\1/p')
        [ -n "$log" ] || continue
        if [ -f "$log" ] && finished "$log"; then continue; fi
        ck=$(printf '%s\n' "$c" | sed -n 's/.*--checkpoint \([^ ]*\).*/\1/p')
        if [ -n "$ck" ] && [ -f "$ck" ]; then # a checkpointed run stopped midway: go on
            every=$(printf '%s\n' "$c" | sed -n 's/.*--checkpoint-every \([0-9]*\).*/\1/p')
            printf '%s train --resume %s --checkpoint %s%s >> %s 2>&1\n' "$bin" "$ck" "$ck" \
                "${every:+ --checkpoint-every $every}" "${log%.jsonl}.txt"
            continue
        fi
        printf 'mkdir -p %s && %s > %s 2>&1\n' "$(dirname "$log")" \
            "$(printf '%s\n' "$c" | sed "s#^bpfree #$bin #")" "${log%.jsonl}.txt"
    done
done | awk '!seen[$0]++'
