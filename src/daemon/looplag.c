/* looplag.c: a timer that measures how late its own loop runs it.  It is
 * re-armed by hand from the time it ran, not EV_PERSIST: libevent
 * reschedules a persistent timer from its due time and skips missed ones,
 * which would hide the lateness it is there to see. */
#include <stdlib.h>

#include "looplag.h"

struct looplag {
	struct event	*ev;
	struct stats	*st;
	uint64_t	 due;	/* stats_now_us() */
};

static int
looplag_arm(struct looplag *l)
{
	struct timeval tv = { LOOPLAG_INTERVAL_US / 1000000,
	    LOOPLAG_INTERVAL_US % 1000000 };

	l->due = stats_now_us() + LOOPLAG_INTERVAL_US;
	return evtimer_add(l->ev, &tv);
}

static void
looplag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct looplag *l = arg;

	(void)fd;
	(void)what;
	stats_lag_record(l->st, (int64_t)(stats_now_us() - l->due));
	looplag_arm(l);
}

struct looplag *
looplag_start(struct event_base *base, struct stats *st)
{
	struct looplag *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->st = st;
	l->ev = evtimer_new(base, looplag_cb, l);
	if (l->ev == NULL || looplag_arm(l) != 0) {
		looplag_free(l);
		return NULL;
	}
	return l;
}

void
looplag_free(struct looplag *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	free(l);
}
