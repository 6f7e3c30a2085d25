/* bench_series.c: the run second by second: each interval's latencies
 * go to the --hdr-log as they come, and its numbers are kept for --plot
 * (in runs of intervals past BENCH_SERIES_POINTS, so a long run stays
 * small). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_plot.h"
#include "bench_series.h"
#include "hdr.h"

struct bench_series {
	const struct bench_opts	*opts;
	struct hdr_log		*log;
	int			 log_failed;
	struct bench_point	*pts;		/* BENCH_SERIES_POINTS */
	size_t			 n;
	unsigned		 span;		/* intervals per point */
	struct bench_point	 pending;	/* a point being filled */
	unsigned		 pending_n;	/* intervals in it */
	uint64_t		 last_msgs;
	uint64_t		 last_errors;
};

struct bench_series *
bench_series_new(const struct bench_opts *o, double start_epoch_s,
    char *err, size_t errlen)
{
	struct bench_series *s;
	char comment[ADDR_STRLEN + 64];

	err[0] = '\0';
	if (o->hdr_log == NULL && o->plot == NULL)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->pts = calloc(BENCH_SERIES_POINTS, sizeof(*s->pts))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->opts = o;
	s->span = 1;
	if (o->hdr_log != NULL) {
		snprintf(comment, sizeof(comment), "upcase bench %s, latency in "
		    "nanoseconds", o->addr_text);
		s->log = hdr_log_open(o->hdr_log, comment, start_epoch_s, err,
		    errlen);
		if (s->log == NULL) {
			bench_series_free(s);
			return NULL;
		}
	}
	return s;
}

/* Fold point b into a: the interval they cover together. */
static void
series_fold(struct bench_point *a, const struct bench_point *b)
{
	uint64_t n = a->count + b->count;

	if (n > 0)
		a->p50 = (uint64_t)(((double)a->p50 * (double)a->count +
		    (double)b->p50 * (double)b->count) / (double)n);
	if (b->p99 > a->p99)
		a->p99 = b->p99;
	if (b->max > a->max)
		a->max = b->max;
	a->t1 = b->t1;
	a->msgs += b->msgs;
	a->errors += b->errors;
	a->count = n;
}

static void
series_keep(struct bench_series *s, const struct bench_point *p)
{
	if (s->pending_n++ == 0)
		s->pending = *p;
	else
		series_fold(&s->pending, p);
	if (s->pending_n < s->span)
		return;
	if (s->n == BENCH_SERIES_POINTS) {
		/* Full: every two points become one, and points span twice
		 * as many intervals from now on. */
		for (size_t i = 0; i < s->n / 2; i++) {
			s->pts[i] = s->pts[2 * i];
			series_fold(&s->pts[i], &s->pts[2 * i + 1]);
		}
		s->n /= 2;
		s->span *= 2;
		if (s->pending_n < s->span)
			return;
	}
	s->pts[s->n++] = s->pending;
	s->pending_n = 0;
}

void
bench_series_add(struct bench_series *s, double t0, double t1,
    const struct hist *h, const uint64_t ctr[BENCH_CTR__COUNT])
{
	struct bench_point p;
	uint64_t errors = bench_report_errors(ctr);

	if (s == NULL)
		return;
	memset(&p, 0, sizeof(p));
	p.t0 = t0;
	p.t1 = t1;
	p.msgs = ctr[BENCH_MESSAGES] - s->last_msgs;
	p.errors = errors - s->last_errors;
	p.count = hist_count(h);
	p.p50 = hist_percentile(h, 50);
	p.p99 = hist_percentile(h, 99);
	p.max = hist_max(h);
	s->last_msgs = ctr[BENCH_MESSAGES];
	s->last_errors = errors;
	series_keep(s, &p);
	if (s->log != NULL && !s->log_failed &&
	    hdr_log_interval(s->log, NULL, t0, t1 - t0, h) != 0)
		s->log_failed = 1;
}

int
bench_series_end(struct bench_series *s, const struct bench_result *r,
    char *err, size_t errlen)
{
	int rc = 0;

	if (s == NULL)
		return 0;
	if (s->pending_n > 0 && s->n == BENCH_SERIES_POINTS)
		series_fold(&s->pts[s->n - 1], &s->pending);
	else if (s->pending_n > 0)
		s->pts[s->n++] = s->pending;
	s->pending_n = 0;
	if (s->log != NULL) {
		if (!s->log_failed)
			hdr_log_interval(s->log, "total", 0, r->duration_s,
			    r->hist);
		rc = hdr_log_close(s->log, err, errlen);
		s->log = NULL;
	}
	if (rc == 0 && s->opts->plot != NULL)
		rc = bench_plot_write(s->opts->plot, r, s->pts, s->n, err,
		    errlen);
	return rc;
}

void
bench_series_free(struct bench_series *s)
{
	char err[8];

	if (s == NULL)
		return;
	hdr_log_close(s->log, err, sizeof(err));
	free(s->pts);
	free(s);
}
