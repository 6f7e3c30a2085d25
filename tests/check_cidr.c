/* check_cidr.c: address ranges parsed, refused, printed back and matched;
 * IPv4-mapped IPv6 addresses and ranges taken as IPv4; the n-th address
 * of a range. */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "cidr.h"
#include "check_main.h"

#define ERRLEN	256
#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

struct good_case {
	const char	*in;
	const char	*printed;
};

static const struct good_case good[] = {
	{ "10.0.0.0/8", "10.0.0.0/8" },
	{ "127.0.0.1", "127.0.0.1" },
	{ "127.0.0.1/32", "127.0.0.1" },
	{ "0.0.0.0/0", "0.0.0.0/0" },
	{ "192.168.1.128/25", "192.168.1.128/25" },
	{ "::1", "::1" },
	{ "::1/128", "::1" },
	{ "::/0", "::/0" },
	{ "2001:db8::/32", "2001:db8::/32" },
	{ "2001:DB8:0:0::/64", "2001:db8::/64" },
	{ "fe80::/10", "fe80::/10" },
	{ "::ffff:10.0.0.0/104", "10.0.0.0/8" },
	{ "::ffff:127.0.0.1", "127.0.0.1" },
	{ "::ffff:0:0/96", "0.0.0.0/0" },
};

START_TEST(test_parse_good)
{
	struct cidr c, again;
	char err[ERRLEN] = "", buf[CIDR_STRLEN];

	ck_assert_msg(cidr_parse(good[_i].in, &c, err, sizeof(err)) == 0,
	    "'%s': expected success, got: %s", good[_i].in, err);
	cidr_format(&c, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, good[_i].printed) == 0, "'%s': printed "
	    "'%s', expected '%s'", good[_i].in, buf, good[_i].printed);
	ck_assert_msg(cidr_parse(buf, &again, err, sizeof(err)) == 0 &&
	    memcmp(&c, &again, sizeof(c)) == 0, "'%s' printed as '%s' does not "
	    "parse back the same", good[_i].in, buf);
}
END_TEST

struct bad_case {
	const char	*in;
	const char	*why;
};

static const struct bad_case bad[] = {
	{ "", "invalid address range ''" },
	{ "/8", "invalid address range" },
	{ "10.0.0.0/", "invalid prefix length ''" },
	{ "10.0.0.0/33", "invalid prefix length '33' in '10.0.0.0/33' (0..32)" },
	{ "::/129", "(0..128)" },
	{ "10.0.0.0/08", "invalid prefix length '08'" },
	{ "10.0.0.0/-1", "invalid prefix length" },
	{ "10.0.0.0/8/8", "invalid prefix length '8/8'" },
	{ "10.0.0.0/ 8", "invalid prefix length" },
	{ "10.1.2.3/8", "'10.1.2.3/8' has bits set past its /8 prefix (the "
	    "range is 10.0.0.0/8)" },
	{ "2001:db8::1/32", "(the range is 2001:db8::/32)" },
	{ "10.0.0", "invalid address '10.0.0'" },
	{ "010.0.0.1", "invalid address" },
	{ "256.0.0.1", "invalid address" },
	{ "localhost", "invalid address 'localhost'" },
	{ "[::1]", "invalid address" },
	{ "fe80::1%eth0", "invalid address" },
	{ " 10.0.0.1", "invalid address" },
	{ "10.0.0.1 ", "invalid address" },
	{ "any", "invalid address 'any'" },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999", "invalid" },
};

START_TEST(test_parse_bad)
{
	struct cidr c;
	char err[ERRLEN] = "";

	ck_assert_msg(cidr_parse(bad[_i].in, &c, err, sizeof(err)) != 0,
	    "'%s': expected an error", bad[_i].in);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "'%s': expected "
	    "'%s' in the error, got '%s'", bad[_i].in, bad[_i].why, err);
}
END_TEST

/* ip as a socket address, then as the form it is matched in. */
static struct cidr_ip
ip_of(const char *text)
{
	struct sockaddr_storage ss;
	struct cidr_ip ip;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		ck_assert(inet_pton(AF_INET6, text, &s->sin6_addr) == 1);
		len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		ck_assert(inet_pton(AF_INET, text, &s->sin_addr) == 1);
		len = sizeof(*s);
	}
	ck_assert(cidr_ip_of((struct sockaddr *)&ss, len, &ip) == 0);
	return ip;
}

struct match_case {
	const char	*range;
	const char	*ip;
	int		 match;
};

static const struct match_case matches[] = {
	{ "10.0.0.0/8", "10.255.255.255", 1 },
	{ "10.0.0.0/8", "11.0.0.0", 0 },
	{ "10.0.0.0/8", "::ffff:10.1.2.3", 1 },		/* dual-stack client */
	{ "::ffff:10.0.0.0/104", "10.1.2.3", 1 },
	{ "127.0.0.1", "127.0.0.1", 1 },
	{ "127.0.0.1", "127.0.0.2", 0 },
	{ "192.168.1.128/25", "192.168.1.127", 0 },
	{ "192.168.1.128/25", "192.168.1.128", 1 },
	{ "192.168.1.128/25", "192.168.1.255", 1 },
	{ "172.16.0.0/12", "172.31.255.255", 1 },
	{ "172.16.0.0/12", "172.32.0.0", 0 },
	{ "0.0.0.0/0", "1.2.3.4", 1 },
	{ "0.0.0.0/0", "::1", 0 },			/* families differ */
	{ "::/0", "::1", 1 },
	{ "::/0", "1.2.3.4", 0 },
	{ "::/0", "::ffff:1.2.3.4", 0 },		/* it is IPv4 */
	{ "::1", "::1", 1 },
	{ "::1", "::2", 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "fe80::/10", "febf::1", 1 },
	{ "fe80::/10", "fec0::1", 0 },
	{ "2001:db8::/127", "2001:db8::1", 1 },
	{ "2001:db8::/127", "2001:db8::2", 0 },
};

START_TEST(test_match)
{
	const struct match_case *m = &matches[_i];
	struct cidr c;
	struct cidr_ip ip = ip_of(m->ip);
	char err[ERRLEN];

	ck_assert_msg(cidr_parse(m->range, &c, err, sizeof(err)) == 0, "%s: %s",
	    m->range, err);
	ck_assert_msg(cidr_match(&c, &ip) == m->match, "%s in %s: expected %d",
	    m->ip, m->range, m->match);
}
END_TEST

START_TEST(test_list)
{
	struct cidr_list l;
	struct cidr_ip a = ip_of("10.1.1.1"), b = ip_of("::1"),
	    c = ip_of("192.168.0.1");
	char err[ERRLEN];

	memset(&l, 0, sizeof(l));
	ck_assert(!cidr_list_match(&l, &a));
	ck_assert_int_eq(cidr_list_add(&l, "10.0.0.0/8", err, sizeof(err)), 0);
	ck_assert_int_eq(cidr_list_add(&l, "::1", err, sizeof(err)), 0);
	ck_assert(cidr_list_match(&l, &a));
	ck_assert(cidr_list_match(&l, &b));
	ck_assert(!cidr_list_match(&l, &c));
	ck_assert_int_eq(cidr_list_add(&l, "bogus", err, sizeof(err)), -1);
	ck_assert_int_eq(l.n, 2);
	while (l.n < CIDR_LIST_MAX)
		ck_assert_int_eq(cidr_list_add(&l, "1.2.3.4", err, sizeof(err)),
		    0);
	ck_assert_int_eq(cidr_list_add(&l, "1.2.3.4", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "too many address ranges (at most 256)") !=
	    NULL, "got '%s'", err);
}
END_TEST

/* A dual-stack socket's IPv4 client is logged and keyed as IPv4. */
START_TEST(test_unmap)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	socklen_t len = sizeof(*s6);
	char ip[INET_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(5555);
	inet_pton(AF_INET6, "::ffff:203.0.113.7", &s6->sin6_addr);
	cidr_unmap(&ss, &len);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(ntohs(s4->sin_port), 5555);
	inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
	ck_assert_str_eq(ip, "203.0.113.7");

	/* A real IPv6 address, and IPv4 itself, stay as they are. */
	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &s6->sin6_addr);
	len = sizeof(*s6);
	cidr_unmap(&ss, &len);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(*s6));
	len = sizeof(*s4);
	s4->sin_family = AF_INET;
	cidr_unmap(&ss, &len);
	ck_assert_int_eq(ss.ss_family, AF_INET);

	/* Not an IP address: no form to match in. */
	ss.ss_family = AF_UNIX;
	{
		struct cidr_ip out;
		ck_assert_int_eq(cidr_ip_of((struct sockaddr *)&ss, len, &out),
		    -1);
	}
}
END_TEST

START_TEST(test_nth)
{
	struct cidr c;
	struct cidr_ip ip;
	struct sockaddr_storage ss;
	char err[ERRLEN], buf[CIDR_STRLEN];
	struct cidr one;

	ck_assert_int_eq(cidr_parse("10.0.0.0/24", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(cidr_size(&c), 256);
	cidr_nth(&c, 0, &ip);
	one.ip = ip;
	one.bits = 32;
	ck_assert_str_eq(cidr_format(&one, buf, sizeof(buf)), "10.0.0.0");
	cidr_nth(&c, 255, &one.ip);
	ck_assert_str_eq(cidr_format(&one, buf, sizeof(buf)), "10.0.0.255");
	cidr_nth(&c, 257, &one.ip);			/* wraps */
	ck_assert_str_eq(cidr_format(&one, buf, sizeof(buf)), "10.0.0.1");
	ck_assert_int_eq(cidr_parse("10.0.0.0/8", &c, err, sizeof(err)), 0);
	cidr_nth(&c, 0x10203, &one.ip);			/* carries */
	ck_assert_str_eq(cidr_format(&one, buf, sizeof(buf)), "10.1.2.3");
	ck_assert_int_eq(cidr_parse("2001:db8::/32", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(cidr_size(&c), UINT64_C(1) << 63);
	cidr_nth(&c, 0x1ff, &one.ip);
	one.bits = 128;
	ck_assert_str_eq(cidr_format(&one, buf, sizeof(buf)), "2001:db8::1ff");
	ck_assert_int_eq(cidr_parse("127.0.0.5", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(cidr_size(&c), 1);
	cidr_nth(&c, 12345, &ip);
	ck_assert_uint_eq(cidr_sockaddr(&ip, 80, &ss), sizeof(struct sockaddr_in));
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
}
END_TEST

static Suite *
cidr_suite(void)
{
	Suite *s = suite_create("cidr");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_good, 0, NELEM(good));
	tcase_add_loop_test(tc, test_parse_bad, 0, NELEM(bad));
	tcase_add_loop_test(tc, test_match, 0, NELEM(matches));
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_unmap);
	tcase_add_test(tc, test_nth);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(cidr_suite());
}
