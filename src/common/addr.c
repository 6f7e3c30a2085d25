/* addr.c: ADDR syntax <-> sockaddr, in both directions. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "cidr.h"

static int
parse_port(const char *s, int *port)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int
parse_unix(const char *path, struct addr *a, char *err, size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;

	if (*path == '\0') {
		snprintf(err, errlen, "unix: needs a path (unix:/run/upcased.sock)");
		return -1;
	}
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "unix socket path too long (%zu bytes, "
		    "at most %zu)", strlen(path), sizeof(sun->sun_path) - 1);
		return -1;
	}
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path) + 1);
	return 0;
}

static int
resolve(const char *whole, const char *host, int port, struct addr *a,
    int numeric, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = a->kind == ADDR_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = numeric ? AI_NUMERICHOST : 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot resolve host '%s': %s", whole,
		    host, gai_strerror(rc));
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	addr_set_port(a, port);
	return 0;
}

/* peer: an address to connect to, where *:PORT means nothing. */
static int
parse(const char *whole, struct addr *a, int peer, char *err, size_t errlen)
{
	char host[256];		/* a DNS name is at most 253 bytes */
	const char *colon, *hs, *s = whole;
	size_t hlen;
	int port;

	memset(a, 0, sizeof(*a));
	a->kind = ADDR_TCP;
	if (strncmp(s, "unix:", 5) == 0) {
		a->kind = ADDR_UNIX;
		return parse_unix(s + 5, a, err, errlen);
	}
	if (strncmp(s, "udp:", 4) == 0) {
		a->kind = ADDR_UDP;
		s += 4;
	}

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "invalid address '%s' "
			    "(expected [IPV6]:PORT)", whole);
			return -1;
		}
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "invalid address '%s' (expected "
			    "HOST:PORT, [IPV6]:PORT, %sunix:PATH or "
			    "udp:HOST:PORT)", whole, peer ? "" : "*:PORT, ");
			return -1;
		}
		hs = s;
		hlen = (size_t)(colon - s);
		if (memchr(hs, ':', hlen) != NULL) {
			snprintf(err, errlen, "invalid address '%s' "
			    "(write IPv6 addresses as [IPV6]:PORT)", whole);
			return -1;
		}
	}
	if (parse_port(colon + 1, &port) != 0) {
		snprintf(err, errlen, "invalid port '%s' in '%s' "
		    "(0 to 65535)", colon + 1, whole);
		return -1;
	}
	if (hlen == 0) {
		snprintf(err, errlen, "invalid address '%s' (missing host)",
		    whole);
		return -1;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "host name too long in '%s' (at most %zu "
		    "bytes)", whole, sizeof(host) - 1);
		return -1;
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';

	if (strcmp(host, "*") == 0 && *s != '[') {
		struct sockaddr_in6 *sin6;

		if (peer) {
			snprintf(err, errlen, "'%s' is an address to listen on: "
			    "name the host to connect to", whole);
			return -1;
		}
		sin6 = (struct sockaddr_in6 *)&a->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
		a->any = 1;
		return 0;
	}
	if (resolve(whole, host, port, a, *s == '[', err, errlen) != 0)
		return -1;
	if (*s == '[' && a->ss.ss_family != AF_INET6) {
		snprintf(err, errlen, "invalid address '%s' "
		    "(brackets are for IPv6)", whole);
		return -1;
	}
	return 0;
}

int
addr_parse(const char *s, struct addr *a, char *err, size_t errlen)
{
	return parse(s, a, 0, err, errlen);
}

int
addr_parse_peer(const char *s, struct addr *a, char *err, size_t errlen)
{
	return parse(s, a, 1, err, errlen);
}

void
addr_from_sockaddr(struct addr *a, enum addr_kind kind,
    const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	if (len > sizeof(a->ss))
		len = sizeof(a->ss);
	memcpy(&a->ss, sa, len);
	a->len = len;
}

/* A link-local address means nothing without its interface: "%eth0",
 * or "%3" where the index names no interface now; "" for no scope.  The
 * C library reads a scope by name only for link-local addresses (and
 * node- and link-local multicast), by number for any: print what
 * addr_parse reads back. */
static const char *
format_scope(const struct sockaddr_in6 *sin6, char *buf, size_t len)
{
	const struct in6_addr *ip = &sin6->sin6_addr;
	char name[IF_NAMESIZE];

	if (sin6->sin6_scope_id == 0)
		return "";
	if ((IN6_IS_ADDR_LINKLOCAL(ip) || IN6_IS_ADDR_MC_NODELOCAL(ip) ||
	    IN6_IS_ADDR_MC_LINKLOCAL(ip)) &&
	    if_indextoname(sin6->sin6_scope_id, name) != NULL)
		snprintf(buf, len, "%%%s", name);
	else
		snprintf(buf, len, "%%%u", (unsigned)sin6->sin6_scope_id);
	return buf;
}

char *
addr_format(const struct addr *a, char *buf, size_t len)
{
	const char *prefix = a->kind == ADDR_UDP ? "udp:" : "";
	char ip[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 12];

	switch (a->ss.ss_family) {
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
		size_t plen = a->len > offsetof(struct sockaddr_un, sun_path) ?
		    a->len - offsetof(struct sockaddr_un, sun_path) : 0;
		/* An unnamed peer (a client socket) has no path. */
		if (plen == 0 || sun->sun_path[0] == '\0')
			snprintf(buf, len, "unix:(unnamed)");
		else
			snprintf(buf, len, "unix:%.*s", (int)strnlen(sun->sun_path,
			    plen), sun->sun_path);
		break;
	}
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
		if (a->any) {
			snprintf(buf, len, "%s*:%d", prefix, ntohs(sin->sin_port));
			break;
		}
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s%s:%d", prefix, ip, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
		if (a->any) {
			snprintf(buf, len, "%s*:%d", prefix, ntohs(sin6->sin6_port));
			break;
		}
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s[%s%s]:%d", prefix, ip,
		    format_scope(sin6, scope, sizeof(scope)),
		    ntohs(sin6->sin6_port));
		break;
	}
	default:
		snprintf(buf, len, "(unknown address family %d)", a->ss.ss_family);
	}
	return buf;
}

char *
addr_format_peer(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	struct sockaddr_storage ss;
	struct addr a;

	if (salen > sizeof(ss))
		salen = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, salen);
	cidr_unmap(&ss, &salen);
	addr_from_sockaddr(&a, ADDR_TCP, (struct sockaddr *)&ss, salen);
	return addr_format(&a, buf, len);
}

int
addr_socktype(const struct addr *a)
{
	return a->kind == ADDR_UDP ? SOCK_DGRAM : SOCK_STREAM;
}

int
addr_family(const struct addr *a)
{
	return a->ss.ss_family;
}

int
addr_port(const struct addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

void
addr_set_port(struct addr *a, int port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}
