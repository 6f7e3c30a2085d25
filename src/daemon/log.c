/* log.c: one line per event, ISO-8601 UTC timestamp and level first:
 *   2026-11-24T18:09:21.123Z notice listening on 127.0.0.1:8080
 * to stderr, to a file, or to syslog.  Each line is built in full and
 * written with a single write(2) (O_APPEND for a file) so that lines from
 * different threads never interleave. */

/* syslog.h's priorities are macros named like our levels: take their
 * values, then let log.h's enum have the names. */
#include <syslog.h>
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
    LOG_DEBUG };
#undef LOG_NOTICE
#undef LOG_INFO
#undef LOG_DEBUG

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

enum log_target { TO_STDERR, TO_FILE, TO_SYSLOG };

static enum log_level current = LOG_INFO;
static const char *names[] = { "error", "warn", "notice", "info", "debug" };

/* Set at start-up and on reload, from the main thread; the workers only
 * read them while logging. */
static enum log_target target = TO_STDERR;
static int journal;		/* stderr is the journal: priority prefix */
/* A reopen dup2()s the new file over this descriptor, so a thread that is
 * writing a line never finds it closed. */
static int file_fd = -1;
static char file_path[PATH_MAX];
static int tee_stderr;			/* start-up: errors to stderr as well */

void
log_set_level(enum log_level level)
{
	current = level;
}

enum log_level
log_get_level(void)
{
	return current;
}

const char *
log_level_name(enum log_level level)
{
	return names[level];
}

int
log_level_parse(const char *s, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects
 * to stdout and stderr; a stderr that is something else (redirected by a
 * script) gets plain lines. */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	return fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

static int
open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
	return fd;
}

int
log_open(const char *to, char *err, size_t errlen)
{
	if (strcmp(to, "stderr") == 0 || strcmp(to, "syslog") == 0) {
		if (file_fd >= 0)
			close(file_fd);
		file_fd = -1;
		file_path[0] = '\0';
		if (strcmp(to, "syslog") == 0) {
			openlog("upcased", LOG_PID | LOG_NDELAY, LOG_DAEMON);
			target = TO_SYSLOG;
		} else {
			target = TO_STDERR;
			journal = stderr_is_journal();
		}
		return 0;
	}
	if (strlen(to) >= sizeof(file_path)) {
		snprintf(err, errlen, "log file path too long");
		return -1;
	}
	if (file_fd >= 0 && strcmp(to, file_path) == 0)
		return log_reopen(err, errlen);
	{
		int fd = open_file(to, err, errlen);
		if (fd < 0)
			return -1;
		if (file_fd >= 0)
			close(file_fd);
		file_fd = fd;
	}
	snprintf(file_path, sizeof(file_path), "%s", to);
	target = TO_FILE;
	return 0;
}

int
log_on_stderr(void)
{
	return target == TO_STDERR;
}

int
log_reopen(char *err, size_t errlen)
{
	int fd;

	if (target != TO_FILE)
		return 0;
	if ((fd = open_file(file_path, err, errlen)) < 0)
		return -1;
	if (dup3(fd, file_fd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "log file %s: %s", file_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void
log_tee_stderr(int on)
{
	tee_stderr = on;
}

int
log_file_fd(void)
{
	return target == TO_FILE ? file_fd : -1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n = 0, msg;
	int rc;

	if (level > current)
		return;
	if (target == TO_STDERR && journal)
		n = (size_t)snprintf(line, sizeof(line), "<%d>",
		    syslog_prio[level]);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n += strftime(line + n, sizeof(line) - n, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ",
	    ts.tv_nsec / 1000000, names[level]);
	msg = n;
	va_start(ap, fmt);
	rc = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (rc < 0)
		rc = 0;
	n += (size_t)rc;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated: still one line */
	line[n] = '\n';
	if (tee_stderr && target != TO_STDERR && level <= LOG_WARN &&
	    write(STDERR_FILENO, line, n + 1) < 0)
		tee_stderr = 0;
	if (target == TO_SYSLOG) {
		line[n] = '\0';
		syslog(syslog_prio[level], "%s", line + msg);
		return;
	}
	/* Nothing useful can be done if the log is gone. */
	if (write(target == TO_FILE ? file_fd : STDERR_FILENO, line, n + 1) < 0)
		return;
}

static void
libevent_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warn("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
	}
}

void
log_capture_libevent(void)
{
	event_set_log_callback(libevent_log);
}
