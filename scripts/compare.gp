# scripts/compare.gp — the plots of `bpfree compare` (and anything else that
# writes the same data): one curve per block of `data`, a line for the mean
# and a band for mean -/+ one standard deviation over the seeds.
#
#   gnuplot -e "data='test.dat'; titles='test.titles'; out='test'; \
#               ylabel='test accuracy (%)'; plottitle='...'" scripts/compare.gp
#
# data:   blocks of "x mean lo hi" lines, separated by two blank lines
#         (gnuplot's `index`); a block may start with a "# name" comment
# titles: one curve title per line, in the blocks' order
# out:    writes out.svg and out.png
if (!exists("ylabel")) ylabel = ""
if (!exists("plottitle")) plottitle = ""
if (!exists("xlabel")) xlabel = "epoch"
n = int(system("grep -c . '".titles."'"))
title_of(i) = system("sed -n '".i."p' '".titles."'")

set xlabel xlabel
set ylabel ylabel
set title plottitle noenhanced
set key outside right top noenhanced
set grid
set style fill transparent solid 0.18 noborder
set autoscale xfixmin
set autoscale xfixmax
stats data using 1 nooutput
if (STATS_max - STATS_min <= 20) { set xtics 1 }   # whole epochs

set terminal svg size 900,520 dynamic font "sans,12" background rgb "white"
set output out.".svg"
plot for [i=1:n] data index (i-1) using 1:3:4 with filledcurves linecolor i notitle, \
     for [i=1:n] data index (i-1) using 1:2 with linespoints linecolor i linewidth 2 \
         pointtype 7 pointsize 0.5 title title_of(i)
set output

set terminal pngcairo size 900,520 font "sans,10" background rgb "white"
set output out.".png"
replot
set output
