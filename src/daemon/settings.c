/* settings.c: defaults, key = value files and option values, all validated
 * by the same setters so that a file and the command line agree. */
#include "settings.h"
#include "privdrop.h"
#include "procinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CHUNK_MAX	1048576
#define PENDING_MAX	(1024UL * 1024 * 1024)
#define CONNS_MAX	10000000
#define UDP_RATE_MAX	10000000

const struct settings_key settings_keys[] = {
	{ "listen", "'ADDR [OPTION]...'", "listen on ADDR (repeatable, up to 32; default 127.0.0.1:8080); options: reuseport (TCP, udp), proxy_protocol (TCP), mode=0660 owner=NAME group=NAME (unix)" },
	{ "backlog", "N", "listen(2) backlog (default 1024)" },
	{ "chunk_size", "BYTES", "largest single read per connection (1..1048576, default 1024)" },
	{ "max_pending", "BYTES", "replies held for a slow reader before reading pauses (default 65536)" },
	{ "udp_rcvbuf", "BYTES", "receive buffer of each udp: socket (one per thread), for bursts (4096..1073741824, default 4194304)" },
	{ "max_conns", "N", "connections at once; accepting pauses at the limit (default: from ulimit -n)" },
	{ "max_conns_per_ip", "N", "connections at once from one client address (IPv4, or IPv6 /64); more are closed at once (default none)" },
	{ "threads", "N", "worker event loops (1..256, default: online CPUs)" },
	{ "idle_timeout", "T", "close after T seconds with nothing received (default 300; none)" },
	{ "write_timeout", "T", "close when pending replies make no progress for T (default 30; none)" },
	{ "shutdown_timeout", "T", "longest graceful shutdown before closing the rest (default 5; none)" },
	{ "proxy_timeout", "T", "close a proxy_protocol connection whose PROXY header is not complete within T (default 5; none)" },
	{ "proxy_from", "CIDR", "only these may send a PROXY header (repeatable: 10.0.0.5, 10.1.0.0/16; default any: anyone who reaches a proxy_protocol listener can claim any address)" },
	{ "allow", "CIDR", "only clients in these ranges (repeatable: 10.0.0.0/8, 2001:db8::/32, ::1; default any)" },
	{ "deny", "CIDR", "refuse clients in these ranges (repeatable; default none)" },
	{ "udp_rate_per_ip", "R", "datagrams per second answered per source address, the rest dropped (default none)" },
	{ "log_level", "LEVEL", "error, warn, notice, info or debug (default info)" },
	{ "log_file", "WHERE", "stderr, syslog or a file to append to (default stderr)" },
	{ "daemon", NULL, "detach into the background; the parent exits once serving (-d; file: yes or no, default no)" },
	{ "pidfile", "PATH", "write the pid to PATH, locked while running (default none)" },
	{ "user", "NAME", "when started as root, run as NAME once bound (default none)" },
	{ "metrics", "HOST:PORT", "serve Prometheus /metrics and /healthz over HTTP on HOST:PORT ([IPV6]:PORT, *:PORT; default none)" },
	{ NULL, NULL, NULL },
};

void
settings_defaults(struct settings *cfg)
{
	char err[SETTINGS_ERRLEN];

	memset(cfg, 0, sizeof(*cfg));
	cfg->backlog = 1024;
	cfg->chunk_size = 1024;		/* the seed's recv(1024) */
	cfg->max_pending = 65536;
	cfg->udp_rcvbuf = 4 * 1024 * 1024;
	cfg->idle_timeout = 300 * 1000000LL;
	cfg->write_timeout = 30 * 1000000LL;
	cfg->shutdown_timeout = 5 * 1000000LL;
	cfg->proxy_timeout = 5 * 1000000LL;
	cfg->log_level = LOG_INFO;
	strcpy(cfg->log_file, "stderr");
	cfg->uid = (uid_t)-1;
	cfg->gid = (gid_t)-1;
	cfg->listen_is_default = 1;
	if (addr_parse("127.0.0.1:8080", &cfg->listen[0].addr, err,
	    sizeof(err)) == 0)
		cfg->nlisten = 1;
	listen_opts_init(&cfg->listen[0].opts);
	cfg->listen[0].uid = (uid_t)-1;
	cfg->listen[0].gid = (gid_t)-1;
}

static int
parse_number(const char *value, long long lo, long long hi,
    long long *out, char *err, size_t errlen)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (*value == '\0' || *end != '\0' || errno == ERANGE ||
	    (*value < '0' || *value > '9')) {
		snprintf(err, errlen, "invalid number '%s'", value);
		return -1;
	}
	if (v < lo || v > hi) {
		snprintf(err, errlen, "%s is out of range (%lld..%lld)",
		    value, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* The directory relative paths are taken from: the one upcased started
 * in, even after -d's chdir("/"), so a reload reads the same files. */
static char base_dir[PATH_MAX];

int
settings_set_base_dir(const char *dir)
{
	if (strlen(dir) >= sizeof(base_dir))
		return -1;
	strcpy(base_dir, dir);
	return 0;
}

int
settings_base_dir(char *buf, size_t len)
{
	if (base_dir[0] == '\0' || strlen(base_dir) >= len)
		return -1;
	strcpy(buf, base_dir);
	return 0;
}

int
settings_path(const char *value, char *out, size_t outlen, char *err,
    size_t errlen)
{
	int n;

	if (*value == '\0') {
		snprintf(err, errlen, "empty path");
		return -1;
	}
	if (value[0] == '/' || base_dir[0] == '\0')
		n = snprintf(out, outlen, "%s", value);
	else
		n = snprintf(out, outlen, "%s/%s", strcmp(base_dir, "/") == 0 ?
		    "" : base_dir, value);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "path too long: '%.40s...'", value);
		return -1;
	}
	return 0;
}

/* "ADDR [option ...]": the address ends at the first blank. */
static int
settings_add_listen(struct settings *cfg, const char *value, char *err,
    size_t errlen)
{
	struct listen_spec *l = &cfg->listen[cfg->nlisten];
	char text[ADDR_STRLEN];
	const char *rest;

	if (cfg->nlisten == SETTINGS_MAX_LISTEN) {
		snprintf(err, errlen, "too many listeners (at most %d)",
		    SETTINGS_MAX_LISTEN);
		return -1;
	}
	if (listen_split(value, text, sizeof(text), &rest) != 0) {
		snprintf(err, errlen, "address too long: '%.40s...'", value);
		return -1;
	}
	if (strncmp(text, "unix:", 5) == 0 && text[5] != '/' && text[5] != '\0') {
		char path[PATH_MAX];
		if (settings_path(text + 5, path, sizeof(path), err, errlen) != 0)
			return -1;
		if (snprintf(text, sizeof(text), "unix:%s", path) >=
		    (int)sizeof(text)) {
			snprintf(err, errlen, "unix socket path too long: "
			    "'%.40s...'", path);
			return -1;
		}
	}
	if (addr_parse(text, &l->addr, err, errlen) != 0 ||
	    listen_opts_parse(rest, l->addr.kind, &l->opts, err, errlen) != 0 ||
	    listen_opts_ids(&l->opts, &l->uid, &l->gid, err, errlen) != 0)
		return -1;
	cfg->nlisten++;
	cfg->listen_is_default = 0;
	return 0;
}

/* A TCP address only: HTTP is served over TCP. */
static int
settings_set_metrics(struct settings *cfg, const char *value, char *err,
    size_t errlen)
{
	struct addr a;

	if (strcmp(value, "none") == 0) {
		cfg->metrics_on = 0;
		return 0;
	}
	if (addr_parse(value, &a, err, errlen) != 0)
		return -1;
	if (a.kind != ADDR_TCP) {
		snprintf(err, errlen, "'%s': metrics are served over TCP: "
		    "HOST:PORT, [IPV6]:PORT or *:PORT", value);
		return -1;
	}
	cfg->metrics = a;
	cfg->metrics_on = 1;
	return 0;
}

/* A repeatable range key: each value adds a range; empty (any or none,
 * as --check-config prints an empty list) empties the list. */
static int
settings_add_cidr(struct cidr_list *l, const char *value, const char *empty,
    char *err, size_t errlen)
{
	if (strcmp(value, empty) == 0) {
		l->n = 0;
		return 0;
	}
	return cidr_list_add(l, value, err, errlen);
}

/* "none", or a number in 1..hi. */
static int
parse_limit(const char *value, long long hi, int *out, char *err,
    size_t errlen)
{
	long long v;

	if (strcmp(value, "none") == 0) {
		*out = 0;
		return 0;
	}
	if (parse_number(value, 1, hi, &v, err, errlen) == 0) {
		*out = (int)v;
		return 0;
	}
	if (*value < '0' || *value > '9')
		snprintf(err, errlen, "expected a number or none, got '%s'",
		    value);
	return -1;
}

int
settings_set(struct settings *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	long long v;

	if (strcmp(key, "listen") == 0)
		return settings_add_listen(cfg, value, err, errlen);
	if (strcmp(key, "allow") == 0)
		return settings_add_cidr(&cfg->acl.allow, value, "any", err,
		    errlen);
	if (strcmp(key, "deny") == 0)
		return settings_add_cidr(&cfg->acl.deny, value, "none", err,
		    errlen);
	if (strcmp(key, "proxy_from") == 0)
		return settings_add_cidr(&cfg->proxy_from, value, "any", err,
		    errlen);
	if (strcmp(key, "max_conns_per_ip") == 0)
		return parse_limit(value, CONNS_MAX, &cfg->max_conns_per_ip, err,
		    errlen);
	if (strcmp(key, "udp_rate_per_ip") == 0)
		return parse_limit(value, UDP_RATE_MAX, &cfg->udp_rate_per_ip,
		    err, errlen);
	if (strcmp(key, "proxy_timeout") == 0)
		return timeout_parse(value, &cfg->proxy_timeout, err, errlen);
	if (strcmp(key, "backlog") == 0) {
		if (parse_number(value, 1, INT_MAX, &v, err, errlen) != 0)
			return -1;
		cfg->backlog = (int)v;
		return 0;
	}
	if (strcmp(key, "chunk_size") == 0) {
		if (parse_number(value, 1, CHUNK_MAX, &v, err, errlen) != 0)
			return -1;
		cfg->chunk_size = (size_t)v;
		return 0;
	}
	if (strcmp(key, "max_pending") == 0) {
		if (parse_number(value, 1, PENDING_MAX, &v, err, errlen) != 0)
			return -1;
		cfg->max_pending = (size_t)v;
		return 0;
	}
	if (strcmp(key, "udp_rcvbuf") == 0) {
		if (parse_number(value, 4096, 1073741824, &v, err, errlen) != 0)
			return -1;
		cfg->udp_rcvbuf = (int)v;
		return 0;
	}
	if (strcmp(key, "max_conns") == 0) {
		if (parse_number(value, 1, CONNS_MAX, &v, err, errlen) != 0)
			return -1;
		cfg->max_conns = (int)v;
		return 0;
	}
	if (strcmp(key, "threads") == 0) {
		if (parse_number(value, 1, SETTINGS_MAX_THREADS, &v, err, errlen) != 0)
			return -1;
		cfg->threads = (int)v;
		return 0;
	}
	if (strcmp(key, "idle_timeout") == 0)
		return timeout_parse(value, &cfg->idle_timeout, err, errlen);
	if (strcmp(key, "write_timeout") == 0)
		return timeout_parse(value, &cfg->write_timeout, err, errlen);
	if (strcmp(key, "shutdown_timeout") == 0)
		return timeout_parse(value, &cfg->shutdown_timeout, err, errlen);
	if (strcmp(key, "log_level") == 0) {
		if (log_level_parse(value, &cfg->log_level) != 0) {
			snprintf(err, errlen, "unknown level '%s' "
			    "(error, warn, notice, info or debug)", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "daemon") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			cfg->daemon = value[0] == 'y';
			return 0;
		}
		snprintf(err, errlen, "expected yes or no, got '%s'", value);
		return -1;
	}
	if (strcmp(key, "pidfile") == 0) {
		if (strcmp(value, "none") == 0) {
			cfg->pidfile[0] = '\0';
			return 0;
		}
		return settings_path(value, cfg->pidfile, sizeof(cfg->pidfile),
		    err, errlen);
	}
	if (strcmp(key, "user") == 0) {
		if (strcmp(value, "none") == 0) {
			cfg->user[0] = '\0';
			cfg->uid = (uid_t)-1;
			cfg->gid = (gid_t)-1;
			return 0;
		}
		if (strlen(value) >= sizeof(cfg->user)) {
			snprintf(err, errlen, "user name too long");
			return -1;
		}
		if (privdrop_lookup(value, &cfg->uid, &cfg->gid, err, errlen) != 0)
			return -1;
		strcpy(cfg->user, value);
		return 0;
	}
	if (strcmp(key, "metrics") == 0)
		return settings_set_metrics(cfg, value, err, errlen);
	if (strcmp(key, "log_file") == 0) {
		if (strcmp(value, "stderr") == 0 || strcmp(value, "syslog") == 0) {
			strcpy(cfg->log_file, value);
			return 0;
		}
		return settings_path(value, cfg->log_file,
		    sizeof(cfg->log_file), err, errlen);
	}
	snprintf(err, errlen, "unknown key '%s'", key);
	return -1;
}

int
settings_key_known(const char *key)
{
	for (const struct settings_key *k = settings_keys; k->name != NULL; k++)
		if (strcmp(k->name, key) == 0)
			return 1;
	return 0;
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* One line of a file, NUL-terminated, without its newline. */
static int
parse_line(struct settings *cfg, const char *name, int lineno, char *line,
    int *file_listen, char *err, size_t errlen)
{
	char why[SETTINGS_ERRLEN], *key, *value, *eq, *hash;

	/* A comment starts at a '#' at line start or after a blank. */
	for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++) {
		if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
			*hash = '\0';
			break;
		}
	}
	key = trim(line);
	if (*key == '\0')
		return 0;
	eq = strchr(key, '=');
	if (eq == NULL) {
		snprintf(err, errlen, "%s:%d: expected 'key = value', got '%s'",
		    name, lineno, key);
		return -1;
	}
	*eq = '\0';
	key = trim(key);
	value = trim(eq + 1);
	if (*value == '\0') {
		snprintf(err, errlen, "%s:%d: %s: missing value", name, lineno,
		    key);
		return -1;
	}
	/* The file's listen lines replace the default, then add up. */
	if (strcmp(key, "listen") == 0 && !(*file_listen)++)
		cfg->nlisten = 0;
	if (!settings_key_known(key)) {
		snprintf(err, errlen, "%s:%d: unknown key '%s'", name, lineno,
		    key);
		return -1;
	}
	if (settings_set(cfg, key, value, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s:%d: %s: %s", name, lineno, key, why);
		return -1;
	}
	return 0;
}

int
settings_parse(struct settings *cfg, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
	static const char bom[] = "\xef\xbb\xbf";
	const char *p = text, *end = text + len;
	int lineno = 0, file_listen = 0;

	/* Editors that save UTF-8 "with BOM" put one before the first key. */
	if (len >= 3 && memcmp(p, bom, 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl != NULL ? nl : end) - p);
		const char *nul = memchr(p, '\0', n);
		char line[SETTINGS_LINE_MAX + 1];

		lineno++;
		if (nul != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte at column %zu "
			    "(not a text file?)", name, lineno,
			    (size_t)(nul - p) + 1);
			return -1;
		}
		if (n > SETTINGS_LINE_MAX) {
			snprintf(err, errlen, "%s:%d: line too long (at most "
			    "%d bytes)", name, lineno, SETTINGS_LINE_MAX);
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if (parse_line(cfg, name, lineno, line, &file_listen, err,
		    errlen) != 0)
			return -1;
		p += n + (nl != NULL);
	}
	return 0;
}

int
settings_load(struct settings *cfg, const char *path, char *err, size_t errlen)
{
	char *text;
	size_t len = 0;
	FILE *fp;
	int rc = -1;

	fp = fopen(path, "r");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* One byte more than allowed tells a file that is too large. */
	text = malloc(SETTINGS_FILE_MAX + 1);
	if (text == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(text, 1, SETTINGS_FILE_MAX + 1, fp);
	if (ferror(fp))
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (len > SETTINGS_FILE_MAX)
		snprintf(err, errlen, "%s: too large (at most %d bytes)", path,
		    SETTINGS_FILE_MAX);
	else
		rc = settings_parse(cfg, path, text, len, err, errlen);
out:
	free(text);
	fclose(fp);
	return rc;
}

char *
settings_option_name(const char *key, char *buf, size_t len)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i + 1 < len; i++)
		buf[i] = key[i] == '_' ? '-' : key[i];
	buf[i] = '\0';
	return buf;
}

/* The repeatable keys: the command line's first one replaces the file's
 * whole list.  Returns the key's bit, 0 if it is not one. */
static unsigned
settings_list_reset(struct settings *cfg, const char *key, unsigned done)
{
	static const char *const lists[] = { "listen", "allow", "deny",
	    "proxy_from" };
	int *const count[] = { &cfg->nlisten, &cfg->acl.allow.n,
	    &cfg->acl.deny.n, &cfg->proxy_from.n };

	for (unsigned i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (strcmp(key, lists[i]) == 0) {
			if (!(done & 1u << i))
				*count[i] = 0;
			return 1u << i;
		}
	return 0;
}

int
settings_compose(struct settings *cfg, const struct settings_source *src,
    char *err, size_t errlen)
{
	char why[SETTINGS_ERRLEN];
	unsigned from_cli = 0;

	settings_defaults(cfg);
	if (src->path != NULL && settings_load(cfg, src->path, err, errlen) != 0)
		return -1;
	for (int i = 0; i < src->nargs; i++) {
		const struct settings_arg *a = &src->args[i];
		from_cli |= settings_list_reset(cfg, a->key, from_cli);
		if (settings_set(cfg, a->key, a->value, why, sizeof(why)) != 0) {
			char opt[64];
			if (a->optname != NULL)
				snprintf(err, errlen, "%s: %s", a->optname, why);
			else
				snprintf(err, errlen, "--%s: %s",
				    settings_option_name(a->key, opt,
				    sizeof(opt)), why);
			return -1;
		}
	}
	return 0;
}

/*
 * Descriptors upcased holds besides its connections: what is open before
 * start-up (stdio, anything inherited), one per listener (a UDP one: one
 * per thread, each loop reads a socket of its own), per worker loop
 * libevent's epoll descriptor, signal pipe pair and notification eventfd
 * plus our wake-up eventfd, and room for the short-lived ones (the unix
 * probe socket and lock file, a config re-read, the log).
 */
#define FDS_PER_THREAD	5
#define FDS_SLACK	16
/* metrics: its listener, its loop's and thread's wake-up, and a few
 * scrapes at once. */
#define FDS_METRICS	(1 + FDS_PER_THREAD + 8)

long long
settings_fd_reserve(const struct settings *cfg, int open_fds)
{
	long long listeners = 0;

	for (int i = 0; i < cfg->nlisten; i++)
		listeners += cfg->listen[i].addr.kind == ADDR_UDP ?
		    cfg->threads : 1;
	return open_fds + listeners + (long long)FDS_PER_THREAD *
	    cfg->threads + FDS_SLACK + (cfg->metrics_on ? FDS_METRICS : 0);
}

int
settings_derive(struct settings *cfg, long long nofile, int open_fds,
    char *err, size_t errlen)
{
	long long reserve, room;

	if (cfg->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->threads = n < 1 ? 1 : n > SETTINGS_MAX_THREADS ? SETTINGS_MAX_THREADS : (int)n;
	}
	reserve = settings_fd_reserve(cfg, open_fds);
	room = nofile > 0 ? nofile - reserve : CONNS_MAX;
	if (cfg->max_conns == 0) {
		if (room < 1) {
			snprintf(err, errlen, "%d thread%s and %d listener%s "
			    "need %lld descriptors; the limit is %lld",
			    cfg->threads, cfg->threads == 1 ? "" : "s",
			    cfg->nlisten, cfg->nlisten == 1 ? "" : "s",
			    reserve + 1, nofile);
			return -1;
		}
		cfg->max_conns = room > CONNS_MAX ? CONNS_MAX : (int)room;
	} else if (cfg->max_conns > room) {
		snprintf(err, errlen, "max_conns %d needs %lld descriptors; the "
		    "limit is %lld", cfg->max_conns, cfg->max_conns + reserve,
		    nofile);
		return -1;
	}
	return 0;
}

/* Descriptors this process has open now, or 3 (stdio) if /proc cannot
 * tell. */
static int
open_fds_now(void)
{
	long n = procinfo_open_fds();

	return n < 0 ? 3 : (int)n;
}

static int start_fds = -1;

int
settings_finish(struct settings *cfg, char *err, size_t errlen)
{
	struct rlimit rl;
	long long nofile = 0;

	/* Service managers start us at a low soft limit (systemd: 1024)
	 * under a high hard one: take all that is allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			struct rlimit up = { rl.rlim_max, rl.rlim_max };
			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				rl = up;
		}
		if (rl.rlim_cur != RLIM_INFINITY)
			nofile = (long long)rl.rlim_cur;
	}
	/* What was open before start-up is counted once: at a reload the
	 * process holds its listeners, loops and connections, which the
	 * reserve already covers or max_conns itself counts. */
	if (start_fds < 0)
		start_fds = open_fds_now();
	return settings_derive(cfg, nofile, start_fds, err, errlen);
}

static void
settings_print_cidrs(FILE *fp, const char *key, const struct cidr_list *l,
    const char *empty)
{
	char buf[CIDR_STRLEN];

	if (l->n == 0)
		fprintf(fp, "%s = %s\n", key, empty);
	for (int i = 0; i < l->n; i++)
		fprintf(fp, "%s = %s\n", key, cidr_format(&l->v[i], buf,
		    sizeof(buf)));
}

static void
settings_print_limit(FILE *fp, const char *key, int v)
{
	if (v == 0)
		fprintf(fp, "%s = none\n", key);
	else
		fprintf(fp, "%s = %d\n", key, v);
}

void
settings_print(const struct settings *cfg, FILE *fp)
{
	char buf[ADDR_STRLEN];

	for (int i = 0; i < cfg->nlisten; i++) {
		char opts[LISTEN_OPTS_STRLEN];
		fprintf(fp, "listen = %s%s\n", addr_format(&cfg->listen[i].addr,
		    buf, sizeof(buf)), listen_opts_format(&cfg->listen[i].opts,
		    opts, sizeof(opts)));
	}
	fprintf(fp, "backlog = %d\n", cfg->backlog);
	fprintf(fp, "chunk_size = %zu\n", cfg->chunk_size);
	fprintf(fp, "max_pending = %zu\n", cfg->max_pending);
	fprintf(fp, "udp_rcvbuf = %d\n", cfg->udp_rcvbuf);
	fprintf(fp, "max_conns = %d\n", cfg->max_conns);
	settings_print_limit(fp, "max_conns_per_ip", cfg->max_conns_per_ip);
	fprintf(fp, "threads = %d\n", cfg->threads);
	fprintf(fp, "idle_timeout = %s\n", timeout_format(cfg->idle_timeout,
	    buf, sizeof(buf)));
	fprintf(fp, "write_timeout = %s\n", timeout_format(cfg->write_timeout,
	    buf, sizeof(buf)));
	fprintf(fp, "shutdown_timeout = %s\n",
	    timeout_format(cfg->shutdown_timeout, buf, sizeof(buf)));
	fprintf(fp, "proxy_timeout = %s\n", timeout_format(cfg->proxy_timeout,
	    buf, sizeof(buf)));
	settings_print_cidrs(fp, "proxy_from", &cfg->proxy_from, "any");
	settings_print_cidrs(fp, "allow", &cfg->acl.allow, "any");
	settings_print_cidrs(fp, "deny", &cfg->acl.deny, "none");
	settings_print_limit(fp, "udp_rate_per_ip", cfg->udp_rate_per_ip);
	fprintf(fp, "log_level = %s\n", log_level_name(cfg->log_level));
	fprintf(fp, "log_file = %s\n", cfg->log_file);
	fprintf(fp, "daemon = %s\n", cfg->daemon ? "yes" : "no");
	fprintf(fp, "pidfile = %s\n", cfg->pidfile[0] ? cfg->pidfile : "none");
	fprintf(fp, "user = %s\n", cfg->user[0] ? cfg->user : "none");
	fprintf(fp, "metrics = %s\n", cfg->metrics_on ? addr_format(
	    &cfg->metrics, buf, sizeof(buf)) : "none");
}
