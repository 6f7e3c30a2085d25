/* dgram.h: the UDP echo: one datagram in, one uppercased datagram out. */
#ifndef DGRAM_H
#define DGRAM_H

#include <event2/event.h>

#include "stats.h"
#include "udpguard.h"

struct dgram;

/* Serve the bound UDP socket fd on base, with a receive buffer of rcvbuf
 * bytes (0: as it is), answering only what guard lets through; the
 * socket is closed by dgram_free. */
struct dgram *dgram_new(struct event_base *base, evutil_socket_t fd,
	    struct stats *stats, int rcvbuf, struct udpguard *guard);

/* A new receive buffer size (udp_rcvbuf, reloaded).  Returns 0, or -1
 * (errno set). */
int	dgram_set_rcvbuf(struct dgram *d, int bytes);
void	dgram_free(struct dgram *d);

/* The socket, e.g. to hand to a successor. */
evutil_socket_t dgram_fd(const struct dgram *d);

#endif
