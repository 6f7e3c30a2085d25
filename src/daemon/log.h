/* log.h: leveled log lines to stderr, a file or syslog. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_NOTICE,	/* the stable lines scripts read: -q keeps them */
	LOG_INFO,
	LOG_DEBUG,
};

void	log_set_level(enum log_level level);
enum log_level log_get_level(void);
int	log_level_parse(const char *s, enum log_level *level);
const char *log_level_name(enum log_level level);

/*
 * Where lines go: "stderr", "syslog" (facility daemon, no timestamp of our
 * own) or a file opened for append (created 0640).  On stderr, when it is
 * the journal (JOURNAL_STREAM names it), each line starts with its syslog
 * priority, "<3>" for error to "<7>" for debug.  Returns 0, or -1 with the
 * reason in err and the previous target kept.
 */
int	log_open(const char *target, char *err, size_t errlen);

/* Whether lines go to stderr now: a detaching daemon must move them. */
int	log_on_stderr(void);

/* Reopen a log file at its path (after logrotate moved it).  Other
 * targets: nothing to do.  Returns 0, or -1 with the reason in err and
 * the old file kept. */
int	log_reopen(char *err, size_t errlen);

/* While on (start-up), warnings and errors also go to stderr when the
 * log goes elsewhere, so that whoever started upcased sees why it did not
 * start. */
void	log_tee_stderr(int on);

/* The log file's descriptor (-1 unless logging to a file), so that it can
 * be handed to the user the daemon drops to. */
int	log_file_fd(void);

/* Route libevent's own warnings through log_msg. */
void	log_capture_libevent(void);

void	log_msg(enum log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
/* Checked before the call so that a busy path formats nothing. */
#define log_debug(...) do {						\
	if (log_get_level() >= LOG_DEBUG)				\
		log_msg(LOG_DEBUG, __VA_ARGS__);			\
} while (0)

#endif
