#!/bin/sh
# tests/mpi.sh AGREE LAYERS MPIRUN [RULE] — the data-parallel agreement test
# (tests/dist/agree.c) and the layer-parallel one (tests/dist/layers.c)
# under mpirun with 1, 2 and 4 ranks (oversubscribed: CI machines have 2
# cores), and each once more with 4 ranks to check that a second job gives
# the same digests.  Prints every run's output, then one cmocka summary of
# all of them for tests/run.sh.  As root, mpirun needs --allow-run-as-root.
agree=$1; layers=$2; mpirun=$3; rule=${4:-}
opts="--oversubscribe"
[ "$(id -u)" -eq 0 ] && opts="$opts --allow-run-as-root"
# ASan's leak check reports Open MPI's own allocations
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}; export ASAN_OPTIONS
# shared-memory transport only: no network needed on a CI machine
OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}; export OMPI_MCA_btl
# oversubscribed ranks yield the core while they wait for a message
OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}; export OMPI_MCA_mpi_yield_when_idle
passed=0; failed=0
run() { # run N BINARY
    out=$(timeout 600 "$mpirun" $opts -np "$1" "$2" $rule 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    [ -n "$p" ] || p=0
    [ -n "$f" ] || f=0
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "mpi.sh: $2, $1 rank(s): exited with status $rc without a failure count"; f=1
    fi
    passed=$((passed + p)); failed=$((failed + f))
}
for bin in "$agree" "$layers"; do
    for n in 1 2 4; do run "$n" "$bin"; done
    first=$(printf '%s\n' "$out")
    run 4 "$bin"
    if [ "$(printf '%s\n' "$first" | grep digest)" = "$(printf '%s\n' "$out" | grep digest)" ]; then
        echo "mpi.sh: $bin, 4 ranks, two jobs: the same digests"; passed=$((passed + 1))
    else
        echo "mpi.sh: $bin, 4 ranks, two jobs: the digests differ"; failed=$((failed + 1))
    fi
done
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || echo "[  FAILED  ] $failed test(s)."
[ "$failed" -eq 0 ]
