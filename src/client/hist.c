/* hist.c: log-linear buckets, exactly HdrHistogram's layout for 2
 * significant decimal digits and a lowest value of 1 (256 sub-buckets,
 * the upper 128 of them per power of two), so that the counts can be
 * written in its encoding index for index. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

#define SUB_BITS	7			/* 128 buckets per power of two */
#define SUB_COUNT	(1 << SUB_BITS)
#define LINEAR		(2 * SUB_COUNT)		/* 0..255: one bucket per value */
#define TOP_BIT		63			/* HIST_MAX < 2^TOP_BIT */
/* HdrHistogram's countsArrayLength for HIST_MAX: one half-bucket of 128
 * per power of two from 2^8 to 2^62, plus the 256 exact values. */
#define NBUCKETS	((TOP_BIT - SUB_BITS + 1) * SUB_COUNT)

struct hist {
	uint64_t	count;
	uint64_t	min;
	uint64_t	max;
	unsigned __int128 sum;	/* 2^63 x 2^64 values cannot overflow it */
	uint64_t	counts[NBUCKETS];
};

/*
 * For v >= 256 with its highest bit at b, shift = b - 7 keeps the top 8
 * bits: v >> shift lies in [128, 256).  Each shift owns 128 indexes right
 * after the previous one's, so the index grows with v and stays dense.
 */
static inline size_t
bucket_of(uint64_t v)
{
	int shift;

	if (v < LINEAR)
		return (size_t)v;
	if (v > HIST_MAX)
		v = HIST_MAX;
	shift = 63 - __builtin_clzll(v) - SUB_BITS;
	return (size_t)shift * SUB_COUNT + (size_t)(v >> shift);
}

/* The smallest value in bucket i, and its width. */
static void
bucket_range(size_t i, uint64_t *lo, uint64_t *width)
{
	size_t shift;

	if (i < LINEAR) {
		*lo = i;
		*width = 1;
		return;
	}
	shift = i / SUB_COUNT - 1;
	*lo = (uint64_t)(i - shift * SUB_COUNT) << shift;
	*width = UINT64_C(1) << shift;
}

struct hist *
hist_new(void)
{
	return calloc(1, sizeof(struct hist));
}

void
hist_free(struct hist *h)
{
	free(h);
}

void
hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void
hist_record(struct hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->counts[bucket_of(v)]++;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (size_t i = 0; i < NBUCKETS; i++)
		dst->counts[i] += src->counts[i];
}

uint64_t
hist_count(const struct hist *h)
{
	return h->count;
}

uint64_t
hist_min(const struct hist *h)
{
	return h->min;
}

uint64_t
hist_max(const struct hist *h)
{
	return h->max;
}

double
hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

size_t
hist_nbuckets(void)
{
	return NBUCKETS;
}

size_t
hist_bucket(uint64_t v)
{
	return bucket_of(v);
}

uint64_t
hist_bucket_count(const struct hist *h, size_t i)
{
	return i < NBUCKETS ? h->counts[i] : 0;
}

uint64_t
hist_bucket_value(size_t i)
{
	uint64_t lo, width;

	bucket_range(i, &lo, &width);
	return lo + (width - 1) / 2;
}

void
hist_record_bucket(struct hist *h, size_t i, uint64_t n)
{
	uint64_t v = hist_bucket_value(i);

	if (n == 0 || i >= NBUCKETS)
		return;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count += n;
	h->sum += (unsigned __int128)v * n;
	h->counts[i] += n;
}

void
hist_set_exact(struct hist *h, uint64_t min, uint64_t max, double mean)
{
	if (h->count == 0)
		return;
	h->min = min;
	h->max = max;
	h->sum = (unsigned __int128)(mean * (double)h->count + 0.5);
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	double r;

	if (h->count == 0)
		return 0;
	if (!(p > 0))		/* also NaN */
		return h->min;
	if (p >= 100)
		return h->max;
	/* The rank of the answer in the sorted values, counting from 1; the
	 * nudge keeps 99.9% of 1000 at 999 despite binary fractions. */
	r = p * (double)h->count / 100.0;
	rank = (uint64_t)ceil(r - r * 1e-12);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (size_t i = 0; i < NBUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		/* The midpoint halves the worst-case error of either edge. */
		v = hist_bucket_value(i);
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}
