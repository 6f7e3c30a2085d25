/* server.c: the main loop.  It owns the listeners and the signals, hands
 * each accepted connection to a worker round-robin (worker 0 runs on this
 * same loop), pauses accepting at max_conns and on descriptor exhaustion,
 * and orchestrates the graceful shutdown. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "activation.h"
#include "dgram.h"
#include "episode.h"
#include "exitcodes.h"
#include "log.h"
#include "server.h"
#include "service.h"
#include "sock.h"
#include "worker.h"

#define ACCEPT_RETRY_MS	100

/* The signals the main loop handles. */
static const int server_sigs[] = { SIGINT, SIGTERM, SIGUSR1 };
#define SERVER_NSIGS	((int)(sizeof(server_sigs) / sizeof(server_sigs[0])))

struct listener {
	struct addr		 bound;
	struct sock_file	 file;	/* unix: the socket file bound */
	struct evconnlistener	*lev;	/* stream */
	struct dgram		*dg;	/* UDP */
};

/* Why accepting is paused.  Each reason has its own episode: a first
 * line when it starts, a last one with the counts when it ends. */
enum pause_why {
	PAUSE_LIMIT,		/* at max_conns */
	PAUSE_ERROR,		/* accept() failed: EMFILE and friends */
	PAUSE__COUNT
};

struct pause {
	struct episode		 ep;
	struct event		*quiet_ev;	/* ends the episode */
	struct server		*srv;
	enum pause_why		 why;
};

struct server {
	const struct settings	*cfg;
	struct service		*svc;
	struct event_base	*base;
	struct worker		**workers;
	int			 nworkers;
	unsigned		 next_worker;
	struct listener		 ls[SETTINGS_MAX_LISTEN];
	int			 nls;
	unsigned		 next_listener;	/* re-armed first next time */
	struct event		*sig_ev[SERVER_NSIGS];
	struct event		*retry_ev;
	struct event		*watchdog_ev;	/* WATCHDOG=1, if asked */

	/* Sockets passed at exec (socket activation), until claimed. */
	struct inherited	 inh[ACTIVATION_MAX];
	int			 ninh;

	/* Written by the workers, read here. */
	_Atomic int		 conns;
	_Atomic int		 workers_stopped;

	/* Main thread only. */
	struct pause		 pause[PAUSE__COUNT];
	int			 stopping;
};

#define is_paused(srv, why)	((srv)->pause[(why)].ep.paused)

/*
 * Enable or disable every stream listener.  Only ever from this loop's
 * thread: libevent 2.1 can deadlock otherwise (libevent issue 1224).
 *
 * At max_conns the free slots are contended: the first listener whose
 * callback runs accepts until we pause again, and epoll reports the ready
 * listeners in the order they were re-armed.  So each resume starts one
 * listener further on: a flooded port cannot starve the others.
 */
static void
listeners_set(struct server *srv, int on)
{
	unsigned first = on && srv->nls > 0 ?
	    srv->next_listener++ % (unsigned)srv->nls : 0;

	for (int k = 0; k < srv->nls; k++) {
		struct listener *l = &srv->ls[(first + (unsigned)k) %
		    (unsigned)srv->nls];

		if (l->lev == NULL)
			continue;
		if (on)
			evconnlistener_enable(l->lev);
		else
			evconnlistener_disable(l->lev);
	}
}

/* Stop accepting for why; reason is accept()'s error for PAUSE_ERROR. */
static void
server_pause(struct server *srv, enum pause_why why, const char *reason)
{
	struct pause *p = &srv->pause[why];

	if (episode_pause(&p->ep, episode_now())) {
		if (why == PAUSE_LIMIT)
			log_notice("max_conns (%d) reached: pausing accepts",
			    srv->cfg->max_conns);
		else
			log_warn("accept: %s: pausing accepts, retrying every "
			    "%d ms", reason, ACCEPT_RETRY_MS);
	}
	evtimer_del(p->quiet_ev);
	listeners_set(srv, 0);
}

static void
server_unpause(struct server *srv, enum pause_why why)
{
	struct pause *p = &srv->pause[why];
	struct timeval quiet = { EPISODE_QUIET_US / 1000000,
	    EPISODE_QUIET_US % 1000000 };

	episode_resume(&p->ep, episode_now());
	evtimer_add(p->quiet_ev, &quiet);
}

/* Accepting ran for EPISODE_QUIET_US without a pause for p->why. */
static void
pause_quiet_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pause *p = arg;
	uint64_t n;
	int64_t us;

	(void)fd;
	(void)what;
	if (!episode_end(&p->ep, &n, &us))
		return;
	if (p->why == PAUSE_LIMIT)
		log_notice("below max_conns (%d) again: accepting (%" PRIu64
		    " pause%s, %.3f s paused)", p->srv->cfg->max_conns, n,
		    n == 1 ? "" : "s", (double)us / 1e6);
	else
		log_warn("accepting connections again (%" PRIu64 " pause%s, "
		    "%.3f s paused)", n, n == 1 ? "" : "s", (double)us / 1e6);
}

static void
maybe_resume(struct server *srv)
{
	if (srv->stopping || is_paused(srv, PAUSE_ERROR))
		return;
	if (is_paused(srv, PAUSE_LIMIT) &&
	    atomic_load(&srv->conns) < srv->cfg->max_conns)
		server_unpause(srv, PAUSE_LIMIT);
	if (!is_paused(srv, PAUSE_LIMIT))
		listeners_set(srv, 1);
}

/* Count fd and give it to the next worker, round-robin.  Returns the
 * number of connections now. */
static int
server_take(struct server *srv, evutil_socket_t fd)
{
	struct worker *w;
	int n;

	w = srv->workers[srv->next_worker++ % (unsigned)srv->nworkers];
	n = atomic_fetch_add(&srv->conns, 1) + 1;
	worker_give(w, fd);
	return n;
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct server *srv = arg;

	if (server_take(srv, fd) >= srv->cfg->max_conns &&
	    !is_paused(srv, PAUSE_LIMIT)) {
		stats_add(worker_stats(srv->workers[0]), ST_LIMIT_PAUSES, 1);
		server_pause(srv, PAUSE_LIMIT, NULL);
	}
}

/*
 * accept() failed for a reason that retrying at once will not fix
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM).  The listening socket stays readable,
 * so a listener left enabled would spin: pause all of them and retry from
 * a timer.
 */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	stats_add(worker_stats(srv->workers[0]), ST_ACCEPT_ERRORS, 1);
	server_pause(srv, PAUSE_ERROR, evutil_socket_error_to_string(err));
	evtimer_add(srv->retry_ev, &tv);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	server_unpause(srv, PAUSE_ERROR);
	maybe_resume(srv);
}

/* Worker hooks: conn_closed and stopped run in the workers' threads. */
static void
hook_conn_closed(void *arg)
{
	struct server *srv = arg;

	/* Only the close that takes us below the limit wakes the main loop. */
	if (atomic_fetch_sub(&srv->conns, 1) == srv->cfg->max_conns)
		worker_wake(srv->workers[0]);
}

static void
hook_stopped(void *arg)
{
	struct server *srv = arg;

	atomic_fetch_add(&srv->workers_stopped, 1);
	worker_wake(srv->workers[0]);
}

static void
hook_woken(void *arg)
{
	struct server *srv = arg;

	if (srv->stopping) {
		if (atomic_load(&srv->workers_stopped) == srv->nworkers)
			event_base_loopbreak(srv->base);
		return;
	}
	if (is_paused(srv, PAUSE_LIMIT))
		maybe_resume(srv);
}

/* Close every listener.  remove_files: remove the unix socket files we
 * bound, before the close: once the socket is closed a successor may bind
 * the path, and its file must stay.  (Not when the sockets are handed to
 * a new process.) */
static void
close_listeners(struct server *srv, int remove_files)
{
	for (int i = 0; i < srv->nls; i++) {
		struct listener *l = &srv->ls[i];
		if (remove_files)
			sock_unlink(&l->bound, &l->file);
		if (l->lev != NULL)
			evconnlistener_free(l->lev);
		dgram_free(l->dg);
		l->lev = NULL;
		l->dg = NULL;
	}
	srv->nls = 0;
}

static void
log_stats(struct server *srv)
{
	struct stats *each[SETTINGS_MAX_THREADS];
	struct stats sum;
	char line[512];

	for (int i = 0; i < srv->nworkers; i++)
		each[i] = worker_stats(srv->workers[i]);
	stats_sum(&sum, each, srv->nworkers);
	log_notice("stats %s", stats_format(&sum, line, sizeof(line)));
}

/*
 * At shutdown, the clients in the accept queues have connected and may
 * have sent data the kernel acknowledged: closing the listeners would
 * reset them.  Take them first, even past max_conns (the kernel already
 * let them in), and serve them like every other connection.  At most a
 * backlog's worth per listener, so that a flood cannot hold the shutdown.
 */
static void
listeners_drain(struct server *srv)
{
	int taken = 0;

	for (int i = 0; i < srv->nls; i++) {
		evutil_socket_t lfd;

		if (srv->ls[i].lev == NULL)
			continue;
		lfd = evconnlistener_get_fd(srv->ls[i].lev);
		for (int n = 0; n < srv->cfg->backlog; n++) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
			    SOCK_CLOEXEC);

			if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
				continue;
			if (fd < 0) {
				/* EAGAIN: done; EMFILE and friends: those
				 * left are reset with the listener. */
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					log_warn("accept at shutdown: %s",
					    strerror(errno));
				break;
			}
			server_take(srv, fd);
			taken++;
		}
	}
	if (taken > 0)
		log_debug("shutdown: took %d queued connection%s", taken,
		    taken == 1 ? "" : "s");
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	const char *signame = sig == SIGINT ? "SIGINT" : "SIGTERM";

	if (sig == SIGUSR1) {
		log_stats(srv);
		return;
	}
	if (srv->stopping) {
		log_warn("second %s: exiting now", signame);
		close_listeners(srv, 1);
		_exit(1);
	}
	srv->stopping = 1;
	service_stopping(srv->svc);
	log_info("%s: shutting down: no new connections, finishing pending "
	    "replies", signame);
	evtimer_del(srv->retry_ev);
	for (int i = 0; i < PAUSE__COUNT; i++)
		evtimer_del(srv->pause[i].quiet_ev);
	listeners_drain(srv);
	close_listeners(srv, 1);
	for (int i = 0; i < srv->nworkers; i++)
		worker_stop(srv->workers[i]);
}

/* Serve fd (bound or inherited) as listener l; logs "listening on". */
static int
serve_listener(struct server *srv, struct listener *l, int fd)
{
	char name[ADDR_STRLEN];

	if (l->bound.kind == ADDR_UDP) {
		l->dg = dgram_new(srv->base, fd, worker_stats(srv->workers[0]));
	} else {
		/* Backlog 0: the socket is already listening. */
		l->lev = evconnlistener_new(srv->base, accept_cb, srv,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
		if (l->lev != NULL)
			evconnlistener_set_error_cb(l->lev, accept_error_cb);
	}
	if (l->dg == NULL && l->lev == NULL) {
		log_error("cannot listen on %s: out of memory",
		    addr_format(&l->bound, name, sizeof(name)));
		sock_unlink(&l->bound, &l->file);
		close(fd);
		return -1;
	}
	srv->nls++;
	log_notice("listening on %s", addr_format(&l->bound, name,
	    sizeof(name)));
	return 0;
}

/* A listen entry's socket options; with `user`, unix socket files go to
 * that user unless owner= says otherwise, so it can remove them. */
static struct sock_opts
listen_sock_opts(const struct settings *cfg, const struct listen_spec *spec)
{
	struct sock_opts so = { spec->opts.reuseport, spec->opts.mode,
	    spec->uid, spec->gid };

	if (cfg->user[0] != '\0' && geteuid() == 0) {
		if (so.uid == (uid_t)-1)
			so.uid = cfg->uid;
		if (so.gid == (gid_t)-1)
			so.gid = cfg->gid;
	}
	return so;
}

/*
 * The sockets passed by a service manager are the listeners: a listen
 * entry with the same address gives one its options; an entry that
 * matches none is not bound (the manager decides where we listen).
 */
static int
claim_inherited(struct server *srv, const struct listen_spec *spec,
    struct listener *l)
{
	struct inherited *in = activation_match(srv->inh, srv->ninh,
	    &spec->addr);
	struct sock_opts so = listen_sock_opts(srv->cfg, spec);
	char err[256], name[ADDR_STRLEN];

	addr_format(&spec->addr, name, sizeof(name));
	if (in == NULL) {
		if (!srv->cfg->listen_is_default)
			log_warn("listen %s: no such socket was passed by the "
			    "service manager: not bound", name);
		return 0;
	}
	in->claimed = 1;
	l->bound = in->addr;
	if (sock_apply_file_opts(&in->addr, &so, err, sizeof(err)) != 0) {
		log_error("cannot listen on %s: %s", name, err);
		return -1;
	}
	return serve_listener(srv, l, in->fd);
}

static int
open_listeners(struct server *srv)
{
	const struct settings *cfg = srv->cfg;
	char err[256], name[ADDR_STRLEN];

	for (int i = 0; i < cfg->nlisten; i++) {
		struct listener *l = &srv->ls[srv->nls];
		const struct listen_spec *spec = &cfg->listen[i];
		struct sock_opts so = listen_sock_opts(cfg, spec);
		int fd;

		memset(l, 0, sizeof(*l));
		if (srv->ninh > 0) {
			if (claim_inherited(srv, spec, l) != 0)
				return -1;
			continue;
		}
		fd = sock_listen(&spec->addr, cfg->backlog, &so, &l->bound,
		    &l->file, err, sizeof(err));
		if (fd < 0) {
			log_error("cannot listen on %s: %s", addr_format(
			    &spec->addr, name, sizeof(name)), err);
			return -1;
		}
		if (serve_listener(srv, l, fd) != 0)
			return -1;
	}
	/* Passed sockets no entry named: served as they are. */
	for (int i = 0; i < srv->ninh; i++) {
		struct listener *l = &srv->ls[srv->nls];
		if (srv->inh[i].claimed)
			continue;
		if (srv->nls == SETTINGS_MAX_LISTEN) {
			log_error("more than %d listeners passed",
			    SETTINGS_MAX_LISTEN);
			return -1;
		}
		memset(l, 0, sizeof(*l));
		srv->inh[i].claimed = 1;
		l->bound = srv->inh[i].addr;
		if (serve_listener(srv, l, srv->inh[i].fd) != 0)
			return -1;
	}
	return 0;
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	service_watchdog(srv->svc);
}

/* WATCHDOG=1 from the main loop itself: a wedged loop stops sending it,
 * and the service manager restarts us. */
static int
start_watchdog(struct server *srv)
{
	uint64_t usec = service_watchdog_usec(srv->svc) / 2;
	struct timeval tv = { (time_t)(usec / 1000000),
	    (suseconds_t)(usec % 1000000) };

	if (usec == 0)
		return 0;
	srv->watchdog_ev = event_new(srv->base, -1, EV_PERSIST, watchdog_cb,
	    srv);
	if (srv->watchdog_ev == NULL || event_add(srv->watchdog_ev, &tv) != 0) {
		log_error("cannot start the watchdog timer");
		return -1;
	}
	return 0;
}

/* Freeing the signal events restores the default actions, and a SIGUSR1
 * that then arrived would kill us after "shutdown complete": block them
 * first (pending, they die with the process).  Only the main thread is
 * left by then: the workers are joined before the events are freed. */
static void
server_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (int i = 0; i < SERVER_NSIGS; i++)
		sigaddset(&set, server_sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void
server_free(struct server *srv)
{
	close_listeners(srv, 1);
	/* Worker 0 shares the main base: free the threaded ones first. */
	for (int i = srv->nworkers - 1; i >= 0; i--)
		worker_free(srv->workers[i]);
	free(srv->workers);
	for (int i = 0; i < SERVER_NSIGS; i++)
		if (srv->sig_ev[i] != NULL)
			event_free(srv->sig_ev[i]);
	if (srv->retry_ev != NULL)
		event_free(srv->retry_ev);
	if (srv->watchdog_ev != NULL)
		event_free(srv->watchdog_ev);
	for (int i = 0; i < srv->ninh; i++)
		if (!srv->inh[i].claimed)
			close(srv->inh[i].fd);
	for (int i = 0; i < PAUSE__COUNT; i++)
		if (srv->pause[i].quiet_ev != NULL)
			event_free(srv->pause[i].quiet_ev);
	if (srv->base != NULL)
		event_base_free(srv->base);
	free(srv);
}

int
server_run(const struct settings *cfg, struct service *svc)
{
	struct worker_hooks hooks = { hook_conn_closed, hook_stopped,
	    hook_woken, NULL };
	struct server *srv;
	int rc = EXIT_START;

	/* A write to a reset peer must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		log_error("out of memory");
		return EXIT_START;
	}
	srv->cfg = cfg;
	srv->svc = svc;
	hooks.arg = srv;
	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	srv->workers = calloc((size_t)cfg->threads, sizeof(*srv->workers));
	if (srv->workers == NULL)
		goto out;
	for (int i = 0; i < cfg->threads; i++) {
		srv->workers[i] = worker_new(i, cfg, i == 0 ? srv->base : NULL,
		    &hooks);
		if (srv->workers[i] == NULL)
			goto out;
		srv->nworkers++;
	}
	srv->retry_ev = evtimer_new(srv->base, retry_cb, srv);
	if (srv->retry_ev == NULL)
		goto out;
	for (int i = 0; i < PAUSE__COUNT; i++) {
		struct pause *p = &srv->pause[i];
		p->srv = srv;
		p->why = (enum pause_why)i;
		p->quiet_ev = evtimer_new(srv->base, pause_quiet_cb, p);
		if (p->quiet_ev == NULL)
			goto out;
	}
	for (int i = 0; i < SERVER_NSIGS; i++) {
		srv->sig_ev[i] = evsignal_new(srv->base, server_sigs[i],
		    server_signal_cb, srv);
		if (srv->sig_ev[i] == NULL || event_add(srv->sig_ev[i], NULL) != 0) {
			log_error("cannot handle signal %d", server_sigs[i]);
			goto out;
		}
	}
	{
		char err[256];
		srv->ninh = activation_take(srv->inh, ACTIVATION_MAX, err,
		    sizeof(err));
		if (srv->ninh < 0) {
			srv->ninh = 0;
			log_error("socket activation: %s", err);
			goto out;
		}
	}
	if (open_listeners(srv) != 0 || service_bound(svc, cfg) != 0 ||
	    start_watchdog(srv) != 0)
		goto out;
	for (int i = 1; i < srv->nworkers; i++)
		if (worker_start(srv->workers[i]) != 0)
			goto out;
	{
		char status[128];
		snprintf(status, sizeof(status), "serving on %d listener%s, "
		    "%d thread%s", srv->nls, srv->nls == 1 ? "" : "s",
		    cfg->threads, cfg->threads == 1 ? "" : "s");
		log_notice("ready: upcased %s, %d thread%s, max_conns %d",
		    PACKAGE_VERSION, cfg->threads, cfg->threads == 1 ? "" : "s",
		    cfg->max_conns);
		service_ready(svc, status);
	}

	if (event_base_dispatch(srv->base) < 0) {
		log_error("event loop failed");
		goto out;
	}
	log_notice("shutdown complete");
	rc = EXIT_OK;
out:
	if (rc != 0 && srv->nworkers > 1) {
		/* Started threads must stop before they can be joined. */
		for (int i = 1; i < srv->nworkers; i++)
			worker_stop(srv->workers[i]);
	}
	server_block_signals();
	server_free(srv);
	return rc;
}
