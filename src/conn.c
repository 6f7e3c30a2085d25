/* conn.c: one connection's bufferevent life: read a chunk, write it back
 * uppercased, stop reading when the client does not keep up, and close
 * only once every reply is out (or a timeout says it never will be).
 *
 * Until its first byte arrives a connection has no bufferevent, only a
 * read event with the idle timeout: a socket bufferevent is five
 * allocations and about 1 KiB, most of a connection's memory, and many
 * clients connect and wait (or never send at all). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "addr.h"
#include "conn.h"
#include "log.h"
#include "upper.h"

enum close_reason {
	CLOSE_EOF,
	CLOSE_IDLE,
	CLOSE_WRITE_TIMEOUT,
	CLOSE_RESET,
	CLOSE_ERROR,
	CLOSE_SHUTDOWN,
};

static const char *reason_names[] = {
	"eof", "idle timeout", "write timeout", "reset", "error", "shutdown",
};

struct conn {
	struct bufferevent	*bev;		/* NULL until the first byte */
	struct event		*wait;		/* until then: read or idle */
	struct conn_env		*env;
	LIST_ENTRY(conn)	 link;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	unsigned		 paused:1;	/* reading off: output full */
	unsigned		 eof:1;		/* client shut its write side */
	unsigned		 draining:1;	/* server shutting down */
	unsigned		 lingering:1;	/* FIN sent, discarding input */
	unsigned		 own_skip:6;	/* see own_read_due() */
	unsigned		 own_backoff:6;
	char			*peer;		/* only at debug level */
};

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);

static evutil_socket_t
conn_fd(const struct conn *c)
{
	return c->bev != NULL ? bufferevent_getfd(c->bev) : event_get_fd(c->wait);
}

static void
conn_close(struct conn *c, enum close_reason why)
{
	struct conn_env *env = c->env;
	evutil_socket_t fd;

	if (c->peer != NULL) {
		log_debug("close %s in=%llu out=%llu reason=%s", c->peer,
		    (unsigned long long)c->bytes_in,
		    (unsigned long long)c->bytes_out, reason_names[why]);
		free(c->peer);
	}
	stats_add(env->stats, ST_CLOSED, 1);
	if (why == CLOSE_IDLE)
		stats_add(env->stats, ST_IDLE_TIMEOUTS, 1);
	else if (why == CLOSE_WRITE_TIMEOUT)
		stats_add(env->stats, ST_WRITE_TIMEOUTS, 1);
	else if (why == CLOSE_RESET || why == CLOSE_ERROR)
		stats_add(env->stats, ST_RESETS, 1);
	LIST_REMOVE(c, link);
	env->nconns--;
	fd = conn_fd(c);
	if (c->wait != NULL)
		event_free(c->wait);
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* BEV_OPT_CLOSE_ON_FREE */
	else
		evutil_closesocket(fd);
	free(c);
	env->closed(env->arg);
}

/*
 * Move every input byte to the output, uppercased, with one copy: reserve
 * contiguous room in the output, transform straight from the input's
 * chains into it, commit.  Writing through evbuffer_peek() pointers is
 * undefined, so the input is only read.
 */
static int
move_upper(struct evbuffer *out, struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec dst, src[4];
	size_t done = 0;

	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &dst, 1) != 1)
		return -1;
	while (done < n) {
		int ns = evbuffer_peek(in, (ev_ssize_t)(n - done), NULL, src, 4);
		size_t batch = 0;

		if (ns > 4)
			ns = 4;
		for (int i = 0; i < ns && done + batch < n; i++) {
			size_t len = src[i].iov_len;
			if (len > n - done - batch)
				len = n - done - batch;
			upper_copy((unsigned char *)dst.iov_base + done + batch,
			    src[i].iov_base, len);
			batch += len;
		}
		if (batch == 0 || evbuffer_drain(in, batch) != 0)
			return -1;
		done += batch;
	}
	dst.iov_len = n;
	return evbuffer_commit_space(out, &dst, 1);
}

static int	conn_drained(struct conn *);

/* reply_now()'s stack buffer: the most one read of our own takes. */
#define SCRATCH		16384
/* libevent 2.1 reads at most this much per wake-up (EVBUFFER_MAX_READ in
 * buffer.c), whatever bufferevent_set_max_single_read() says. */
#define LIBEVENT_MAX_READ	4096

/* The most one read of ours takes: chunk_size, within the stack buffer. */
static size_t
scratch_chunk(const struct conn *c)
{
	return c->env->chunk_size < SCRATCH ? c->env->chunk_size : SCRATCH;
}

/* A read or write that found nothing to do now: not an error. */
static int
try_later(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* A socket error on our own read or write, classified as libevent would. */
static void
conn_sock_error(struct conn *c, int err)
{
	if (err != ECONNRESET && err != EPIPE && c->peer != NULL)
		log_debug("%s: %s", c->peer, strerror(err));
	conn_close(c, err == ECONNRESET || err == EPIPE ? CLOSE_RESET :
	    CLOSE_ERROR);
}

/* Write buf[0..m) now if nothing is queued before it; queue the rest. */
static int
send_or_queue(struct conn *c, evutil_socket_t fd, const unsigned char *buf,
    size_t m)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	ssize_t w = 0;

	if (evbuffer_get_length(out) == 0 && (w = write(fd, buf, m)) < 0) {
		if (!try_later(errno)) {
			conn_sock_error(c, errno);
			return -1;
		}
		w = 0;
	}
	if ((size_t)w < m && evbuffer_add(out, buf + w, m - w) != 0) {
		log_warn("out of memory for a reply: closing");
		conn_close(c, CLOSE_ERROR);
		return -1;
	}
	return 0;
}

static void
conn_count(struct conn *c, size_t n)
{
	c->bytes_in += n;
	c->bytes_out += n;
	stats_add(c->env->stats, ST_BYTES_IN, n);
	stats_add(c->env->stats, ST_BYTES_OUT, n);
}

/* One read of our own: > 0 bytes read; 0 for nothing now (EAGAIN, or EOF,
 * which libevent's next read reports); -1 if c is gone. */
static ssize_t
own_read(struct conn *c, evutil_socket_t fd, unsigned char *buf, size_t want)
{
	ssize_t r = read(fd, buf, want);

	if (r < 0) {
		if (try_later(errno))
			return 0;
		conn_sock_error(c, errno);
		return -1;
	}
	conn_count(c, (size_t)r);
	return r;
}

/*
 * Whether to read on our own after a read that took all it could.  A
 * request of exactly one chunk looks the same as a stream, and then our
 * read finds nothing and costs a syscall: after each such miss, wait for
 * twice as many full reads (up to OWN_BACKOFF_MAX) before trying again.
 */
#define OWN_BACKOFF_MAX	63

static int
own_read_due(struct conn *c)
{
	if (c->own_skip == 0)
		return 1;
	c->own_skip--;
	return 0;
}

static void
own_read_result(struct conn *c, ssize_t r)
{
	if (r > 0) {
		c->own_backoff = 0;
		return;
	}
	c->own_backoff = c->own_backoff * 2 + 1 > OWN_BACKOFF_MAX ?
	    OWN_BACKOFF_MAX : c->own_backoff * 2 + 1;
	c->own_skip = c->own_backoff;
}

/*
 * The common case, nothing queued: answer straight from the stack.  A
 * socket bufferevent with EV_WRITE enabled arms its write event whenever
 * bytes are added to the output and disarms it once they are out: two
 * epoll_ctl calls per reply, plus an output chain allocated and freed.  So
 * EV_WRITE stays off while the output is empty; the input is copied out
 * (and drained) to the stack, uppercased in place and written at once, and
 * only what the kernel does not take goes to the output, with EV_WRITE
 * (and so the write timeout) enabled for it.
 *
 * A socket bufferevent does one read per wake-up, capped at 4096 bytes in
 * 2.1, each after an ioctl(FIONREAD).  When that read took all it could, a
 * stream is probably coming: top the piece up to a whole chunk_size with a
 * read of our own, then keep reading chunks ourselves, up to OWN_READS per
 * wake-up (fair to the other clients of this loop), while the kernel takes
 * every reply.  Each such chunk costs a read and a write, as in a plain
 * epoll server, instead of a trip through epoll and libevent.  Returns -1
 * if c is gone or no longer serving.
 */
#define OWN_READS	16

/* The rest of a wake-up, after its first chunk was answered: while more is
 * likely coming and the kernel took every reply, read and answer further
 * chunks on our own; then watch for writing if replies wait. */
static int
reply_more(struct conn *c, evutil_socket_t fd, unsigned char *buf,
    size_t chunk, int more)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	ssize_t r;

	for (int i = 0; more && i < OWN_READS &&
	    evbuffer_get_length(out) == 0; i++) {
		if ((r = own_read(c, fd, buf, chunk)) < 0)
			return -1;
		if (i == 0)
			own_read_result(c, r);
		more = (size_t)r == chunk;
		upper_copy(buf, buf, (size_t)r);
		if (r > 0 && send_or_queue(c, fd, buf, (size_t)r) != 0)
			return -1;
	}
	if (evbuffer_get_length(out) > 0 &&
	    bufferevent_enable(c->bev, EV_WRITE) != 0) {
		conn_close(c, CLOSE_ERROR);
		return -1;
	}
	return 0;
}

static int
reply_now(struct conn *c, struct evbuffer *in, size_t n)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	unsigned char buf[SCRATCH];
	size_t chunk = scratch_chunk(c);
	size_t cap = c->env->chunk_size < LIBEVENT_MAX_READ ?
	    c->env->chunk_size : LIBEVENT_MAX_READ;
	int more = n >= cap && own_read_due(c);
	ssize_t r;

	while (n > 0) {
		size_t m = n < sizeof(buf) ? n : sizeof(buf);

		if (evbuffer_remove(in, buf, m) != (int)m) {
			log_warn("cannot take %zu input bytes: closing", m);
			conn_close(c, CLOSE_ERROR);
			return -1;
		}
		n -= m;
		if (n == 0 && more && m < chunk) {
			if ((r = own_read(c, fd, buf + m, chunk - m)) < 0)
				return -1;
			own_read_result(c, r);
			more = (size_t)r == chunk - m;
			m += (size_t)r;
		}
		upper_copy(buf, buf, m);
		if (send_or_queue(c, fd, buf, m) != 0)
			return -1;
	}
	return reply_more(c, fd, buf, chunk, more);
}

/* Backpressure (libevent's le-proxy pattern): a client that does not read
 * its replies stops being read, so it cannot grow our memory past
 * max_pending plus one chunk.  The write timeout covers it while reading
 * is off, since the read timer does not run then. */
static void
conn_backpressure(struct conn *c)
{
	struct bufferevent *bev = c->bev;

	if (evbuffer_get_length(bufferevent_get_output(bev)) >=
	    c->env->max_pending && !c->paused) {
		c->paused = 1;
		bufferevent_disable(bev, EV_READ);
		/* conn_write_cb() resumes reading at half the bound. */
		bufferevent_setwatermark(bev, EV_WRITE, c->env->max_pending / 2, 0);
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	if (c->lingering) {
		evbuffer_drain(in, n);
		return;
	}
	conn_count(c, n);
	if (evbuffer_get_length(out) == 0) {
		if (reply_now(c, in, n) != 0)
			return;
	} else if (move_upper(out, in, n) != 0 ||
	    (!(bufferevent_get_enabled(bev) & EV_WRITE) &&
	    bufferevent_enable(bev, EV_WRITE) != 0)) {
		log_warn("out of memory for a %zu-byte reply: closing", n);
		conn_close(c, CLOSE_ERROR);
		return;
	}

	conn_backpressure(c);
}

/*
 * What the kernel still holds for this connection.  close() with unread
 * input sends a reset at once; close() with replies not yet acknowledged
 * leaves them to an orphaned socket, which answers any later byte from the
 * client with a reset and drops them.  Either way replies are lost, and
 * replies written straight to the socket (reply_now) are only visible
 * here, not in the output evbuffer.
 */
static int
has_unread(struct conn *c)
{
	int n = 0;

	return ioctl(conn_fd(c), FIONREAD, &n) == 0 && n > 0;
}

static int
has_unacked(struct conn *c)
{
	int n = 0;

	return ioctl(conn_fd(c), SIOCOUTQ, &n) == 0 && n > 0;
}

/*
 * Shutdown drain is done: nothing pending and the client quiet for
 * DRAIN_QUIET.  Closing with unread input would make the kernel send a
 * reset, and a reset can destroy replies still unread in the client's
 * receive buffer.  So send FIN after the last reply and read-and-discard
 * until the client closes or stays quiet (bounded by the shutdown
 * deadline too), as nginx's lingering close does.
 */
static void
conn_linger(struct conn *c)
{
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) != 0 ||
	    bufferevent_enable(c->bev, EV_READ) != 0) {
		conn_close(c, CLOSE_SHUTDOWN);
		return;
	}
	c->lingering = 1;
	c->paused = 0;
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
}

/* The output is empty: EV_WRITE off until the next reply that the kernel
 * does not take at once; close if that was the last one.  Returns -1 if c
 * is gone or no longer serving. */
static int
conn_drained(struct conn *c)
{
	if ((bufferevent_get_enabled(c->bev) & EV_WRITE) &&
	    bufferevent_disable(c->bev, EV_WRITE) != 0) {
		conn_close(c, CLOSE_ERROR);
		return -1;
	}
	if (c->eof) {
		conn_close(c, CLOSE_EOF);
		return -1;
	}
	return 0;
}

/* Runs after libevent wrote part of the output, when what is left is at or
 * below the write low-watermark (0, or max_pending / 2 while paused). */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t pending = evbuffer_get_length(bufferevent_get_output(bev));

	if (pending == 0 && conn_drained(c) != 0)
		return;
	if (c->paused) {
		c->paused = 0;
		if (bufferevent_enable(bev, EV_READ) != 0) {
			conn_close(c, CLOSE_ERROR);
			return;
		}
	}
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	size_t pending = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->lingering) {
		/* Quiet, but replies are still on their way: keep discarding
		 * until they are acknowledged (the shutdown deadline bounds
		 * this).  Otherwise the client closed, reset or went quiet
		 * with everything delivered: done. */
		if ((what & BEV_EVENT_TIMEOUT) && has_unacked(c) &&
		    bufferevent_enable(bev, EV_READ) == 0)
			return;
		conn_close(c, CLOSE_SHUTDOWN);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* libevent has already disabled reading.  Replies still
		 * queued go out first; the write timeout bounds that. */
		c->eof = 1;
		if (pending == 0) {
			conn_close(c, CLOSE_EOF);
			return;
		}
		c->paused = 0;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();
		if (err == ECONNRESET || err == EPIPE) {
			conn_close(c, CLOSE_RESET);
		} else {
			if (c->peer != NULL)
				log_debug("%s: %s", c->peer,
				    evutil_socket_error_to_string(err));
			conn_close(c, CLOSE_ERROR);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/* A timeout disables its direction: close or re-enable. */
		if (what & BEV_EVENT_WRITING) {
			conn_close(c, CLOSE_WRITE_TIMEOUT);
			return;
		}
		/* Nothing received for T, but replies are still going out:
		 * not idle.  Keep reading; the write timeout governs. */
		if (pending > 0 && bufferevent_enable(bev, EV_READ) == 0)
			return;
		if (c->draining)
			conn_linger(c);
		else
			conn_close(c, CLOSE_IDLE);
	}
}

static char *
peer_name(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct addr a;
	char buf[ADDR_STRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return strdup("(unknown peer)");
	addr_from_sockaddr(&a, ADDR_TCP, (struct sockaddr *)&ss, len);
	return strdup(addr_format(&a, buf, sizeof(buf)));
}

/*
 * Give c its bufferevent, reading with the idle and write timeouts, and
 * drop the wait event.  The bufferevent's read event joins the wait event
 * on the descriptor before the wait event leaves, so the descriptor stays
 * in epoll throughout: no epoll_ctl.  Returns 0, or -1 with c to close.
 */
static int
conn_promote(struct conn *c)
{
	struct conn_env *env = c->env;

	c->bev = bufferevent_socket_new(env->base, event_get_fd(c->wait),
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		return -1;
	/* chunk_size is the seed's recv(1024): the most one read takes. */
	if (bufferevent_set_max_single_read(c->bev, env->chunk_size) != 0 ||
	    bufferevent_set_timeouts(c->bev, env->idle_tv, env->write_tv) != 0)
		return -1;
	/* EV_WRITE (on by default) only while replies are pending: see
	 * reply_now(). */
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	if (bufferevent_disable(c->bev, EV_WRITE) != 0 ||
	    bufferevent_enable(c->bev, EV_READ) != 0)
		return -1;
	event_free(c->wait);
	c->wait = NULL;
	return 0;
}

/* A connection without a bufferevent: its first bytes, its end, or the
 * idle timeout.  The first chunk is read and answered here, so the
 * bufferevent starts with the connection already in its stride. */
static void
conn_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	unsigned char buf[SCRATCH];
	size_t chunk = scratch_chunk(c);
	ssize_t r;

	if (what & EV_TIMEOUT) {
		conn_close(c, CLOSE_IDLE);
		return;
	}
	if ((r = read(fd, buf, chunk)) <= 0) {
		if (r == 0)
			conn_close(c, CLOSE_EOF);
		else if (!try_later(errno))
			conn_sock_error(c, errno);
		return;
	}
	if (conn_promote(c) != 0) {
		log_warn("cannot set up a connection: %s", strerror(errno));
		conn_close(c, CLOSE_ERROR);
		return;
	}
	conn_count(c, (size_t)r);
	upper_copy(buf, buf, (size_t)r);
	if (send_or_queue(c, fd, buf, (size_t)r) != 0 ||
	    reply_more(c, fd, buf, chunk, (size_t)r == chunk) != 0)
		return;
	conn_backpressure(c);
}

struct conn *
conn_new(struct conn_env *env, evutil_socket_t fd)
{
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->env = env;
	c->wait = event_new(env->base, fd, EV_READ | EV_PERSIST, conn_wait_cb,
	    c);
	if (c->wait == NULL || event_add(c->wait, env->idle_tv) != 0)
		goto fail;
	if (log_get_level() >= LOG_DEBUG) {
		c->peer = peer_name(fd);
		log_debug("open %s", c->peer ? c->peer : "(unknown peer)");
	}
	LIST_INSERT_HEAD(&env->conns, c, link);
	env->nconns++;
	stats_add(env->stats, ST_OPENED, 1);
	return c;

fail:
	log_warn("cannot set up a connection: %s", strerror(errno));
	if (c != NULL && c->wait != NULL)
		event_free(c->wait);	/* after the log: it may clobber errno */
	free(c);
	evutil_closesocket(fd);
	stats_add(env->stats, ST_REJECTED, 1);
	env->closed(env->arg);
	return NULL;
}

/* How long a draining connection must be quiet before it is closed. */
static const struct timeval drain_quiet = { 0, 500000 };

static void
conn_shutdown(struct conn *c)
{
	size_t pending;

	/* Never sent a byte: nothing to finish unless its first bytes are
	 * here, and those get the bufferevent and the drain below. */
	if (c->wait != NULL && (!has_unread(c) || conn_promote(c) != 0)) {
		conn_close(c, CLOSE_SHUTDOWN);
		return;
	}
	pending = evbuffer_get_length(bufferevent_get_output(c->bev));
	c->draining = 1;
	if (pending == 0 && (c->eof || (!has_unread(c) && !has_unacked(c)))) {
		conn_close(c, CLOSE_SHUTDOWN);
		return;
	}
	/*
	 * Keep answering, also what is still on its way: a client mid-upload
	 * can leave nothing unread for a moment while its next segment waits
	 * for our window update.  Once it has sent nothing for DRAIN_QUIET
	 * and every reply is out, the read timeout ends the drain
	 * (conn_event_cb -> conn_linger); a half-close ends it sooner.
	 */
	if (bufferevent_set_timeouts(c->bev, &drain_quiet,
	    c->env->write_tv) != 0)
		conn_close(c, CLOSE_SHUTDOWN);
}

void
conn_shutdown_all(struct conn_env *env)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&env->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		conn_shutdown(c);
	}
}

void
conn_close_all(struct conn_env *env)
{
	while (!LIST_EMPTY(&env->conns))
		conn_close(LIST_FIRST(&env->conns), CLOSE_SHUTDOWN);
}
