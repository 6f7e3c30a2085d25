/* server_restart.c: SIGUSR2 on the running server: start the successor
 * with our sockets (restart.c), wait for its word, then hand over and
 * drain, or report its failure and serve on. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activation.h"
#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "restart.h"
#include "server-internal.h"
#include "service.h"
#include "settings.h"

#define RESTART_TIMEOUT_S	30	/* a successor that never serves */

/* The successor spoke (it serves: hand over) or died (keep serving). */
static void
server_successor_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	char b;
	ssize_t n = (what & EV_READ) ? read(fd, &b, 1) : -1;
	int st = 0;

	if (n < 0 && (what & EV_READ) && errno == EAGAIN)
		return;
	event_free(srv->successor_ev);
	srv->successor_ev = NULL;
	close(srv->successor_fd);
	srv->successor_fd = -1;
	if (n == 1) {
		log_notice("restart: pid %ld serves: handing over and finishing "
		    "our connections", (long)srv->successor);
		srv->successor = 0;
		/* The successor serves the metrics listener now. */
		metrics_stop(srv->metrics);
		srv->metrics = NULL;
		server_begin_shutdown(srv, 0);
		return;
	}
	if (n < 0)
		kill(srv->successor, SIGKILL);	/* never became ready */
	while (waitpid(srv->successor, &st, 0) < 0 && errno == EINTR)
		;
	if (n < 0)
		log_warn("restart failed: pid %ld did not serve within %d s "
		    "(killed); still serving", (long)srv->successor,
		    RESTART_TIMEOUT_S);
	else if (WIFEXITED(st))
		log_warn("restart failed: pid %ld exited with status %d before "
		    "serving; still serving", (long)srv->successor,
		    WEXITSTATUS(st));
	else
		log_warn("restart failed: pid %ld died of signal %d before "
		    "serving; still serving", (long)srv->successor,
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	srv->successor = 0;
}

/* SIGUSR2: start the successor with our sockets; keep serving until it
 * says it serves too. */
void
server_restart(struct server *srv)
{
	/* Static: large, and the main thread's alone. */
	static int fds[ACTIVATION_MAX];
	int n;
	char err[256], dir[PATH_MAX], names[RESTART_NAMES_MAX] = "";
	struct timeval tv = { RESTART_TIMEOUT_S, 0 };

	if (srv->successor != 0) {
		log_warn("SIGUSR2: a restart is already under way (pid %ld)",
		    (long)srv->successor);
		return;
	}
	/* Every socket of every listener, and room for the metrics one. */
	n = listeners_fds(&srv->L, fds, ACTIVATION_MAX - 1);
	if (n < 0) {
		log_warn("restart failed: more than %d listening sockets to "
		    "hand over; still serving", ACTIVATION_MAX - 1);
		return;
	}
	if (srv->metrics != NULL) {
		/* Named, so that the successor tells it from a listener. */
		for (int i = 0; i < n; i++)
			strcat(names, "listen:");
		strcat(names, ACTIVATION_METRICS);
		fds[n++] = metrics_fd(srv->metrics);
	}
	if (settings_base_dir(dir, sizeof(dir)) != 0)
		strcpy(dir, "/");
	srv->successor = restart_spawn(fds, n, names[0] != '\0' ? names : NULL,
	    service_pidfile_fd(srv->svc), dir, notify_socket(),
	    &srv->successor_fd, err, sizeof(err));
	if (srv->successor < 0) {
		srv->successor = 0;
		log_warn("restart failed: %s; still serving", err);
		return;
	}
	srv->successor_ev = event_new(srv->base, srv->successor_fd,
	    EV_READ | EV_PERSIST, server_successor_cb, srv);
	if (srv->successor_ev == NULL ||
	    event_add(srv->successor_ev, &tv) != 0) {
		log_error("restart: cannot wait for pid %ld", (long)srv->successor);
		kill(srv->successor, SIGKILL);
		return;
	}
	n = srv->L.n;
	log_notice("restart: started pid %ld with %d listener%s%s",
	    (long)srv->successor, n, n == 1 ? "" : "s", srv->metrics != NULL ?
	    " and the metrics listener" : "");
}
