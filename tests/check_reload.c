/* check_reload.c: what a reload changes, worked out from two settings. */
#include <check.h>
#include <string.h>

#include "reload.h"
#include "check_main.h"

static void
set(struct settings *cfg, const char *key, const char *value)
{
	char err[SETTINGS_ERRLEN];

	ck_assert_msg(settings_set(cfg, key, value, err, sizeof(err)) == 0,
	    "%s = %s: %s", key, value, err);
}

START_TEST(test_no_changes)
{
	struct settings a, b;
	char buf[512];

	settings_defaults(&a);
	settings_defaults(&b);
	ck_assert_str_eq(reload_changed_keys(&a, &b, buf, sizeof(buf)), "");
}
END_TEST

START_TEST(test_changed_keys_in_order)
{
	struct settings a, b;
	char buf[512];

	settings_defaults(&a);
	settings_defaults(&b);
	set(&b, "log_level", "debug");
	set(&b, "idle_timeout", "0.5");
	set(&b, "listen", "[::1]:9");	/* a second listener */
	ck_assert_str_eq(reload_changed_keys(&a, &b, buf, sizeof(buf)),
	    "listen, idle_timeout, log_level");
	/* The same listeners in another order are another list. */
	settings_defaults(&a);
	b = a;
	set(&a, "listen", "[::1]:9");
	b.nlisten = 0;
	set(&b, "listen", "[::1]:9");
	set(&b, "listen", "127.0.0.1:8080");
	ck_assert_str_eq(reload_changed_keys(&a, &b, buf, sizeof(buf)),
	    "listen");
	/* A listener's options are part of it. */
	a.nlisten = b.nlisten = 0;
	set(&a, "listen", "unix:/tmp/u.sock");
	set(&b, "listen", "unix:/tmp/u.sock mode=0600");
	ck_assert_str_eq(reload_changed_keys(&a, &b, buf, sizeof(buf)),
	    "listen");
}
END_TEST

START_TEST(test_fixed_keys_kept)
{
	struct settings cur, next;

	settings_defaults(&cur);
	cur.threads = 2;
	settings_defaults(&next);
	/* threads not set again (0: derive): kept silently, not a change. */
	ck_assert_int_eq(reload_keep_fixed(&cur, &next), 0);
	ck_assert_int_eq(next.threads, 2);
	set(&next, "threads", "3");
	set(&next, "user", "root");
	set(&next, "pidfile", "/tmp/x.pid");
	set(&next, "daemon", "yes");
	set(&next, "idle_timeout", "9");
	ck_assert_int_eq(reload_keep_fixed(&cur, &next), 4);
	ck_assert_int_eq(next.threads, 2);
	ck_assert_str_eq(next.user, "");
	ck_assert_str_eq(next.pidfile, "");
	ck_assert_int_eq(next.daemon, 0);
	ck_assert_int_eq(next.idle_timeout, 9000000);	/* this one may */
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_no_changes);
	tcase_add_test(tc, test_changed_keys_in_order);
	tcase_add_test(tc, test_fixed_keys_kept);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(reload_suite());
}
