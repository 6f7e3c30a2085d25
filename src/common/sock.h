/* sock.h: creating listening and connecting sockets for an ADDR. */
#ifndef SOCK_H
#define SOCK_H

#include <stddef.h>

#include "addr.h"

/* A bound, non-blocking, close-on-exec socket for a; listening if it is a
 * stream.  *bound is the real address (port 0 resolved).  Unix: a stale
 * socket file is replaced, a live one is an error.  Returns the
 * descriptor, or -1 with the reason in err. */
int	sock_listen(const struct addr *a, int backlog, struct addr *bound,
	    char *err, size_t errlen);

/* Remove a unix listener's socket file (never a file of another type). */
void	sock_unlink(const struct addr *bound);

/* A non-blocking, close-on-exec socket for a, not yet connected. */
int	sock_open(const struct addr *a);

#endif
