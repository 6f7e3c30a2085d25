/* proxy_hdr.c: the PROXY protocol header, v1 (one line of text) and v2
 * (binary), parsed as it arrives and built, following haproxy.org's
 * proxy-protocol.txt to the byte. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "proxy_hdr.h"

static const unsigned char proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};
static const char proxy_v1_sig[] = "PROXY ";

#define V2_VERSION	0x20
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x0
#define V2_FAM_INET	0x1
#define V2_FAM_INET6	0x2
#define V2_FAM_UNIX	0x3
#define V2_PROTO_UNSPEC	0x0
#define V2_PROTO_STREAM	0x1
#define V2_PROTO_DGRAM	0x2
#define V2_UNIX_PATH	108
#define TLV_HEADER	3		/* type, length (2 bytes) */

static enum proxy_status
proxy_bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum proxy_status
proxy_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return PROXY_BAD;
}

/* v1 IPv4: exactly four decimal numbers 0..255, one dot between, no
 * leading zero (it could be read as octal). */
static int
proxy_v1_ipv4(const char *s, struct in_addr *out)
{
	unsigned char b[4];

	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		int digits = 0;

		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits == 3 || (digits == 1 && v == 0))
				return -1;
			v = v * 10 + (unsigned)(*s - '0');
		}
		if (digits == 0 || v > 255)
			return -1;
		b[part] = (unsigned char)v;
		if (part < 3 && *s++ != '.')
			return -1;
	}
	if (*s != '\0')
		return -1;
	memcpy(out, b, 4);
	return 0;
}

/* v1 port: 0..65535, decimal, no leading zero. */
static int
proxy_v1_port(const char *s, uint16_t *port)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > 65535)
		return -1;
	*port = htons((uint16_t)v);
	return 0;
}

/* One v1 address of family fam (AF_INET or AF_INET6) and its port. */
static int
proxy_v1_sockaddr(int fam, const char *ip, const char *port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	uint16_t p;

	memset(ss, 0, sizeof(*ss));
	if (proxy_v1_port(port, &p) != 0)
		return -1;
	if (fam == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = p;
		*len = sizeof(*sin);
		return proxy_v1_ipv4(ip, &sin->sin_addr);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = p;
	*len = sizeof(*sin6);
	/* Hexadecimal groups and one "::" (inet_pton also takes a dotted
	 * IPv4 tail, as haproxy's receiver does). */
	return inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* The line between "PROXY " and CRLF: "TCP4 SRC DST SPORT DPORT",
 * "TCP6 ..." or "UNKNOWN" with anything after it. */
static enum proxy_status
proxy_v1_line(const char *line, size_t len, struct proxy_hdr *h, char *err,
    size_t errlen)
{
	char text[PROXY_V1_MAX + 1], *f[6];
	int nf = 0, fam;

	memcpy(text, line, len);
	text[len] = '\0';
	if (strncmp(text, "UNKNOWN", 7) == 0 && (text[7] == '\0' ||
	    text[7] == ' ')) {
		h->local = 1;	/* the rest is to be ignored */
		return PROXY_DONE;
	}
	/* Exactly one space between fields: an empty field is an error. */
	for (char *p = text; nf < 6; nf++) {
		f[nf] = p;
		if ((p = strchr(p, ' ')) == NULL) {
			nf++;
			break;
		}
		*p++ = '\0';
	}
	if (strcmp(f[0], "TCP4") == 0)
		fam = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		fam = AF_INET6;
	else
		return proxy_bad(err, errlen, "v1: unknown protocol '%.8s' "
		    "(TCP4, TCP6 or UNKNOWN)", f[0]);
	if (nf != 5)
		return proxy_bad(err, errlen, "v1: expected '%s SRC DST SPORT "
		    "DPORT' with single spaces", f[0]);
	if (proxy_v1_sockaddr(fam, f[1], f[3], &h->src, &h->srclen) != 0 ||
	    proxy_v1_sockaddr(fam, f[2], f[4], &h->dst, &h->dstlen) != 0)
		return proxy_bad(err, errlen, "v1: invalid %s address or port "
		    "in '%s %s %s %s'", f[0], f[1], f[2], f[3], f[4]);
	return PROXY_DONE;
}

static enum proxy_status
proxy_v1(const unsigned char *p, size_t len, struct proxy_hdr *h, size_t *n,
    char *err, size_t errlen)
{
	size_t lim = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	h->version = 1;
	for (size_t i = 0; i < lim; i++) {
		unsigned char c = p[i];

		if (i < sizeof(proxy_v1_sig) - 1) {
			if (c != (unsigned char)proxy_v1_sig[i])
				return proxy_bad(err, errlen, "not a PROXY "
				    "protocol header");
			continue;
		}
		if (c == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				break;		/* its LF would be too far */
			if (i + 1 == len)
				break;		/* its LF may follow */
			if (p[i + 1] != '\n')
				return proxy_bad(err, errlen, "v1: a CR not "
				    "followed by LF");
			*n = i + 2;
			return proxy_v1_line((const char *)p + 6, i - 6, h, err,
			    errlen);
		}
		if (c == '\n')
			return proxy_bad(err, errlen, "v1: a LF without its CR");
		if (c < 0x20 || c > 0x7e)
			return proxy_bad(err, errlen, "v1: byte 0x%02x in the "
			    "line (US-ASCII text only)", c);
	}
	if (len >= PROXY_V1_MAX)
		return proxy_bad(err, errlen, "v1: no CRLF within %d bytes",
		    PROXY_V1_MAX);
	*n = PROXY_V1_MAX - len;
	return PROXY_MORE;
}

/* Skip the TLVs in p[0..len): each must fit whole. */
static int
proxy_v2_tlvs(const unsigned char *p, size_t len)
{
	while (len > 0) {
		size_t vlen;

		if (len < TLV_HEADER)
			return -1;
		vlen = (size_t)p[1] << 8 | p[2];
		if (vlen > len - TLV_HEADER)
			return -1;
		p += TLV_HEADER + vlen;
		len -= TLV_HEADER + vlen;
	}
	return 0;
}

/* The address block of a PROXY command, a[0..alen), of family fam. */
static enum proxy_status
proxy_v2_addrs(unsigned fam, const unsigned char *a, size_t alen,
    struct proxy_hdr *h, char *err, size_t errlen)
{
	static const size_t need[] = { 0, 12, 36, 2 * V2_UNIX_PATH };
	static const char *const names[] = { "", "AF_INET", "AF_INET6",
	    "AF_UNIX" };

	if (alen < need[fam])
		return proxy_bad(err, errlen, "v2: %zu address bytes; %s needs "
		    "%zu", alen, names[fam], need[fam]);
	memset(&h->src, 0, sizeof(h->src));
	memset(&h->dst, 0, sizeof(h->dst));
	if (fam == V2_FAM_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		h->srclen = h->dstlen = sizeof(*s);
	} else if (fam == V2_FAM_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		h->srclen = h->dstlen = sizeof(*s);
	} else {
		struct sockaddr_un *s = (struct sockaddr_un *)&h->src;
		struct sockaddr_un *d = (struct sockaddr_un *)&h->dst;
		size_t sl = strnlen((const char *)a, V2_UNIX_PATH);
		size_t dl = strnlen((const char *)a + V2_UNIX_PATH, V2_UNIX_PATH);
		s->sun_family = d->sun_family = AF_UNIX;
		/* sun_path holds 108 bytes: a path using all of them has no
		 * NUL, and the length says where it ends. */
		memcpy(s->sun_path, a, sl);
		memcpy(d->sun_path, a + V2_UNIX_PATH, dl);
		h->srclen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    sl);
		h->dstlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    dl);
	}
	if (proxy_v2_tlvs(a + need[fam], alen - need[fam]) != 0)
		return proxy_bad(err, errlen, "v2: a TLV runs past the end of "
		    "the header");
	return PROXY_DONE;
}

static enum proxy_status
proxy_v2(const unsigned char *p, size_t len, struct proxy_hdr *h, size_t *n,
    char *err, size_t errlen)
{
	size_t sig = len < sizeof(proxy_v2_sig) ? len : sizeof(proxy_v2_sig);
	unsigned cmd, fam, proto;
	size_t total;

	h->version = 2;
	if (memcmp(p, proxy_v2_sig, sig) != 0)
		return proxy_bad(err, errlen, "not a PROXY protocol header");
	if (len >= 13 && (p[12] & 0xf0) != V2_VERSION)
		return proxy_bad(err, errlen, "v2: version %u, not 2",
		    p[12] >> 4);
	cmd = len >= 13 ? p[12] & 0x0f : V2_CMD_PROXY;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return proxy_bad(err, errlen, "v2: command 0x%x is neither "
		    "LOCAL (0x0) nor PROXY (0x1)", cmd);
	/* LOCAL ignores the family byte, as the specification says. */
	fam = len >= 14 ? p[13] >> 4 : 0;
	proto = len >= 14 ? p[13] & 0x0f : 0;
	if (cmd == V2_CMD_PROXY && fam > V2_FAM_UNIX)
		return proxy_bad(err, errlen, "v2: unknown address family "
		    "0x%x", fam);
	if (cmd == V2_CMD_PROXY && proto > V2_PROTO_DGRAM)
		return proxy_bad(err, errlen, "v2: unknown transport protocol "
		    "0x%x", proto);
	if (len < PROXY_V2_FIXED) {
		*n = PROXY_V2_FIXED - len;
		return PROXY_MORE;
	}
	total = PROXY_V2_FIXED + ((size_t)p[14] << 8 | p[15]);
	if (total > PROXY_HDR_MAX)
		return proxy_bad(err, errlen, "v2: a %zu-byte header is over the "
		    "%d-byte limit", total, PROXY_HDR_MAX);
	if (len < total) {
		*n = total - len;
		return PROXY_MORE;
	}
	*n = total;
	if (cmd == V2_CMD_LOCAL || fam == V2_FAM_UNSPEC ||
	    proto == V2_PROTO_UNSPEC) {
		/* The address block, if any, is to be ignored. */
		h->local = 1;
		return PROXY_DONE;
	}
	return proxy_v2_addrs(fam, p + PROXY_V2_FIXED, total - PROXY_V2_FIXED,
	    h, err, errlen);
}

enum proxy_status
proxy_parse(const void *buf, size_t len, struct proxy_hdr *h, size_t *n,
    char *err, size_t errlen)
{
	const unsigned char *p = buf;

	memset(h, 0, sizeof(*h));
	*n = 0;
	if (len == 0) {
		*n = PROXY_V1_MAX;
		return PROXY_MORE;
	}
	/* v1 starts with 'P', v2 with CR: told apart by the first byte. */
	if (p[0] == proxy_v2_sig[0])
		return proxy_v2(p, len, h, n, err, errlen);
	return proxy_v1(p, len, h, n, err, errlen);
}

/* The IPv6 form of an AF_INET or AF_INET6 address, and its port. */
static void
proxy_as_v6(const struct sockaddr *sa, unsigned char ip[16], uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &sin->sin_addr, 4);
		*port = sin->sin_port;
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(ip, &sin6->sin6_addr, 16);
		*port = sin6->sin6_port;
	}
}

static int
proxy_is_inet(const struct sockaddr *sa)
{
	return sa != NULL && (sa->sa_family == AF_INET ||
	    sa->sa_family == AF_INET6);
}

size_t
proxy_build_v1(void *buf, size_t len, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	unsigned char s6[16], d6[16];
	uint16_t sp, dp;
	int n;

	if (!proxy_is_inet(src) || !proxy_is_inet(dst)) {
		n = snprintf(buf, len, "PROXY UNKNOWN\r\n");
	} else if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)src;
		const struct sockaddr_in *b = (const struct sockaddr_in *)dst;
		inet_ntop(AF_INET, &a->sin_addr, s, sizeof(s));
		inet_ntop(AF_INET, &b->sin_addr, d, sizeof(d));
		n = snprintf(buf, len, "PROXY TCP4 %s %s %u %u\r\n", s, d,
		    ntohs(a->sin_port), ntohs(b->sin_port));
	} else {
		proxy_as_v6(src, s6, &sp);
		proxy_as_v6(dst, d6, &dp);
		inet_ntop(AF_INET6, s6, s, sizeof(s));
		inet_ntop(AF_INET6, d6, d, sizeof(d));
		n = snprintf(buf, len, "PROXY TCP6 %s %s %u %u\r\n", s, d,
		    ntohs(sp), ntohs(dp));
	}
	/* snprintf's NUL is not part of the header, but must fit. */
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

size_t
proxy_build_v2(void *buf, size_t len, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	unsigned char *p = buf;
	size_t alen;

	if (len < PROXY_V2_FIXED)
		return 0;
	memcpy(p, proxy_v2_sig, sizeof(proxy_v2_sig));
	if (!proxy_is_inet(src) || !proxy_is_inet(dst)) {
		p[12] = V2_VERSION | V2_CMD_LOCAL;
		p[13] = V2_FAM_UNSPEC << 4 | V2_PROTO_UNSPEC;
		alen = 0;
	} else if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)src;
		const struct sockaddr_in *b = (const struct sockaddr_in *)dst;
		alen = 12;
		if (len < PROXY_V2_FIXED + alen)
			return 0;
		p[12] = V2_VERSION | V2_CMD_PROXY;
		p[13] = V2_FAM_INET << 4 | V2_PROTO_STREAM;
		memcpy(p + 16, &a->sin_addr, 4);
		memcpy(p + 20, &b->sin_addr, 4);
		memcpy(p + 24, &a->sin_port, 2);
		memcpy(p + 26, &b->sin_port, 2);
	} else {
		uint16_t sp, dp;
		alen = 36;
		if (len < PROXY_V2_FIXED + alen)
			return 0;
		p[12] = V2_VERSION | V2_CMD_PROXY;
		p[13] = V2_FAM_INET6 << 4 | V2_PROTO_STREAM;
		proxy_as_v6(src, p + 16, &sp);
		proxy_as_v6(dst, p + 32, &dp);
		memcpy(p + 48, &sp, 2);
		memcpy(p + 50, &dp, 2);
	}
	p[14] = (unsigned char)(alen >> 8);
	p[15] = (unsigned char)alen;
	return PROXY_V2_FIXED + alen;
}
