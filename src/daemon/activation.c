/* activation.c: describe and claim the listening sockets passed to us at
 * exec (systemd socket activation, or our own restart). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "activation.h"

/* LISTEN_PID and LISTEN_FDS as sd_listen_fds(3) reads them: anything
 * malformed, or meant for another process, means "none for us". */
static int
activation_count(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long p, n;

	if (pid == NULL || fds == NULL)
		return 0;
	p = strtol(pid, &end, 10);
	if (*pid == '\0' || *end != '\0' || p != (long)getpid())
		return 0;
	n = strtol(fds, &end, 10);
	if (*fds == '\0' || *end != '\0' || n < 0)
		return 0;
	return (int)(n > ACTIVATION_MAX ? -1 : n);
}

static int
activation_describe(int fd, struct inherited *in, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), olen = sizeof(int);
	int type = 0, listening = 0, flags;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0) {
		snprintf(err, errlen, "inherited descriptor %d: %s", fd,
		    errno == ENOTSOCK ? "not a socket" : strerror(errno));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(err, errlen, "inherited descriptor %d: getsockname: %s",
		    fd, strerror(errno));
		return -1;
	}
	olen = sizeof(int);
	if (type == SOCK_STREAM && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	    &listening, &olen) != 0 || !listening)) {
		snprintf(err, errlen, "inherited descriptor %d: a stream socket "
		    "that is not listening", fd);
		return -1;
	}
	if ((type != SOCK_STREAM && type != SOCK_DGRAM) ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 &&
	    ss.ss_family != AF_UNIX) ||
	    (type == SOCK_DGRAM && ss.ss_family == AF_UNIX)) {
		snprintf(err, errlen, "inherited descriptor %d: not a TCP, "
		    "unix stream or UDP socket", fd);
		return -1;
	}
	/* O_NONBLOCK belongs to the socket's open file, which a restart
	 * shares with the predecessor: a UDP socket's readers (dgram.c)
	 * block in recvmmsg() there and here alike, and set it themselves;
	 * setting it here would turn the predecessor's non-blocking while
	 * it still serves (for good, if we then fail to start). */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (type == SOCK_STREAM &&
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(err, errlen, "inherited descriptor %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	in->fd = fd;
	in->claimed = 0;
	in->reserved = 0;
	addr_from_sockaddr(&in->addr, ss.ss_family == AF_UNIX ? ADDR_UNIX :
	    type == SOCK_DGRAM ? ADDR_UDP : ADDR_TCP, (struct sockaddr *)&ss,
	    len);
	return 0;
}

/* Whether the i-th name of LISTEN_FDNAMES (colon-separated) is name. */
static int
activation_named(const char *names, int i, const char *name)
{
	size_t len = strlen(name);

	for (; names != NULL && i > 0; i--)
		if ((names = strchr(names, ':')) != NULL)
			names++;
	return names != NULL && strncmp(names, name, len) == 0 &&
	    (names[len] == ':' || names[len] == '\0');
}

int
activation_take(struct inherited *out, int max, char *err, size_t errlen)
{
	int n = activation_count();
	const char *names = getenv("LISTEN_FDNAMES");

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	if (n < 0 || n > max) {
		snprintf(err, errlen, "LISTEN_FDS: more than %d sockets", max);
		n = -1;
	}
	for (int i = 0; i < n; i++) {
		if (activation_describe(ACTIVATION_FD_START + i, &out[i], err,
		    errlen) != 0) {
			n = -1;
			break;
		}
		out[i].metrics = out[i].addr.kind == ADDR_TCP &&
		    activation_named(names, i, ACTIVATION_METRICS);
	}
	/* names points into the environment: unset only once read. */
	unsetenv("LISTEN_FDNAMES");
	return n;
}

/* Same kind, same family and host; with_port: the same port too.  A unix
 * socket is its path. */
static int
activation_same(const struct addr *a, const struct addr *b, int with_port)
{
	if (a->kind != b->kind || a->ss.ss_family != b->ss.ss_family)
		return 0;
	if (a->ss.ss_family == AF_UNIX)
		return strcmp(((const struct sockaddr_un *)&a->ss)->sun_path,
		    ((const struct sockaddr_un *)&b->ss)->sun_path) == 0;
	if (with_port && addr_port(a) != addr_port(b))
		return 0;
	if (a->ss.ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)&a->ss)->sin_addr,
		    &((const struct sockaddr_in *)&b->ss)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
	    &((const struct sockaddr_in6 *)&b->ss)->sin6_addr,
	    sizeof(struct in6_addr)) == 0 &&
	    ((const struct sockaddr_in6 *)&a->ss)->sin6_scope_id ==
	    ((const struct sockaddr_in6 *)&b->ss)->sin6_scope_id;
}

struct inherited *
activation_match(struct inherited *in, int n, const struct addr *want,
    int metrics)
{
	for (int i = 0; i < n; i++)
		if (!in[i].claimed && in[i].metrics == metrics &&
		    activation_same(&in[i].addr, want, 1))
			return &in[i];
	if (want->ss.ss_family == AF_UNIX || addr_port(want) != 0)
		return NULL;
	for (int i = 0; i < n; i++)
		if (!in[i].claimed && !in[i].reserved &&
		    in[i].metrics == metrics &&
		    activation_same(&in[i].addr, want, 0))
			return &in[i];
	return NULL;
}

void
activation_reserve(struct inherited *in, int n, const struct addr *want,
    int metrics)
{
	for (int i = 0; i < n; i++)
		if (in[i].metrics == metrics &&
		    activation_same(&in[i].addr, want, 1))
			in[i].reserved = 1;
}
