/* check_hist.c: the latency histogram against exact sorted references. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "timeout.h"
#include "check_main.h"

#define N	100000

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static double
unit(void)
{
	return (double)(rng() >> 11) / (double)(UINT64_C(1) << 53);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact answer: the smallest value with at least p% at or below. */
static uint64_t
ref_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (p <= 0)
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	rank = (size_t)ceil(p * (double)n / 100.0 - 1e-9);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* Distributions a latency histogram meets: tiny exact values, a normal
 * spread, a long tail over many powers of two, a constant, huge values. */
static uint64_t
sample(int dist)
{
	switch (dist) {
	case 0:
		return rng() % 300;
	case 1:
		return 50000 + rng() % 20000;
	case 2:
		return (uint64_t)exp(unit() * 30.0);	/* 1 .. 1e13 */
	case 3:
		return 123456789;
	case 4:
		return (uint64_t)(-log(1 - unit()) * 80000.0);	/* exponential */
	default:
		return (HIST_MAX >> 4) + rng() % (HIST_MAX >> 4);
	}
}

static const double pcts[] = {
	0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100,
};

START_TEST(test_percentiles_match_reference)
{
	uint64_t *v = malloc(N * sizeof(*v));
	struct hist *h = hist_new();
	long double sum = 0;

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(h);
	rng_state = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	for (size_t i = 0; i < N; i++) {
		v[i] = sample(_i);
		hist_record(h, v[i]);
		sum += v[i];
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	ck_assert_uint_eq(hist_count(h), N);
	ck_assert_uint_eq(hist_min(h), v[0]);
	ck_assert_uint_eq(hist_max(h), v[N - 1]);
	ck_assert(fabsl((long double)hist_mean(h) - sum / N) <= sum / N * 1e-9L);
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
		uint64_t want = ref_percentile(v, N, pcts[k]);
		uint64_t got = hist_percentile(h, pcts[k]);
		double err = want ? fabs((double)got - (double)want) / (double)want
		    : (double)got;

		ck_assert_msg(err <= 0.01, "distribution %d p%g: want %llu, "
		    "got %llu (%.3f%% off)", _i, pcts[k],
		    (unsigned long long)want, (unsigned long long)got,
		    err * 100);
	}
	hist_free(h);
	free(v);
}
END_TEST

/* Every bucket, not only the ones random data lands in: one value v and
 * one far above it, so that p50 is v's bucket and the clamp to min/max
 * does not hide a wrong bucket. */
START_TEST(test_every_magnitude_within_one_percent)
{
	struct hist *h = hist_new();
	uint64_t v;

	ck_assert_ptr_nonnull(h);
	for (v = 0; v < (UINT64_C(1) << 62); v = v < 4096 ? v + 1 : v + v / 97) {
		uint64_t got;

		hist_reset(h);
		hist_record(h, v);
		hist_record(h, HIST_MAX);
		got = hist_percentile(h, 50);
		ck_assert_msg(fabs((double)got - (double)v) <= (double)v / 100,
		    "value %llu came back as %llu", (unsigned long long)v,
		    (unsigned long long)got);
		/* Values below 256 are exact. */
		if (v < 256)
			ck_assert_uint_eq(got, v);
	}
	hist_free(h);
}
END_TEST

/* Latencies as long as bench's options allow (-d plus -t, each up to a
 * year): 90 replies of 1 ms and 10 of 10 hours must give p95 = 10 h, not
 * a value clamped at a top bucket a few hours up. */
START_TEST(test_long_latencies_within_one_percent)
{
	static const uint64_t longs[] = {
		UINT64_C(36000) * 1000000000u,			/* 10 h */
		UINT64_C(2) * TIMEOUT_MAX_S * 1000000000u,	/* -d + -t */
		HIST_MAX,
	};
	struct hist *h = hist_new();

	ck_assert_ptr_nonnull(h);
	for (size_t k = 0; k < sizeof(longs) / sizeof(longs[0]); k++) {
		uint64_t v = longs[k], got;

		hist_reset(h);
		for (int i = 0; i < 90; i++)
			hist_record(h, 1000000);
		for (int i = 0; i < 10; i++)
			hist_record(h, v);
		got = hist_percentile(h, 95);
		ck_assert_msg(fabs((double)got - (double)v) <= (double)v / 100,
		    "p95 of 90 x 1 ms and 10 x %llu ns: got %llu",
		    (unsigned long long)v, (unsigned long long)got);
		got = hist_percentile(h, 50);
		ck_assert_msg(fabs((double)got - 1e6) <= 1e4, "p50: got %llu",
		    (unsigned long long)got);
	}
	hist_free(h);
}
END_TEST

START_TEST(test_merge_equals_recording_all)
{
	struct hist *all = hist_new(), *a = hist_new(), *b = hist_new();
	struct hist *empty = hist_new();

	ck_assert(all && a && b && empty);
	rng_state = 42;
	for (int i = 0; i < N; i++) {
		uint64_t x = sample(i % 6);
		hist_record(all, x);
		hist_record(i % 3 ? a : b, x);
	}
	/* Merging nothing changes nothing; merging into nothing copies. */
	hist_merge(a, empty);
	hist_merge(empty, b);
	ck_assert_uint_eq(hist_count(empty), hist_count(b));
	ck_assert_uint_eq(hist_min(empty), hist_min(b));
	hist_merge(a, empty);
	ck_assert_uint_eq(hist_count(a), hist_count(all));
	ck_assert_uint_eq(hist_min(a), hist_min(all));
	ck_assert_uint_eq(hist_max(a), hist_max(all));
	ck_assert(hist_mean(a) == hist_mean(all));
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++)
		ck_assert_uint_eq(hist_percentile(a, pcts[k]),
		    hist_percentile(all, pcts[k]));
	hist_free(all);
	hist_free(a);
	hist_free(b);
	hist_free(empty);
}
END_TEST

START_TEST(test_empty)
{
	struct hist *h = hist_new();

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(hist_count(h), 0);
	ck_assert_uint_eq(hist_min(h), 0);
	ck_assert_uint_eq(hist_max(h), 0);
	ck_assert(hist_mean(h) == 0);
	ck_assert_uint_eq(hist_percentile(h, 50), 0);
	ck_assert_uint_eq(hist_percentile(h, 100), 0);
	hist_free(h);
}
END_TEST

static const uint64_t edges[] = {
	0, 1, 255, 256, 257, 511, 512, 1000000, HIST_MAX - 1, HIST_MAX,
	HIST_MAX + 1, UINT64_MAX / 2, UINT64_MAX,
};

/* One value alone: every percentile is that value exactly. */
START_TEST(test_edge_values_alone)
{
	struct hist *h = hist_new();
	uint64_t v = edges[_i];

	ck_assert_ptr_nonnull(h);
	hist_record(h, v);
	ck_assert_uint_eq(hist_min(h), v);
	ck_assert_uint_eq(hist_max(h), v);
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++)
		ck_assert_uint_eq(hist_percentile(h, pcts[k]), v);
	hist_free(h);
}
END_TEST

START_TEST(test_edges_together)
{
	struct hist *h = hist_new();
	size_t n = sizeof(edges) / sizeof(edges[0]);

	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < n; i++)
		hist_record(h, edges[i]);
	ck_assert_uint_eq(hist_count(h), n);
	ck_assert_uint_eq(hist_min(h), 0);
	ck_assert_uint_eq(hist_max(h), UINT64_MAX);
	ck_assert_uint_eq(hist_percentile(h, 0), 0);
	ck_assert_uint_eq(hist_percentile(h, 100), UINT64_MAX);
	/* Rank 2 of 13 is 1 (exact below 256), rank 7 is 512 (within 1%). */
	ck_assert_uint_eq(hist_percentile(h, 100.0 * 2 / n), 1);
	ck_assert_uint_ge(hist_percentile(h, 100.0 * 7 / n), 512 - 5);
	ck_assert_uint_le(hist_percentile(h, 100.0 * 7 / n), 512 + 5);
	/* Above HIST_MAX the value is only known to be that large. */
	ck_assert_uint_ge(hist_percentile(h, 100.0 * 11 / n), HIST_MAX - HIST_MAX / 100);
	/* Percentiles never decrease with p. */
	for (double p = 0, last = 0; p <= 100; p += 0.5) {
		uint64_t x = hist_percentile(h, p);
		ck_assert((double)x >= last);
		last = (double)x;
	}
	hist_free(h);
}
END_TEST

START_TEST(test_reset)
{
	struct hist *h = hist_new();

	ck_assert_ptr_nonnull(h);
	hist_record(h, 5);
	hist_record(h, 5000);
	hist_reset(h);
	ck_assert_uint_eq(hist_count(h), 0);
	hist_record(h, 77);
	ck_assert_uint_eq(hist_min(h), 77);
	ck_assert_uint_eq(hist_max(h), 77);
	ck_assert_uint_eq(hist_percentile(h, 50), 77);
	hist_free(h);
}
END_TEST

static Suite *
hist_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_percentiles_match_reference, 0, 6);
	tcase_add_test(tc, test_every_magnitude_within_one_percent);
	tcase_add_test(tc, test_long_latencies_within_one_percent);
	tcase_add_test(tc, test_merge_equals_recording_all);
	tcase_add_test(tc, test_empty);
	tcase_add_loop_test(tc, test_edge_values_alone, 0,
	    sizeof(edges) / sizeof(edges[0]));
	tcase_add_test(tc, test_edges_together);
	tcase_add_test(tc, test_reset);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(hist_suite());
}
