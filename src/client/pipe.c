/* pipe.c: the client over a stream (tcp, unix): stdin, or the -m text,
 * goes to the server as it is read, and the replies go to stdout as they
 * arrive.  Memory stays bounded: stdin is not read while the socket's
 * output is full, and a slow stdout holds the loop (client_output). */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "exitcodes.h"
#include "pipe.h"
#include "sock.h"

#define PIPE_HIGH	(256 * 1024)	/* socket output that pauses stdin */
#define PIPE_LOW	(PIPE_HIGH / 2)	/* ... and lets it go on */
#define PIPE_CHUNK	(64 * 1024)	/* the most one read() of stdin takes */

struct pipe_client {
	const struct client_opts *o;
	struct event_base	*base;
	struct bufferevent	*bev;		/* the server */
	struct event		*in_ev;		/* stdin readable, or our turn */
	struct event		*timer;		/* connect, then reply timeout */
	int			 in_poll;	/* stdin can be polled */
	uint64_t		 sent;
	uint64_t		 received;
	int			 status;	/* -1 while running */
	unsigned		 connected:1;
	unsigned		 in_eof:1;
	unsigned char		 last;		/* last reply byte (-m) */
};

static void	server_read_cb(struct bufferevent *, void *);
static void	server_write_cb(struct bufferevent *, void *);
static void	server_event_cb(struct bufferevent *, short, void *);

static void
finish(struct pipe_client *pc, int status)
{
	if (pc->status < 0)
		pc->status = status;
	event_base_loopbreak(pc->base);
}

static void
fail(struct pipe_client *pc, int status, const char *what, int errnum)
{
	client_err(what, "%s", client_reason(errnum));
	finish(pc, status);
}

/*
 * The reply timer runs while the server owes us something: replies to
 * bytes we sent or, once stdin has ended, its close.  Every reply
 * restarts it, as a fresh recv() under settimeout would.  It does not
 * run while stdout blocks the loop: that wait is ours, not the server's.
 */
static void
timer_update(struct pipe_client *pc, int restart)
{
	struct timeval tv;

	if (pc->o->timeout == TIMEOUT_NONE)
		return;
	if (pc->received < pc->sent || pc->in_eof) {
		if (!restart && evtimer_pending(pc->timer, NULL))
			return;
		/* evtimer_add() counts from the time cached when this loop
		 * iteration began, which a blocked stdout may have left far
		 * behind: the timer would fire at once. */
		event_base_update_cache_time(pc->base);
		if (evtimer_add(pc->timer, timeout_tv(pc->o->timeout, &tv)) != 0)
			fail(pc, EXIT_IO, "timer", errno);
	} else
		evtimer_del(pc->timer);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipe_client *pc = arg;
	char t[TIMEOUT_STRLEN];

	if (!pc->connected)
		client_err(pc->o->addr_str, "connect timed out after %s s",
		    timeout_format(pc->o->connect_timeout, t, sizeof(t)));
	else
		client_err(pc->o->addr_str, "timed out after %s s",
		    timeout_format(pc->o->timeout, t, sizeof(t)));
	finish(pc, EXIT_TIMEOUT);
}

/* A regular file (or /dev/null) cannot be polled -- epoll refuses it --
 * but never blocks either: it is read whenever the loop comes round. */
static int
stdin_pollable(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) != 0)
		return 0;
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	    isatty(STDIN_FILENO);
}

static void
input_on(struct pipe_client *pc)
{
	if (!pc->in_poll)
		event_active(pc->in_ev, EV_READ, 0);
	else if (event_add(pc->in_ev, NULL) != 0)
		fail(pc, EXIT_IO, "stdin", errno);
}

/* At the end of stdin the server must see our EOF to finish, while its
 * last replies are still to be read: shut down the sending side only. */
static void
shut_write(struct pipe_client *pc)
{
	bufferevent_setcb(pc->bev, server_read_cb, NULL, server_event_cb, pc);
	if (shutdown(bufferevent_getfd(pc->bev), SHUT_WR) != 0)
		fail(pc, EXIT_CONNECT, pc->o->addr_str, errno);
}

/* Ask for the write callback once the output has drained to lowmark. */
static void
want_drain(struct pipe_client *pc, size_t lowmark)
{
	bufferevent_setwatermark(pc->bev, EV_WRITE, lowmark, 0);
	bufferevent_setcb(pc->bev, server_read_cb, server_write_cb,
	    server_event_cb, pc);
}

/* One read() of stdin, straight into the socket's output buffer. */
static void
input_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipe_client *pc = arg;
	struct evbuffer *out = bufferevent_get_output(pc->bev);
	struct evbuffer_iovec v;
	ssize_t n;

	if (evbuffer_reserve_space(out, PIPE_CHUNK, &v, 1) != 1) {
		fail(pc, EXIT_IO, "stdin", ENOMEM);
		return;
	}
	n = read(STDIN_FILENO, v.iov_base, PIPE_CHUNK);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN)
			fail(pc, EXIT_IO, "stdin", errno);
		else if (!pc->in_poll)
			input_on(pc);
		return;
	}
	if (n == 0) {
		event_del(pc->in_ev);
		pc->in_eof = 1;
		timer_update(pc, 0);
		if (evbuffer_get_length(out) == 0)
			shut_write(pc);
		else
			want_drain(pc, 0);
		return;
	}
	/* The socket bufferevent sees the commit and starts writing. */
	v.iov_len = (size_t)n;
	if (evbuffer_commit_space(out, &v, 1) != 0) {
		fail(pc, EXIT_IO, "stdin", ENOMEM);
		return;
	}
	pc->sent += (uint64_t)n;
	timer_update(pc, 0);
	/* le-proxy's backpressure: stop reading until the server has taken
	 * half of what waits for it. */
	if (evbuffer_get_length(out) >= PIPE_HIGH) {
		event_del(pc->in_ev);
		want_drain(pc, PIPE_LOW);
	} else if (!pc->in_poll)
		input_on(pc);
}

static void
server_write_cb(struct bufferevent *bev, void *arg)
{
	struct pipe_client *pc = arg;

	if (pc->in_eof) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			shut_write(pc);
		return;
	}
	/* Drained to the low watermark: read stdin again, and no write
	 * callback until the output fills up once more. */
	bufferevent_setcb(bev, server_read_cb, NULL, server_event_cb, pc);
	input_on(pc);
}

static void
server_read_cb(struct bufferevent *bev, void *arg)
{
	struct pipe_client *pc = arg;
	const struct client_opts *o = pc->o;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	int rc;

	/* With -m, bytes past the text's length answer nothing we sent. */
	if (o->message != NULL && n > o->message_len - pc->received)
		n = o->message_len - (size_t)pc->received;
	for (size_t left = n; left > 0; ) {
		struct evbuffer_iovec v;
		size_t len;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		len = v.iov_len < left ? v.iov_len : left;
		if ((rc = client_output(v.iov_base, len)) != 0) {
			finish(pc, rc);
			return;
		}
		pc->last = ((unsigned char *)v.iov_base)[len - 1];
		evbuffer_drain(in, len);
		left -= len;
	}
	pc->received += n;
	if (o->message != NULL && pc->received == o->message_len) {
		/* The reply, and a newline unless it ends with one. */
		rc = pc->last == '\n' ? 0 : client_output("\n", 1);
		finish(pc, rc != 0 ? rc : EXIT_OK);
		return;
	}
	timer_update(pc, 1);
}

static void
connected(struct pipe_client *pc)
{
	const struct client_opts *o = pc->o;

	pc->connected = 1;
	evtimer_del(pc->timer);
	if (bufferevent_enable(pc->bev, EV_READ) != 0) {
		fail(pc, EXIT_IO, o->addr_str, errno);
		return;
	}
	if (o->message == NULL) {
		input_on(pc);
		return;
	}
	if (bufferevent_write(pc->bev, o->message, o->message_len) != 0) {
		fail(pc, EXIT_IO, o->addr_str, ENOMEM);
		return;
	}
	pc->sent = o->message_len;
	timer_update(pc, 0);
}

static void
server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pipe_client *pc = arg;
	const struct client_opts *o = pc->o;

	if (what & BEV_EVENT_CONNECTED) {
		connected(pc);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* errno is the socket's: libevent fetched it with SO_ERROR
		 * when a connect fails. */
		fail(pc, EXIT_CONNECT, o->addr_str, EVUTIL_SOCKET_ERROR());
		return;
	}
	if (!(what & BEV_EVENT_EOF))
		return;
	/* Every reply before the close has been through server_read_cb. */
	if (o->message != NULL)
		client_err(o->addr_str, "connection closed after %llu of %zu "
		    "reply bytes", (unsigned long long)pc->received,
		    o->message_len);
	else if (!pc->in_eof)
		client_err(o->addr_str, "connection closed by the server");
	else if (pc->received < pc->sent)
		client_err(o->addr_str, "connection closed with %llu reply "
		    "bytes missing",
		    (unsigned long long)(pc->sent - pc->received));
	else {
		finish(pc, EXIT_OK);
		return;
	}
	finish(pc, EXIT_CONNECT);
}

/* Set up the loop around a socket whose connect() is under way. */
static int
setup(struct pipe_client *pc, int fd)
{
	struct timeval tv;

	pc->base = event_base_new();
	if (pc->base == NULL) {
		close(fd);
		return -1;
	}
	pc->bev = bufferevent_socket_new(pc->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (pc->bev == NULL) {
		close(fd);
		return -1;
	}
	pc->timer = evtimer_new(pc->base, timer_cb, pc);
	if (pc->timer == NULL)
		return -1;
	if (pc->o->message == NULL) {
		pc->in_poll = stdin_pollable();
		pc->in_ev = pc->in_poll ?
		    event_new(pc->base, STDIN_FILENO, EV_READ | EV_PERSIST,
		    input_cb, pc) :
		    event_new(pc->base, -1, 0, input_cb, pc);
		if (pc->in_ev == NULL)
			return -1;
	}
	bufferevent_setcb(pc->bev, server_read_cb, NULL, server_event_cb, pc);
	/* Without an address, libevent only waits for the connect under way
	 * and reports BEV_EVENT_CONNECTED, or BEV_EVENT_ERROR with errno. */
	if (bufferevent_socket_connect(pc->bev, NULL, 0) != 0)
		return -1;
	if (pc->o->connect_timeout != TIMEOUT_NONE &&
	    evtimer_add(pc->timer, timeout_tv(pc->o->connect_timeout, &tv)) != 0)
		return -1;
	return 0;
}

int
pipe_run(const struct client_opts *o)
{
	const struct addr *a = &o->addr;
	struct pipe_client pc = { .o = o, .status = -1 };
	int fd;

	fd = sock_open(a);
	if (fd < 0) {
		client_err(o->addr_str, "socket: %s", client_reason(errno));
		return EXIT_CONNECT;
	}
	/* Our own connect(): a failure known at once (refused, no such
	 * socket file) keeps its errno, which libevent's deferred error
	 * callback would lose. */
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
	    errno != EINPROGRESS) {
		client_err(o->addr_str, "%s", client_reason(errno));
		close(fd);
		return EXIT_CONNECT;
	}
	if (setup(&pc, fd) != 0)
		fail(&pc, EXIT_IO, "event loop", errno ? errno : ENOMEM);
	else if (event_base_dispatch(pc.base) < 0)
		fail(&pc, EXIT_IO, "event loop", errno);

	if (pc.in_ev != NULL)
		event_free(pc.in_ev);
	if (pc.timer != NULL)
		event_free(pc.timer);
	if (pc.bev != NULL)
		bufferevent_free(pc.bev);
	if (pc.base != NULL)
		event_base_free(pc.base);
	return pc.status < 0 ? EXIT_IO : pc.status;
}
