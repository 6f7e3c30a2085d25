/* sock.c: socket(), options, bind() and listen() for each kind of ADDR. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock.h"

int
sock_open(const struct addr *a)
{
	return socket(addr_family(a), addr_socktype(a) | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
}

/*
 * A socket file left by a dead server refuses connections: replace it.  One
 * that accepts belongs to a live server: leave it alone and say so.  Never
 * remove something that is not a socket.
 */
static int
unix_clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket",
		    sun->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "a server is already listening on %s",
		    sun->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (unlink(sun->sun_path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s",
		    sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* A unix socket file's permissions and owner, set after bind() created
 * it and before listen() lets anyone connect. */
static int
unix_set_perms(const struct addr *a, const struct sock_opts *o, char *err,
    size_t errlen)
{
	const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;

	if (o->mode >= 0 && chmod(path, (mode_t)o->mode) != 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	if ((o->uid != (uid_t)-1 || o->gid != (gid_t)-1) &&
	    chown(path, o->uid, o->gid) != 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
bind_one(const struct addr *a, int backlog, const struct sock_opts *o,
    char *err, size_t errlen)
{
	int fd, one = 1, zero = 0;

	fd = sock_open(a);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (a->ss.ss_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	/* "*" means both families on one socket. */
	if (a->any && a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0)
		goto fail;
	/* Accepted sockets inherit TCP_NODELAY from the listener: small
	 * replies go out at once instead of waiting for an ACK. */
	if (a->kind == ADDR_TCP &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		goto fail;
	if (o->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		goto fail;
	if (a->kind == ADDR_UNIX && unix_set_perms(a, o, err, errlen) != 0) {
		unlink(((const struct sockaddr_un *)&a->ss)->sun_path);
		close(fd);
		return -1;
	}
	if (a->kind != ADDR_UDP && listen(fd, backlog) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s", strerror(errno));
	close(fd);
	return -1;
}

int
sock_listen(const struct addr *a, int backlog, const struct sock_opts *o,
    struct addr *bound, char *err, size_t errlen)
{
	static const struct sock_opts defaults = { 0, -1, (uid_t)-1, (gid_t)-1 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	if (a->kind == ADDR_UNIX &&
	    unix_clear_stale((const struct sockaddr_un *)&a->ss, err, errlen) != 0)
		return -1;
	if (o == NULL)
		o = &defaults;
	fd = bind_one(a, backlog, o, err, errlen);
	if (fd < 0 && a->any && errno == EAFNOSUPPORT) {
		/* No IPv6 on this host: "*" falls back to IPv4 only. */
		struct addr v4 = *a;
		struct sockaddr_in *sin = (struct sockaddr_in *)&v4.ss;
		memset(&v4.ss, 0, sizeof(v4.ss));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)addr_port(a));
		v4.len = sizeof(*sin);
		fd = bind_one(&v4, backlog, o, err, errlen);
	}
	if (fd < 0)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (a->kind == ADDR_UNIX)
		*bound = *a;	/* getsockname may not give the path back */
	else
		addr_from_sockaddr(bound, a->kind, (struct sockaddr *)&ss, len);
	bound->any = a->any;
	return fd;
}

void
sock_unlink(const struct addr *bound)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&bound->ss;
	struct stat st;

	if (bound->kind != ADDR_UNIX)
		return;
	if (lstat(sun->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sun->sun_path);
}
