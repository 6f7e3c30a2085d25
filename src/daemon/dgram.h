/* dgram.h: the UDP echo: one datagram in, one uppercased datagram out. */
#ifndef DGRAM_H
#define DGRAM_H

#include <event2/event.h>

#include "stats.h"
#include "udpguard.h"

struct dgram;

/* Serve the bound UDP socket fd on base (from base's thread), counting
 * in stats and answering only what guard lets through; the socket is
 * closed by dgram_free. */
struct dgram *dgram_new(struct event_base *base, evutil_socket_t fd,
	    struct stats *stats, struct udpguard *guard);

/* A receive buffer of bytes for the UDP socket fd (udp_rcvbuf; <= 0: as
 * it is), from any thread.  Returns 0 with *got what the kernel gave (it
 * caps it at net.core.rmem_max without CAP_NET_ADMIN), or -1 (errno set). */
int	dgram_set_rcvbuf(evutil_socket_t fd, int bytes, int *got);
void	dgram_free(struct dgram *d);

#endif
