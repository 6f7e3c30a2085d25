/* check_listen_opts.c: the options after a listen address, parsed, refused,
 * printed back, and the address split off the value. */
#include <check.h>
#include <string.h>

#include "listen_opts.h"
#include "check_main.h"

#define ERRLEN	256
#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

struct good_case {
	const char	*in;
	enum addr_kind	 kind;
	const char	*printed;	/* listen_opts_format() of the result */
};

static const struct good_case good[] = {
	{ "", ADDR_TCP, "" },
	{ "   \t ", ADDR_UNIX, "" },
	{ "reuseport", ADDR_TCP, " reuseport" },
	{ " reuseport ", ADDR_UDP, " reuseport" },
	{ "proxy_protocol", ADDR_TCP, " proxy_protocol" },
	{ "proxy_protocol reuseport", ADDR_TCP, " reuseport proxy_protocol" },
	{ "mode=0666", ADDR_UNIX, " mode=0666" },
	{ "mode=660", ADDR_UNIX, " mode=0660" },
	{ "mode=0", ADDR_UNIX, " mode=0000" },
	{ "mode=0777", ADDR_UNIX, " mode=0777" },
	{ "group=upcase mode=0660", ADDR_UNIX, " mode=0660 group=upcase" },
	{ "owner=0\tgroup=65534", ADDR_UNIX, " owner=0 group=65534" },
	{ "owner=www-data", ADDR_UNIX, " owner=www-data" },
	{ "owner=svc_1.x$", ADDR_UNIX, " owner=svc_1.x$" },
};

struct bad_case {
	const char	*in;
	enum addr_kind	 kind;
	const char	*why;		/* a substring of the error */
};

static const struct bad_case bad[] = {
	{ "bogus", ADDR_TCP, "unknown listen option 'bogus'" },
	{ "bogus", ADDR_UNIX, "a unix path cannot contain a blank" },
	{ "reuseport=yes", ADDR_TCP, "'reuseport' takes no value" },
	{ "reuseport", ADDR_UNIX, "'reuseport' is not for unix: listeners" },
	{ "reuseport reuseport", ADDR_TCP, "'reuseport' given twice" },
	{ "mode=0666", ADDR_TCP, "'mode' is not for TCP listeners" },
	{ "proxy_protocol", ADDR_UDP, "'proxy_protocol' is not for udp: "
	    "listeners" },
	{ "proxy_protocol", ADDR_UNIX, "'proxy_protocol' is not for unix:" },
	{ "proxy_protocol=2", ADDR_TCP, "'proxy_protocol' takes no value" },
	{ "proxy_protocol proxy_protocol", ADDR_TCP, "'proxy_protocol' given "
	    "twice" },
	{ "proxy-protocol", ADDR_TCP, "unknown listen option 'proxy-protocol'" },
	{ "mode=0666", ADDR_UDP, "'mode' is not for udp: listeners" },
	{ "owner=x", ADDR_TCP, "'owner' is not for TCP" },
	{ "mode", ADDR_UNIX, "'mode' needs a value (mode=0660)" },
	{ "mode=", ADDR_UNIX, "invalid value ''" },
	{ "mode=8", ADDR_UNIX, "invalid value '8'" },
	{ "mode=01777", ADDR_UNIX, "0..0777" },
	{ "mode=07777", ADDR_UNIX, "0..0777" },
	{ "mode=00000", ADDR_UNIX, "invalid value '00000'" },
	{ "mode=rw", ADDR_UNIX, "invalid value 'rw'" },
	{ "mode=0600 mode=0666", ADDR_UNIX, "'mode' given twice" },
	{ "owner=", ADDR_UNIX, "'owner': invalid value ''" },
	{ "owner=a:b", ADDR_UNIX, "invalid value 'a:b'" },
	{ "group=a/b", ADDR_UNIX, "invalid value 'a/b'" },
	{ "group", ADDR_UNIX, "'group' needs a value" },
	{ "owner=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    ADDR_UNIX, "invalid value" },
	{ "=x", ADDR_TCP, "unknown listen option '=x'" },
	{ "Reuseport", ADDR_TCP, "unknown listen option 'Reuseport'" },
};

/* Loop: _i indexes good[].  The printed form parses to the same options. */
START_TEST(test_parse_good)
{
	struct listen_opts o, again;
	char err[ERRLEN] = "", buf[LISTEN_OPTS_STRLEN];

	ck_assert_msg(listen_opts_parse(good[_i].in, good[_i].kind, &o, err,
	    sizeof(err)) == 0, "'%s': expected success, got: %s", good[_i].in,
	    err);
	listen_opts_format(&o, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, good[_i].printed) == 0, "'%s': expected to "
	    "print '%s', got '%s'", good[_i].in, good[_i].printed, buf);
	ck_assert_msg(listen_opts_parse(buf, good[_i].kind, &again, err,
	    sizeof(err)) == 0 && listen_opts_equal(&o, &again),
	    "'%s' printed as '%s' does not parse back the same: %s",
	    good[_i].in, buf, err);
}
END_TEST

/* Loop: _i indexes bad[]. */
START_TEST(test_parse_bad)
{
	struct listen_opts o;
	char err[ERRLEN] = "";

	ck_assert_msg(listen_opts_parse(bad[_i].in, bad[_i].kind, &o, err,
	    sizeof(err)) == -1, "'%s': expected an error", bad[_i].in);
	ck_assert_msg(strstr(err, bad[_i].why) != NULL, "'%s': expected an "
	    "error containing \"%s\", got \"%s\"", bad[_i].in, bad[_i].why, err);
}
END_TEST

START_TEST(test_defaults_and_equal)
{
	struct listen_opts a, b;
	char err[ERRLEN];

	listen_opts_init(&a);
	ck_assert_int_eq(a.mode, -1);
	ck_assert_int_eq(a.reuseport, 0);
	ck_assert_str_eq(a.owner, "");
	ck_assert_int_eq(listen_opts_parse("", ADDR_UNIX, &b, err,
	    sizeof(err)), 0);
	ck_assert(listen_opts_equal(&a, &b));
	ck_assert_int_eq(listen_opts_parse("mode=0600", ADDR_UNIX, &b, err,
	    sizeof(err)), 0);
	ck_assert(!listen_opts_equal(&a, &b));
	ck_assert_int_eq(listen_opts_parse("group=0", ADDR_UNIX, &a, err,
	    sizeof(err)), 0);
	ck_assert(!listen_opts_equal(&a, &b));
	/* A listener that starts speaking PROXY is another listener. */
	ck_assert_int_eq(listen_opts_parse("reuseport", ADDR_TCP, &a, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(listen_opts_parse("reuseport proxy_protocol",
	    ADDR_TCP, &b, err, sizeof(err)), 0);
	ck_assert(!listen_opts_equal(&a, &b));
}
END_TEST

START_TEST(test_split)
{
	char addr[16];
	const char *rest;

	ck_assert_int_eq(listen_split("127.0.0.1:1 reuseport", addr,
	    sizeof(addr), &rest), 0);
	ck_assert_str_eq(addr, "127.0.0.1:1");
	ck_assert_str_eq(rest, " reuseport");
	ck_assert_int_eq(listen_split("unix:/a\tmode=0600", addr, sizeof(addr),
	    &rest), 0);
	ck_assert_str_eq(addr, "unix:/a");
	ck_assert_str_eq(rest, "\tmode=0600");
	ck_assert_int_eq(listen_split("[::1]:8", addr, sizeof(addr), &rest), 0);
	ck_assert_str_eq(addr, "[::1]:8");
	ck_assert_str_eq(rest, "");
	/* 16 bytes hold 15 characters and the NUL, no more. */
	ck_assert_int_eq(listen_split("123456789012345 x", addr, sizeof(addr),
	    &rest), 0);
	ck_assert_int_eq(listen_split("1234567890123456 x", addr, sizeof(addr),
	    &rest), -1);
}
END_TEST

START_TEST(test_ids)
{
	struct listen_opts o;
	char err[ERRLEN] = "";
	uid_t uid;
	gid_t gid;

	ck_assert_int_eq(listen_opts_parse("", ADDR_UNIX, &o, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(listen_opts_ids(&o, &uid, &gid, err, sizeof(err)), 0);
	ck_assert(uid == (uid_t)-1 && gid == (gid_t)-1);
	ck_assert_int_eq(listen_opts_parse("owner=root group=12345", ADDR_UNIX,
	    &o, err, sizeof(err)), 0);
	ck_assert_int_eq(listen_opts_ids(&o, &uid, &gid, err, sizeof(err)), 0);
	ck_assert(uid == 0 && gid == 12345);
	ck_assert_int_eq(listen_opts_parse("owner=no-such-user-here", ADDR_UNIX,
	    &o, err, sizeof(err)), 0);
	ck_assert_int_eq(listen_opts_ids(&o, &uid, &gid, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unknown user 'no-such-user-here'") != NULL,
	    "got \"%s\"", err);
	ck_assert_int_eq(listen_opts_parse("group=no-such-group-here",
	    ADDR_UNIX, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(listen_opts_ids(&o, &uid, &gid, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unknown group 'no-such-group-here'") != NULL,
	    "got \"%s\"", err);
}
END_TEST

static Suite *
listen_opts_suite(void)
{
	Suite *s = suite_create("listen_opts");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_good, 0, NELEM(good));
	tcase_add_loop_test(tc, test_parse_bad, 0, NELEM(bad));
	tcase_add_test(tc, test_defaults_and_equal);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_ids);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(listen_opts_suite());
}
