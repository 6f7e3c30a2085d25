/* timeout.h: settimeout-style values: seconds with a fraction, or none. */
#ifndef TIMEOUT_H
#define TIMEOUT_H

#include <stdint.h>
#include <stddef.h>
#include <sys/time.h>

/* Microseconds; TIMEOUT_NONE waits forever, like settimeout(None). */
typedef int64_t timeout_us;
#define TIMEOUT_NONE	((timeout_us)-1)
#define TIMEOUT_MAX_S	31536000	/* one year: beyond that, say none */
#define TIMEOUT_STRLEN	32

/* Parse "0.25", "30", "1e-3" or "none".  Zero, negative, non-finite,
 * out-of-range and malformed values are refused: returns -1 and leaves a
 * reason in err. */
int	timeout_parse(const char *s, timeout_us *t, char *err, size_t errlen);

/* The gettimeout view: "0.25", "300", "none". */
char	*timeout_format(timeout_us t, char *buf, size_t len);

/* NULL for none, else tv filled in and returned. */
struct timeval *timeout_tv(timeout_us t, struct timeval *tv);

#endif
