set terminal png size 900,520
set output 'slow_disk.png'
set title 'First sightings per second, 32 concurrent Exim processes, slow syncs injected'
set xlabel 'time per fsync/fdatasync (ms)'
set ylabel 'first sightings per second (log)'
set logscale y
set grid
set key top right
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
plot 'slow_disk.dat' using 2:xtic(1) title 'exigrey, sync=meta (old default)' lc rgb '#1f77b4', \
     '' using 3 title 'exigrey, sync=precious (default)' lc rgb '#d62728', \
     '' using 4 title 'Exim seen' lc rgb '#7f7f7f'
