/* json.h: a small JSON reader, enough for bench's own summaries: one
 * document parsed into its scalar values, each found by its dotted path
 * ("latency_us.p99", "errors_by_kind.lost"). */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_MISSING,
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_OBJECT,		/* the path names an object (or array) */
};

struct json_doc;

/* Parse text (len bytes: one value, then only white space).  Returns the
 * document, or NULL with the reason (and the byte offset) in err. */
struct json_doc *json_parse(const char *text, size_t len, char *err,
	    size_t errlen);
void	json_free(struct json_doc *d);

enum json_type json_type(const struct json_doc *d, const char *path);
/* 0 and the value, or -1 if path is missing or of another type.  An
 * integer literal that fits is exact in json_uint. */
int	json_number(const struct json_doc *d, const char *path, double *v);
int	json_uint(const struct json_doc *d, const char *path, uint64_t *v);
int	json_bool(const struct json_doc *d, const char *path, int *v);
/* The unescaped string (NUL-terminated, owned by d), or NULL. */
const char *json_string(const struct json_doc *d, const char *path,
	    size_t *len);

#endif
