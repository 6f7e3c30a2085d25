/* hdr.c (fuzz): HdrHistogram's compressed V2 text, as bench merge reads it
 * from other machines' results.  What decodes encodes (hdr_encode) to
 * text that decodes to the same counts, bucket by bucket, and encodes the
 * same again; what is refused says why. */
#include "fuzz.h"
#include "hdr.h"
#include "hist.h"

#define ERRLEN	256

static void
fuzz_same_hist(const struct hist *a, const struct hist *b, const char *what)
{
	FUZZ_CHECK(hist_count(a) == hist_count(b), "%s: count %llu, then %llu",
	    what, (unsigned long long)hist_count(a),
	    (unsigned long long)hist_count(b));
	for (size_t i = 0; i < hist_nbuckets(); i++)
		FUZZ_CHECK(hist_bucket_count(a, i) == hist_bucket_count(b, i),
		    "%s: bucket %zu holds %llu, then %llu", what, i,
		    (unsigned long long)hist_bucket_count(a, i),
		    (unsigned long long)hist_bucket_count(b, i));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hist *h = hist_new(), *again = hist_new();
	char err[ERRLEN] = "", *text = NULL, *text2 = NULL;

	if (h == NULL || again == NULL)
		goto out;
	if (hdr_decode((const char *)data, size, h, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) !=
		    NULL, "%zu bytes refused without a message", size);
		goto out;
	}
	text = hdr_encode(h);
	if (text == NULL)
		goto out;
	err[0] = '\0';
	FUZZ_CHECK(hdr_decode(text, strlen(text), again, err, sizeof(err)) == 0,
	    "the encoding of a decoded histogram is refused: %s", err);
	fuzz_same_hist(h, again, "decoded, encoded, decoded");
	text2 = hdr_encode(again);
	FUZZ_CHECK(text2 == NULL || strcmp(text, text2) == 0,
	    "the same histogram encodes two ways");
out:
	free(text);
	free(text2);
	hist_free(h);
	hist_free(again);
	return 0;
}
