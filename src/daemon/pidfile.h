/* pidfile.h: a pidfile that is locked for as long as its process lives, so
 * a second upcased can tell a live one from a stale file. */
#ifndef PIDFILE_H
#define PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

struct pidfile;

/*
 * Take PATH for this process: lock it (creating it if missing) or fail.
 * A file whose lock is held belongs to a live process: returns NULL with
 * "pidfile PATH: upcased already running as pid N" in err and *running
 * set, touching nothing.  A stale file (no lock held) is taken over.
 */
struct pidfile *pidfile_acquire(const char *path, int *running, char *err,
	    size_t errlen);

/* Take over a pidfile whose locked descriptor was inherited (a restart
 * re-executing itself): the lock never lapses.  The file stays the
 * predecessor's (a release leaves it) until pidfile_write() replaces it. */
struct pidfile *pidfile_adopt(const char *path, int fd, char *err,
	    size_t errlen);

/* Write our pid: to a temporary file, locked, then renamed over PATH, so
 * that PATH always holds a whole pid and is never unlocked.  Returns 0,
 * or -1 with the reason in err. */
int	pidfile_write(struct pidfile *pf, char *err, size_t errlen);

/* The locked descriptor, to hand to a successor (it must not be closed
 * on exec then). */
int	pidfile_fd(const struct pidfile *pf);
const char *pidfile_path(const struct pidfile *pf);

/* Give the file to the user upcased drops to, so it can remove it. */
int	pidfile_chown(const struct pidfile *pf, uid_t uid, gid_t gid);

/* At exit: remove PATH if it is still the file we hold (a successor that
 * took it over has renamed its own over it) and not one adopted and never
 * rewritten (a successor that failed to start leaves its predecessor's),
 * then unlock. */
void	pidfile_release(struct pidfile *pf);

#endif
