/* check_dgram.c: a UDP socket's reader thread: it answers and counts,
 * takes new rules before its next batch, and stops at once however often
 * it is started and stopped, waiting in recvmmsg() or not yet there; a
 * socket no reader serves leaves its SO_REUSEPORT group. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "cidr.h"
#include "dgram.h"
#include "stats.h"
#include "check_main.h"
#include "check_udp.h"

static struct udpguard_rates *rates;
static struct stats stats;
static struct dgram_rules open_rules;

static void
setup(void)
{
	rates = udpguard_rates_new();
	ck_assert_ptr_nonnull(rates);
	stats_init(&stats);
	memset(&open_rules, 0, sizeof(open_rules));
}

static void
teardown(void)
{
	udpguard_rates_free(rates);
}

static int
client_to(const struct addr *bound, const char *msg)
{
	int c = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(connect(c, (const struct sockaddr *)&bound->ss,
	    bound->len), 0);
	ck_assert_int_eq(send(c, msg, strlen(msg), 0), (ssize_t)strlen(msg));
	return c;
}

/* The reply c gets within 10 s. */
static void
expect_reply(int c, const char *want)
{
	char buf[64];
	struct pollfd p = { c, POLLIN, 0 };

	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(recv(c, buf, sizeof(buf), 0), (ssize_t)strlen(want));
	ck_assert(memcmp(buf, want, strlen(want)) == 0);
}

/* Counter id, summed as a reader sees it, once it reaches want (10 s). */
static uint64_t
counted(enum stat_id id, uint64_t want)
{
	struct stats *each = &stats;
	struct stats_snap s;
	double end = check_now_s() + 10;

	do {
		stats_snapshot(&s, &each, 1);
		if (s.v[id] >= want)
			break;
		usleep(1000);
	} while (check_now_s() < end);
	return s.v[id];
}

START_TEST(test_answers_and_counts)
{
	struct addr bound;
	int fd = check_udp_bound(&bound), c;
	struct dgram *d = dgram_new(fd, &stats, rates, &open_rules);

	ck_assert_ptr_nonnull(d);
	c = client_to(&bound, "hello");
	expect_reply(c, "HELLO");
	ck_assert_uint_eq(counted(ST_DGRAMS, 1), 1);
	ck_assert_uint_eq(counted(ST_DGRAMS_IN, 1), 1);
	ck_assert_uint_eq(counted(ST_BYTES_IN, 5), 5);
	ck_assert_uint_eq(counted(ST_BYTES_OUT, 5), 5);
	/* The reader's counts are its own: the owner's stay untouched. */
	ck_assert_uint_eq(stats_get(&stats, ST_DGRAMS), 0);
	dgram_free(d);
	ck_assert(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	close(c);
}
END_TEST

/* A deny list handed over while the reader waits is what the next
 * datagram meets; allowing again answers again. */
START_TEST(test_rules_taken_before_the_next_batch)
{
	struct dgram_rules deny = open_rules;
	struct addr bound;
	char err[128], buf[16];
	int fd = check_udp_bound(&bound), c;
	struct dgram *d = dgram_new(fd, &stats, rates, &open_rules);

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(cidr_list_add(&deny.acl.deny, "127.0.0.0/8", err,
	    sizeof(err)), 0);
	c = client_to(&bound, "first");
	expect_reply(c, "FIRST");
	dgram_set_rules(d, &deny);
	ck_assert_int_eq(send(c, "second", 6, 0), 6);
	ck_assert_uint_eq(counted(ST_DGRAMS_DROPPED_ACL, 1), 1);
	/* Counted only once decided: no reply is on its way. */
	ck_assert_int_eq(recv(c, buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	dgram_set_rules(d, &open_rules);
	ck_assert_int_eq(send(c, "third", 5, 0), 5);
	expect_reply(c, "THIRD");
	ck_assert_uint_eq(counted(ST_DGRAMS, 2), 2);
	dgram_free(d);
	close(c);
}
END_TEST

/* Stopped right after it starts (maybe before it waits) and stopped
 * once it answered (back to waiting, or about to): dgram_free returns
 * each time; a reader that did not wake would hang here until Check's
 * timeout.  (The window a single wake signal could miss, between the
 * reader's look at the stop flag and its recvmmsg(), is too narrow for
 * this to catch; dgram_stop sends it until the thread is gone.) */
START_TEST(test_stops_at_once)
{
	for (int i = 0; i < 200; i++) {
		struct addr bound;
		int fd = check_udp_bound(&bound);
		struct dgram *d = dgram_new(fd, &stats, rates, &open_rules);

		ck_assert_ptr_nonnull(d);
		if (i % 2 == 1) {
			int c = client_to(&bound, "x");

			expect_reply(c, "X");
			close(c);
		}
		dgram_free(d);
		ck_assert(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	}
}
END_TEST

/* An abandoned socket leaves its SO_REUSEPORT group: every sender
 * reaches the other socket (about half went to it before). */
START_TEST(test_abandoned_socket_leaves_its_group)
{
	struct sock_opts shared = { 1, -1, (uid_t)-1, (gid_t)-1 };
	struct addr a, bound, again;
	struct pollfd p;
	char err[256], buf[16];
	int fd1, fd2, got = 0;
	double end;
	enum { SENDERS = 64 };

	ck_assert_int_eq(addr_parse("udp:127.0.0.1:0", &a, err, sizeof(err)), 0);
	fd1 = sock_listen(&a, 0, &shared, &bound, NULL, err, sizeof(err));
	ck_assert_msg(fd1 >= 0, "%s", err);
	fd2 = sock_listen(&bound, 0, &shared, &again, NULL, err, sizeof(err));
	ck_assert_msg(fd2 >= 0, "%s", err);
	ck_assert_int_eq(dgram_abandon(fd1), 0);
	ck_assert_int_ge(fcntl(fd1, F_GETFD), 0);	/* still ours to close */
	for (int i = 0; i < SENDERS; i++)
		close(client_to(&bound, "x"));	/* each from a port of its own */
	p.fd = fd2;
	p.events = POLLIN;
	end = check_now_s() + 10;
	while (got < SENDERS && check_now_s() < end)
		if (poll(&p, 1, 100) == 1 &&
		    recv(fd2, buf, sizeof(buf), MSG_DONTWAIT) == 1)
			got++;
	ck_assert_int_eq(got, SENDERS);
	ck_assert_int_eq(recv(fd1, buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(fd1);
	close(fd2);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dgram");
	TCase *tc = tcase_create("reader");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_answers_and_counts);
	tcase_add_test(tc, test_rules_taken_before_the_next_batch);
	tcase_add_test(tc, test_stops_at_once);
	tcase_add_test(tc, test_abandoned_socket_leaves_its_group);
	suite_add_tcase(s, tc);
	return check_run(s);
}
