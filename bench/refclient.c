/* refclient.c: the reference load client: raw epoll, N connections each
 * keeping K messages of S bytes in flight, every reply byte checked
 * against the uppercase, for D seconds.  It exists to show that `upcase
 * bench` is not what limits a benchmark: against the same server both
 * should drive the same rate.  So it sends what bench sends: bytes of the
 * same mix (lowercase and uppercase letters and any other byte value),
 * each message a different window of a random pool, because a server's
 * transform may cost more on mixed bytes than on one repeated lowercase
 * message (a per-byte branch mispredicts), and a repeated message cannot
 * tell a reply from a stale copy of the one before.
 *
 *   refclient [-C | -i] [-c CONNS] [-d SECONDS] [-p PIPELINE] [-s BYTES]
 *             [-T THREADS] HOST:PORT
 *
 * -C is churn: connect, one 5-byte exchange, close, again; it counts
 * connections.  -i opens CONNS idle connections and holds them for the
 * duration (for measuring a server's memory per connection).  The result is one JSON line with the keys of
 * `upcase bench --json`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <err.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS	256
#define RBUF		65536
#define HBUCKETS	(64 * 16)
/* Message start offsets in the pool (bench's VERIFY_STARTS). */
#define STARTS		65536

struct conn {
	int		 fd;
	int		 connecting;	/* churn: connect() in progress */
	uint32_t	 idx, gen;	/* epoll data: stale events are skipped */
	uint32_t	 num;		/* of all the threads' connections */
	uint64_t	 key;		/* picks this stream's message windows */
	unsigned	 events;
	uint64_t	 sent;		/* bytes written */
	uint64_t	 queued;	/* bytes we want written */
	uint64_t	 rcvd;		/* bytes read and checked */
	uint64_t	*t0;		/* start time of message i % pipeline */
};

struct thr {
	pthread_t	 tid;
	int		 id, nconns;
	struct conn	*conns;
	uint64_t	 messages, errors, mismatches, bytes;
	uint64_t	 hist[HBUCKETS];	/* latency, log-linear in us */
};

static int	 nconns = 50, pipeline = 1, nthreads = 1, churn, idle;
static atomic_int established;
static size_t	 msize = 64;
static double	 duration = 5;
static unsigned char *pool, *want;	/* sent, and its uppercase */
static struct sockaddr_storage dst;
static socklen_t dst_len;
static atomic_int stop;
static uint64_t	 deadline_ns;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: (stream key, message number) to a window. */
static uint64_t
mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* Where message m of connection c starts in the pool. */
static size_t
window(const struct conn *c, uint64_t m)
{
	return (size_t)(mix(c->key + m) % STARTS);
}

/* Random pool bytes: 4 in 10 lowercase letters, 3 uppercase, 3 any value
 * (NUL and 0x80-0xff included), as bench's pool. */
static void
make_pool(size_t len)
{
	uint64_t state = (uint64_t)now_ns();

	if ((pool = malloc(len)) == NULL || (want = malloc(len)) == NULL)
		err(1, "malloc");
	for (size_t i = 0; i < len; i++) {
		uint64_t r = mix(state += 0x632be59bd9b4e019u);
		unsigned kind = (unsigned)(r % 10), pick = (unsigned)(r >> 32);

		pool[i] = kind < 4 ? (unsigned char)('a' + pick % 26) :
		    kind < 7 ? (unsigned char)('A' + pick % 26) :
		    (unsigned char)pick;
		want[i] = pool[i] >= 'a' && pool[i] <= 'z' ?
		    (unsigned char)(pool[i] - 32) : pool[i];
	}
}

/* 16 sub-buckets per power of two of microseconds: about 6% resolution. */
static int
hbucket(uint64_t us)
{
	int msb;

	if (us < 16)
		return (int)us;
	msb = 63 - __builtin_clzll(us);
	return (msb - 3) * 16 + (int)((us >> (msb - 4)) & 15);
}

static uint64_t
hvalue(int b)
{
	int msb;

	if (b < 16)
		return (uint64_t)b;
	msb = b / 16 + 3;
	return ((uint64_t)1 << msb) | ((uint64_t)(b % 16) << (msb - 4));
}

static void
record(struct thr *t, uint64_t start)
{
	int b = hbucket((now_ns() - start) / 1000);

	t->hist[b < HBUCKETS ? b : HBUCKETS - 1]++;
	t->messages++;
}

static void
watch(int ep, struct conn *c, unsigned events, int op)
{
	struct epoll_event ev = { .events = events,
	    .data.u64 = (uint64_t)c->gen << 32 | c->idx };

	if (op == EPOLL_CTL_MOD && events == c->events)
		return;
	if (epoll_ctl(ep, op, c->fd, &ev) != 0)
		err(1, "epoll_ctl");
	c->events = events;
}

static int
open_conn(int ep, struct conn *c)
{
	int one = 1;

	c->fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&dst, dst_len) != 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->connecting = 1;
	c->gen++;
	c->key = mix((uint64_t)c->num << 32 | c->gen);
	c->sent = c->queued = c->rcvd = 0;
	c->t0[pipeline] = now_ns();
	watch(ep, c, EPOLLOUT, EPOLL_CTL_ADD);
	return 0;
}

/* Queue the next message: the stream position says which it is, and so
 * which window of the pool its bytes are. */
static void
queue_msg(struct conn *c)
{
	c->t0[(c->queued / msize) % (uint64_t)pipeline] = now_ns();
	c->queued += msize;
}

static int
do_write(int ep, struct conn *c)
{
	while (c->sent < c->queued) {
		size_t off = (size_t)(c->sent % msize);
		size_t n = msize - off;
		ssize_t w;

		if (n > c->queued - c->sent)
			n = (size_t)(c->queued - c->sent);
		w = write(c->fd, pool + window(c, c->sent / msize) + off, n);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->sent += (uint64_t)w;
	}
	watch(ep, c, EPOLLIN | (c->sent < c->queued ? EPOLLOUT : 0),
	    EPOLL_CTL_MOD);
	return 0;
}

static void
conn_fail(int ep, struct thr *t, struct conn *c)
{
	t->errors++;
	close(c->fd);
	c->fd = -1;
	if (churn && !atomic_load_explicit(&stop, memory_order_relaxed))
		open_conn(ep, c);
}

static void
on_readable(int ep, struct thr *t, struct conn *c, unsigned char *buf)
{
	ssize_t n = read(c->fd, buf, RBUF);
	uint64_t done_before, done_after;

	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		conn_fail(ep, t, c);
		return;
	}
	/* Check every byte against the uppercase at its stream position. */
	for (size_t i = 0; i < (size_t)n; ) {
		uint64_t at = c->rcvd + i;
		size_t off = (size_t)(at % msize);
		size_t len = msize - off;
		if (len > (size_t)n - i)
			len = (size_t)n - i;
		if (memcmp(buf + i, want + window(c, at / msize) + off,
		    len) != 0)
			t->mismatches++;
		i += len;
	}
	if (c->rcvd + (uint64_t)n > c->sent) {
		t->mismatches++;	/* more back than we sent */
		conn_fail(ep, t, c);
		return;
	}
	done_before = c->rcvd / msize;
	c->rcvd += (uint64_t)n;
	t->bytes += (uint64_t)n;
	done_after = c->rcvd / msize;
	for (uint64_t m = done_before; m < done_after; m++) {
		record(t, c->t0[m % (uint64_t)pipeline]);
		if (churn) {
			close(c->fd);
			if (!atomic_load_explicit(&stop, memory_order_relaxed))
				open_conn(ep, c);
			return;
		}
		if (!atomic_load_explicit(&stop, memory_order_relaxed))
			queue_msg(c);
	}
	if (do_write(ep, c) != 0)
		conn_fail(ep, t, c);
}

static void
on_writable(int ep, struct thr *t, struct conn *c)
{
	if (c->connecting) {
		int e = 0;
		socklen_t len = sizeof(e);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0 ||
		    e != 0) {
			conn_fail(ep, t, c);
			return;
		}
		c->connecting = 0;
		if (idle) {
			atomic_fetch_add(&established, 1);
			watch(ep, c, EPOLLIN, EPOLL_CTL_MOD);
			return;
		}
		for (int i = 0; i < pipeline; i++)
			queue_msg(c);
		if (churn)	/* a churn exchange counts from connect() */
			c->t0[0] = c->t0[pipeline];
	}
	if (do_write(ep, c) != 0)
		conn_fail(ep, t, c);
}

static void *
run(void *arg)
{
	struct thr *t = arg;
	struct epoll_event evs[MAX_EVENTS];
	unsigned char *buf;
	int ep;

	if ((buf = malloc(RBUF)) == NULL)
		err(1, "malloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		err(1, "epoll_create1");
	for (int i = 0; i < t->nconns; i++) {
		struct conn *c = &t->conns[i];
		c->idx = (uint32_t)i;
		c->num = (uint32_t)(t->id * nconns + i);
		if ((c->t0 = calloc((size_t)pipeline + 1, sizeof(*c->t0))) == NULL)
			err(1, "calloc");
		if (open_conn(ep, c) != 0)
			err(1, "connect");
	}
	while (now_ns() < deadline_ns) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 50);
		for (int i = 0; i < n; i++) {
			struct conn *c = &t->conns[(uint32_t)evs[i].data.u64];
			if (c->fd < 0 || c->gen != evs[i].data.u64 >> 32)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) &&
			    !c->connecting)
				on_readable(ep, t, c, buf);
			else if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				on_writable(ep, t, c);
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < t->nconns; i++)
		if (t->conns[i].fd >= 0)
			close(t->conns[i].fd);
	free(buf);
	close(ep);
	return NULL;
}

static uint64_t
percentile(const uint64_t *h, uint64_t total, double p)
{
	uint64_t rank = (uint64_t)ceil(p * (double)total), seen = 0;

	for (int b = 0; b < HBUCKETS; b++) {
		seen += h[b];
		if (seen >= rank && h[b] > 0)
			return hvalue(b);
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: refclient [-C | -i] [-c CONNS] [-d SECONDS] "
	    "[-p PIPELINE] [-s BYTES] [-T THREADS] HOST:PORT\n");
	exit(2);
}

static void
parse_addr(const char *s)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV }, *res;
	char host[256];
	const char *colon = strrchr(s, ':');
	size_t hl;
	int rc;

	if (colon == NULL || (hl = (size_t)(colon - s)) >= sizeof(host))
		usage();
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
		errx(2, "%s: %s", s, gai_strerror(rc));
	memcpy(&dst, res->ai_addr, res->ai_addrlen);
	dst_len = res->ai_addrlen;
	freeaddrinfo(res);
}

int
main(int argc, char **argv)
{
	struct thr *ts;
	uint64_t hist[HBUCKETS] = { 0 }, msgs = 0, errs = 0, bad = 0, bytes = 0;
	uint64_t start, end;
	double secs;
	int ch;

	while ((ch = getopt(argc, argv, "Cc:d:ip:s:T:")) != -1) {
		switch (ch) {
		case 'C':
			churn = 1;
			break;
		case 'i':
			idle = 1;
			break;
		case 'c':
			nconns = atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'p':
			pipeline = atoi(optarg);
			break;
		case 's':
			msize = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			nthreads = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || nconns < 1 || pipeline < 1 || msize < 1 ||
	    nthreads < 1 || duration <= 0)
		usage();
	parse_addr(argv[optind]);
	if (churn) {
		msize = 5;
		pipeline = 1;
	}
	if (nthreads > nconns)
		nthreads = nconns;
	signal(SIGPIPE, SIG_IGN);
	make_pool(msize + STARTS - 1);
	if ((ts = calloc((size_t)nthreads, sizeof(*ts))) == NULL)
		err(1, "calloc");
	start = now_ns();
	deadline_ns = start + (uint64_t)(duration * 1e9);
	for (int i = 0; i < nthreads; i++) {
		ts[i].id = i;
		ts[i].nconns = nconns / nthreads + (i < nconns % nthreads);
		if ((ts[i].conns = calloc((size_t)ts[i].nconns,
		    sizeof(*ts[i].conns))) == NULL)
			err(1, "calloc");
		if (pthread_create(&ts[i].tid, NULL, run, &ts[i]) != 0)
			errx(1, "pthread_create");
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ts[i].tid, NULL);
		msgs += ts[i].messages;
		errs += ts[i].errors;
		bad += ts[i].mismatches;
		bytes += ts[i].bytes;
		for (int b = 0; b < HBUCKETS; b++)
			hist[b] += ts[i].hist[b];
	}
	end = now_ns();
	secs = (double)(end - start) / 1e9;
	printf("{\"connections\": %d, \"messages\": %llu, "
	    "\"msgs_per_sec\": %.1f, \"bytes_per_sec\": %.1f, "
	    "\"latency_us\": {\"p50\": %llu, \"p90\": %llu, \"p99\": %llu, "
	    "\"p999\": %llu}, \"errors\": %llu, \"mismatches\": %llu, "
	    "\"duration_s\": %.3f}\n", idle ? atomic_load(&established) : nconns,
	    (unsigned long long)msgs,
	    (double)msgs / secs, (double)bytes / secs,
	    (unsigned long long)percentile(hist, msgs, 0.50),
	    (unsigned long long)percentile(hist, msgs, 0.90),
	    (unsigned long long)percentile(hist, msgs, 0.99),
	    (unsigned long long)percentile(hist, msgs, 0.999),
	    (unsigned long long)errs, (unsigned long long)bad, secs);
	return bad != 0;
}
