/* json.c (fuzz): the JSON reader bench merge feeds with other machines'
 * summaries.  Any bytes: parsed or refused with a message, never read
 * past; a parsed document answers every path it is asked about with one
 * type, and a string it returns is as long as it says.  The same text
 * parses the same way twice. */
#include "fuzz.h"
#include "json.h"

#define ERRLEN	256

static const char *const paths[] = {
	"", "mode", "messages", "latency_us", "latency_us.p99",
	"errors_by_kind.lost", "histogram", "a", "a.b", "0", "a.0", "x.y.z",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERRLEN] = "";
	struct json_doc *d = json_parse((const char *)data, size, err,
	    sizeof(err)), *d2;

	if (d == NULL) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) !=
		    NULL, "%zu bytes refused without a message", size);
		FUZZ_CHECK(json_parse((const char *)data, size, err,
		    sizeof(err)) == NULL, "refused once, parsed once");
		return 0;
	}
	d2 = json_parse((const char *)data, size, err, sizeof(err));
	FUZZ_CHECK(d2 != NULL, "parsed once, refused once: %s", err);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		enum json_type t = json_type(d, paths[i]);
		double v;
		uint64_t u;
		int b;
		size_t len = 0;
		const char *s = json_string(d, paths[i], &len);

		FUZZ_CHECK(t == json_type(d2, paths[i]), "'%s': two types for "
		    "one text", paths[i]);
		FUZZ_CHECK((json_number(d, paths[i], &v) == 0) ==
		    (t == JSON_NUMBER), "'%s': json_number against its type",
		    paths[i]);
		if (json_uint(d, paths[i], &u) == 0)
			FUZZ_CHECK(t == JSON_NUMBER, "'%s': a uint not a number",
			    paths[i]);
		FUZZ_CHECK((json_bool(d, paths[i], &b) == 0) == (t == JSON_BOOL),
		    "'%s': json_bool against its type", paths[i]);
		FUZZ_CHECK((s != NULL) == (t == JSON_STRING), "'%s': "
		    "json_string against its type", paths[i]);
		if (s != NULL)
			FUZZ_CHECK(s[len] == '\0' && strlen(s) <= len, "'%s': a "
			    "string of %zu bytes not terminated there",
			    paths[i], len);
	}
	json_free(d);
	json_free(d2);
	return 0;
}
