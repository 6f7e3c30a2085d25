/* promtext.h: the counters in Prometheus's text exposition format 0.0.4. */
#ifndef PROMTEXT_H
#define PROMTEXT_H

#include <event2/buffer.h>

#include "procinfo.h"
#include "stats.h"

#define PROMTEXT_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct promtext_input {
	const char		*version;	/* upcased_build_info */
	const struct stats_snap	*sum;		/* every worker's */
	const struct stats_snap	*workers;	/* each worker's, in order */
	int			 nworkers;
	const struct procinfo	*proc;		/* NULL: not readable now */
};

/* Every family, with HELP and TYPE, into out.  Returns 0, or -1 if out of
 * memory. */
int	promtext_render(struct evbuffer *out, const struct promtext_input *in);

#endif
