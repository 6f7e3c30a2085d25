/* refserver.c: the reference uppercase-echo server for the benchmarks: raw
 * epoll, non-blocking, one read of at most CHUNK bytes per readiness,
 * uppercase, write back, keep what the kernel did not take.  No timeouts,
 * no limits, no counters: the physical-limit baseline upcased is measured
 * against.
 *
 *   refserver [-e] [-c CHUNK] [-l [udp:]HOST:PORT] [-t THREADS] [-P MAX_PENDING]
 *
 * Each thread has its own SO_REUSEPORT listener and its own epoll.  With
 * a udp: address each thread has its own SO_REUSEPORT UDP socket instead
 * and a blocking recvmmsg/sendmmsg loop: a batch of datagrams in,
 * uppercased in place, the batch back to their senders.  It prints
 * "listening on ADDR" on stderr as upcased does, and runs until killed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS	256
#define UDP_BATCH	64		/* datagrams per recvmmsg/sendmmsg */
#define UDP_MAX		65536		/* more than any datagram */

struct conn {
	int		 fd;
	int		 eof;		/* peer shut its side: close once drained */
	unsigned	 events;	/* what epoll watches now */
	unsigned char	*pend;		/* replies the kernel did not take yet */
	size_t		 off, len, cap;
};

static size_t	chunk = 1024;
static size_t	max_pending = 65536;
static int	edge;			/* -e: edge-triggered, read to EAGAIN */
static int	udp;			/* -l udp:...: datagrams */
static struct sockaddr_storage bind_ss;
static socklen_t bind_len;

/* The same work as upcased's upper_copy: a-z to A-Z, a word at a time. */
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

static void
upper(unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, ascii, low7, ge_a, gt_z;
		memcpy(&w, p + i, 8);
		ascii = ~w & HIGHS;
		low7 = w & ~HIGHS;
		ge_a = low7 + ONES * (0x80 - 'a');
		gt_z = low7 + ONES * (0x80 - 'z' - 1);
		w ^= (ge_a & ~gt_z & ascii) >> 2;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] -= 0x20;
}

static void
watch(int ep, struct conn *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (edge)
		events |= EPOLLET;
	ev.events = events;
	if (events == c->events)
		return;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		err(1, "epoll_ctl");
	c->events = events;
}

static void
conn_close(struct conn *c)
{
	close(c->fd);	/* also removes it from the epoll set */
	free(c->pend);
	free(c);
}

/* Write what is pending.  Returns -1 when the connection is gone. */
static int
flush(int ep, struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->pend + c->off, c->len - c->off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c);
			return -1;
		}
		c->off += (size_t)n;
	}
	if (c->off == c->len) {
		c->off = c->len = 0;
		if (c->eof) {
			conn_close(c);
			return -1;
		}
	}
	/* Read only while the pending replies are under the bound; watch
	 * for writability only while some are pending. */
	watch(ep, c, (c->eof || c->len - c->off >= max_pending ? 0 : EPOLLIN) |
	    (c->off < c->len ? EPOLLOUT : 0));
	return 0;
}

static int
keep(struct conn *c, const unsigned char *p, size_t n)
{
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		unsigned char *q;
		while (cap < c->len + n)
			cap *= 2;
		if ((q = realloc(c->pend, cap)) == NULL)
			return -1;
		c->pend = q;
		c->cap = cap;
	}
	memcpy(c->pend + c->len, p, n);
	c->len += n;
	return 0;
}

/* One read of at most chunk bytes (until EAGAIN when edge-triggered). */
static void
on_readable(int ep, struct conn *c, unsigned char *buf)
{
	for (;;) {
		ssize_t n = read(c->fd, buf, chunk), w = 0;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(c);
			return;
		}
		if (n == 0) {
			c->eof = 1;
			flush(ep, c);
			return;
		}
		upper(buf, (size_t)n);
		if (c->off == c->len) {
			/* Nothing queued: straight to the socket. */
			w = write(c->fd, buf, (size_t)n);
			if (w < 0 && errno != EAGAIN) {
				conn_close(c);
				return;
			}
			if (w < 0)
				w = 0;
		}
		if (w < n) {
			if (keep(c, buf + w, (size_t)(n - w)) != 0) {
				conn_close(c);
				return;
			}
			if (flush(ep, c) != 0)
				return;
		}
		if (!edge || !(c->events & EPOLLIN))
			return;
	}
}

static void
on_accept(int ep, int lfd)
{
	for (;;) {
		struct epoll_event ev;
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				warn("accept");
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = ev.events = EPOLLIN | (edge ? EPOLLET : 0);
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			warn("epoll_ctl");
			close(fd);
			free(c);
		}
		if (!edge)
			return;	/* level-triggered: the next wait says if more */
	}
}

static int
listen_one(void)
{
	int fd, one = 1;

	/* UDP blocks: its loop has nothing else to wait for. */
	fd = socket(bind_ss.ss_family, udp ? SOCK_DGRAM | SOCK_CLOEXEC :
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		err(1, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    (!udp && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) != 0))
		err(1, "setsockopt");
	if (bind(fd, (struct sockaddr *)&bind_ss, bind_len) != 0)
		err(1, "bind");
	if (!udp && listen(fd, 1024) != 0)
		err(1, "listen");
	/* Port 0: the next threads bind the port this one got. */
	if (getsockname(fd, (struct sockaddr *)&bind_ss, &bind_len) != 0)
		err(1, "getsockname");
	return fd;
}

static void *
loop(void *arg)
{
	int lfd = (int)(intptr_t)arg, ep;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event evs[MAX_EVENTS];
	unsigned char *buf;

	if ((buf = malloc(chunk)) == NULL)
		err(1, "malloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		err(1, "epoll_create1");
	if (edge)
		ev.events |= EPOLLET;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
		err(1, "epoll_ctl");
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL)
				on_accept(ep, lfd);
			else if (evs[i].events & EPOLLIN)
				on_readable(ep, c, buf);
			else if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
				if (evs[i].events & EPOLLOUT)
					flush(ep, c);
				else
					conn_close(c);
			}
		}
	}
	return NULL;
}

/* UDP: a batch in (at least one, then whatever else is queued), each
 * uppercased in place, the batch back to where each came from. */
static void *
udp_loop(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct mmsghdr mh[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	unsigned char *buf;

	if ((buf = malloc((size_t)UDP_BATCH * UDP_MAX)) == NULL)
		err(1, "malloc");
	for (;;) {
		int n, done = 0;

		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i].iov_base = buf + (size_t)i * UDP_MAX;
			iov[i].iov_len = UDP_MAX;
			memset(&mh[i], 0, sizeof(mh[i]));
			mh[i].msg_hdr.msg_iov = &iov[i];
			mh[i].msg_hdr.msg_iovlen = 1;
			mh[i].msg_hdr.msg_name = &from[i];
			mh[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, mh, UDP_BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			err(1, "recvmmsg");
		}
		for (int i = 0; i < n; i++) {
			upper(iov[i].iov_base, mh[i].msg_len);
			iov[i].iov_len = mh[i].msg_len;
		}
		while (done < n) {
			int m = sendmmsg(fd, mh + done, (unsigned)(n - done), 0);
			if (m < 0) {
				if (errno == EINTR)
					continue;
				done++;		/* a refused peer: skip it */
				continue;
			}
			done += m;
		}
	}
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: refserver [-e] [-c CHUNK] [-l [udp:]HOST:PORT] "
	    "[-t THREADS] [-P MAX_PENDING]\n");
	exit(2);
}

static void
parse_addr(const char *s)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *res;
	char host[256];
	const char *colon;
	size_t hl;
	int rc;

	udp = strncmp(s, "udp:", 4) == 0;
	if (udp) {
		s += 4;
		hints.ai_socktype = SOCK_DGRAM;
	}
	colon = strrchr(s, ':');

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
	memcpy(&bind_ss, res->ai_addr, res->ai_addrlen);
	bind_len = res->ai_addrlen;
	freeaddrinfo(res);
}

int
main(int argc, char **argv)
{
	char host[INET6_ADDRSTRLEN], port[16];
	int ch, threads = 1, *lfds;
	pthread_t t;

	parse_addr("127.0.0.1:0");
	while ((ch = getopt(argc, argv, "c:el:P:t:")) != -1) {
		switch (ch) {
		case 'c':
			chunk = strtoul(optarg, NULL, 10);
			break;
		case 'e':
			edge = 1;
			break;
		case 'l':
			parse_addr(optarg);
			break;
		case 'P':
			max_pending = strtoul(optarg, NULL, 10);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (chunk == 0 || max_pending == 0 || threads < 1 || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	/* Every listener exists before any "listening on" line. */
	if ((lfds = calloc((size_t)threads, sizeof(*lfds))) == NULL)
		err(1, "calloc");
	for (int i = 0; i < threads; i++)
		lfds[i] = listen_one();
	if (getnameinfo((struct sockaddr *)&bind_ss, bind_len, host,
	    sizeof(host), port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV))
		errx(1, "getnameinfo");
	fprintf(stderr, bind_ss.ss_family == AF_INET6 ?
	    "listening on %s[%s]:%s\n" : "listening on %s%s:%s\n",
	    udp ? "udp:" : "", host, port);
	for (int i = 1; i < threads; i++)
		if (pthread_create(&t, NULL, udp ? udp_loop : loop,
		    (void *)(intptr_t)lfds[i]))
			errx(1, "pthread_create");
	(udp ? udp_loop : loop)((void *)(intptr_t)lfds[0]);
	return 0;
}
