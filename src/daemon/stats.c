/* stats.c: summing and printing the per-thread counters. */
#include <inttypes.h>
#include <stdio.h>

#include "stats.h"

void
stats_init(struct stats *s)
{
	for (int i = 0; i < ST__COUNT; i++)
		atomic_init(&s->v[i], 0);
}

void
stats_sum(struct stats *out, struct stats *const *each, int n)
{
	stats_init(out);
	for (int k = 0; k < n; k++)
		for (int i = 0; i < ST__COUNT; i++)
			stats_add(out, (enum stat_id)i,
			    stats_get(each[k], (enum stat_id)i));
}

char *
stats_format(const struct stats *s, char *buf, size_t len)
{
	uint64_t opened = stats_get(s, ST_OPENED), closed = stats_get(s, ST_CLOSED);

	snprintf(buf, len, "conns_now=%" PRIu64 " conns_total=%" PRIu64
	    " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 " dgrams=%" PRIu64
	    " dgrams_dropped=%" PRIu64 " dgrams_kernel_dropped=%" PRIu64
	    " idle_timeouts=%" PRIu64
	    " write_timeouts=%" PRIu64
	    " resets=%" PRIu64 " rejected=%" PRIu64 " accept_errors=%" PRIu64
	    " limit_pauses=%" PRIu64,
	    opened >= closed ? opened - closed : 0, opened,
	    stats_get(s, ST_BYTES_IN), stats_get(s, ST_BYTES_OUT),
	    stats_get(s, ST_DGRAMS), stats_get(s, ST_DGRAMS_DROPPED),
	    stats_get(s, ST_DGRAMS_KERNEL_DROPS),
	    stats_get(s, ST_IDLE_TIMEOUTS),
	    stats_get(s, ST_WRITE_TIMEOUTS), stats_get(s, ST_RESETS),
	    stats_get(s, ST_REJECTED), stats_get(s, ST_ACCEPT_ERRORS),
	    stats_get(s, ST_LIMIT_PAUSES));
	return buf;
}
