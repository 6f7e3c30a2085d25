/* dgram.c: UDP needs no bufferevent, nor an event loop: each UDP socket a
 * worker serves has a reader thread of its own, asleep in a blocking
 * recvmmsg() until datagrams come, then a batch of them uppercased in
 * place and the replies sent back with one sendmmsg().  The same batch
 * loop woken by the worker's event loop paid an epoll_wait() and
 * libevent's dispatch for every wake-up, and with 50 senders spread over
 * two threads most wake-ups find one or two datagrams: that was 5-8% of
 * the time per datagram (BENCHMARKS.md, "UDP reader threads").  It also
 * keeps a UDP flood off the stream connections' loop: the kernel's
 * scheduler shares the cores between them.
 *
 * A reader is stopped by a signal that interrupts its recvmmsg() (no
 * SA_RESTART), sent again until the thread is gone, so that one arriving
 * between its look at the stop flag and the call is not lost.  Shutting
 * the socket down would wake it as well, but the socket may be shared
 * with a successor (SIGUSR2) that goes on reading it.
 *
 * A datagram the kernel drops because our receive queue is full never
 * reaches us: SO_RXQ_OVFL makes the kernel tell its running count of
 * those with each datagram, and we count the difference.  A reply the
 * kernel will not take is dropped and counted: UDP is lossy by contract,
 * and queueing replies would grow without bound. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dgram.h"
#include "log.h"
#include "upper.h"

#define DGRAM_MAX	65536	/* larger than any UDP payload (65507) */
#define DGRAM_BATCH	16	/* datagrams per recvmmsg() */
#define DGRAM_STACK	(256 * 1024)
#define DGRAM_WAKE_SIG	(SIGRTMIN + 1)	/* not the first: libraries take it */
#define DGRAM_RETRY_MS	10	/* after an unexpected receive error */
#define DGRAM_KICK_NS	2000000	/* between wake signals: 2 ms */

/* The counter of each reason not to answer. */
static const enum stat_id dgram_drop_stat[] = {
	[UDPGUARD_LOOP] = ST_DGRAMS_DROPPED_LOOP,
	[UDPGUARD_ACL] = ST_DGRAMS_DROPPED_ACL,
	[UDPGUARD_RATE] = ST_DGRAMS_DROPPED_RATE,
};

struct dgram {
	evutil_socket_t		 fd;
	pthread_t		 thread;
	_Atomic int		 stop;
	struct stats		*stats;

	/* The reader's own. */
	struct udpguard		*guard;
	struct acl		 acl;	/* the guard reads it */
	uint32_t		 ovfl;	/* the kernel's drop count, last seen */

	/* Rules to take: set by any thread, under mu. */
	pthread_mutex_t		 mu;
	_Atomic int		 changed;
	struct dgram_rules	 next;

	struct mmsghdr		 msgs[DGRAM_BATCH];
	struct iovec		 iov[DGRAM_BATCH];
	struct sockaddr_storage	 peers[DGRAM_BATCH];
	union {
		char		 buf[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr	 align;
	}			 ctl[DGRAM_BATCH];
	unsigned char		 bufs[DGRAM_BATCH][DGRAM_MAX];
};

static pthread_once_t	dgram_once = PTHREAD_ONCE_INIT;
static int		dgram_wake_ok;

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

/* In the reader: the guard takes rules. */
static void
dgram_apply_rules(struct dgram *d, const struct dgram_rules *r)
{
	d->acl = r->acl;
	if (udpguard_retune(d->guard, r->rate) != 0)
		log_warn("udp: out of memory for the udp_rate_per_ip table: "
		    "datagrams are not rate-limited");
	udpguard_set_self(d->guard, r->self, r->nself);
}

static void
dgram_take_rules(struct dgram *d)
{
	pthread_mutex_lock(&d->mu);
	atomic_store_explicit(&d->changed, 0, memory_order_relaxed);
	dgram_apply_rules(d, &d->next);
	pthread_mutex_unlock(&d->mu);
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
			stats_add_shared(d->stats, ST_DGRAMS_KERNEL_DROPS,
			    (uint32_t)(n - d->ovfl));
		d->ovfl = n;
	}
}

/* Send replies [0, n) without waiting for room; one the kernel refuses
 * is dropped and counted.  When the socket is out of room, so is every
 * reply after it. */
static void
dgram_reply(struct dgram *d, int n)
{
	uint64_t bytes = 0;
	int at = 0, answered = 0;

	while (at < n) {
		int r = sendmmsg(d->fd, d->msgs + at, (unsigned)(n - at),
		    MSG_DONTWAIT);

		if (r > 0) {
			for (int i = at; i < at + r; i++)
				bytes += d->msgs[i].msg_len;
			answered += r;
			at += r;
			continue;
		}
		if (errno == EINTR)
			continue;
		log_debug("udp sendmmsg: %s", strerror(errno));
		if (dgram_try_later(errno) || errno == ENOBUFS) {
			stats_add_shared(d->stats, ST_DGRAMS_DROPPED,
			    (uint64_t)(n - at));
			break;
		}
		stats_add_shared(d->stats, ST_DGRAMS_DROPPED, 1); /* this one */
		at++;
	}
	if (answered > 0) {
		stats_add_shared(d->stats, ST_DGRAMS, (uint64_t)answered);
		stats_add_shared(d->stats, ST_BYTES_OUT, bytes);
	}
}

/* The n datagrams just received: each looked at, uppercased and
 * answered, or dropped and counted. */
static void
dgram_serve(struct dgram *d, int n)
{
	uint64_t bytes = 0;
	int nreply = 0;

	/* Received first: a reader of the counters never sees a drop or a
	 * reply before the datagram it was for. */
	stats_add_shared(d->stats, ST_DGRAMS_IN, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &d->msgs[i].msg_hdr;
		size_t len = d->msgs[i].msg_len;
		enum udpguard_verdict v;

		bytes += len;
		if (h->msg_controllen > 0)
			dgram_note_overflow(d, h);
		if ((v = udpguard_check(d->guard, h->msg_name,
		    h->msg_namelen)) != UDPGUARD_PASS) {
			stats_add_shared(d->stats, dgram_drop_stat[v], 1);
			continue;
		}
		upper_copy(d->bufs[i], d->bufs[i], len);
		/* The reply: the same buffer, to the sender; a datagram not
		 * answered leaves no gap in the batch (dgram_arm re-points
		 * every slot after). */
		d->iov[i].iov_len = len;
		h->msg_control = NULL;
		h->msg_controllen = 0;
		if (nreply != i)
			d->msgs[nreply] = d->msgs[i];
		nreply++;
	}
	stats_add_shared(d->stats, ST_BYTES_IN, bytes);
	dgram_reply(d, nreply);
	dgram_arm(d, n);
}

static void
dgram_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);	/* a wake signal cuts it short */
}

static void *
dgram_reader(void *arg)
{
	struct dgram *d = arg;
	sigset_t wake;

	sigemptyset(&wake);
	sigaddset(&wake, DGRAM_WAKE_SIG);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	while (!atomic_load_explicit(&d->stop, memory_order_acquire)) {
		/* At least one datagram, then whatever else is queued. */
		int n = recvmmsg(d->fd, d->msgs, DGRAM_BATCH, MSG_WAITFORONE,
		    NULL);

		if (atomic_load_explicit(&d->changed, memory_order_relaxed))
			dgram_take_rules(d);
		if (n > 0) {
			dgram_serve(d, n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Non-blocking after all: an older upcased we
			 * restarted into shares the socket and set it.  Wait
			 * for a datagram (the wake signal cuts it short). */
			struct pollfd p = { d->fd, POLLIN, 0 };

			poll(&p, 1, -1);
			continue;
		}
		/* Not ours to fix (a socket someone shut down, ENOMEM):
		 * try again, but not in a spin. */
		log_debug("udp recvmmsg: %s", n < 0 ? strerror(errno) :
		    "end of file");
		dgram_pause_ms(DGRAM_RETRY_MS);
	}
	return NULL;
}

static void
dgram_wake_handler(int sig)
{
	(void)sig;	/* here to cut a reader's recvmmsg() or poll() short */
}

static void
dgram_install_wake(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = dgram_wake_handler;
	sigfillset(&sa.sa_mask);
	sa.sa_flags = 0;		/* no SA_RESTART: EINTR it is */
	dgram_wake_ok = sigaction(DGRAM_WAKE_SIG, &sa, NULL) == 0;
}

/* The reader, with the signals the main loop takes blocked (every one
 * but the wake and a fault's own, which the kernel would unblock anyway,
 * without the sanitizers' handlers). */
static int
dgram_start(struct dgram *d)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	if ((rc = pthread_attr_init(&attr)) != 0)
		return rc;
	pthread_attr_setstacksize(&attr, DGRAM_STACK);
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&d->thread, &attr, dgram_reader, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
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
dgram_new(evutil_socket_t fd, struct stats *stats,
    struct udpguard_rates *rates, const struct dgram_rules *rules)
{
	struct dgram *d;
	int one = 1, flags, rc;

	pthread_once(&dgram_once, dgram_install_wake);
	if (!dgram_wake_ok) {
		log_error("udp: cannot set up the readers' wake signal");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->fd = fd;
	d->stats = stats;
	atomic_init(&d->stop, 0);
	atomic_init(&d->changed, 0);
	if ((d->guard = udpguard_new(&d->acl, rates)) == NULL)
		goto fail;
	dgram_apply_rules(d, rules);
	dgram_arm(d, DGRAM_BATCH);
	if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
		log_debug("udp: SO_RXQ_OVFL: %s (kernel drops not counted)",
		    strerror(errno));
	/* The reader waits in recvmmsg(); replies never wait (MSG_DONTWAIT). */
	if ((flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		log_error("udp: cannot make the socket blocking: %s",
		    strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&d->mu, NULL);
	if ((rc = dgram_start(d)) != 0) {
		log_error("udp: cannot start a reader thread: %s",
		    strerror(rc));
		pthread_mutex_destroy(&d->mu);
		fcntl(fd, F_SETFL, flags);
		goto fail;
	}
	return d;
fail:
	udpguard_free(d->guard);
	free(d);
	return NULL;
}

int
dgram_abandon(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int other;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    (other = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (dup3(other, fd, O_CLOEXEC) < 0) {
		close(other);
		return -1;
	}
	close(other);
	return 0;
}

void
dgram_set_rules(struct dgram *d, const struct dgram_rules *rules)
{
	pthread_mutex_lock(&d->mu);
	d->next = *rules;
	atomic_store_explicit(&d->changed, 1, memory_order_relaxed);
	pthread_mutex_unlock(&d->mu);
}

/* Interrupt the reader until it is gone. */
static void
dgram_stop(struct dgram *d)
{
	struct timespec start, at;
	int warned = 0;

	atomic_store_explicit(&d->stop, 1, memory_order_release);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pthread_kill(d->thread, DGRAM_WAKE_SIG);
		clock_gettime(CLOCK_MONOTONIC, &at);
		if (!warned && at.tv_sec - start.tv_sec >= 5) {
			log_warn("udp: a reader thread is slow to stop");
			warned = 1;
		}
		at.tv_nsec += DGRAM_KICK_NS;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		if (pthread_clockjoin_np(d->thread, NULL, CLOCK_MONOTONIC,
		    &at) == 0)
			return;
	}
}

void
dgram_free(struct dgram *d)
{
	if (d == NULL)
		return;
	dgram_stop(d);
	close(d->fd);
	pthread_mutex_destroy(&d->mu);
	udpguard_free(d->guard);
	free(d);
}
