/* check_conn.c: one stream connection's life (conn.c), driven over a
 * socketpair on a private event loop: echo, half-close with replies
 * queued, backpressure, idle and write timeouts, the shutdown drain and
 * the lingering close.  The test holds the other end of the pair and runs
 * the loop one iteration at a time (EVLOOP_ONCE, woken at least every
 * TICK_US by a timer), so it decides what lands in which iteration.
 * States are observed from outside (bytes, EOF, counters) and through
 * the debug trace `conn PEER: FROM -> TO`, read back from stderr. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "stats.h"
#include "upper.h"
#include "check_main.h"

#define CHUNK		1024	/* the daemon's default chunk_size */
#define SOCKBUF		4096	/* SO_SNDBUF of both ends: queues fill early */
#define TICK_US		10000
#define DEADLINE_S	30.0	/* the longest any wait may take */
/* conn.c's quiet time of a drain, and a margin past it. */
#define DRAIN_QUIET_S	0.5
#define PAST_QUIET_S	0.2

struct fixture {
	struct event_base	*base;
	struct event		*tick;
	struct conn_env		 env;
	struct stats		 stats;
	unsigned char		 scratch[CHUNK];
	int			 ours;		/* the connection's end */
	int			 peer;		/* the test's end */
	int			 closed;	/* env.closed calls */
	int			 break_on_close;
	/* The peer sends pattern bytes 0..nsent) and checks each reply. */
	size_t			 nsent;
	size_t			 ngot;
	long long		 mismatch;	/* first wrong reply byte, or -1 */
	int			 peer_eof;
	int			 peer_err;
	int			 log_fd;	/* stderr goes here */
	int			 saved_stderr;
	char			 log[65536];
};

static struct fixture F;

static unsigned char
pattern(size_t i)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789-.Q~";

	return (unsigned char)set[((uint32_t)i * 2654435761u >> 13) % 40];
}

#define now_s	check_now_s

/* Everything logged so far (the tail, if it is long). */
static const char *
fx_log(void)
{
	return check_log_tail(F.log_fd, F.log, sizeof(F.log));
}

static int
fx_logged(const char *what)
{
	return strstr(fx_log(), what) != NULL;
}

static void
fx_closed(void *arg)
{
	(void)arg;
	F.closed++;
	/* What a threaded worker does when its last connection is gone. */
	if (F.break_on_close)
		event_base_loopbreak(F.base);
}

static void
fx_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
setup(void)
{
	struct timeval tick = { 0, TICK_US };
	char path[] = "/tmp/check_conn.XXXXXX";
	int sv[2], size = SOCKBUF;

	memset(&F, 0, sizeof(F));
	F.mismatch = -1;
	F.log_fd = mkstemp(path);
	ck_assert_int_ge(F.log_fd, 0);
	unlink(path);
	F.saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(F.saved_stderr, 0);
	ck_assert_int_eq(dup2(F.log_fd, STDERR_FILENO), STDERR_FILENO);
	log_set_level(LOG_DEBUG);

	F.base = event_base_new();
	ck_assert_ptr_nonnull(F.base);
	F.tick = event_new(F.base, -1, EV_PERSIST, fx_tick, NULL);
	ck_assert_ptr_nonnull(F.tick);
	ck_assert_int_eq(event_add(F.tick, &tick), 0);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF,
		    &size, sizeof(size)), 0);
	F.ours = sv[0];
	F.peer = sv[1];

	stats_init(&F.stats);
	F.env.base = F.base;
	F.env.chunk_size = CHUNK;
	F.env.scratch = F.scratch;
	F.env.max_pending = 65536;
	F.env.stats = &F.stats;
	F.env.closed = fx_closed;
	LIST_INIT(&F.env.conns);
}

static void
teardown(void)
{
	conn_close_all(&F.env);
	event_free(F.tick);
	event_base_free(F.base);
	close(F.peer);
	dup2(F.saved_stderr, STDERR_FILENO);
	close(F.saved_stderr);
	close(F.log_fd);
	log_set_level(LOG_INFO);
}

/* The worker's way: a timeout every connection shares is a common
 * timeout.  0: none. */
static const struct timeval *
fx_common_tv(long us)
{
	struct timeval tv = { us / 1000000, us % 1000000 };
	const struct timeval *common;

	if (us == 0)
		return NULL;
	common = event_base_init_common_timeout(F.base, &tv);
	ck_assert_ptr_nonnull(common);
	return common;
}

static void
fx_timeouts(long idle_us, long write_us)
{
	F.env.idle_tv = fx_common_tv(idle_us);
	F.env.write_tv = fx_common_tv(write_us);
}

static void
fx_open(void)
{
	ck_assert_ptr_nonnull(conn_new(&F.env, F.ours));
	ck_assert_int_eq(F.env.nconns, 1);
}

/* Send up to n more pattern bytes, as many as the socket takes now. */
static void
peer_send(size_t n)
{
	unsigned char buf[8192];

	while (n > 0) {
		size_t len = n < sizeof(buf) ? n : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < len; i++)
			buf[i] = pattern(F.nsent + i);
		w = send(F.peer, buf, len, MSG_NOSIGNAL);
		if (w < 0) {
			ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK,
			    "peer send: %s", strerror(errno));
			return;
		}
		F.nsent += (size_t)w;
		n -= (size_t)w;
	}
}

/* Read what has arrived, checking every byte against the pattern. */
static void
peer_recv(void)
{
	unsigned char buf[8192];
	ssize_t r;

	while (!F.peer_eof && !F.peer_err) {
		r = recv(F.peer, buf, sizeof(buf), 0);
		if (r == 0)
			F.peer_eof = 1;
		else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else if (r < 0)
			F.peer_err = errno;
		for (ssize_t i = 0; i < r; i++)
			if (F.mismatch < 0 &&
			    buf[i] != upper_byte(pattern(F.ngot + (size_t)i)))
				F.mismatch = (long long)(F.ngot + (size_t)i);
		if (r > 0)
			F.ngot += (size_t)r;
	}
}

/* One loop iteration: at most TICK_US unless something is ready. */
static void
fx_step(void)
{
	ck_assert_int_ge(event_base_loop(F.base, EVLOOP_ONCE), 0);
}

/* Run the loop until done() holds; fail naming what after DEADLINE_S. */
static void
fx_run_until(int (*done)(void), const char *what)
{
	double end = now_s() + DEADLINE_S;

	while (!done()) {
		ck_assert_msg(now_s() < end, "no %s after %.0f s: sent %zu, "
		    "got %zu, eof %d, conns %d; log:\n%s", what, DEADLINE_S,
		    F.nsent, F.ngot, F.peer_eof, F.env.nconns, fx_log());
		fx_step();
	}
}

static uint64_t
fx_stat(enum stat_id id)
{
	return stats_get(&F.stats, id);
}

static uint64_t
fx_closed_count(void)
{
	struct stats *each = &F.stats;
	struct stats_snap snap;

	stats_snapshot(&snap, &each, 1);
	return stats_closed(&snap);
}

/* Closed by a reset or a socket error. */
static uint64_t
fx_resets(void)
{
	return fx_stat(ST_CLOSED_RESET) + fx_stat(ST_CLOSED_ERROR);
}

static int
kernel_count(int fd, unsigned long what)
{
	int n = 0;

	ck_assert_int_eq(ioctl(fd, what, &n), 0);
	return n;
}

/* The peer's replies are all in, with nothing wrong among them. */
static void
check_replies(void)
{
	ck_assert_msg(F.mismatch < 0, "reply byte %lld is wrong", F.mismatch);
	ck_assert_msg(F.ngot == F.nsent, "sent %zu, got %zu back", F.nsent,
	    F.ngot);
	ck_assert_msg(F.peer_err == 0, "peer: %s", strerror(F.peer_err));
}

static void
check_closed(const char *reason)
{
	char want[64];

	snprintf(want, sizeof(want), "reason=%s\n", reason);
	ck_assert_int_eq(F.env.nconns, 0);
	ck_assert_int_eq(F.closed, 1);
	ck_assert_msg(fx_logged(want), "closed with %s; log:\n%s", want,
	    fx_log());
	ck_assert_int_eq(fx_closed_count(), 1);
	/* Whatever was still queued left the pending-bytes gauge with it. */
	ck_assert_int_eq(fx_stat(ST_PENDING), 0);
}

/* Conditions for fx_run_until(). */
static int
all_replies(void)
{
	peer_recv();
	return F.ngot >= F.nsent || F.peer_eof || F.peer_err;
}

static int
peer_saw_eof(void)
{
	peer_recv();
	return F.peer_eof || F.peer_err;
}

static int
conn_gone(void)
{
	return F.env.nconns == 0;
}

static size_t pump_target;

/* Send, never read, until pump_target bytes are sent and read. */
static int
pumped(void)
{
	peer_send(pump_target - F.nsent);
	return fx_stat(ST_BYTES_IN) == pump_target;
}

static void
pump(size_t n)
{
	pump_target = F.nsent + n;
	fx_run_until(pumped, "upload read by the connection");
}

static const char *trace_wanted;

/* Done also if the connection is gone: the caller's check says why. */
static int
traced(void)
{
	return fx_logged(trace_wanted) || F.env.nconns == 0;
}

static void
wait_trace(const char *transition)
{
	static char line[128];

	snprintf(line, sizeof(line), "conn unix:(unnamed): %s\n", transition);
	trace_wanted = line;
	fx_run_until(traced, transition);
	ck_assert_msg(fx_logged(line), "no %s; log:\n%s", transition, fx_log());
}

START_TEST(test_echo)
{
	fx_open();
	peer_send(3 * CHUNK + 17);	/* several reads' worth */
	fx_run_until(all_replies, "echo");
	check_replies();
	ck_assert_int_eq(fx_stat(ST_BYTES_IN), 3 * CHUNK + 17);
	ck_assert_int_eq(fx_stat(ST_BYTES_OUT), 3 * CHUNK + 17);
	ck_assert_int_eq(shutdown(F.peer, SHUT_WR), 0);
	fx_run_until(peer_saw_eof, "EOF after the client's EOF");
	check_closed("eof");
	ck_assert_int_eq(fx_stat(ST_OPENED), 1);
}
END_TEST

START_TEST(test_half_close_with_replies_queued)
{
	/* 48 KiB under max_pending: all read, most replies queued, since
	 * the peer does not read yet. */
	fx_open();
	pump(48 * 1024);
	ck_assert_int_eq(shutdown(F.peer, SHUT_WR), 0);
	wait_trace("reading -> flushing");
	ck_assert_int_eq(F.env.nconns, 1);
	fx_run_until(peer_saw_eof, "every reply, then EOF");
	check_replies();
	check_closed("eof");
	ck_assert_int_eq(fx_resets(), 0);
}
END_TEST

static int
closed_reading(void)
{
	peer_recv();
	return F.closed > 0;
}

/* A threaded worker leaves its loop (event_base_loopbreak) in the close
 * of its last connection.  That client must have its EOF by then, not
 * once the loop runs again or the base is freed (bufferevent_free defers
 * a BEV_OPT_CLOSE_ON_FREE close to a finalizer). */
START_TEST(test_close_releases_the_socket_at_once)
{
	F.break_on_close = 1;
	fx_open();
	pump(48 * 1024);	/* replies queued: it has a bufferevent */
	ck_assert_int_eq(shutdown(F.peer, SHUT_WR), 0);
	wait_trace("reading -> flushing");
	fx_run_until(closed_reading, "close after the last reply");
	peer_recv();		/* the loop does not run again */
	check_replies();
	ck_assert_msg(F.peer_eof, "no EOF yet when the loop returned from the "
	    "close");
	check_closed("eof");
}
END_TEST

static int
pumped_paused(void)
{
	peer_send(1 << 20);
	return fx_logged("conn unix:(unnamed): reading -> paused\n");
}

static int
peer_drained_resumed(void)
{
	peer_recv();
	return fx_logged("conn unix:(unnamed): paused -> reading\n");
}

static uint64_t bytes_in_paused;

static int
reads_again(void)
{
	peer_recv();
	return fx_stat(ST_BYTES_IN) > bytes_in_paused;
}

START_TEST(test_backpressure_pause_resume)
{
	int sndbuf;
	socklen_t len = sizeof(sndbuf);

	F.env.max_pending = 8192;
	fx_open();
	fx_run_until(pumped_paused, "pause at max_pending");
	/* Paused: the peer keeps sending, input waits in the kernel, and
	 * the connection reads none of it. */
	bytes_in_paused = fx_stat(ST_BYTES_IN);
	for (int i = 0; i < 20; i++) {
		peer_send(1 << 20);
		fx_step();
	}
	ck_assert_msg(fx_stat(ST_BYTES_IN) == bytes_in_paused, "read %llu "
	    "bytes while paused", (unsigned long long)(fx_stat(ST_BYTES_IN) -
	    bytes_in_paused));
	ck_assert_int_gt(kernel_count(F.ours, FIONREAD), 0);
	/* What it holds is bounded: max_pending plus one chunk, beyond what
	 * its socket holds. */
	ck_assert_int_eq(getsockopt(F.ours, SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    &len), 0);
	ck_assert_msg(bytes_in_paused <= F.env.max_pending + CHUNK +
	    2 * (size_t)sndbuf, "holds %llu bytes of replies",
	    (unsigned long long)bytes_in_paused);
	/* The peer reads: the connection resumes at half the bound and
	 * reads what waited. */
	fx_run_until(peer_drained_resumed, "resume once the peer reads");
	fx_run_until(reads_again, "reads after the resume");
	fx_run_until(all_replies, "every reply");
	check_replies();
	ck_assert_int_eq(F.env.nconns, 1);
}
END_TEST

START_TEST(test_idle_timeout)
{
	fx_timeouts(200000, 0);
	fx_open();
	peer_send(10);
	fx_run_until(all_replies, "echo");
	fx_run_until(conn_gone, "idle timeout");
	check_closed("idle timeout");
	ck_assert_int_eq(fx_stat(ST_CLOSED_IDLE), 1);
	peer_recv();
	check_replies();
	ck_assert(F.peer_eof);
}
END_TEST

START_TEST(test_write_timeout)
{
	/* Replies queue and the peer never reads them; the idle timeout,
	 * shorter, must not close it: replies are pending. */
	fx_timeouts(100000, 300000);
	fx_open();
	pump(32 * 1024);
	fx_run_until(conn_gone, "write timeout");
	check_closed("write timeout");
	ck_assert_int_eq(fx_stat(ST_CLOSED_WRITE_TIMEOUT), 1);
	ck_assert_int_eq(fx_stat(ST_CLOSED_IDLE), 0);
}
END_TEST

/* Quiet with every reply out: FIN (lingering), the connection still open
 * to absorb late input. */
static void
wait_linger(void)
{
	fx_run_until(peer_saw_eof, "FIN once quiet");
	check_replies();
	ck_assert_int_eq(F.env.nconns, 1);
	ck_assert(fx_logged("conn unix:(unnamed): draining -> lingering\n"));
}

/* Lingering, then quiet again with every reply acknowledged: closed. */
static void
wait_quiet_close(void)
{
	fx_run_until(conn_gone, "close once quiet and acknowledged");
	check_closed("shutdown");
	ck_assert_int_eq(fx_resets(), 0);
}

/* A busy connection at shutdown: replies queued, more input on its way. */
static void
start_busy_drain(void)
{
	fx_open();
	pump(32 * 1024);
	conn_shutdown_all(&F.env);
	ck_assert_int_eq(F.env.nconns, 1);
	ck_assert_msg(fx_logged("conn unix:(unnamed): reading -> draining\n"),
	    "draining; log:\n%s", fx_log());
	/* Still answered while draining, also what comes after. */
	peer_send(100);
	fx_run_until(all_replies, "every reply while draining");
	check_replies();
	wait_linger();
}

START_TEST(test_drain_then_quiet_close)
{
	start_busy_drain();
	wait_quiet_close();
}
END_TEST

static int
late_input_read(void)
{
	return kernel_count(F.ours, FIONREAD) == 0;
}

START_TEST(test_lingering_close_discards_late_input)
{
	static const char late[2048] = "late";

	start_busy_drain();
	ck_assert_int_eq(send(F.peer, late, sizeof(late), MSG_NOSIGNAL),
	    sizeof(late));
	fx_run_until(late_input_read, "late input read");
	ck_assert_int_eq(F.env.nconns, 1);
	ck_assert_int_eq(shutdown(F.peer, SHUT_WR), 0);
	fx_run_until(conn_gone, "close at the client's EOF");
	check_closed("shutdown");
	ck_assert_int_eq(fx_resets(), 0);
}
END_TEST

START_TEST(test_info_level_traces_nothing)
{
	/* Open, flushing, closed: not one line below debug. */
	log_set_level(LOG_INFO);
	fx_open();
	pump(16 * 1024);
	ck_assert_int_eq(shutdown(F.peer, SHUT_WR), 0);
	fx_run_until(peer_saw_eof, "every reply, then EOF");
	check_replies();
	ck_assert_int_eq(F.env.nconns, 0);
	ck_assert_msg(fx_log()[0] == '\0', "logged at info:\n%s", fx_log());
}
END_TEST

/* With no write timeout, a client that stops reading while replies wait
 * is never closed by the idle timeout either (README): not while replies
 * are pending, not while paused.  Once it reads them all and stays
 * quiet, the idle timeout closes it. */
START_TEST(test_no_write_timeout_keeps_a_stalled_reader)
{
	double until;

	fx_timeouts(100000, 0);
	F.env.max_pending = 8192;
	fx_open();
	fx_run_until(pumped_paused, "pause at max_pending");
	until = now_s() + 10 * 0.1;	/* ten idle timeouts */
	while (now_s() < until)
		fx_step();
	ck_assert_msg(F.env.nconns == 1, "closed while replies waited; log:\n%s",
	    fx_log());
	fx_run_until(all_replies, "every reply");
	check_replies();
	fx_run_until(conn_gone, "idle timeout once quiet");
	check_closed("idle timeout");
}
END_TEST

/* A connection that has sent nothing yet gets the same grace at shutdown
 * as a busy one: its first bytes may still be on their way. */
START_TEST(test_drain_serves_a_connection_that_sent_nothing_yet)
{
	fx_open();
	conn_shutdown_all(&F.env);
	ck_assert_int_eq(F.env.nconns, 1);
	peer_send(5);
	fx_run_until(all_replies, "the reply to the first bytes");
	check_replies();
	ck_assert_msg(!F.peer_eof, "EOF instead of the reply");
	wait_linger();
	wait_quiet_close();
}
END_TEST

START_TEST(test_drain_closes_a_silent_connection_once_quiet)
{
	fx_open();
	conn_shutdown_all(&F.env);
	ck_assert_int_eq(F.env.nconns, 1);
	wait_linger();
	wait_quiet_close();
	ck_assert_int_eq(F.ngot, 0);
}
END_TEST

START_TEST(test_drain_ends_at_a_half_close)
{
	fx_open();
	conn_shutdown_all(&F.env);
	ck_assert_int_eq(shutdown(F.peer, SHUT_WR), 0);
	fx_run_until(conn_gone, "close at the client's EOF");
	check_closed("eof");
	fx_run_until(peer_saw_eof, "EOF");
}
END_TEST

/* Sleep, the loop not running, until at least when. */
static void
sleep_until(double when)
{
	double left;

	while ((left = when - now_s()) > 0) {
		struct timespec ts = { (time_t)left,
		    (long)((left - (double)(time_t)left) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

/*
 * The drain's quiet time is a heap timeout: when it is due in the same
 * loop iteration as input becomes readable, libevent delivers EV_TIMEOUT
 * alone.  Input that has arrived must still be answered, not dropped by a
 * lingering close.  Not running the loop while the deadline passes puts
 * both in one iteration every time.
 */
START_TEST(test_drain_serves_input_landing_with_its_deadline)
{
	double due;

	fx_open();
	pump(2);
	conn_shutdown_all(&F.env);
	due = now_s() + DRAIN_QUIET_S + PAST_QUIET_S;
	ck_assert_int_eq(F.env.nconns, 1);
	fx_run_until(all_replies, "the reply before the drain");
	sleep_until(due);
	peer_send(2);
	fx_step();		/* the deadline and the input at once */
	fx_run_until(all_replies, "the reply to input at the deadline");
	check_replies();
	ck_assert_msg(!F.peer_eof, "EOF instead of the reply");
}
END_TEST

/* The same in a lingering close: input that landed with the deadline is
 * read and discarded; closing with it unread would reset the client. */
START_TEST(test_linger_reads_input_landing_with_its_deadline)
{
	static const char late[] = "late";
	int err = 0;
	socklen_t len = sizeof(err);

	start_busy_drain();
	sleep_until(now_s() + DRAIN_QUIET_S + PAST_QUIET_S);
	ck_assert_int_eq(send(F.peer, late, sizeof(late), MSG_NOSIGNAL),
	    sizeof(late));
	fx_step();		/* the deadline and the input at once */
	fx_run_until(conn_gone, "close once quiet again");
	check_closed("shutdown");
	ck_assert_int_eq(getsockopt(F.peer, SOL_SOCKET, SO_ERROR, &err, &len),
	    0);
	ck_assert_msg(err == 0, "the client got %s", strerror(err));
}
END_TEST

/* A test case on the fixture, with room for the longest wait. */
static TCase *
fx_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 2 * DEADLINE_S);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc;

	tc = fx_tcase(s, "serve");
	tcase_add_test(tc, test_echo);
	tcase_add_test(tc, test_half_close_with_replies_queued);
	tcase_add_test(tc, test_backpressure_pause_resume);
	tcase_add_test(tc, test_info_level_traces_nothing);
	tcase_add_test(tc, test_close_releases_the_socket_at_once);

	tc = fx_tcase(s, "timeouts");
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_write_timeout);
	tcase_add_test(tc, test_no_write_timeout_keeps_a_stalled_reader);

	tc = fx_tcase(s, "shutdown");
	tcase_add_test(tc, test_drain_then_quiet_close);
	tcase_add_test(tc, test_lingering_close_discards_late_input);
	tcase_add_test(tc, test_drain_serves_input_landing_with_its_deadline);
	tcase_add_test(tc, test_linger_reads_input_landing_with_its_deadline);
	tcase_add_test(tc, test_drain_serves_a_connection_that_sent_nothing_yet);
	tcase_add_test(tc, test_drain_closes_a_silent_connection_once_quiet);
	tcase_add_test(tc, test_drain_ends_at_a_half_close);
	return s;
}

int
main(void)
{
	return check_run(conn_suite());
}
