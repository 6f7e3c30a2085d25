/* hdr.h: HdrHistogram's formats for a hist: the compressed V2 encoding
 * in base64 ("HISTFAAA..."), and the interval log (.hlog). */
#ifndef HDR_H
#define HDR_H

#include <stddef.h>

#include "hist.h"

/* h as HdrHistogram's base64 text, NUL-terminated, to free(); NULL when
 * out of memory. */
char	*hdr_encode(const struct hist *h);

/* Add the histogram in text (len bytes, as hdr_encode writes it) to h.
 * Returns 0, or -1 with the reason in err. */
int	hdr_decode(const char *text, size_t len, struct hist *h, char *err,
	    size_t errlen);

/* An interval log at path: a header with the comment and the start time
 * (seconds since the epoch), then one line per interval, its timestamps
 * in seconds from the start and its values in nanoseconds.  NULL with
 * the reason in err. */
struct hdr_log;
struct hdr_log *hdr_log_open(const char *path, const char *comment,
	    double start_epoch_s, char *err, size_t errlen);
/* tag NULL: an interval; "total": the whole run, which tools that add
 * up intervals skip.  Returns 0, or -1 (a write failed: close says). */
int	hdr_log_interval(struct hdr_log *l, const char *tag, double start_s,
	    double length_s, const struct hist *h);
int	hdr_log_close(struct hdr_log *l, char *err, size_t errlen);

#endif
