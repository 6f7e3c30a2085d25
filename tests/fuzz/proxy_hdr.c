/* proxy_hdr.c (fuzz): the PROXY protocol header parser, over raw bytes as
 * a connection sends them.  A header found ends within the input and the
 * 4 KiB bound, and is found the same in just its own bytes; no shorter
 * prefix of it is anything but "more"; a refusal says why and stays a
 * refusal whatever follows; "more" never invites a read past a v2
 * header's end; what names a client builds (proxy_build_v1, _v2) into
 * headers that parse to the same client. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "proxy_hdr.h"

#define ERRLEN	256

static int
same_addr(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* A client named in one version parses back the same from both. */
static void
fuzz_rebuild(const struct proxy_hdr *h)
{
	unsigned char buf[256];
	struct proxy_hdr again;
	char err[ERRLEN];
	size_t len, n;

	if (h->local || h->src.ss_family != h->dst.ss_family ||
	    (h->src.ss_family != AF_INET && h->src.ss_family != AF_INET6))
		return;
	for (int v = 1; v <= 2; v++) {
		len = v == 1 ? proxy_build_v1(buf, sizeof(buf),
		    (const struct sockaddr *)&h->src,
		    (const struct sockaddr *)&h->dst) : proxy_build_v2(buf,
		    sizeof(buf), (const struct sockaddr *)&h->src,
		    (const struct sockaddr *)&h->dst);
		FUZZ_CHECK(len > 0, "v%d: a parsed client does not build", v);
		FUZZ_CHECK(proxy_parse(buf, len, &again, &n, err, sizeof(err)) ==
		    PROXY_DONE && n == len, "v%d: the built header does not "
		    "parse: %s", v, err);
		FUZZ_CHECK(same_addr(&h->src, h->srclen, &again.src,
		    again.srclen) && same_addr(&h->dst, h->dstlen, &again.dst,
		    again.dstlen), "v%d: the built header names another "
		    "client", v);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, h2;
	char err[ERRLEN] = "";
	size_t n = 0, n2;
	enum proxy_status st = proxy_parse(data, size, &h, &n, err, sizeof(err));
	uint8_t *more;

	switch (st) {
	case PROXY_MORE:
		FUZZ_CHECK(n >= 1, "'more' asks for %zu bytes", n);
		FUZZ_CHECK(size == 0 || data[0] != '\r' ||
		    size + n <= PROXY_HDR_MAX, "v2: %zu bytes, asks for %zu "
		    "more, past the limit", size, n);
		FUZZ_CHECK(size >= PROXY_V2_FIXED || data[0] != '\r' ||
		    size + n <= PROXY_V2_FIXED, "v2: %zu bytes, asks for %zu "
		    "more, past the fixed part", size, n);
		break;
	case PROXY_BAD:
		FUZZ_CHECK_ERR(err, sizeof(err), "(binary)");
		/* Whatever follows, still refused. */
		if ((more = malloc(size + 1)) == NULL)
			return 0;
		memcpy(more, data, size);
		more[size] = '\n';
		FUZZ_CHECK(proxy_parse(more, size + 1, &h2, &n2, err,
		    sizeof(err)) == PROXY_BAD, "refused, then not with one "
		    "more byte");
		free(more);
		break;
	case PROXY_DONE:
		FUZZ_CHECK(n >= 15 && n <= size && n <= PROXY_HDR_MAX,
		    "done after %zu of %zu bytes", n, size);
		FUZZ_CHECK(h.version == 1 ? n <= PROXY_V1_MAX : h.version == 2,
		    "version %d after %zu bytes", h.version, n);
		FUZZ_CHECK(proxy_parse(data, n, &h2, &n2, err, sizeof(err)) ==
		    PROXY_DONE && n2 == n && memcmp(&h, &h2, sizeof(h)) == 0,
		    "the header alone (%zu bytes) parses otherwise", n);
		FUZZ_CHECK(proxy_parse(data, n - 1, &h2, &n2, err,
		    sizeof(err)) == PROXY_MORE, "one byte short of the header "
		    "is not 'more'");
		FUZZ_CHECK(proxy_parse(data, n / 2, &h2, &n2, err,
		    sizeof(err)) == PROXY_MORE, "half the header is not 'more'");
		fuzz_rebuild(&h);
		break;
	}
	return 0;
}
