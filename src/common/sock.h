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

/* The socket file a unix listener bound: removed at exit only if the
 * path still names it. */
struct sock_file {
	int	set;
	dev_t	dev;
	ino_t	ino;
};

/* A bound, non-blocking, close-on-exec socket for a; listening if it is a
 * stream.  o may be NULL for the defaults.  *bound is the real address
 * (port 0 resolved).  Unix: a stale socket file is replaced, a live one
 * (even with a full backlog) is an error, all under the lock PATH.lock;
 * mode and owner are applied before listen(), so nobody can connect under
 * the wrong permissions; *file (may be NULL) says which file was bound.
 * Returns the descriptor, or -1 with the reason in err. */
int	sock_listen(const struct addr *a, int backlog, const struct sock_opts *o,
	    struct addr *bound, struct sock_file *file, char *err,
	    size_t errlen);

/* A unix socket file's mode and owner as o says (nothing for other
 * kinds): for a socket bound elsewhere, e.g. passed by systemd.  Returns
 * 0, or -1 with the reason in err. */
int	sock_apply_file_opts(const struct addr *a, const struct sock_opts *o,
	    char *err, size_t errlen);

/* Remove the unix socket file sock_listen() bound, if the path still
 * names that file (a successor's is left alone).  Call it before closing
 * the listener: once closed, a successor may take the path. */
void	sock_unlink(const struct addr *bound, const struct sock_file *file);

/* A non-blocking, close-on-exec socket for a, not yet connected. */
int	sock_open(const struct addr *a);

#endif
