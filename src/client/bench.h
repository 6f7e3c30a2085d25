/* bench.h: upcase bench, the load generator (upcase's main calls it for
 * "upcase bench ..."). */
#ifndef BENCH_H
#define BENCH_H

/* argv[0] is "bench".  Returns the exit status (exitcodes.h). */
int	bench_main(int argc, char **argv);

#endif
