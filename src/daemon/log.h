/* log.h: leveled, timestamped log lines on stderr. */
#ifndef LOG_H
#define LOG_H

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

void	log_set_level(enum log_level level);
enum log_level log_get_level(void);
int	log_level_parse(const char *s, enum log_level *level);
const char *log_level_name(enum log_level level);

/* Route libevent's own warnings through log_msg. */
void	log_capture_libevent(void);

void	log_msg(enum log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
/* Checked before the call so that a busy path formats nothing. */
#define log_debug(...) do {						\
	if (log_get_level() >= LOG_DEBUG)				\
		log_msg(LOG_DEBUG, __VA_ARGS__);			\
} while (0)

#endif
