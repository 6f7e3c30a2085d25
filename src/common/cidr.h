/* cidr.h: IPv4 and IPv6 address ranges (10.0.0.0/8, 2001:db8::/32; a
 * bare address is /32 or /128), parsed, printed and matched, and the one
 * form an address takes before it is matched, counted or logged: an IPv4
 * client that a dual-stack socket shows as ::ffff:a.b.c.d is IPv4. */
#ifndef CIDR_H
#define CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* An address without a port, in network byte order. */
struct cidr_ip {
	uint8_t		v6;		/* 0: IPv4 in b[0..3], 1: IPv6 */
	uint8_t		b[16];
};

/* A range: ip with its host bits zero, and the prefix length. */
struct cidr {
	struct cidr_ip	ip;
	uint8_t		bits;
};

#define CIDR_LIST_MAX	256	/* ranges per list (one config key) */
#define CIDR_STRLEN	64	/* "ffff:...:ffff/128" with room */

struct cidr_list {
	int		n;
	struct cidr	v[CIDR_LIST_MAX];
};

/*
 * Parse "ADDR" or "ADDR/BITS" into c.  A range written as IPv4-mapped IPv6
 * (::ffff:10.0.0.0/104) is taken as the IPv4 range it means.  Host bits
 * set below the prefix are an error (they would be silently ignored
 * otherwise).  Returns 0, or -1 with the reason in err.
 */
int	cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen);

/* c as cidr_parse() reads it; a whole address prints without its /32 or
 * /128. */
char	*cidr_format(const struct cidr *c, char *buf, size_t len);

/* Add the range s to l.  Returns 0, or -1 with the reason in err (a bad
 * range, or a full list). */
int	cidr_list_add(struct cidr_list *l, const char *s, char *err,
	    size_t errlen);

int	cidr_match(const struct cidr *c, const struct cidr_ip *ip);
int	cidr_list_match(const struct cidr_list *l, const struct cidr_ip *ip);

/* The address of an AF_INET or AF_INET6 socket address, IPv4-mapped ones
 * as IPv4.  Returns 0, or -1 for any other family (unix). */
int	cidr_ip_of(const struct sockaddr *sa, socklen_t len, struct cidr_ip *ip);

/* Rewrite an IPv4-mapped AF_INET6 socket address in place as the AF_INET
 * one it stands for (port kept), so that logs show 10.0.0.1:5555, not
 * [::ffff:10.0.0.1]:5555.  Anything else is left as it is. */
void	cidr_unmap(struct sockaddr_storage *ss, socklen_t *len);

/* ip with port as a socket address (AF_INET or AF_INET6); returns its
 * length. */
socklen_t cidr_sockaddr(const struct cidr_ip *ip, int port,
	    struct sockaddr_storage *ss);

/* How many addresses c holds, capped at 2^63 (an IPv6 range holds more
 * than any use of this needs). */
uint64_t cidr_size(const struct cidr *c);

/* The i-th address of c, counted from its first, i taken modulo
 * cidr_size(c). */
void	cidr_nth(const struct cidr *c, uint64_t i, struct cidr_ip *ip);

/* A client, as it is counted and limited: an IPv4 address, or the /64
 * of an IPv6 one (the least a site is given).  The family, then 4 or 8
 * address bytes, the rest zero. */
#define CIDR_CLIENT_KEY	9

static inline void
cidr_client_key(const struct cidr_ip *ip, uint8_t key[CIDR_CLIENT_KEY])
{
	memset(key, 0, CIDR_CLIENT_KEY);
	key[0] = ip->v6;
	memcpy(key + 1, ip->b, ip->v6 ? 8 : 4);
}

/* key's hash (FNV-1a) from seed: a seed an attacker cannot know keeps
 * him from filling one chain.  Inline: a rate limit hashes every
 * datagram. */
static inline uint64_t
cidr_client_hash(const uint8_t key[CIDR_CLIENT_KEY], uint64_t seed)
{
	uint64_t h = seed;

	for (int i = 0; i < CIDR_CLIENT_KEY; i++) {
		h ^= key[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h ^ h >> 29;
}

#endif
