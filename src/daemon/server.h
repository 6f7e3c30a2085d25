/* server.h: listeners, workers, accept limits, signals and shutdown. */
#ifndef SERVER_H
#define SERVER_H

#include "service.h"
#include "settings.h"

/* Run until a signal ends it, telling svc where it stands; a reload
 * composes the settings from src again.  Returns the process exit status:
 * 0 after a graceful shutdown, 1 if the server could not start. */
int	server_run(const struct settings *cfg, const struct settings_source *src,
	    struct service *svc);

#endif
