/* json.c: a small recursive-descent JSON reader (RFC 8259 values, depth
 * bounded), keeping each scalar under its dotted path: a pure function
 * over bytes with an error string, for bench merge. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define JSON_DEPTH	16
#define JSON_PATH	128

struct json_value {
	char		 path[JSON_PATH];
	enum json_type	 type;
	double		 num;
	uint64_t	 u;
	int		 is_uint;
	char		*str;
	size_t		 len;
};

struct json_doc {
	struct json_value	*v;
	size_t			 n, cap;
};

struct json_parser {
	const char	*s, *p, *end;
	struct json_doc	*d;
	char		*err;
	size_t		 errlen;
};

static int	json_value(struct json_parser *, const char *, int);

static int
json_fail(struct json_parser *jp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
json_fail(struct json_parser *jp, const char *fmt, ...)
{
	char why[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(jp->err, jp->errlen, "byte %zu: %s", (size_t)(jp->p - jp->s),
	    why);
	return -1;
}

static void
json_ws(struct json_parser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
	    *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static struct json_value *
json_add(struct json_parser *jp, const char *path, enum json_type type)
{
	struct json_doc *d = jp->d;
	struct json_value *v;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct json_value *nv = realloc(d->v, cap * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		d->v = nv;
		d->cap = cap;
	}
	v = &d->v[d->n++];
	memset(v, 0, sizeof(*v));
	snprintf(v->path, sizeof(v->path), "%s", path);
	v->type = type;
	return v;
}

static int
json_hex4(struct json_parser *jp, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++, jp->p++) {
		char c = jp->p < jp->end ? *jp->p : 0;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return json_fail(jp, "bad \\u escape");
	}
	*out = v;
	return 0;
}

/* A string at p (the opening quote), unescaped into a new buffer. */
static int
json_str(struct json_parser *jp, char **out, size_t *outlen)
{
	char *buf = malloc((size_t)(jp->end - jp->p) + 1);
	size_t n = 0;

	if (buf == NULL)
		return json_fail(jp, "out of memory");
	jp->p++;
	for (;;) {
		unsigned char c;

		if (jp->p >= jp->end) {
			free(buf);
			return json_fail(jp, "unterminated string");
		}
		c = (unsigned char)*jp->p++;
		if (c == '"')
			break;
		if (c < 0x20) {
			free(buf);
			return json_fail(jp, "control byte in a string");
		}
		if (c != '\\') {
			buf[n++] = (char)c;
			continue;
		}
		c = jp->p < jp->end ? (unsigned char)*jp->p++ : 0;
		switch (c) {
		case '"': case '\\': case '/':
			buf[n++] = (char)c;
			break;
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u': {
			unsigned cp = 0;
			if (json_hex4(jp, &cp) != 0) {
				free(buf);
				return -1;
			}
			/* UTF-8; a lone surrogate is kept as its 3 bytes. */
			if (cp < 0x80)
				buf[n++] = (char)cp;
			else if (cp < 0x800) {
				buf[n++] = (char)(0xc0 | cp >> 6);
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				buf[n++] = (char)(0xe0 | cp >> 12);
				buf[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
				buf[n++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default:
			free(buf);
			return json_fail(jp, "bad escape in a string");
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int
json_number_at(struct json_parser *jp, const char *path)
{
	const char *start = jp->p;
	char tmp[64], *end;
	struct json_value *v;
	size_t len;
	int integer = 1;

	if (jp->p < jp->end && *jp->p == '-')
		jp->p++;
	while (jp->p < jp->end && strchr("0123456789.eE+-", *jp->p) != NULL) {
		if (strchr(".eE", *jp->p) != NULL)
			integer = 0;
		jp->p++;
	}
	len = (size_t)(jp->p - start);
	if (len == 0 || len >= sizeof(tmp))
		return json_fail(jp, "bad number");
	memcpy(tmp, start, len);
	tmp[len] = '\0';
	if ((v = json_add(jp, path, JSON_NUMBER)) == NULL)
		return json_fail(jp, "out of memory");
	errno = 0;
	v->num = strtod(tmp, &end);
	if (*end != '\0' || errno == ERANGE || (tmp[0] == '-' ?
	    !(tmp[1] >= '0' && tmp[1] <= '9') : !(tmp[0] >= '0' &&
	    tmp[0] <= '9')))
		return json_fail(jp, "bad number '%s'", tmp);
	if (integer && tmp[0] != '-') {
		errno = 0;
		v->u = strtoull(tmp, &end, 10);
		v->is_uint = errno == 0 && *end == '\0';
	}
	return 0;
}

static int
json_word(struct json_parser *jp, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, w, n) != 0)
		return 0;
	jp->p += n;
	return 1;
}

static int
json_container(struct json_parser *jp, const char *path, int depth)
{
	int object = *jp->p == '{';
	char close = object ? '}' : ']', key[JSON_PATH];
	size_t i = 0;

	if (depth >= JSON_DEPTH)
		return json_fail(jp, "nested too deep");
	if (json_add(jp, path, JSON_OBJECT) == NULL)
		return json_fail(jp, "out of memory");
	jp->p++;
	json_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return 0;
	}
	for (;; i++) {
		char child[JSON_PATH * 2];

		json_ws(jp);
		if (object) {
			char *k;
			size_t klen;

			if (jp->p >= jp->end || *jp->p != '"')
				return json_fail(jp, "a key must be a string");
			if (json_str(jp, &k, &klen) != 0)
				return -1;
			snprintf(key, sizeof(key), "%s", k);
			free(k);
			json_ws(jp);
			if (jp->p >= jp->end || *jp->p++ != ':')
				return json_fail(jp, "':' expected");
			snprintf(child, sizeof(child), "%s%s%s", path,
			    *path ? "." : "", key);
		} else
			snprintf(child, sizeof(child), "%s[%zu]", path, i);
		if (json_value(jp, child, depth + 1) != 0)
			return -1;
		json_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == close) {
			jp->p++;
			return 0;
		}
		return json_fail(jp, "',' or '%c' expected", close);
	}
}

static int
json_value(struct json_parser *jp, const char *path, int depth)
{
	struct json_value *v;

	json_ws(jp);
	if (jp->p >= jp->end)
		return json_fail(jp, "a value expected");
	switch (*jp->p) {
	case '{':
	case '[':
		return json_container(jp, path, depth);
	case '"': {
		char *s;
		size_t len;

		if (json_str(jp, &s, &len) != 0)
			return -1;
		if ((v = json_add(jp, path, JSON_STRING)) == NULL) {
			free(s);
			return json_fail(jp, "out of memory");
		}
		v->str = s;
		v->len = len;
		return 0;
	}
	default:
		break;
	}
	if (json_word(jp, "null")) {
		v = json_add(jp, path, JSON_NULL);
	} else if (json_word(jp, "true") || json_word(jp, "false")) {
		v = json_add(jp, path, JSON_BOOL);
		if (v != NULL)
			v->num = jp->p[-1] == 'e' && jp->p[-2] == 'u';
	} else
		return json_number_at(jp, path);
	return v != NULL ? 0 : json_fail(jp, "out of memory");
}

struct json_doc *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_parser jp = { text, text, text + len, NULL, err, errlen };

	if ((jp.d = calloc(1, sizeof(*jp.d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (json_value(&jp, "", 0) == 0) {
		json_ws(&jp);
		if (jp.p == jp.end)
			return jp.d;
		json_fail(&jp, "more after the value");
	}
	json_free(jp.d);
	return NULL;
}

void
json_free(struct json_doc *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].str);
	free(d->v);
	free(d);
}

static const struct json_value *
json_find(const struct json_doc *d, const char *path)
{
	/* The last one wins, as most readers do with a repeated key. */
	for (size_t i = d->n; i-- > 0;)
		if (strcmp(d->v[i].path, path) == 0)
			return &d->v[i];
	return NULL;
}

enum json_type
json_type(const struct json_doc *d, const char *path)
{
	const struct json_value *v = json_find(d, path);

	return v != NULL ? v->type : JSON_MISSING;
}

int
json_number(const struct json_doc *d, const char *path, double *out)
{
	const struct json_value *v = json_find(d, path);

	if (v == NULL || v->type != JSON_NUMBER)
		return -1;
	*out = v->num;
	return 0;
}

int
json_uint(const struct json_doc *d, const char *path, uint64_t *out)
{
	const struct json_value *v = json_find(d, path);

	if (v == NULL || v->type != JSON_NUMBER || !v->is_uint)
		return -1;
	*out = v->u;
	return 0;
}

int
json_bool(const struct json_doc *d, const char *path, int *out)
{
	const struct json_value *v = json_find(d, path);

	if (v == NULL || v->type != JSON_BOOL)
		return -1;
	*out = v->num != 0;
	return 0;
}

const char *
json_string(const struct json_doc *d, const char *path, size_t *len)
{
	const struct json_value *v = json_find(d, path);

	if (v == NULL || v->type != JSON_STRING)
		return NULL;
	if (len != NULL)
		*len = v->len;
	return v->str;
}
