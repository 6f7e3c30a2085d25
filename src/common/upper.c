/* upper.c: ASCII a-z to A-Z over a byte span, eight bytes at a time. */
#include <stdint.h>
#include <string.h>

#include "upper.h"

void
upper_copy_scalar(unsigned char *dst, const unsigned char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = upper_byte(src[i]);
}

/*
 * SWAR: for each byte b of a 64-bit word, compute whether 'a' <= b <= 'z'
 * without carries crossing byte lanes, and clear bit 5 of exactly those
 * bytes.  Bytes >= 0x80 are masked out first so that UTF-8 and binary data
 * pass through unchanged.  memcpy keeps the loads and stores free of
 * alignment and aliasing assumptions; compilers turn them into plain moves.
 */
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

static inline uint64_t
upper_word(uint64_t w)
{
	uint64_t ascii = ~w & HIGHS;			/* 0x80 where b < 0x80 */
	uint64_t low7 = w & ~HIGHS;
	uint64_t ge_a = low7 + ONES * (0x80 - 'a');	/* bit 7 set: b >= 'a' */
	uint64_t gt_z = low7 + ONES * (0x80 - 'z' - 1);	/* bit 7 set: b > 'z' */
	uint64_t is_lower = ge_a & ~gt_z & ascii;
	return w ^ (is_lower >> 2);			/* 0x80 >> 2 == 0x20 */
}

void
upper_copy(unsigned char *dst, const unsigned char *src, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, src + i, 8);
		w = upper_word(w);
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = upper_byte(src[i]);
}
