/* conn.c: one stream connection's life: read a chunk, write it back
 * uppercased, stop reading when the client does not keep up, and close
 * only once every reply is out (or a timeout says it never will be).
 *
 * A connection reads with one event of its own (EV_READ|EV_PERSIST, the
 * idle timeout on it) into its loop's scratch buffer and answers with a
 * write() straight from there.
 * Replies the kernel does not take at once go to a bufferevent, created
 * the first time that happens: its output buffer holds them, writes them
 * as the socket allows, under the write timeout, and its write
 * low-watermark tells us when to read again.
 *
 * Why the bufferevent does not read (BENCHMARKS.md): a socket
 * bufferevent's read costs an ioctl(FIONREAD), an input chain allocated
 * and freed and ~1500 instructions of bookkeeping per message, 10-20 % of
 * the small-message rate of a plain epoll server; the read() here costs
 * what that server's does.  And a waiting client without a bufferevent is
 * ~270 bytes of server memory instead of ~1.1 KiB. */
#include <errno.h>
#include <stdint.h>
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
#include "perip.h"
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

/* Each reason's counter. */
static const enum stat_id reason_stats[] = {
	ST_CLOSED_EOF, ST_CLOSED_IDLE, ST_CLOSED_WRITE_TIMEOUT, ST_CLOSED_RESET,
	ST_CLOSED_ERROR, ST_CLOSED_SHUTDOWN,
};
_Static_assert(sizeof(reason_stats) / sizeof(reason_stats[0]) ==
    CLOSE_SHUTDOWN + 1, "a counter for every close reason");

/*
 * Where a connection is in its life.  Each state fixes what is armed, and
 * conn_enter_state() is the one place that changes it:
 *
 *   state         reads  read timer   write low-watermark
 *   reading       on     idle_tv      0
 *   paused        off    -            max_pending / 2
 *   flushing      off    -            0
 *   draining      on     drain_quiet  0
 *   drain-paused  off    -            max_pending / 2
 *   lingering     on     drain_quiet  0 (FIN sent, input discarded)
 *
 * The legal transitions (and from any state: closed, which frees it):
 *   reading  -> paused        replies queued reach max_pending
 *   paused   -> reading       they fell to max_pending / 2
 *   reading  -> flushing      EOF with replies queued
 *   reading  -> draining      shutdown
 *   paused   -> drain-paused  shutdown
 *   draining -> drain-paused, drain-paused -> draining, draining ->
 *                             flushing: as the three above
 *   draining -> lingering     quiet for drain_quiet, every reply out
 * A flushing connection stays so at shutdown: it closes when its replies
 * are out.
 */
enum conn_state {
	CONN_READING,
	CONN_PAUSED,
	CONN_FLUSHING,
	CONN_DRAINING,
	CONN_DRAIN_PAUSED,
	CONN_LINGERING,
};

static const char *state_names[] = {
	"reading", "paused", "flushing", "draining", "drain-paused",
	"lingering",
};

struct conn {
	struct event		*ev;		/* reading, and the idle timer */
	struct bufferevent	*bev;		/* NULL until a reply must wait */
	struct conn_env		*env;
	LIST_ENTRY(conn)	 link;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	/* enum conn_state, in a byte of its own: testing it costs one
	 * compare, as a one-bit flag did (a narrower bitfield adds a mask
	 * on the per-message path). */
	uint8_t			 state;
	unsigned		 more_skip:6;	/* see more_due() */
	unsigned		 more_backoff:6;
	char			*peer;		/* only at debug level */
	struct perip_slot	*slot;		/* NULL: not counted */
};

/* Further chunks read in one wake-up while the kernel takes every reply:
 * a stream costs a read and a write per chunk, as in a plain epoll server,
 * instead of a trip through epoll each; the bound keeps it fair to the
 * other clients of this loop. */
#define MORE_READS	16
/* See more_due(). */
#define MORE_BACKOFF_MAX	63

/* How long a draining connection must be quiet before it is closed. */
static const struct timeval drain_quiet = { 0, 500000 };

static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);

static evutil_socket_t
conn_fd(const struct conn *c)
{
	return event_get_fd(c->ev);
}

/* Replies upcased holds; those the kernel took are not counted. */
static size_t
conn_pending(const struct conn *c)
{
	return c->bev != NULL ?
	    evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

/* Keeps the pending-bytes gauge: runs on every change to the queued
 * replies, which only a connection whose replies had to wait has. */
static void
conn_pending_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	(void)buf;
	stats_add(c->env->stats, ST_PENDING, (uint64_t)info->n_added -
	    (uint64_t)info->n_deleted);
}

/* Freeing the output calls no callback: take what it holds off the gauge
 * first. */
static void
conn_unwatch_pending(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_remove_cb(out, conn_pending_cb, c);
	stats_add(c->env->stats, ST_PENDING, -(uint64_t)evbuffer_get_length(out));
}

static void
conn_close(struct conn *c, enum close_reason why)
{
	struct conn_env *env = c->env;
	evutil_socket_t fd = conn_fd(c);

	if (c->peer != NULL) {
		log_debug("close %s in=%llu out=%llu reason=%s", c->peer,
		    (unsigned long long)c->bytes_in,
		    (unsigned long long)c->bytes_out, reason_names[why]);
		free(c->peer);
	}
	stats_add(env->stats, reason_stats[why], 1);
	perip_give(env->admit.perip, c->slot);
	LIST_REMOVE(c, link);
	env->nconns--;
	event_free(c->ev);
	/* The bufferevent does not own the descriptor: with
	 * BEV_OPT_CLOSE_ON_FREE the close would wait for a finalizer that
	 * runs only when the loop runs again, and a worker whose last
	 * connection this was leaves its loop now, so the client would see
	 * its EOF only at exit.  bufferevent_free() takes the events out of
	 * epoll at once; only freeing the memory is deferred. */
	if (c->bev != NULL) {
		conn_unwatch_pending(c);
		bufferevent_free(c->bev);
	}
	evutil_closesocket(fd);
	free(c);
	env->closed(env->arg);
}

static int
conn_is_paused(enum conn_state s)
{
	return s == CONN_PAUSED || s == CONN_DRAIN_PAUSED;
}

/* Move c to state to and arm what that state needs (the table above).
 * Returns 0, or -1 if the read event cannot be armed: the caller closes.
 * Not on the per-message path: a state changes a few times in a
 * connection's life, and the trace is formatted only at debug level. */
static int
conn_enter_state(struct conn *c, enum conn_state to)
{
	enum conn_state from = c->state;

	if (c->peer != NULL)
		log_debug("conn %s: %s -> %s", c->peer, state_names[from],
		    state_names[to]);
	c->state = to;
	switch (to) {
	case CONN_PAUSED:
	case CONN_DRAIN_PAUSED:
	case CONN_FLUSHING:
		event_del(c->ev);
		bufferevent_setwatermark(c->bev, EV_WRITE, to == CONN_FLUSHING ?
		    0 : c->env->max_pending / 2, 0);
		return 0;
	case CONN_READING:
	case CONN_DRAINING:
		if (conn_is_paused(from))
			bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		return event_add(c->ev, to == CONN_DRAINING ? &drain_quiet :
		    c->env->idle_tv);
	case CONN_LINGERING:
		break;		/* the drain's read event goes on as it is */
	}
	return 0;
}

/* A read or write that found nothing to do now: not an error. */
static int
try_later(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* A socket error on a read or write, classified as libevent would. */
static void
conn_sock_error(struct conn *c, int err)
{
	if (err != ECONNRESET && err != EPIPE && c->peer != NULL)
		log_debug("%s: %s", c->peer, strerror(err));
	conn_close(c, err == ECONNRESET || err == EPIPE ? CLOSE_RESET :
	    CLOSE_ERROR);
}

/* inline, as send_or_queue(): on the per-message path, and called from
 * conn_serve_early() too, which would otherwise cost every message a
 * call (callgrind: 22 instructions a message). */
static inline void
conn_count(struct conn *c, size_t n)
{
	c->bytes_in += n;
	c->bytes_out += n;
	stats_add(c->env->stats, ST_BYTES_IN, n);
	stats_add(c->env->stats, ST_BYTES_OUT, n);
}

/*
 * Give c the bufferevent that holds its waiting replies.  Only its write
 * side is ever enabled (a socket bufferevent starts with EV_WRITE on and
 * arms its write event only while the output has bytes), so the read
 * event stays ours.  Returns 0, or -1 with c to close.
 */
static int
conn_promote(struct conn *c)
{
	c->bev = bufferevent_socket_new(c->env->base, conn_fd(c), 0);
	if (c->bev == NULL)
		return -1;
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	if (evbuffer_add_cb(bufferevent_get_output(c->bev), conn_pending_cb,
	    c) == NULL)
		return -1;
	return bufferevent_set_timeouts(c->bev, NULL, c->env->write_tv);
}

/*
 * No memory to queue a reply: c is closed.  Out of memory this happens
 * to one client after another, so a run of failures is logged once: the
 * first here, the rest counted until a connection is set up again (its
 * line in conn_open says how many).
 */
static void
conn_queue_failed(struct conn *c, size_t n)
{
	if (c->env->failures++ == 0)
		log_warn("cannot queue a %zu-byte reply: closing (the next "
		    "failures are counted until a connection is set up)", n);
	conn_close(c, CLOSE_ERROR);
}

/* Stop reading from a client whose replies pile up (libevent's le-proxy
 * pattern), so it cannot grow our memory past max_pending plus one chunk.
 * conn_write_cb() resumes at half the bound; the write timeout covers the
 * client meanwhile, since the read timer does not run. */
static void
conn_backpressure(struct conn *c)
{
	if (conn_pending(c) < c->env->max_pending)
		return;
	if (c->state != CONN_READING && c->state != CONN_DRAINING)
		return;
	stats_add(c->env->stats, ST_BACKPRESSURE_PAUSES, 1);
	conn_enter_state(c, c->state == CONN_READING ? CONN_PAUSED :
	    CONN_DRAIN_PAUSED);
}

/*
 * Queue the part of a reply the kernel did not take.  Returns -1 if c is
 * gone.  When the queue starts, EV_WRITE is enabled here although the
 * output's callback in libevent arms the write event too: libevent 2.1
 * ignores a failure to register that callback in bufferevent_socket_new
 * (an allocation) and a failed event_add in it, and either leaves
 * replies queued with no write event and no write timeout, a connection
 * stuck until shutdown.  Enabling arms the event (and its timeout)
 * whatever happened there, and says if it cannot.
 */
static int
conn_queue(struct conn *c, const unsigned char *p, size_t n)
{
	int starts = conn_pending(c) == 0;

	if ((c->bev == NULL && conn_promote(c) != 0) ||
	    evbuffer_add(bufferevent_get_output(c->bev), p, n) != 0 ||
	    (starts && bufferevent_enable(c->bev, EV_WRITE) != 0)) {
		conn_queue_failed(c, n);
		return -1;
	}
	conn_backpressure(c);
	return 0;
}

/* Write buf[0..m) now if nothing is queued before it; queue the rest.
 * Returns -1 if c is gone. */
static inline int
send_or_queue(struct conn *c, const unsigned char *buf, size_t m)
{
	ssize_t w = 0;

	if (conn_pending(c) == 0 && (w = write(conn_fd(c), buf, m)) < 0) {
		if (!try_later(errno)) {
			conn_sock_error(c, errno);
			return -1;
		}
		w = 0;
	}
	if ((size_t)w < m)
		return conn_queue(c, buf + w, m - w);
	return 0;
}

/*
 * Whether to read again in this wake-up after a read that filled a whole
 * chunk.  A request of exactly one chunk looks the same as a stream, and
 * then the read finds nothing and costs a syscall: after each such miss,
 * wait for twice as many full reads (up to MORE_BACKOFF_MAX) before trying
 * again.
 */
static int
more_due(struct conn *c)
{
	if (c->more_skip == 0)
		return 1;
	c->more_skip--;
	return 0;
}

static void
more_result(struct conn *c, int hit)
{
	if (hit) {
		c->more_backoff = 0;
		return;
	}
	c->more_backoff = c->more_backoff * 2 + 1 > MORE_BACKOFF_MAX ?
	    MORE_BACKOFF_MAX : c->more_backoff * 2 + 1;
	c->more_skip = c->more_backoff;
}

/* The client shut its write side: send what is queued, then close; the
 * write timeout bounds that. */
static void
conn_eof(struct conn *c)
{
	if (conn_pending(c) == 0)
		conn_close(c, CLOSE_EOF);
	else
		conn_enter_state(c, CONN_FLUSHING);
}

/* One read: > 0 bytes read; 0 for nothing now; -1 if c is gone (EOF with
 * nothing pending, or an error) or no longer reading (EOF). */
static ssize_t
conn_read(struct conn *c, void *buf, size_t want)
{
	ssize_t r = read(conn_fd(c), buf, want);

	if (r > 0) {
		conn_count(c, (size_t)r);
		return r;
	}
	if (r == 0)
		conn_eof(c);
	else if (try_later(errno))
		return 0;
	else
		conn_sock_error(c, errno);
	return -1;
}

/* Replies are waiting already: this chunk goes behind them, read straight
 * into the output's reserved space and uppercased there (one copy). */
static void
serve_queued(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;
	size_t chunk = c->env->chunk_size;
	ssize_t r;

	if (evbuffer_reserve_space(out, (ev_ssize_t)chunk, &v, 1) != 1) {
		conn_queue_failed(c, chunk);
		return;
	}
	if ((r = conn_read(c, v.iov_base, chunk)) <= 0)
		return;		/* nothing committed: the output is as it was */
	upper_copy(v.iov_base, v.iov_base, (size_t)r);
	v.iov_len = (size_t)r;
	if (evbuffer_commit_space(out, &v, 1) != 0) {
		conn_queue_failed(c, (size_t)r);
		return;
	}
	conn_backpressure(c);
}

/* The common case, nothing queued: read a chunk into the loop's scratch
 * buffer, uppercase it in place and write it at once.  While the reads
 * fill whole chunks and the kernel takes every reply, go on for up to
 * MORE_READS chunks. */
static void
serve_direct(struct conn *c)
{
	unsigned char *buf = c->env->scratch;
	size_t chunk = c->env->chunk_size;
	ssize_t r;

	for (int i = 0; i <= MORE_READS; i++) {
		if ((r = conn_read(c, buf, chunk)) < 0)
			return;
		if (i == 1)
			more_result(c, r > 0);
		if (r == 0)
			return;
		upper_copy(buf, buf, (size_t)r);
		if (send_or_queue(c, buf, (size_t)r) != 0 ||
		    (size_t)r < chunk || conn_pending(c) > 0 ||
		    (i == 0 && !more_due(c)))
			return;
	}
}

/* Shutdown drain is over (see conn_shutdown): send FIN after the last
 * reply and read-and-discard until the client closes or stays quiet,
 * as nginx's lingering close does. */
static void
conn_linger(struct conn *c)
{
	if (shutdown(conn_fd(c), SHUT_WR) != 0) {
		conn_close(c, CLOSE_SHUTDOWN);
		return;
	}
	conn_enter_state(c, CONN_LINGERING);
	if (c->peer != NULL)
		log_debug("linger %s", c->peer);
}

static void
linger_discard(struct conn *c)
{
	ssize_t r = read(conn_fd(c), c->env->scratch, c->env->chunk_size);

	if (r == 0 || (r < 0 && !try_later(errno)))
		conn_close(c, CLOSE_SHUTDOWN);
}

/*
 * What the kernel still holds for this connection.  close() with unread
 * input sends a reset at once; close() with replies not yet acknowledged
 * leaves them to an orphaned socket, which answers any later byte from the
 * client with a reset and drops them.  Either way replies are lost, and
 * replies written straight to the socket are only visible here, not in
 * the output evbuffer.
 */
static int
kernel_holds(struct conn *c, unsigned long what)
{
	int n = 0;

	return ioctl(conn_fd(c), what, &n) == 0 && n > 0;
}

#define has_unread(c)	kernel_holds((c), FIONREAD)
#define has_unacked(c)	kernel_holds((c), SIOCOUTQ)

/* Nothing received for the read timer's time. */
static void
conn_quiet(struct conn *c)
{
	/* Replies are still going out: not idle, the write timeout governs.
	 * A lingering close waits for them to be acknowledged (the shutdown
	 * deadline bounds this).  The timer re-arms itself (EV_PERSIST). */
	if (conn_pending(c) > 0 ||
	    (c->state == CONN_LINGERING && has_unacked(c)))
		return;
	if (c->state == CONN_LINGERING)
		conn_close(c, CLOSE_SHUTDOWN);
	else if (c->state == CONN_DRAINING)
		conn_linger(c);
	else
		conn_close(c, CLOSE_IDLE);
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	/* A heap timeout (the drain's) due in the same loop iteration as
	 * readiness arrives as EV_TIMEOUT alone: timed out is not "no
	 * input".  Input that is there is served (or, lingering, read and
	 * discarded) first; only a truly quiet connection is quiet. */
	(void)fd;
	if (!(what & EV_READ) && !has_unread(c))
		conn_quiet(c);
	else if (c->state == CONN_LINGERING)
		linger_discard(c);
	else if (conn_pending(c) > 0)
		serve_queued(c);
	else
		serve_direct(c);
}

/* Runs after libevent wrote part of the output, when what is left is at or
 * below the write low-watermark (0, or max_pending / 2 while paused). */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == CONN_FLUSHING && conn_pending(c) == 0)
		conn_close(c, CLOSE_EOF);
	else if (conn_is_paused(c->state) &&
	    conn_enter_state(c, c->state == CONN_PAUSED ? CONN_READING :
	    CONN_DRAINING) != 0)
		conn_close(c, CLOSE_ERROR);
}

/* The bufferevent only writes: a write error or the write timeout. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, CLOSE_WRITE_TIMEOUT);
	else
		conn_sock_error(c, err);
}

/* The client's name for the log: the PROXY header's, or the socket's. */
static char *
peer_name(evutil_socket_t fd, const struct conn_origin *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[ADDR_STRLEN];

	if (o != NULL && o->peer != NULL)
		return strdup(addr_format_peer(o->peer, o->peerlen, buf,
		    sizeof(buf)));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return strdup("(unknown peer)");
	return strdup(addr_format_peer((struct sockaddr *)&ss, len, buf,
	    sizeof(buf)));
}

static int	conn_shutdown(struct conn *);

/* The bytes a client sent after its PROXY header, in the same read: they
 * are its first message.  Returns -1 if c is gone. */
static int
conn_serve_early(struct conn *c, unsigned char *data, size_t len)
{
	upper_copy(data, data, len);
	conn_count(c, len);
	return send_or_queue(c, data, len);
}

struct conn *
conn_open(struct conn_env *env, evutil_socket_t fd,
    const struct conn_origin *o)
{
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->env = env;
	c->slot = o != NULL ? o->slot : NULL;
	c->ev = event_new(env->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	if (c->ev == NULL || event_add(c->ev, env->idle_tv) != 0)
		goto fail;
	if (log_get_level() >= LOG_DEBUG) {
		c->peer = peer_name(fd, o);
		log_debug("open %s%s%s", c->peer ? c->peer : "(unknown peer)",
		    o != NULL && o->via != NULL ? " " : "",
		    o != NULL && o->via != NULL ? o->via : "");
	}
	LIST_INSERT_HEAD(&env->conns, c, link);
	env->nconns++;
	stats_add(env->stats, ST_OPENED, 1);
	if (env->failures > 0) {
		log_notice("setting up connections again (%llu clients refused "
		    "or closed before)", (unsigned long long)env->failures);
		env->failures = 0;
	}
	/* Opened while the others drain (its PROXY header came late): it
	 * drains too. */
	if (env->stopping && conn_shutdown(c) != 0)
		return NULL;
	if (o != NULL && o->len > 0 && conn_serve_early(c, o->data, o->len) != 0)
		return NULL;
	return c;

fail:
	/* A run of these is logged once, as in conn_queue_failed(). */
	if (env->failures++ == 0)
		log_warn("cannot set up a connection: %s (the next failures "
		    "are counted until one is set up)", strerror(errno));
	if (c != NULL && c->ev != NULL)
		event_free(c->ev);	/* after the log: it may clobber errno */
	free(c);
	evutil_closesocket(fd);
	if (o != NULL)
		perip_give(env->admit.perip, o->slot);
	stats_add(env->stats, ST_REJECTED_ERROR, 1);
	env->closed(env->arg);
	return NULL;
}

struct conn *
conn_new(struct conn_env *env, evutil_socket_t fd)
{
	return conn_open(env, fd, NULL);
}

/*
 * Graceful shutdown of one connection (-1: it is gone).  Every
 * connection gets the same grace, also one that has sent nothing yet: its
 * first bytes may still be on their way (a client's connect returns
 * before its send), and a client mid-upload can leave nothing unread for
 * a moment while its next segment waits for our window update.  It keeps
 * being answered; once it has sent nothing for drain_quiet and every
 * reply is out, conn_quiet() starts the lingering close; a half-close
 * ends the drain sooner, and the worker's shutdown_timeout bounds it all.
 * Closing with unread input would make the kernel send a reset, and a
 * reset can destroy replies still unread in the client's receive buffer.
 */
static int
conn_shutdown(struct conn *c)
{
	enum conn_state to;

	if (c->state == CONN_READING)
		to = CONN_DRAINING;
	else if (c->state == CONN_PAUSED)
		to = CONN_DRAIN_PAUSED;
	else
		return 0;	/* flushing: closes once its replies are out */
	if (conn_enter_state(c, to) != 0) {
		conn_close(c, CLOSE_SHUTDOWN);
		return -1;
	}
	return 0;
}

void
conn_shutdown_all(struct conn_env *env)
{
	struct conn *c, *next;

	env->stopping = 1;
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
