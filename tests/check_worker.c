/* check_worker.c: a worker's set-up on a given event loop, and the UDP
 * sockets handed to a worker running on a thread of its own. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "settings.h"
#include "worker.h"
#include "check_main.h"
#include "check_udp.h"

/* libevent keeps at most this many common timeouts per base. */
#define LIBEVENT_MAX_COMMON_TIMEOUTS	256

static void
hook_nothing(void *arg)
{
	(void)arg;
}

static const struct worker_hooks hooks = { hook_nothing, hook_nothing,
    hook_nothing, NULL };

static struct udpguard_rates *rates;

static void
setup(void)
{
	rates = udpguard_rates_new();
	ck_assert_ptr_nonnull(rates);
}

static void
teardown(void)
{
	udpguard_rates_free(rates);
}

static atomic_int stopped;

static void
hook_stopped(void *arg)
{
	(void)arg;
	atomic_store(&stopped, 1);
}

#define now_s	check_now_s

/* A worker on a thread of its own, started. */
static struct worker *
running_worker(struct settings *cfg)
{
	static const struct worker_hooks h = { hook_nothing, hook_stopped,
	    NULL, NULL };
	struct worker *w;

	settings_defaults(cfg);
	ck_assert(settings_derive(cfg, 0, 3, NULL, 0) == 0);
	atomic_store(&stopped, 0);
	w = worker_new(1, cfg, NULL, &h, NULL, rates);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(worker_start(w), 0);
	return w;
}

/* What the server at bound answers to "abc", within 10 s. */
static void
expect_answer(const struct addr *bound)
{
	char buf[16];
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd p = { c, POLLIN, 0 };

	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(sendto(c, "abc", 3, 0, (const struct sockaddr *)
	    &bound->ss, bound->len), 3);
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(recv(c, buf, sizeof(buf), 0), 3);
	ck_assert(memcmp(buf, "ABC", 3) == 0);
	close(c);
}

/* Whether fd is closed, waiting up to 10 s for it. */
static int
closed_soon(int fd)
{
	double end = now_s() + 10;

	while (now_s() < end) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* The loop's own thread serves the socket handed over and closes it
 * when it is taken back. */
START_TEST(test_udp_served_and_closed_by_the_worker)
{
	struct settings cfg;
	struct worker *w = running_worker(&cfg);
	struct addr bound;
	int fd = check_udp_bound(&bound);

	worker_add_udp(w, fd);
	expect_answer(&bound);
	worker_remove_udp(w, fd);
	ck_assert_msg(closed_soon(fd), "the worker closed the socket");
	worker_stop(w);
	worker_free(w);
	ck_assert(atomic_load(&stopped));
}
END_TEST

/* A socket still served, or taken back, once the worker's thread is
 * over, is closed when the worker is freed, and only once. */
START_TEST(test_udp_closed_with_a_finished_worker)
{
	struct settings cfg;
	struct worker *w = running_worker(&cfg);
	struct addr b1, b2;
	int fd1 = check_udp_bound(&b1), fd2 = check_udp_bound(&b2);
	double end = now_s() + 10;

	worker_add_udp(w, fd1);
	worker_add_udp(w, fd2);
	expect_answer(&b1);
	expect_answer(&b2);
	worker_stop(w);
	while (!atomic_load(&stopped) && now_s() < end)
		usleep(1000);
	ck_assert(atomic_load(&stopped));
	worker_remove_udp(w, fd1);		/* to a thread that is over */
	ck_assert_int_eq(fcntl(fd1, F_GETFD) >= 0, 1);
	worker_free(w);
	ck_assert(fcntl(fd1, F_GETFD) < 0 && errno == EBADF);
	ck_assert(fcntl(fd2, F_GETFD) < 0 && errno == EBADF);
}
END_TEST

START_TEST(test_new_on_a_base)
{
	struct event_base *base = event_base_new();
	struct settings cfg;
	struct worker *w;

	settings_defaults(&cfg);
	ck_assert(settings_derive(&cfg, 0, 3, NULL, 0) == 0);
	w = worker_new(0, &cfg, base, &hooks, NULL, rates);
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
	w = worker_new(0, &cfg, base, &hooks, NULL, rates);
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

	TCase *udp = tcase_create("udp");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_on_a_base);
	tcase_add_test(tc, test_timeout_setup_failure_fails_the_worker);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(udp, setup, teardown);
	tcase_set_timeout(udp, 60);
	tcase_add_test(udp, test_udp_served_and_closed_by_the_worker);
	tcase_add_test(udp, test_udp_closed_with_a_finished_worker);
	suite_add_tcase(s, udp);
	return check_run(s);
}
