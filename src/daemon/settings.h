/* settings.h: the daemon's settings, from defaults, a key = value file and
 * the command line, validated in one place. */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "addr.h"
#include "admit.h"
#include "cidr.h"
#include "listen_opts.h"
#include "log.h"
#include "timeout.h"

#define SETTINGS_MAX_LISTEN	32
#define SETTINGS_ERRLEN		512
#define SETTINGS_MAX_THREADS	256
#define SETTINGS_LINE_MAX	1023		/* bytes, without the newline */
#define SETTINGS_FILE_MAX	(1024 * 1024)

struct settings {
	struct listen_spec listen[SETTINGS_MAX_LISTEN];
	int		nlisten;
	int		listen_is_default;	/* nobody set listen */
	int		backlog;
	size_t		chunk_size;
	size_t		max_pending;
	int		udp_rcvbuf;	/* bytes per udp: listener */
	int		max_conns;	/* 0: derive from RLIMIT_NOFILE */
	int		max_conns_per_ip;	/* 0: none */
	int		threads;
	timeout_us	idle_timeout;
	timeout_us	write_timeout;
	timeout_us	shutdown_timeout;
	timeout_us	proxy_timeout;		/* a PROXY header's arrival */
	struct cidr_list proxy_from;		/* empty: any sender */
	struct acl	acl;			/* allow and deny */
	int		udp_rate_per_ip;	/* datagrams/s; 0: none */
	enum log_level	log_level;
	char		log_file[PATH_MAX];	/* stderr, syslog or a path */
	int		daemon;			/* -d: detach */
	char		pidfile[PATH_MAX];	/* "": none */
	char		user[64];		/* "": stay who we are */
	uid_t		uid;			/* user, looked up */
	gid_t		gid;
	int		metrics_on;		/* metrics = HOST:PORT, not none */
	struct addr	metrics;
};

/* One entry per key: the file's name for it; the long option is the same
 * with '-' for '_'. */
struct settings_key {
	const char	*name;
	const char	*arg;	/* how --help shows the value; NULL: a flag
				 * (yes or no in the file, bare on the
				 * command line) */
	const char	*help;
};
extern const struct settings_key settings_keys[];

/* The long option for a key, without its dashes: idle_timeout is
 * idle-timeout. */
char	*settings_option_name(const char *key, char *buf, size_t len);

void	settings_defaults(struct settings *cfg);

/* Relative paths in values (log_file, pidfile, unix: listeners) are taken
 * from dir; until it is set, from the current directory.  Returns -1 if
 * dir is too long. */
int	settings_set_base_dir(const char *dir);

/* The directory set above, into buf; -1 if none was set. */
int	settings_base_dir(char *buf, size_t len);

/* value as an absolute path into out, by the rule above.  Returns 0, or
 * -1 with the reason in err. */
int	settings_path(const char *value, char *out, size_t outlen, char *err,
	    size_t errlen);

/* Set one key from its text value.  The repeatable keys (listen, allow,
 * deny, proxy_from) append.  Returns 0, or -1
 * with the reason (without the key) in err. */
int	settings_set(struct settings *cfg, const char *key, const char *value,
	    char *err, size_t errlen);

int	settings_key_known(const char *key);

/* One key set on the command line: -l ADDR is { "listen", ADDR, "-l" }. */
struct settings_arg {
	const char	*key;
	const char	*value;
	const char	*optname;	/* how errors name it; NULL: --KEY */
};

/* Where the settings come from: the config file (-c, or NULL) and the
 * command line's keys in order, which win over the file. */
struct settings_source {
	const char		*path;
	struct settings_arg	*args;
	int			 nargs;
};

/* Defaults, then the file, then the command line (its first listen
 * replaces the file's).  Errors read "path:line: reason" or
 * "--option: reason".  Returns 0 or -1; cfg is then not to be used. */
int	settings_compose(struct settings *cfg, const struct settings_source *src,
	    char *err, size_t errlen);

/* Read a file of key = value lines; errors read "path:line: reason". */
int	settings_load(struct settings *cfg, const char *path, char *err,
	    size_t errlen);

/* The same over the file's bytes (len of them, NULs included); name is
 * the file's name in the errors.  A leading UTF-8 BOM is skipped; a NUL
 * byte or a line longer than SETTINGS_LINE_MAX bytes is an error. */
int	settings_parse(struct settings *cfg, const char *name,
	    const char *text, size_t len, char *err, size_t errlen);

/* Fill in what is derived (threads, max_conns), after all sources, for
 * this process: the soft RLIMIT_NOFILE is first raised to the hard one.
 * An explicit max_conns the limit cannot hold is an error ("max_conns N
 * needs M descriptors; the limit is L"). */
int	settings_finish(struct settings *cfg, char *err, size_t errlen);

/* The same for a limit of nofile descriptors (0: unlimited) of which
 * open_fds are in use before start-up. */
int	settings_derive(struct settings *cfg, long long nofile, int open_fds,
	    char *err, size_t errlen);

/* Descriptors needed besides the connections'. */
long long settings_fd_reserve(const struct settings *cfg, int open_fds);

/* Every key with its effective value, one "key = value" line each. */
void	settings_print(const struct settings *cfg, FILE *fp);

#endif
