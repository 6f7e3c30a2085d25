/* bench_udp.c: one bench UDP socket: up to --pipeline datagrams in
 * flight, each starting with its sequence number in decimal digits (bytes
 * the transform leaves alone), so that a reply is matched to its datagram
 * in whatever order replies come; every other byte is checked against the
 * uppercase of the pool bytes sent.  A datagram unanswered for -t is
 * lost, a reply for nothing in flight is extra, a wrong byte (or length)
 * is a mismatch.  Sends and receives are batched (sendmmsg, recvmmsg). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bench-internal.h"

#define DIGITS		VERIFY_SEQ_DIGITS
#define SEND_BATCH	64		/* datagrams per sendmmsg() */
#define RECV_BATCH	64		/* most datagrams per recvmmsg() */
#define RECV_BYTES	(1024 * 1024)	/* most buffer per worker */
/* Receive buffer per datagram in flight (payload plus the kernel's
 * bookkeeping), so that --pipeline replies fit in our socket. */
#define RCVBUF_PER_DGRAM	1024

enum budp_state {
	SLOT_FREE,
	SLOT_QUEUED,		/* numbered, not written yet */
	SLOT_SENT,
};

/* Slot j carries sequence numbers j, j + M, j + 2M, ... (M the power of
 * two at or above K): a reply's number names its slot in its low bits,
 * and a reused slot never takes an old number back, so a late or
 * duplicated reply can never pass for a new one. */
struct budp_slot {
	uint64_t	seq;		/* in flight (QUEUED or SENT) */
	uint64_t	next;		/* the slot's next number */
	uint64_t	from;		/* latency origin: send, or schedule */
	uint64_t	at;		/* queued then: -t counts from here */
	int		state;
};

struct budp {
	uint32_t	 k;		/* --pipeline: slots */
	uint32_t	 mask;		/* M - 1 */
	uint32_t	 nfree;
	uint32_t	*free;		/* stack of free slot numbers */
	struct budp_slot *slots;
	uint64_t	*pend;		/* ring (M long) of numbers queued,
					 * not written yet */
	uint32_t	 pend_head;
	uint32_t	 pend_len;
	uint64_t	 oldest;	/* <= 'at' of every slot in flight */
	uint32_t	 drops;		/* SO_RXQ_OVFL: our socket's drops */
};

/* A worker's receive side: one batch of datagram buffers, each a byte
 * longer than a datagram should be, so that a longer reply shows. */
struct budp_rx {
	unsigned	 batch;
	size_t		 room;
	struct mmsghdr	*mh;
	struct iovec	*iov;
	unsigned char	*buf;
	unsigned char	*ctl;		/* per datagram: SO_RXQ_OVFL */
};

#define CTL_ROOM	CMSG_SPACE(sizeof(uint32_t))

int
budp_init(struct bconn *c)
{
	uint32_t k = (uint32_t)c->w->o->pipeline;
	struct budp *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -1;
	c->u = u;
	u->k = k;
	while (u->mask < k - 1)
		u->mask = u->mask << 1 | 1;
	u->slots = calloc(k, sizeof(*u->slots));
	u->free = calloc(k, sizeof(*u->free));
	u->pend = calloc((size_t)u->mask + 1, sizeof(*u->pend));
	if (u->slots == NULL || u->free == NULL || u->pend == NULL)
		return -1;	/* budp_free() cleans up */
	for (uint32_t j = 0; j < k; j++) {
		u->slots[j].next = j;
		u->free[j] = k - 1 - j;		/* slot 0 first */
	}
	u->nfree = k;
	return 0;
}

void
budp_free(struct bconn *c)
{
	struct budp *u = c->u;

	if (u == NULL)
		return;
	free(u->slots);
	free(u->free);
	free(u->pend);
	free(u);
	c->u = NULL;
}

/* A new socket for this slot: room in its receive buffer for every reply
 * in flight (the kernel caps it at net.core.rmem_max), and the count of
 * what it dropped anyway, so that our own drops are not blamed on the
 * server.  Returns 0, or -1 with errno set. */
int
budp_open(struct bconn *c, int fd)
{
	size_t want = (size_t)c->u->k * (c->w->run->pool->size +
	    RCVBUF_PER_DGRAM);
	int one = 1, have = 0, len;
	socklen_t sl = sizeof(have);

	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &have, &sl) != 0)
		return -1;
	if ((size_t)have < want) {
		len = want > 64 * 1024 * 1024 ? 64 * 1024 * 1024 : (int)want;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &len,
		    sizeof(len)) != 0)
			return -1;
	}
	return setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
}

uint64_t
budp_in_flight(const struct bconn *c)
{
	return c->u->k - c->u->nfree;
}

uint64_t
budp_drops(const struct bconn *c)
{
	return c->u != NULL ? c->u->drops : 0;
}

static void
budp_release(struct budp *u, struct budp_slot *s)
{
	s->state = SLOT_FREE;
	u->free[u->nfree++] = (uint32_t)(s - u->slots);
}

/* Write the datagrams queued (up to FLUSH_CALLS batches); wait for room
 * in the socket for the rest.  Returns 0, or -1 if the socket is gone. */
static int
budp_flush(struct bconn *c)
{
	const struct verify_pool *pool = c->w->run->pool;
	struct budp *u = c->u;
	struct mmsghdr mh[SEND_BATCH];
	struct iovec iov[SEND_BATCH][2];
	unsigned char hdr[SEND_BATCH][DIGITS];
	uint32_t pos[SEND_BATCH];
	int calls = 0;

	while (u->pend_len > 0) {
		uint32_t scanned = 0;
		unsigned n = 0;
		int r;

		/* A number lost while still queued was released: skip it. */
		while (n < SEND_BATCH && scanned < u->pend_len) {
			uint64_t seq = u->pend[(u->pend_head + scanned) &
			    u->mask];
			struct budp_slot *s = &u->slots[seq & u->mask];

			scanned++;
			if (s->state != SLOT_QUEUED || s->seq != seq)
				continue;
			verify_seq_put(hdr[n], seq);
			iov[n][0].iov_base = hdr[n];
			iov[n][0].iov_len = DIGITS;
			iov[n][1].iov_base = (void *)(uintptr_t)(pool->sent +
			    verify_offset(pool, c->v.key, seq) + DIGITS);
			iov[n][1].iov_len = pool->size - DIGITS;
			mh[n].msg_hdr = (struct msghdr){ .msg_iov = iov[n],
			    .msg_iovlen = 2 };
			pos[n++] = scanned;
		}
		if (n == 0) {
			u->pend_head = (u->pend_head + scanned) & u->mask;
			u->pend_len -= scanned;
			continue;
		}
		r = sendmmsg(c->fd, mh, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return bconn_want_write(c);
			/* Nothing listens there (an ICMP port unreachable
			 * came back): like a refused connect. */
			bconn_fail_errno(c, errno == ECONNREFUSED ?
			    BENCH_ERR_CONNECT : BENCH_ERR_IO, errno);
			return -1;
		}
		for (int i = 0; i < r; i++) {
			uint64_t seq = u->pend[(u->pend_head + pos[i] - 1) &
			    u->mask];
			u->slots[seq & u->mask].state = SLOT_SENT;
		}
		u->pend_head = (u->pend_head + pos[r - 1]) & u->mask;
		u->pend_len -= pos[r - 1];
		/* A short batch: the socket is full.  A long flush: the
		 * loop's turn.  Either way the rest when it is writable. */
		if (u->pend_len > 0 && ((unsigned)r < n ||
		    ++calls == FLUSH_CALLS))
			return bconn_want_write(c);
	}
	if (c->wblocked) {
		event_del(&c->wr);
		c->wblocked = 0;
	}
	return 0;
}

/*
 * Number and queue what may go now and write it.  Closed loop: a datagram
 * per free slot, timed from now.  --rate: every datagram already due (a
 * late one keeps its scheduled time), and a timer for the next.  A socket
 * with nothing in flight and nothing more to send is finished.  Returns
 * 0, or -1 if the socket is gone.
 */
int
budp_pump(struct bconn *c, uint64_t now)
{
	struct bench_worker *w = c->w;
	struct budp *u = c->u;
	struct verify *v = &c->v;
	int queued = 0;

	if (u->nfree == u->k)
		u->oldest = now;	/* nothing in flight: none older */
	while (u->nfree > 0 && bconn_more(c)) {
		struct budp_slot *s;
		uint64_t from = now;

		if (w->o->mode == BENCH_RATE) {
			int later;

			from = sched_at(c, v->sent);
			if ((later = bconn_not_due(c, from, now)) < 0)
				return -1;
			if (later)
				break;
		}
		if (!bench_take_budget(w))
			break;
		s = &u->slots[u->free[--u->nfree]];
		s->seq = s->next;
		s->next += (uint64_t)u->mask + 1;
		s->from = from;
		s->at = now;
		s->state = SLOT_QUEUED;
		u->pend[(u->pend_head + u->pend_len++) & u->mask] = s->seq;
		v->sent++;		/* the schedule's count */
		queued++;
	}
	if (queued > 0)
		return budp_flush(c);
	if (u->nfree == u->k && !bconn_more(c)) {
		bconn_retire(c);
		return -1;
	}
	return 0;
}

void
budp_write_cb(evutil_socket_t fd, short what, void *arg)
{
	budp_flush(arg);
}

static void
budp_mismatch(struct bconn *c, uint64_t seq, size_t at, unsigned got,
    unsigned want)
{
	struct verify *v = &c->v;

	ctr_add(c->w, BENCH_ERRORS + BENCH_ERR_MISMATCH, 1);
	if (v->mismatches++ > 0)
		return;
	v->first.msg = seq;
	v->first.at = at;
	v->first.offset = at;
	v->first.got = (unsigned char)got;
	v->first.want = (unsigned char)want;
	bconn_note_mismatch(c);
}

/* A wrong reply p (len bytes) to datagram seq: find its first wrong
 * byte for the report.  (Its number matched, so the digits are right.) */
static void
budp_wrong(struct bconn *c, uint64_t seq, const unsigned char *p, size_t len)
{
	const struct verify_pool *pool = c->w->run->pool;
	const unsigned char *want = pool->want +
	    verify_offset(pool, c->v.key, seq);
	size_t i = DIGITS, size = pool->size, n = len < size ? len : size;

	while (i < n && p[i] == want[i])
		i++;
	/* A short reply misses want[i]; a long one has p[size] extra. */
	budp_mismatch(c, seq, i, i < len ? p[i] : 0, i < size ? want[i] : 0);
}

/* One reply datagram of len bytes (len is more than the size when the
 * reply was longer). */
static void
budp_reply(struct bconn *c, const unsigned char *p, size_t len, uint64_t now)
{
	const struct verify_pool *pool = c->w->run->pool;
	struct bench_worker *w = c->w;
	struct budp *u = c->u;
	struct budp_slot *s;
	uint64_t seq;
	size_t size = pool->size;
	char what[128];

	ctr_add(w, BENCH_BYTES, len);
	if (len < DIGITS || verify_seq_get(p, &seq) != 0) {
		/* Which datagram is unknown; its own slot will see it as
		 * lost after -t. */
		size_t i = 0;
		while (i < len && i < DIGITS && p[i] >= '0' && p[i] <= '9')
			i++;
		budp_mismatch(c, UINT64_MAX, i, i < len ? p[i] : 0, '0');
		return;
	}
	s = (seq & u->mask) < u->k ? &u->slots[seq & u->mask] : NULL;
	if (s == NULL || s->state != SLOT_SENT || s->seq != seq) {
		ctr_add(w, BENCH_ERRORS + BENCH_ERR_EXTRA, 1);
		snprintf(what, sizeof(what), "a reply to datagram %llu, which "
		    "is not in flight (answered already, lost, or never sent)",
		    (unsigned long long)seq);
		bconn_describe(c, BENCH_ERR_EXTRA, what);
		return;
	}
	if (len != size || memcmp(p + DIGITS, pool->want +
	    verify_offset(pool, c->v.key, seq) + DIGITS, size - DIGITS) != 0)
		budp_wrong(c, seq, p, len);
	ctr_add(w, BENCH_MESSAGES, 1);
	c->v.done++;
	hist_record(w->hist, now > s->from ? now - s->from : 0);
	budp_release(u, s);
}

/* The drop count the kernel put in the last datagram received. */
static void
budp_note_drops(struct budp *u, const struct msghdr *mh)
{
	for (const struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
	    cm = CMSG_NXTHDR((struct msghdr *)(uintptr_t)mh,
	    (struct cmsghdr *)(uintptr_t)cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SO_RXQ_OVFL)
			memcpy(&u->drops, CMSG_DATA(cm), sizeof(u->drops));
}

void
budp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *c = arg;
	struct budp_rx *rx = c->w->rx;

	for (int rounds = 0; rounds < READ_ROUNDS; rounds++) {
		uint64_t now;
		int n = recvmmsg(fd, rx->mh, rx->batch, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			bconn_fail_errno(c, errno == ECONNREFUSED ?
			    BENCH_ERR_CONNECT : BENCH_ERR_IO, errno);
			return;
		}
		now = bench_now_ns();
		for (int i = 0; i < n; i++) {
			budp_reply(c, rx->buf + (size_t)i * rx->room,
			    rx->mh[i].msg_len, now);
			/* The kernel shrank it to what it wrote. */
			rx->mh[i].msg_hdr.msg_controllen = CTL_ROOM;
		}
		if (n > 0) {
			budp_note_drops(c->u, &rx->mh[n - 1].msg_hdr);
			if (budp_pump(c, now) != 0)
				return;
		}
		if ((unsigned)n < rx->batch)
			return;
	}
}

/* Drop the numbers of released slots from the queue of those to write,
 * so that it never holds more than the K in flight. */
static void
budp_compact(struct budp *u)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < u->pend_len; i++) {
		uint64_t seq = u->pend[(u->pend_head + i) & u->mask];
		const struct budp_slot *s = &u->slots[seq & u->mask];

		if (s->state == SLOT_QUEUED && s->seq == seq)
			u->pend[(u->pend_head + kept++) & u->mask] = seq;
	}
	u->pend_len = kept;
}

/* The sweep: every datagram in flight for more than limit is lost (one
 * the socket never took, too). */
void
budp_expire(struct bconn *c, uint64_t now, uint64_t limit)
{
	struct budp *u = c->u;
	uint64_t oldest = now, lost = 0, first = 0;
	char what[96];

	if (u->nfree == u->k || now - u->oldest <= limit)
		return;
	for (uint32_t j = 0; j < u->k; j++) {
		struct budp_slot *s = &u->slots[j];

		if (s->state == SLOT_FREE)
			continue;
		if (now - s->at > limit) {
			if (lost++ == 0)
				first = s->seq;
			budp_release(u, s);
		} else if (s->at < oldest)
			oldest = s->at;
	}
	u->oldest = oldest;
	if (lost == 0)
		return;
	budp_compact(u);
	ctr_add(c->w, BENCH_ERRORS + BENCH_ERR_LOST, lost);
	snprintf(what, sizeof(what), "datagram %llu: no reply within %.3f s",
	    (unsigned long long)first, (double)limit / 1e9);
	bconn_describe(c, BENCH_ERR_LOST, what);
	budp_pump(c, now);
}

/* The hard stop: whatever is still in flight is lost. */
void
budp_lose_all(struct bconn *c, const char *why)
{
	struct budp *u = c->u;
	uint64_t lost = u->k - u->nfree;
	char what[128];

	for (uint32_t j = 0; j < u->k; j++)
		if (u->slots[j].state != SLOT_FREE)
			budp_release(u, &u->slots[j]);
	u->pend_len = 0;
	if (lost > 0) {
		ctr_add(c->w, BENCH_ERRORS + BENCH_ERR_LOST, lost);
		snprintf(what, sizeof(what), "%llu datagrams: %s",
		    (unsigned long long)lost, why);
		bconn_describe(c, BENCH_ERR_LOST, what);
	}
	bconn_retire(c);
}

struct budp_rx *
budp_rx_new(size_t size)
{
	struct budp_rx *rx = calloc(1, sizeof(*rx));

	if (rx == NULL)
		return NULL;
	rx->room = size + 1;
	rx->batch = (unsigned)(RECV_BYTES / rx->room);
	if (rx->batch > RECV_BATCH)
		rx->batch = RECV_BATCH;
	if (rx->batch < 1)
		rx->batch = 1;
	rx->mh = calloc(rx->batch, sizeof(*rx->mh));
	rx->iov = calloc(rx->batch, sizeof(*rx->iov));
	rx->buf = malloc(rx->batch * rx->room);
	rx->ctl = calloc(rx->batch, CTL_ROOM);
	if (rx->mh == NULL || rx->iov == NULL || rx->buf == NULL ||
	    rx->ctl == NULL) {
		budp_rx_free(rx);
		return NULL;
	}
	/* recvmmsg() writes only msg_len and the lengths it returns. */
	for (unsigned i = 0; i < rx->batch; i++) {
		rx->iov[i].iov_base = rx->buf + (size_t)i * rx->room;
		rx->iov[i].iov_len = rx->room;
		rx->mh[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->mh[i].msg_hdr.msg_iovlen = 1;
		rx->mh[i].msg_hdr.msg_control = rx->ctl + (size_t)i * CTL_ROOM;
		rx->mh[i].msg_hdr.msg_controllen = CTL_ROOM;
	}
	return rx;
}

void
budp_rx_free(struct budp_rx *rx)
{
	if (rx == NULL)
		return;
	free(rx->mh);
	free(rx->iov);
	free(rx->buf);
	free(rx->ctl);
	free(rx);
}
