/* check_timeout.c: settimeout-style values parsed, refused, printed. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "timeout.h"
#include "check_main.h"

#define ERRLEN	256

struct good_case {
	const char	*in;
	timeout_us	 us;
};

static const struct good_case good[] = {
	{ "0.25", 250000 },
	{ "1", 1000000 },
	{ "30", 30000000 },
	{ "300", 300000000 },
	{ "1e-3", 1000 },
	{ "1.5", 1500000 },
	{ ".5", 500000 },
	{ "0.000001", 1 },
	{ "0.0000001", 1 },		/* tiny but positive: never 0 */
	{ "1e-300", 1 },
	{ "1e-320", 1 },		/* a denormal: still positive */
	{ "4.9e-324", 1 },		/* the smallest double */
	{ "0.0000011", 2 },		/* rounds up, not to nearest */
	{ "31536000", 31536000000000LL },	/* TIMEOUT_MAX_S */
	{ "8392491.214508", 8392491214508LL },	/* not 1us more */
	{ "1000.0000001", 1000000001LL },
	{ "none", TIMEOUT_NONE },
	{ "NONE", TIMEOUT_NONE },
	{ "None", TIMEOUT_NONE },
};

static const char *const bad[] = {
	"0", "0.0", "-0", "-1", "-0.5", "abc", "", " 1", "1 ", "1s", "inf",
	"+inf", "-inf", "infinity", "nan", "-nan", "1e999", "1e-999", "0x10", "0X1p3",
	"99999999999", "31536000.5", ".", "1e", "nonee", "none ",
};

struct format_case {
	timeout_us	 us;
	const char	*text;
};

static const struct format_case formats[] = {
	{ 250000, "0.25" },
	{ 300000000, "300" },
	{ TIMEOUT_NONE, "none" },
	{ 1500000, "1.5" },
	{ 1, "0.000001" },
	{ 1000, "0.001" },
	{ 1000001, "1.000001" },
	{ 10000000, "10" },
	{ 31536000000000LL, "31536000" },
	{ 8392491214508LL, "8392491.214508" },
};

#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

/* Loop: _i indexes good[]. */
START_TEST(test_parse_good)
{
	char err[ERRLEN] = "";
	timeout_us t = -42;
	int rc;

	rc = timeout_parse(good[_i].in, &t, err, sizeof(err));
	ck_assert_msg(rc == 0, "timeout_parse('%s'): expected success, got "
	    "%d: %s", good[_i].in, rc, err);
	ck_assert_msg(t == good[_i].us, "timeout_parse('%s'): expected %lld "
	    "us, got %lld", good[_i].in, (long long)good[_i].us, (long long)t);
}
END_TEST

/* Loop: _i indexes bad[]. */
START_TEST(test_parse_bad)
{
	char err[ERRLEN] = "", quoted[64];
	timeout_us t = -42;
	int rc;

	rc = timeout_parse(bad[_i], &t, err, sizeof(err));
	ck_assert_msg(rc == -1, "timeout_parse('%s'): expected -1, got %d "
	    "(%lld us)", bad[_i], rc, (long long)t);
	ck_assert_msg(t == -42, "timeout_parse('%s') failed but wrote %lld",
	    bad[_i], (long long)t);
	snprintf(quoted, sizeof(quoted), "'%s'", bad[_i]);
	ck_assert_msg(strstr(err, quoted) != NULL, "timeout_parse('%s'): "
	    "expected the error to quote %s, got \"%s\"", bad[_i], quoted, err);
}
END_TEST

/* Zero and negatives say why, and point at none. */
START_TEST(test_parse_zero_says_none)
{
	char err[ERRLEN] = "";
	timeout_us t;

	ck_assert_int_eq(timeout_parse("0", &t, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "greater than 0") != NULL &&
	    strstr(err, "none") != NULL, "expected \"greater than 0 ... "
	    "none\", got \"%s\"", err);
}
END_TEST

/* One rule below the resolution: a positive double is at least 1 us; a
 * value that is 0 as a double is zero, however it is written; a value too
 * large for a double is too long. */
static const struct {
	const char	*in;
	const char	*why;
} tiny_huge[] = {
	{ "1e-999", "greater than 0" },
	{ "1e-400", "greater than 0" },
	{ "-1e-320", "greater than 0" },
	{ "1e999", "too long" },
	{ "1e309", "too long" },
};

START_TEST(test_parse_tiny_and_huge)
{
	char err[ERRLEN] = "";
	timeout_us t;

	ck_assert_int_eq(timeout_parse(tiny_huge[_i].in, &t, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, tiny_huge[_i].why) != NULL, "timeout_parse"
	    "('%s'): expected \"%s\", got \"%s\"", tiny_huge[_i].in,
	    tiny_huge[_i].why, err);
}
END_TEST

/* Loop: _i indexes formats[]; printed and parsed back. */
START_TEST(test_format)
{
	const struct format_case *c = &formats[_i];
	char buf[TIMEOUT_STRLEN], err[ERRLEN] = "";
	timeout_us t;

	timeout_format(c->us, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, c->text) == 0, "timeout_format(%lld): "
	    "expected '%s', got '%s'", (long long)c->us, c->text, buf);
	ck_assert_msg(timeout_parse(buf, &t, err, sizeof(err)) == 0,
	    "timeout_parse('%s'): %s", buf, err);
	ck_assert_msg(t == c->us, "round trip of %lld: '%s' parsed as %lld",
	    (long long)c->us, buf, (long long)t);
}
END_TEST

/* Loop: _i indexes good[]; parse, print, parse gives the same value. */
START_TEST(test_round_trip)
{
	char buf[TIMEOUT_STRLEN], err[ERRLEN] = "";
	timeout_us t, u;

	ck_assert(timeout_parse(good[_i].in, &t, err, sizeof(err)) == 0);
	timeout_format(t, buf, sizeof(buf));
	ck_assert_msg(timeout_parse(buf, &u, err, sizeof(err)) == 0,
	    "'%s' printed as '%s', which does not parse: %s", good[_i].in,
	    buf, err);
	ck_assert_msg(t == u, "'%s' is %lld us, printed '%s', read back as "
	    "%lld us", good[_i].in, (long long)t, buf, (long long)u);
}
END_TEST

/* Every microsecond count survives print-then-parse, up to a year: what
 * --check-config prints must load back as the same value. */
START_TEST(test_round_trip_all)
{
	char buf[TIMEOUT_STRLEN], err[ERRLEN] = "";
	uint64_t x = 88172645463325252ULL;
	timeout_us t, u;
	int rc;

	for (int i = 0; i < 200000; i++) {
		/* xorshift64: the same values on every run. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t = (timeout_us)(x % (TIMEOUT_MAX_S * 1000000ULL)) + 1;
		timeout_format(t, buf, sizeof(buf));
		rc = timeout_parse(buf, &u, err, sizeof(err));
		if (rc != 0 || u != t)
			break;
	}
	ck_assert_msg(rc == 0 && u == t, "%lld us printed as '%s', read "
	    "back as %lld us (%s)", (long long)t, buf, (long long)u, err);
}
END_TEST

START_TEST(test_tv)
{
	static const struct {
		timeout_us	us;
		long		sec, usec;
	} tvs[] = {
		{ 1, 0, 1 },
		{ 250000, 0, 250000 },
		{ 1500000, 1, 500000 },
		{ 300000000, 300, 0 },
		{ 31536000000000LL, 31536000, 0 },
	};
	struct timeval tv;

	ck_assert_ptr_null(timeout_tv(TIMEOUT_NONE, &tv));
	for (size_t i = 0; i < sizeof(tvs) / sizeof(tvs[0]); i++) {
		memset(&tv, 0xff, sizeof(tv));
		ck_assert_ptr_eq(timeout_tv(tvs[i].us, &tv), &tv);
		ck_assert_msg(tv.tv_sec == tvs[i].sec &&
		    tv.tv_usec == tvs[i].usec, "timeout_tv(%lld): expected "
		    "{%ld, %ld}, got {%ld, %ld}", (long long)tvs[i].us,
		    tvs[i].sec, tvs[i].usec, (long)tv.tv_sec,
		    (long)tv.tv_usec);
	}
}
END_TEST

static Suite *
timeout_suite(void)
{
	Suite *s = suite_create("timeout");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_good, 0, NELEM(good));
	tcase_add_loop_test(tc, test_parse_bad, 0, NELEM(bad));
	tcase_add_test(tc, test_parse_zero_says_none);
	tcase_add_loop_test(tc, test_parse_tiny_and_huge, 0, NELEM(tiny_huge));
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_format, 0, NELEM(formats));
	tcase_add_loop_test(tc, test_round_trip, 0, NELEM(good));
	tcase_add_test(tc, test_round_trip_all);
	tcase_add_test(tc, test_tv);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(timeout_suite());
}
