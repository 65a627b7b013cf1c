# bench/plot.gp — the benchmark plots (bench/plot.sh prepares the data).
#   mode='memory': data = blocks "depth peak_mib rss_mib" per rule (gnuplot
#     index), titles = one rule per line; solid = allocator peak, dashed = RSS
#   mode='bars':   data = "label<TAB>value<TAB>group index<TAB>group"
# Writes out.svg and out.png.
if (!exists("plottitle")) plottitle = ""
if (!exists("unit")) unit = ""
set title plottitle noenhanced
set grid
set key noenhanced
do for [term in "svg pngcairo"] {
    if (term eq "svg") {
        set terminal svg size 900,520 dynamic font "sans,12" background rgb "white"
        set output out.".svg"
    } else {
        set terminal pngcairo size 900,520 font "sans,10" background rgb "white"
        set output out.".png"
    }
    if (mode eq "memory") {
        n = int(system("grep -c . '".titles."'"))
        set xlabel "hidden layers"
        set ylabel "peak memory (MiB)"
        set key outside right top
        plot for [i=1:n] data index (i-1) using 1:2 with linespoints linecolor i linewidth 2 \
                 pointtype 7 title system("sed -n '".i."p' '".titles."'")." (allocator)", \
             for [i=1:n] data index (i-1) using 1:3 with lines linecolor i dashtype 2 \
                 title system("sed -n '".i."p' '".titles."'")." (RSS)"
    } else {
        set datafile separator "\t"
        set xlabel unit
        unset ylabel
        set yrange [*:*] reverse
        set style fill solid 0.7 noborder
        set key off
        set ytics nomirror
        plot data using ($2/2):0:($2/2):(0.38):($3):ytic(1) with boxxyerror linecolor variable, \
             data using ($2):0:(sprintf(" %.2f", $2)) with labels left offset 0.3,0
    }
    set output
}
