/* episode.c: a run of accept pauses, told once.  At max_conns under churn
 * accepting pauses and resumes thousands of times a second, and sustained
 * EMFILE every retry: an episode starts at the first pause and ends once
 * accepting has run for EPISODE_QUIET_US without another, so the log gets
 * one line at each end, the second with the count and the time paused. */
#include <time.h>

#include "episode.h"

int
episode_pause(struct episode *e, int64_t now)
{
	int begins = !e->active;

	if (begins) {
		e->active = 1;
		e->pauses = 0;
		e->paused_us = 0;
	}
	if (!e->paused) {
		e->paused = 1;
		e->paused_at = now;
		e->pauses++;
	}
	return begins;
}

void
episode_resume(struct episode *e, int64_t now)
{
	if (!e->paused)
		return;
	e->paused = 0;
	if (now > e->paused_at)
		e->paused_us += now - e->paused_at;
}

int
episode_end(struct episode *e, uint64_t *pauses, int64_t *paused_us)
{
	if (!e->active || e->paused)
		return 0;
	e->active = 0;
	*pauses = e->pauses;
	*paused_us = e->paused_us;
	return 1;
}

int64_t
episode_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
