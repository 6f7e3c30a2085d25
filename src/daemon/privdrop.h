/* privdrop.h: running as an unprivileged user once everything that needs
 * root (binding, the log, the pidfile) is done. */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* The uid and gid of a user name (or number).  Returns 0, or -1 with
 * "unknown user 'NAME'" in err. */
int	privdrop_lookup(const char *name, uid_t *uid, gid_t *gid, char *err,
	    size_t errlen);

/* initgroups, setgid, setuid, then check that root cannot be regained.
 * Returns 0, or -1 with the reason in err. */
int	privdrop_to(const char *name, uid_t uid, gid_t gid, char *err,
	    size_t errlen);

#endif
