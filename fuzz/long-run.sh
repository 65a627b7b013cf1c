#!/bin/sh
# A long fuzzing run, one harness after another (one CPU), for TESTING.md:
#   sh fuzz/long-run.sh SECONDS_PER_HARNESS [harness ...]
# New inputs go to build-fuzz/corpus-NAME (kept between runs), logs to
# build-fuzz/long-NAME.log; prints each harness's executions and result.
set -u
secs=${1:-600}; shift
names=${*:-"csv model idx cli"}
make fuzz-build >/dev/null || exit 1
total=0
for n in $names; do
    mkdir -p build-fuzz/corpus-$n
    build-fuzz/fuzz_$n -max_total_time=$secs -rss_limit_mb=512 -timeout=10 -print_final_stats=1 \
        -artifact_prefix=build-fuzz/crash-$n- build-fuzz/corpus-$n fuzz/corpus/$n \
        >build-fuzz/long-$n.log 2>&1
    rc=$?
    ex=$(sed -n 's/^stat::number_of_executed_units: *//p' build-fuzz/long-$n.log)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' build-fuzz/long-$n.log)
    total=$((total + ${ex:-0}))
    echo "$n: ${secs}s exit=$rc executions=${ex:-?} peak_rss_mb=${rss:-?} corpus=$(ls build-fuzz/corpus-$n | wc -l)"
done
echo "total executions: $total"
