/* detach.h: becoming a daemon (-d) without losing the start-up verdict:
 * the parent waits for the child's word through a pipe, never a sleep. */
#ifndef DETACH_H
#define DETACH_H

#include <stddef.h>

/*
 * Fork.  The parent waits until the child calls detach_done() (or exits)
 * and exits with the status it reports: 0 once the child is serving, or
 * the child's start-up failure status, whose message the child has
 * already written to the stderr they share.  The child returns here: a
 * new session, cwd /, and the pipe's write end in *notify_fd.  Returns 0
 * in the child, or -1 with the reason in err if it cannot fork.
 */
int	detach_start(int *notify_fd, char *err, size_t errlen);

/* In the child: tell the parent the start-up status.  0 means ready: then
 * stdin, stdout and stderr go to /dev/null (log lines go elsewhere by
 * then).  The pipe is closed either way; fd < 0: nothing to do. */
void	detach_done(int fd, int status);

#endif
