/* upper.c (fuzz): the transform.  The byte-at-a-time model
 * (upper_copy_scalar) maps exactly a-z to A-Z; upper_copy (a word at a
 * time) equals it at every source offset 0..15 with every length up to 64
 * and the whole rest, copying (to a differently misaligned destination)
 * and in place, and writes no byte outside the span.  Under ASan the
 * bytes past each span are poisoned, so a word read or written beyond it
 * is reported. */
#include <sanitizer/asan_interface.h>

#include "fuzz.h"
#include "upper.h"

#define CANARY	0xa5

/* The first byte where got and want differ, as a message. */
static void
fuzz_upper_same(const unsigned char *got, const unsigned char *want,
    const unsigned char *in, size_t n, size_t off, const char *how)
{
	size_t i = 0;

	if (memcmp(got, want, n) == 0)
		return;
	while (got[i] == want[i])
		i++;
	FUZZ_CHECK(0, "%s, offset %zu, length %zu: byte %zu (0x%02x) became "
	    "0x%02x, not 0x%02x", how, off, n, i, in[i], got[i], want[i]);
}

/* in[0..n) into out[0..n); in_tail and out_tail bytes of each buffer lie
 * beyond, poisoned meanwhile; want is the model's answer. */
static void
fuzz_upper_span(unsigned char *in, unsigned char *out,
    const unsigned char *want, size_t n, size_t in_tail, size_t out_tail,
    size_t off)
{
	ASAN_POISON_MEMORY_REGION(in + n, in_tail);
	ASAN_POISON_MEMORY_REGION(out + n, out_tail);
	upper_copy(out, in, n);
	fuzz_upper_same(out, want, in, n, off, "copying");
	ASAN_UNPOISON_MEMORY_REGION(out + n, out_tail);
	for (size_t i = n; i < n + out_tail && i < n + 16; i++)
		FUZZ_CHECK(out[i] == CANARY, "offset %zu, length %zu: wrote "
		    "byte %zu, past the end", off, n, i);
	memset(out, CANARY, n);
	upper_copy(in, in, n);
	fuzz_upper_same(in, want, in, n, off, "in place");
	ASAN_UNPOISON_MEMORY_REGION(in + n, in_tail);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 16 spare bytes in front of the destination, for its own
	 * misalignment; one after the source, so no malloc is of 0. */
	unsigned char *src = malloc(size + 1), *dst = malloc(size + 16);
	unsigned char *model = malloc(size + 1);

	FUZZ_CHECK(src != NULL && dst != NULL && model != NULL, "out of "
	    "memory for %zu bytes", size);
	upper_copy_scalar(model, data, size);
	for (size_t i = 0; i < size; i++) {
		unsigned char c = data[i];
		FUZZ_CHECK(model[i] == (c >= 'a' && c <= 'z' ? c - ('a' - 'A') :
		    c), "the model maps 0x%02x to 0x%02x", c, model[i]);
	}
	memset(dst, CANARY, size + 16);
	for (size_t off = 0; off < 16 && off <= size; off++) {
		size_t rest = size - off, doff = off * 5 % 16;

		for (size_t n = 0; n <= rest; n = n < 64 ? n + 1 :
		    n < rest ? rest : rest + 1) {
			memcpy(src + off, data + off, n);
			fuzz_upper_span(src + off, dst + doff, model + off, n,
			    rest - n + 1, size + 16 - doff - n, off);
		}
	}
	free(src);
	free(dst);
	free(model);
	return 0;
}
