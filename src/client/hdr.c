/* hdr.c: HdrHistogram's interchange formats for a hist: the V2 encoding
 * (counts as ZigZag LEB128, runs of zeros as negative counts), zlib-
 * compressed and in base64 ("HISTFAAA..."), both ways; and the interval
 * log (.hlog) that HistogramLogProcessor and the usual plotters read.
 * The layout follows HdrHistogram's AbstractHistogram.encodeIntoByteBuffer
 * and HistogramLogWriter (format 1.3); hist.c's buckets are its counts
 * array index for index. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "hdr.h"

#define V2_ENCODING	0x1c849313u	/* V2 cookie | 0x10: LEB128 counts */
#define V2_COMPRESSED	0x1c849314u
#define HEADER_LEN	40	/* cookie, payload length, normalizing
				 * offset, digits, lowest, highest, ratio */
#define LEB_MAX		9	/* bytes of one 64-bit LEB128-64b9B value */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* ZigZag, then LEB128 with a ninth byte of 8 bits (HdrHistogram's
 * "LEB128-64b9B"). */
static size_t
put_zigzag(unsigned char *p, int64_t sv)
{
	uint64_t v = ((uint64_t)sv << 1) ^ (uint64_t)(sv >> 63);
	size_t n = 0;

	while (n < 8 && v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* Returns the bytes read, or 0 if the value runs past end. */
static size_t
get_zigzag(const unsigned char *p, const unsigned char *end, int64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	for (;;) {
		if (p + n >= end)
			return 0;
		if (n == 8) {
			v |= (uint64_t)p[n++] << 56;
			break;
		}
		v |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n++] & 0x80))
			break;
	}
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return n;
}

/* The V2 encoding, uncompressed.  Returns its length, or 0 (no memory). */
static size_t
hdr_encode_raw(const struct hist *h, unsigned char **out)
{
	size_t limit = hist_count(h) ? hist_bucket(hist_max(h)) + 1 : 0;
	unsigned char *buf = malloc(HEADER_LEN + LEB_MAX * (limit + 1));
	size_t n = HEADER_LEN;

	if (buf == NULL)
		return 0;
	/* Counts up to the maximum's bucket; a run of zeros is one negative
	 * number, a lone zero itself (as HdrHistogram writes them). */
	for (size_t i = 0; i < limit;) {
		uint64_t c = hist_bucket_count(h, i++);
		int64_t zeros = 1;

		if (c != 0) {
			n += put_zigzag(buf + n, (int64_t)c);
			continue;
		}
		while (i < limit && hist_bucket_count(h, i) == 0) {
			zeros++;
			i++;
		}
		n += put_zigzag(buf + n, zeros > 1 ? -zeros : 0);
	}
	put32(buf, V2_ENCODING);
	put32(buf + 4, (uint32_t)(n - HEADER_LEN));
	put32(buf + 8, 0);			/* normalizing index offset */
	put32(buf + 12, HIST_SIG_DIGITS);
	put64(buf + 16, 1);			/* lowest discernible value */
	put64(buf + 24, HIST_MAX);
	put64(buf + 32, UINT64_C(0x3FF0000000000000));	/* 1.0: ratio */
	*out = buf;
	return n;
}

char *
hdr_encode(const struct hist *h)
{
	unsigned char *raw = NULL, *z = NULL;
	size_t rawlen = hdr_encode_raw(h, &raw), zlen;
	uLongf dlen;
	char *text = NULL;

	if (rawlen == 0)
		return NULL;
	dlen = compressBound((uLong)rawlen);
	if ((z = malloc(8 + dlen)) == NULL ||
	    compress2(z + 8, &dlen, raw, (uLong)rawlen, Z_BEST_COMPRESSION) !=
	    Z_OK)
		goto out;
	put32(z, V2_COMPRESSED);
	put32(z + 4, (uint32_t)dlen);
	zlen = 8 + dlen;
	if ((text = malloc((zlen + 2) / 3 * 4 + 1)) == NULL)
		goto out;
	for (size_t i = 0, o = 0; i < zlen; i += 3) {
		uint32_t v = (uint32_t)z[i] << 16 |
		    (i + 1 < zlen ? (uint32_t)z[i + 1] << 8 : 0) |
		    (i + 2 < zlen ? z[i + 2] : 0);

		text[o++] = b64[v >> 18];
		text[o++] = b64[v >> 12 & 63];
		text[o++] = i + 1 < zlen ? b64[v >> 6 & 63] : '=';
		text[o++] = i + 2 < zlen ? b64[v & 63] : '=';
		text[o] = '\0';
	}
out:
	free(raw);
	free(z);
	return text;
}

/* Base64 text to bytes; returns the length, or -1 if it is no base64. */
static long
hdr_unbase64(const char *s, size_t len, unsigned char *out)
{
	long n = 0;
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		const char *at = memchr(b64, s[i], 64);

		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (at == NULL || s[i] == '\0' || pad > 0)
			return -1;
		acc = acc << 6 | (uint32_t)(at - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (len % 4 == 0 && pad <= 2) ? n : -1;
}

int
hdr_decode(const char *text, size_t len, struct hist *h, char *err,
    size_t errlen)
{
	unsigned char *z = malloc(len / 4 * 3 + 3), *raw = NULL;
	const unsigned char *p, *end;
	long zlen;
	uLongf rawlen;
	size_t i = 0, nb = hist_nbuckets();
	int rc = -1;

	if (z == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	zlen = hdr_unbase64(text, len, z);
	if (zlen < 8 || get_be(z, 4) != V2_COMPRESSED ||
	    get_be(z + 4, 4) != (uint64_t)zlen - 8) {
		snprintf(err, errlen, "not a compressed V2 HdrHistogram "
		    "(base64 of cookie 0x%08x and its length)", V2_COMPRESSED);
		goto out;
	}
	/* A header and at most LEB_MAX bytes per count. */
	rawlen = HEADER_LEN + LEB_MAX * (uLongf)nb;
	if ((raw = malloc(rawlen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (uncompress(raw, &rawlen, z + 8, (uLong)zlen - 8) != Z_OK ||
	    rawlen < HEADER_LEN) {
		snprintf(err, errlen, "the histogram does not inflate (zlib)");
		goto out;
	}
	if (get_be(raw, 4) != V2_ENCODING ||
	    get_be(raw + 4, 4) != rawlen - HEADER_LEN ||
	    get_be(raw + 8, 4) != 0 || get_be(raw + 12, 4) != HIST_SIG_DIGITS ||
	    get_be(raw + 16, 8) != 1 || get_be(raw + 32, 8) !=
	    UINT64_C(0x3FF0000000000000)) {
		snprintf(err, errlen, "not upcase bench's layout (a V2 histogram "
		    "of lowest value 1, %d significant digits, unit ratio 1)",
		    HIST_SIG_DIGITS);
		goto out;
	}
	for (p = raw + HEADER_LEN, end = raw + rawlen; p < end;) {
		int64_t v;
		size_t n = get_zigzag(p, end, &v);

		if (n == 0) {
			snprintf(err, errlen, "a count is cut short");
			goto out;
		}
		p += n;
		if (v < 0 && (uint64_t)-(v + 1) < nb - i) {
			i += (size_t)-v;
			continue;
		}
		if (v < 0 || i >= nb) {
			snprintf(err, errlen, "more counts than %zu buckets", nb);
			goto out;
		}
		hist_record_bucket(h, i++, (uint64_t)v);
	}
	rc = 0;
out:
	free(z);
	free(raw);
	return rc;
}

struct hdr_log {
	FILE	*fp;
	char	*path;
};

struct hdr_log *
hdr_log_open(const char *path, const char *comment, double start_epoch_s,
    char *err, size_t errlen)
{
	struct hdr_log *l = calloc(1, sizeof(*l));
	time_t secs = (time_t)start_epoch_s;
	struct tm tm;
	char when[64] = "";

	if (l == NULL || (l->path = strdup(path)) == NULL) {
		free(l);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if ((l->fp = fopen(path, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(l->path);
		free(l);
		return NULL;
	}
	if (gmtime_r(&secs, &tm) != NULL)
		strftime(when, sizeof(when), "%a %b %d %H:%M:%S UTC %Y", &tm);
	/* Timestamps are relative to BaseTime, as HistogramLogWriter writes
	 * them once a base time is set; values are nanoseconds, so
	 * Interval_Max is in milliseconds (its default unit ratio 10^6). */
	fprintf(l->fp, "#[%s]\n", comment);
	fprintf(l->fp, "#[Histogram log format version 1.3]\n");
	fprintf(l->fp, "#[StartTime: %.3f (seconds since epoch), %s]\n",
	    start_epoch_s, when);
	fprintf(l->fp, "#[BaseTime: %.3f (seconds since epoch)]\n",
	    start_epoch_s);
	fprintf(l->fp, "\"StartTimestamp\",\"Interval_Length\","
	    "\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
	return l;
}

int
hdr_log_interval(struct hdr_log *l, const char *tag, double start_s,
    double length_s, const struct hist *h)
{
	char *text = hdr_encode(h);

	if (text == NULL)
		return -1;
	fprintf(l->fp, "%s%s%s%.3f,%.3f,%.3f,%s\n", tag ? "Tag=" : "",
	    tag ? tag : "", tag ? "," : "", start_s, length_s,
	    (double)hist_max(h) / 1e6, text);
	free(text);
	return ferror(l->fp) ? -1 : 0;
}

int
hdr_log_close(struct hdr_log *l, char *err, size_t errlen)
{
	int rc = 0;

	if (l == NULL)
		return 0;
	if ((ferror(l->fp) | fclose(l->fp)) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", l->path,
		    strerror(errno));
		rc = -1;
	}
	free(l->path);
	free(l);
	return rc;
}
