/* check_addr.c: the ADDR syntax, parsed, refused and printed back. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "check_main.h"

#define ERRLEN	256
#define V4_OR_V6	-1	/* a resolved name may come back as either */

struct good_case {
	const char	*in;
	const char	*out;	/* NULL: depends on the resolver */
	int		 family;
	enum addr_kind	 kind;
	int		 any;
	int		 port;
};

static const struct good_case good[] = {
	{ "127.0.0.1:8080", "127.0.0.1:8080", AF_INET, ADDR_TCP, 0, 8080 },
	{ "localhost:80", NULL, V4_OR_V6, ADDR_TCP, 0, 80 },
	{ "[::1]:8080", "[::1]:8080", AF_INET6, ADDR_TCP, 0, 8080 },
	{ "*:9", "*:9", AF_INET6, ADDR_TCP, 1, 9 },
	{ "unix:/tmp/x.sock", "unix:/tmp/x.sock", AF_UNIX, ADDR_UNIX, 0, 0 },
	{ "udp:127.0.0.1:53", "udp:127.0.0.1:53", AF_INET, ADDR_UDP, 0, 53 },
	{ "udp:[::1]:53", "udp:[::1]:53", AF_INET6, ADDR_UDP, 0, 53 },
	{ "udp:*:9", "udp:*:9", AF_INET6, ADDR_UDP, 1, 9 },
	{ "127.0.0.1:0", "127.0.0.1:0", AF_INET, ADDR_TCP, 0, 0 },
	{ "127.0.0.1:65535", "127.0.0.1:65535", AF_INET, ADDR_TCP, 0, 65535 },
	{ "[::1]:0", "[::1]:0", AF_INET6, ADDR_TCP, 0, 0 },
	{ "*:65535", "*:65535", AF_INET6, ADDR_TCP, 1, 65535 },
	{ "0.0.0.0:80", "0.0.0.0:80", AF_INET, ADDR_TCP, 0, 80 },
	{ "[2001:db8::1]:443", "[2001:db8::1]:443", AF_INET6, ADDR_TCP, 0,
	    443 },
	/* A scope prints by the interface's name, or by its index where no
	 * interface has it: either way it parses back. */
	{ "[fe80::1%lo]:8080", "[fe80::1%lo]:8080", AF_INET6, ADDR_TCP, 0,
	    8080 },
	{ "udp:[fe80::2%lo]:53", "udp:[fe80::2%lo]:53", AF_INET6, ADDR_UDP, 0,
	    53 },
	{ "[fe80::3%4000000000]:1", "[fe80::3%4000000000]:1", AF_INET6,
	    ADDR_TCP, 0, 1 },
	/* The C library takes a name only for link-local scopes (unicast
	 * and multicast), a number for any. */
	{ "[ff02::1%lo]:9", "[ff02::1%lo]:9", AF_INET6, ADDR_TCP, 0, 9 },
	{ "udp:[::%1]:3", "udp:[::%1]:3", AF_INET6, ADDR_UDP, 0, 3 },
	{ "[2001:db8::1%1]:80", "[2001:db8::1%1]:80", AF_INET6, ADDR_TCP, 0,
	    80 },
};

struct bad_case {
	const char	*in;
	const char	*why;	/* must appear in the error */
};

static const struct bad_case bad[] = {
	{ "127.0.0.1", "expected HOST:PORT" },		/* missing port */
	{ "127.0.0.1:", "invalid port ''" },
	{ "127.0.0.1:65536", "invalid port '65536'" },
	{ "127.0.0.1:8o", "invalid port '8o'" },
	{ "127.0.0.1:-1", "invalid port '-1'" },
	{ "127.0.0.1:+80", "invalid port '+80'" },
	{ "127.0.0.1:000080", "invalid port '000080'" },
	{ ":80", "missing host" },
	{ "[]:80", "missing host" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:80",
	  "host name too long" },
	{ "::1:80", "write IPv6 addresses as [IPV6]:PORT" },
	{ "[::1]80", "expected [IPV6]:PORT" },
	{ "[::1", "expected [IPV6]:PORT" },
	{ "[::1]:", "invalid port ''" },
	{ "[127.0.0.1]:80", "brackets are for IPv6" },
	{ "unix:", "unix: needs a path" },
	{ "", "invalid address ''" },
	{ "udp:", "invalid address 'udp:'" },
	{ "udp:unix:/x", "invalid port '/x' in 'udp:unix:/x'" },
	{ "udp:53", "expected HOST:PORT" },
};

#define NGOOD	((int)(sizeof(good) / sizeof(good[0])))
#define NBAD	((int)(sizeof(bad) / sizeof(bad[0])))

static void
parse_ok(const char *in, struct addr *a)
{
	char err[ERRLEN] = "";

	ck_assert_msg(addr_parse(in, a, err, sizeof(err)) == 0,
	    "addr_parse('%s'): expected success, got -1: %s", in, err);
}

static void
assert_family(const struct good_case *c, const struct addr *a)
{
	int fam = addr_family(a);

	if (c->family == V4_OR_V6)
		ck_assert_msg(fam == AF_INET || fam == AF_INET6, "'%s': "
		    "expected AF_INET or AF_INET6, got family %d", c->in, fam);
	else
		ck_assert_msg(fam == c->family, "'%s': expected family %d, "
		    "got %d", c->in, c->family, fam);
}

static void
assert_formats(const struct good_case *c, const struct addr *a)
{
	char buf[ADDR_STRLEN], want[ADDR_STRLEN];

	addr_format(a, buf, sizeof(buf));
	if (c->out != NULL) {
		ck_assert_msg(strcmp(buf, c->out) == 0, "format('%s'): "
		    "expected '%s', got '%s'", c->in, c->out, buf);
		return;
	}
	/* localhost: whichever address came first, printed literally. */
	snprintf(want, sizeof(want), addr_family(a) == AF_INET ?
	    "127.0.0.1:%d" : "[::1]:%d", c->port);
	ck_assert_msg(strcmp(buf, want) == 0, "format('%s'): expected '%s', "
	    "got '%s'", c->in, want, buf);
}

/* Parsing what addr_format printed gives the same address back. */
static void
assert_round_trip(const struct addr *a)
{
	char buf[ADDR_STRLEN], again[ADDR_STRLEN];
	struct addr b;

	addr_format(a, buf, sizeof(buf));
	parse_ok(buf, &b);
	addr_format(&b, again, sizeof(again));
	ck_assert_msg(strcmp(buf, again) == 0, "round trip: '%s' became '%s'",
	    buf, again);
	ck_assert_msg(a->kind == b.kind && a->any == b.any && a->len == b.len &&
	    memcmp(&a->ss, &b.ss, a->len) == 0, "round trip of '%s': the "
	    "reparsed socket address differs", buf);
}

/* Loop: _i indexes good[]. */
START_TEST(test_parse_good)
{
	const struct good_case *c = &good[_i];
	int want_type = c->kind == ADDR_UDP ? SOCK_DGRAM : SOCK_STREAM;
	struct addr a;

	parse_ok(c->in, &a);
	ck_assert_msg(a.kind == c->kind, "'%s': expected kind %d, got %d",
	    c->in, c->kind, a.kind);
	ck_assert_msg(a.any == c->any, "'%s': expected any=%d, got %d",
	    c->in, c->any, a.any);
	ck_assert_msg(addr_port(&a) == c->port, "'%s': expected port %d, "
	    "got %d", c->in, c->port, addr_port(&a));
	ck_assert_msg(addr_socktype(&a) == want_type, "'%s': expected "
	    "socket type %d, got %d", c->in, want_type, addr_socktype(&a));
	assert_family(c, &a);
	assert_formats(c, &a);
	assert_round_trip(&a);
}
END_TEST

/* Loop: _i indexes bad[]. */
START_TEST(test_parse_bad)
{
	const struct bad_case *c = &bad[_i];
	char err[ERRLEN] = "";
	struct addr a;
	int rc;

	rc = addr_parse(c->in, &a, err, sizeof(err));
	ck_assert_msg(rc == -1, "addr_parse('%s'): expected -1, got %d",
	    c->in, rc);
	ck_assert_msg(strstr(err, c->why) != NULL, "addr_parse('%s'): "
	    "expected an error containing \"%s\", got \"%s\"", c->in, c->why,
	    err);
}
END_TEST

/* A .invalid name never resolves (RFC 6761); no network is needed. */
START_TEST(test_parse_unresolvable)
{
	char err[ERRLEN] = "";
	struct addr a;
	int rc;

	rc = addr_parse("nohost.invalid:80", &a, err, sizeof(err));
	ck_assert_msg(rc == -1, "nohost.invalid:80: expected -1, got %d", rc);
	ck_assert_msg(strstr(err, "nohost.invalid:80: cannot resolve host "
	    "'nohost.invalid'") != NULL, "nohost.invalid:80: expected "
	    "\"nohost.invalid:80: cannot resolve host 'nohost.invalid'\", "
	    "got \"%s\"", err);
}
END_TEST

/* Where to connect: *:PORT means nothing, and the error's list of forms
 * leaves it out; every other form parses as for listening. */
START_TEST(test_parse_peer)
{
	char err[ERRLEN] = "";
	struct addr a;

	ck_assert_int_eq(addr_parse_peer("*:80", &a, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "'*:80' is an address to listen on") != NULL,
	    "*:80 as a peer: got \"%s\"", err);
	ck_assert_int_eq(addr_parse_peer("foo", &a, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "expected HOST:PORT") != NULL &&
	    strstr(err, "*:PORT") == NULL,
	    "foo as a peer: expected the forms without *:PORT, got \"%s\"",
	    err);
	ck_assert_int_eq(addr_parse("foo", &a, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "*:PORT") != NULL,
	    "foo to listen on: expected *:PORT among the forms, got \"%s\"",
	    err);
	ck_assert_int_eq(addr_parse_peer("udp:127.0.0.1:53", &a, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(a.kind, ADDR_UDP);
	ck_assert_int_eq(addr_parse_peer("unix:/tmp/x.sock", &a, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(a.kind, ADDR_UNIX);
}
END_TEST

/* Loop: _i is 0 for the longest path that fits, 1 for one byte more. */
START_TEST(test_unix_path_length)
{
	struct sockaddr_un sun;
	char in[5 + sizeof(sun.sun_path) + 1], err[ERRLEN] = "", buf[256];
	size_t plen = sizeof(sun.sun_path) - 1 + (size_t)_i;
	struct addr a;
	int rc;

	memcpy(in, "unix:/tmp/", 10);
	memset(in + 10, 'p', plen - 5);
	in[5 + plen] = '\0';
	rc = addr_parse(in, &a, err, sizeof(err));
	if (_i == 1) {
		ck_assert_msg(rc == -1 && strstr(err, "unix socket path too "
		    "long") != NULL, "%zu-byte path: expected \"unix socket "
		    "path too long\", got rc %d, \"%s\"", plen, rc, err);
		return;
	}
	ck_assert_msg(rc == 0, "%zu-byte path: expected success, got \"%s\"",
	    plen, err);
	addr_format(&a, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, in) == 0, "expected '%s', got '%s'", in, buf);
}
END_TEST

struct sa_case {
	int		 family;
	enum addr_kind	 kind;
	const char	*ip;
	int		 port;
	const char	*out;
};

static const struct sa_case sa_cases[] = {
	{ AF_INET, ADDR_TCP, "10.1.2.3", 4567, "10.1.2.3:4567" },
	{ AF_INET, ADDR_UDP, "10.1.2.3", 53, "udp:10.1.2.3:53" },
	{ AF_INET, ADDR_TCP, "255.255.255.255", 65535,
	    "255.255.255.255:65535" },
	{ AF_INET6, ADDR_TCP, "2001:db8::1", 443, "[2001:db8::1]:443" },
	{ AF_INET6, ADDR_UDP, "::1", 0, "udp:[::1]:0" },
	{ AF_INET6, ADDR_TCP, "::ffff:10.0.0.1", 80, "[::ffff:10.0.0.1]:80" },
};

static socklen_t
make_sockaddr(const struct sa_case *c, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (c->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)c->port);
		ck_assert_int_eq(inet_pton(AF_INET, c->ip, &sin->sin_addr), 1);
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)c->port);
	ck_assert_int_eq(inet_pton(AF_INET6, c->ip, &sin6->sin6_addr), 1);
	return sizeof(*sin6);
}

/* Loop: _i indexes sa_cases[]. */
START_TEST(test_from_sockaddr)
{
	const struct sa_case *c = &sa_cases[_i];
	struct sockaddr_storage ss;
	socklen_t len = make_sockaddr(c, &ss);
	char buf[ADDR_STRLEN];
	struct addr a;

	addr_from_sockaddr(&a, c->kind, (struct sockaddr *)&ss, len);
	addr_format(&a, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, c->out) == 0, "from_sockaddr(%s port %d): "
	    "expected '%s', got '%s'", c->ip, c->port, c->out, buf);
	ck_assert_int_eq(addr_port(&a), c->port);
	ck_assert_int_eq(addr_family(&a), c->family);
	assert_round_trip(&a);
}
END_TEST

START_TEST(test_from_sockaddr_unix)
{
	struct sockaddr_un sun;
	char buf[ADDR_STRLEN];
	struct addr a;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, "/tmp/y.sock");
	addr_from_sockaddr(&a, ADDR_UNIX, (struct sockaddr *)&sun,
	    (socklen_t)sizeof(sun));
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), "unix:/tmp/y.sock");
	ck_assert_int_eq(addr_port(&a), 0);
	/* What getpeername() says of an unbound client socket. */
	addr_from_sockaddr(&a, ADDR_UNIX, (struct sockaddr *)&sun,
	    (socklen_t)sizeof(sa_family_t));
	ck_assert_str_eq(addr_format(&a, buf, sizeof(buf)), "unix:(unnamed)");
}
END_TEST

/* What the daemon does to print "listening on": bind port 0, ask back. */
START_TEST(test_from_getsockname)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[ADDR_STRLEN], want[ADDR_STRLEN];
	struct addr a, b;
	int fd;

	parse_ok("127.0.0.1:0", &a);
	fd = socket(addr_family(&a), addr_socktype(&a), 0);
	ck_assert_msg(fd >= 0, "socket failed");
	ck_assert_msg(bind(fd, (struct sockaddr *)&a.ss, a.len) == 0,
	    "bind 127.0.0.1:0 failed");
	ck_assert(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
	close(fd);
	addr_from_sockaddr(&b, ADDR_TCP, (struct sockaddr *)&ss, len);
	ck_assert_msg(addr_port(&b) > 0, "expected a port, got %d",
	    addr_port(&b));
	snprintf(want, sizeof(want), "127.0.0.1:%d", addr_port(&b));
	ck_assert_str_eq(addr_format(&b, buf, sizeof(buf)), want);
	assert_round_trip(&b);
}
END_TEST

static const char *const port_addrs[] = { "127.0.0.1:1", "[::1]:1", "*:1",
    "udp:127.0.0.1:1", "udp:[::1]:1" };
static const int ports[] = { 0, 1, 80, 8080, 65535 };

/* Loop: _i indexes port_addrs[]. */
START_TEST(test_set_port)
{
	char buf[ADDR_STRLEN], suffix[16];
	struct addr a;

	parse_ok(port_addrs[_i], &a);
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		addr_set_port(&a, ports[i]);
		ck_assert_msg(addr_port(&a) == ports[i], "%s: set port %d, "
		    "got %d", port_addrs[_i], ports[i], addr_port(&a));
		addr_format(&a, buf, sizeof(buf));
		snprintf(suffix, sizeof(suffix), ":%d", ports[i]);
		ck_assert_msg(strlen(buf) > strlen(suffix) &&
		    strcmp(buf + strlen(buf) - strlen(suffix), suffix) == 0,
		    "%s with port %d: expected '...%s', got '%s'",
		    port_addrs[_i], ports[i], suffix, buf);
	}
}
END_TEST

START_TEST(test_set_port_unix)
{
	struct addr a, before;

	parse_ok("unix:/tmp/x.sock", &a);
	before = a;
	addr_set_port(&a, 80);
	ck_assert_int_eq(addr_port(&a), 0);
	ck_assert_msg(memcmp(&a, &before, sizeof(a)) == 0,
	    "addr_set_port changed a unix address");
}
END_TEST

START_TEST(test_format_truncates)
{
	char buf[5];
	struct addr a;

	parse_ok("127.0.0.1:8080", &a);
	memset(buf, 'x', sizeof(buf));
	addr_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.");
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_good, 0, NGOOD);
	tcase_add_loop_test(tc, test_parse_bad, 0, NBAD);
	tcase_add_loop_test(tc, test_unix_path_length, 0, 2);
	tcase_add_test(tc, test_parse_peer);
	suite_add_tcase(s, tc);

	/* Its own case, with room for a slow resolver. */
	tc = tcase_create("resolve");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse_unresolvable);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_from_sockaddr, 0,
	    (int)(sizeof(sa_cases) / sizeof(sa_cases[0])));
	tcase_add_test(tc, test_from_sockaddr_unix);
	tcase_add_test(tc, test_from_getsockname);
	tcase_add_test(tc, test_format_truncates);
	suite_add_tcase(s, tc);

	tc = tcase_create("port");
	tcase_add_loop_test(tc, test_set_port, 0,
	    (int)(sizeof(port_addrs) / sizeof(port_addrs[0])));
	tcase_add_test(tc, test_set_port_unix);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(addr_suite());
}
