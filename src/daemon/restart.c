/* restart.c: fork and exec the successor with our sockets.  After fork()
 * in a threaded process only async-signal-safe calls are allowed until
 * exec, so everything the child needs -- the environment, LISTEN_PID's
 * slot included -- is built before the fork. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "notify.h"
#include "restart.h"

#define RESTART_PIDFILE_ENV	"UPCASED_RESTART_PIDFILE_FD"
#define RESTART_READY_ENV	"UPCASED_RESTART_READY_FD"

extern char **environ;

static char restart_exe[PATH_MAX];
static char **restart_argv;

int
restart_init(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", restart_exe,
	    sizeof(restart_exe) - 1);

	if (n <= 0 || (size_t)n >= sizeof(restart_exe) - 1)
		return -1;
	restart_exe[n] = '\0';
	/* A binary replaced by rename shows as "PATH (deleted)": the path
	 * is what a restart must run. */
	if (n > 10 && strcmp(restart_exe + n - 10, " (deleted)") == 0)
		restart_exe[n - 10] = '\0';
	(void)argc;
	restart_argv = argv;
	return 0;
}

/* The successor's own variables, written one after another into one
 * buffer: everything is built before the fork. */
struct restart_envbuf {
	char	*at;
	size_t	 left;
};

static __attribute__((format(printf, 2, 3))) char *
restart_env_put(struct restart_envbuf *b, const char *fmt, ...)
{
	char *s = b->at;
	va_list ap;
	int used;

	va_start(ap, fmt);
	used = vsnprintf(b->at, b->left, fmt, ap);
	va_end(ap);
	if (used < 0 || (size_t)used >= b->left)
		return NULL;
	b->at += used + 1;
	b->left -= (size_t)used + 1;
	return s;
}

/* The successor's environment: ours without the variables a start reads
 * for itself, plus the new ones; pid_slot gets LISTEN_PID's digits.  The
 * watchdog interval goes on without WATCHDOG_PID: once the successor has
 * sent MAINPID=, the manager expects WATCHDOG=1 from it, and would kill
 * it for staying silent. */
static char **
restart_env(int n, const char *names, int pidfile_fd,
    const char *notify_socket, char **pid_slot, char *bufs, size_t buflen)
{
	static const char *const drop[] = { "LISTEN_PID=", "LISTEN_FDS=",
	    "LISTEN_FDNAMES=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=",
	    "WATCHDOG_PID=", RESTART_PIDFILE_ENV "=", RESTART_READY_ENV "=",
	    NULL };
	struct restart_envbuf b = { bufs, buflen };
	size_t count = 0, k = 0, first;
	char **env;

	while (environ[count] != NULL)
		count++;
	if ((env = calloc(count + 8, sizeof(*env))) == NULL)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		int skip = 0;
		for (int d = 0; drop[d] != NULL; d++)
			skip |= strncmp(environ[i], drop[d], strlen(drop[d])) == 0;
		if (!skip)
			env[k++] = environ[i];
	}
	first = k;
	env[k++] = restart_env_put(&b, "LISTEN_PID=%-20s", "");
	env[k++] = restart_env_put(&b, "LISTEN_FDS=%d", n);
	if (names != NULL)
		env[k++] = restart_env_put(&b, "LISTEN_FDNAMES=%s", names);
	env[k++] = restart_env_put(&b, RESTART_READY_ENV "=%d",
	    ACTIVATION_FD_START + n + (pidfile_fd >= 0));
	if (pidfile_fd >= 0)
		env[k++] = restart_env_put(&b, RESTART_PIDFILE_ENV "=%d",
		    ACTIVATION_FD_START + n);
	if (notify_socket[0] != '\0')
		env[k++] = restart_env_put(&b, "NOTIFY_SOCKET=%s",
		    notify_socket);
	if (notify_watchdog_usec() > 0)
		env[k++] = restart_env_put(&b, "WATCHDOG_USEC=%llu",
		    (unsigned long long)notify_watchdog_usec());
	env[k] = NULL;
	for (size_t i = first; i < k; i++)
		if (env[i] == NULL) {	/* cannot happen: bufs holds them all */
			free(env);
			return NULL;
		}
	*pid_slot = env[first] + strlen("LISTEN_PID=");
	return env;
}

/* Async-signal-safe: the pid's digits into slot (space-padded). */
static void
restart_put_pid(char *slot, pid_t pid)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid > 0);
	for (int i = 0; i < n; i++)
		slot[i] = digits[n - 1 - i];
	slot[n] = '\0';
}

/* In the child, before exec: fds to 3.., the pidfile after them, the
 * ready pipe last; each first copied above the whole range, so that no
 * dup2 overwrites a descriptor still to be moved. */
static void
restart_child(const int *fds, int n, int pidfile_fd, int ready_w,
    const char *dir, char *pid_slot, char **env)
{
	int src[ACTIVATION_MAX + 2], total = 0, top;
	sigset_t none;

	for (int i = 0; i < n; i++)
		src[total++] = fds[i];
	if (pidfile_fd >= 0)
		src[total++] = pidfile_fd;
	src[total++] = ready_w;
	top = ACTIVATION_FD_START + total;
	for (int i = 0; i < total; i++)
		if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, top)) < 0)
			_exit(127);
	for (int i = 0; i < total; i++)
		if (dup2(src[i], ACTIVATION_FD_START + i) < 0)
			_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (chdir(dir) != 0)
		_exit(127);
	restart_put_pid(pid_slot, getpid());
	execve(restart_exe, restart_argv, env);
	_exit(127);
}

pid_t
restart_spawn(const int *fds, int n, const char *names, int pidfile_fd,
    const char *dir, const char *notify_socket, int *ready_fd, char *err,
    size_t errlen)
{
	char bufs[PATH_MAX + 256 + RESTART_NAMES_MAX], *pid_slot;
	char **env;
	int p[2];
	pid_t pid;

	if (names != NULL && strlen(names) >= RESTART_NAMES_MAX) {
		snprintf(err, errlen, "LISTEN_FDNAMES too long");
		return -1;
	}
	if (restart_exe[0] == '\0' || n > ACTIVATION_MAX) {
		snprintf(err, errlen, "%s", restart_exe[0] == '\0' ?
		    "the binary's path is unknown" : "too many listeners");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	env = restart_env(n, names, pidfile_fd, notify_socket, &pid_slot, bufs,
	    sizeof(bufs));
	if (env == NULL) {
		snprintf(err, errlen, "out of memory");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		restart_child(fds, n, pidfile_fd, p[1], dir, pid_slot, env);
	free(env);
	close(p[1]);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		return -1;
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
		/* Nothing to gain from a blocking read later: say so now. */
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(p[0]);
		kill(pid, SIGKILL);
		return -1;
	}
	*ready_fd = p[0];
	return pid;
}

static int
restart_env_fd(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long fd;

	if (v == NULL)
		return -1;
	fd = strtol(v, &end, 10);
	unsetenv(name);
	return *v != '\0' && *end == '\0' && fd >= ACTIVATION_FD_START &&
	    fd < INT_MAX && fcntl((int)fd, F_SETFD, FD_CLOEXEC) == 0 ?
	    (int)fd : -1;
}

int
restart_inherited(int *pidfile_fd, int *ready_fd)
{
	int has = getenv(RESTART_READY_ENV) != NULL;

	*pidfile_fd = restart_env_fd(RESTART_PIDFILE_ENV);
	*ready_fd = restart_env_fd(RESTART_READY_ENV);
	return has;
}

void
restart_tell_ready(int fd)
{
	char b = 'R';
	ssize_t n;

	if (fd < 0)
		return;
	/* Nobody reading means the predecessor is gone: nothing to tell. */
	n = write(fd, &b, 1);
	(void)n;
	close(fd);
}
