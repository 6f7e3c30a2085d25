/* check_client_opts.c: the client's options: defaults, addresses,
 * timeouts, -m, and every refusal with the words that explain it. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "check_main.h"

#define ERRLEN	512
#define MAXARGS	8
#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

struct argv_copy {
	int	 argc;
	char	*argv[MAXARGS + 2];
};

/* getopt permutes argv and wants it writable: parse a copy. */
static enum client_parse_result
parse(const char *const *args, struct client_opts *o, char *err,
    struct argv_copy *c)
{
	c->argc = 0;
	c->argv[c->argc++] = strdup("upcase");
	for (int i = 0; args[i] != NULL && i < MAXARGS; i++)
		c->argv[c->argc++] = strdup(args[i]);
	c->argv[c->argc] = NULL;
	err[0] = '\0';
	return client_parse(o, c->argc, c->argv, err, ERRLEN);
}

static void
argv_free(struct argv_copy *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
}

struct good_case {
	const char	*args[MAXARGS];
	enum addr_kind	 kind;
	int		 port;
	const char	*message;	/* NULL: pipe mode */
	timeout_us	 timeout;
	timeout_us	 connect_timeout;
};

static const struct good_case good[] = {
	{ { NULL }, ADDR_TCP, 8080, NULL, TIMEOUT_NONE, 10000000 },
	{ { "127.0.0.1:5" }, ADDR_TCP, 5, NULL, TIMEOUT_NONE, 10000000 },
	{ { "[::1]:80" }, ADDR_TCP, 80, NULL, TIMEOUT_NONE, 10000000 },
	{ { "-t", "0.25", "unix:/tmp/u.sock" }, ADDR_UNIX, 0, NULL, 250000,
	    10000000 },
	/* udp waits 5 s for a reply unless told otherwise */
	{ { "udp:127.0.0.1:9" }, ADDR_UDP, 9, NULL, 5000000, 10000000 },
	{ { "-t", "none", "udp:127.0.0.1:9" }, ADDR_UDP, 9, NULL,
	    TIMEOUT_NONE, 10000000 },
	{ { "-t", "2", "udp:127.0.0.1:9" }, ADDR_UDP, 9, NULL, 2000000,
	    10000000 },
	{ { "--connect-timeout", "1.5" }, ADDR_TCP, 8080, NULL, TIMEOUT_NONE,
	    1500000 },
	{ { "--connect-timeout=none" }, ADDR_TCP, 8080, NULL, TIMEOUT_NONE,
	    TIMEOUT_NONE },
	{ { "-m", "hello" }, ADDR_TCP, 8080, "hello", TIMEOUT_NONE, 10000000 },
	/* options after the address, long forms with '=' */
	{ { "127.0.0.1:7", "--message=abc", "--timeout=3" }, ADDR_TCP, 7,
	    "abc", 3000000, 10000000 },
	/* a text that looks like an option is still the text */
	{ { "-m", "-t", "127.0.0.1:7" }, ADDR_TCP, 7, "-t", TIMEOUT_NONE,
	    10000000 },
	{ { "-m", "a", "-m", "bb" }, ADDR_TCP, 8080, "bb", TIMEOUT_NONE,
	    10000000 },
};

/* Loop: _i indexes good[]. */
START_TEST(test_good)
{
	const struct good_case *g = &good[_i];
	struct client_opts o;
	struct argv_copy c;
	char err[ERRLEN];
	enum client_parse_result r;

	r = parse(g->args, &o, err, &c);
	ck_assert_msg(r == CLIENT_RUN, "case %d: expected CLIENT_RUN, got %d "
	    "(%s)", _i, r, err);
	ck_assert_int_eq(o.addr.kind, g->kind);
	ck_assert_int_eq(addr_port(&o.addr), g->port);
	ck_assert_msg(o.timeout == g->timeout, "case %d: timeout: expected "
	    "%lld, got %lld", _i, (long long)g->timeout, (long long)o.timeout);
	ck_assert_msg(o.connect_timeout == g->connect_timeout, "case %d: "
	    "connect timeout: expected %lld, got %lld", _i,
	    (long long)g->connect_timeout, (long long)o.connect_timeout);
	if (g->message == NULL)
		ck_assert_ptr_null(o.message);
	else {
		ck_assert_str_eq(o.message, g->message);
		ck_assert_uint_eq(o.message_len, strlen(g->message));
	}
	argv_free(&c);
}
END_TEST

struct bad_case {
	const char	*args[MAXARGS];
	const char	*says;		/* err must contain this */
};

static const struct bad_case bad[] = {
	{ { "-m", "" }, "non-empty" },
	{ { "-t", "0" }, "-t: timeout must be greater than 0" },
	{ { "-t", "-1" }, "-t: timeout must be greater than 0" },
	{ { "--timeout", "soon" }, "-t: invalid timeout 'soon'" },
	{ { "--connect-timeout", "0" }, "--connect-timeout: timeout must be" },
	{ { "-t" }, "-t needs a value" },
	{ { "--message" }, "--message needs a value" },
	{ { "-x" }, "unknown option '-x'" },
	{ { "--bogus" }, "unknown option '--bogus'" },
	{ { "127.0.0.1:1", "127.0.0.1:2" }, "one ADDR at most" },
	{ { "localhost" }, "invalid address 'localhost'" },
	{ { "127.0.0.1:99999" }, "invalid port" },
	{ { "unix:" }, "unix: needs a path" },
	{ { "*:8080" }, "an address to listen on" },
};

START_TEST(test_bad)
{
	const struct bad_case *b = &bad[_i];
	struct client_opts o;
	struct argv_copy c;
	char err[ERRLEN];
	enum client_parse_result r;

	r = parse(b->args, &o, err, &c);
	ck_assert_msg(r == CLIENT_BAD, "case %d: expected CLIENT_BAD, got %d",
	    _i, r);
	ck_assert_msg(strstr(err, b->says) != NULL, "case %d: expected an "
	    "error containing \"%s\", got \"%s\"", _i, b->says, err);
	argv_free(&c);
}
END_TEST

START_TEST(test_help_version)
{
	static const char *const help[] = { "127.0.0.1:1", "-h", NULL };
	static const char *const lhelp[] = { "--help", NULL };
	static const char *const version[] = { "-V", NULL };
	struct client_opts o;
	struct argv_copy c;
	char err[ERRLEN];

	ck_assert_int_eq(parse(help, &o, err, &c), CLIENT_HELP);
	argv_free(&c);
	ck_assert_int_eq(parse(lhelp, &o, err, &c), CLIENT_HELP);
	argv_free(&c);
	ck_assert_int_eq(parse(version, &o, err, &c), CLIENT_VERSION);
	argv_free(&c);
}
END_TEST

/* Over udp -m is one datagram: the largest fits, one byte more does not. */
START_TEST(test_udp_message_size)
{
	char *text = malloc(CLIENT_DGRAM_MAX + 2);
	const char *args[] = { "-m", text, "udp:127.0.0.1:9", NULL };
	struct client_opts o;
	struct argv_copy c;
	char err[ERRLEN];

	ck_assert_ptr_nonnull(text);
	memset(text, 'a', CLIENT_DGRAM_MAX);
	text[CLIENT_DGRAM_MAX] = '\0';
	ck_assert_int_eq(parse(args, &o, err, &c), CLIENT_RUN);
	ck_assert_uint_eq(o.message_len, CLIENT_DGRAM_MAX);
	argv_free(&c);
	text[CLIENT_DGRAM_MAX] = 'a';
	text[CLIENT_DGRAM_MAX + 1] = '\0';
	ck_assert_int_eq(parse(args, &o, err, &c), CLIENT_BAD);
	ck_assert_msg(strstr(err, "does not fit in one datagram") != NULL,
	    "got \"%s\"", err);
	argv_free(&c);
	/* The same text is fine over a stream. */
	args[2] = "127.0.0.1:9";
	ck_assert_int_eq(parse(args, &o, err, &c), CLIENT_RUN);
	argv_free(&c);
	free(text);
}
END_TEST

static Suite *
client_opts_suite(void)
{
	Suite *s = suite_create("client_opts");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_good, 0, NELEM(good));
	tcase_add_loop_test(tc, test_bad, 0, NELEM(bad));
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_udp_message_size);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(client_opts_suite());
}
