/* looplag.h: how late a worker's event loop runs a periodic timer, the
 * overload signal (it rises before latency does). */
#ifndef LOOPLAG_H
#define LOOPLAG_H

#include <event2/event.h>

#include "stats.h"

/* How often the timer is due. */
#define LOOPLAG_INTERVAL_US	100000

struct looplag;

/* A timer on base every LOOPLAG_INTERVAL_US, each lateness recorded in
 * st (stats_lag_record) from base's thread.  NULL if it cannot be set
 * up. */
struct looplag *looplag_start(struct event_base *base, struct stats *st);
void	looplag_free(struct looplag *l);

#endif
