/* sock.c: socket(), options, bind() and listen() for each kind of ADDR, and
 * the unix socket file's life: stale probe, replace, remove only our own. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
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

#define UNIX_LOCK_WAIT_MS	5000

/*
 * Probe, unlink and bind (and, at exit, compare and unlink) a unix socket
 * file only while holding PATH.lock: two servers that both found a stale
 * file would otherwise both replace it, the second unlinking the first's
 * live socket.  The lock file is removed by whoever holds it, so a waiter
 * may end up locking a removed file: it checks that the path still names
 * the file it locked.  A non-blocking flock() polled: a blocking one
 * sleeps through SIGTERM once libevent's SA_RESTART handlers are in.
 */
static int
unix_lock(const char *path, char *err, size_t errlen)
{
	struct timespec pause = { 0, 10 * 1000000 };
	char lpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int fd = -1, waited = 0;

	snprintf(lpath, sizeof(lpath), "%s.lock", path);
	for (;;) {
		struct stat mine, there;

		if (fd < 0)
			fd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW |
			    O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "%s: %s", lpath, strerror(errno));
			return -1;
		}
		if (fstat(fd, &mine) != 0 || !S_ISREG(mine.st_mode) ||
		    mine.st_size != 0) {
			snprintf(err, errlen, "%s exists and is not an empty "
			    "lock file", lpath);
			close(fd);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (stat(lpath, &there) == 0 &&
			    there.st_dev == mine.st_dev &&
			    there.st_ino == mine.st_ino)
				return fd;
			close(fd);	/* removed meanwhile: lock the new one */
			fd = -1;
			continue;
		}
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "flock %s: %s", lpath,
			    strerror(errno));
			close(fd);
			return -1;
		}
		if (waited >= UNIX_LOCK_WAIT_MS) {
			snprintf(err, errlen, "%s is held by another process",
			    lpath);
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
		waited += 10;
	}
}

static void
unix_unlock(const char *path, int fd)
{
	char lpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];

	snprintf(lpath, sizeof(lpath), "%s.lock", path);
	unlink(lpath);
	close(fd);
}

/*
 * A socket file left by a dead server refuses connections: replace it.  One
 * that accepts belongs to a live server: leave it alone and say so; a full
 * backlog (EAGAIN) is a live server too.  The probe is non-blocking: a
 * blocking connect() to a full backlog sleeps until the server accepts.
 * Never remove something that is not a socket.
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc != 0)
		rc = errno;
	close(fd);
	if (rc == 0 || rc == EAGAIN || rc == EINPROGRESS) {
		snprintf(err, errlen, "a server is already listening on %s",
		    sun->sun_path);
		return -1;
	}
	if (rc == ENOENT)
		return 0;
	if (rc != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", sun->sun_path, strerror(rc));
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
int
sock_apply_file_opts(const struct addr *a, const struct sock_opts *o,
    char *err, size_t errlen)
{
	const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;

	if (a->kind != ADDR_UNIX)
		return 0;
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
	/* TCP: rebind a port whose old connections linger in TIME_WAIT.
	 * Not UDP: there SO_REUSEADDR lets any other socket with it bind
	 * the same port, and the datagrams go to whichever bound last. */
	if (a->kind == ADDR_TCP &&
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
	if (a->kind == ADDR_UNIX && sock_apply_file_opts(a, o, err, errlen) != 0) {
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

/* Under the lock: clear a stale file, bind, and note which file is ours. */
static int
unix_listen(const struct addr *a, int backlog, const struct sock_opts *o,
    struct addr *bound, struct sock_file *file, char *err, size_t errlen)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
	struct stat st;
	int lock, fd = -1;

	lock = unix_lock(sun->sun_path, err, errlen);
	if (lock < 0)
		return -1;
	if (unix_clear_stale(sun, err, errlen) == 0)
		fd = bind_one(a, backlog, o, err, errlen);
	if (fd >= 0 && lstat(sun->sun_path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", sun->sun_path, strerror(errno));
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		*bound = *a;	/* getsockname may not give the path back */
		if (file != NULL) {
			file->dev = st.st_dev;
			file->ino = st.st_ino;
			file->set = 1;
		}
	}
	unix_unlock(sun->sun_path, lock);
	return fd;
}

int
sock_listen(const struct addr *a, int backlog, const struct sock_opts *o,
    struct addr *bound, struct sock_file *file, char *err, size_t errlen)
{
	static const struct sock_opts defaults = { 0, -1, (uid_t)-1, (gid_t)-1 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	if (o == NULL)
		o = &defaults;
	if (a->kind == ADDR_UNIX)
		return unix_listen(a, backlog, o, bound, file, err, errlen);
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
	addr_from_sockaddr(bound, a->kind, (struct sockaddr *)&ss, len);
	bound->any = a->any;
	return fd;
}

void
sock_unlink(const struct addr *bound, const struct sock_file *file)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&bound->ss;
	char err[256];
	struct stat st;
	int lock;

	if (bound->kind != ADDR_UNIX || file == NULL || !file->set)
		return;
	/* Without the lock (held for 5 s by someone else) the comparison
	 * alone still keeps a successor's file. */
	lock = unix_lock(sun->sun_path, err, sizeof(err));
	if (lstat(sun->sun_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == file->dev && st.st_ino == file->ino)
		unlink(sun->sun_path);
	if (lock >= 0)
		unix_unlock(sun->sun_path, lock);
}
