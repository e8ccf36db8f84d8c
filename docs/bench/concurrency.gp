set terminal pngcairo size 1400,650 font ',10'
set output 'concurrency.png'
set multiplot layout 1,2 title 'exigrey and peers: aggregate decisions/s vs concurrent processes (2 vCPUs)'
set logscale xy
set xrange [0.8:45]
set xtics (1, 2, 8, 32)
set xlabel 'concurrent processes'
set ylabel 'decisions/s (log)'
set grid
set key outside bottom center horizontal maxrows 4 font ',8'
set title 'first sight (a new record: write)'
plot 'concurrency.dat' using 1:2 with linespoints lw 2 pt 1 lc rgb '#000000' dt 1 title 'Exim, no condition', 'concurrency.dat' using 1:4 with linespoints lw 2 pt 2 lc rgb '#d62728' dt 1 title 'exigrey via Exim (meta)', 'concurrency.dat' using 1:6 with linespoints lw 2 pt 3 lc rgb '#ff9896' dt 1 title 'exigrey via Exim (none)', 'concurrency.dat' using 1:8 with linespoints lw 2 pt 4 lc rgb '#1f77b4' dt 1 title 'Exim seen', 'concurrency.dat' using 1:10 with linespoints lw 2 pt 5 lc rgb '#2ca02c' dt 1 title 'greylistd', 'concurrency.dat' using 1:12 with linespoints lw 2 pt 6 lc rgb '#9467bd' dt 1 title 'postgrey', 'concurrency.dat' using 1:14 with linespoints lw 2 pt 7 lc rgb '#8c564b' dt 2 title 'raw LMDB (meta)', 'concurrency.dat' using 1:16 with linespoints lw 2 pt 8 lc rgb '#c49c94' dt 2 title 'raw LMDB (none)', 'concurrency.dat' using 1:18 with linespoints lw 2 pt 9 lc rgb '#ff7f0e' dt 2 title 'exigrey core (meta)', 'concurrency.dat' using 1:20 with linespoints lw 2 pt 10 lc rgb '#ffbb78' dt 2 title 'exigrey core (none)'
set title 'too early (retry before the delay: read)'
plot 'concurrency.dat' using 1:3 with linespoints lw 2 pt 1 lc rgb '#000000' dt 1 title 'Exim, no condition', 'concurrency.dat' using 1:5 with linespoints lw 2 pt 2 lc rgb '#d62728' dt 1 title 'exigrey via Exim (meta)', 'concurrency.dat' using 1:7 with linespoints lw 2 pt 3 lc rgb '#ff9896' dt 1 title 'exigrey via Exim (none)', 'concurrency.dat' using 1:9 with linespoints lw 2 pt 4 lc rgb '#1f77b4' dt 1 title 'Exim seen', 'concurrency.dat' using 1:11 with linespoints lw 2 pt 5 lc rgb '#2ca02c' dt 1 title 'greylistd', 'concurrency.dat' using 1:13 with linespoints lw 2 pt 6 lc rgb '#9467bd' dt 1 title 'postgrey', 'concurrency.dat' using 1:15 with linespoints lw 2 pt 7 lc rgb '#8c564b' dt 2 title 'raw LMDB (meta)', 'concurrency.dat' using 1:17 with linespoints lw 2 pt 8 lc rgb '#c49c94' dt 2 title 'raw LMDB (none)', 'concurrency.dat' using 1:19 with linespoints lw 2 pt 9 lc rgb '#ff7f0e' dt 2 title 'exigrey core (meta)', 'concurrency.dat' using 1:21 with linespoints lw 2 pt 10 lc rgb '#ffbb78' dt 2 title 'exigrey core (none)'
unset multiplot
