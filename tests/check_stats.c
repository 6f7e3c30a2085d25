/* check_stats.c: the per-thread counters: sums, the pending gauge, the
 * pause clocks (also read while another thread writes them), the loop
 * lag buckets and the stats line. */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "stats.h"
#include "check_main.h"

static const struct {
	int64_t	lag_us;
	int	bucket;
} lag_cases[] = {
	{ 0, 0 }, { 999, 0 }, { 1000, 0 }, { 1001, 1 }, { 2500, 1 },
	{ 2501, 2 }, { 99999, 6 }, { 100000, 6 }, { 100001, 7 },
	{ 10000000, STATS_LAG_BUCKETS - 1 }, { 10000001, STATS_LAG_BUCKETS },
	{ INT64_MAX, STATS_LAG_BUCKETS },
};

/* Loop: _i indexes lag_cases[]; a bound belongs to its own bucket (le). */
START_TEST(test_lag_bucket)
{
	ck_assert_int_eq(stats_lag_bucket(lag_cases[_i].lag_us),
	    lag_cases[_i].bucket);
}
END_TEST

START_TEST(test_lag_record)
{
	struct stats s, *each = &s;
	struct stats_snap snap;

	stats_init(&s);
	stats_lag_record(&s, 400);
	stats_lag_record(&s, -30);	/* early: counted as 0 */
	stats_lag_record(&s, 30000);
	stats_snapshot(&snap, &each, 1);
	ck_assert_uint_eq(snap.v[ST_LAG_COUNT], 3);
	ck_assert_uint_eq(snap.v[ST_LAG_SUM_US], 30400);
	ck_assert_uint_eq(snap.v[ST_LAG_BUCKET + 0], 2);
	ck_assert_uint_eq(snap.v[ST_LAG_BUCKET + 5], 1);	/* <= 50 ms */
	ck_assert_str_eq(stats_lag_le[5], "0.05");
}
END_TEST

START_TEST(test_snapshot_sums_blocks)
{
	struct stats a, b, *each[2] = { &a, &b };
	struct stats_snap snap;

	stats_init(&a);
	stats_init(&b);
	stats_add(&a, ST_OPENED, 3);
	stats_add(&b, ST_OPENED, 2);
	stats_add(&a, ST_CLOSED_EOF, 1);
	stats_add(&b, ST_CLOSED_RESET, 1);
	stats_add(&b, ST_REJECTED_ACL, 4);
	/* The pending gauge goes down with wrapping adds. */
	stats_add(&a, ST_PENDING, 100);
	stats_add(&a, ST_PENDING, -(uint64_t)40);
	stats_add(&b, ST_PENDING, 5);
	stats_snapshot(&snap, each, 2);
	ck_assert_uint_eq(snap.v[ST_OPENED], 5);
	ck_assert_uint_eq(stats_closed(&snap), 2);
	ck_assert_uint_eq(stats_open_conns(&snap), 3);
	ck_assert_uint_eq(stats_rejected(&snap), 4);
	ck_assert_uint_eq(snap.v[ST_PENDING], 65);
	ck_assert_int_eq(stats_accepting(&snap), 1);
	stats_set(&a, ST_STOPPING, 1);
	stats_snapshot(&snap, each, 2);
	ck_assert_int_eq(stats_accepting(&snap), 0);
}
END_TEST

/* Wait until the clock has moved past t (a few microseconds). */
static void
spin_past(uint64_t t)
{
	while (stats_now_us() <= t)
		;
}

START_TEST(test_pause_clock)
{
	struct stats s, *each = &s;
	struct stats_snap a, b;
	uint64_t t0, t1;

	stats_init(&s);
	t0 = stats_now_us();
	stats_pause_begin(&s, STATS_PAUSE_LIMIT);
	spin_past(t0 + 2000);
	stats_pause_begin(&s, STATS_PAUSE_LIMIT);	/* ignored */
	stats_snapshot(&a, &each, 1);
	/* Running: counted up to now. */
	ck_assert_int_eq(a.paused_now[STATS_PAUSE_LIMIT], 1);
	ck_assert_int_eq(a.paused_now[STATS_PAUSE_ERROR], 0);
	ck_assert_uint_ge(a.paused_us[STATS_PAUSE_LIMIT], 2000);
	ck_assert_int_eq(stats_accepting(&a), 0);
	spin_past(stats_now_us() + 1000);
	stats_snapshot(&b, &each, 1);
	ck_assert_uint_ge(b.paused_us[STATS_PAUSE_LIMIT],
	    a.paused_us[STATS_PAUSE_LIMIT] + 1000);
	stats_pause_end(&s, STATS_PAUSE_LIMIT);
	t1 = stats_now_us();
	stats_pause_end(&s, STATS_PAUSE_LIMIT);		/* ignored */
	stats_snapshot(&a, &each, 1);
	ck_assert_int_eq(a.paused_now[STATS_PAUSE_LIMIT], 0);
	ck_assert_int_eq(stats_accepting(&a), 1);
	ck_assert_uint_le(a.paused_us[STATS_PAUSE_LIMIT], t1 - t0);
	ck_assert_uint_ge(a.paused_us[STATS_PAUSE_LIMIT],
	    b.paused_us[STATS_PAUSE_LIMIT]);
	/* Ended: it stays as it is. */
	spin_past(stats_now_us() + 1000);
	stats_snapshot(&b, &each, 1);
	ck_assert_uint_eq(b.paused_us[STATS_PAUSE_LIMIT],
	    a.paused_us[STATS_PAUSE_LIMIT]);
	ck_assert_uint_eq(b.paused_us[STATS_PAUSE_ERROR], 0);
}
END_TEST

static struct stats clock_stats;
static _Atomic int clock_done;

/* The owner: pause and resume as fast as it can. */
static void *
clock_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200000; i++) {
		stats_pause_begin(&clock_stats, STATS_PAUSE_LIMIT);
		stats_pause_end(&clock_stats, STATS_PAUSE_LIMIT);
	}
	atomic_store(&clock_done, 1);
	return NULL;
}

/* A reader never sees the paused time go back: neither the running pause
 * counted past the moment it ended, nor twice. */
START_TEST(test_pause_clock_read_while_written)
{
	struct stats *each = &clock_stats;
	struct stats_snap snap;
	uint64_t last = 0;
	pthread_t t;
	long reads = 0;

	stats_init(&clock_stats);
	atomic_store(&clock_done, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, clock_writer, NULL), 0);
	while (!atomic_load(&clock_done)) {
		stats_snapshot(&snap, &each, 1);
		ck_assert_msg(snap.paused_us[STATS_PAUSE_LIMIT] >= last,
		    "paused time went back from %llu to %llu after %ld reads",
		    (unsigned long long)last,
		    (unsigned long long)snap.paused_us[STATS_PAUSE_LIMIT],
		    reads);
		last = snap.paused_us[STATS_PAUSE_LIMIT];
		reads++;
	}
	pthread_join(t, NULL);
}
END_TEST

START_TEST(test_format)
{
	struct stats s, *each = &s;
	struct stats_snap snap;
	char line[1024];

	stats_init(&s);
	stats_add(&s, ST_OPENED, 4);
	stats_add(&s, ST_ACCEPTED, 5);
	stats_add(&s, ST_CLOSED_EOF, 2);
	stats_add(&s, ST_CLOSED_RESET, 1);
	stats_add(&s, ST_CLOSED_ERROR, 1);
	stats_add(&s, ST_REJECTED_ERROR, 1);
	stats_add(&s, ST_CLOSED_IDLE, 0);
	stats_snapshot(&snap, &each, 1);
	stats_format(&snap, line, sizeof(line));
	ck_assert_msg(strncmp(line, "conns_now=0 conns_total=4 ", 26) == 0,
	    "%s", line);
	ck_assert_msg(strstr(line, " resets=2 rejected=1 ") != NULL, "%s",
	    line);
	ck_assert_msg(strstr(line, " accepted=5 closed_eof=2 ") != NULL, "%s",
	    line);
	ck_assert_msg(strstr(line, " accepting=1") != NULL, "%s", line);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_add_loop_test(tc, test_lag_bucket, 0,
	    (int)(sizeof(lag_cases) / sizeof(lag_cases[0])));
	tcase_add_test(tc, test_lag_record);
	tcase_add_test(tc, test_snapshot_sums_blocks);
	tcase_add_test(tc, test_pause_clock);
	tcase_add_test(tc, test_pause_clock_read_while_written);
	tcase_add_test(tc, test_format);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return check_run(s);
}
