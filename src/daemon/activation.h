/* activation.h: listening sockets handed to us at exec, by systemd's
 * socket activation or by our own restart, through the same protocol
 * (sd_listen_fds(3)): LISTEN_PID is our pid, LISTEN_FDS=N, and the
 * sockets are descriptors 3 .. 3+N-1. */
#ifndef ACTIVATION_H
#define ACTIVATION_H

#include <stddef.h>

#include "addr.h"

#define ACTIVATION_FD_START	3
/* Sockets taken at exec at most: a UDP listener is a socket per thread,
 * and a restart hands them all over. */
#define ACTIVATION_MAX		1024
/* The LISTEN_FDNAMES name of the metrics listener's socket (systemd's
 * FileDescriptorName=, or our own restart's). */
#define ACTIVATION_METRICS	"metrics"

struct inherited {
	int		fd;
	struct addr	addr;	/* what getsockname() says, as an ADDR */
	int		claimed;	/* matched to a listen entry */
	int		reserved;	/* an entry names its very address */
	int		metrics;	/* named ACTIVATION_METRICS */
};

/*
 * Take the sockets passed to this process, each made non-blocking and
 * close-on-exec, described in out[0..n); unset LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES so that nothing we start inherits them.  Returns n (0
 * when none were passed to us), or -1 with the reason in err (a passed
 * descriptor that is not a socket we can serve).
 */
int	activation_take(struct inherited *out, int max, char *err,
	    size_t errlen);

/*
 * The inherited socket that serves a listen entry (metrics 0) or the
 * metrics listener (metrics 1, only a socket named so): one with the same
 * address; else, for an entry with port 0 (a restart of a server that
 * let the kernel pick), one of the same kind and host that no entry
 * reserved.  NULL if none is left unclaimed.
 */
struct inherited *activation_match(struct inherited *in, int n,
	    const struct addr *want, int metrics);

/* Before any matching: the socket with exactly want's address is that
 * entry's, whatever order the entries come in, so that a port-0 entry
 * never takes it (the entry would then bind a port already in use). */
void	activation_reserve(struct inherited *in, int n,
	    const struct addr *want, int metrics);

#endif
