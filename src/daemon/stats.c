/* stats.c: summing and printing the per-thread counters, the accept pause
 * clocks and the loop lag histogram's buckets. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "stats.h"

/* Prometheus's default buckets, from 1 ms: an idle loop's timer is a
 * fraction of a millisecond late, an overloaded one tens of ms. */
const int64_t stats_lag_bound_us[STATS_LAG_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
const char *const stats_lag_le[STATS_LAG_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10",
};

void
stats_init(struct stats *s)
{
	for (int i = 0; i < ST__COUNT; i++) {
		atomic_init(&s->v[i], 0);
		atomic_init(&s->shared[i], 0);
	}
	for (int i = 0; i < STATS_PAUSE__COUNT; i++) {
		atomic_init(&s->paused[i].seq, 0);
		atomic_init(&s->paused[i].since, 0);
		atomic_init(&s->paused[i].total, 0);
	}
}

uint64_t
stats_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Never 0: 0 means "not paused". */
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 + 1;
}

/*
 * The writer's half of the sequence lock (one writer: the owner).  The
 * time is read inside the write: a reader that saw the pause still running
 * read its clock before this one, so what it counted of the pause is never
 * more than the total written here, and the paused time never goes back.
 */
static void
stats_clock_update(struct stats_clock *c, int begin)
{
	uint64_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
	uint64_t since = atomic_load_explicit(&c->since, memory_order_relaxed);
	uint64_t total = atomic_load_explicit(&c->total, memory_order_relaxed);
	uint64_t now;

	if (begin ? since != 0 : since == 0)
		return;
	atomic_store_explicit(&c->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	now = stats_now_us();
	if (begin) {
		since = now;
	} else {
		total += now > since ? now - since : 0;
		since = 0;
	}
	atomic_store_explicit(&c->since, since, memory_order_relaxed);
	atomic_store_explicit(&c->total, total, memory_order_relaxed);
	atomic_store_explicit(&c->seq, seq + 2, memory_order_release);
}

/* The reader's half: the time paused, the running pause counted up to a
 * moment read with the pair; retried while a write is under way. */
static uint64_t
stats_clock_read(const struct stats_clock *c, int *running)
{
	uint64_t s1, s2, since, total, now;

	do {
		s1 = atomic_load_explicit(&c->seq, memory_order_acquire);
		since = atomic_load_explicit(&c->since, memory_order_relaxed);
		total = atomic_load_explicit(&c->total, memory_order_relaxed);
		now = stats_now_us();
		atomic_thread_fence(memory_order_seq_cst);
		s2 = atomic_load_explicit(&c->seq, memory_order_relaxed);
	} while ((s1 & 1) != 0 || s1 != s2);
	*running = since != 0;
	return total + (since != 0 && now > since ? now - since : 0);
}

void
stats_pause_begin(struct stats *s, enum stats_pause why)
{
	stats_clock_update(&s->paused[why], 1);
}

void
stats_pause_end(struct stats *s, enum stats_pause why)
{
	stats_clock_update(&s->paused[why], 0);
}

int
stats_lag_bucket(int64_t lag_us)
{
	int i = 0;

	while (i < STATS_LAG_BUCKETS && lag_us > stats_lag_bound_us[i])
		i++;
	return i;
}

void
stats_lag_record(struct stats *s, int64_t lag_us)
{
	if (lag_us < 0)
		lag_us = 0;	/* the loop's coarse clock fired it early */
	stats_add(s, (enum stat_id)(ST_LAG_BUCKET + stats_lag_bucket(lag_us)),
	    1);
	stats_add(s, ST_LAG_SUM_US, (uint64_t)lag_us);
	stats_add(s, ST_LAG_COUNT, 1);
}

void
stats_snapshot(struct stats_snap *out, struct stats *const *each, int n)
{
	memset(out, 0, sizeof(*out));
	for (int k = 0; k < n; k++) {
		for (int i = 0; i < ST__COUNT; i++)
			out->v[i] += stats_get(each[k], (enum stat_id)i) +
			    atomic_load_explicit(&each[k]->shared[i],
			    memory_order_relaxed);
		for (int i = 0; i < STATS_PAUSE__COUNT; i++) {
			int running;

			out->paused_us[i] += stats_clock_read(&each[k]->paused[i],
			    &running);
			out->paused_now[i] |= running;
		}
	}
}

/* The sum of the counters first..last. */
static uint64_t
stats_range(const struct stats_snap *s, enum stat_id first, enum stat_id last)
{
	uint64_t n = 0;

	for (int i = first; i <= (int)last; i++)
		n += s->v[i];
	return n;
}

uint64_t
stats_closed(const struct stats_snap *s)
{
	return stats_range(s, ST_CLOSED_EOF, ST_CLOSED_SHUTDOWN);
}

uint64_t
stats_rejected(const struct stats_snap *s)
{
	return stats_range(s, ST_REJECTED_ACL, ST_REJECTED_ERROR);
}

uint64_t
stats_open_conns(const struct stats_snap *s)
{
	uint64_t opened = s->v[ST_OPENED], closed = stats_closed(s);

	return opened >= closed ? opened - closed : 0;
}

int
stats_accepting(const struct stats_snap *s)
{
	for (int i = 0; i < STATS_PAUSE__COUNT; i++)
		if (s->paused_now[i])
			return 0;
	return s->v[ST_STOPPING] == 0;
}

char *
stats_format(const struct stats_snap *s, char *buf, size_t len)
{
	const uint64_t *v = s->v;

	snprintf(buf, len, "conns_now=%" PRIu64 " conns_total=%" PRIu64
	    " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 " dgrams=%" PRIu64
	    " dgrams_dropped=%" PRIu64 " dgrams_kernel_dropped=%" PRIu64
	    " idle_timeouts=%" PRIu64
	    " write_timeouts=%" PRIu64
	    " resets=%" PRIu64 " rejected=%" PRIu64 " accept_errors=%" PRIu64
	    " limit_pauses=%" PRIu64 " accepted=%" PRIu64
	    " closed_eof=%" PRIu64 " closed_shutdown=%" PRIu64
	    " closed_reset=%" PRIu64 " closed_error=%" PRIu64
	    " rejected_acl=%" PRIu64 " rejected_per_ip=%" PRIu64
	    " proxy_errors=%" PRIu64 " rejected_error=%" PRIu64
	    " error_pauses=%" PRIu64 " limit_paused_ms=%" PRIu64
	    " error_paused_ms=%" PRIu64 " pending_bytes=%" PRIu64
	    " backpressure_pauses=%" PRIu64 " dgrams_in=%" PRIu64
	    " accepting=%d dgrams_loop=%" PRIu64 " dgrams_acl=%" PRIu64
	    " dgrams_rate=%" PRIu64,
	    stats_open_conns(s), v[ST_OPENED],
	    v[ST_BYTES_IN], v[ST_BYTES_OUT], v[ST_DGRAMS], v[ST_DGRAMS_DROPPED],
	    v[ST_DGRAMS_KERNEL_DROPS],
	    v[ST_CLOSED_IDLE], v[ST_CLOSED_WRITE_TIMEOUT],
	    v[ST_CLOSED_RESET] + v[ST_CLOSED_ERROR], stats_rejected(s),
	    v[ST_ACCEPT_ERRORS], v[ST_LIMIT_PAUSES], v[ST_ACCEPTED],
	    v[ST_CLOSED_EOF], v[ST_CLOSED_SHUTDOWN],
	    v[ST_CLOSED_RESET], v[ST_CLOSED_ERROR],
	    v[ST_REJECTED_ACL], v[ST_REJECTED_PER_IP],
	    v[ST_REJECTED_PROXY], v[ST_REJECTED_ERROR],
	    v[ST_ERROR_PAUSES], s->paused_us[STATS_PAUSE_LIMIT] / 1000,
	    s->paused_us[STATS_PAUSE_ERROR] / 1000, v[ST_PENDING],
	    v[ST_BACKPRESSURE_PAUSES], v[ST_DGRAMS_IN], stats_accepting(s),
	    v[ST_DGRAMS_DROPPED_LOOP], v[ST_DGRAMS_DROPPED_ACL],
	    v[ST_DGRAMS_DROPPED_RATE]);
	return buf;
}
