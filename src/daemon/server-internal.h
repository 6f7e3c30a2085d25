/* server-internal.h: the main loop's state, shared by server.c and the
 * two signals that change a running server: server_reload.c (SIGHUP) and
 * server_restart.c (SIGUSR2).  Nothing else includes it. */
#ifndef SERVER_INTERNAL_H
#define SERVER_INTERNAL_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <event2/event.h>

#include "admit.h"
#include "episode.h"
#include "listeners.h"
#include "server.h"
#include "stats.h"

struct metrics;
struct perip;
struct udpguard_rates;
struct worker;

/* The signals the main loop handles, from before the first listener. */
#define SERVER_NSIGS	5

/* Why accepting is paused.  Each reason has its own episode: a first
 * line when it starts, a last one with the counts when it ends. */
enum pause_why {
	PAUSE_LIMIT,		/* at max_conns */
	PAUSE_ERROR,		/* accept() failed: EMFILE and friends */
	PAUSE__COUNT
};
_Static_assert((int)PAUSE_LIMIT == (int)STATS_PAUSE_LIMIT &&
    (int)PAUSE_ERROR == (int)STATS_PAUSE_ERROR, "a pause clock per reason");

struct pause {
	struct episode		 ep;
	struct event		*quiet_ev;	/* ends the episode */
	struct server		*srv;
	enum pause_why		 why;
};

struct server {
	struct settings		 cfg;	/* running; a reload replaces it */
	const struct settings_source *src;
	struct service		*svc;
	struct event_base	*base;
	struct worker		**workers;
	int			 nworkers;
	unsigned		 next_worker;
	struct listeners	 L;
	struct perip		*perip;	/* connections per address */
	struct udpguard_rates	*udp_rates;	/* what every worker's guard
						 * counts sources in */
	struct admit		 admit;	/* the main loop's: cfg's lists */
	struct event		*sig_ev[SERVER_NSIGS];
	struct event		*retry_ev;
	struct event		*watchdog_ev;	/* WATCHDOG=1, if asked */
	struct metrics		*metrics;	/* NULL: metrics = none */

	/* A restart under way: the successor and its word. */
	pid_t			 successor;
	int			 successor_fd;
	struct event		*successor_ev;

	/* Written by the workers, read here. */
	_Atomic int		 conns;
	_Atomic int		 max_conns;	/* the workers read it too */
	_Atomic int		 workers_stopped;

	/* Main thread only. */
	struct pause		 pause[PAUSE__COUNT];
	int			 stopping;
};

#define is_paused(srv, why)	((srv)->pause[(why)].ep.paused)

/* The main loop's counters: worker 0 runs on this thread. */
#define main_stats(srv)		worker_stats((srv)->workers[0])

/* Stop accepting and let every connection finish (SIGTERM, or a
 * successor that now serves).  remove_files: ours to remove, unless a
 * successor took them over. */
void	server_begin_shutdown(struct server *srv, int remove_files);

/* Accept again if nothing holds us back (the limit, an error pause). */
void	server_maybe_resume(struct server *srv);

/* The per-address limits of cfg, at start and at each reload. */
void	server_apply_limits(struct server *srv);

/* Every worker's counters, for the stats line and the metrics. */
struct stats *const *server_stats(struct server *srv);

/* SIGHUP and SIGUSR2. */
void	server_reload(struct server *srv);
void	server_restart(struct server *srv);

#endif
