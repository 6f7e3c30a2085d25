/* cidr.c: address ranges parsed, printed and matched; addresses brought
 * to one form (IPv4-mapped IPv6 as IPv4) before anything looks at them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"

static const uint8_t cidr_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xff };

/* Zero every bit of ip below the first bits; returns whether any was set. */
static int
cidr_mask(struct cidr_ip *ip, int bits)
{
	int nbytes = ip->v6 ? 16 : 4, had = 0;

	for (int i = 0; i < nbytes; i++) {
		int keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ?
		    bits - 8 * i : 0;
		uint8_t m = (uint8_t)(keep == 0 ? 0 : 0xff << (8 - keep));

		had |= (ip->b[i] & (uint8_t)~m) != 0;
		ip->b[i] &= m;
	}
	return had;
}

/* "0".."max", decimal, no sign, no leading zero. */
static int
cidr_bits(const char *s, int max)
{
	int v = 0;

	if (*s == '\0' || strlen(s) > 3 || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= max ? v : -1;
}

int
cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen)
{
	char text[CIDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int bits, max;

	memset(c, 0, sizeof(*c));
	if (alen == 0 || alen >= sizeof(text)) {
		snprintf(err, errlen, "invalid address range '%s' (expected an "
		    "IPv4 or IPv6 address, optionally /BITS: 10.0.0.0/8, "
		    "2001:db8::/32)", s);
		return -1;
	}
	memcpy(text, s, alen);
	text[alen] = '\0';
	if (inet_pton(AF_INET, text, c->ip.b) == 1) {
		max = 32;
	} else if (inet_pton(AF_INET6, text, c->ip.b) == 1) {
		c->ip.v6 = 1;
		max = 128;
	} else {
		snprintf(err, errlen, "invalid address '%s' in '%s' (expected "
		    "an IPv4 or IPv6 address: 10.0.0.0/8, 2001:db8::/32)", text,
		    s);
		return -1;
	}
	bits = max;
	if (slash != NULL && (bits = cidr_bits(slash + 1, max)) < 0) {
		snprintf(err, errlen, "invalid prefix length '%s' in '%s' "
		    "(0..%d)", slash + 1, s, max);
		return -1;
	}
	if (cidr_mask(&c->ip, bits)) {
		char want[CIDR_STRLEN];
		c->bits = (uint8_t)bits;
		snprintf(err, errlen, "'%s' has bits set past its /%d prefix "
		    "(the range is %s)", s, bits,
		    cidr_format(c, want, sizeof(want)));
		return -1;
	}
	/* Addresses are matched in their IPv4 form: so must this be. */
	if (c->ip.v6 && bits >= 96 && memcmp(c->ip.b, cidr_v4mapped, 12) == 0) {
		memmove(c->ip.b, c->ip.b + 12, 4);
		memset(c->ip.b + 4, 0, 12);
		c->ip.v6 = 0;
		bits -= 96;
	}
	c->bits = (uint8_t)bits;
	return 0;
}

char *
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->ip.v6 ? AF_INET6 : AF_INET, c->ip.b, ip, sizeof(ip));
	if (c->bits == (c->ip.v6 ? 128 : 32))
		snprintf(buf, len, "%s", ip);
	else
		snprintf(buf, len, "%s/%d", ip, c->bits);
	return buf;
}

int
cidr_list_add(struct cidr_list *l, const char *s, char *err, size_t errlen)
{
	if (l->n == CIDR_LIST_MAX) {
		snprintf(err, errlen, "too many address ranges (at most %d)",
		    CIDR_LIST_MAX);
		return -1;
	}
	if (cidr_parse(s, &l->v[l->n], err, errlen) != 0)
		return -1;
	l->n++;
	return 0;
}

int
cidr_match(const struct cidr *c, const struct cidr_ip *ip)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (c->ip.v6 != ip->v6 || memcmp(c->ip.b, ip->b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((c->ip.b[full] ^ ip->b[full]) &
	    (uint8_t)(0xff << (8 - rest))) == 0;
}

int
cidr_list_match(const struct cidr_list *l, const struct cidr_ip *ip)
{
	for (int i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], ip))
			return 1;
	return 0;
}

int
cidr_ip_of(const struct sockaddr *sa, socklen_t len, struct cidr_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(ip->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->
		    sin6_addr.s6_addr;
		if (memcmp(b, cidr_v4mapped, 12) == 0) {
			memcpy(ip->b, b + 12, 4);
		} else {
			memcpy(ip->b, b, 16);
			ip->v6 = 1;
		}
		return 0;
	}
	return -1;
}

void
cidr_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	struct sockaddr_in sin;

	if (ss->ss_family != AF_INET6 || *len < sizeof(*sin6) ||
	    memcmp(sin6->sin6_addr.s6_addr, cidr_v4mapped, 12) != 0)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = sin6->sin6_port;
	memcpy(&sin.sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin, sizeof(sin));
	*len = sizeof(sin);
}

socklen_t
cidr_sockaddr(const struct cidr_ip *ip, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (ip->v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, ip->b, 16);
		return sizeof(*sin6);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	memcpy(&sin->sin_addr, ip->b, 4);
	return sizeof(*sin);
}

uint64_t
cidr_size(const struct cidr *c)
{
	int host = (c->ip.v6 ? 128 : 32) - c->bits;

	return host >= 63 ? UINT64_C(1) << 63 : UINT64_C(1) << host;
}

void
cidr_nth(const struct cidr *c, uint64_t i, struct cidr_ip *ip)
{
	int last = c->ip.v6 ? 15 : 3;

	*ip = c->ip;
	i %= cidr_size(c);
	/* Add i to the address, big-endian; the host bits are zero, so the
	 * sum stays within the range. */
	for (int k = last; k >= 0 && i != 0; k--) {
		unsigned sum = ip->b[k] + (unsigned)(i & 0xff);
		ip->b[k] = (uint8_t)sum;
		i = (i >> 8) + (sum >> 8);
	}
}
