/* timeout.c: parse and print settimeout-style values. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timeout.h"

int
timeout_parse(const char *s, timeout_us *t, char *err, size_t errlen)
{
	char *end;
	double secs, us;

	if (strcasecmp(s, "none") == 0) {
		*t = TIMEOUT_NONE;
		return 0;
	}
	/* strtod accepts leading space, "inf" and "nan": refuse them all. */
	if (*s == '\0' || !(*s == '.' || (*s >= '0' && *s <= '9') ||
	    *s == '-' || *s == '+')) {
		snprintf(err, errlen, "invalid timeout '%s' "
		    "(seconds greater than 0, or none)", s);
		return -1;
	}
	/* strtod also takes hex floats ("0x10" is 16): not a duration. */
	if (strpbrk(s, "xX") != NULL) {
		snprintf(err, errlen, "invalid timeout '%s' "
		    "(seconds greater than 0, or none)", s);
		return -1;
	}
	/* A value is the double strtod gives, as in Python: an underflow to
	 * a tiny positive (1e-320) is positive, one to 0 (1e-999) is 0. */
	errno = 0;
	secs = strtod(s, &end);
	if (end == s || *end != '\0' || (!isfinite(secs) && errno != ERANGE)) {
		snprintf(err, errlen, "invalid timeout '%s' "
		    "(seconds greater than 0, or none)", s);
		return -1;
	}
	if (secs <= 0) {
		/* settimeout(0) means non-blocking, not "no timeout". */
		snprintf(err, errlen, "timeout must be greater than 0, got '%s' "
		    "(use none to wait forever)", s);
		return -1;
	}
	if (secs > TIMEOUT_MAX_S) {
		snprintf(err, errlen, "timeout '%s' is too long (at most %d "
		    "seconds, or none)", s, TIMEOUT_MAX_S);
		return -1;
	}
	/* Round up so that a positive value below the resolution is 1 us,
	 * never zero, but
	 * first forgive the few ulps of binary error, which grow with the
	 * value: else "8392491.214508" would come out 1us long. */
	us = secs * 1e6;
	*t = (timeout_us)ceil(us - us * 1e-15 - 1e-6);
	if (*t < 1)
		*t = 1;
	return 0;
}

char *
timeout_format(timeout_us t, char *buf, size_t len)
{
	if (t == TIMEOUT_NONE) {
		snprintf(buf, len, "none");
		return buf;
	}
	long long whole = t / 1000000, frac = t % 1000000;
	if (frac == 0) {
		snprintf(buf, len, "%lld", whole);
		return buf;
	}
	int digits = 6;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, len, "%lld.%0*lld", whole, digits, frac);
	return buf;
}

struct timeval *
timeout_tv(timeout_us t, struct timeval *tv)
{
	if (t == TIMEOUT_NONE)
		return NULL;
	tv->tv_sec = (time_t)(t / 1000000);
	tv->tv_usec = (suseconds_t)(t % 1000000);
	return tv;
}
