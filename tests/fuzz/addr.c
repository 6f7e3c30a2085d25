/* addr.c (fuzz): the ADDR syntax, every form, to listen on (addr_parse)
 * and to connect to (addr_parse_peer).  What parses prints (addr_format)
 * to text that fits ADDR_STRLEN and parses to the same address, which
 * prints the same again; a peer address is the same address to listen
 * on, and only *:PORT is refused as a peer; what is refused says why. */
#include "fuzz.h"
#include "addrs.h"

#define ERRLEN	256

static void
fuzz_addr_round_trip(const char *in, const struct addr *a, int peer)
{
	char text[2 * ADDR_STRLEN], again[2 * ADDR_STRLEN], err[ERRLEN] = "";
	struct addr b;
	int rc;

	addr_format(a, text, sizeof(text));
	FUZZ_CHECK(strlen(text) < ADDR_STRLEN, "'%s' prints as '%s' (%zu "
	    "bytes), longer than ADDR_STRLEN", in, text, strlen(text));
	rc = peer ? addr_parse_peer(text, &b, err, sizeof(err)) :
	    addr_parse(text, &b, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "'%s' prints as '%s', which is refused%s: %s",
	    in, text, peer ? " as a peer" : "", err);
	FUZZ_CHECK(fuzz_addr_equal(a, &b), "'%s' prints as '%s', which "
	    "parses to another address", in, text);
	addr_format(&b, again, sizeof(again));
	FUZZ_CHECK(strcmp(text, again) == 0, "'%s' prints as '%s', then as "
	    "'%s'", in, text, again);
}

/* The kind and the family agree, and the length covers the family. */
static void
fuzz_addr_consistent(const char *in, const struct addr *a)
{
	int fam = addr_family(a);

	FUZZ_CHECK(a->kind == ADDR_UNIX ? fam == AF_UNIX :
	    fam == AF_INET || fam == AF_INET6, "'%s': kind %d with family %d",
	    in, a->kind, fam);
	FUZZ_CHECK(a->len > sizeof(sa_family_t) && a->len <= sizeof(a->ss),
	    "'%s': socket address length %u", in, (unsigned)a->len);
	FUZZ_CHECK(!a->any || fam == AF_INET6, "'%s': any with family %d",
	    in, fam);
	FUZZ_CHECK(addr_socktype(a) == (a->kind == ADDR_UDP ? SOCK_DGRAM :
	    SOCK_STREAM), "'%s': socket type %d for kind %d", in,
	    addr_socktype(a), a->kind);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERRLEN] = "", perr[ERRLEN] = "";
	char *in = fuzz_cstr(data, size);
	struct addr a, p;
	int rc, prc;

	if (in == NULL)
		return 0;
	rc = addr_parse(in, &a, err, sizeof(err));
	prc = addr_parse_peer(in, &p, perr, sizeof(perr));
	if (rc == 0) {
		fuzz_addr_consistent(in, &a);
		fuzz_addr_round_trip(in, &a, 0);
	} else
		FUZZ_CHECK_ERR(err, sizeof(err), in);
	if (prc == 0) {
		FUZZ_CHECK(rc == 0 && fuzz_addr_equal(&a, &p), "'%s': the "
		    "peer address is not the same address to listen on", in);
		FUZZ_CHECK(!p.any, "'%s': *:PORT accepted as a peer", in);
		fuzz_addr_round_trip(in, &p, 1);
	} else {
		FUZZ_CHECK_ERR(perr, sizeof(perr), in);
		FUZZ_CHECK(rc != 0 || a.any, "'%s': listens but is refused as "
		    "a peer: %s", in, perr);
	}
	free(in);
	return 0;
}
