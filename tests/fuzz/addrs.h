/* addrs.h: for the fuzz targets that parse ADDRs (included by exactly one
 * file of each): a getaddrinfo() that never waits on DNS, and equality of
 * parsed addresses.
 *
 * Resolving names is the resolver's business, not the parser's, and a
 * name sent to DNS costs seconds: numeric hosts (every form, scope ids
 * included) go to the C library with AI_NUMERICHOST, "localhost" as the
 * host files say, other names fail as on a host without DNS.  A
 * definition in the program wins over the C library's (and over the
 * sanitizers' interceptor) for every call. */
#ifndef ADDRS_H
#define ADDRS_H

#include <dlfcn.h>
#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>

#include "addr.h"

typedef int (*resolve_fn)(const char *, const char *,
    const struct addrinfo *, struct addrinfo **);

int
getaddrinfo(const char *restrict node, const char *restrict service,
    const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
	static resolve_fn real;
	struct addrinfo h;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (real == NULL)
		return EAI_SYSTEM;
	memset(&h, 0, sizeof(h));
	if (hints != NULL)
		h = *hints;
	if (node == NULL || strcasecmp(node, "localhost") != 0)
		h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

/* Same kind, same socket address: parse() zeroes what it does not set. */
static inline int
fuzz_addr_equal(const struct addr *a, const struct addr *b)
{
	return a->kind == b->kind && a->any == b->any && a->len == b->len &&
	    memcmp(&a->ss, &b->ss, sizeof(a->ss)) == 0;
}

#endif
