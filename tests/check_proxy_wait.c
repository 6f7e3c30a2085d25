/* check_proxy_wait.c: a connection on a proxy_protocol listener
 * (proxy_wait.c then conn.c), over socketpairs on a private event loop:
 * the header consumed and never echoed however it is split, the bytes
 * after it served, bad, late and truncated headers closed and counted,
 * the named client held against the access lists and the per-address
 * limit (a health check is not), and a header that completes during a
 * shutdown drains at once.  The loop runs one iteration at a time
 * (EVLOOP_ONCE, woken at least every TICK_US by a timer): waits are on
 * the loop's events, never a sleep beside it. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "perip.h"
#include "proxy_hdr.h"
#include "proxy_wait.h"
#include "stats.h"
#include "check_main.h"

#define CHUNK		1024
#define DEADLINE_S	20.0
#define TICK_US		10000

static struct {
	struct event_base	*base;
	struct event		*tick;
	struct conn_env		 env;
	struct stats		 stats;
	struct acl		 acl;
	struct perip		*perip;
	unsigned char		 scratch[CHUNK];
	int			 closed;
	int			 log_fd, saved_stderr;
	char			 log[65536];
} F;

static void
fx_closed(void *arg)
{
	(void)arg;
	F.closed++;
}

#define now_s	check_now_s

static void
fx_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static const char *
fx_log(void)
{
	return check_log_tail(F.log_fd, F.log, sizeof(F.log));
}

static void
setup(void)
{
	struct timeval tick = { 0, TICK_US };
	char path[] = "/tmp/check_proxy_wait.XXXXXX";

	memset(&F, 0, sizeof(F));
	F.log_fd = mkstemp(path);
	ck_assert_int_ge(F.log_fd, 0);
	unlink(path);
	F.saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(F.log_fd, STDERR_FILENO), STDERR_FILENO);
	log_set_level(LOG_DEBUG);
	F.base = event_base_new();
	ck_assert_ptr_nonnull(F.base);
	F.tick = event_new(F.base, -1, EV_PERSIST, fx_tick, NULL);
	ck_assert_ptr_nonnull(F.tick);
	ck_assert_int_eq(event_add(F.tick, &tick), 0);
	F.perip = perip_new();
	ck_assert_ptr_nonnull(F.perip);
	stats_init(&F.stats);
	F.env.base = F.base;
	F.env.chunk_size = CHUNK;
	F.env.scratch = F.scratch;
	F.env.max_pending = 65536;
	F.env.stats = &F.stats;
	F.env.closed = fx_closed;
	F.env.admit.acl = &F.acl;
	F.env.admit.perip = F.perip;
	F.env.admit.stats = &F.stats;
	LIST_INIT(&F.env.conns);
	LIST_INIT(&F.env.waiting);
}

static void
teardown(void)
{
	conn_close_all(&F.env);
	proxy_wait_close_all(&F.env);
	perip_free(F.perip);
	event_free(F.tick);
	event_base_free(F.base);
	dup2(F.saved_stderr, STDERR_FILENO);
	close(F.saved_stderr);
	close(F.log_fd);
	log_set_level(LOG_INFO);
}

/* A connection waiting for its header; returns the test's end. */
static int
fx_connect(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	proxy_wait_start(&F.env, sv[0], NULL, 0);
	return sv[1];
}

static void
fx_send(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

/* One loop iteration: at most TICK_US unless something is ready. */
static void
fx_step(void)
{
	ck_assert_int_ge(event_base_loop(F.base, EVLOOP_ONCE), 0);
}

/* Run the loop until cond() holds (or fail at the deadline). */
static void
fx_run_until(int (*cond)(void *), void *arg, const char *what)
{
	double end = now_s() + DEADLINE_S;

	while (!cond(arg)) {
		ck_assert_msg(now_s() < end, "%s: not within %.0f s; log:\n%s",
		    what, DEADLINE_S, fx_log());
		fx_step();
	}
}

/* A few iterations with nothing expected to change the outcome. */
static void
fx_spin(void)
{
	for (int i = 0; i < 5; i++) {
		fx_step();
	}
}

static int
cond_closed(void *arg)
{
	return F.closed >= *(int *)arg;
}

static int
cond_opened(void *arg)
{
	return F.env.nconns >= *(int *)arg;
}

/* Read exactly n bytes at fd (running the loop meanwhile). */
static void
fx_expect(int fd, const char *want)
{
	size_t n = strlen(want), got = 0;
	char buf[256];
	double end = now_s() + DEADLINE_S;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		ck_assert_msg(r < 0 && errno == EAGAIN, "read: %zd (%s) after "
		    "%zu of %zu bytes; log:\n%s", r, strerror(errno), got, n,
		    fx_log());
		ck_assert_msg(now_s() < end, "no reply '%s'; log:\n%s", want,
		    fx_log());
		fx_step();
	}
	ck_assert_msg(memcmp(buf, want, n) == 0, "got '%.*s', expected '%s'",
	    (int)n, buf, want);
}

/* The peer sees the connection closed. */
static void
fx_expect_eof(int fd)
{
	char c;
	double end = now_s() + DEADLINE_S;
	ssize_t r;

	while ((r = read(fd, &c, 1)) < 0 && errno == EAGAIN) {
		ck_assert_msg(now_s() < end, "not closed; log:\n%s", fx_log());
		fx_step();
	}
	ck_assert_msg(r == 0 || errno == ECONNRESET, "expected EOF, got %zd",
	    r);
}

/* A v2 header for 203.0.113.7:5555 -> 127.0.0.1:8080 (or LOCAL). */
static size_t
hdr_v2(unsigned char *buf, const char *src, int local)
{
	struct sockaddr_in s, d;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.sin_family = d.sin_family = AF_INET;
	if (src != NULL)
		inet_pton(AF_INET, src, &s.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
	s.sin_port = htons(5555);
	d.sin_port = htons(8080);
	return proxy_build_v2(buf, 64, local ? NULL : (struct sockaddr *)&s,
	    (struct sockaddr *)&d);
}

/* Loop: the header and "hello" written in two pieces split at _i. */
START_TEST(test_split_anywhere)
{
	unsigned char msg[128];
	size_t hl = hdr_v2(msg, "203.0.113.7", 0), n;
	size_t cut = (size_t)_i;
	int fd, one = 1;

	memcpy(msg + hl, "hello", 5);
	n = hl + 5;
	if (cut > n)
		return;
	fd = fx_connect();
	fx_send(fd, msg, cut);
	fx_spin();
	ck_assert_msg(cut >= hl || F.env.nconns == 0, "served before its "
	    "header was whole (%zu of %zu bytes)", cut, hl);
	if (cut < n)
		fx_send(fd, msg + cut, n - cut);
	fx_run_until(cond_opened, &one, "served");
	fx_expect(fd, "HELLO");
	fx_send(fd, "bye", 3);
	fx_expect(fd, "BYE");
	ck_assert_msg(strstr(fx_log(), "open 203.0.113.7:5555 via unix:") !=
	    NULL, "no open line for the header's client; log:\n%s", fx_log());
	ck_assert_int_eq(stats_get(&F.stats, ST_OPENED), 1);
	ck_assert_int_eq(stats_get(&F.stats, ST_BYTES_IN), 8);
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_PROXY), 0);
	ck_assert_int_eq(F.env.nwaiting, 0);
	close(fd);
}
END_TEST

/* A v1 line too, with its data in the same write. */
START_TEST(test_v1_with_data)
{
	static const char line[] = "PROXY TCP6 2001:db8::7 ::1 4000 80\r\nab";
	int fd = fx_connect();

	fx_send(fd, line, sizeof(line) - 1);
	fx_expect(fd, "AB");
	ck_assert_msg(strstr(fx_log(), "open [2001:db8::7]:4000 via ") != NULL,
	    "log:\n%s", fx_log());
	close(fd);
}
END_TEST

struct bad_case {
	const char	*bytes;
	size_t		 len;
	int		 eof;		/* then shut the write side */
	const char	*why;
};

static const struct bad_case bad[] = {
	{ "GET / HTTP/1.0\r\n\r\n", 18, 0, "not a PROXY protocol header" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 30, 0, "single spaces" },
	{ "\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00", 16, 0, "4112-byte header" },
	{ "", 0, 1, "closed before a complete PROXY header" },
	{ "PROXY TCP4 1.2", 14, 1, "closed mid-way before a complete" },
};

/* Closed, counted, told at debug with the sender; never opened. */
START_TEST(test_bad)
{
	const struct bad_case *b = &bad[_i];
	int fd = fx_connect(), one = 1;

	fx_send(fd, b->bytes, b->len);
	if (b->eof)
		shutdown(fd, SHUT_WR);
	fx_run_until(cond_closed, &one, "closed");
	fx_expect_eof(fd);
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_PROXY), 1);
	ck_assert_int_eq(stats_get(&F.stats, ST_OPENED), 0);
	ck_assert_int_eq(F.env.nwaiting, 0);
	ck_assert_msg(strstr(fx_log(), b->why) != NULL, "expected '%s' in "
	    "the log:\n%s", b->why, fx_log());
	ck_assert_msg(strstr(fx_log(), "debug proxy unix:") != NULL, "no "
	    "debug line with the sender; log:\n%s", fx_log());
	close(fd);
}
END_TEST

/* proxy_timeout is a deadline from the start, not an idle timer. */
START_TEST(test_timeout)
{
	struct timeval tv = { 0, 300000 };
	/* Never complete (no CRLF): 4.3 s of drip, over ten times the
	 * deadline, so that a loaded machine cannot make the drip end first. */
	const char *drip = "PROXY TCP4 203.0.113.7 198.51.100.1 5555 80",
	    *p = drip;
	int fd, one = 1;

	F.env.proxy_tv = event_base_init_common_timeout(F.base, &tv);
	fd = fx_connect();
	/* A byte every 100 ms: the header's deadline comes first. */
	for (; *p != '\0' && F.closed == 0; p++) {
		double next = now_s() + 0.1;
		if (write(fd, p, 1) < 0)
			break;
		while (now_s() < next && F.closed == 0)
			fx_spin();
	}
	fx_run_until(cond_closed, &one, "closed at the deadline");
	ck_assert_msg(*p != '\0', "closed only once the drip of %zu bytes "
	    "had ended, not at the 0.3 s deadline", strlen(drip));
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_PROXY), 1);
	ck_assert_msg(strstr(fx_log(), "no complete PROXY header in time") !=
	    NULL, "log:\n%s", fx_log());
	close(fd);
}
END_TEST

/* The header's client meets allow and deny; a LOCAL health check is the
 * balancer's own and does not. */
START_TEST(test_acl)
{
	unsigned char h[64];
	char err[128];
	int fd, n = 1;

	ck_assert_int_eq(cidr_list_add(&F.acl.allow, "203.0.113.0/24", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(cidr_list_add(&F.acl.deny, "203.0.113.9", err,
	    sizeof(err)), 0);
	fd = fx_connect();
	fx_send(fd, h, hdr_v2(h, "203.0.113.9", 0));
	fx_run_until(cond_closed, &n, "denied");
	fx_expect_eof(fd);
	close(fd);
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_ACL), 1);
	ck_assert_msg(strstr(fx_log(), "refused 203.0.113.9:5555 via unix:"
	    "(unnamed): acl") != NULL, "log:\n%s", fx_log());
	fd = fx_connect();
	fx_send(fd, h, hdr_v2(h, "198.51.100.1", 0));
	n = 2;
	fx_run_until(cond_closed, &n, "not allowed");
	close(fd);
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_ACL), 2);
	fd = fx_connect();
	fx_send(fd, h, hdr_v2(h, "203.0.113.7", 0));
	fx_send(fd, "x", 1);
	fx_expect(fd, "X");
	close(fd);
	fd = fx_connect();
	fx_send(fd, h, hdr_v2(h, NULL, 1));
	fx_send(fd, "y", 1);
	fx_expect(fd, "Y");
	ck_assert_msg(strstr(fx_log(), "(PROXY LOCAL)") != NULL, "log:\n%s",
	    fx_log());
	close(fd);
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_ACL), 2);
}
END_TEST

/* The limit counts the header's client; a close gives its place back. */
START_TEST(test_per_ip)
{
	unsigned char h[64];
	size_t hl = hdr_v2(h, "203.0.113.7", 0);
	struct cidr_ip ip = { 0, { 203, 0, 113, 7 } };
	int a, b, c, n;

	perip_set_limit(F.perip, 1);
	a = fx_connect();
	fx_send(a, h, hl);
	n = 1;
	fx_run_until(cond_opened, &n, "first open");
	ck_assert_int_eq(perip_count(F.perip, &ip), 1);
	b = fx_connect();
	fx_send(b, h, hl);
	n = 1;
	fx_run_until(cond_closed, &n, "second refused");
	fx_expect_eof(b);
	ck_assert_int_eq(stats_get(&F.stats, ST_REJECTED_PER_IP), 1);
	ck_assert_msg(strstr(fx_log(), "refused 203.0.113.7:5555 via unix:"
	    "(unnamed): per_ip (max_conns_per_ip 1)") != NULL, "log:\n%s",
	    fx_log());
	close(a);
	n = 2;
	fx_run_until(cond_closed, &n, "first closed");
	ck_assert_int_eq(perip_count(F.perip, &ip), 0);
	c = fx_connect();
	fx_send(c, h, hl);
	fx_send(c, "z", 1);
	fx_expect(c, "Z");
	ck_assert_int_eq(perip_count(F.perip, &ip), 1);
	close(b);
	close(c);
}
END_TEST

/* A header that completes once the shutdown began: served, and draining
 * like every other connection. */
START_TEST(test_late_in_shutdown)
{
	unsigned char h[64];
	int fd = fx_connect();

	conn_shutdown_all(&F.env);
	fx_send(fd, h, hdr_v2(h, "203.0.113.7", 0));
	fx_send(fd, "q", 1);
	fx_expect(fd, "Q");
	ck_assert_msg(strstr(fx_log(), "reading -> draining") != NULL,
	    "log:\n%s", fx_log());
	close(fd);
}
END_TEST

static Suite *
proxy_wait_suite(void)
{
	Suite *s = suite_create("proxy_wait");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_split_anywhere, 0, 34);
	tcase_add_test(tc, test_v1_with_data);
	tcase_add_loop_test(tc, test_bad, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_acl);
	tcase_add_test(tc, test_per_ip);
	tcase_add_test(tc, test_late_in_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(proxy_wait_suite());
}
