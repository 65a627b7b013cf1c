# scripts/fig7.gp — Bacho & Chu 2024 Fig. 7 from bench/fig7.sh's table:
# training loss after one epoch against the normalised variance of the
# gradient estimate (log x); noisy BP as a line, the other rules as points.
#
#   gnuplot -e "tsv='fig7.tsv'; out='fig7.svg'; term='svg'" scripts/fig7.gp
set datafile separator "\t"
if (term eq "svg") { set terminal svg size 800,500 dynamic font "sans,12" background rgb "white" } \
else { set terminal pngcairo size 800,500 font "sans,11" background rgb "white" }
set output out
set logscale x
set xlabel "normalised variance of the layer-1 gradient estimate"
set ylabel "training loss, epoch 1"
set title "Bacho & Chu 2024 Fig. 7: loss after one epoch vs gradient variance (784-1000-10, MNIST)" noenhanced
set key top left noenhanced
set grid
# noisy BP (rows named bp-noise*, V > 0: var_norm 0 has no place on a log axis)
plot "< awk -F'\t' 'NR > 1 && $1 ~ /^bp-noise/ && $2 > 0' '".tsv."' | sort -t'\t' -k2,2g" \
         using 2:3 with linespoints lw 2 pt 7 title "BP + --grad-noise V", \
     "< awk -F'\t' '$1 == \"fg-w\"' '".tsv."'" using 2:3 with points pt 9 ps 2 title "FG-W", \
     "< awk -F'\t' '$1 == \"fg-a\"' '".tsv."'" using 2:3 with points pt 5 ps 2 title "FG-A", \
     "< awk -F'\t' '$1 == \"fdfa\"' '".tsv."'" using 2:3 with points pt 13 ps 2 title "FDFA"
