/* restart.h: SIGUSR2, a restart that refuses nobody: the same binary
 * (resolved at start, so a replaced binary is the one started), the same
 * arguments, and every listening socket and the locked pidfile inherited
 * through the LISTEN_FDS protocol.  The new process says when it serves;
 * only then does the old one stop accepting and drain (nginx's binary
 * upgrade, haproxy's seamless reload). */
#ifndef RESTART_H
#define RESTART_H

#include <stddef.h>
#include <sys/types.h>

#include "activation.h"

/* At start: remember the binary and the arguments.  Returns 0 or -1. */
int	restart_init(int argc, char **argv);

/* The longest LISTEN_FDNAMES a restart passes: "listen:" for each
 * socket but the last, then "metrics". */
#define RESTART_NAMES_MAX	(ACTIVATION_MAX * 8)

/*
 * Start the successor with fds[0..n) as its descriptors 3.., named by
 * names (LISTEN_FDNAMES, colon-separated; NULL: none), the pidfile's
 * descriptor after them (pidfile_fd -1: none), in directory dir (the
 * start-up one, for relative arguments), NOTIFY_SOCKET set to
 * notify_socket if not "".  Returns its pid, with *ready_fd the end where
 * it will say it serves (one byte; EOF if it died first), or -1 with the
 * reason in err.
 */
pid_t	restart_spawn(const int *fds, int n, const char *names, int pidfile_fd,
	    const char *dir, const char *notify_socket, int *ready_fd,
	    char *err, size_t errlen);

/* In a process a restart started: 1, with the inherited pidfile
 * descriptor (-1 if none) and the descriptor to tell readiness on; the
 * variables that said so are unset.  0 for a normal start. */
int	restart_inherited(int *pidfile_fd, int *ready_fd);

/* Tell the predecessor we serve (fd < 0: nothing to do). */
void	restart_tell_ready(int fd);

#endif
