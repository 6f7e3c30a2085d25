/* procinfo.c: the process collector's numbers, from /proc/self/stat,
 * /proc/stat, /proc/self/fd and getrlimit, as Prometheus's own client
 * libraries read them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procinfo.h"

/* Fields of /proc/PID/stat (proc(5) numbers them from 1), after comm. */
#define PROC_UTIME	14
#define PROC_STIME	15
#define PROC_STARTTIME	22
#define PROC_VSIZE	23
#define PROC_RSS	24

int
procinfo_parse_stat(const char *text, size_t len, long ticks, long pagesize,
    uint64_t btime, struct procinfo *p, char *err, size_t errlen)
{
	char buf[1024], *s, *end;
	long long f[PROC_RSS + 1];
	int field;

	if (len >= sizeof(buf) || ticks <= 0 || pagesize <= 0) {
		snprintf(err, errlen, "/proc/self/stat: %s", len >= sizeof(buf) ?
		    "too long" : "no clock ticks or page size");
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	/* comm (field 2) is in parentheses and may hold blanks and ')'. */
	if ((s = strrchr(buf, ')')) == NULL) {
		snprintf(err, errlen, "/proc/self/stat: no command name");
		return -1;
	}
	s++;
	/* Field 3, the state, is a letter; read it as text. */
	while (*s == ' ')
		s++;
	if (*s == '\0' || *s == '\n') {
		snprintf(err, errlen, "/proc/self/stat: no state");
		return -1;
	}
	s++;
	for (field = 4; field <= PROC_RSS; field++) {
		errno = 0;
		if (*s != ' ') {
			snprintf(err, errlen, "/proc/self/stat: field %d "
			    "missing", field);
			return -1;
		}
		/* Some fields are -1 (tpgid without a terminal). */
		while (*s == ' ')
			s++;
		f[field] = strtoll(s, &end, 10);
		if (errno != 0 || end == s)
			goto bad;
		s = end;
	}
	if (f[PROC_UTIME] < 0 || f[PROC_STIME] < 0 || f[PROC_STARTTIME] < 0 ||
	    f[PROC_VSIZE] < 0 || f[PROC_RSS] < 0) {
		snprintf(err, errlen, "/proc/self/stat: a negative time or size");
		return -1;
	}
	p->cpu_seconds = (double)(f[PROC_UTIME] + f[PROC_STIME]) /
	    (double)ticks;
	p->start_time = (double)btime + (double)f[PROC_STARTTIME] /
	    (double)ticks;
	p->vsize_bytes = (uint64_t)f[PROC_VSIZE];
	p->rss_bytes = (uint64_t)f[PROC_RSS] * (uint64_t)pagesize;
	return 0;
bad:
	snprintf(err, errlen, "/proc/self/stat: field %d is not a number",
	    field);
	return -1;
}

/* The whole of a small /proc file into buf; its length, or -1. */
static ssize_t
procinfo_slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (got < len && (n = read(fd, buf + got, len - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

/* /proc/stat's btime: when the system booted, in seconds since the epoch.
 * Read by line: the interrupt counters before it run to tens of KB. */
static int
procinfo_btime(uint64_t *btime)
{
	FILE *fp = fopen("/proc/stat", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;

	if (fp == NULL)
		return -1;
	while (rc != 0 && getline(&line, &cap, fp) > 0)
		if (strncmp(line, "btime ", 6) == 0) {
			*btime = strtoull(line + 6, NULL, 10);
			rc = 0;
		}
	free(line);
	fclose(fp);
	return rc;
}

long
procinfo_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

int
procinfo_read(struct procinfo *p, char *err, size_t errlen)
{
	char buf[1024];
	uint64_t btime;
	struct rlimit rl;
	ssize_t n = procinfo_slurp("/proc/self/stat", buf, sizeof(buf) - 1);

	if (n < 0 || procinfo_btime(&btime) != 0) {
		snprintf(err, errlen, "%s: %s", n < 0 ? "/proc/self/stat" :
		    "/proc/stat", n < 0 ? strerror(errno) : "no btime");
		return -1;
	}
	if (procinfo_parse_stat(buf, (size_t)n, sysconf(_SC_CLK_TCK),
	    sysconf(_SC_PAGESIZE), btime, p, err, errlen) != 0)
		return -1;
	p->open_fds = procinfo_open_fds();
	p->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : -1;
	return 0;
}
