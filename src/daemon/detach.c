/* detach.c: fork, setsid, chdir /, and the child's start-up verdict sent
 * to the waiting parent as one byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detach.h"
#include "exitcodes.h"

/* The parent's side: one byte is the child's status; EOF without one
 * means the child exited first, and its exit status says how. */
static void
detach_wait(int rfd, pid_t child)
{
	unsigned char b;
	ssize_t n;
	int st;

	do
		n = read(rfd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(b);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : EXIT_START);
	fprintf(stderr, "upcased: the daemon died while starting (signal %d)\n",
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	_exit(EXIT_START);
}

int
detach_start(int *notify_fd, char *err, size_t errlen)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot detach: pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "cannot detach: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		detach_wait(p[0], pid);
	}
	close(p[0]);
	/* A new session: no controlling terminal, and the shell's job
	 * control signals no longer reach us. */
	if (setsid() < 0 || chdir("/") != 0) {
		snprintf(err, errlen, "cannot detach: %s", strerror(errno));
		close(p[1]);
		return -1;
	}
	*notify_fd = p[1];
	return 0;
}

void
detach_done(int fd, int status)
{
	unsigned char b = (unsigned char)status;
	int null;

	if (fd < 0)
		return;
	if (status == 0 && (null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	/* After stderr moved: the parent's exit must not race our lines. */
	if (write(fd, &b, 1) != 1)
		status = -1;	/* the parent is gone: nobody to tell */
	close(fd);
}
