/* timeout.c (fuzz): settimeout-style values.  What parses is none or
 * 1 us .. TIMEOUT_MAX_S, within a microsecond of the number written
 * (rounded up), and prints (timeout_format) to text that fits
 * TIMEOUT_STRLEN and parses to the same value, which prints the same
 * again; what is refused says why. */
#include <math.h>

#include "fuzz.h"
#include "timeout.h"

#define ERRLEN	256

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERRLEN] = "", text[2 * TIMEOUT_STRLEN], again[2 * TIMEOUT_STRLEN];
	char *in = fuzz_cstr(data, size);
	timeout_us t, t2;
	double us;

	if (in == NULL)
		return 0;
	if (timeout_parse(in, &t, err, sizeof(err)) != 0) {
		FUZZ_CHECK_ERR(err, sizeof(err), in);
		free(in);
		return 0;
	}
	if (t != TIMEOUT_NONE) {
		FUZZ_CHECK(t >= 1 && t <= TIMEOUT_MAX_S * INT64_C(1000000),
		    "'%s' parses to %lld us, out of range", in, (long long)t);
		/* strtod is the reference for the number written. */
		us = strtod(in, NULL) * 1e6;
		FUZZ_CHECK(fabs((double)t - us) <= 1 + us * 1e-12, "'%s' "
		    "parses to %lld us, more than 1 us from %.17g", in,
		    (long long)t, us);
	}
	timeout_format(t, text, sizeof(text));
	FUZZ_CHECK(strlen(text) < TIMEOUT_STRLEN, "'%s' prints as '%s', "
	    "longer than TIMEOUT_STRLEN", in, text);
	err[0] = '\0';
	FUZZ_CHECK(timeout_parse(text, &t2, err, sizeof(err)) == 0, "'%s' "
	    "prints as '%s', which is refused: %s", in, text, err);
	FUZZ_CHECK(t2 == t, "'%s' is %lld us, prints as '%s', which is %lld "
	    "us", in, (long long)t, text, (long long)t2);
	timeout_format(t2, again, sizeof(again));
	FUZZ_CHECK(strcmp(text, again) == 0, "'%s' prints as '%s', then as "
	    "'%s'", in, text, again);
	free(in);
	return 0;
}
