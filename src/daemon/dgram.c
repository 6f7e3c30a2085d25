/* dgram.c: UDP needs no bufferevent: one persistent read event and a
 * recvfrom/sendto loop, bounded per wake-up so that one busy sender
 * cannot starve the stream connections that share the loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgram.h"
#include "log.h"
#include "upper.h"

#define DGRAM_MAX	65536	/* larger than any UDP payload (65507) */
#define DGRAM_BATCH	64

struct dgram {
	evutil_socket_t	 fd;
	struct event	*ev;
	struct stats	*stats;
	unsigned char	 buf[DGRAM_MAX];
};

static void
dgram_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dgram *d = arg;

	for (int i = 0; i < DGRAM_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		ssize_t n;

		n = recvfrom(fd, d->buf, sizeof(d->buf), 0,
		    (struct sockaddr *)&ss, &len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				log_debug("udp recvfrom: %s", strerror(errno));
			return;
		}
		stats_add(d->stats, ST_BYTES_IN, (uint64_t)n);
		upper_copy(d->buf, d->buf, (size_t)n);
		/* UDP is lossy by contract: a reply the kernel will not
		 * take now (EAGAIN, ENOBUFS, an address it cannot send to)
		 * is dropped and counted, never queued without bound. */
		if (sendto(fd, d->buf, (size_t)n, 0, (struct sockaddr *)&ss,
		    len) < 0) {
			stats_add(d->stats, ST_DGRAMS_DROPPED, 1);
			log_debug("udp sendto: %s", strerror(errno));
			continue;
		}
		stats_add(d->stats, ST_DGRAMS, 1);
		stats_add(d->stats, ST_BYTES_OUT, (uint64_t)n);
	}
}

struct dgram *
dgram_new(struct event_base *base, evutil_socket_t fd, struct stats *stats)
{
	struct dgram *d;

	d = malloc(sizeof(*d));
	if (d == NULL)
		return NULL;
	d->fd = fd;
	d->stats = stats;
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

evutil_socket_t
dgram_fd(const struct dgram *d)
{
	return d->fd;
}
