/* verify.h: what bench sends and the exact check of what comes back.
 * Payloads are windows into one immutable random pool, chosen by a hash
 * of (connection key, message number), so the expected reply of any
 * message is recomputed instead of stored, and nothing is allocated per
 * message. */
#ifndef VERIFY_H
#define VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Distinct message start offsets in a pool: enough that consecutive
 * messages differ, small enough to stay in cache next to the message. */
#define VERIFY_STARTS	65536

struct verify_pool {
	unsigned char	*sent;	/* random lower, upper and other bytes */
	unsigned char	*want;	/* sent, uppercased: the expected replies */
	size_t		 len;
	size_t		 size;	/* bytes per message */
};

/* Fill a pool for size-byte messages from seed.  Read-only afterwards, so
 * any number of threads may share it.  Returns 0, or -1 (out of memory). */
int	verify_pool_init(struct verify_pool *p, size_t size, uint64_t seed);
void	verify_pool_free(struct verify_pool *p);

/* splitmix64: a good 64-bit mix in a few multiplies, enough to spread
 * (key, n) over the pool and to generate the pool itself. */
static inline uint64_t
verify_mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* Where message n of the stream with this key starts in the pool: inline,
 * as it is computed twice per message (to send it, to check its reply). */
static inline size_t
verify_offset(const struct verify_pool *p, uint64_t key, uint64_t n)
{
	(void)p;
	return (size_t)(verify_mix64(verify_mix64(key) + n) % VERIFY_STARTS);
}

static inline const unsigned char *
verify_payload(const struct verify_pool *p, uint64_t key, uint64_t n)
{
	return p->sent + verify_offset(p, key, n);
}

/* The first wrong byte of a stream. */
struct verify_mismatch {
	uint64_t	offset;		/* from the start of the reply stream */
	uint64_t	msg;		/* which reply, from 0 */
	size_t		at;		/* which byte of that reply */
	unsigned char	got;
	unsigned char	want;
};

/* One connection's reply stream: the replies to messages 0..sent-1 must
 * arrive in order, each exactly the uppercase of its message, cut into
 * reads at any points. */
struct verify {
	const struct verify_pool *pool;
	uint64_t	key;
	uint64_t	sent;		/* messages whose replies are owed */
	uint64_t	done;		/* replies complete */
	size_t		got;		/* bytes of reply 'done' so far */
	size_t		cur;		/* pool offset of reply 'done' */
	int		cur_bad;	/* reply 'done' already has a wrong byte */
	uint64_t	mismatches;	/* replies with at least one wrong byte */
	struct verify_mismatch first;	/* valid when mismatches > 0 */
};

void	verify_init(struct verify *v, const struct verify_pool *p,
	    uint64_t key);

/* n more messages of this stream went out (or are about to). */
static inline void
verify_sent(struct verify *v, uint64_t n)
{
	v->sent += n;
}

/* Check n received bytes against the replies owed.  Completed replies
 * advance v->done and wrong ones v->mismatches (the caller diffs them).
 * Returns 0, or -1 when buf holds bytes beyond what is owed: the owed
 * prefix has been checked and the rest ignored. */
int	verify_input(struct verify *v, const unsigned char *buf, size_t n);

/* Reply bytes still owed. */
uint64_t verify_owed(const struct verify *v);

/* A reply has started but not finished: closing now cuts it short. */
static inline int
verify_partial(const struct verify *v)
{
	return v->got > 0;
}

/*
 * A datagram's sequence number: VERIFY_SEQ_DIGITS decimal digits at its
 * start, which the transform leaves alone, so that a reply names the
 * datagram it answers.  Eight digits at a time in a 64-bit word, the
 * first digit in the low byte (little-endian; other machines take the
 * plain loops).  Writing splits 8 digits into two 4-digit lanes, each
 * into two 2-digit lanes, each into two digits, every split one multiply
 * for all lanes at once.  Reading checks that every byte is a digit (its
 * high nibble is 3 and stays 3 when 6 is added) and combines pairs,
 * quads and halves by multiplication.
 */
#define VERIFY_SEQ_DIGITS	16

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VERIFY_SEQ_SWAR	1
#endif

/* v < 10^8 as 8 digits. */
static inline void
verify_seq_put8(unsigned char *p, uint64_t v)
{
#ifdef VERIFY_SEQ_SWAR
	uint64_t quads, pairs, tens;

	quads = v / 10000 | (v % 10000) << 32;
	pairs = (quads * 10486) >> 20 & UINT64_C(0x0000007F0000007F);
	pairs |= (quads - 100 * pairs) << 16;
	tens = (pairs * 103) >> 10 & UINT64_C(0x000F000F000F000F);
	tens |= (pairs - 10 * tens) << 8;
	tens += UINT64_C(0x3030303030303030);
	memcpy(p, &tens, 8);
#else
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)('0' + v % 10);
		v /= 10;
	}
#endif
}

static inline void
verify_seq_put(unsigned char *p, uint64_t seq)
{
	verify_seq_put8(p, seq / 100000000u % 100000000u);
	verify_seq_put8(p + 8, seq % 100000000u);
}

static inline int
verify_seq_get8(const unsigned char *p, uint64_t *out)
{
#ifdef VERIFY_SEQ_SWAR
	const uint64_t hi = UINT64_C(0xF0F0F0F0F0F0F0F0);
	uint64_t v;

	memcpy(&v, p, 8);
	if (((v & hi) | (((v + UINT64_C(0x0606060606060606)) & hi) >> 4)) !=
	    UINT64_C(0x3333333333333333))
		return -1;
	v -= UINT64_C(0x3030303030303030);
	v = v * 10 + (v >> 8);
	*out = (((v & UINT64_C(0x000000FF000000FF)) *
	    UINT64_C(0x000F424000000064)) +
	    (((v >> 16) & UINT64_C(0x000000FF000000FF)) *
	    UINT64_C(0x0000271000000001))) >> 32;
	return 0;
#else
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
#endif
}

/* The number at p (VERIFY_SEQ_DIGITS bytes), or -1 if any is no digit. */
static inline int
verify_seq_get(const unsigned char *p, uint64_t *seq)
{
	uint64_t hi, lo;

	if (verify_seq_get8(p, &hi) != 0 || verify_seq_get8(p + 8, &lo) != 0)
		return -1;
	*seq = hi * 100000000u + lo;
	return 0;
}

#endif
