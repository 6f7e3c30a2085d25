/* conn.h: one stream connection's life on a worker's event loop. */
#ifndef CONN_H
#define CONN_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/util.h>

#include "admit.h"
#include "stats.h"

struct conn;
struct proxy_wait;

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
	/* Called after each connection is gone (also one that never got
	 * past its PROXY header). */
	void			(*closed)(void *arg);
	void			*arg;

	/* proxy_protocol listeners: how long a header may take (NULL:
	 * none), and who gets in once it names the client. */
	const struct timeval	*proxy_tv;
	struct admit		 admit;

	LIST_HEAD(, conn)	 conns;
	int			 nconns;
	/* Clients refused or closed for want of memory since a connection
	 * was last set up: such a run is logged once (conn.c). */
	uint64_t		 failures;
	/* Connections still waiting for their PROXY header (proxy_wait.c). */
	LIST_HEAD(, proxy_wait)	 waiting;
	int			 nwaiting;
	int			 stopping;	/* a graceful shutdown began */
};

/* How a connection came, when more is known than its socket says. */
struct conn_origin {
	/* The client a PROXY header named (NULL: the socket's peer), and
	 * how it came, for the log: "via 127.0.0.1:40122". */
	const struct sockaddr	*peer;
	socklen_t		 peerlen;
	const char		*via;
	struct perip_slot	*slot;	/* its place in the per-address count */
	unsigned char		*data;	/* sent after the header: served first */
	size_t			 len;
};

/* Serve fd on env's loop; origin may be NULL.  On failure the descriptor
 * is closed and counted as rejected; returns NULL (also if serving the
 * origin's data ended the connection). */
struct conn *conn_open(struct conn_env *env, evutil_socket_t fd,
	    const struct conn_origin *origin);
struct conn *conn_new(struct conn_env *env, evutil_socket_t fd);

/* Graceful shutdown: every connection is answered until it half-closes,
 * or has been quiet for the drain's quiet time with every reply out (then
 * a lingering close), whichever comes first. */
void	conn_shutdown_all(struct conn_env *env);

/* Close every connection at once (shutdown deadline, exit). */
void	conn_close_all(struct conn_env *env);

#endif
