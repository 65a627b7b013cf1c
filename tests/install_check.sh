#!/bin/sh
# tests/install_check.sh STAGE BUILD — what a user of the installed library
# does (run by `make install-check`, after `make install PREFIX=STAGE`):
#   1. the shared library has its SONAME and exports only bpfree_* symbols;
#   2. `cc $(pkg-config --cflags --libs bpfree) examples/train_mnist.c` builds
#      against the installed library and the program runs (one MNIST epoch);
#   3. the installed man page and the installed bpfree run;
#   4. the Python module's tests pass against the installed library
#      (Debian's /usr/bin/python3 with python3-numpy, not a pyenv python).
# Ends with "install-check: N passed, 0 failed"; exits non-zero on a failure.
set -u
stage=$1
build=$2
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "install-check: ok: $1"; }
bad() { fail=$((fail + 1)); echo "install-check: FAILED: $1"; }
so=$stage/lib/libbpfree.so.0

readelf -d "$so" 2>/dev/null | grep -q 'SONAME.*\[libbpfree.so.0\]' && ok "SONAME libbpfree.so.0" \
    || bad "no SONAME libbpfree.so.0 in $so"
n=$(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | grep -c '^bpfree_')
others=$(nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | grep -v '^bpfree_' | head -5)
if [ -z "$others" ] && [ "$n" -gt 50 ]; then ok "$n symbols exported, all bpfree_*"
else bad "exported: $n bpfree_* symbols, and others: $others"; fi

export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
exe=$build/example-installed
rm -f "$exe"
# the very command of issue 18 / the README
if cc $(pkg-config --cflags --libs bpfree) examples/train_mnist.c -o "$exe" 2>"$exe.log"; then
    ok "cc \$(pkg-config --cflags --libs bpfree) examples/train_mnist.c"
else bad "building the example against $stage: $(cat "$exe.log")"; fi
if [ -x "$exe" ]; then
    ldd "$exe" | grep -q "$stage/lib/libbpfree.so.0" && ok "the example uses the installed libbpfree.so.0" \
        || bad "the example does not load $so: $(ldd "$exe" | grep bpfree)"
    if [ -e data/mnist ] || [ -n "${BPFREE_DATA:-}" ]; then
        out=$("$exe" drtp 1 2>&1)
        if echo "$out" | grep -q "test accuracy"; then ok "the example trains: $(echo "$out" | tail -n 1)"
        else bad "the example failed: $out"; fi
    else echo "install-check: skipped running the example (no data/mnist: scripts/fetch-data.sh)"; fi
fi

[ -s "$stage/share/man/man1/bpfree.1" ] && grep -q '^\.TH BPFREE 1' "$stage/share/man/man1/bpfree.1" \
    && grep -q 'ff\\-peer' "$stage/share/man/man1/bpfree.1" && ok "man page with the settings table" \
    || bad "man page missing or without the settings"
"$stage/bin/bpfree" presets hinton | cmp -s - "$stage/share/bpfree/presets/hinton.conf" \
    && ok "installed bpfree and presets" || bad "installed bpfree presets hinton differs from the file"

py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c 'import numpy' 2>/dev/null; then
    if BPFREE_DATA="${BPFREE_DATA:-$(pwd)/data}" BPFREE_LIB="$so" BPFREE_BIN="$stage/bin/bpfree" "$py" "$stage/share/bpfree/python/test_bpfree.py" \
        >"$build/python-test.log" 2>&1; then
        ok "python tests ($(grep '^Ran' "$build/python-test.log"))"
    else bad "python tests: $(tail -n 20 "$build/python-test.log")"; fi
else bad "no /usr/bin/python3 with numpy (Debian: python3-numpy; scripts/setup.sh installs it)"; fi

echo "install-check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
