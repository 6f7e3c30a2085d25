/* reload.h: what a SIGHUP's re-read of the settings changes, worked out
 * apart from applying it, so that it can be tested on its own. */
#ifndef RELOAD_H
#define RELOAD_H

#include <stddef.h>

#include "settings.h"

/* The keys that cannot change while running (threads, user, pidfile,
 * daemon) keep their running values in *next; each one the file changed
 * is logged as a warning naming it.  Call it before settings_finish(), so
 * that what is derived (max_conns) follows the values kept.  Returns how
 * many were kept back. */
int	reload_keep_fixed(const struct settings *cur, struct settings *next);

/* The keys whose values differ, as "listen, idle_timeout" in the order
 * --check-config prints them; "" if none.  Returns buf. */
char	*reload_changed_keys(const struct settings *cur,
	    const struct settings *next, char *buf, size_t len);

#endif
