/* bench_conn.c: one bench connection's life: connect, send messages from
 * the pool, check every reply byte, time the replies, count what goes
 * wrong.  Plain events on non-blocking sockets instead of bufferevents: a
 * reply is one recv() into the worker's buffer, checked in place, and a
 * message is one send() of pool bytes (one sendmsg() takes several), so
 * nothing is copied or allocated per message and EV_WRITE is armed only
 * when the kernel pushes back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench-internal.h"
#include "cidr.h"
#include "proxy_hdr.h"
#include "sock.h"

/* Messages per sendmsg(). */
#define IOV_BATCH	64

static int	bconn_pump(struct bconn *, uint64_t);
static void	bconn_read_cb(evutil_socket_t, short, void *);
static void	bconn_write_cb(evutil_socket_t, short, void *);
static void	bconn_timer_cb(evutil_socket_t, short, void *);

/* Slot idx of worker w, not connected yet.  sent_at: its part of the
 * pipeline ring of send times (closed loop only). */
int
bconn_init(struct bconn *c, struct bench_worker *w, int idx,
    uint64_t *sent_at)
{
	c->w = w;
	c->idx = idx;
	c->fd = -1;
	c->sent_at = sent_at;
	if (w->o->addr.kind == ADDR_UDP && budp_init(c) != 0)
		return -1;
	return evtimer_assign(&c->tm, w->base, bconn_timer_cb, c);
}

/* Tell the first error of each kind on stderr, so that a failed run says
 * what happened and to which connection, without a flood. */
void
bconn_describe(struct bconn *c, enum bench_err kind, const char *what)
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

void
bconn_note_mismatch(struct bconn *c)
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
	if (c->u != NULL)
		snprintf(what, sizeof(what), "reply to datagram %llu byte %zu: "
		    "got 0x%02x, want 0x%02x", (unsigned long long)m->msg,
		    m->at, m->got, m->want);
	else
		snprintf(what, sizeof(what), "reply %llu byte %zu (stream "
		    "offset %llu): got 0x%02x, want 0x%02x",
		    (unsigned long long)m->msg, m->at,
		    (unsigned long long)m->offset, m->got, m->want);
	bconn_describe(c, BENCH_ERR_MISMATCH, what);
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
		bench_kick_ramp(w);		/* room for a waiting connect */
	} else if (c->state == BCONN_OPEN)
		ctr_add(w, BENCH_OPEN, (uint64_t)-1);
	if (to == BCONN_CONNECTING)
		w->connecting++;
	else if (to == BCONN_OPEN)
		ctr_add(w, BENCH_OPEN, 1);
	c->state = to;
}

/* Close the socket (if any); the connection may start again (churn). */
void
bconn_close(struct bconn *c)
{
	if (c->fd < 0)
		return;
	/* event_del fails only for an event without a base: not ours. */
	event_del(&c->rd);
	event_del(&c->wr);
	event_del(&c->tm);
	if (close(c->fd) != 0 && errno != EINTR)
		bconn_describe(c, BENCH_ERR_IO, strerror(errno));
	c->fd = -1;
	c->wblocked = 0;
	bconn_state(c, BCONN_WAITING);
}

/* Done for good.  The worker's loop ends with its last connection. */
void
bconn_retire(struct bconn *c)
{
	struct bench_worker *w = c->w;

	bconn_close(c);
	if (c->state == BCONN_DONE)
		return;
	bconn_state(c, BCONN_DONE);
	if (--w->live == 0 && event_base_loopexit(w->base, NULL) != 0)
		bconn_describe(c, BENCH_ERR_IO, "cannot leave the event loop");
}

int
bench_take_budget(struct bench_worker *w)
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
	if (c->w->stopping) {
		bconn_retire(c);
		return;
	}
	c->cycle++;
	bench_reconnect(c);
}

/* --rate: whether the next message, due at 'at', is not due yet; if so
 * the connection's timer brings it back then.  Returns 1, 0 (due now),
 * or -1 if the connection failed. */
int
bconn_not_due(struct bconn *c, uint64_t at, uint64_t now)
{
	struct timeval tv;

	if (at <= now)
		return 0;
	tv = ns_to_tv(at - now);
	if (!evtimer_pending(&c->tm, NULL) && evtimer_add(&c->tm, &tv) != 0) {
		bconn_fail(c, BENCH_ERR_IO, "cannot add a timer");
		return -1;
	}
	return 1;
}

/* Send what may go now, over either transport.  Returns 0, or -1 if the
 * connection is gone. */
static int
bconn_send_more(struct bconn *c, uint64_t now)
{
	return c->u != NULL ? budp_pump(c, now) : bconn_pump(c, now);
}

/* What the server still owes: reply bytes, or datagrams in flight. */
uint64_t
bconn_owed(const struct bconn *c)
{
	return c->u != NULL ? budp_in_flight(c) : verify_owed(&c->v);
}

/* The run is over: a connection owing nothing is done; with --rate one
 * first sends what is still due. */
void
bconn_soft_stop(struct bconn *c, uint64_t now)
{
	if (c->w->o->mode == BENCH_RATE)
		bconn_send_more(c, now);
	else if (bconn_owed(c) == 0)
		bconn_retire(c);
}

/* The end of the run plus -t (count), or the user's hard stop: close.
 * What is still owed counts, unless the user cut the run short:
 * replies as timeouts, datagrams as lost, connects as connect errors. */
void
bconn_hard_stop(struct bconn *c, int count)
{
	/* bconn_fail() retires: stopping ends churn too. */
	if (count && c->state == BCONN_OPEN && bconn_owed(c) > 0) {
		if (c->u != NULL)
			budp_lose_all(c, "no reply by the end of the duration "
			    "plus -t");
		else
			bconn_fail(c, BENCH_ERR_TIMEOUT, "replies still owed "
			    "at the end of the duration plus -t");
	} else if (count && c->state == BCONN_CONNECTING)
		bconn_fail(c, BENCH_ERR_CONNECT, "connect still in progress at "
		    "the end of the duration plus -t");
	else
		bconn_retire(c);
}

/* The sweep: a connect, or replies owed, without progress for limit ns
 * has timed out; a datagram unanswered that long is lost. */
void
bconn_sweep(struct bconn *c, uint64_t now, uint64_t limit)
{
	char why[64];

	if (c->u != NULL) {
		if (c->state == BCONN_OPEN)
			budp_expire(c, now, limit);
		return;
	}
	if (now - c->progress <= limit)
		return;
	if (c->state == BCONN_CONNECTING) {
		bconn_fail(c, BENCH_ERR_CONNECT, "connect timed out");
	} else if (c->state == BCONN_OPEN && verify_owed(&c->v) > 0) {
		snprintf(why, sizeof(why), "no reply for %.3f s",
		    (double)(now - c->progress) / 1e9);
		bconn_fail(c, BENCH_ERR_TIMEOUT, why);
	}
}

void
bconn_fail(struct bconn *c, enum bench_err kind, const char *what)
{
	ctr_add(c->w, BENCH_ERRORS + kind, 1);
	bconn_describe(c, kind, what);
	/* Churn goes on with a new connection, unless the server cannot
	 * be reached at all; every other mode gives the slot up. */
	if (c->w->o->mode == BENCH_CHURN && kind != BENCH_ERR_CONNECT)
		churn_next(c);
	else
		bconn_retire(c);
}

void
bconn_fail_errno(struct bconn *c, enum bench_err kind, int err)
{
	if (kind == BENCH_ERR_IO && (err == ECONNRESET || err == EPIPE))
		kind = BENCH_ERR_RESET;
	bconn_fail(c, kind, strerror(err));
}

/* Come back to writing when the socket is writable.  Returns 0, or -1 if
 * the connection failed. */
int
bconn_want_write(struct bconn *c)
{
	if (c->wblocked)
		return 0;
	if (event_add(&c->wr, NULL) != 0) {
		bconn_fail(c, BENCH_ERR_IO, "cannot watch for writing");
		return -1;
	}
	c->wblocked = 1;
	return 0;
}

/* One write of k pieces.  MSG_NOSIGNAL: a reset peer is an error to
 * count, not a SIGPIPE that kills the run.  A lone piece (the common
 * case: one message in flight) goes by send(), which spares the kernel
 * sendmsg's header and iovec copy-in. */
static ssize_t
bconn_send_iov(int fd, const struct iovec *iov, int k)
{
	struct msghdr mh;

	if (k == 1)
		return send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(uintptr_t)iov;
	mh.msg_iovlen = (size_t)k;
	return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* Write the queued messages the kernel takes (up to FLUSH_CALLS calls);
 * arm EV_WRITE for the rest.  Returns 0, or -1 if the connection failed. */
static int
bconn_flush(struct bconn *c)
{
	const struct verify_pool *pool = c->w->run->pool;
	struct iovec iov[IOV_BATCH];
	size_t size = pool->size;
	int calls = 0;

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
		n = bconn_send_iov(c->fd, iov, k);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return bconn_want_write(c);
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
		/* More than one callback's worth: the rest when the loop
		 * says the socket is (still) writable. */
		if (c->wseq == c->v.sent)
			break;
		if (++calls == FLUSH_CALLS)
			return bconn_want_write(c);
	}
	if (c->wblocked) {
		event_del(&c->wr);
		c->wblocked = 0;
	}
	return 0;
}

/* --rate: messages of this connection scheduled before the end of the
 * run and never sent.  sched0 is 0 for a connection never established:
 * its schedule never began. */
static uint64_t
bconn_unsent(const struct bconn *c)
{
	const struct bench_worker *w = c->w;
	uint64_t end = w->sched_end_ns, n;

	if (w->o->mode != BENCH_RATE || c->sched0 == 0 || end <= c->sched0)
		return 0;
	if (end == UINT64_MAX)		/* -n alone: the budget bounds it */
		return UINT64_MAX;
	/* The count of seq with sched_at(seq) < end, rounding as it does. */
	n = (uint64_t)((double)(end - c->sched0) / w->interval_ns);
	while (sched_at(c, n) < end)
		n++;
	while (n > 0 && sched_at(c, n - 1) >= end)
		n--;
	return n > c->v.sent ? n - c->v.sent : 0;
}

/* At the end of the worker's run: count every message that was due but
 * never sent, at most what is left of -n, as errors of their own kind. */
void
bench_count_unsent(struct bench_worker *w)
{
	struct bconn *first = NULL;
	uint64_t total = 0;
	char what[192];

	for (int i = 0; i < w->n; i++) {
		uint64_t u = bconn_unsent(&w->conns[i]);

		if (u > 0 && first == NULL)
			first = &w->conns[i];
		total = u > UINT64_MAX - total ? UINT64_MAX : total + u;
	}
	if (w->limited && total > w->budget)
		total = w->budget;
	if (total == 0)
		return;
	ctr_add(w, BENCH_ERRORS + BENCH_ERR_UNSENT, total);
	snprintf(what, sizeof(what), "%llu messages scheduled before the end "
	    "of the run were never sent (this one's, and others' of its "
	    "thread): their connection ended, or replies owed held them back",
	    (unsigned long long)total);
	bconn_describe(first, BENCH_ERR_UNSENT, what);
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
			int later = bconn_not_due(c, sched_at(c, v->sent), now);

			if (later < 0)
				return -1;
			if (later)
				break;
		} else {
			c->sent_at[v->sent % pipeline] = now;
		}
		if (!bench_take_budget(w))
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

/*
 * --send-proxy: the PROXY header a balancer would send, before anything
 * else: our own address, or with --proxy-source the range's idx-th (with
 * our port).  It is sent whole or the connection fails: at most 104
 * bytes into a socket just connected, whose buffer is empty.
 */
static int
bconn_send_proxy(struct bconn *c)
{
	const struct bench_opts *o = c->w->o;
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	unsigned char hdr[PROXY_V1_MAX + 1];
	struct cidr_ip ip;
	size_t n;

	if (getsockname(c->fd, (struct sockaddr *)&me, &len) != 0) {
		bconn_fail_errno(c, BENCH_ERR_CONNECT, errno);
		return -1;
	}
	if (o->has_proxy_source) {
		cidr_nth(&o->proxy_source, (uint64_t)c->idx, &ip);
		cidr_sockaddr(&ip, ntohs(((struct sockaddr_in *)&me)->sin_port),
		    &me);
	}
	n = o->send_proxy == 1 ?
	    proxy_build_v1(hdr, sizeof(hdr), (struct sockaddr *)&me,
	    (const struct sockaddr *)&o->addr.ss) :
	    proxy_build_v2(hdr, sizeof(hdr), (struct sockaddr *)&me,
	    (const struct sockaddr *)&o->addr.ss);
	if (n == 0 || send(c->fd, hdr, n, MSG_NOSIGNAL) != (ssize_t)n) {
		bconn_fail(c, BENCH_ERR_IO, "cannot send the PROXY header whole");
		return -1;
	}
	return 0;
}

static void
bconn_established(struct bconn *c, uint64_t now)
{
	struct bench_worker *w = c->w;

	if (w->o->send_proxy && bconn_send_proxy(c) != 0)
		return;
	bconn_state(c, BCONN_OPEN);
	c->progress = now;
	ctr_add(w, BENCH_ESTABLISHED, 1);
	/* A connect that outlived the duration: every mode ends here (idle
	 * would hold it to the hard stop, churn would send past the end). */
	if (w->stopping) {
		bconn_retire(c);
		return;
	}
	if (event_add(&c->rd, NULL) != 0) {
		bconn_fail(c, BENCH_ERR_IO, "cannot watch for reading");
		return;
	}
	switch (w->o->mode) {
	case BENCH_CLOSED:
		bconn_send_more(c, now);
		break;
	case BENCH_RATE:
		/* Spread the connections' schedules over one interval so
		 * that the total is smooth, not a burst per interval. */
		c->sched0 = now + (uint64_t)(w->interval_ns * c->idx /
		    w->o->conns);
		bconn_send_more(c, now);
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
			bconn_note_mismatch(c);
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
	int rounds = 0;

	for (;;) {
		n = recv(fd, w->buf, READ_BUF, 0);
		if (n > 0) {
			if (bconn_input(c, w->buf, (size_t)n) != 0)
				return;
			/* A full buffer: likely more waiting right now, but
			 * the loop gets its turn after a few (level-triggered,
			 * it calls us again). */
			if ((size_t)n < READ_BUF || ++rounds == READ_ROUNDS)
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

	if (c->state != BCONN_OPEN)
		return;
	bconn_send_more(c, bench_now_ns());
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

void
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
	    &one, sizeof(one)) != 0) || bind_source(c, fd) != 0 ||
	    (c->u != NULL && budp_open(c, fd) != 0)) {
		int err = errno;
		close(fd);
		bconn_fail_errno(c, BENCH_ERR_CONNECT, err);
		return;
	}
	if (event_assign(&c->rd, w->base, fd, EV_READ | EV_PERSIST,
	    c->u != NULL ? budp_read_cb : bconn_read_cb, c) != 0 ||
	    event_assign(&c->wr, w->base, fd, EV_WRITE | EV_PERSIST,
	    c->u != NULL ? budp_write_cb : bconn_write_cb, c) != 0) {
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
