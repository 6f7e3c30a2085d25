/* config.h: the daemon's settings, from defaults, a key = value file and
 * the command line, validated in one place. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "addr.h"
#include "log.h"
#include "timeout.h"

#define CONFIG_MAX_LISTEN	32
#define CONFIG_ERRLEN		512
#define CONFIG_MAX_THREADS	256

struct config {
	struct addr	listen[CONFIG_MAX_LISTEN];
	int		nlisten;
	int		backlog;
	size_t		chunk_size;
	size_t		max_pending;
	int		max_conns;	/* 0: derive from RLIMIT_NOFILE */
	int		threads;
	timeout_us	idle_timeout;
	timeout_us	write_timeout;
	timeout_us	shutdown_timeout;
	enum log_level	log_level;
};

/* One entry per key: the file's name for it; the long option is the same
 * with '-' for '_'. */
struct config_key {
	const char	*name;
	const char	*arg;	/* how --help shows the value */
	const char	*help;
};
extern const struct config_key config_keys[];

void	config_defaults(struct config *cfg);

/* Set one key from its text value.  "listen" appends.  Returns 0, or -1
 * with the reason (without the key) in err. */
int	config_set(struct config *cfg, const char *key, const char *value,
	    char *err, size_t errlen);

int	config_key_known(const char *key);

/* Read a file of key = value lines; errors read "path:line: reason". */
int	config_load(struct config *cfg, const char *path, char *err,
	    size_t errlen);

/* Fill in what is derived (max_conns, threads), after all sources. */
void	config_finish(struct config *cfg);

/* Every key with its effective value, one "key = value" line each. */
void	config_print(const struct config *cfg, FILE *fp);

#endif
