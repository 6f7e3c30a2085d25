/* check_upper.c: upper_copy against the definition of the transform. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upper.h"
#include "check_main.h"

#define MAX_SPAN	300
#define MAX_OFFSET	16
#define GUARD		32
#define SENTINEL	0xA5

/* The definition, written independently of upper.h: a-z to A-Z, every
 * other byte (NUL, '@', '[', '`', '{', 0x80-0xFF, ...) to itself. */
static unsigned char
expect_byte(unsigned char c)
{
	if (c >= 0x61 && c <= 0x7A)
		return (unsigned char)(c - 0x61 + 0x41);
	return c;
}

/* xorshift64: the same bytes on every run and every libc. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void
fill_random(unsigned char *buf, size_t n, uint64_t seed)
{
	uint64_t state = seed;

	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(next_random(&state) >> 56);
}

/* Every byte of out must be the definition applied to in.  One assertion
 * per span, not per byte: each ck_assert marks a point through a pipe. */
static void
assert_defined(const unsigned char *out, const unsigned char *in, size_t n,
    const char *what)
{
	size_t i = 0;

	while (i < n && out[i] == expect_byte(in[i]))
		i++;
	ck_assert_msg(i == n, "%s: n=%zu, byte %zu: input 0x%02x, expected "
	    "0x%02x, got 0x%02x", what, n, i, in[i], expect_byte(in[i]),
	    out[i]);
}

static void
assert_untouched(const unsigned char *p, size_t n, const char *where,
    size_t len, size_t off)
{
	size_t i = 0;

	while (i < n && p[i] == SENTINEL)
		i++;
	ck_assert_msg(i == n, "wrote %s the destination (n=%zu, offset %zu): "
	    "guard byte %zu is 0x%02x, expected 0x%02x", where, len, off, i,
	    p[i], SENTINEL);
}

/* Loop: _i is the byte value; alone, and in every lane of a word. */
START_TEST(test_every_byte)
{
	static const unsigned char fillers[] = { 0x00, 'a', 'z', '@', '[',
	    '`', '{', 0x7F, 0x80, 0xE1, 0xFF };
	unsigned char c = (unsigned char)_i, in[16], out[16];

	ck_assert_msg(upper_byte(c) == expect_byte(c), "upper_byte(0x%02x): "
	    "expected 0x%02x, got 0x%02x", c, expect_byte(c), upper_byte(c));
	for (size_t f = 0; f < sizeof(fillers); f++) {
		for (size_t lane = 0; lane < sizeof(in); lane++) {
			memset(in, fillers[f], sizeof(in));
			in[lane] = c;
			upper_copy(out, in, sizeof(in));
			assert_defined(out, in, sizeof(in), "upper_copy");
			upper_copy_scalar(out, in, sizeof(in));
			assert_defined(out, in, sizeof(in), "scalar");
		}
	}
}
END_TEST

START_TEST(test_boundaries)
{
	static const unsigned char in[] =
	    "@AZ[`az{\x00\x7f\x80\xc1\xe1\xfa\xff" "@az{`AZ[";
	static const unsigned char want[] =
	    "@AZ[`AZ{\x00\x7f\x80\xc1\xe1\xfa\xff" "@AZ{`AZ[";
	unsigned char out[sizeof(in)];

	upper_copy(out, in, sizeof(in));
	ck_assert_mem_eq(out, want, sizeof(in));
}
END_TEST

/* One span: src at offset soff of an exact-size allocation (so that
 * AddressSanitizer catches an over-read), dst inside guard bytes. */
static void
check_span(size_t soff, size_t doff, size_t n, const unsigned char *pattern)
{
	unsigned char dst[GUARD + MAX_OFFSET + MAX_SPAN + GUARD];
	unsigned char ref[MAX_SPAN];
	unsigned char *src, *s, *d = dst + GUARD + doff;

	src = malloc(soff + n > 0 ? soff + n : 1);
	ck_assert_ptr_nonnull(src);
	s = src + soff;
	memcpy(s, pattern, n);
	memset(dst, SENTINEL, sizeof(dst));
	upper_copy(d, s, n);
	upper_copy_scalar(ref, s, n);
	ck_assert_msg(memcmp(d, ref, n) == 0, "upper_copy differs from "
	    "upper_copy_scalar (n=%zu, src offset %zu, dst offset %zu)",
	    n, soff, doff);
	assert_defined(d, s, n, "upper_copy span");
	assert_untouched(dst, GUARD + doff, "before", n, doff);
	assert_untouched(d + n, sizeof(dst) - (GUARD + doff + n), "after",
	    n, doff);
	free(src);
}

/* Loop: _i is the source alignment; every dst alignment, every length. */
START_TEST(test_spans)
{
	unsigned char pattern[MAX_SPAN];

	/* Mostly letters of both cases, with the neighbours and high bytes. */
	fill_random(pattern, sizeof(pattern), 0x5eed0000u + (uint64_t)_i);
	for (size_t i = 0; i < sizeof(pattern); i++)
		if (pattern[i] & 1)
			pattern[i] = (unsigned char)(0x40 + (pattern[i] >> 3) %
			    0x40);
	for (size_t doff = 0; doff < MAX_OFFSET; doff++)
		for (size_t n = 0; n <= MAX_SPAN; n++)
			check_span((size_t)_i, doff, n, pattern);
}
END_TEST

START_TEST(test_in_place)
{
	unsigned char buf[MAX_SPAN + MAX_OFFSET], orig[sizeof(buf)];

	for (size_t off = 0; off < MAX_OFFSET; off++) {
		for (size_t n = 0; n <= MAX_SPAN; n += 7) {
			fill_random(orig, sizeof(orig), 77 + n);
			memcpy(buf, orig, sizeof(buf));
			upper_copy(buf + off, buf + off, n);
			assert_defined(buf + off, orig + off, n, "in place");
			ck_assert_msg(memcmp(buf, orig, off) == 0 &&
			    memcmp(buf + off + n, orig + off + n,
			    sizeof(buf) - off - n) == 0, "in place (n=%zu, "
			    "offset %zu) changed bytes outside the span", n,
			    off);
		}
	}
}
END_TEST

static const size_t large_sizes[] = { 4096, 4099, 65536, 65543,
    1024 * 1024, 1024 * 1024 + 5 };

/* Loop: _i indexes large_sizes. */
START_TEST(test_random_large)
{
	size_t n = large_sizes[_i];
	unsigned char *in = malloc(n), *out = malloc(n), *ref = malloc(n);

	ck_assert(in != NULL && out != NULL && ref != NULL);
	fill_random(in, n, 0xC0FFEEu);
	upper_copy(out, in, n);
	upper_copy_scalar(ref, in, n);
	ck_assert_msg(memcmp(out, ref, n) == 0, "upper_copy differs from "
	    "upper_copy_scalar on %zu random bytes", n);
	assert_defined(out, in, n, "random");
	upper_copy(in, in, n);
	ck_assert_msg(memcmp(in, ref, n) == 0, "in-place upper_copy "
	    "differs on %zu random bytes", n);
	free(in);
	free(out);
	free(ref);
}
END_TEST

static Suite *
upper_suite(void)
{
	Suite *s = suite_create("upper");
	TCase *tc;

	tc = tcase_create("bytes");
	tcase_add_loop_test(tc, test_every_byte, 0, 256);
	tcase_add_test(tc, test_boundaries);
	suite_add_tcase(s, tc);

	tc = tcase_create("spans");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_spans, 0, MAX_OFFSET);
	tcase_add_test(tc, test_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_random_large, 0,
	    (int)(sizeof(large_sizes) / sizeof(large_sizes[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(upper_suite());
}
