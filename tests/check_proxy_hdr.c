/* check_proxy_hdr.c: every header form of proxy-protocol.txt (v1 TCP4,
 * TCP6, UNKNOWN; v2 LOCAL and PROXY over AF_INET, AF_INET6, AF_UNIX, with
 * and without TLVs), fed whole, split at every byte and followed by data;
 * malformed headers refused; built headers parsed back. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "proxy_hdr.h"
#include "check_main.h"

#define ERRLEN	256
#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))
#define SIG	"\r\n\r\n\0\r\nQUIT\n"	/* the v2 signature, 12 bytes */

struct good_case {
	const char	*name;
	const char	*bytes;
	size_t		 len;		/* 0: strlen(bytes) */
	int		 version;
	int		 local;
	const char	*src;		/* "ip port", or a unix path */
	const char	*dst;
};

#define V1(name, s, local, src, dst)	{ name, s, 0, 1, local, src, dst }
#define V2(name, s, local, src, dst)	{ name, s, sizeof(s) - 1, 2, local, src, dst }

static const struct good_case good[] = {
	V1("v1 TCP4", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 0,
	    "192.168.0.1 56324", "192.168.0.11 443"),
	V1("v1 TCP4 longest (56 bytes)",
	    "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 0,
	    "255.255.255.255 65535", "255.255.255.255 65535"),
	V1("v1 TCP4 zeros", "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", 0,
	    "0.0.0.0 0", "10.0.0.1 0"),
	V1("v1 TCP6 longest (104 bytes)", "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 0,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535"),
	V1("v1 TCP6 compressed", "PROXY TCP6 2001:db8::1 ::1 5555 8080\r\n", 0,
	    "2001:db8::1 5555", "::1 8080"),
	V1("v1 TCP6 upper case hex", "PROXY TCP6 2001:DB8::A ::1 1 2\r\n", 0,
	    "2001:db8::a 1", "::1 2"),
	V1("v1 UNKNOWN short (15 bytes)", "PROXY UNKNOWN\r\n", 1, NULL, NULL),
	V1("v1 UNKNOWN longest (107 bytes)", "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 1,
	    NULL, NULL),
	V1("v1 UNKNOWN with anything", "PROXY UNKNOWN whatever : here\r\n", 1,
	    NULL, NULL),
	V2("v2 LOCAL", SIG "\x20\x00\x00\x00", 1, NULL, NULL),
	V2("v2 LOCAL with an address block",
	    SIG "\x20\x11\x00\x0c" "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01"
	    "\x00\x02", 1, NULL, NULL),
	V2("v2 LOCAL ignores its family byte", SIG "\x20\xff\x00\x00", 1,
	    NULL, NULL),
	V2("v2 TCP over IPv4", SIG "\x21\x11\x00\x0c"
	    "\xcb\x00\x71\x07" "\x7f\x00\x00\x01" "\x15\xb3" "\x1f\x90", 0,
	    "203.0.113.7 5555", "127.0.0.1 8080"),
	V2("v2 UDP over IPv4", SIG "\x21\x12\x00\x0c"
	    "\x0a\x00\x00\x01" "\x0a\x00\x00\x02" "\x00\x07" "\x00\x09", 0,
	    "10.0.0.1 7", "10.0.0.2 9"),
	V2("v2 TCP over IPv6", SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x30\x39" "\x00\x50", 0, "2001:db8::1 12345", "::1 80"),
	V2("v2 UDP over IPv6", SIG "\x21\x22\x00\x24"
	    "\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	    "\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03"
	    "\xff\xff" "\x00\x01", 0, "fe80::2 65535", "fe80::3 1"),
	V2("v2 PROXY with AF_UNSPEC", SIG "\x21\x00\x00\x00", 1, NULL, NULL),
	V2("v2 PROXY with an unspecified protocol", SIG "\x21\x10\x00\x0c"
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02", 1, NULL, NULL),
	V2("v2 TCP over IPv4 with TLVs (NOOP, AUTHORITY, CRC32C, empty)",
	    SIG "\x21\x11\x00\x29"
	    "\x01\x02\x03\x04" "\x05\x06\x07\x08" "\x00\x01" "\x00\x02"
	    "\x04\x00\x02" "\x00\x00"
	    "\x02\x00\x0b" "example.com"
	    "\x03\x00\x04" "\x12\x34\x56\x78"
	    "\xe0\x00\x00", 0, "1.2.3.4 1", "5.6.7.8 2"),
};

/* The UNIX forms and the largest header are built, not written out. */
enum { BUILT_UNIX_STREAM, BUILT_UNIX_DGRAM, BUILT_UNIX_FULL_PATH,
	BUILT_LARGEST, BUILT__COUNT };

static size_t
build_case(int which, unsigned char *buf, struct good_case *gc)
{
	size_t len;

	memset(gc, 0, sizeof(*gc));
	memcpy(buf, SIG, 12);
	buf[12] = 0x21;
	gc->version = 2;
	if (which == BUILT_LARGEST) {
		/* 16 + 12 + one TLV filling the rest: exactly 4096 bytes. */
		size_t tlv = PROXY_HDR_MAX - 16 - 12 - 3;
		buf[13] = 0x11;
		buf[14] = (PROXY_HDR_MAX - 16) >> 8;
		buf[15] = (PROXY_HDR_MAX - 16) & 0xff;
		memcpy(buf + 16, "\x0a\x01\x02\x03\x0a\x04\x05\x06\x04\xd2\x16\x2e",
		    12);
		buf[28] = 0x04;
		buf[29] = (unsigned char)(tlv >> 8);
		buf[30] = (unsigned char)tlv;
		memset(buf + 31, 'x', tlv);
		gc->name = "v2 TCP over IPv4, 4096 bytes in all";
		gc->src = "10.1.2.3 1234";
		gc->dst = "10.4.5.6 5678";
		return PROXY_HDR_MAX;
	}
	buf[13] = which == BUILT_UNIX_DGRAM ? 0x32 : 0x31;
	buf[14] = 0;
	buf[15] = 216;
	memset(buf + 16, 0, 216);
	if (which == BUILT_UNIX_FULL_PATH) {
		memset(buf + 16, 'a', 108);
		memset(buf + 16 + 108, 'b', 108);
		gc->name = "v2 UNIX stream, 108-byte paths";
		gc->src = "unix:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
		gc->dst = "unix:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	} else {
		memcpy(buf + 16, "/run/client.sock", 16);
		memcpy(buf + 16 + 108, "/run/upcased.sock", 17);
		gc->name = which == BUILT_UNIX_DGRAM ? "v2 UNIX datagram" :
		    "v2 UNIX stream";
		gc->src = "unix:/run/client.sock";
		gc->dst = "unix:/run/upcased.sock";
	}
	len = 16 + 216;
	return len;
}

/* "ip port" or "unix:path" of a parsed address. */
static const char *
show(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s %u", ip, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s %u", ip, ntohs(s->sin6_port));
	} else if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *s = (const struct sockaddr_un *)ss;
		snprintf(buf, n, "unix:%.*s", (int)(len -
		    offsetof(struct sockaddr_un, sun_path)), s->sun_path);
	} else {
		snprintf(buf, n, "(family %d)", ss->ss_family);
	}
	return buf;
}

/* Every prefix is "more" (once the first byte tells the version, a v2
 * one never invites a read past the end);
 * the whole is "done" after exactly len bytes, also with data after it. */
static void
check_good(const struct good_case *gc, const unsigned char *bytes, size_t len)
{
	static unsigned char buf[PROXY_HDR_MAX + 64];
	struct proxy_hdr h;
	char err[ERRLEN], got[256];
	size_t n;
	enum proxy_status st;

	for (size_t k = 0; k < len; k++) {
		err[0] = '\0';
		st = proxy_parse(bytes, k, &h, &n, err, sizeof(err));
		ck_assert_msg(st == PROXY_MORE, "%s: the first %zu of %zu bytes: "
		    "expected 'more', got %d (%s)", gc->name, k, len, st, err);
		ck_assert_msg(n >= 1, "%s: %zu bytes: 'more' asks for 0",
		    gc->name, k);
		if (gc->version == 2 && k >= PROXY_V2_FIXED)
			ck_assert_msg(k + n == len, "%s: %zu bytes: asks for %zu "
			    "more, the header has %zu", gc->name, k, n, len - k);
		else if (gc->version == 2 && k >= 1)
			ck_assert_msg(k + n <= len, "%s: %zu bytes: asks for %zu "
			    "more, past the header's %zu", gc->name, k, n, len);
	}
	memcpy(buf, bytes, len);
	memcpy(buf + len, "hello, world\r\n\0\xff", 16);
	for (size_t extra = 0; extra <= 16; extra += 16) {
		err[0] = '\0';
		st = proxy_parse(buf, len + extra, &h, &n, err, sizeof(err));
		ck_assert_msg(st == PROXY_DONE, "%s (+%zu bytes of data): "
		    "expected 'done', got %d (%s)", gc->name, extra, st, err);
		ck_assert_msg(n == len, "%s: done after %zu bytes, expected %zu",
		    gc->name, n, len);
		ck_assert_int_eq(h.version, gc->version);
		ck_assert_msg(h.local == gc->local, "%s: local %d, expected %d",
		    gc->name, h.local, gc->local);
		if (gc->local)
			continue;
		show(&h.src, h.srclen, got, sizeof(got));
		ck_assert_msg(strcmp(got, gc->src) == 0, "%s: source '%s', "
		    "expected '%s'", gc->name, got, gc->src);
		show(&h.dst, h.dstlen, got, sizeof(got));
		ck_assert_msg(strcmp(got, gc->dst) == 0, "%s: destination '%s', "
		    "expected '%s'", gc->name, got, gc->dst);
	}
}

START_TEST(test_good)
{
	const struct good_case *gc = &good[_i];
	size_t len = gc->len ? gc->len : strlen(gc->bytes);

	check_good(gc, (const unsigned char *)gc->bytes, len);
}
END_TEST

START_TEST(test_good_built)
{
	static unsigned char buf[PROXY_HDR_MAX];
	struct good_case gc;
	size_t len = build_case(_i, buf, &gc);

	check_good(&gc, buf, len);
}
END_TEST

struct bad_case {
	const char	*name;
	const char	*bytes;
	size_t		 len;
	const char	*why;		/* a substring of the error */
};

#define B1(name, s, why)	{ name, s, 0, why }
#define B2(name, s, why)	{ name, s, sizeof(s) - 1, why }

static const struct bad_case bad[] = {
	B1("HTTP", "GET / HTTP/1.1\r\n\r\n", "not a PROXY protocol header"),
	B1("lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY"),
	B1("no space after PROXY", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "not a PROXY"),
	B1("LF alone", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "LF without its CR"),
	B1("CR alone", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n", "CR not followed"),
	B1("unknown protocol", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
	    "unknown protocol 'TCP5'"),
	B1("UDP4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol"),
	B1("empty line", "PROXY \r\n", "unknown protocol ''"),
	B1("UNKNOWN glued", "PROXY UNKNOWNX\r\n", "unknown protocol"),
	B1("two spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "single spaces"),
	B1("trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	    "single spaces"),
	B1("missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "single spaces"),
	B1("extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	    "single spaces"),
	B1("leading zero in the address", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
	    "invalid TCP4 address"),
	B1("octet over 255", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "invalid"),
	B1("three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "invalid"),
	B1("five octets", "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "invalid"),
	B1("empty octet", "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", "invalid"),
	B1("IPv6 in TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", "invalid"),
	B1("IPv4 in TCP6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "invalid TCP6"),
	B1("leading zero in the port", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
	    "invalid"),
	B1("port over 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
	    "invalid"),
	B1("signed port", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "invalid"),
	B1("no CRLF in 107 bytes", "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n",
	    "no CRLF within 107"),
	B1("control byte", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "0x09"),
	B1("not ASCII", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\xc3\xa9\r\n", "0xc3"),
	B2("v2 signature wrong", "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00",
	    "not a PROXY"),
	B2("v2 signature cut by a NUL", "\r\n\r\n\r\nQUIT\n\x21\x11\x00\x00",
	    "not a PROXY"),
	B2("v2 version 1", SIG "\x11\x11\x00\x00", "version 1, not 2"),
	B2("v2 version 3", SIG "\x31\x11\x00\x00", "version 3, not 2"),
	B2("v2 command 2", SIG "\x22\x11\x00\x0c", "command 0x2"),
	B2("v2 command 0xf", SIG "\x2f\x00\x00\x00", "command 0xf"),
	B2("v2 family 4", SIG "\x21\x41\x00\x00", "address family 0x4"),
	B2("v2 protocol 3", SIG "\x21\x13\x00\x0c", "transport protocol 0x3"),
	B2("v2 over 4 KiB", SIG "\x21\x11\x0f\xf1", "4097-byte header"),
	B2("v2 longest length", SIG "\x20\x00\xff\xff", "65551-byte header"),
	B2("v2 IPv4 block short", SIG "\x21\x11\x00\x0b"
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00",
	    "11 address bytes; AF_INET needs 12"),
	B2("v2 IPv6 block short", SIG "\x21\x21\x00\x0c"
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02",
	    "AF_INET6 needs 36"),
	B2("v2 UNIX block short", SIG "\x21\x31\x00\x0c"
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02",
	    "AF_UNIX needs 216"),
	B2("v2 TLV overruns", SIG "\x21\x11\x00\x10"
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"
	    "\x04\x00\x02\x00", "TLV runs past"),
	B2("v2 TLV header cut", SIG "\x21\x11\x00\x0e"
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"
	    "\x04\x00", "TLV runs past"),
};

/* The whole is refused with the reason; no prefix is "done", and once a
 * prefix is refused every longer one is too (a reader stops at the first
 * refusal, so the verdict must not depend on where the reads split). */
START_TEST(test_bad)
{
	const struct bad_case *bc = &bad[_i];
	size_t len = bc->len ? bc->len : strlen(bc->bytes);
	struct proxy_hdr h;
	char err[ERRLEN];
	size_t n;
	int refused = 0;

	for (size_t k = 0; k <= len; k++) {
		enum proxy_status st;

		err[0] = '\0';
		st = proxy_parse(bc->bytes, k, &h, &n, err, sizeof(err));
		ck_assert_msg(st != PROXY_DONE, "%s: done after %zu of %zu "
		    "bytes", bc->name, k, len);
		ck_assert_msg(!refused || st == PROXY_BAD, "%s: refused, then "
		    "'more' at %zu bytes", bc->name, k);
		refused = st == PROXY_BAD;
	}
	ck_assert_msg(refused, "%s: never refused", bc->name);
	ck_assert_msg(strstr(err, bc->why) != NULL, "%s: expected an error "
	    "with '%s', got '%s'", bc->name, bc->why, err);
}
END_TEST

/* A bad start is refused at once, before any more bytes are read. */
START_TEST(test_refused_early)
{
	struct proxy_hdr h;
	char err[ERRLEN];
	size_t n;

	ck_assert_int_eq(proxy_parse("G", 1, &h, &n, err, sizeof(err)),
	    PROXY_BAD);
	ck_assert_int_eq(proxy_parse("PROXX", 5, &h, &n, err, sizeof(err)),
	    PROXY_BAD);
	ck_assert_int_eq(proxy_parse("\r\n\r\n\0\r\nQUIT\n\x12", 13, &h, &n,
	    err, sizeof(err)), PROXY_BAD);
	ck_assert_int_eq(proxy_parse("\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
	    16, &h, &n, err, sizeof(err)), PROXY_BAD);
	ck_assert_int_eq(proxy_parse("", 0, &h, &n, err, sizeof(err)),
	    PROXY_MORE);
	ck_assert_int_eq(n, PROXY_V1_MAX);
}
END_TEST

static void
set4(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &s->sin_addr);
}

static void
set6(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
}

struct built_case {
	int		 v6src, v6dst, local;
	const char	*src, *dst;		/* as show() prints them */
	const char	*v1;			/* the v1 line expected */
};

static const struct built_case built[] = {
	{ 0, 0, 0, "203.0.113.7 5555", "127.0.0.1 8080",
	    "PROXY TCP4 203.0.113.7 127.0.0.1 5555 8080\r\n" },
	{ 1, 1, 0, "2001:db8::7 5555", "::1 8080",
	    "PROXY TCP6 2001:db8::7 ::1 5555 8080\r\n" },
	{ 1, 0, 0, "2001:db8::7 5555", "::ffff:127.0.0.1 8080",
	    "PROXY TCP6 2001:db8::7 ::ffff:127.0.0.1 5555 8080\r\n" },
	{ 0, 0, 1, NULL, NULL, "PROXY UNKNOWN\r\n" },
};

/* What upcase bench sends parses back to the addresses it was built
 * from, in both versions. */
START_TEST(test_build_roundtrip)
{
	const struct built_case *bc = &built[_i];
	struct sockaddr_storage src, dst;
	unsigned char buf[256];
	char err[ERRLEN], got[256];
	struct proxy_hdr h;
	size_t len, n;

	if (bc->v6src)
		set6(&src, "2001:db8::7", 5555);
	else
		set4(&src, "203.0.113.7", 5555);
	if (bc->v6dst)
		set6(&dst, "::1", 8080);
	else
		set4(&dst, "127.0.0.1", 8080);
	for (int v = 1; v <= 2; v++) {
		const struct sockaddr *s = bc->local ? NULL :
		    (const struct sockaddr *)&src;
		len = v == 1 ? proxy_build_v1(buf, sizeof(buf), s,
		    (const struct sockaddr *)&dst) : proxy_build_v2(buf,
		    sizeof(buf), s, (const struct sockaddr *)&dst);
		ck_assert_msg(len > 0, "v%d: nothing built", v);
		if (v == 1)
			ck_assert_msg(len == strlen(bc->v1) &&
			    memcmp(buf, bc->v1, len) == 0, "v1: built '%.*s', "
			    "expected '%s'", (int)len, buf, bc->v1);
		ck_assert_int_eq(proxy_parse(buf, len, &h, &n, err,
		    sizeof(err)), PROXY_DONE);
		ck_assert_uint_eq(n, len);
		ck_assert_int_eq(h.version, v);
		ck_assert_int_eq(h.local, bc->local);
		if (bc->local)
			continue;
		ck_assert_str_eq(show(&h.src, h.srclen, got, sizeof(got)),
		    bc->src);
		ck_assert_str_eq(show(&h.dst, h.dstlen, got, sizeof(got)),
		    bc->dst);
	}
	/* Too small a buffer builds nothing. */
	ck_assert_uint_eq(proxy_build_v1(buf, 10, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst), 0);
	ck_assert_uint_eq(proxy_build_v2(buf, 20, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst), 0);
}
END_TEST

static Suite *
proxy_hdr_suite(void)
{
	Suite *s = suite_create("proxy_hdr");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_good, 0, NELEM(good));
	tcase_add_loop_test(tc, test_good_built, 0, BUILT__COUNT);
	tcase_add_loop_test(tc, test_bad, 0, NELEM(bad));
	tcase_add_test(tc, test_refused_early);
	tcase_add_loop_test(tc, test_build_roundtrip, 0, NELEM(built));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(proxy_hdr_suite());
}
