/* verify.c: the payload pool and the byte-exact reply check. */
#include <stdlib.h>
#include <string.h>

#include "upper.h"
#include "verify.h"

int
verify_pool_init(struct verify_pool *p, size_t size, uint64_t seed)
{
	uint64_t state = seed, r = 0;

	memset(p, 0, sizeof(*p));
	p->size = size;
	p->len = size + VERIFY_STARTS - 1;
	p->sent = malloc(p->len);
	p->want = malloc(p->len);
	if (p->sent == NULL || p->want == NULL) {
		verify_pool_free(p);
		return -1;
	}
	/*
	 * Random bytes alone would be only 10% lowercase letters; a server
	 * that forgets to uppercase now and then must be caught in every
	 * message, so lean on letters of both cases and keep every other
	 * byte value (NUL, 0x80-0xff) in the mix.
	 */
	for (size_t i = 0; i < p->len; i++) {
		unsigned kind, pick;

		state += UINT64_C(0x9e3779b97f4a7c15);
		r = verify_mix64(state);
		kind = (unsigned)(r % 10);
		pick = (unsigned)(r >> 32);
		if (kind < 4)
			p->sent[i] = (unsigned char)('a' + pick % 26);
		else if (kind < 7)
			p->sent[i] = (unsigned char)('A' + pick % 26);
		else
			p->sent[i] = (unsigned char)pick;
	}
	upper_copy(p->want, p->sent, p->len);
	return 0;
}

void
verify_pool_free(struct verify_pool *p)
{
	free(p->sent);
	free(p->want);
	p->sent = p->want = NULL;
}

void
verify_init(struct verify *v, const struct verify_pool *p, uint64_t key)
{
	memset(v, 0, sizeof(*v));
	v->pool = p;
	v->key = key;
	v->cur = verify_offset(p, key, 0);
}

uint64_t
verify_owed(const struct verify *v)
{
	return (v->sent - v->done) * v->pool->size - v->got;
}

static void
verify_note_mismatch(struct verify *v, const unsigned char *got,
    const unsigned char *want, size_t n)
{
	size_t i = 0;

	v->cur_bad = 1;
	if (v->mismatches++ > 0)
		return;
	while (i < n && got[i] == want[i])
		i++;
	v->first.msg = v->done;
	v->first.at = v->got + i;
	v->first.offset = v->done * v->pool->size + v->first.at;
	v->first.got = got[i];
	v->first.want = want[i];
}

int
verify_input(struct verify *v, const unsigned char *buf, size_t n)
{
	size_t size = v->pool->size;

	while (n > 0 && v->done < v->sent) {
		const unsigned char *want = v->pool->want + v->cur + v->got;
		size_t take = size - v->got;

		if (take > n)
			take = n;
		/* One wrong reply counts once, however many bytes differ. */
		if (!v->cur_bad && memcmp(buf, want, take) != 0)
			verify_note_mismatch(v, buf, want, take);
		buf += take;
		n -= take;
		v->got += take;
		if (v->got == size) {
			v->done++;
			v->got = 0;
			v->cur_bad = 0;
			v->cur = verify_offset(v->pool, v->key, v->done);
		}
	}
	return n > 0 ? -1 : 0;
}
