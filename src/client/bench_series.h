/* bench_series.h: the run second by second, for the HdrHistogram log
 * (--hdr-log) and the picture (--plot). */
#ifndef BENCH_SERIES_H
#define BENCH_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "bench_opts.h"
#include "bench_report.h"
#include "hist.h"

/* One interval of the run (or, past BENCH_SERIES_POINTS of them, a run
 * of intervals: p50 the mean of theirs, p99 and max the largest). */
struct bench_point {
	double		t0, t1;		/* seconds from the start */
	uint64_t	msgs;		/* replies in the interval */
	uint64_t	errors;
	uint64_t	count;		/* latencies recorded */
	uint64_t	p50, p99, max;	/* ns */
};

#define BENCH_SERIES_POINTS	4096

struct bench_series;

/* NULL when neither --hdr-log nor --plot asks for one, or (err set) when
 * the log cannot be opened; start_epoch_s is the run's wall-clock start. */
struct bench_series *bench_series_new(const struct bench_opts *o,
	    double start_epoch_s, char *err, size_t errlen);

/* The interval [t0, t1): its latencies, and the counters summed so far. */
void	bench_series_add(struct bench_series *s, double t0, double t1,
	    const struct hist *h, const uint64_t ctr[BENCH_CTR__COUNT]);

/* The end of the run: the total (Tag=total) line, the log closed, the
 * picture written.  Returns 0, or -1 with the reason in err. */
int	bench_series_end(struct bench_series *s, const struct bench_result *r,
	    char *err, size_t errlen);
void	bench_series_free(struct bench_series *s);

#endif
