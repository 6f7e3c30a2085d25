/* bench_worker.c: one bench thread.  Plain events on non-blocking
 * sockets instead of bufferevents: a reply is one recv() into a per-thread
 * buffer, checked in place, and a message is one sendmsg() of pool bytes,
 * so nothing is copied or allocated per message and EV_WRITE is armed
 * only when the kernel pushes back. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "bench_worker.h"
#include "sock.h"

#define READ_BUF	(256 * 1024)
#define IOV_BATCH	64
/* Connects in progress per worker: a SYN flood beyond the server's
 * backlog only buys retransmits a second later. */
#define CONNECTING_MAX	256
/* Connects started per loop iteration, so that timers (the deadline,
 * the sweep) and stops keep running while thousands start. */
#define START_BATCH	64

const char *const bench_err_names[BENCH_ERR__COUNT] = {
	"connect", "mismatch", "short", "extra", "reset", "close", "timeout",
	"io",
};

enum bconn_state {
	BCONN_WAITING,		/* not started yet (ramp) */
	BCONN_CONNECTING,
	BCONN_OPEN,
	BCONN_DONE,		/* retired: counts no more in 'live' */
};

struct bconn {
	struct bench_worker	*w;
	int			 idx;		/* global connection number */
	int			 fd;		/* -1: none; rd, wr set iff >= 0 */
	enum bconn_state	 state;
	int			 wblocked;	/* wr armed: the kernel pushed back */
	struct event		 rd;
	struct event		 wr;		/* connect done, or room to write */
	struct event		 tm;		/* --rate: the next message is due */
	struct verify		 v;
	uint64_t		 wseq;		/* message being written */
	size_t			 woff;		/* bytes of it written */
	uint64_t		*sent_at;	/* pipeline ring of send times */
	uint64_t		 progress;	/* ns: last reply byte, or when
						 * replies (or a connect) began
						 * to be owed */
	uint64_t		 started;	/* ns: connect() was called */
	uint64_t		 sched0;	/* ns: --rate: message 0's time */
	uint32_t		 cycle;		/* --churn: connections so far */
};

struct bench_worker {
	int			 id;
	struct bench_run	*run;
	const struct bench_opts	*o;
	struct event_base	*base;
	pthread_t		 thread;
	int			 running;
	int			 stop_pipe[2];	/* main -> worker: 's' or 'h' */
	struct event		*stop_ev;
	struct event		*deadline_ev;
	struct event		*hard_ev;
	struct event		*sweep_ev;
	struct event		*tick_ev;
	struct event		*ramp_ev;
	struct bconn		*conns;
	uint64_t		*ring;
	int			 first;
	int			 n;
	int			 nstarted;
	int			 connecting;	/* connects in progress */
	int			 live;		/* connections not retired */
	int			 limited;	/* -n given: budget counts */
	uint64_t		 budget;
	int			 stopping;
	uint64_t		 deadline_ns;	/* 0: none */
	double			 interval_ns;	/* --rate: per connection */
	double			 ramp_per_ns;	/* --connect-rate share */
	uint64_t		 ramp_start;
	struct hist		*hist;		/* since the last tick */
	unsigned char		*buf;
	_Alignas(64) _Atomic uint64_t ctr[BENCH_CTR__COUNT];
};

static void	bconn_connect(struct bconn *);
static void	kick_ramp(struct bench_worker *);
static int	bconn_pump(struct bconn *, uint64_t);
static void	worker_hard_stop(struct bench_worker *, int);

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timeval
ns_to_tv(uint64_t ns)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ns / 1000000000u);
	tv.tv_usec = (suseconds_t)(ns % 1000000000u / 1000u);
	return tv;
}

/* One writer per counter (this thread): a relaxed load and store, as in
 * stats.h, so the main thread's progress line reads them without locks. */
static inline void
ctr_add(struct bench_worker *w, enum bench_ctr c, uint64_t n)
{
	uint64_t old = atomic_load_explicit(&w->ctr[c], memory_order_relaxed);
	atomic_store_explicit(&w->ctr[c], old + n, memory_order_relaxed);
}

uint64_t
bench_worker_get(const struct bench_worker *w, enum bench_ctr c)
{
	return atomic_load_explicit(&w->ctr[c], memory_order_relaxed);
}

/* Tell the first error of each kind on stderr, so that a failed run says
 * what happened and to which connection, without a flood. */
static void
describe(struct bconn *c, enum bench_err kind, const char *what)
{
	struct bench_run *run = c->w->run;
	int first;

	if (pthread_mutex_lock(&run->lock) != 0)
		return;
	first = !(run->described & (1u << kind));
	run->described |= 1u << kind;
	if (pthread_mutex_unlock(&run->lock) != 0 || !first)
		return;
	fprintf(stderr, "%supcase bench: first %s error: connection %d: %s\n",
	    run->tty ? "\r\033[K" : "", bench_err_names[kind], c->idx, what);
}

static void
note_mismatch(struct bconn *c)
{
	struct bench_run *run = c->w->run;
	const struct verify_mismatch *m = &c->v.first;
	char what[160];

	if (pthread_mutex_lock(&run->lock) != 0)
		return;
	if (run->mismatch_conn < 0) {
		run->mismatch_conn = c->idx;
		run->mismatch = *m;
	}
	if (pthread_mutex_unlock(&run->lock) != 0)
		return;
	snprintf(what, sizeof(what), "reply %llu byte %zu (stream offset "
	    "%llu): got 0x%02x, want 0x%02x",
	    (unsigned long long)m->msg, m->at,
	    (unsigned long long)m->offset, m->got, m->want);
	describe(c, BENCH_ERR_MISMATCH, what);
}

/* Every change of state goes through here to keep the counts right. */
static void
bconn_state(struct bconn *c, enum bconn_state to)
{
	struct bench_worker *w = c->w;

	if (c->state == to)
		return;
	if (c->state == BCONN_CONNECTING) {
		w->connecting--;
		kick_ramp(w);		/* room for a waiting connect */
	} else if (c->state == BCONN_OPEN)
		ctr_add(w, BENCH_OPEN, (uint64_t)-1);
	if (to == BCONN_CONNECTING)
		w->connecting++;
	else if (to == BCONN_OPEN)
		ctr_add(w, BENCH_OPEN, 1);
	c->state = to;
}

/* Close the socket (if any); the connection may start again (churn). */
static void
bconn_close(struct bconn *c)
{
	if (c->fd < 0)
		return;
	/* event_del fails only for an event without a base: not ours. */
	event_del(&c->rd);
	event_del(&c->wr);
	event_del(&c->tm);
	if (close(c->fd) != 0 && errno != EINTR)
		describe(c, BENCH_ERR_IO, strerror(errno));
	c->fd = -1;
	c->wblocked = 0;
	bconn_state(c, BCONN_WAITING);
}

/* Done for good.  The worker's loop ends with its last connection. */
static void
bconn_retire(struct bconn *c)
{
	struct bench_worker *w = c->w;

	bconn_close(c);
	if (c->state == BCONN_DONE)
		return;
	bconn_state(c, BCONN_DONE);
	if (--w->live == 0 && event_base_loopexit(w->base, NULL) != 0)
		describe(c, BENCH_ERR_IO, "cannot leave the event loop");
}

static int
take_budget(struct bench_worker *w)
{
	if (!w->limited)
		return 1;
	if (w->budget == 0)
		return 0;
	w->budget--;
	return 1;
}

/* --churn: the next connect of this slot, while the run goes on. */
static void
churn_next(struct bconn *c)
{
	bconn_close(c);
	if (c->w->stopping || !take_budget(c->w)) {
		bconn_retire(c);
		return;
	}
	c->cycle++;
	bconn_connect(c);
}

static void
bconn_fail(struct bconn *c, enum bench_err kind, const char *what)
{
	ctr_add(c->w, BENCH_ERRORS + kind, 1);
	describe(c, kind, what);
	/* Churn goes on with a new connection, unless the server cannot
	 * be reached at all; every other mode gives the slot up. */
	if (c->w->o->mode == BENCH_CHURN && kind != BENCH_ERR_CONNECT)
		churn_next(c);
	else
		bconn_retire(c);
}

static void
bconn_fail_errno(struct bconn *c, enum bench_err kind, int err)
{
	if (kind == BENCH_ERR_IO && (err == ECONNRESET || err == EPIPE))
		kind = BENCH_ERR_RESET;
	bconn_fail(c, kind, strerror(err));
}

/* Write every queued message the kernel takes; arm EV_WRITE for the rest.
 * Returns 0, or -1 if the connection failed. */
static int
bconn_flush(struct bconn *c)
{
	const struct verify_pool *pool = c->w->run->pool;
	struct iovec iov[IOV_BATCH];
	struct msghdr mh;
	size_t size = pool->size;

	while (c->wseq < c->v.sent) {
		uint64_t seq = c->wseq;
		size_t off = c->woff, left;
		ssize_t n;
		int k;

		for (k = 0; seq < c->v.sent && k < IOV_BATCH; seq++, k++) {
			iov[k].iov_base = (void *)(uintptr_t)
			    (verify_payload(pool, c->v.key, seq) + off);
			iov[k].iov_len = size - off;
			off = 0;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)k;
		/* MSG_NOSIGNAL: a reset peer is an error to count, not a
		 * SIGPIPE that kills the run. */
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->wblocked) {
					if (event_add(&c->wr, NULL) != 0) {
						bconn_fail(c, BENCH_ERR_IO,
						    "cannot watch for writing");
						return -1;
					}
					c->wblocked = 1;
				}
				return 0;
			}
			bconn_fail_errno(c, BENCH_ERR_IO, errno);
			return -1;
		}
		for (left = (size_t)n; left > 0;) {
			size_t rest = size - c->woff;
			if (left < rest) {
				c->woff += left;
				break;
			}
			left -= rest;
			c->woff = 0;
			c->wseq++;
		}
	}
	if (c->wblocked) {
		event_del(&c->wr);
		c->wblocked = 0;
	}
	return 0;
}

/* --rate: when message seq of this connection is due. */
static inline uint64_t
sched_at(const struct bconn *c, uint64_t seq)
{
	return c->sched0 + (uint64_t)((double)seq * c->w->interval_ns);
}

/* Whether this connection will send anything after now. */
static int
bconn_more(const struct bconn *c)
{
	const struct bench_worker *w = c->w;

	if (w->stopping || (w->limited && w->budget == 0))
		return 0;
	if (w->o->mode == BENCH_RATE && w->deadline_ns != 0 &&
	    sched_at(c, c->v.sent) >= w->deadline_ns)
		return 0;
	return 1;
}

/*
 * Queue what may go now and write it.  Closed loop: up to 'pipeline' in
 * flight, stamped with now.  --rate: every message already due (late ones
 * keep their scheduled time: that is the coordinated-omission fix), and a
 * timer for the next.  A connection with nothing owed and nothing more to
 * send is finished.  Returns 0, or -1 if the connection is gone.
 */
static int
bconn_pump(struct bconn *c, uint64_t now)
{
	struct bench_worker *w = c->w;
	struct verify *v = &c->v;
	uint64_t owed_before = verify_owed(v), pipeline = (uint64_t)w->o->pipeline;
	int queued = 0;

	while (v->sent - v->done < pipeline && bconn_more(c)) {
		if (w->o->mode == BENCH_RATE) {
			uint64_t at = sched_at(c, v->sent);
			if (at > now) {
				struct timeval tv = ns_to_tv(at - now);
				if (!evtimer_pending(&c->tm, NULL) &&
				    evtimer_add(&c->tm, &tv) != 0) {
					bconn_fail(c, BENCH_ERR_IO,
					    "cannot add a timer");
					return -1;
				}
				break;
			}
		} else {
			c->sent_at[v->sent % pipeline] = now;
		}
		if (!take_budget(w))
			break;
		verify_sent(v, 1);
		queued++;
	}
	if (queued > 0) {
		if (owed_before == 0)
			c->progress = now;
		return bconn_flush(c);
	}
	if (verify_owed(v) == 0 && !bconn_more(c)) {
		bconn_retire(c);
		return -1;
	}
	return 0;
}

static void
bconn_established(struct bconn *c, uint64_t now)
{
	struct bench_worker *w = c->w;

	bconn_state(c, BCONN_OPEN);
	c->progress = now;
	ctr_add(w, BENCH_ESTABLISHED, 1);
	if (event_add(&c->rd, NULL) != 0) {
		bconn_fail(c, BENCH_ERR_IO, "cannot watch for reading");
		return;
	}
	switch (w->o->mode) {
	case BENCH_CLOSED:
		bconn_pump(c, now);
		break;
	case BENCH_RATE:
		/* Spread the connections' schedules over one interval so
		 * that the total is smooth, not a burst per interval. */
		c->sched0 = now + (uint64_t)(w->interval_ns * c->idx /
		    w->o->conns);
		bconn_pump(c, now);
		break;
	case BENCH_CHURN:
		/* The budget was taken when this connect began. */
		verify_sent(&c->v, 1);
		bconn_flush(c);
		break;
	case BENCH_IDLE:
		break;
	}
}

static void
bconn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *c = arg;
	socklen_t len;
	int err = 0;

	if (c->state != BCONN_CONNECTING) {
		bconn_flush(c);
		return;
	}
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	event_del(&c->wr);
	if (err != 0) {
		bconn_fail_errno(c, BENCH_ERR_CONNECT, err);
		return;
	}
	bconn_established(c, bench_now_ns());
}

/* Check the bytes, time the replies they complete, send what follows.
 * Returns 0, or -1 if the connection is gone. */
static int
bconn_input(struct bconn *c, const unsigned char *buf, size_t n)
{
	struct bench_worker *w = c->w;
	struct verify *v = &c->v;
	uint64_t now = bench_now_ns(), done0 = v->done, bad0 = v->mismatches;
	uint64_t pipeline = (uint64_t)w->o->pipeline;
	int extra;

	extra = verify_input(v, buf, n) != 0;
	c->progress = now;
	ctr_add(w, BENCH_BYTES, n);
	if (v->mismatches != bad0) {
		ctr_add(w, BENCH_ERRORS + BENCH_ERR_MISMATCH,
		    v->mismatches - bad0);
		if (bad0 == 0)
			note_mismatch(c);
	}
	if (v->done != done0) {
		ctr_add(w, BENCH_MESSAGES, v->done - done0);
		for (uint64_t seq = done0; seq < v->done; seq++) {
			uint64_t from;
			switch (w->o->mode) {
			case BENCH_RATE:
				from = sched_at(c, seq);
				break;
			case BENCH_CHURN:
				from = c->started;
				break;
			default:
				from = c->sent_at[seq % pipeline];
				break;
			}
			hist_record(w->hist, now > from ? now - from : 0);
		}
	}
	if (extra) {
		bconn_fail(c, BENCH_ERR_EXTRA, "more reply bytes than were sent");
		return -1;
	}
	if (w->o->mode == BENCH_CHURN) {
		if (v->done == 1) {
			churn_next(c);
			return -1;
		}
		return 0;
	}
	if (v->done != done0)
		return bconn_pump(c, now);
	return 0;
}

static void
bconn_eof(struct bconn *c)
{
	uint64_t owed = verify_owed(&c->v);
	char what[96];

	if (owed > 0 && verify_partial(&c->v)) {
		snprintf(what, sizeof(what), "closed by the server in the "
		    "middle of a reply (%llu bytes owed)",
		    (unsigned long long)owed);
		bconn_fail(c, BENCH_ERR_SHORT, what);
	} else if (owed > 0) {
		snprintf(what, sizeof(what), "closed by the server with %llu "
		    "reply bytes owed", (unsigned long long)owed);
		bconn_fail(c, BENCH_ERR_CLOSE, what);
	} else {
		bconn_fail(c, BENCH_ERR_CLOSE, "closed by the server");
	}
}

static void
bconn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *c = arg;
	struct bench_worker *w = c->w;
	ssize_t n;

	for (;;) {
		n = recv(fd, w->buf, READ_BUF, 0);
		if (n > 0) {
			if (bconn_input(c, w->buf, (size_t)n) != 0)
				return;
			/* A full buffer: likely more waiting right now. */
			if ((size_t)n < READ_BUF)
				return;
			continue;
		}
		if (n == 0) {
			bconn_eof(c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			bconn_fail_errno(c, BENCH_ERR_IO, errno);
		return;
	}
}

static void
bconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *c = arg;

	if (c->state == BCONN_OPEN)
		bconn_pump(c, bench_now_ns());
}

/* Where source spreading is on, bind before connect.  With
 * IP_BIND_ADDRESS_NO_PORT the port is picked at connect() time from the
 * whole 4-tuple, so each source address adds a full ephemeral range. */
static int
bind_source(struct bconn *c, int fd)
{
#ifdef IP_BIND_ADDRESS_NO_PORT
	struct sockaddr_in src;
	int one = 1;

	if (c->w->run->nsources <= 1)
		return 0;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000001u +
	    (uint32_t)(c->idx % c->w->run->nsources));
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one)) != 0)
		return -1;
	return bind(fd, (struct sockaddr *)&src, sizeof(src));
#else
	return 0;
#endif
}

static void
bconn_connect(struct bconn *c)
{
	struct bench_worker *w = c->w;
	const struct addr *a = &w->o->addr;
	int fd, one = 1;

	verify_init(&c->v, w->run->pool, ((uint64_t)c->idx << 32) | c->cycle);
	c->wseq = 0;
	c->woff = 0;
	c->started = c->progress = bench_now_ns();
	fd = sock_open(a);
	if (fd < 0) {
		bconn_fail_errno(c, BENCH_ERR_CONNECT, errno);
		return;
	}
	/* Small messages go out at once, not after the previous ACK. */
	if ((a->kind == ADDR_TCP && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one)) != 0) || bind_source(c, fd) != 0) {
		int err = errno;
		close(fd);
		bconn_fail_errno(c, BENCH_ERR_CONNECT, err);
		return;
	}
	if (event_assign(&c->rd, w->base, fd, EV_READ | EV_PERSIST,
	    bconn_read_cb, c) != 0 ||
	    event_assign(&c->wr, w->base, fd, EV_WRITE | EV_PERSIST,
	    bconn_write_cb, c) != 0) {
		close(fd);
		bconn_fail(c, BENCH_ERR_CONNECT, "cannot set up events");
		return;
	}
	c->fd = fd;
	bconn_state(c, BCONN_CONNECTING);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
		bconn_established(c, bench_now_ns());
		return;
	}
	if (errno != EINPROGRESS) {
		/* A unix listener with a full backlog says EAGAIN. */
		bconn_fail_errno(c, BENCH_ERR_CONNECT, errno);
		return;
	}
	if (event_add(&c->wr, NULL) != 0)
		bconn_fail(c, BENCH_ERR_CONNECT, "cannot watch the connect");
}

/* Begin connection nstarted, in whatever way the mode begins one. */
static void
start_next(struct bench_worker *w)
{
	struct bconn *c = &w->conns[w->nstarted++];

	if (w->o->mode == BENCH_CHURN && !take_budget(w)) {
		bconn_retire(c);
		return;
	}
	bconn_connect(c);
}

/*
 * Start what is due: everything at once, or what --connect-rate allows by
 * now; at most START_BATCH per call and CONNECTING_MAX in progress.  The
 * timer brings us back: at once for the next batch, at the rate's next
 * time, or (kick_ramp) when a connect in progress finishes.
 */
static void
ramp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now_ns(), due = (uint64_t)w->n, next = now;
	struct timeval tv;
	int batch = 0;

	if (w->ramp_per_ns > 0)
		due = 1 + (uint64_t)((double)(now - w->ramp_start) *
		    w->ramp_per_ns);
	while (!w->stopping && w->nstarted < w->n &&
	    (uint64_t)w->nstarted < due && w->connecting < CONNECTING_MAX &&
	    batch++ < START_BATCH)
		start_next(w);
	if (w->stopping || w->nstarted == w->n ||
	    w->connecting >= CONNECTING_MAX)
		return;
	if ((uint64_t)w->nstarted < due)
		next = now;		/* the batch is full: yield */
	else if (w->ramp_per_ns > 0)
		next = w->ramp_start + (uint64_t)((double)w->nstarted /
		    w->ramp_per_ns);
	tv = ns_to_tv(next > now ? next - now : 0);
	if (evtimer_add(w->ramp_ev, &tv) != 0) {
		/* Without the timer nothing else starts: give those up. */
		while (w->nstarted < w->n)
			bconn_retire(&w->conns[w->nstarted++]);
	}
}

/* A connect finished: room for another, if any wait. */
static void
kick_ramp(struct bench_worker *w)
{
	struct timeval now = { 0, 0 };

	if (w->stopping || w->nstarted == w->n || w->ramp_ev == NULL ||
	    evtimer_pending(w->ramp_ev, NULL))
		return;
	if (evtimer_add(w->ramp_ev, &now) != 0)
		while (w->nstarted < w->n)
			bconn_retire(&w->conns[w->nstarted++]);
}

/* Each connection owing replies (or a connect) that made no progress for
 * -t has timed out.  A sweep instead of a timer per connection keeps the
 * per-message path free of timer updates. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now_ns(), limit = w->o->timeout_us * 1000u;
	char why[64];

	for (int i = 0; i < w->nstarted; i++) {
		struct bconn *c = &w->conns[i];

		if (now - c->progress <= limit)
			continue;
		if (c->state == BCONN_CONNECTING) {
			bconn_fail(c, BENCH_ERR_CONNECT, "connect timed out");
		} else if (c->state == BCONN_OPEN && verify_owed(&c->v) > 0) {
			snprintf(why, sizeof(why), "no reply for %.3f s",
			    (double)(now - c->progress) / 1e9);
			bconn_fail(c, BENCH_ERR_TIMEOUT, why);
		}
	}
}

/* Hand this second's latencies to the run, where the progress line and
 * the summary read them. */
static void
worker_flush_hist(struct bench_worker *w)
{
	if (hist_count(w->hist) == 0)
		return;
	if (pthread_mutex_lock(&w->run->lock) != 0)
		return;		/* keep them for the next try */
	hist_merge(w->run->hist, w->hist);
	if (pthread_mutex_unlock(&w->run->lock) != 0)
		fprintf(stderr, "upcase bench: worker %d: cannot unlock\n",
		    w->id);
	hist_reset(w->hist);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_flush_hist(arg);
}

/* The duration is over (or the user asked to stop): send nothing more,
 * close what owes nothing, give the rest -t to finish. */
static void
worker_soft_stop(struct bench_worker *w)
{
	struct timeval tv = ns_to_tv(w->o->timeout_us * 1000u);

	if (w->stopping)
		return;
	w->stopping = 1;
	event_del(w->ramp_ev);
	for (int i = 0; i < w->n; i++) {
		struct bconn *c = &w->conns[i];

		if (c->state == BCONN_OPEN) {
			ctr_add(w, BENCH_HELD, 1);
			if (verify_owed(&c->v) == 0)
				bconn_retire(c);
		} else if (c->state != BCONN_DONE) {
			bconn_retire(c);
		}
	}
	if (w->live > 0 && evtimer_add(w->hard_ev, &tv) != 0)
		worker_hard_stop(w, 1);
}

/* Close everything now; replies still owed count as timeouts unless the
 * user cut the run short. */
static void
worker_hard_stop(struct bench_worker *w, int count)
{
	w->stopping = 1;
	for (int i = 0; i < w->n; i++) {
		struct bconn *c = &w->conns[i];

		if (count && c->state == BCONN_OPEN && verify_owed(&c->v) > 0) {
			ctr_add(w, BENCH_ERRORS + BENCH_ERR_TIMEOUT, 1);
			describe(c, BENCH_ERR_TIMEOUT, "replies still owed "
			    "at the end of the duration plus -t");
		}
		bconn_retire(c);
	}
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now_ns();
	struct timeval tv;

	/* Without EVENT_BASE_FLAG_PRECISE_TIMER libevent times events with
	 * CLOCK_MONOTONIC_COARSE, which can fire a few ms early: a run must
	 * last at least -d, so wait out the rest. */
	if (now < w->deadline_ns) {
		tv = ns_to_tv(w->deadline_ns - now);
		if (evtimer_add(w->deadline_ev, &tv) == 0)
			return;
	}
	worker_soft_stop(w);
}

static void
hard_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_hard_stop(arg, 1);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	char cmd[16];
	ssize_t n;

	while ((n = read(fd, cmd, sizeof(cmd))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (cmd[i] == 'h')
				worker_hard_stop(w, 0);
			else
				worker_soft_stop(w);
		}
	}
}

static void *
worker_main(void *arg)
{
	struct bench_worker *w = arg;
	const struct bench_opts *o = w->o;
	uint64_t now = bench_now_ns(), sweep_ns;
	struct timeval tv, second = { 1, 0 };
	char done = 'd';

	/* The sweep's grain bounds how late a timeout is noticed. */
	sweep_ns = o->timeout_us * 100u;		/* a tenth of -t */
	if (sweep_ns < 1000000u)
		sweep_ns = 1000000u;
	if (sweep_ns > 100000000u)
		sweep_ns = 100000000u;
	tv = ns_to_tv(sweep_ns);
	/* start_ns was set before this thread was created. */
	if (o->duration_us != 0)
		w->deadline_ns = w->run->start_ns + o->duration_us * 1000u;
	if (event_add(w->stop_ev, NULL) != 0 ||
	    event_add(w->sweep_ev, &tv) != 0 ||
	    event_add(w->tick_ev, &second) != 0)
		goto out;
	if (w->deadline_ns != 0) {
		tv = ns_to_tv(w->deadline_ns > now ? w->deadline_ns - now : 0);
		if (event_add(w->deadline_ev, &tv) != 0)
			goto out;
	}
	w->ramp_start = now;
	ramp_cb(-1, 0, w);
	if (w->live > 0 && event_base_dispatch(w->base) != 0)
		fprintf(stderr, "upcase bench: worker %d: event loop failed\n",
		    w->id);
out:
	worker_hard_stop(w, 0);
	worker_flush_hist(w);
	if (write(w->run->done_fd, &done, 1) != 1)
		fprintf(stderr, "upcase bench: worker %d: cannot report "
		    "done: %s\n", w->id, strerror(errno));
	return NULL;
}

struct bench_worker *
bench_worker_new(struct bench_run *run, int id, int first, int n,
    uint64_t budget)
{
	const struct bench_opts *o = run->opts;
	struct bench_worker *w;
	struct event_config *cfg = NULL;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->id = id;
	w->run = run;
	w->o = o;
	w->first = first;
	w->n = n;
	w->live = n;
	w->limited = o->total != 0;
	w->budget = budget;
	w->stop_pipe[0] = w->stop_pipe[1] = -1;
	for (int i = 0; i < BENCH_CTR__COUNT; i++)
		atomic_init(&w->ctr[i], 0);
	if (o->mode == BENCH_RATE)
		w->interval_ns = 1e9 * o->conns / o->rate;
	if (o->connect_rate > 0)
		w->ramp_per_ns = o->connect_rate * n / o->conns / 1e9;

	/* --rate: message times are scheduled to the microsecond; epoll's
	 * millisecond timeouts would add up to 1 ms of our own lateness to
	 * every latency.  The precise timer uses timerfd instead. */
	if ((cfg = event_config_new()) == NULL)
		goto fail;
	if (o->mode == BENCH_RATE &&
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0)
		goto fail;
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	cfg = NULL;
	if (w->base == NULL)
		goto fail;
	if (pipe2(w->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		goto fail;
	w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ | EV_PERSIST,
	    stop_cb, w);
	w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
	w->hard_ev = evtimer_new(w->base, hard_cb, w);
	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, sweep_cb, w);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
	w->ramp_ev = evtimer_new(w->base, ramp_cb, w);
	w->hist = hist_new();
	w->buf = malloc(READ_BUF);
	w->conns = calloc((size_t)n, sizeof(*w->conns));
	if (o->mode == BENCH_CLOSED)
		w->ring = calloc((size_t)n * (size_t)o->pipeline,
		    sizeof(*w->ring));
	if (w->stop_ev == NULL || w->deadline_ev == NULL || w->hard_ev == NULL ||
	    w->sweep_ev == NULL || w->tick_ev == NULL || w->ramp_ev == NULL ||
	    w->hist == NULL || w->buf == NULL || w->conns == NULL ||
	    (o->mode == BENCH_CLOSED && w->ring == NULL))
		goto fail;
	for (int i = 0; i < n; i++) {
		struct bconn *c = &w->conns[i];

		c->w = w;
		c->idx = first + i;
		c->fd = -1;
		if (w->ring != NULL)
			c->sent_at = w->ring + (size_t)i * (size_t)o->pipeline;
		if (evtimer_assign(&c->tm, w->base, bconn_timer_cb, c) != 0)
			goto fail;
	}
	return w;
fail:
	if (cfg != NULL)
		event_config_free(cfg);
	bench_worker_free(w);
	return NULL;
}

int
bench_worker_start(struct bench_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	w->running = 1;
	return 0;
}

void
bench_worker_stop(struct bench_worker *w, int hard)
{
	char cmd = hard ? 'h' : 's';

	/* A full pipe already holds a stop: nothing is lost. */
	if (write(w->stop_pipe[1], &cmd, 1) != 1 && errno != EAGAIN)
		fprintf(stderr, "upcase bench: cannot stop worker %d: %s\n",
		    w->id, strerror(errno));
}

int
bench_worker_join(struct bench_worker *w)
{
	int rc;

	if (!w->running)
		return 0;
	rc = pthread_join(w->thread, NULL);
	w->running = 0;
	return rc == 0 ? 0 : -1;
}

void
bench_worker_free(struct bench_worker *w)
{
	if (w == NULL)
		return;
	bench_worker_join(w);
	if (w->conns != NULL)
		for (int i = 0; i < w->n; i++)
			if (w->conns[i].w != NULL)	/* set up */
				bconn_close(&w->conns[i]);
	if (w->stop_ev != NULL)
		event_free(w->stop_ev);
	if (w->deadline_ev != NULL)
		event_free(w->deadline_ev);
	if (w->hard_ev != NULL)
		event_free(w->hard_ev);
	if (w->sweep_ev != NULL)
		event_free(w->sweep_ev);
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->ramp_ev != NULL)
		event_free(w->ramp_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->stop_pipe[0] >= 0)
		close(w->stop_pipe[0]);
	if (w->stop_pipe[1] >= 0)
		close(w->stop_pipe[1]);
	hist_free(w->hist);
	free(w->buf);
	free(w->conns);
	free(w->ring);
	free(w);
}
