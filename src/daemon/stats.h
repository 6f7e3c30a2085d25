/* stats.h: counters kept per worker thread and summed when read. */
#ifndef STATS_H
#define STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum stat_id {
	ST_OPENED,		/* connections accepted and set up */
	ST_CLOSED,
	ST_BYTES_IN,
	ST_BYTES_OUT,
	ST_DGRAMS,		/* UDP datagrams answered */
	ST_DGRAMS_DROPPED,	/* UDP replies the kernel refused */
	ST_DGRAMS_KERNEL_DROPS,	/* UDP datagrams the kernel dropped before we
				 * read them: our receive queue was full */
	ST_IDLE_TIMEOUTS,
	ST_WRITE_TIMEOUTS,
	ST_RESETS,		/* closed by a reset or socket error */
	ST_REJECTED,		/* accepted but not served (setup failed) */
	ST_ACCEPT_ERRORS,	/* accept() failures: EMFILE and friends */
	ST_LIMIT_PAUSES,	/* times accepting paused at max_conns */
	ST__COUNT
};

/* One writer per block (its worker thread); any thread may read.  Aligned
 * to a cache line so that workers never share one. */
struct stats {
	_Alignas(64) _Atomic uint64_t v[ST__COUNT];
};

/* A relaxed load and store, not a locked add: the owner is the only
 * writer, and readers only need a value that was true at some point. */
static inline void
stats_add(struct stats *s, enum stat_id id, uint64_t n)
{
	uint64_t old = atomic_load_explicit(&s->v[id], memory_order_relaxed);
	atomic_store_explicit(&s->v[id], old + n, memory_order_relaxed);
}

static inline uint64_t
stats_get(const struct stats *s, enum stat_id id)
{
	return atomic_load_explicit(&s->v[id], memory_order_relaxed);
}

void	stats_init(struct stats *s);
/* out = the sum of every block in each[0..n). */
void	stats_sum(struct stats *out, struct stats *const *each, int n);
/* One line: "conns_now=3 conns_total=10 bytes_in=... ". */
char	*stats_format(const struct stats *s, char *buf, size_t len);

#endif
