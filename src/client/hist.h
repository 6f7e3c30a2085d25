/* hist.h: a log-linear latency histogram (HdrHistogram-style): constant
 * memory, O(1) recording, percentiles within 0.4% of the true value. */
#ifndef HIST_H
#define HIST_H

#include <stdint.h>

/*
 * Values below 256 get a bucket each; above, every power of two is split
 * into 128 equal buckets, so a bucket is never wider than 1/128 of its
 * lower bound and its midpoint is within 1/256 of any value in it.
 * HIST_MAX is HdrHistogram's largest trackable value (a signed 64-bit
 * integer); values above it are counted in the top bucket (min and max
 * stay exact).  The unit is the caller's; bench records nanoseconds, and
 * HIST_MAX is then 292 years, far beyond any -d plus -t bench allows.
 */
#define HIST_MAX	((UINT64_C(1) << 63) - 1)

struct hist;

struct hist *hist_new(void);
void	hist_free(struct hist *h);
void	hist_reset(struct hist *h);

void	hist_record(struct hist *h, uint64_t v);
/* dst += src: same as if dst had recorded every value src did. */
void	hist_merge(struct hist *dst, const struct hist *src);

uint64_t hist_count(const struct hist *h);
uint64_t hist_min(const struct hist *h);	/* 0 when empty */
uint64_t hist_max(const struct hist *h);	/* 0 when empty */
double	hist_mean(const struct hist *h);	/* 0 when empty */

/* The value at percentile p (0..100): the smallest recorded value such
 * that at least p% of the values are <= it, up to the bucket's precision;
 * p 0 is the minimum and p 100 the exact maximum.  0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);

/*
 * The buckets as HdrHistogram numbers them (its counts array for a
 * lowest value of 1, 2 significant digits and HIST_MAX), for hdr.c to
 * write and read them.
 */
#define HIST_SIG_DIGITS	2
size_t	hist_nbuckets(void);
size_t	hist_bucket(uint64_t v);		/* the index v counts in */
uint64_t hist_bucket_count(const struct hist *h, size_t i);
/* The middle of bucket i, as percentiles report it. */
uint64_t hist_bucket_value(size_t i);
/* n more values in bucket i (count, mean, min and max as if each were
 * the bucket's middle value). */
void	hist_record_bucket(struct hist *h, size_t i, uint64_t n);
/* Exact min, max and mean known from elsewhere (a summary's). */
void	hist_set_exact(struct hist *h, uint64_t min, uint64_t max,
	    double mean);

#endif
