/* procinfo.h: what the standard Prometheus process collector reports
 * (process_cpu_seconds_total, ...), read from /proc. */
#ifndef PROCINFO_H
#define PROCINFO_H

#include <stddef.h>
#include <stdint.h>

struct procinfo {
	double		cpu_seconds;	/* user + system */
	uint64_t	rss_bytes;
	uint64_t	vsize_bytes;
	double		start_time;	/* seconds since the epoch */
	long		open_fds;
	long		max_fds;	/* the soft RLIMIT_NOFILE; -1: none */
};

/*
 * The fields of /proc/PID/stat's text (len bytes, not NUL-terminated) that
 * the collector needs, with the system's clock ticks per second, page size
 * and boot time (/proc/stat's btime).  Returns 0, or -1 with the reason in
 * err: a malformed line is refused, never half read.
 */
int	procinfo_parse_stat(const char *text, size_t len, long ticks,
	    long pagesize, uint64_t btime, struct procinfo *p, char *err,
	    size_t errlen);

/* Descriptors this process has open now, or -1 if /proc cannot tell. */
long	procinfo_open_fds(void);

/* This process, now.  Returns 0, or -1 with the reason in err. */
int	procinfo_read(struct procinfo *p, char *err, size_t errlen);

#endif
