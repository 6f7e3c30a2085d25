/* server_reload.c: SIGHUP on the running server: reopen the log, read the
 * settings again, and apply them (reload.c works out what changed). */
#include <stdatomic.h>
#include <string.h>

#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "server-internal.h"
#include "service.h"
#include "worker.h"

/* The settings again, from the same sources, with the keys that cannot
 * change kept as they run. */
static int
server_reread(struct server *srv, struct settings *next, char *err,
    size_t errlen)
{
	if (settings_compose(next, srv->src, err, errlen) != 0)
		return -1;
	reload_keep_fixed(&srv->cfg, next);
	return settings_finish(next, err, errlen);
}

/* A reload that cannot be applied: close the listeners it opened, say
 * why (what: the part that failed, or NULL), and serve on as before. */
static void
server_reload_fail(struct server *srv, const int *opened, int nopened,
    const char *why, const char *what)
{
	while (nopened > 0)
		listeners_close(&srv->L, opened[--nopened], 1);
	log_warn("reload failed: %s%s%s (keeping the running configuration)",
	    why, what != NULL ? ": " : "", what != NULL ? what : "");
	service_reloaded(srv->svc, "serving; the last reload failed");
}

/*
 * SIGHUP: reopen the log; with -c, re-read the settings (the command line
 * still wins), validate them whole, then apply what may change while
 * running.  Any failure -- a bad file, a listener that cannot be bound --
 * changes nothing.
 */
void
server_reload(struct server *srv)
{
	struct settings next;
	char err[SETTINGS_ERRLEN], changed[512];
	const char *path = srv->src->path;
	int opened[SETTINGS_MAX_LISTEN], nopened = 0;
	/* Large (the access lists): not on the stack; main thread only. */
	static struct worker_tunables tunables;
	struct worker_tunables *t = &tunables;

	service_reloading(srv->svc);
	if (log_reopen(err, sizeof(err)) != 0)
		log_warn("SIGHUP: %s (logging on to the old file)", err);
	if (path == NULL) {
		log_notice("SIGHUP: log reopened; no config file to reload");
		service_reloaded(srv->svc, "serving");
		return;
	}
	if (server_reread(srv, &next, err, sizeof(err)) != 0) {
		server_reload_fail(srv, NULL, 0, err, NULL);
		return;
	}
	if (srv->L.from_manager && next.nlisten > 0) {
		/* The service manager's sockets are the listeners. */
		memcpy(next.listen, srv->cfg.listen, sizeof(next.listen));
		next.nlisten = srv->cfg.nlisten;
		next.listen_is_default = srv->cfg.listen_is_default;
	}
	/* New listeners first: if one cannot be bound, close what this
	 * reload opened and keep everything else as it was. */
	for (int i = 0; !srv->L.from_manager && i < next.nlisten; i++) {
		if (listeners_find(&srv->L, &next.listen[i]) >= 0)
			continue;
		if (listeners_open(&srv->L, &next, &next.listen[i]) != 0) {
			server_reload_fail(srv, opened, nopened, path,
			    "a listener cannot be opened");
			return;
		}
		opened[nopened++] = srv->L.n - 1;
	}
	if (metrics_update(&srv->metrics, next.metrics_on, &next.metrics,
	    server_stats(srv), srv->nworkers) != 0) {
		server_reload_fail(srv, opened, nopened, path,
		    "the metrics listener cannot be opened");
		return;
	}
	/* Listeners no longer configured: closed; their connections stay. */
	for (int i = srv->L.n - 1; !srv->L.from_manager && i >= 0; i--) {
		int keep = 0;
		for (int k = 0; k < next.nlisten && !keep; k++)
			keep = listeners_find(&srv->L, &next.listen[k]) == i;
		if (!keep) {
			char name[ADDR_STRLEN];
			log_notice("closed listener %s", addr_format(
			    &srv->L.ls[i].bound, name, sizeof(name)));
			listeners_close(&srv->L, i, 1);
		}
	}
	if (next.backlog != srv->cfg.backlog)
		listeners_set_backlog(&srv->L, next.backlog);
	if (next.udp_rcvbuf != srv->cfg.udp_rcvbuf)
		listeners_set_udp_rcvbuf(&srv->L, next.udp_rcvbuf);
	if (is_paused(srv, PAUSE_LIMIT) || is_paused(srv, PAUSE_ERROR))
		listeners_set(&srv->L, 0);	/* new ones pause too */
	worker_tunables_of(&next, t);
	for (int i = 0; i < srv->nworkers; i++)
		worker_retune(srv->workers[i], t);
	log_set_level(next.log_level);
	if (strcmp(next.log_file, srv->cfg.log_file) != 0 &&
	    log_open(next.log_file, err, sizeof(err)) != 0) {
		log_warn("reload: %s (logging on as before)", err);
		strcpy(next.log_file, srv->cfg.log_file);
	}
	reload_changed_keys(&srv->cfg, &next, changed, sizeof(changed));
	srv->cfg = next;
	atomic_store(&srv->max_conns, next.max_conns);
	server_apply_limits(srv);
	if (is_paused(srv, PAUSE_LIMIT))
		server_maybe_resume(srv);	/* the limit may have risen */
	if (changed[0] != '\0')
		log_notice("reloaded %s: changed %s", path, changed);
	else
		log_notice("reloaded %s: no changes", path);
	service_reloaded(srv->svc, "serving");
}
