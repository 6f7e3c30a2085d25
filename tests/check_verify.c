/* check_verify.c: the payload pool and the byte-exact reply check. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upper.h"
#include "verify.h"
#include "check_main.h"

#define SIZE	64
#define MSGS	10
#define KEY	((UINT64_C(7) << 32) | 3)

static struct verify_pool pool;
static unsigned char stream[SIZE * MSGS];	/* the correct replies */

static void
setup(void)
{
	ck_assert_int_eq(verify_pool_init(&pool, SIZE, 12345), 0);
	for (uint64_t n = 0; n < MSGS; n++)
		upper_copy_scalar(stream + n * SIZE,
		    verify_payload(&pool, KEY, n), SIZE);
}

static void
teardown(void)
{
	verify_pool_free(&pool);
}

/* A verify that owes the replies to MSGS messages. */
static void
owing(struct verify *v)
{
	verify_init(v, &pool, KEY);
	verify_sent(v, MSGS);
	ck_assert_uint_eq(verify_owed(v), SIZE * MSGS);
}

START_TEST(test_pool_is_mixed_and_expected_is_upper)
{
	for (size_t i = 0; i < pool.len; i++)
		ck_assert_uint_eq(pool.want[i], upper_byte(pool.sent[i]));
	/* Every message has lowercase (what the server must change),
	 * uppercase and other bytes (what it must leave alone). */
	for (uint64_t n = 0; n < 1000; n++) {
		const unsigned char *m = verify_payload(&pool, KEY, n);
		int lower = 0, upper = 0, other = 0;

		ck_assert(m >= pool.sent && m + SIZE <= pool.sent + pool.len);
		for (int i = 0; i < SIZE; i++) {
			if (m[i] >= 'a' && m[i] <= 'z')
				lower++;
			else if (m[i] >= 'A' && m[i] <= 'Z')
				upper++;
			else
				other++;
		}
		ck_assert_msg(lower > 0 && upper > 0 && other > 0,
		    "message %llu: lower %d upper %d other %d",
		    (unsigned long long)n, lower, upper, other);
	}
}
END_TEST

START_TEST(test_payloads_deterministic_and_varied)
{
	struct verify_pool other;
	int same = 0;

	ck_assert_uint_eq(verify_offset(&pool, KEY, 5),
	    verify_offset(&pool, KEY, 5));
	for (uint64_t n = 0; n < 1000; n++) {
		ck_assert_uint_lt(verify_offset(&pool, KEY, n), VERIFY_STARTS);
		if (verify_offset(&pool, KEY, n) ==
		    verify_offset(&pool, KEY, n + 1))
			same++;
	}
	ck_assert_int_le(same, 2);
	ck_assert_uint_ne(verify_offset(&pool, 1, 0), verify_offset(&pool, 2, 0));
	/* The same seed gives the same bytes. */
	ck_assert_int_eq(verify_pool_init(&other, SIZE, 12345), 0);
	ck_assert_int_eq(memcmp(other.sent, pool.sent, pool.len), 0);
	verify_pool_free(&other);
}
END_TEST

START_TEST(test_exact_reply_in_one_read)
{
	struct verify v;

	owing(&v);
	ck_assert_int_eq(verify_input(&v, stream, sizeof(stream)), 0);
	ck_assert_uint_eq(v.done, MSGS);
	ck_assert_uint_eq(v.mismatches, 0);
	ck_assert_uint_eq(verify_owed(&v), 0);
	ck_assert(!verify_partial(&v));
}
END_TEST

/* Reads cut at every kind of point: byte by byte, odd sizes that
 * straddle reply boundaries, exactly one reply, random. */
static size_t
cut(int how, size_t done)
{
	switch (how) {
	case 0:
		return 1;
	case 1:
		return 7;
	case 2:
		return SIZE - 1;
	case 3:
		return SIZE;
	case 4:
		return SIZE + 1;
	default:
		return 1 + (done * 2654435761u >> 7) % (2 * SIZE);
	}
}

START_TEST(test_split_reads)
{
	struct verify v;
	size_t off = 0;

	owing(&v);
	while (off < sizeof(stream)) {
		size_t n = cut(_i, off);
		uint64_t before = v.done;

		if (n > sizeof(stream) - off)
			n = sizeof(stream) - off;
		ck_assert_int_eq(verify_input(&v, stream + off, n), 0);
		off += n;
		/* Completed replies are exactly the whole ones received. */
		ck_assert_uint_eq(v.done, off / SIZE);
		ck_assert_uint_eq(v.got, off % SIZE);
		ck_assert(v.done >= before);
		ck_assert_uint_eq(verify_owed(&v), sizeof(stream) - off);
	}
	ck_assert_uint_eq(v.mismatches, 0);
	ck_assert_uint_eq(v.done, MSGS);
}
END_TEST

/* Wrong bytes at the stream's edges, at reply boundaries, inside. */
static const size_t bad_at[] = {
	0, 1, SIZE - 1, SIZE, 2 * SIZE + 17, SIZE * MSGS - 1,
};

START_TEST(test_wrong_byte_found_at_its_offset)
{
	unsigned char bad[sizeof(stream)];
	size_t pos = bad_at[_i % 6];
	int split = _i / 6;		/* 0: one read; 1: 5-byte reads */
	struct verify v;

	memcpy(bad, stream, sizeof(bad));
	bad[pos] ^= 0x20;	/* the lowercase of a letter, or another byte */
	owing(&v);
	for (size_t off = 0; off < sizeof(bad);) {
		size_t n = split ? 5 : sizeof(bad);
		if (n > sizeof(bad) - off)
			n = sizeof(bad) - off;
		ck_assert_int_eq(verify_input(&v, bad + off, n), 0);
		off += n;
	}
	ck_assert_uint_eq(v.done, MSGS);
	ck_assert_uint_eq(v.mismatches, 1);
	ck_assert_uint_eq(v.first.offset, pos);
	ck_assert_uint_eq(v.first.msg, pos / SIZE);
	ck_assert_uint_eq(v.first.at, pos % SIZE);
	ck_assert_uint_eq(v.first.got, stream[pos] ^ 0x20);
	ck_assert_uint_eq(v.first.want, stream[pos]);
}
END_TEST

START_TEST(test_mismatches_count_replies_first_kept)
{
	unsigned char bad[sizeof(stream)];
	struct verify v;

	memcpy(bad, stream, sizeof(bad));
	/* Two bytes in reply 3 count once; one in reply 7 once more. */
	bad[3 * SIZE + 5] ^= 1;
	bad[3 * SIZE + 9] ^= 1;
	bad[7 * SIZE] ^= 1;
	owing(&v);
	ck_assert_int_eq(verify_input(&v, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(v.mismatches, 2);
	ck_assert_uint_eq(v.first.offset, 3 * SIZE + 5);
	ck_assert_uint_eq(v.first.msg, 3);
	ck_assert_uint_eq(v.first.at, 5);
}
END_TEST

START_TEST(test_short_reply)
{
	struct verify v;

	owing(&v);
	ck_assert_int_eq(verify_input(&v, stream, sizeof(stream) - 10), 0);
	ck_assert_uint_eq(v.done, MSGS - 1);
	ck_assert(verify_partial(&v));
	ck_assert_uint_eq(verify_owed(&v), 10);
	ck_assert_uint_eq(v.mismatches, 0);
	/* The rest completes it. */
	ck_assert_int_eq(verify_input(&v, stream + sizeof(stream) - 10, 10), 0);
	ck_assert_uint_eq(v.done, MSGS);
	ck_assert(!verify_partial(&v));
}
END_TEST

START_TEST(test_missing_whole_replies)
{
	struct verify v;

	owing(&v);
	ck_assert_int_eq(verify_input(&v, stream, 4 * SIZE), 0);
	ck_assert_uint_eq(v.done, 4);
	ck_assert(!verify_partial(&v));
	ck_assert_uint_eq(verify_owed(&v), (MSGS - 4) * SIZE);
}
END_TEST

START_TEST(test_extra_bytes)
{
	unsigned char more[sizeof(stream) + 3];
	struct verify v;

	memcpy(more, stream, sizeof(stream));
	memcpy(more + sizeof(stream), "XYZ", 3);
	more[SIZE + 2] ^= 0x20;
	owing(&v);
	/* The owed prefix is still checked; the surplus is reported. */
	ck_assert_int_eq(verify_input(&v, more, sizeof(more)), -1);
	ck_assert_uint_eq(v.done, MSGS);
	ck_assert_uint_eq(v.mismatches, 1);
	ck_assert_uint_eq(v.first.offset, SIZE + 2);

	/* Nothing sent: any byte is extra. */
	verify_init(&v, &pool, KEY);
	ck_assert_int_eq(verify_input(&v, stream, 1), -1);
	ck_assert_uint_eq(v.done, 0);
	ck_assert_int_eq(verify_input(&v, stream, 0), 0);
}
END_TEST

/* Replies arriving while more messages go out, as in a pipeline. */
START_TEST(test_interleaved_sends)
{
	struct verify v;

	verify_init(&v, &pool, KEY);
	verify_sent(&v, 1);
	ck_assert_int_eq(verify_input(&v, stream, SIZE / 2), 0);
	verify_sent(&v, 2);
	ck_assert_int_eq(verify_input(&v, stream + SIZE / 2, 2 * SIZE), 0);
	ck_assert_uint_eq(v.done, 2);
	ck_assert_uint_eq(verify_owed(&v), SIZE / 2);
	ck_assert_int_eq(verify_input(&v, stream + SIZE / 2 + 2 * SIZE, SIZE),
	    -1);
	ck_assert_uint_eq(v.done, 3);
	ck_assert_uint_eq(v.mismatches, 0);
}
END_TEST

/* Messages bigger than a read, and a replay of an older reply. */
START_TEST(test_large_messages_and_replayed_reply)
{
	struct verify_pool big;
	struct verify v;
	size_t size = 100000;
	unsigned char *r = malloc(2 * size);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(verify_pool_init(&big, size, 9), 0);
	upper_copy(r, verify_payload(&big, 1, 0), size);
	memcpy(r + size, r, size);	/* reply 0 again instead of reply 1 */
	verify_init(&v, &big, 1);
	verify_sent(&v, 2);
	for (size_t off = 0; off < 2 * size; off += 4096) {
		size_t n = 2 * size - off < 4096 ? 2 * size - off : 4096;
		ck_assert_int_eq(verify_input(&v, r + off, n), 0);
	}
	ck_assert_uint_eq(v.done, 2);
	ck_assert_uint_eq(v.mismatches, 1);
	ck_assert_uint_eq(v.first.msg, 1);
	ck_assert_uint_ge(v.first.offset, size);
	verify_pool_free(&big);
	free(r);
}
END_TEST

/* Sequence numbers: every value comes back, printed as %016llu would. */
START_TEST(test_seq_round_trip)
{
	static const uint64_t vals[] = {
		0, 1, 9, 10, 99, 100, 12345678, 99999999, 100000000,
		1234567890123456ULL, 9999999999999999ULL,
	};
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]) + 10000; i++) {
		unsigned char p[VERIFY_SEQ_DIGITS];
		char want[VERIFY_SEQ_DIGITS + 1];
		uint64_t v, got = UINT64_MAX;

		if (i < sizeof(vals) / sizeof(vals[0]))
			v = vals[i];
		else {
			x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
			v = (x * 2685821657736338717ULL) % 10000000000000000ULL;
		}
		verify_seq_put(p, v);
		snprintf(want, sizeof(want), "%016llu", (unsigned long long)v);
		ck_assert_msg(memcmp(p, want, VERIFY_SEQ_DIGITS) == 0,
		    "%llu printed as %.16s", (unsigned long long)v, p);
		ck_assert_int_eq(verify_seq_get(p, &got), 0);
		ck_assert_uint_eq(got, v);
		/* The transform leaves a sequence number alone. */
		upper_copy_scalar(p, p, sizeof(p));
		ck_assert_int_eq(memcmp(p, want, VERIFY_SEQ_DIGITS), 0);
	}
}
END_TEST

/* Any byte that is not a digit, anywhere in the number, is refused:
 * the neighbours of '0' and '9', letters, NUL, and bytes whose +6 carries
 * into the next one. */
START_TEST(test_seq_refuses_non_digits)
{
	static const unsigned char bad[] = {
		'/', ':', 'a', 'A', ' ', 0, 0x30 + 0x80, 0x39 + 0x80, 0xfa, 0xff,
		0x20, 0x3f,
	};

	for (size_t k = 0; k < sizeof(bad); k++)
		for (int at = 0; at < VERIFY_SEQ_DIGITS; at++) {
			unsigned char p[VERIFY_SEQ_DIGITS];
			uint64_t got;

			verify_seq_put(p, 1234567890123456ULL);
			p[at] = bad[k];
			ck_assert_msg(verify_seq_get(p, &got) != 0,
			    "byte 0x%02x at %d taken as a digit", bad[k], at);
		}
}
END_TEST

static Suite *
verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("core");

	/* Generous: under ASan on a busy machine these run many times slower. */
	tcase_set_timeout(tc, 60);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pool_is_mixed_and_expected_is_upper);
	tcase_add_test(tc, test_payloads_deterministic_and_varied);
	tcase_add_test(tc, test_exact_reply_in_one_read);
	tcase_add_loop_test(tc, test_split_reads, 0, 6);
	tcase_add_loop_test(tc, test_wrong_byte_found_at_its_offset, 0, 12);
	tcase_add_test(tc, test_mismatches_count_replies_first_kept);
	tcase_add_test(tc, test_short_reply);
	tcase_add_test(tc, test_missing_whole_replies);
	tcase_add_test(tc, test_extra_bytes);
	tcase_add_test(tc, test_interleaved_sends);
	tcase_add_test(tc, test_large_messages_and_replayed_reply);
	tcase_add_test(tc, test_seq_round_trip);
	tcase_add_test(tc, test_seq_refuses_non_digits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(verify_suite());
}
