# bench/results/mpi2/scaling.gp — samples/s against ranks: the scaling
# model's curves (scaling.py -> scaling.dat, scaling.titles) and the 2-rank
# measurements (measured.dat: "ranks samples/s" blocks, measured.titles).
#   cd bench/results/mpi2 && gnuplot scaling.gp   -> scaling.svg, scaling.png
n = int(system("grep -c . scaling.titles"))
m = int(system("grep -c . measured.titles"))
title_of(f, i) = system("sed -n '".i."p' ".f)
mcolors = "2 3 3 7"   # measured points in the colour of their model curve
set xlabel "ranks (one core each)"
set ylabel "training samples/s"
set title "Data- and layer-parallel training: model (lines) and this 2-core machine (points)" noenhanced
set key inside left top noenhanced font ",10"
set logscale xy
set grid
set xtics (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
set terminal svg size 900,600 dynamic font "sans,12" background rgb "white"
set output "scaling.svg"
plot for [i=1:n] "scaling.dat" index (i-1) using 1:2 with lines linecolor i linewidth 2 \
         title title_of("scaling.titles", i), \
     for [i=1:m] "measured.dat" index (i-1) using 1:2 with points pointtype 7 pointsize 1.2 \
         linecolor word(mcolors, i) + 0 title title_of("measured.titles", i)
set output
set terminal pngcairo size 900,600 font "sans,10" background rgb "white"
set output "scaling.png"
replot
set output
