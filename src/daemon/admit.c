/* admit.c: the access lists, the per-address limit and proxy_from applied
 * to one connection's address, with the refusal counted and logged. */
#include <stdatomic.h>

#include "addr.h"
#include "admit.h"
#include "log.h"

/* A run of refusals for want of memory is logged once, whichever thread
 * (the main loop, or a worker after a PROXY header) meets it. */
static _Atomic int admit_nomem;

int
acl_permits(const struct acl *acl, const struct cidr_ip *ip)
{
	if (acl->allow.n > 0 && !cidr_list_match(&acl->allow, ip))
		return 0;
	return !cidr_list_match(&acl->deny, ip);
}

/* "refused PEER[ via BALANCER]: why", at debug only: a flood of refusals
 * formats nothing unless asked to. */
static void
admit_log(const struct sockaddr *sa, socklen_t len, const char *via,
    const char *why, int limit)
{
	char name[ADDR_STRLEN];

	if (log_get_level() < LOG_DEBUG)
		return;
	addr_format_peer(sa, len, name, sizeof(name));
	if (limit > 0)
		log_debug("refused %s%s%s: %s (max_conns_per_ip %d)", name,
		    via != NULL ? " via " : "", via != NULL ? via : "", why,
		    limit);
	else
		log_debug("refused %s%s%s: %s", name, via != NULL ? " via " : "",
		    via != NULL ? via : "", why);
}

/* allow, deny and the limit for a client at ip. */
static int
admit_ip(const struct admit *a, const struct cidr_ip *ip,
    const struct sockaddr *sa, socklen_t len, const char *via,
    struct perip_slot **slot)
{
	if (!acl_permits(a->acl, ip)) {
		stats_add(a->stats, ST_REJECTED_ACL, 1);
		admit_log(sa, len, via, "acl", 0);
		return -1;
	}
	switch (perip_take(a->perip, ip, slot)) {
	case PERIP_OK:
		if (atomic_load_explicit(&admit_nomem, memory_order_relaxed)) {
			atomic_store(&admit_nomem, 0);
			log_notice("counting connections per address again");
		}
		return 0;
	case PERIP_OVER:
		stats_add(a->stats, ST_REJECTED_PER_IP, 1);
		admit_log(sa, len, via, "per_ip", perip_limit(a->perip));
		return -1;
	case PERIP_NOMEM:
		break;
	}
	stats_add(a->stats, ST_REJECTED_ERROR, 1);
	if (atomic_exchange(&admit_nomem, 1) == 0)
		log_warn("out of memory counting connections per address: "
		    "refusing clients (counted in rejected_error) until there "
		    "is memory again");
	return -1;
}

int
admit_accepted(const struct admit *a, const struct sockaddr *sa,
    socklen_t len, int proxy, struct perip_slot **slot)
{
	struct cidr_ip ip;

	*slot = NULL;
	if (cidr_ip_of(sa, len, &ip) != 0)
		return 0;		/* unix: file permissions decide */
	if (!proxy)
		return admit_ip(a, &ip, sa, len, NULL, slot);
	if (a->proxy_from->n > 0 && !cidr_list_match(a->proxy_from, &ip)) {
		stats_add(a->stats, ST_REJECTED_PROXY, 1);
		admit_log(sa, len, NULL, "not in proxy_from", 0);
		return -1;
	}
	return 0;
}

int
admit_client(const struct admit *a, const struct sockaddr *sa, socklen_t len,
    const char *via, struct perip_slot **slot)
{
	struct cidr_ip ip;

	*slot = NULL;
	if (cidr_ip_of(sa, len, &ip) != 0)
		return 0;
	return admit_ip(a, &ip, sa, len, via, slot);
}
