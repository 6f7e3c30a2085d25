/* verify.h: what bench sends and the exact check of what comes back.
 * Payloads are windows into one immutable random pool, chosen by a hash
 * of (connection key, message number), so the expected reply of any
 * message is recomputed instead of stored, and nothing is allocated per
 * message. */
#ifndef VERIFY_H
#define VERIFY_H

#include <stddef.h>
#include <stdint.h>

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

/* Where message n of the stream with this key starts in the pool. */
size_t	verify_offset(const struct verify_pool *p, uint64_t key, uint64_t n);

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

#endif
