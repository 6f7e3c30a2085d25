/* dgram.c: UDP needs no bufferevent: one persistent read event, then
 * recvmmsg() a batch, uppercase each datagram in place and sendmmsg() the
 * replies, bounded per wake-up so that one busy sender cannot starve the
 * stream connections that share the loop.
 *
 * A datagram the kernel drops because our receive queue is full never
 * reaches us: SO_RXQ_OVFL makes the kernel tell its running count of
 * those with each datagram, and we count the difference.  A reply the
 * kernel will not take is dropped and counted: UDP is lossy by contract,
 * and queueing replies would grow without bound. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgram.h"
#include "log.h"
#include "upper.h"

#define DGRAM_MAX	65536	/* larger than any UDP payload (65507) */
#define DGRAM_BATCH	16	/* datagrams per recvmmsg() */
#define DGRAM_ROUNDS	4	/* recvmmsg() calls per wake-up at most */

/* The counter of each reason not to answer. */
static const enum stat_id dgram_drop_stat[] = {
	[UDPGUARD_LOOP] = ST_DGRAMS_DROPPED_LOOP,
	[UDPGUARD_ACL] = ST_DGRAMS_DROPPED_ACL,
	[UDPGUARD_RATE] = ST_DGRAMS_DROPPED_RATE,
};

struct dgram {
	evutil_socket_t		 fd;
	struct event		*ev;
	struct stats		*stats;
	struct udpguard		*guard;
	uint32_t		 ovfl;	/* the kernel's drop count, last seen */
	struct mmsghdr		 msgs[DGRAM_BATCH];
	struct iovec		 iov[DGRAM_BATCH];
	struct sockaddr_storage	 peers[DGRAM_BATCH];
	union {
		char		 buf[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr	 align;
	}			 ctl[DGRAM_BATCH];
	unsigned char		 bufs[DGRAM_BATCH][DGRAM_MAX];
};

static int
dgram_try_later(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Ready slots [0, n) to receive again: lengths are in-out, and a reply
 * reused the slot.  Only the slots a round used need it. */
static void
dgram_arm(struct dgram *d, int n)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &d->msgs[i].msg_hdr;

		d->iov[i].iov_base = d->bufs[i];
		d->iov[i].iov_len = DGRAM_MAX;
		h->msg_name = &d->peers[i];
		h->msg_namelen = sizeof(d->peers[i]);
		h->msg_iov = &d->iov[i];
		h->msg_iovlen = 1;
		h->msg_control = d->ctl[i].buf;
		h->msg_controllen = sizeof(d->ctl[i].buf);
		h->msg_flags = 0;
	}
}

/* The kernel's count of datagrams dropped before we read them. */
static void
dgram_note_overflow(struct dgram *d, struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL;
	    c = CMSG_NXTHDR(h, c)) {
		uint32_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
			continue;
		memcpy(&n, CMSG_DATA(c), sizeof(n));
		if (n != d->ovfl)
			stats_add(d->stats, ST_DGRAMS_KERNEL_DROPS,
			    (uint32_t)(n - d->ovfl));
		d->ovfl = n;
	}
}

/* Send replies [0, n); one the kernel refuses is dropped and counted.
 * When the socket is out of room, so is every reply after it. */
static void
dgram_reply(struct dgram *d, int n)
{
	int sent = 0;

	while (sent < n) {
		int r = sendmmsg(d->fd, d->msgs + sent, (unsigned)(n - sent), 0);

		if (r > 0) {
			for (int i = sent; i < sent + r; i++) {
				stats_add(d->stats, ST_DGRAMS, 1);
				stats_add(d->stats, ST_BYTES_OUT, d->msgs[i].msg_len);
			}
			sent += r;
			continue;
		}
		if (errno == EINTR)
			continue;
		log_debug("udp sendmmsg: %s", strerror(errno));
		if (dgram_try_later(errno) || errno == ENOBUFS) {
			stats_add(d->stats, ST_DGRAMS_DROPPED, (uint64_t)(n - sent));
			return;
		}
		stats_add(d->stats, ST_DGRAMS_DROPPED, 1);	/* this one */
		sent++;
	}
}

static void
dgram_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dgram *d = arg;

	for (int round = 0; round < DGRAM_ROUNDS; round++) {
		int n = recvmmsg(fd, d->msgs, DGRAM_BATCH, MSG_DONTWAIT, NULL);

		if (n <= 0) {
			if (n < 0 && !dgram_try_later(errno))
				log_debug("udp recvmmsg: %s", strerror(errno));
			return;
		}
		int nreply = 0;

		stats_add(d->stats, ST_DGRAMS_IN, (uint64_t)n);
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &d->msgs[i].msg_hdr;
			size_t len = d->msgs[i].msg_len;
			enum udpguard_verdict v;

			stats_add(d->stats, ST_BYTES_IN, len);
			if (h->msg_controllen > 0)
				dgram_note_overflow(d, h);
			if ((v = udpguard_check(d->guard, h->msg_name,
			    h->msg_namelen)) != UDPGUARD_PASS) {
				stats_add(d->stats, dgram_drop_stat[v], 1);
				continue;
			}
			upper_copy(d->bufs[i], d->bufs[i], len);
			/* The reply: the same buffer, to the sender; a
			 * datagram not answered leaves no gap in the
			 * batch (dgram_arm re-points every slot after). */
			d->iov[i].iov_len = len;
			h->msg_control = NULL;
			h->msg_controllen = 0;
			if (nreply != i)
				d->msgs[nreply] = d->msgs[i];
			nreply++;
		}
		dgram_reply(d, nreply);
		dgram_arm(d, n);
		if (n < DGRAM_BATCH)
			return;
	}
}

int
dgram_set_rcvbuf(evutil_socket_t fd, int bytes, int *got)
{
	socklen_t len = sizeof(*got);

	*got = bytes;
	if (bytes <= 0)
		return 0;
	/* Past net.core.rmem_max only with CAP_NET_ADMIN (root): try that
	 * first, then what the kernel allows anyone. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes,
	    sizeof(bytes)) != 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) != 0)
		return -1;
	/* Linux reports twice what was set (it counts its bookkeeping). */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, got, &len) == 0)
		*got /= 2;
	return 0;
}

struct dgram *
dgram_new(struct event_base *base, evutil_socket_t fd, struct stats *stats,
    struct udpguard *guard)
{
	struct dgram *d;
	int one = 1;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->fd = fd;
	d->stats = stats;
	d->guard = guard;
	dgram_arm(d, DGRAM_BATCH);
	if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
		log_debug("udp: SO_RXQ_OVFL: %s (kernel drops not counted)",
		    strerror(errno));
	d->ev = event_new(base, fd, EV_READ | EV_PERSIST, dgram_read_cb, d);
	if (d->ev == NULL || event_add(d->ev, NULL) != 0) {
		if (d->ev != NULL)
			event_free(d->ev);
		free(d);
		return NULL;
	}
	return d;
}

void
dgram_free(struct dgram *d)
{
	if (d == NULL)
		return;
	event_free(d->ev);
	close(d->fd);
	free(d);
}
