#!/bin/sh
# bench/plot.sh — the benchmark plots, drawn by gnuplot (scripts/setup.sh
# installs Debian's gnuplot-nox) from bench/plot.gp; replaces bench/plot.awk's
# hand-written SVG.  Writes OUT.svg and OUT.png.
#
#   sh bench/plot.sh memory TSV OUT [WIDTH BATCH]
#     Memory (MiB) against the number of hidden layers, one colour per rule:
#     solid = the library allocator's peak (peak_bytes), dashed = the
#     process's peak RSS (rss_peak_kib).  TSV: bench/memory.sh's, first line
#     the column names (found by name).  Only rows of the given width and
#     batch (default: the first data row's) are drawn.
#   sh bench/plot.sh bars TSV OUT [TITLE] [UNIT]
#     One horizontal bar per line "label<TAB>value[<TAB>group]", in file
#     order, coloured by group.
# Without gnuplot it says so and exits 0 (the tables are what matter).
set -eu
mode=$1 tsv=$2 out=$3
command -v gnuplot >/dev/null 2>&1 || {
    echo "bench/plot.sh: gnuplot is not installed (apt-get install gnuplot-nox): no $out.svg" >&2
    exit 0
}
dat=$out.dat
case $mode in
memory)
    # blocks "depth peak_mib rss_mib" per rule, separated by two blank lines; titles beside
    awk -F'\t' -v width="${4:-}" -v batch="${5:-}" -v titles="$out.titles" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        width == "" { width = $(c["width"]); batch = $(c["batch"]) }
        $(c["width"]) != width || $(c["batch"]) != batch { next }
        { r = $(c["rule"]); if (!(r in seen)) { seen[r] = ++nr; name[nr] = r }
          k = seen[r]; n[k]++; d[k, n[k]] = $(c["depth"]) + 0
          p[k, n[k]] = $(c["peak_bytes"]) / 1048576
          s[k, n[k]] = ("rss_peak_kib" in c) ? $(c["rss_peak_kib"]) / 1024 : "NaN" }
        END {
            for (k = 1; k <= nr; k++) {
                if (k > 1) printf "\n\n"
                for (i = 1; i <= n[k]; i++) {   # sorted by depth
                    m = i; for (j = i + 1; j <= n[k]; j++) if (d[k, j] < d[k, m]) m = j
                    t = d[k, i]; d[k, i] = d[k, m]; d[k, m] = t
                    t = p[k, i]; p[k, i] = p[k, m]; p[k, m] = t
                    t = s[k, i]; s[k, i] = s[k, m]; s[k, m] = t
                    printf "%d %.3f %s\n", d[k, i], p[k, i], s[k, i]
                }
                print name[k] > titles
            }
            printf "hidden layers of %s, batch %s\n", width, batch > (titles ".where")
        }' "$tsv" > "$dat"
    gnuplot -e "mode='memory'; data='$dat'; titles='$out.titles'; out='$out'; \
        plottitle='Peak memory vs depth ('.system('cat \"$out.titles.where\"').')'" bench/plot.gp
    rm -f "$out.titles.where" ;;
bars)
    grep -v '^#' "$tsv" | awk -F'\t' 'NF >= 2 && $2 + 0 > 0 {
        g = NF >= 3 ? $3 : "all"; if (!(g in gi)) gi[g] = ++ng
        printf "%s\t%s\t%d\t%s\n", $1, $2, gi[g], g }' > "$dat"
    gnuplot -e "mode='bars'; data='$dat'; out='$out'; plottitle='${4:-}'; unit='${5:-}'" \
        bench/plot.gp ;;
*) echo "bench/plot.sh: mode must be memory or bars" >&2; exit 2 ;;
esac
rm -f "$dat" "$out.titles"
echo "bench/plot.sh: wrote $out.svg and $out.png"
