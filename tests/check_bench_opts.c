/* check_bench_opts.c: upcase bench's options: defaults, each option,
 * and every bad value refused with a message that names the option. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_opts.h"
#include "check_main.h"

#define MAXARGS	16

/* Parse "bench" followed by the given words; getopt permutes argv, so
 * hand it a copy. */
static int
parse(struct bench_opts *o, char *err, const char *const *words)
{
	char *argv[MAXARGS + 2], buf[MAXARGS][64];
	int argc = 0;

	argv[argc++] = (char *)(uintptr_t)"bench";
	for (; *words != NULL; words++, argc++) {
		ck_assert_int_lt(argc, MAXARGS);
		snprintf(buf[argc], sizeof(buf[argc]), "%s", *words);
		argv[argc] = buf[argc];
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return bench_opts_parse(o, argc, argv, err, BENCH_ERRLEN);
}

#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_defaults)
{
	struct bench_opts o;
	char err[BENCH_ERRLEN];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&o.addr.ss;

	ck_assert_int_eq(parse(&o, err, (const char *const[]){ NULL }),
	    BENCH_OPTS_RUN);
	ck_assert_int_eq(o.mode, BENCH_CLOSED);
	ck_assert_int_eq(o.conns, 50);
	ck_assert_uint_eq(o.duration_us, 10000000);
	ck_assert_uint_eq(o.total, 0);
	ck_assert_uint_eq(o.size, 64);
	ck_assert_int_eq(o.pipeline, 1);
	ck_assert_int_eq(o.threads, cpus < 1 ? 1 : cpus > 50 ? 50 : cpus);
	ck_assert(o.connect_rate == 0);
	ck_assert(o.rate == 0);
	ck_assert_uint_eq(o.timeout_us, 5000000);
	ck_assert_int_eq(o.sources, 0);
	ck_assert_int_eq(o.json, 0);
	ck_assert_int_eq(o.quiet, 0);
	ck_assert_str_eq(o.addr_text, "127.0.0.1:8080");
	ck_assert_int_eq(o.addr.kind, ADDR_TCP);
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(sin->sin_port), 8080);
	ck_assert(bench_opts_loopback4(&o.addr));
}
END_TEST

START_TEST(test_each_option)
{
	struct bench_opts o;
	char err[BENCH_ERRLEN];

#define OK(...)	ck_assert_msg(parse(&o, err, ARGS(__VA_ARGS__)) == \
	    BENCH_OPTS_RUN, "refused: %s", err)
	OK("-c", "7");
	ck_assert_int_eq(o.conns, 7);
	ck_assert_int_le(o.threads, 7);
	OK("--connections", "1000000");
	ck_assert_int_eq(o.conns, 1000000);
	OK("-d", "2.5");
	ck_assert_uint_eq(o.duration_us, 2500000);
	ck_assert_uint_eq(o.total, 0);
	OK("-n", "1000");
	ck_assert_uint_eq(o.total, 1000);
	ck_assert_uint_eq(o.duration_us, 0);	/* -n alone: no duration */
	OK("-n", "2k", "-d", "3");
	ck_assert_uint_eq(o.total, 2000);
	ck_assert_uint_eq(o.duration_us, 3000000);
	OK("-n", "1M");
	ck_assert_uint_eq(o.total, 1000000);
	OK("-s", "100");
	ck_assert_uint_eq(o.size, 100);
	OK("-s", "4k");
	ck_assert_uint_eq(o.size, 4096);
	OK("--size", "1m");
	ck_assert_uint_eq(o.size, 1048576);
	OK("--pipeline", "8");
	ck_assert_int_eq(o.pipeline, 8);
	OK("-T", "3");
	ck_assert_int_eq(o.threads, 3);
	OK("-T", "8", "-c", "2");
	ck_assert_int_eq(o.threads, 2);	/* no idle threads */
	OK("-t", "0.25");
	ck_assert_uint_eq(o.timeout_us, 250000);
	OK("--connect-rate", "150.5");
	ck_assert(o.connect_rate == 150.5);
	OK("--rate", "2k");
	ck_assert_int_eq(o.mode, BENCH_RATE);
	ck_assert(o.rate == 2000);
	OK("--churn", "-c", "10");
	ck_assert_int_eq(o.mode, BENCH_CHURN);
	ck_assert_int_eq(o.conns, 10);
	OK("--idle", "200");
	ck_assert_int_eq(o.mode, BENCH_IDLE);
	ck_assert_int_eq(o.conns, 200);
	OK("--json", "-q", "--seed", "42");
	ck_assert_int_eq(o.json, 1);
	ck_assert_int_eq(o.quiet, 1);
	ck_assert_uint_eq(o.seed, 42);
	OK("--sources", "4", "127.0.0.1:9");
	ck_assert_int_eq(o.sources, 4);
	OK("127.0.0.1:9999");
	ck_assert_str_eq(o.addr_text, "127.0.0.1:9999");
	OK("[::1]:9");
	ck_assert_int_eq(o.addr.ss.ss_family, AF_INET6);
	ck_assert(!bench_opts_loopback4(&o.addr));
	OK("unix:/tmp/upcased.sock");
	ck_assert_int_eq(o.addr.kind, ADDR_UNIX);
	OK("udp:127.0.0.1:9");
	ck_assert_int_eq(o.addr.kind, ADDR_UDP);
	ck_assert(o.max_loss == 0);
	OK("udp:127.0.0.1:9", "-s", "16", "--max-loss", "2.5", "--rate", "100");
	ck_assert_uint_eq(o.size, 16);
	ck_assert(o.max_loss == 2.5);
	OK("udp:[::1]:9", "-s", "65507", "--max-loss", "0", "--pipeline", "8");
	ck_assert_uint_eq(o.size, 65507);
	OK("--send-proxy", "v2", "--proxy-source", "10.0.0.0/24");
	ck_assert_int_eq(o.send_proxy, 2);
	ck_assert(o.has_proxy_source && o.proxy_source.bits == 24);
	OK("--send-proxy", "v1", "[::1]:9", "--churn");
	ck_assert_int_eq(o.send_proxy, 1);
	ck_assert(!o.has_proxy_source);
	/* Options after the address work too. */
	OK("127.0.0.1:7", "-c", "3");
	ck_assert_int_eq(o.conns, 3);
	ck_assert_str_eq(o.addr_text, "127.0.0.1:7");
#undef OK
}
END_TEST

START_TEST(test_help)
{
	struct bench_opts o;
	char err[BENCH_ERRLEN];

	ck_assert_int_eq(parse(&o, err, ARGS("-h")), BENCH_OPTS_HELP);
	ck_assert_int_eq(parse(&o, err, ARGS("-c", "5", "--help")),
	    BENCH_OPTS_HELP);
	ck_assert_ptr_nonnull(strstr(bench_usage, "--pipeline"));
}
END_TEST

/* Bad values and the option each message must start with. */
static const struct {
	const char	*args[5];
	const char	*names;
} bad[] = {
	{ { "-c", "0" }, "-c" },
	{ { "-c", "abc" }, "-c" },
	{ { "-c", "1000001" }, "-c" },
	{ { "-c", "-5" }, "-c" },
	{ { "-c", "5x" }, "-c" },
	{ { "--connections", "" }, "-c" },
	{ { "-d", "0" }, "-d" },
	{ { "-d", "-1" }, "-d" },
	{ { "-d", "abc" }, "-d" },
	{ { "-d", "inf" }, "-d" },
	{ { "-d", "nan" }, "-d" },
	{ { "-d", "1e9" }, "-d" },
	{ { "-n", "0" }, "-n" },
	{ { "-n", "1.5" }, "-n" },
	{ { "-n", "99999999999999999999" }, "-n" },
	{ { "-s", "0" }, "-s" },
	{ { "-s", "17m" }, "-s" },
	{ { "-s", "1q" }, "-s" },
	{ { "--pipeline", "0" }, "--pipeline" },
	{ { "--pipeline", "65537" }, "--pipeline" },
	{ { "-T", "0" }, "-T" },
	{ { "-T", "257" }, "-T" },
	{ { "-t", "0" }, "-t" },
	{ { "-t", "none" }, "-t" },
	{ { "--rate", "0" }, "--rate" },
	{ { "--rate", "-5" }, "--rate" },
	{ { "--rate", "0x10" }, "--rate" },
	{ { "--connect-rate", "fast" }, "--connect-rate" },
	{ { "--idle", "0" }, "--idle" },
	{ { "--seed", "x" }, "--seed" },
	{ { "--sources", "0" }, "--sources" },
	{ { "--sources", "255" }, "--sources" },
	{ { "--sources", "4", "[::1]:9" }, "--sources" },
	{ { "--idle", "10", "--churn" }, "--idle" },
	{ { "--idle", "10", "--rate", "5" }, "--idle" },
	{ { "--idle", "10", "-n", "5" }, "--idle" },
	{ { "--idle", "10", "-c", "5" }, "--idle" },
	{ { "--churn", "--rate", "10" }, "--churn" },
	{ { "--churn", "--pipeline", "2" }, "--pipeline" },
	{ { "--churn", "udp:127.0.0.1:9" }, "--churn" },
	{ { "--idle", "3", "udp:127.0.0.1:9" }, "--idle" },
	{ { "-s", "15", "udp:127.0.0.1:9" }, "-s" },
	{ { "-s", "65508", "udp:127.0.0.1:9" }, "-s" },
	{ { "--max-loss", "1", "127.0.0.1:9" }, "--max-loss" },
	{ { "--max-loss", "101", "udp:127.0.0.1:9" }, "--max-loss" },
	{ { "--max-loss", "-1", "udp:127.0.0.1:9" }, "--max-loss" },
	{ { "--max-loss", "nan", "udp:127.0.0.1:9" }, "--max-loss" },
	{ { "--send-proxy", "v3" }, "--send-proxy" },
	{ { "--send-proxy", "2" }, "--send-proxy" },
	{ { "--send-proxy", "v1", "udp:127.0.0.1:9" }, "--send-proxy" },
	{ { "--send-proxy", "v2", "unix:/tmp/u.sock" }, "--send-proxy" },
	{ { "--proxy-source", "10.0.0.0/8" }, "--proxy-source" },
	{ { "--send-proxy", "v2", "--proxy-source", "10.0.0.1/8" },
	    "--proxy-source" },
	{ { "--send-proxy", "v2", "--proxy-source", "any" }, "--proxy-source" },
	{ { "127.0.0.1" }, "ADDR" },
	{ { "127.0.0.1:99999" }, "ADDR" },
	{ { "127.0.0.1:9", "127.0.0.1:10" }, "ADDR" },
	{ { "--bogus" }, "--bogus" },
	{ { "-x" }, "-x" },
	{ { "-c" }, "-c" },
	{ { "--pipeline" }, "--pipeline" },
	{ { "--duration" }, "--duration" },
};

START_TEST(test_bad_values_rejected)
{
	struct bench_opts o;
	char err[BENCH_ERRLEN];
	const char *name = bad[_i].names;
	size_t len = strlen(name);

	ck_assert_int_eq(parse(&o, err, bad[_i].args), BENCH_OPTS_ERROR);
	/* "-c: ...", never a bare reason without the option. */
	ck_assert_msg(strncmp(err, name, len) == 0 && err[len] == ':' &&
	    strlen(err) > len + 3, "%s %s: message %s does not start with "
	    "'%s: '", bad[_i].args[0], bad[_i].args[1] ? bad[_i].args[1] : "",
	    err, name);
}
END_TEST

/* Loop: _i is 0 for a valid ADDR (leading zeros) as long as a report can
 * name, taken whole; 1 for one byte longer, refused rather than named
 * cut short. */
START_TEST(test_long_addr)
{
	char argv0[] = "bench", addr[ADDR_STRLEN + 1], err[BENCH_ERRLEN] = "";
	char *argv[] = { argv0, addr, NULL };
	const char *tail = "177.0.0.1:9";
	size_t len = ADDR_STRLEN - 1 + (size_t)_i;
	struct bench_opts o;
	int rc;

	memset(addr, '0', len - strlen(tail));
	strcpy(addr + len - strlen(tail), tail);
	rc = bench_opts_parse(&o, 2, argv, err, sizeof(err));
	if (_i == 0) {
		ck_assert_msg(rc == BENCH_OPTS_RUN, "%zu-byte ADDR: expected "
		    "success, got %d: %s", len, rc, err);
		ck_assert_str_eq(o.addr_text, addr);
		return;
	}
	ck_assert_msg(rc == BENCH_OPTS_ERROR && strncmp(err, "ADDR: ", 6) == 0 &&
	    strstr(err, "too long") != NULL, "%zu-byte ADDR: expected \"ADDR: "
	    "... too long\", got %d: %s", len, rc, err);
}
END_TEST

/* The parser resets getopt: parsing twice in one process works. */
START_TEST(test_parse_twice)
{
	struct bench_opts o;
	char err[BENCH_ERRLEN];

	ck_assert_int_eq(parse(&o, err, ARGS("-c", "x")), BENCH_OPTS_ERROR);
	ck_assert_int_eq(parse(&o, err, ARGS("-c", "9", "-d", "1")),
	    BENCH_OPTS_RUN);
	ck_assert_int_eq(o.conns, 9);
	ck_assert_int_eq(parse(&o, err, ARGS("-c", "4")), BENCH_OPTS_RUN);
	ck_assert_int_eq(o.conns, 4);
	ck_assert_uint_eq(o.duration_us, 10000000);
}
END_TEST

static Suite *
bench_opts_suite(void)
{
	Suite *s = suite_create("bench_opts");
	TCase *tc = tcase_create("core");

	/* Generous: under ASan on a busy machine these run many times slower. */
	tcase_set_timeout(tc, 60);

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_each_option);
	tcase_add_test(tc, test_help);
	tcase_add_loop_test(tc, test_bad_values_rejected, 0,
	    sizeof(bad) / sizeof(bad[0]));
	tcase_add_loop_test(tc, test_long_addr, 0, 2);
	tcase_add_test(tc, test_parse_twice);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(bench_opts_suite());
}
