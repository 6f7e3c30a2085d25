/* pidfile.c: take, write, hand over and remove the pidfile.  The lock is
 * flock(2) on the file itself: it lives with the open file description,
 * so it survives exec in a successor that inherits the descriptor, and
 * it goes away with the process, so a crash leaves a stale file, never a
 * locked one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

struct pidfile {
	int	fd;
	int	ours;	/* PATH is ours to remove: we took it or wrote it */
	char	path[PATH_MAX];
};

/* Whether path names the very file fd has open. */
static int
pidfile_same_file(const char *path, int fd)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(fd, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static long
pidfile_read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : -1;
}

static struct pidfile *
pidfile_new(const char *path, int fd, char *err, size_t errlen)
{
	struct pidfile *pf;

	if (strlen(path) >= sizeof(pf->path)) {
		snprintf(err, errlen, "pidfile %s: path too long", path);
		return NULL;
	}
	if ((pf = malloc(sizeof(*pf))) == NULL) {
		snprintf(err, errlen, "pidfile %s: out of memory", path);
		return NULL;
	}
	pf->fd = fd;
	pf->ours = 1;
	strcpy(pf->path, path);
	return pf;
}

struct pidfile *
pidfile_acquire(const char *path, int *running, char *err, size_t errlen)
{
	*running = 0;
	/* A file renamed over path between our open and our lock is a new
	 * owner's: look again.  A few rounds settle any real race. */
	for (int tries = 0; tries < 10; tries++) {
		struct pidfile *pf;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0) {
			snprintf(err, errlen, "pidfile %s: %s", path,
			    strerror(errno));
			return NULL;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			long pid = errno == EWOULDBLOCK ? pidfile_read_pid(fd) : -1;
			if (errno == EWOULDBLOCK) {
				*running = 1;
				if (pid > 0)
					snprintf(err, errlen, "pidfile %s: upcased "
					    "already running as pid %ld", path, pid);
				else
					snprintf(err, errlen, "pidfile %s: upcased "
					    "already running (locked)", path);
			} else {
				snprintf(err, errlen, "pidfile %s: lock: %s",
				    path, strerror(errno));
			}
			close(fd);
			return NULL;
		}
		if (!pidfile_same_file(path, fd)) {
			close(fd);
			continue;
		}
		if ((pf = pidfile_new(path, fd, err, errlen)) == NULL)
			close(fd);
		return pf;
	}
	snprintf(err, errlen, "pidfile %s: keeps changing under us", path);
	return NULL;
}

struct pidfile *
pidfile_adopt(const char *path, int fd, char *err, size_t errlen)
{
	struct pidfile *pf;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(err, errlen, "pidfile %s: inherited descriptor %d: %s",
		    path, fd, strerror(errno));
		return NULL;
	}
	if ((pf = pidfile_new(path, fd, err, errlen)) == NULL)
		close(fd);
	else
		pf->ours = 0;	/* the predecessor's, until we rewrite it */
	return pf;
}

int
pidfile_write(struct pidfile *pf, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 32], line[32];
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", pf->path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "pidfile %s: path too long", pf->path);
		return -1;
	}
	unlink(tmp);	/* left by a crashed process with our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "pidfile %s: %s", tmp, strerror(errno));
		return -1;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 || write(fd, line, (size_t)n) != n ||
	    fchmod(fd, 0644) != 0 || rename(tmp, pf->path) != 0) {
		snprintf(err, errlen, "pidfile %s: %s", pf->path,
		    strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	/* path is now the new file, locked by fd; the old one is gone from
	 * the directory, and its lock with this close. */
	close(pf->fd);
	pf->fd = fd;
	pf->ours = 1;
	return 0;
}

int
pidfile_fd(const struct pidfile *pf)
{
	return pf->fd;
}

const char *
pidfile_path(const struct pidfile *pf)
{
	return pf->path;
}

int
pidfile_chown(const struct pidfile *pf, uid_t uid, gid_t gid)
{
	return fchown(pf->fd, uid, gid);
}

void
pidfile_release(struct pidfile *pf)
{
	if (pf == NULL)
		return;
	if (pf->ours && pidfile_same_file(pf->path, pf->fd))
		unlink(pf->path);
	close(pf->fd);
	free(pf);
}
