/* bench_plot.h: the run as a self-contained SVG picture (--plot). */
#ifndef BENCH_PLOT_H
#define BENCH_PLOT_H

#include <stddef.h>

#include "bench_report.h"
#include "bench_series.h"

/* Write path: messages per second, p50 and p99 per interval with the
 * intervals that had errors marked, and the latency percentile spectrum
 * of the whole run (latency against 1/(1-p) on a log axis).  Returns 0,
 * or -1 with the reason in err. */
int	bench_plot_write(const char *path, const struct bench_result *r,
	    const struct bench_point *pts, size_t n, char *err, size_t errlen);

#endif
