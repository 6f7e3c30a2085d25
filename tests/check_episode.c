/* check_episode.c: a run of accept pauses: where it starts and ends, what
 * it counts. */
#include <check.h>

#include "episode.h"
#include "check_main.h"

START_TEST(test_one_pause)
{
	struct episode e = { 0 };
	uint64_t pauses;
	int64_t paused;

	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 0);
	ck_assert_int_eq(episode_pause(&e, 1000), 1);
	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 0);	/* paused */
	episode_resume(&e, 251000);
	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 1);
	ck_assert_uint_eq(pauses, 1);
	ck_assert_int_eq(paused, 250000);
	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 0);	/* once */
}
END_TEST

/* Thousands of pauses between two quiet timers are one episode. */
START_TEST(test_churn_is_one_episode)
{
	struct episode e = { 0 };
	uint64_t pauses;
	int64_t paused, t = 0;
	int begun = 0;

	for (int i = 0; i < 5000; i++) {
		begun += episode_pause(&e, t);
		t += 30;
		episode_resume(&e, t);
		t += 10;
	}
	ck_assert_int_eq(begun, 1);
	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 1);
	ck_assert_uint_eq(pauses, 5000);
	ck_assert_int_eq(paused, 5000 * 30);

	/* The next pause begins a new episode, counted from zero. */
	ck_assert_int_eq(episode_pause(&e, t), 1);
	episode_resume(&e, t + 7);
	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 1);
	ck_assert_uint_eq(pauses, 1);
	ck_assert_int_eq(paused, 7);
}
END_TEST

/* A second pause while paused, or a resume while accepting, counts
 * nothing. */
START_TEST(test_repeats_are_idempotent)
{
	struct episode e = { 0 };
	uint64_t pauses;
	int64_t paused;

	episode_resume(&e, 5);
	ck_assert_int_eq(episode_pause(&e, 10), 1);
	ck_assert_int_eq(episode_pause(&e, 20), 0);
	episode_resume(&e, 110);
	episode_resume(&e, 500);
	ck_assert_int_eq(episode_end(&e, &pauses, &paused), 1);
	ck_assert_uint_eq(pauses, 1);
	ck_assert_int_eq(paused, 100);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("episode");
	TCase *tc = tcase_create("episode");

	tcase_add_test(tc, test_one_pause);
	tcase_add_test(tc, test_churn_is_one_episode);
	tcase_add_test(tc, test_repeats_are_idempotent);
	suite_add_tcase(s, tc);
	return check_run(s);
}
