/* stats.h: counters kept per worker thread and summed when read. */
#ifndef STATS_H
#define STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The loop lag histogram's buckets: STATS_LAG_BUCKETS upper bounds, and
 * one more for what lies above the last (Prometheus's +Inf). */
#define STATS_LAG_BUCKETS	13

enum stat_id {
	/* Per message. */
	ST_BYTES_IN,
	ST_BYTES_OUT,
	ST_DGRAMS_IN,		/* UDP datagrams received */
	ST_DGRAMS,		/* UDP datagrams answered */
	/* A gauge: reply bytes held now.  Added to and taken from with
	 * wrapping arithmetic; each worker's own is never below 0, so
	 * the sum is right too. */
	ST_PENDING,

	/* Per connection, or rarer. */
	ST_ACCEPTED,		/* accept() gave a descriptor (main loop) */
	ST_OPENED,		/* connections accepted and set up */
	ST_CLOSED_EOF,		/* closed, by reason: see conn.c */
	ST_CLOSED_IDLE,
	ST_CLOSED_WRITE_TIMEOUT,
	ST_CLOSED_RESET,	/* a reset from the peer */
	ST_CLOSED_ERROR,	/* another socket error, or out of memory */
	ST_CLOSED_SHUTDOWN,
	ST_REJECTED_ACL,	/* accepted, then refused: by an access list */
	ST_REJECTED_PER_IP,	/* ... a per-address limit */
	ST_REJECTED_PROXY,	/* ... a bad PROXY protocol header, or a
				 * sender not in proxy_from */
	ST_REJECTED_ERROR,	/* ... it could not be set up */
	ST_BACKPRESSURE_PAUSES,	/* a client's replies reached max_pending */
	ST_DGRAMS_DROPPED,	/* UDP replies the kernel refused */
	ST_DGRAMS_KERNEL_DROPS,	/* UDP datagrams the kernel dropped before we
				 * read them: our receive queue was full */
	ST_DGRAMS_DROPPED_LOOP,	/* UDP from an echo-loop port, or ourselves */
	ST_DGRAMS_DROPPED_ACL,	/* UDP refused by allow or deny */
	ST_DGRAMS_DROPPED_RATE,	/* UDP over udp_rate_per_ip */
	ST_ACCEPT_ERRORS,	/* accept() failures: EMFILE and friends */
	ST_LIMIT_PAUSES,	/* times accepting paused at max_conns */
	ST_ERROR_PAUSES,	/* times accepting paused after accept errors */
	ST_STOPPING,		/* a gauge: 1 once a graceful shutdown began */

	/* How late the worker's periodic timer fired (see looplag.c). */
	ST_LAG_BUCKET,		/* + i: lags in (bound[i-1], bound[i]] */
	ST_LAG_SUM_US = ST_LAG_BUCKET + STATS_LAG_BUCKETS + 1,
	ST_LAG_COUNT,
	ST__COUNT
};

/* Why accepting is paused: each has its own clock. */
enum stats_pause {
	STATS_PAUSE_LIMIT,	/* at max_conns */
	STATS_PAUSE_ERROR,	/* after accept errors (EMFILE, ...) */
	STATS_PAUSE__COUNT
};

/* Time spent paused, written by one thread (the main loop), read by any:
 * a sequence lock, so that a reader never sees the running pause both
 * added to the total and still running, and the total never goes back. */
struct stats_clock {
	_Atomic uint64_t	seq;	/* odd while being written */
	_Atomic uint64_t	since;	/* the running pause's start (us), 0 */
	_Atomic uint64_t	total;	/* ended pauses (us) */
};

/* One writer per block (its worker thread); any thread may read.  Aligned
 * to a cache line so that workers never share one.  The worker's UDP
 * readers, each a thread of its own, count in shared (a line of its own:
 * the loop's counters stay in its core's cache); a read sums both. */
struct stats {
	_Alignas(64) _Atomic uint64_t v[ST__COUNT];
	struct stats_clock	paused[STATS_PAUSE__COUNT];
	_Alignas(64) _Atomic uint64_t shared[ST__COUNT];
};

/* What a reader works with: plain numbers, summed over the blocks it
 * read, the pause clocks as of the moment they were read. */
struct stats_snap {
	uint64_t	v[ST__COUNT];
	uint64_t	paused_us[STATS_PAUSE__COUNT];
	int		paused_now[STATS_PAUSE__COUNT];
};

/* A relaxed load and store, not a locked add: the owner is the only
 * writer, and readers only need a value that was true at some point. */
static inline void
stats_add(struct stats *s, enum stat_id id, uint64_t n)
{
	uint64_t old = atomic_load_explicit(&s->v[id], memory_order_relaxed);
	atomic_store_explicit(&s->v[id], old + n, memory_order_relaxed);
}

/* For the threads that share a block: a locked add. */
static inline void
stats_add_shared(struct stats *s, enum stat_id id, uint64_t n)
{
	atomic_fetch_add_explicit(&s->shared[id], n, memory_order_relaxed);
}

/* The owner's count of id (what stats_add added). */
static inline uint64_t
stats_get(const struct stats *s, enum stat_id id)
{
	return atomic_load_explicit(&s->v[id], memory_order_relaxed);
}

static inline void
stats_set(struct stats *s, enum stat_id id, uint64_t n)
{
	atomic_store_explicit(&s->v[id], n, memory_order_relaxed);
}

void	stats_init(struct stats *s);

/* Now: CLOCK_MONOTONIC in microseconds, never 0. */
uint64_t stats_now_us(void);

/* A pause for why begins / ends now; the owner only.  A begin while
 * paused, or an end while not, changes nothing. */
void	stats_pause_begin(struct stats *s, enum stats_pause why);
void	stats_pause_end(struct stats *s, enum stats_pause why);

/* One lag of a worker's loop, in microseconds. */
void	stats_lag_record(struct stats *s, int64_t lag_us);
/* The bucket a lag falls in: 0..STATS_LAG_BUCKETS (above the last). */
int	stats_lag_bucket(int64_t lag_us);
/* Bucket i's upper bound in microseconds, and as Prometheus's le label. */
extern const int64_t	stats_lag_bound_us[STATS_LAG_BUCKETS];
extern const char *const stats_lag_le[STATS_LAG_BUCKETS];

/* out = the sum of every block in each[0..n), read now. */
void	stats_snapshot(struct stats_snap *out, struct stats *const *each, int n);

/* Derived numbers. */
uint64_t stats_closed(const struct stats_snap *s);
uint64_t stats_rejected(const struct stats_snap *s);
uint64_t stats_open_conns(const struct stats_snap *s);
int	stats_accepting(const struct stats_snap *s);

/* One line: "conns_now=3 conns_total=10 bytes_in=... ". */
char	*stats_format(const struct stats_snap *s, char *buf, size_t len);

#endif
