/* check_json.c: the JSON reader: values by path, escapes, and every kind
 * of malformed input refused with the byte it stopped at. */
#include <check.h>
#include <string.h>

#include "json.h"
#include "check_main.h"

static struct json_doc *
parse(const char *s, char *err)
{
	err[0] = '\0';
	return json_parse(s, strlen(s), err, 128);
}

START_TEST(test_values_by_path)
{
	char err[128];
	struct json_doc *d = parse(" {\"a\":1,\"b\":{\"c\":-2.5e3,\"d\":null,"
	    "\"e\":true,\"f\":false},\"g\":\"x\\\"\\\\\\/\\n\\u0041\\u00e9\","
	    "\"h\":[1,{\"i\":2}],\"big\":18446744073709551615} ", err);
	double v;
	uint64_t u;
	size_t len;
	int b;

	ck_assert_msg(d != NULL, "refused: %s", err);
	ck_assert_int_eq(json_uint(d, "a", &u), 0);
	ck_assert_uint_eq(u, 1);
	ck_assert_int_eq(json_number(d, "b.c", &v), 0);
	ck_assert(v == -2500);
	ck_assert_int_ne(json_uint(d, "b.c", &u), 0);	/* not a count */
	ck_assert_int_eq(json_type(d, "b.d"), JSON_NULL);
	ck_assert_int_eq(json_bool(d, "b.e", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(json_bool(d, "b.f", &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(json_type(d, "b"), JSON_OBJECT);
	ck_assert_str_eq(json_string(d, "g", &len), "x\"\\/\nA\xc3\xa9");
	ck_assert_uint_eq(len, 8);
	ck_assert_int_eq(json_uint(d, "h[1].i", &u), 0);
	ck_assert_uint_eq(u, 2);
	ck_assert_int_eq(json_uint(d, "big", &u), 0);
	ck_assert_uint_eq(u, UINT64_MAX);
	ck_assert_int_eq(json_type(d, "nope"), JSON_MISSING);
	ck_assert_ptr_null(json_string(d, "a", NULL));
	json_free(d);
}
END_TEST

static const char *const bad[] = {
	"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "[1,2",
	"\"unterminated", "\"bad \\q escape\"", "\"\\u12g4\"", "nul",
	"{\"a\":1} x", "1.2.3x", "-", "+1", "\"ctl \x01\"",
	"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
};

START_TEST(test_malformed_refused)
{
	char err[128];

	ck_assert_ptr_null(parse(bad[_i], err));
	ck_assert_msg(strncmp(err, "byte ", 5) == 0, "'%s': message '%s'",
	    bad[_i], err);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("core");

	/* Generous: under ASan on a busy machine these run many times slower. */
	tcase_set_timeout(tc, 60);

	tcase_add_test(tc, test_values_by_path);
	tcase_add_loop_test(tc, test_malformed_refused, 0,
	    sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(json_suite());
}
