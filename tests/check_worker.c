/* check_worker.c: a worker's set-up on a given event loop. */
#include <check.h>
#include <stdlib.h>

#include <event2/event.h>

#include "settings.h"
#include "worker.h"
#include "check_main.h"

/* libevent keeps at most this many common timeouts per base. */
#define LIBEVENT_MAX_COMMON_TIMEOUTS	256

static void
hook_nothing(void *arg)
{
	(void)arg;
}

static const struct worker_hooks hooks = { hook_nothing, hook_nothing,
    hook_nothing, NULL };

START_TEST(test_new_on_a_base)
{
	struct event_base *base = event_base_new();
	struct settings cfg;
	struct worker *w;

	settings_defaults(&cfg);
	ck_assert(settings_derive(&cfg, 0, 3, NULL, 0) == 0);
	w = worker_new(0, &cfg, base, &hooks, NULL);
	ck_assert_ptr_nonnull(w);
	worker_free(w);
	event_base_free(base);
}
END_TEST

/* A timeout that cannot be set up must fail the worker, not leave its
 * connections without that timeout. */
START_TEST(test_timeout_setup_failure_fails_the_worker)
{
	struct event_base *base = event_base_new();
	struct settings cfg;
	struct worker *w;

	ck_assert_ptr_nonnull(base);
	for (int i = 0; i < LIBEVENT_MAX_COMMON_TIMEOUTS; i++) {
		struct timeval tv = { 1000 + i, 0 };
		ck_assert_ptr_nonnull(event_base_init_common_timeout(base, &tv));
	}
	settings_defaults(&cfg);
	ck_assert(settings_derive(&cfg, 0, 3, NULL, 0) == 0);
	w = worker_new(0, &cfg, base, &hooks, NULL);
	ck_assert_msg(w == NULL, "worker_new succeeded without its timeouts");
	worker_free(w);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("new");

	tcase_add_test(tc, test_new_on_a_base);
	tcase_add_test(tc, test_timeout_setup_failure_fails_the_worker);
	suite_add_tcase(s, tc);
	return check_run(s);
}
