/* check_procinfo.c: the process collector's parse of /proc/PID/stat, and
 * a read of this process. */
#include <check.h>
#include <string.h>

#include "procinfo.h"
#include "check_main.h"

/* A real line (tpgid -1, no terminal), its command name holding ") (". */
static const char stat_line[] =
    "4242 (up) (cased) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
    "250 150 0 0 20 0 3 0 12345 104857600 2560 18446744073709551615 "
    "1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

START_TEST(test_parse_stat)
{
	struct procinfo p;
	char err[256] = "";

	ck_assert_msg(procinfo_parse_stat(stat_line, strlen(stat_line), 100,
	    4096, 1700000000, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert(p.cpu_seconds > 3.99 && p.cpu_seconds < 4.01);
	ck_assert(p.start_time > 1700000123.44 && p.start_time < 1700000123.46);
	ck_assert_uint_eq(p.vsize_bytes, 104857600);
	ck_assert_uint_eq(p.rss_bytes, 2560 * 4096);
}
END_TEST

static const struct {
	const char	*text;
	const char	*why;
} bad_stat[] = {
	{ "4242 up S 1", "no command name" },
	{ "4242 (up)", "no state" },
	{ "4242 (up) S 1 2 3", "field 7 missing" },
	{ "4242 (up) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 150", "field 14 is "
	    "not a number" },
	{ "4242 (up) S 1 4242 4242 0 -1 4194560 900 0 0 0 -250 150 0 0 20 0 3 "
	    "0 12345 104857600 2560", "negative" },
};

/* Loop: _i indexes bad_stat[]. */
START_TEST(test_parse_stat_bad)
{
	struct procinfo p;
	char err[256] = "";

	ck_assert_int_eq(procinfo_parse_stat(bad_stat[_i].text,
	    strlen(bad_stat[_i].text), 100, 4096, 0, &p, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_stat[_i].why) != NULL, "expected \"%s\", "
	    "got \"%s\"", bad_stat[_i].why, err);
}
END_TEST

START_TEST(test_read_self)
{
	struct procinfo p;
	char err[256] = "";

	ck_assert_msg(procinfo_read(&p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ge(p.open_fds, 3);
	ck_assert(p.max_fds == -1 || p.max_fds >= p.open_fds);
	ck_assert_uint_gt(p.rss_bytes, 0);
	ck_assert_uint_ge(p.vsize_bytes, p.rss_bytes);
	ck_assert(p.start_time > 1e9);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("procinfo");
	TCase *tc = tcase_create("procinfo");

	tcase_add_test(tc, test_parse_stat);
	tcase_add_loop_test(tc, test_parse_stat_bad, 0,
	    (int)(sizeof(bad_stat) / sizeof(bad_stat[0])));
	tcase_add_test(tc, test_read_self);
	suite_add_tcase(s, tc);
	return check_run(s);
}
