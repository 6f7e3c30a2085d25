/* listen_opts.c (fuzz): the options after a listen address.  The first
 * byte picks the listener's kind, the rest is the text.  What parses
 * prints (listen_opts_format) to text that parses to the same options
 * and prints the same again; what is refused says why; listen_split
 * cuts a whole value at its first blank, without losing a byte. */
#include "fuzz.h"
#include "listen_opts.h"

#define ERRLEN	256

static void
fuzz_split(const char *in)
{
	char addr[ADDR_STRLEN];
	const char *rest;

	if (listen_split(in, addr, sizeof(addr), &rest) != 0) {
		FUZZ_CHECK(strcspn(in, " \t") >= sizeof(addr), "'%s': split "
		    "refused, but its address fits", in);
		return;
	}
	FUZZ_CHECK(strpbrk(addr, " \t") == NULL && (*rest == '\0' ||
	    *rest == ' ' || *rest == '\t'), "'%s' splits into '%s' and "
	    "'%s'", in, addr, rest);
	FUZZ_CHECK(rest == in + strlen(addr) &&
	    strncmp(in, addr, strlen(addr)) == 0, "'%s' splits into '%s' "
	    "and '%s'", in, addr, rest);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERRLEN] = "", text[2 * LISTEN_OPTS_STRLEN];
	char again[2 * LISTEN_OPTS_STRLEN];
	struct listen_opts o, o2;
	enum addr_kind kind;
	char *in;

	if (size == 0)
		return 0;
	kind = data[0] % 3 == 0 ? ADDR_TCP : data[0] % 3 == 1 ? ADDR_UDP :
	    ADDR_UNIX;
	if ((in = fuzz_cstr(data + 1, size - 1)) == NULL)
		return 0;
	fuzz_split(in);
	if (listen_opts_parse(in, kind, &o, err, sizeof(err)) != 0) {
		FUZZ_CHECK_ERR(err, sizeof(err), in);
		free(in);
		return 0;
	}
	FUZZ_CHECK(o.mode >= -1 && o.mode <= 0777, "'%s': mode %o", in,
	    (unsigned)o.mode);
	FUZZ_CHECK(!o.reuseport || kind != ADDR_UNIX, "'%s': reuseport on a "
	    "unix listener", in);
	listen_opts_format(&o, text, sizeof(text));
	FUZZ_CHECK(strlen(text) < LISTEN_OPTS_STRLEN, "'%s' prints as '%s', "
	    "longer than LISTEN_OPTS_STRLEN", in, text);
	FUZZ_CHECK(listen_opts_parse(text, kind, &o2, err, sizeof(err)) == 0,
	    "'%s' prints as '%s', which is refused: %s", in, text, err);
	FUZZ_CHECK(listen_opts_equal(&o, &o2), "'%s' prints as '%s', which "
	    "parses to other options", in, text);
	listen_opts_format(&o2, again, sizeof(again));
	FUZZ_CHECK(strcmp(text, again) == 0, "'%s' prints as '%s', then as "
	    "'%s'", in, text, again);
	free(in);
	return 0;
}
