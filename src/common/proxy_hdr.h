/* proxy_hdr.h: the PROXY protocol header (haproxy.org's proxy-protocol.txt,
 * versions 1 and 2) that a load balancer puts before a connection's bytes
 * to say whose connection it is: parsed incrementally from the bytes as
 * they arrive, and built (for upcase bench and the tests). */
#ifndef PROXY_HDR_H
#define PROXY_HDR_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PROXY_V2_FIXED	16	/* signature, version/command, family, length */
#define PROXY_HDR_MAX	4096	/* a longer v2 header (TLVs) is refused */

enum proxy_status {
	PROXY_MORE,		/* a valid start: read more */
	PROXY_DONE,		/* a whole header */
	PROXY_BAD,		/* not a valid header */
};

struct proxy_hdr {
	int			version;	/* 1 or 2 */
	/* The balancer speaks for itself (v2 LOCAL, v1 UNKNOWN, or a v2
	 * family or protocol left unspecified): the connection's own
	 * addresses stand, src and dst are not set. */
	int			local;
	struct sockaddr_storage	src, dst;	/* the client, and whom it reached */
	socklen_t		srclen, dstlen;
};

/*
 * Look at buf[0..len), everything the connection has sent so far.
 *   PROXY_MORE: a valid beginning; read up to *n (>= 1) more bytes.  Once
 *       the first byte has told the version, that never reaches past the
 *       end of a v2 header; a v1 line's end is known only once seen, so a
 *       read may take bytes after it, and so may the first read.
 *   PROXY_DONE: *h is filled; the header is the first *n bytes, the rest
 *       is the connection's data.
 *   PROXY_BAD: err says what is wrong.
 * Pure: no allocation, no I/O; the same bytes give the same answer
 * however they were split across reads.
 */
enum proxy_status proxy_parse(const void *buf, size_t len, struct proxy_hdr *h,
	    size_t *n, char *err, size_t errlen);

/* A v1 line / a v2 header for a connection from src to dst (AF_INET or
 * AF_INET6; one of each is sent as IPv6, the IPv4 one mapped).  src NULL:
 * the balancer's own (v1 UNKNOWN, v2 LOCAL).  Returns the header's length,
 * or 0 if it does not fit in len. */
size_t	proxy_build_v1(void *buf, size_t len, const struct sockaddr *src,
	    const struct sockaddr *dst);
size_t	proxy_build_v2(void *buf, size_t len, const struct sockaddr *src,
	    const struct sockaddr *dst);

#endif
