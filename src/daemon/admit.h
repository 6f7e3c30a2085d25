/* admit.h: who gets in.  A stream connection's address is held against
 * the access lists (allow, deny) and the per-address limit, once, when it
 * is accepted or, on a proxy_protocol listener, once its PROXY header has
 * named the client; the sender of a PROXY header must be one of
 * proxy_from.  A refusal is counted and logged at debug; the caller
 * closes the connection without reading from it. */
#ifndef ADMIT_H
#define ADMIT_H

#include <sys/socket.h>

#include "cidr.h"
#include "perip.h"
#include "stats.h"

/* allow and deny: with any allow, an address must match one; it must
 * match no deny.  Empty lists let everyone in. */
struct acl {
	struct cidr_list	allow;
	struct cidr_list	deny;
};

int	acl_permits(const struct acl *acl, const struct cidr_ip *ip);

/* What one thread checks with: the lists it reads, the shared count, and
 * its own counters. */
struct admit {
	const struct acl	*acl;
	const struct cidr_list	*proxy_from;	/* empty: any sender */
	struct perip		*perip;
	struct stats		*stats;
};

/*
 * A connection accepted from sa.  On a proxy_protocol listener (proxy 1)
 * only its sender is checked, against proxy_from: the client is known
 * once the header is read.  Returns 0 with *slot its place in the
 * per-address count (NULL: not counted), or -1: refused.
 */
int	admit_accepted(const struct admit *a, const struct sockaddr *sa,
	    socklen_t len, int proxy, struct perip_slot **slot);

/* The client a PROXY header named (any family; unix is not filtered),
 * reached through the balancer named via (for the log; may be NULL). */
int	admit_client(const struct admit *a, const struct sockaddr *sa,
	    socklen_t len, const char *via, struct perip_slot **slot);

#endif
