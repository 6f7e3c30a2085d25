/* service.c: the process around the server: -d, pidfile, user, and the
 * service manager's notifications, in the order a daemon needs them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detach.h"
#include "exitcodes.h"
#include "log.h"
#include "notify.h"
#include "pidfile.h"
#include "privdrop.h"
#include "restart.h"
#include "service.h"

struct service {
	int		 detach_fd;	/* -d: the waiting parent; -1 none */
	int		 restart_fd;	/* a predecessor waiting; -1 none */
	int		 restarted;	/* started by a restart (SIGUSR2) */
	struct pidfile	*pidfile;
};

struct service *
service_begin(const struct settings *cfg, int *status)
{
	struct service *svc;
	char err[SETTINGS_ERRLEN];
	int running, pidfile_fd = -1;

	*status = EXIT_START;
	if ((svc = calloc(1, sizeof(*svc))) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	svc->detach_fd = -1;
	svc->restart_fd = -1;
	notify_init();
	svc->restarted = restart_inherited(&pidfile_fd, &svc->restart_fd);
	if (svc->restarted && pidfile_fd >= 0) {
		/* The predecessor's locked pidfile: ours without a gap. */
		if (cfg->pidfile[0] == '\0' || (svc->pidfile = pidfile_adopt(
		    cfg->pidfile, pidfile_fd, err, sizeof(err))) == NULL) {
			log_error("restart: %s", cfg->pidfile[0] == '\0' ?
			    "a pidfile was handed over, but none is set" : err);
			close(pidfile_fd);
			service_end(svc, EXIT_START);
			return NULL;
		}
	}
	if (cfg->daemon && !svc->restarted) {
		/* stderr becomes /dev/null once we serve: lines meant for it
		 * go to syslog instead.  Start-up errors still reach the
		 * terminal (the tee) and so the parent's caller. */
		if (log_on_stderr()) {
			if (log_open("syslog", err, sizeof(err)) != 0) {
				log_error("%s", err);
				free(svc);
				return NULL;
			}
			log_notice("logging to syslog: log_file is stderr and "
			    "-d detaches from it");
		}
		if (detach_start(&svc->detach_fd, err, sizeof(err)) != 0) {
			log_error("%s", err);
			free(svc);
			return NULL;
		}
	}
	if (cfg->pidfile[0] != '\0' && svc->pidfile == NULL &&
	    (svc->pidfile = pidfile_acquire(
	    cfg->pidfile, &running, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		service_end(svc, EXIT_START);
		return NULL;
	}
	*status = EXIT_OK;
	return svc;
}

/* Give what upcased must reopen or remove later to the user it drops to. */
static int
service_hand_files(struct service *svc, const struct settings *cfg)
{
	int fd = log_file_fd();

	if (svc->pidfile != NULL &&
	    pidfile_chown(svc->pidfile, cfg->uid, cfg->gid) != 0) {
		log_error("pidfile %s: chown to %s: %s",
		    pidfile_path(svc->pidfile), cfg->user, strerror(errno));
		return -1;
	}
	if (fd >= 0 && fchown(fd, cfg->uid, cfg->gid) != 0) {
		log_error("log file %s: chown to %s: %s", cfg->log_file,
		    cfg->user, strerror(errno));
		return -1;
	}
	return 0;
}

int
service_bound(struct service *svc, const struct settings *cfg)
{
	char err[SETTINGS_ERRLEN] = "";

	/* A successor rewrites its predecessor's pidfile only when it is
	 * about to serve (service_take_over): until then the file names
	 * the process that does. */
	if (svc->pidfile != NULL && !svc->restarted &&
	    pidfile_write(svc->pidfile, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (cfg->user[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		log_warn("user %s: not started as root: running as uid %ld",
		    cfg->user, (long)geteuid());
		return 0;
	}
	if (service_hand_files(svc, cfg) != 0 ||
	    privdrop_to(cfg->user, cfg->uid, cfg->gid, err, sizeof(err)) != 0) {
		if (err[0] != '\0')
			log_error("%s", err);
		return -1;
	}
	log_info("running as %s (uid %ld, gid %ld)", cfg->user,
	    (long)getuid(), (long)getgid());
	return 0;
}

int
service_take_over(struct service *svc)
{
	char err[SETTINGS_ERRLEN];

	if (svc->pidfile != NULL && svc->restarted &&
	    pidfile_write(svc->pidfile, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

void
service_ready(struct service *svc, const char *status)
{
	if (notify_send("READY=1\nSTATUS=%s\nMAINPID=%ld", status,
	    (long)getpid()) != 0)
		log_warn("cannot notify the service manager: %s",
		    strerror(errno));
	log_tee_stderr(0);
	detach_done(svc->detach_fd, EXIT_OK);
	svc->detach_fd = -1;
	restart_tell_ready(svc->restart_fd);
	svc->restart_fd = -1;
}

int
service_restarted(const struct service *svc)
{
	return svc->restarted;
}

int
service_pidfile_fd(const struct service *svc)
{
	return svc->pidfile != NULL ? pidfile_fd(svc->pidfile) : -1;
}

void
service_reloading(struct service *svc)
{
	(void)svc;
	notify_send("RELOADING=1");
}

void
service_reloaded(struct service *svc, const char *status)
{
	(void)svc;
	notify_send("READY=1\nSTATUS=%s", status);
}

void
service_stopping(struct service *svc)
{
	(void)svc;
	notify_send("STOPPING=1");
}

uint64_t
service_watchdog_usec(const struct service *svc)
{
	(void)svc;
	return notify_watchdog_usec();
}

void
service_watchdog(struct service *svc)
{
	(void)svc;
	notify_send("WATCHDOG=1");
}

void
service_end(struct service *svc, int status)
{
	if (svc == NULL)
		return;
	detach_done(svc->detach_fd, status);
	if (svc->restart_fd >= 0)
		close(svc->restart_fd);	/* EOF: the predecessor keeps serving */
	pidfile_release(svc->pidfile);
	free(svc);
}
