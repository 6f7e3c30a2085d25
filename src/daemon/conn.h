/* conn.h: one stream connection's life on a worker's event loop. */
#ifndef CONN_H
#define CONN_H

#include <sys/queue.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/util.h>

#include "stats.h"

struct conn;

/* What the connections of one worker share.  The worker owns it; the conn
 * module keeps the list and the count. */
struct conn_env {
	struct event_base	*base;
	const struct timeval	*idle_tv;	/* NULL: none */
	const struct timeval	*write_tv;	/* NULL: none */
	size_t			 chunk_size;
	/* One read's buffer, chunk_size bytes: a loop runs one callback
	 * at a time, so its connections share it. */
	unsigned char		*scratch;
	size_t			 max_pending;
	struct stats		*stats;
	/* Called after each connection is gone. */
	void			(*closed)(void *arg);
	void			*arg;

	LIST_HEAD(, conn)	 conns;
	int			 nconns;
	/* Clients refused or closed for want of memory since a connection
	 * was last set up: such a run is logged once (conn.c). */
	uint64_t		 failures;
};

/* Serve fd on env's loop.  On failure the descriptor is closed and counted
 * as rejected; returns NULL. */
struct conn *conn_new(struct conn_env *env, evutil_socket_t fd);

/* Graceful shutdown: every connection is answered until it half-closes,
 * or has been quiet for the drain's quiet time with every reply out (then
 * a lingering close), whichever comes first. */
void	conn_shutdown_all(struct conn_env *env);

/* Close every connection at once (shutdown deadline, exit). */
void	conn_close_all(struct conn_env *env);

#endif
