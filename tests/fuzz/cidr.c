/* cidr.c (fuzz): address ranges.  What parses prints (cidr_format) to
 * text that fits CIDR_STRLEN and parses to the same range; the range
 * holds its own first address and its n-th one, and of its two halves
 * an address is in one only; what is refused says why. */
#include "fuzz.h"
#include "cidr.h"

#define ERRLEN	256

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERRLEN] = "", text[CIDR_STRLEN], again[CIDR_STRLEN];
	struct cidr c, c2, lower, upper;
	struct cidr_ip ip;
	uint64_t i = 0;
	char *in = fuzz_cstr(data, size);

	if (in == NULL)
		return 0;
	if (cidr_parse(in, &c, err, sizeof(err)) != 0) {
		FUZZ_CHECK_ERR(err, sizeof(err), in);
		free(in);
		return 0;
	}
	FUZZ_CHECK(c.bits <= (c.ip.v6 ? 128 : 32), "'%s': /%d", in, c.bits);
	cidr_format(&c, text, sizeof(text));
	FUZZ_CHECK(strlen(text) < CIDR_STRLEN - 1, "'%s' prints as '%s'", in,
	    text);
	FUZZ_CHECK(cidr_parse(text, &c2, err, sizeof(err)) == 0, "'%s' prints "
	    "as '%s', which is refused: %s", in, text, err);
	FUZZ_CHECK(memcmp(&c, &c2, sizeof(c)) == 0, "'%s' prints as '%s', "
	    "another range", in, text);
	cidr_format(&c2, again, sizeof(again));
	FUZZ_CHECK(strcmp(text, again) == 0, "'%s': '%s', then '%s'", in, text,
	    again);
	FUZZ_CHECK(cidr_match(&c, &c.ip), "'%s' does not hold %s", in, text);
	for (size_t k = 0; k < size && k < 8; k++)
		i = i << 8 | data[k];
	cidr_nth(&c, i, &ip);
	FUZZ_CHECK(cidr_match(&c, &ip), "'%s' does not hold its address "
	    "number %llu", in, (unsigned long long)i);
	if (c.bits < (c.ip.v6 ? 128 : 32)) {
		/* The upper half's addresses are c's, and not the lower's. */
		lower = upper = c;
		lower.bits++;
		upper.bits++;
		upper.ip.b[c.bits / 8] |= (uint8_t)(0x80 >> (c.bits % 8));
		cidr_nth(&upper, i, &ip);
		FUZZ_CHECK(cidr_match(&upper, &ip) && cidr_match(&c, &ip) &&
		    !cidr_match(&lower, &ip), "'%s': the upper half's address "
		    "number %llu is not in it alone", in, (unsigned long long)i);
	}
	free(in);
	return 0;
}
