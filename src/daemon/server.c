/* server.c: the main loop.  It owns the listeners and the signals, hands
 * each accepted connection to a worker round-robin (worker 0 runs on this
 * same loop), pauses accepting at max_conns and on descriptor exhaustion,
 * and orchestrates the graceful shutdown; a reload (SIGHUP) is in
 * server_reload.c, a restart (SIGUSR2) in server_restart.c. */
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

#include "admit.h"
#include "episode.h"
#include "exitcodes.h"
#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "server-internal.h"
#include "service.h"
#include "udpguard.h"
#include "worker.h"

#define ACCEPT_RETRY_MS		100

/* The signals the main loop handles, from before the first listener. */
static const int server_sigs[SERVER_NSIGS] = { SIGINT, SIGTERM, SIGUSR1,
    SIGHUP, SIGUSR2 };

/* Stop accepting for why; reason is accept()'s error for PAUSE_ERROR. */
static void
server_pause(struct server *srv, enum pause_why why, const char *reason)
{
	struct pause *p = &srv->pause[why];

	if (!p->ep.paused) {
		stats_add(main_stats(srv), why == PAUSE_LIMIT ? ST_LIMIT_PAUSES :
		    ST_ERROR_PAUSES, 1);
		stats_pause_begin(main_stats(srv), (enum stats_pause)why);
	}
	if (episode_pause(&p->ep, episode_now())) {
		if (why == PAUSE_LIMIT)
			log_notice("max_conns (%d) reached: pausing accepts",
			    atomic_load(&srv->max_conns));
		else
			log_warn("accept: %s: pausing accepts, retrying every "
			    "%d ms", reason, ACCEPT_RETRY_MS);
	}
	evtimer_del(p->quiet_ev);
	listeners_set(&srv->L, 0);
}

static void
server_unpause(struct server *srv, enum pause_why why)
{
	struct pause *p = &srv->pause[why];
	struct timeval quiet = { EPISODE_QUIET_US / 1000000,
	    EPISODE_QUIET_US % 1000000 };

	episode_resume(&p->ep, episode_now());
	stats_pause_end(main_stats(srv), (enum stats_pause)why);
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
		    " pause%s, %.3f s paused)", atomic_load(&p->srv->max_conns),
		    n, n == 1 ? "" : "s", (double)us / 1e6);
	else
		log_warn("accepting connections again (%" PRIu64 " pause%s, "
		    "%.3f s paused)", n, n == 1 ? "" : "s", (double)us / 1e6);
}

void
server_maybe_resume(struct server *srv)
{
	if (srv->stopping || is_paused(srv, PAUSE_ERROR))
		return;
	if (is_paused(srv, PAUSE_LIMIT) &&
	    atomic_load(&srv->conns) < atomic_load(&srv->max_conns))
		server_unpause(srv, PAUSE_LIMIT);
	if (!is_paused(srv, PAUSE_LIMIT))
		listeners_set(&srv->L, 1);
}

/* Admit fd, accepted from sa on a listener that speaks PROXY or not;
 * count it and give it to the next worker, round-robin.  Returns the
 * number of connections now, or -1 if it was refused (and closed). */
static int
server_take(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t len, int proxy)
{
	struct worker_conn wc;
	struct worker *w;
	int n;

	stats_add(main_stats(srv), ST_ACCEPTED, 1);
	wc.fd = fd;
	wc.proxy = proxy;
	if (admit_accepted(&srv->admit, sa, len, proxy, &wc.slot) != 0) {
		evutil_closesocket(fd);
		return -1;
	}
	wc.peerlen = len <= sizeof(wc.peer) ? len : 0;
	if (wc.peerlen > 0)
		memcpy(&wc.peer, sa, len);
	w = srv->workers[srv->next_worker++ % (unsigned)srv->nworkers];
	n = atomic_fetch_add(&srv->conns, 1) + 1;
	worker_give(w, &wc);
	return n;
}

static void
server_take_cb(void *arg, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t len, int proxy)
{
	server_take(arg, fd, sa, len, proxy);
}

static void
server_accepted(struct server *srv, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, int proxy)
{
	if (server_take(srv, fd, sa, (socklen_t)socklen, proxy) >=
	    atomic_load(&srv->max_conns) && !is_paused(srv, PAUSE_LIMIT))
		server_pause(srv, PAUSE_LIMIT, NULL);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	server_accepted(arg, fd, sa, socklen, 0);
}

/* A proxy_protocol listener's: the client is named by the header. */
static void
accept_proxy_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	server_accepted(arg, fd, sa, socklen, 1);
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

	stats_add(main_stats(srv), ST_ACCEPT_ERRORS, 1);
	server_pause(srv, PAUSE_ERROR, evutil_socket_error_to_string(err));
	evtimer_add(srv->retry_ev, &tv);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	server_unpause(srv, PAUSE_ERROR);
	server_maybe_resume(srv);
}

/* Worker hooks: conn_closed and stopped run in the workers' threads. */
static void
hook_conn_closed(void *arg)
{
	struct server *srv = arg;

	/* Only the close that takes us below the limit wakes the main loop. */
	if (atomic_fetch_sub(&srv->conns, 1) == atomic_load(&srv->max_conns))
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
		server_maybe_resume(srv);
}

/* Every worker's counters, for the stats line and the metrics. */
struct stats *const *
server_stats(struct server *srv)
{
	static struct stats *each[SETTINGS_MAX_THREADS];

	for (int i = 0; i < srv->nworkers; i++)
		each[i] = worker_stats(srv->workers[i]);
	return each;
}

static void
log_stats(struct server *srv)
{
	struct stats_snap sum;
	char line[2048];

	stats_snapshot(&sum, server_stats(srv), srv->nworkers);
	log_notice("stats %s", stats_format(&sum, line, sizeof(line)));
}

/* Stop accepting and let every connection finish (SIGTERM, or a
 * successor that now serves).  remove_files: ours to remove, unless a
 * successor took them over. */
void
server_begin_shutdown(struct server *srv, int remove_files)
{
	srv->stopping = 1;
	stats_set(main_stats(srv), ST_STOPPING, 1);
	evtimer_del(srv->retry_ev);
	for (int i = 0; i < PAUSE__COUNT; i++) {
		evtimer_del(srv->pause[i].quiet_ev);
		stats_pause_end(main_stats(srv), (enum stats_pause)i);
	}
	listeners_drain(&srv->L, srv->cfg.backlog, remove_files, server_take_cb,
	    srv);
	listeners_close_all(&srv->L, remove_files);
	for (int i = 0; i < srv->nworkers; i++)
		worker_stop(srv->workers[i]);
}

/* The per-address limits of cfg, at start and at each reload (the access
 * lists are read from cfg itself; udp_rate_per_ip goes to each worker's
 * guard with the rest of its settings). */
void
server_apply_limits(struct server *srv)
{
	perip_set_limit(srv->perip, srv->cfg.max_conns_per_ip);
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
	if (sig == SIGHUP || sig == SIGUSR2) {
		if (srv->stopping)
			log_warn("%s: shutting down: ignored", sig == SIGHUP ?
			    "SIGHUP" : "SIGUSR2");
		else if (sig == SIGHUP)
			server_reload(srv);
		else
			server_restart(srv);
		return;
	}
	if (srv->stopping) {
		log_warn("second %s: exiting now", signame);
		listeners_close_all(&srv->L, 1);
		_exit(1);
	}
	service_stopping(srv->svc);
	log_info("%s: shutting down: no new connections, finishing pending "
	    "replies", signame);
	server_begin_shutdown(srv, 1);
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
	metrics_stop(srv->metrics);
	listeners_close_all(&srv->L, 1);
	/* Worker 0 shares the main base: free the threaded ones first. */
	for (int i = srv->nworkers - 1; i >= 0; i--)
		worker_free(srv->workers[i]);
	free(srv->workers);
	udpguard_rates_free(srv->udp_rates);
	perip_free(srv->perip);
	for (int i = 0; i < SERVER_NSIGS; i++)
		if (srv->sig_ev[i] != NULL)
			event_free(srv->sig_ev[i]);
	if (srv->retry_ev != NULL)
		event_free(srv->retry_ev);
	if (srv->watchdog_ev != NULL)
		event_free(srv->watchdog_ev);
	if (srv->successor_ev != NULL)
		event_free(srv->successor_ev);
	if (srv->successor_fd >= 0)
		close(srv->successor_fd);
	for (int i = 0; i < PAUSE__COUNT; i++)
		if (srv->pause[i].quiet_ev != NULL)
			event_free(srv->pause[i].quiet_ev);
	if (srv->base != NULL)
		event_base_free(srv->base);
	free(srv);
}

/* The ready line, and the service manager's and a waiting parent's word.
 * Returns 0, or -1 (logged) if we cannot take over from a predecessor. */
static int
server_ready(struct server *srv)
{
	const struct settings *cfg = &srv->cfg;
	char status[128];

	if (service_take_over(srv->svc) != 0)
		return -1;
	snprintf(status, sizeof(status), "serving on %d listener%s, %d "
	    "thread%s", srv->L.n, srv->L.n == 1 ? "" : "s", cfg->threads,
	    cfg->threads == 1 ? "" : "s");
	log_notice("ready: upcased %s, %d thread%s, max_conns %d",
	    PACKAGE_VERSION, cfg->threads, cfg->threads == 1 ? "" : "s",
	    cfg->max_conns);
	service_ready(srv->svc, status);
	/* A predecessor's unix socket files are ours to remove from now on. */
	listeners_own_files(&srv->L);
	return 0;
}

int
server_run(const struct settings *cfg, const struct settings_source *src,
    struct service *svc)
{
	struct worker_hooks hooks = { hook_conn_closed, hook_stopped,
	    hook_woken, NULL };
	struct server *srv;
	int rc = EXIT_START, mfd;

	/* A write to a reset peer must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		log_error("out of memory");
		return EXIT_START;
	}
	srv->cfg = *cfg;
	cfg = &srv->cfg;
	srv->src = src;
	srv->svc = svc;
	srv->successor_fd = -1;
	atomic_init(&srv->max_conns, cfg->max_conns);
	hooks.arg = srv;
	srv->base = event_base_new();
	if (srv->base == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	srv->workers = calloc((size_t)cfg->threads, sizeof(*srv->workers));
	srv->perip = perip_new();
	srv->udp_rates = udpguard_rates_new();
	if (srv->workers == NULL || srv->perip == NULL ||
	    srv->udp_rates == NULL) {
		log_error("out of memory");
		goto out;
	}
	server_apply_limits(srv);
	for (int i = 0; i < cfg->threads; i++) {
		srv->workers[i] = worker_new(i, cfg, i == 0 ? srv->base : NULL,
		    &hooks, srv->perip, srv->udp_rates);
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
	srv->L.base = srv->base;
	srv->L.accept_cb = accept_cb;
	srv->L.accept_proxy_cb = accept_proxy_cb;
	srv->L.error_cb = accept_error_cb;
	srv->L.arg = srv;
	srv->L.workers = srv->workers;
	srv->L.nworkers = srv->nworkers;
	srv->L.udp_rcvbuf = cfg->udp_rcvbuf;
	srv->admit.acl = &cfg->acl;
	srv->admit.proxy_from = &cfg->proxy_from;
	srv->admit.perip = srv->perip;
	srv->admit.stats = main_stats(srv);
	if (listeners_inherit(&srv->L, !service_restarted(svc)) != 0)
		goto out;
	/* Before listeners_open_all(), which closes what nobody claimed. */
	mfd = cfg->metrics_on ? listeners_take_metrics(&srv->L,
	    &cfg->metrics) : -1;
	if (listeners_open_all(&srv->L, cfg) != 0) {
		if (mfd >= 0)
			close(mfd);
		goto out;
	}
	if ((cfg->metrics_on && (srv->metrics = metrics_start(&cfg->metrics,
	    mfd, server_stats(srv), srv->nworkers)) == NULL) ||
	    service_bound(svc, cfg) != 0 || start_watchdog(srv) != 0)
		goto out;
	for (int i = 1; i < srv->nworkers; i++)
		if (worker_start(srv->workers[i]) != 0)
			goto out;
	if (server_ready(srv) != 0)
		goto out;

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
