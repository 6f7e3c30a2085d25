/* worker.h: an event loop that owns connections and UDP sockets (each
 * read by a thread of its own), on its own thread or on the main
 * thread's loop. */
#ifndef WORKER_H
#define WORKER_H

#include <event2/event.h>

#include "addr.h"
#include "perip.h"
#include "settings.h"
#include "stats.h"
#include "udpguard.h"

struct worker;

/* An accepted connection handed to a worker. */
struct worker_conn {
	evutil_socket_t		 fd;
	int			 proxy;	/* a PROXY header comes first */
	struct perip_slot	*slot;	/* its place in the per-address count */
	/* Its peer as accept() told it: a peer that resets at once has
	 * none to getpeername() by the time the log wants it. */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
};

struct worker_hooks {
	/* In the worker's thread, after one of its connections is gone. */
	void	(*conn_closed)(void *arg);
	/* In the worker's thread, once a stop has finished. */
	void	(*stopped)(void *arg);
	/* In worker 0's thread (the main loop) when it is woken. */
	void	(*woken)(void *arg);
	void	*arg;
};

/* base NULL: the worker creates its own and runs it on a new thread at
 * worker_start(); otherwise it lives on the given (main) loop.  perip is
 * the count of connections per address every worker shares (NULL: none
 * is kept); rates the UDP per-source buckets they share. */
struct worker *worker_new(int id, const struct settings *cfg,
	    struct event_base *base, const struct worker_hooks *hooks,
	    struct perip *perip, struct udpguard_rates *rates);
int	worker_start(struct worker *w);

/* From the main thread: serve the connection on w (direct if w runs
 * there). */
void	worker_give(struct worker *w, const struct worker_conn *wc);

/* From the main thread: serve the bound UDP socket fd, with a reader
 * thread that counts in w's counters (fd is w's from then on), or stop
 * serving it and close it.  Both happen in w's thread, soon after, once
 * it runs; before that, at once. */
void	worker_add_udp(struct worker *w, evutil_socket_t fd);
void	worker_remove_udp(struct worker *w, evutil_socket_t fd);

/* From the main thread: every UDP listening address, so that w's UDP
 * readers drop datagrams that come from us. */
void	worker_set_udp_self(struct worker *w, const struct addr *self, int n);

/* From any thread: wake w's loop (its hooks' woken runs on worker 0). */
void	worker_wake(struct worker *w);

/* What a reload may change in a running worker. */
struct worker_tunables {
	size_t		chunk_size;
	size_t		max_pending;
	timeout_us	idle_timeout;
	timeout_us	write_timeout;
	timeout_us	shutdown_timeout;
	timeout_us	proxy_timeout;
	struct acl	acl;
	int		udp_rate_per_ip;
};
void	worker_tunables_of(const struct settings *cfg, struct worker_tunables *t);

/* From the main thread: w takes t in its own thread, soon after. */
void	worker_retune(struct worker *w, const struct worker_tunables *t);

/* From the main thread: begin a graceful stop; hooks->stopped follows. */
void	worker_stop(struct worker *w);

/* After stopped: join the thread and free everything. */
void	worker_free(struct worker *w);

struct stats *worker_stats(struct worker *w);

#endif
