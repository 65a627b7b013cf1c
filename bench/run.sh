#!/bin/sh
# One epoch of BP and MF on MNIST, 784-1000-1000-10, batch 64 and 256, 1 and 2
# threads, median of 3 rounds; prints a Markdown table for BENCHMARKS.md.
set -eu
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
./build/bench-epoch --reps "${REPS:-3}" --rules "${RULES:-bp,mf,dfa}" --batches 64,256 --threads 1,2
