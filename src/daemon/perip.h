/* perip.h: open connections per client address (an IPv4 address, an IPv6
 * /64: what one client can have) across every worker thread, held against
 * max_conns_per_ip.  A connection takes its place when it opens and gives
 * it back when it closes: nothing happens per message. */
#ifndef PERIP_H
#define PERIP_H

#include "cidr.h"

struct perip;
struct perip_slot;

enum perip_verdict {
	PERIP_OK,		/* in: *slot to give back (NULL: not counted) */
	PERIP_OVER,		/* at the limit already: refuse */
	PERIP_NOMEM,
};

struct perip *perip_new(void);
void	perip_free(struct perip *p);

/* At most limit connections from one address; 0: no limit (nothing is
 * counted from then on, and what is counted is still given back). */
void	perip_set_limit(struct perip *p, int limit);
int	perip_limit(struct perip *p);

/* From any thread. */
enum perip_verdict perip_take(struct perip *p, const struct cidr_ip *ip,
	    struct perip_slot **slot);
void	perip_give(struct perip *p, struct perip_slot *slot);

/* Connections counted now from ip's address (for the tests). */
int	perip_count(struct perip *p, const struct cidr_ip *ip);

#endif
