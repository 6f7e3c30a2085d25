/* service.h: upcased as a service of the system: detaching (-d), the
 * pidfile, dropping privileges, and telling a service manager (systemd's
 * notification protocol) and a waiting parent where it stands. */
#ifndef SERVICE_H
#define SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "settings.h"

struct service;

/*
 * Before anything is bound: detach if -d (the parent waits for the
 * verdict), take the pidfile's lock (a live instance: exit 1 at once),
 * and read what the service manager passed.  Returns the service, or NULL
 * with the reason logged; *status is then the exit status.
 */
struct service *service_begin(const struct settings *cfg, int *status);

/* Once every listener is bound and the log is open: write the pidfile
 * (a restart's successor: in service_take_over), hand the files to `user`
 * and drop to it.  Returns 0, or -1 (logged). */
int	service_bound(struct service *svc, const struct settings *cfg);

/* About to serve: a restart's successor rewrites the pidfile it took over
 * (until now the predecessor's, which still serves).  Returns 0, or -1
 * (logged): then the successor must not serve. */
int	service_take_over(struct service *svc);

/* Serving: tell the parent (-d), the service manager and a predecessor. */
void	service_ready(struct service *svc, const char *status);

/* Reloading and reloaded, stopping: the service manager's view. */
void	service_reloading(struct service *svc);
void	service_reloaded(struct service *svc, const char *status);
void	service_stopping(struct service *svc);

/* The service manager's watchdog interval (0: none): WATCHDOG=1 at half
 * of it keeps a live loop from being restarted. */
uint64_t service_watchdog_usec(const struct service *svc);
void	service_watchdog(struct service *svc);

/* Whether a restart (SIGUSR2) started this process: its listeners came
 * from the predecessor, and its listen entries decide which to keep. */
int	service_restarted(const struct service *svc);

/* The pidfile's locked descriptor, to hand to a successor; -1 if none. */
int	service_pidfile_fd(const struct service *svc);

/* At exit, with the process's exit status: a parent still waiting hears
 * it; the pidfile goes if it is still ours. */
void	service_end(struct service *svc, int status);

#endif
