/* udpguard.h: the datagrams the UDP echo must not answer.  An echo answers
 * whoever the source address claims to be, so a spoofed datagram makes it
 * a reflector, and one spoofed from another echo service's port (or from
 * our own) starts an endless echo-to-echo loop: those are dropped, as
 * inetd's built-in echo drops the small-service ports.  Then the access
 * lists, then a per-source rate (a token bucket per address in a table of
 * fixed size, the longest unseen entries evicted). */
#ifndef UDPGUARD_H
#define UDPGUARD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "admit.h"

enum udpguard_verdict {
	UDPGUARD_PASS,
	UDPGUARD_LOOP,		/* from ports 0, 7, 9, 13, 19, 37, 123, or us */
	UDPGUARD_ACL,
	UDPGUARD_RATE,
};

#define UDPGUARD_SELF_MAX	32	/* SETTINGS_MAX_LISTEN */

struct udpguard_rate;
struct udpguard_rates;

/* Here, not in udpguard.c, for udpguard_check()'s inline first look
 * (dgram.c calls it for every datagram); only udpguard.c changes it. */
struct udpguard {
	const struct acl	*acl;
	int			 rate;		/* 0: none */
	/* An access list or a rate: every datagram is looked at. */
	int			 look_all;
	/* Else a bit per source port to look at: the loop ports and our
	 * own UDP ports (8 KiB; the words of common ports stay cached). */
	uint64_t		 look_port[65536 / 64];
	struct udpguard_rates	*rates;		/* shared by every guard */
	int			 nself;
	struct udpguard_self {
		int		 port;
		int		 any;	/* wildcard: only the port tells */
		struct cidr_ip	 ip;
	}			 self[UDPGUARD_SELF_MAX];
};

/*
 * Each UDP reader thread has a guard of its own, used on that thread
 * only; the per-source buckets are one table all of them share (under a
 * lock, taken only when a rate is set), so that a source's budget is the
 * same whichever socket its datagrams reach.
 */
struct udpguard_rates *udpguard_rates_new(void);
void	udpguard_rates_free(struct udpguard_rates *r);

/* acl: the lists to check, read at each datagram (they may change
 * between datagrams, on the same thread: call udpguard_retune then);
 * rates: the shared buckets. */
struct udpguard *udpguard_new(const struct acl *acl,
	    struct udpguard_rates *rates);
void	udpguard_free(struct udpguard *g);

/* Datagrams per second answered per source address; 0: no limit.  The
 * shared table is allocated the first time a rate is set.  Also takes
 * note of the access lists as they are now.  Returns -1 if out of memory
 * (the rate is then not applied). */
int	udpguard_retune(struct udpguard *g, int rate);

/* Our own UDP listening addresses (n of them), replacing the last ones:
 * a datagram from one of them is us talking to ourselves.  A wildcard
 * one (0.0.0.0, ::) stands for any address of this host with its port. */
void	udpguard_set_self(struct udpguard *g, const struct addr *self, int n);

/* The whole look at a datagram from sa. */
enum udpguard_verdict udpguard_look(struct udpguard *g,
	    const struct sockaddr_storage *sa, socklen_t len);

/* What to do with a datagram from sa.  Most need no more than a look at
 * their port: this much is inline. */
static inline enum udpguard_verdict
udpguard_check(struct udpguard *g, const struct sockaddr_storage *sa,
    socklen_t len)
{
	/* sin_port and sin6_port sit at the same place. */
	unsigned port = ntohs(((const struct sockaddr_in *)sa)->sin_port);

	if (g->look_all || (g->look_port[port >> 6] >> (port & 63)) & 1)
		return udpguard_look(g, sa, len);
	return UDPGUARD_PASS;
}

#endif
