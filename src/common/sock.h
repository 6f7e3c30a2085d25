/* sock.h: creating listening and connecting sockets for an ADDR. */
#ifndef SOCK_H
#define SOCK_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"

/* How a listening socket is set up beyond its address. */
struct sock_opts {
	int	reuseport;	/* SO_REUSEPORT: processes share the port */
	int	mode;		/* unix: permissions, -1 as created (umask) */
	uid_t	uid;		/* unix: owner, (uid_t)-1 unchanged */
	gid_t	gid;		/* unix: group, (gid_t)-1 unchanged */
};

/* A bound, non-blocking, close-on-exec socket for a; listening if it is a
 * stream.  o may be NULL for the defaults.  *bound is the real address
 * (port 0 resolved).  Unix: a stale socket file is replaced, a live one
 * is an error; mode and owner are applied before listen(), so nobody can
 * connect under the wrong permissions.  Returns the descriptor, or -1
 * with the reason in err. */
int	sock_listen(const struct addr *a, int backlog, const struct sock_opts *o,
	    struct addr *bound, char *err, size_t errlen);

/* Remove a unix listener's socket file (never a file of another type). */
void	sock_unlink(const struct addr *bound);

/* A non-blocking, close-on-exec socket for a, not yet connected. */
int	sock_open(const struct addr *a);

#endif
