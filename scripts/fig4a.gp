# scripts/fig4a.gp — Flügel et al. 2024 Fig. 4a from bench/fig4a.sh's table:
# MNIST test accuracy after the last epoch (mean over seeds) against the
# number of hidden layers (log x), one line per rule.
#
#   gnuplot -e "tsv='fig4a.tsv'; out='fig4a.svg'; term='svg'; rules='bp dfa drtp f3'" scripts/fig4a.gp
set datafile separator "\t"
if (term eq "svg") { set terminal svg size 800,500 dynamic font "sans,12" background rgb "white" } \
else { set terminal pngcairo size 800,500 font "sans,11" background rgb "white" }
set output out
set logscale x
set xlabel "hidden layers (500 tanh units each)"
set ylabel "MNIST test accuracy (%)"
set title "Flügel et al. 2024 Fig. 4a: accuracy against depth" noenhanced
set key bottom left noenhanced
set grid
set yrange [0:100]
# mean over seeds of column 4 for one rule, one row per depth
mean(r) = sprintf("< awk -F'\t' 'NR > 1 && $1 == \"%s\" { s[$2] += $4; n[$2]++ } END { for (d in s) print d \"\t\" 100 * s[d] / n[d] }' '%s' | sort -n", r, tsv)
plot for [i = 1:words(rules)] mean(word(rules, i)) using 1:2 with linespoints lw 2 pt 7 title word(rules, i)
