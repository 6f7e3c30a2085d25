/* check_hdr.c: HdrHistogram's compressed encoding: what is written reads
 * back as the same counts, and damaged text is refused with a reason. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "hist.h"
#include "check_main.h"

static void
same_counts(const struct hist *a, const struct hist *b)
{
	ck_assert_uint_eq(hist_count(a), hist_count(b));
	for (size_t i = 0; i < hist_nbuckets(); i++)
		ck_assert_msg(hist_bucket_count(a, i) == hist_bucket_count(b, i),
		    "bucket %zu: %llu, read back %llu", i,
		    (unsigned long long)hist_bucket_count(a, i),
		    (unsigned long long)hist_bucket_count(b, i));
}

START_TEST(test_round_trip)
{
	struct hist *h = hist_new(), *back = hist_new();
	char *text, err[128];
	uint64_t x = 88172645463325252ULL;

	ck_assert(h != NULL && back != NULL);
	/* Empty, then values over every magnitude, repeats, and the top. */
	for (int round = 0; round < 2; round++) {
		text = hdr_encode(h);
		ck_assert_ptr_nonnull(text);
		ck_assert_msg(strncmp(text, "HISTFAAA", 8) == 0, "%s", text);
		hist_reset(back);
		ck_assert_msg(hdr_decode(text, strlen(text), back, err,
		    sizeof(err)) == 0, "%s", err);
		same_counts(h, back);
		free(text);
		for (int i = 0; i < 20000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			hist_record(h, x >> (x % 64));
		}
		for (int i = 0; i < 1000; i++)
			hist_record(h, 777);
		hist_record(h, HIST_MAX);
		hist_record(h, 0);
	}
	/* Decoding adds: twice is twice the counts. */
	text = hdr_encode(h);
	hist_reset(back);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(hdr_decode(text, strlen(text), back, err,
		    sizeof(err)), 0);
	ck_assert_uint_eq(hist_count(back), 2 * hist_count(h));
	ck_assert_uint_eq(hist_bucket_count(back, hist_bucket(777)),
	    2 * hist_bucket_count(h, hist_bucket(777)));
	free(text);
	hist_free(h);
	hist_free(back);
}
END_TEST

START_TEST(test_damage_refused)
{
	struct hist *h = hist_new(), *back = hist_new();
	char *text, *bad, err[128];
	size_t len;

	ck_assert(h != NULL && back != NULL);
	for (uint64_t v = 1; v < 1000000; v *= 3)
		hist_record(h, v);
	text = hdr_encode(h);
	len = strlen(text);
	bad = strdup(text);
	ck_assert_ptr_nonnull(bad);
	/* Not base64, cut short, a byte of the zlib stream changed, a bad
	 * cookie: each refused, none read half-way. */
	ck_assert_int_ne(hdr_decode("HIST*AAA", 8, back, err, sizeof(err)), 0);
	ck_assert_int_ne(hdr_decode(text, len - 8, back, err, sizeof(err)), 0);
	bad[len / 2] = bad[len / 2] == 'A' ? 'B' : 'A';
	ck_assert_int_ne(hdr_decode(bad, len, back, err, sizeof(err)), 0);
	memcpy(bad, text, len);
	bad[1] = 'J';
	ck_assert_int_ne(hdr_decode(bad, len, back, err, sizeof(err)), 0);
	ck_assert(err[0] != '\0');
	ck_assert_uint_eq(hist_count(back), 0);
	free(bad);
	free(text);
	hist_free(h);
	hist_free(back);
}
END_TEST

static Suite *
hdr_suite(void)
{
	Suite *s = suite_create("hdr");
	TCase *tc = tcase_create("core");

	/* Generous: under ASan on a busy machine these run many times slower. */
	tcase_set_timeout(tc, 60);

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_damage_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(hdr_suite());
}
