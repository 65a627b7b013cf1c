# bench/plot.awk — SVG plots for BENCHMARKS.md, with nothing but a POSIX awk
# (mawk or gawk).  Writes the SVG on stdout.
#
#   awk -v mode=memory [-v width=1000 -v batch=10000] [-v title=...] \
#       -f bench/plot.awk bench/out/memory.tsv > bench/out/memory.svg
#     Memory (MiB) against the number of hidden layers, one colour per rule:
#     solid line = the library allocator's peak (peak_bytes), dashed = the
#     process's peak RSS (rss_peak_kib).  Input: the TSV bench/memory.sh
#     writes (first line = column names, as `build/bench-memory
#     --tsv-header` prints them; the columns are found by name).  Only rows
#     with the given width and batch are drawn (default: those of the first
#     data row), so the 5x2000 @ 30,000 row does not land on the curves.
#
#   awk -v mode=bars [-v title=...] [-v unit="s / epoch"] \
#       -f bench/plot.awk epochs.tsv > epochs.svg
#     One horizontal bar per line, in file order, with its value written at
#     the bar's end.  Input format (tab-separated, one bar per line):
#         label<TAB>seconds
#     label may contain spaces (e.g. "bp b64 t1"); seconds is a number > 0.
#     Blank lines, lines starting with '#', and a header line whose second
#     field is not a number (e.g. "label<TAB>seconds") are skipped.  An
#     optional third column is a group name: bars of the same group share a
#     colour and the legend lists the groups (e.g. the rule, when labels are
#     "bp b64", "bp b256", ...).
#
# The SVG is plain SVG 1.1 (lines, paths, circles, rects, text), valid XML;
# labels are escaped.
BEGIN {
    FS = "\t"
    if (mode == "") mode = "memory"
    W = 760; H = 480
    ML = 78; MR = 190; MT = 48; MB = 62
    PW = W - ML - MR; PH = H - MT - MB
    ncol = split("#1f77b4 #d62728 #2ca02c #ff7f0e #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf", COL, " ")
    nr = 0; nrow = 0
}

function esc(s) {
    gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s)
    return s
}
function isnum(s) { return s ~ /^[ ]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?[ ]*$/ }
function floor_(x) { return x == int(x) ? x : (x < 0 ? int(x) - 1 : int(x)) }
# a "nice" tick step for a range of `span` with about `n` ticks: 1, 2 or 5 x 10^k
function nicestep(span, n,    raw, p, f) {
    if (span <= 0) return 1
    raw = span / n
    p = exp(log(10) * floor_(log(raw) / log(10)))
    f = raw / p
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p
}
function fmt(v, step) {
    if (step >= 1) return sprintf("%d", v + (v < 0 ? -0.5 : 0.5))
    if (step >= 0.1) return sprintf("%.1f", v)
    return sprintf("%.2f", v)
}
function header(t) {
    printf "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"13\">\n", W, H, W, H
    printf "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H
    printf "<text x=\"%d\" y=\"26\" font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">%s</text>\n", ML + PW / 2, esc(t)
}
function frame() {
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", ML, MT, PW, PH
}
function sx(x) { return ML + (x - X0) / (X1 - X0) * PW }
function sy(y) { return MT + PH - (y - Y0) / (Y1 - Y0) * PH }

# ------------------------------------------------------------- reading
mode == "memory" && nr == 0 {
    for (i = 1; i <= NF; i++) c[$i] = i
    if (!("rule" in c) || !("depth" in c) || !("peak_bytes" in c)) {
        print "plot.awk: " FILENAME ": first line must name the columns (rule, depth, peak_bytes, ...)" > "/dev/stderr"
        bad = 1; exit 1
    }
    nr = 1; next
}
mode == "memory" {
    if ($0 == "" || substr($0, 1, 1) == "#") next
    if (width == "") width = $(c["width"])
    if (batch == "") batch = $(c["batch"])
    if ($(c["width"]) != width || $(c["batch"]) != batch) next
    r = $(c["rule"])
    if (!(r in ridx)) { nrules++; ridx[r] = nrules; rname[nrules] = r }
    nrow++
    prule[nrow] = r; px[nrow] = $(c["depth"]) + 0
    ppeak[nrow] = $(c["peak_bytes"]) / 1048576
    prss[nrow] = ("rss_peak_kib" in c) ? $(c["rss_peak_kib"]) / 1024 : -1
    next
}
mode == "bars" {
    if ($0 == "" || substr($0, 1, 1) == "#") next
    if (!isnum($2)) next
    nrow++
    blab[nrow] = $1; bval[nrow] = $2 + 0
    g = (NF >= 3 && $3 != "") ? $3 : ""
    bgrp[nrow] = g
    if (g != "" && !(g in gidx)) { ngroups++; gidx[g] = ngroups; gname[ngroups] = g }
    next
}

# ------------------------------------------------------------- drawing
END {
    if (bad) exit 1
    if (nrow == 0) { print "plot.awk: no data to plot (mode=" mode ")" > "/dev/stderr"; exit 1 }
    if (mode == "memory") plot_memory()
    else if (mode == "bars") plot_bars()
    else { print "plot.awk: unknown mode " mode > "/dev/stderr"; exit 1 }
}

function plot_memory(    i, k, ymax, xmax, xs, ys, v, d, first, col, ly, n, ord, j, t) {
    if (title == "") title = "Peak memory vs depth (hidden layers of " width ", batch " batch ")"
    xmax = 0; ymax = 0
    for (i = 1; i <= nrow; i++) {
        if (px[i] > xmax) xmax = px[i]
        if (ppeak[i] > ymax) ymax = ppeak[i]
        if (prss[i] > ymax) ymax = prss[i]
    }
    xs = nicestep(xmax, 8); X0 = 0; X1 = xs * (int(xmax / xs) + (xmax % xs > 0 ? 1 : 0)); if (X1 <= 0) X1 = 1
    ys = nicestep(ymax, 6); Y0 = 0; Y1 = ys * (int(ymax / ys) + 1)
    header(title)
    axes(xs, ys, "hidden layers", "peak memory (MiB)")
    for (k = 1; k <= nrules; k++) {
        col = COL[(k - 1) % ncol + 1]
        # this rule's points sorted by depth (insertion sort)
        n = 0
        for (i = 1; i <= nrow; i++) if (prule[i] == rname[k]) {
            n++; ord[n] = i
            for (j = n; j > 1 && px[ord[j - 1]] > px[ord[j]]; j--) { t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t }
        }
        d = ""; first = 1
        for (j = 1; j <= n; j++) { d = d (first ? "M" : " L") sprintf("%.1f %.1f", sx(px[ord[j]]), sy(ppeak[ord[j]])); first = 0 }
        printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", d, col
        for (j = 1; j <= n; j++)
            printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", sx(px[ord[j]]), sy(ppeak[ord[j]]), col
        if (prss[ord[1]] >= 0) {
            d = ""; first = 1
            for (j = 1; j <= n; j++) { d = d (first ? "M" : " L") sprintf("%.1f %.1f", sx(px[ord[j]]), sy(prss[ord[j]])); first = 0 }
            printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n", d, col
        }
        ly = MT + 14 + (k - 1) * 22
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n", ML + PW + 16, ly, ML + PW + 44, ly, col
        printf "<circle cx=\"%d\" cy=\"%d\" r=\"3.5\" fill=\"%s\"/>\n", ML + PW + 30, ly, col
        printf "<text x=\"%d\" y=\"%d\">%s</text>\n", ML + PW + 52, ly + 4, esc(rname[k])
    }
    ly = MT + 14 + nrules * 22 + 12
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\" stroke-width=\"2\"/>\n", ML + PW + 16, ly, ML + PW + 44, ly
    printf "<text x=\"%d\" y=\"%d\" font-size=\"11\">allocator peak</text>\n", ML + PW + 52, ly + 4
    ly += 20
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n", ML + PW + 16, ly, ML + PW + 44, ly
    printf "<text x=\"%d\" y=\"%d\" font-size=\"11\">peak RSS (process)</text>\n", ML + PW + 52, ly + 4
    print "</svg>"
}

# ticks, grid, labels; X0..X1, Y0..Y1 set
function axes(xs, ys, xlabel, ylabel,    v) {
    for (v = Y0; v <= Y1 + ys / 1000; v += ys) {
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", ML, sy(v), ML + PW, sy(v)
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n", ML - 5, sy(v), ML, sy(v)
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML - 8, sy(v) + 4, fmt(v, ys)
    }
    if (xs > 0) for (v = X0; v <= X1 + xs / 1000; v += xs) {
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#dddddd\"/>\n", sx(v), MT, sx(v), MT + PH
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", sx(v), MT + PH, sx(v), MT + PH + 5
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", sx(v), MT + PH + 20, fmt(v, xs)
    }
    frame()
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", ML + PW / 2, H - 16, esc(xlabel)
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">%s</text>\n", 20, MT + PH / 2, 20, MT + PH / 2, esc(ylabel)
}

function plot_bars(    i, vmax, xs, bh, gap, y, col, k, maxlab, lw, v) {
    if (title == "") title = "Seconds per epoch"
    if (unit == "") unit = "seconds per epoch"
    vmax = 0; maxlab = 0
    for (i = 1; i <= nrow; i++) {
        if (bval[i] > vmax) vmax = bval[i]
        if (length(blab[i]) > maxlab) maxlab = length(blab[i])
    }
    # room for the labels on the left; one bar row of 26 px
    ML = 16 + 7 * maxlab; if (ML < 60) ML = 60
    MR = ngroups > 0 ? 150 : 40
    H = MT + MB + 26 * nrow + 10; if (H < 200) H = 200
    PW = W - ML - MR; PH = H - MT - MB
    xs = nicestep(vmax, 6); X0 = 0; X1 = xs * (int(vmax / xs) + 1)
    Y0 = 0; Y1 = 1
    header(title)
    for (v = X0; v <= X1 + xs / 1000; v += xs) {
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#dddddd\"/>\n", sx(v), MT, sx(v), MT + PH
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", sx(v), MT + PH, sx(v), MT + PH + 5
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", sx(v), MT + PH + 20, fmt(v, xs)
    }
    bh = 18; gap = (PH - nrow * bh) / (nrow + 1)
    for (i = 1; i <= nrow; i++) {
        y = MT + gap + (i - 1) * (bh + gap)
        k = bgrp[i] != "" ? gidx[bgrp[i]] : 1
        col = COL[(k - 1) % ncol + 1]
        printf "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", ML, y, sx(bval[i]) - ML, bh, col
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML - 6, y + bh / 2 + 4, esc(blab[i])
        printf "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%s</text>\n", sx(bval[i]) + 4, y + bh / 2 + 4, sprintf(bval[i] < 10 ? "%.2f" : "%.1f", bval[i])
    }
    frame()
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", ML + PW / 2, H - 16, esc(unit)
    for (k = 1; k <= ngroups; k++) {
        col = COL[(k - 1) % ncol + 1]
        printf "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", ML + PW + 16, MT + 4 + (k - 1) * 22, col
        printf "<text x=\"%d\" y=\"%d\">%s</text>\n", ML + PW + 36, MT + 16 + (k - 1) * 22, esc(gname[k])
    }
    print "</svg>"
}
