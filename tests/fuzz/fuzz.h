/* fuzz.h: what every fuzz target shares: libFuzzer's entry point, a
 * property check that says what broke before it aborts, and the input as
 * a C string the way argv and config values reach the parsers. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is what libFuzzer (and replay.c) report as a crash, with the
 * input saved; the message says which property failed and how. */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz property failed: %s\n  ", #cond);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* A malloc'd NUL-terminated copy of exactly size bytes (so ASan sees a
 * read past the end), or NULL if the bytes hold a NUL, which no argv
 * entry or config value can. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s;

	if (memchr(data, '\0', size) != NULL || (s = malloc(size + 1)) == NULL)
		return NULL;
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A failed parse must say why: a non-empty, terminated message. */
#define FUZZ_CHECK_ERR(err, errlen, input) \
	FUZZ_CHECK((err)[0] != '\0' && memchr((err), '\0', (errlen)) != NULL, \
	    "input '%s': refused without a message", (input))

#endif
