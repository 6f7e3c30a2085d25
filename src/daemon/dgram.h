/* dgram.h: the UDP echo: one datagram in, one uppercased datagram out. */
#ifndef DGRAM_H
#define DGRAM_H

#include <event2/util.h>

#include "addr.h"
#include "admit.h"
#include "stats.h"
#include "udpguard.h"

struct dgram;

/* What each datagram is checked against (see udpguard.h): every reader
 * keeps a copy of its own, taken before its next batch. */
struct dgram_rules {
	struct acl	 acl;
	int		 rate;		/* udp_rate_per_ip; 0: none */
	int		 nself;		/* our own UDP listening addresses */
	struct addr	 self[UDPGUARD_SELF_MAX];
};

/* Serve the bound UDP socket fd from a thread of its own, counting in
 * stats (with stats_add_shared: other readers may count there too) and
 * answering only what rules let through; rates: the per-source buckets
 * every reader shares.  The socket is closed by dgram_free.  NULL: out
 * of memory or threads (fd stays open, its O_NONBLOCK as it was; see
 * dgram_abandon). */
struct dgram *dgram_new(evutil_socket_t fd, struct stats *stats,
	    struct udpguard_rates *rates, const struct dgram_rules *rules);

/* For a socket no reader serves (dgram_new failed): it must not stay in
 * its SO_REUSEPORT group, where the kernel would go on giving it a share
 * of the senders, never answered.  An unbound socket takes its place
 * under the same descriptor (still the caller's, closed as before), and
 * the group's other sockets get those senders.  Returns 0, or -1 (errno
 * set). */
int	dgram_abandon(evutil_socket_t fd);

/* New rules, from any thread: the reader takes them before its next
 * batch. */
void	dgram_set_rules(struct dgram *d, const struct dgram_rules *rules);

/* A receive buffer of bytes for the UDP socket fd (udp_rcvbuf; <= 0: as
 * it is), from any thread.  Returns 0 with *got what the kernel gave (it
 * caps it at net.core.rmem_max without CAP_NET_ADMIN), or -1 (errno set). */
int	dgram_set_rcvbuf(evutil_socket_t fd, int bytes, int *got);

/* Stop reading (at once, even with the reader waiting for a datagram),
 * wait for the reader's thread and close the socket. */
void	dgram_free(struct dgram *d);

#endif
