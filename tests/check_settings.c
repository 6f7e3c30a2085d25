/* check_settings.c: defaults, settings_set, config files and precedence. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "settings.h"
#include "check_main.h"

#define NELEM(a)	((int)(sizeof(a) / sizeof((a)[0])))

static const char defaults_text[] =
	"listen = 127.0.0.1:8080\n"
	"backlog = 1024\n"
	"chunk_size = 1024\n"
	"max_pending = 65536\n"
	"udp_rcvbuf = 4194304\n"
	"max_conns = 0\n"
	"max_conns_per_ip = none\n"
	"threads = 0\n"
	"idle_timeout = 300\n"
	"write_timeout = 30\n"
	"shutdown_timeout = 5\n"
	"proxy_timeout = 5\n"
	"proxy_from = any\n"
	"allow = any\n"
	"deny = none\n"
	"udp_rate_per_ip = none\n"
	"log_level = info\n"
	"log_file = stderr\n"
	"daemon = no\n"
	"pidfile = none\n"
	"user = none\n"
	"metrics = none\n";

/* settings_print into a string; the caller frees it. */
static char *
printed(const struct settings *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	settings_print(cfg, fp);
	ck_assert_int_eq(fclose(fp), 0);
	return text;
}

static void
assert_printed(const struct settings *cfg, const char *want)
{
	char *got = printed(cfg);

	ck_assert_msg(strcmp(got, want) == 0, "settings_print: expected\n%s"
	    "got\n%s", want, got);
	free(got);
}

/* line must be one whole line of settings_print's output. */
static void
assert_line(const struct settings *cfg, const char *line)
{
	char *got = printed(cfg), *padded, *want;

	ck_assert(asprintf(&padded, "\n%s", got) > 0);
	ck_assert(asprintf(&want, "\n%s\n", line) > 0);
	ck_assert_msg(strstr(padded, want) != NULL, "settings_print: expected "
	    "a line '%s', got\n%s", line, got);
	free(got);
	free(padded);
	free(want);
}

static void
set_ok(struct settings *cfg, const char *key, const char *value)
{
	char err[SETTINGS_ERRLEN] = "";

	ck_assert_msg(settings_set(cfg, key, value, err, sizeof(err)) == 0,
	    "settings_set(%s, '%s'): expected success, got: %s", key, value, err);
}

START_TEST(test_defaults)
{
	struct settings cfg;

	settings_defaults(&cfg);
	ck_assert_int_eq(cfg.nlisten, 1);
	assert_printed(&cfg, defaults_text);
}
END_TEST

struct set_case {
	const char	*key;
	const char	*value;
	const char	*line;	/* how settings_print shows it */
};

static const struct set_case set_good[] = {
	{ "listen", "[::1]:9000", "listen = [::1]:9000" },
	{ "listen", "unix:/tmp/u.sock", "listen = unix:/tmp/u.sock" },
	{ "listen", "unix:/tmp/u.sock  group=0 mode=0660",
	    "listen = unix:/tmp/u.sock mode=0660 group=0" },
	{ "listen", "127.0.0.1:1\treuseport", "listen = 127.0.0.1:1 reuseport" },
	{ "listen", "*:1 proxy_protocol", "listen = *:1 proxy_protocol" },
	{ "max_conns_per_ip", "1", "max_conns_per_ip = 1" },
	{ "max_conns_per_ip", "10000000", "max_conns_per_ip = 10000000" },
	{ "max_conns_per_ip", "none", "max_conns_per_ip = none" },
	{ "udp_rate_per_ip", "50", "udp_rate_per_ip = 50" },
	{ "udp_rate_per_ip", "none", "udp_rate_per_ip = none" },
	{ "proxy_timeout", "0.5", "proxy_timeout = 0.5" },
	{ "proxy_timeout", "none", "proxy_timeout = none" },
	{ "proxy_from", "10.0.0.5", "proxy_from = 10.0.0.5" },
	{ "proxy_from", "any", "proxy_from = any" },
	{ "allow", "10.0.0.0/8", "allow = 10.0.0.0/8" },
	{ "allow", "::ffff:192.168.0.0/112", "allow = 192.168.0.0/16" },
	{ "allow", "2001:db8::/32", "allow = 2001:db8::/32" },
	{ "allow", "any", "allow = any" },
	{ "deny", "::1", "deny = ::1" },
	{ "deny", "none", "deny = none" },
	{ "backlog", "1", "backlog = 1" },
	{ "backlog", "2147483647", "backlog = 2147483647" },
	{ "chunk_size", "1", "chunk_size = 1" },
	{ "chunk_size", "1048576", "chunk_size = 1048576" },
	{ "max_pending", "1", "max_pending = 1" },
	{ "udp_rcvbuf", "4096", "udp_rcvbuf = 4096" },
	{ "max_pending", "1073741824", "max_pending = 1073741824" },
	{ "max_conns", "1", "max_conns = 1" },
	{ "max_conns", "10000000", "max_conns = 10000000" },
	{ "threads", "1", "threads = 1" },
	{ "threads", "256", "threads = 256" },
	{ "idle_timeout", "0.25", "idle_timeout = 0.25" },
	{ "idle_timeout", "none", "idle_timeout = none" },
	{ "write_timeout", "1.5", "write_timeout = 1.5" },
	{ "shutdown_timeout", "NONE", "shutdown_timeout = none" },
	{ "log_level", "debug", "log_level = debug" },
	{ "log_level", "WARN", "log_level = warn" },
	{ "log_level", "error", "log_level = error" },
	{ "log_level", "notice", "log_level = notice" },
	{ "log_file", "syslog", "log_file = syslog" },
	{ "daemon", "yes", "daemon = yes" },
	{ "daemon", "no", "daemon = no" },
	{ "pidfile", "/run/upcased.pid", "pidfile = /run/upcased.pid" },
	{ "pidfile", "none", "pidfile = none" },
	{ "user", "nobody", "user = nobody" },
	{ "user", "none", "user = none" },
	{ "log_file", "stderr", "log_file = stderr" },
	{ "log_file", "/var/log/upcased.log", "log_file = /var/log/upcased.log" },
	{ "metrics", "127.0.0.1:9100", "metrics = 127.0.0.1:9100" },
	{ "metrics", "[::1]:0", "metrics = [::1]:0" },
	{ "metrics", "*:9100", "metrics = *:9100" },
	{ "metrics", "none", "metrics = none" },
};

/* Loop: _i indexes set_good[]. */
START_TEST(test_set_good)
{
	const struct set_case *c = &set_good[_i];
	struct settings cfg;

	settings_defaults(&cfg);
	ck_assert_msg(settings_key_known(c->key), "'%s' is not a known key",
	    c->key);
	set_ok(&cfg, c->key, c->value);
	assert_line(&cfg, c->line);
}
END_TEST

struct bad_case {
	const char	*key;
	const char	*value;
	const char	*why;	/* must appear in the error */
};

static const struct bad_case set_bad[] = {
	{ "chunk_size", "0", "0 is out of range (1..1048576)" },
	{ "chunk_size", "1048577", "1048577 is out of range" },
	{ "chunk_size", "abc", "invalid number 'abc'" },
	{ "chunk_size", "-1", "invalid number '-1'" },
	{ "chunk_size", " 1", "invalid number ' 1'" },
	{ "chunk_size", "1k", "invalid number '1k'" },
	{ "chunk_size", "", "invalid number ''" },
	{ "threads", "0", "0 is out of range (1..256)" },
	{ "threads", "257", "257 is out of range (1..256)" },
	{ "threads", "99999999999999999999", "invalid number" },
	{ "max_pending", "0", "0 is out of range" },
	{ "udp_rcvbuf", "4095", "4095 is out of range (4096..1073741824)" },
	{ "max_pending", "1073741825", "1073741825 is out of range" },
	{ "max_conns", "0", "0 is out of range" },
	{ "max_conns", "10000001", "10000001 is out of range" },
	{ "backlog", "0", "0 is out of range" },
	{ "backlog", "2147483648", "2147483648 is out of range" },
	{ "idle_timeout", "0", "greater than 0" },
	{ "write_timeout", "-1", "'-1'" },
	{ "shutdown_timeout", "soon", "invalid timeout 'soon'" },
	{ "log_level", "loud", "unknown level 'loud'" },
	{ "daemon", "true", "expected yes or no, got 'true'" },
	{ "user", "no-such-user-here", "unknown user 'no-such-user-here'" },
	{ "pidfile", "", "empty path" },
	{ "log_level", "", "unknown level ''" },
	{ "listen", "8080", "invalid address '8080'" },
	{ "listen", "127.0.0.1:99999", "invalid port '99999'" },
	{ "listen", "::1:80", "[IPV6]:PORT" },
	{ "bogus_key", "1", "unknown key 'bogus_key'" },
	{ "metrics", "udp:127.0.0.1:9100", "metrics are served over TCP" },
	{ "metrics", "unix:/tmp/m.sock", "metrics are served over TCP" },
	{ "metrics", "9100", "invalid address '9100'" },
	{ "metrics", "", "invalid address ''" },
	{ "listen", "udp:127.0.0.1:1 proxy_protocol", "'proxy_protocol' is not "
	    "for udp: listeners" },
	{ "max_conns_per_ip", "0", "0 is out of range (1..10000000)" },
	{ "max_conns_per_ip", "unlimited", "expected a number or none, got "
	    "'unlimited'" },
	{ "udp_rate_per_ip", "-5", "expected a number or none, got '-5'" },
	{ "udp_rate_per_ip", "10000001", "out of range (1..10000000)" },
	{ "proxy_timeout", "0", "greater than 0" },
	{ "allow", "10.0.0.1/8", "has bits set past its /8 prefix" },
	{ "allow", "10.0.0.0/8 10.1.0.0/16", "invalid prefix length" },
	{ "deny", "any", "invalid address 'any'" },
	{ "proxy_from", "none", "invalid address 'none'" },
	{ "proxy_from", "haproxy.local", "invalid address 'haproxy.local'" },
};

/* Loop: _i indexes set_bad[]; a refused value changes nothing. */
START_TEST(test_set_bad)
{
	const struct bad_case *c = &set_bad[_i];
	char err[SETTINGS_ERRLEN] = "";
	struct settings cfg;
	int rc;

	settings_defaults(&cfg);
	rc = settings_set(&cfg, c->key, c->value, err, sizeof(err));
	ck_assert_msg(rc == -1, "settings_set(%s, '%s'): expected -1, got %d",
	    c->key, c->value, rc);
	ck_assert_msg(strstr(err, c->why) != NULL, "settings_set(%s, '%s'): "
	    "expected an error containing \"%s\", got \"%s\"", c->key,
	    c->value, c->why, err);
	assert_printed(&cfg, defaults_text);
}
END_TEST

START_TEST(test_set_too_many_listeners)
{
	char err[SETTINGS_ERRLEN] = "", value[32];
	struct settings cfg;

	settings_defaults(&cfg);
	for (int i = 1; i < SETTINGS_MAX_LISTEN; i++) {
		snprintf(value, sizeof(value), "127.0.0.1:%d", 9000 + i);
		set_ok(&cfg, "listen", value);
	}
	ck_assert_int_eq(cfg.nlisten, SETTINGS_MAX_LISTEN);
	ck_assert_int_eq(settings_set(&cfg, "listen", "127.0.0.1:1", err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "too many listeners") != NULL,
	    "expected \"too many listeners\", got \"%s\"", err);
}
END_TEST

/* A temporary file holding text; the caller unlinks it. */
static void
write_temp(char *path, size_t len, const char *text)
{
	FILE *fp;
	int fd;

	snprintf(path, len, "/tmp/check_settings.XXXXXX");
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	fp = fdopen(fd, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert(fputs(text, fp) >= 0);
	ck_assert_int_eq(fclose(fp), 0);
}

static int
load_text(struct settings *cfg, const char *text, char *path, size_t plen,
    char *err, size_t errlen)
{
	int rc;

	write_temp(path, plen, text);
	rc = settings_load(cfg, path, err, errlen);
	unlink(path);
	return rc;
}

static void
load_ok(struct settings *cfg, const char *text)
{
	char path[64], err[SETTINGS_ERRLEN] = "";

	ck_assert_msg(load_text(cfg, text, path, sizeof(path), err,
	    sizeof(err)) == 0, "settings_load: expected success, got \"%s\" "
	    "for:\n%s", err, text);
}

START_TEST(test_load_syntax)
{
	struct settings cfg;

	settings_defaults(&cfg);
	load_ok(&cfg,
	    "# full line comment\r\n"
	    "\r\n"
	    "   \t\r\n"
	    "  chunk_size   =   4096   # trailing comment\r\n"
	    "\tthreads=4\t\r\n"
	    "#threads = 8\n"
	    "\n"
	    "idle_timeout = 0.5 #\n"
	    "listen = unix:/tmp/a#b.sock\n"
	    "log_level = debug");	/* no newline at the end */
	assert_printed(&cfg,
	    "listen = unix:/tmp/a#b.sock\n"
	    "backlog = 1024\n"
	    "chunk_size = 4096\n"
	    "max_pending = 65536\n"
	    "udp_rcvbuf = 4194304\n"
	    "max_conns = 0\n"
	    "max_conns_per_ip = none\n"
	    "threads = 4\n"
	    "idle_timeout = 0.5\n"
	    "write_timeout = 30\n"
	    "shutdown_timeout = 5\n"
	    "proxy_timeout = 5\n"
	    "proxy_from = any\n"
	    "allow = any\n"
	    "deny = none\n"
	    "udp_rate_per_ip = none\n"
	    "log_level = debug\n"
	    "log_file = stderr\n"
	    "daemon = no\n"
	    "pidfile = none\n"
	    "user = none\n"
	    "metrics = none\n");
}
END_TEST

START_TEST(test_load_empty)
{
	struct settings cfg;

	settings_defaults(&cfg);
	load_ok(&cfg, "");
	assert_printed(&cfg, defaults_text);
	load_ok(&cfg, "# only comments\n\n   # and blanks\r\n");
	assert_printed(&cfg, defaults_text);
}
END_TEST

static const struct {
	const char	*text;
	const char	*want;	/* what follows the path in the error */
} load_bad[] = {
	{ "chunk_size = 1\n\nbogus_key = 1\n",
	    ":3: unknown key 'bogus_key'" },
	{ "# one\r\n\r\nbogus_key = 1\r\n",
	    ":3: unknown key 'bogus_key'" },
	{ "# comment\nchunk_size 4096\n",
	    ":2: expected 'key = value', got 'chunk_size 4096'" },
	{ "threads =\n", ":1: threads: missing value" },
	{ "\n\n\nthreads =   # nothing\n", ":4: threads: missing value" },
	{ "# x\r\n\r\nthreads = 0\r\n", ":3: threads: 0 is out of range" },
	{ "chunk_size = 1048577\n",
	    ":1: chunk_size: 1048577 is out of range" },
	{ "listen = 127.0.0.1:99999\n", ":1: listen: invalid port '99999'" },
	{ "idle_timeout = 0\n", ":1: idle_timeout: timeout must be greater" },
	{ "log_level = loud\n", ":1: log_level: unknown level 'loud'" },
	{ "log_level = debug#x\n", ":1: log_level: unknown level 'debug#x'" },
	{ "= 5\n", ":1: unknown key ''" },
	{ "listen = 127.0.0.1:1\nlisten = nope\n",
	    ":2: listen: invalid address 'nope'" },
	{ "listen = 127.0.0.1:1 x\n", ":1: listen: unknown listen option 'x'" },
	{ "listen = unix:/tmp/a b\n", ":1: listen: unknown listen option 'b' "
	    "(a unix path cannot contain a blank)" },
	{ "listen = unix:/tmp/a owner=no-such-user-here\n",
	    ":1: listen: listen option 'owner': unknown user" },
};

/* Loop: _i indexes load_bad[]. */
START_TEST(test_load_bad)
{
	char path[64], err[SETTINGS_ERRLEN] = "";
	struct settings cfg;
	size_t plen;
	int rc;

	settings_defaults(&cfg);
	rc = load_text(&cfg, load_bad[_i].text, path, sizeof(path), err,
	    sizeof(err));
	ck_assert_msg(rc == -1, "settings_load: expected -1, got %d for:\n%s",
	    rc, load_bad[_i].text);
	plen = strlen(path);
	ck_assert_msg(strncmp(err, path, plen) == 0 &&
	    strncmp(err + plen, load_bad[_i].want,
	    strlen(load_bad[_i].want)) == 0, "settings_load: expected "
	    "\"%s%s...\", got \"%s\"", path, load_bad[_i].want, err);
}
END_TEST

START_TEST(test_load_long_line)
{
	char path[64], err[SETTINGS_ERRLEN] = "", text[3000];
	struct settings cfg;

	memset(text, 'x', sizeof(text));
	memcpy(text, "# ok\n", 5);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	settings_defaults(&cfg);
	ck_assert_int_eq(load_text(&cfg, text, path, sizeof(path), err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: line too long") != NULL,
	    "expected \":2: line too long\", got \"%s\"", err);
}
END_TEST

/* Bytes a text editor would not write: NULs anywhere, a BOM in front. */
#define BOM	"\xef\xbb\xbf"
#define B(s)	(s), sizeof(s) - 1
static const struct {
	const char	*text;
	size_t		 len;
	const char	*want;	/* NULL: loads, with chunk_size 77 */
} load_bytes[] = {
	{ B("chunk_size = 77\nthr\0eads = 2\n"), "f:2: NUL byte at column 4" },
	{ B("chunk_size = 77\nthreads = 2\0"), "f:2: NUL byte at column 12" },
	{ B("\0\0\0\0"), "f:1: NUL byte at column 1" },
	{ B("# a comment\0\n"), "f:1: NUL byte at column 12" },
	{ B(BOM "chunk_size = 77\n"), NULL },
	{ B(BOM "# only a comment\nchunk_size = 77"), NULL },
	{ B("chunk_size = 77\n" BOM "threads = 2\n"),
	    "f:2: unknown key '" BOM "threads'" },
};

START_TEST(test_parse_bytes)
{
	char err[SETTINGS_ERRLEN] = "";
	struct settings cfg;
	int rc;

	settings_defaults(&cfg);
	rc = settings_parse(&cfg, "f", load_bytes[_i].text, load_bytes[_i].len,
	    err, sizeof(err));
	if (load_bytes[_i].want == NULL) {
		ck_assert_msg(rc == 0, "case %d: unexpected error '%s'", _i, err);
		ck_assert_int_eq(cfg.chunk_size, 77);
	} else {
		ck_assert_msg(rc != 0, "case %d: accepted", _i);
		ck_assert_msg(strncmp(err, load_bytes[_i].want,
		    strlen(load_bytes[_i].want)) == 0, "case %d: expected "
		    "'%s...', got '%s'", _i, load_bytes[_i].want, err);
	}
}
END_TEST

/* The same through a file: fgets once stopped at the NUL. */
START_TEST(test_load_nul)
{
	char path[] = "/tmp/check_settings.XXXXXX", err[SETTINGS_ERRLEN] = "";
	static const char text[] = "chunk_size = 77\nthreads = 2\0";
	struct settings cfg;
	int fd = mkstemp(path);

	ck_assert(fd >= 0);
	ck_assert(write(fd, text, sizeof(text) - 1) == sizeof(text) - 1);
	close(fd);
	settings_defaults(&cfg);
	ck_assert_int_eq(settings_load(&cfg, path, err, sizeof(err)), -1);
	unlink(path);
	ck_assert_msg(strstr(err, ":2: NUL byte at column 12") != NULL,
	    "expected ':2: NUL byte at column 12', got '%s'", err);
}
END_TEST

START_TEST(test_load_missing_file)
{
	static const char path[] = "/tmp/check_settings.does-not-exist";
	char err[SETTINGS_ERRLEN] = "", want[SETTINGS_ERRLEN];
	struct settings cfg;

	settings_defaults(&cfg);
	unlink(path);
	ck_assert_int_eq(settings_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	ck_assert_str_eq(err, want);
}
END_TEST

/* fopen of a directory succeeds on Linux; the read is what fails. */
START_TEST(test_load_directory)
{
	char err[SETTINGS_ERRLEN] = "", want[SETTINGS_ERRLEN];
	struct settings cfg;

	settings_defaults(&cfg);
	ck_assert_int_eq(settings_load(&cfg, "/tmp", err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "/tmp: %s", strerror(EISDIR));
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_listen_replaces)
{
	struct settings cfg;
	char *got;

	settings_defaults(&cfg);
	load_ok(&cfg,
	    "listen = 127.0.0.1:1\n"
	    "chunk_size = 10\n"
	    "listen = [::1]:2\n"
	    "listen = unix:/tmp/u.sock\n");
	ck_assert_int_eq(cfg.nlisten, 3);
	got = printed(&cfg);
	ck_assert_msg(strncmp(got, "listen = 127.0.0.1:1\n"
	    "listen = [::1]:2\n"
	    "listen = unix:/tmp/u.sock\n"
	    "backlog = 1024\n", strlen("listen = 127.0.0.1:1\n"
	    "listen = [::1]:2\nlisten = unix:/tmp/u.sock\nbacklog = 1024\n"))
	    == 0, "expected the file's three listeners in order and no "
	    "default, got\n%s", got);
	free(got);
}
END_TEST

/* The daemon loads the file, then applies the command line on top. */
START_TEST(test_precedence)
{
	struct settings cfg;

	settings_defaults(&cfg);
	load_ok(&cfg,
	    "chunk_size = 4096\n"
	    "idle_timeout = 10\n"
	    "log_level = debug\n"
	    "threads = 2\n");
	set_ok(&cfg, "chunk_size", "2048");
	set_ok(&cfg, "idle_timeout", "none");
	set_ok(&cfg, "log_level", "warn");
	assert_line(&cfg, "chunk_size = 2048");
	assert_line(&cfg, "idle_timeout = none");
	assert_line(&cfg, "log_level = warn");
	assert_line(&cfg, "threads = 2");
}
END_TEST

/* The repeatable range keys add up in a file; the command line's first
 * one replaces the file's list; any and none empty a list. */
START_TEST(test_lists_compose)
{
	static const char text[] =
	    "allow = 10.0.0.0/8\n"
	    "allow = 192.168.0.0/16\n"
	    "deny = 10.6.0.0/16\n"
	    "proxy_from = 10.0.0.5\n";
	struct settings_arg args[] = {
		{ "allow", "127.0.0.1", NULL },
		{ "allow", "::1", NULL },
		{ "deny", "none", NULL },
	};
	struct settings_source src = { NULL, args, NELEM(args) };
	char path[64], err[SETTINGS_ERRLEN] = "";
	struct settings cfg;
	char *got;

	write_temp(path, sizeof(path), text);
	src.path = path;
	ck_assert_msg(settings_compose(&cfg, &src, err, sizeof(err)) == 0,
	    "%s", err);
	unlink(path);
	got = printed(&cfg);
	ck_assert_msg(strstr(got, "proxy_from = 10.0.0.5\nallow = 127.0.0.1\n"
	    "allow = ::1\ndeny = none\n") != NULL, "expected the command "
	    "line's allow list, no deny and the file's proxy_from, got\n%s",
	    got);
	free(got);
	settings_defaults(&cfg);
	set_ok(&cfg, "allow", "10.0.0.0/8");
	set_ok(&cfg, "allow", "any");
	set_ok(&cfg, "allow", "::1");
	assert_line(&cfg, "allow = ::1");
	ck_assert_int_eq(cfg.acl.allow.n, 1);
}
END_TEST

/* The shipped example must load and agree with the built-in defaults. */
START_TEST(test_load_shipped_conf)
{
	const char *srcdir = getenv("srcdir");
	char path[4096], err[SETTINGS_ERRLEN] = "";
	struct settings cfg;

	if (srcdir == NULL)
		srcdir = ".";
	snprintf(path, sizeof(path), "%s/conf/upcased.conf", srcdir);
	if (access(path, R_OK) != 0)
		return;		/* run by hand outside the tree */
	settings_defaults(&cfg);
	ck_assert_msg(settings_load(&cfg, path, err, sizeof(err)) == 0,
	    "%s: %s", path, err);
	assert_printed(&cfg, defaults_text);
}
END_TEST

START_TEST(test_finish_derives)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus < 1 ? 1 : cpus > SETTINGS_MAX_THREADS ?
	    SETTINGS_MAX_THREADS : (int)cpus;
	struct settings cfg;
	char err[SETTINGS_ERRLEN];

	settings_defaults(&cfg);
	ck_assert_msg(settings_finish(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(cfg.threads == want, "threads: expected %d (online "
	    "CPUs), got %d", want, cfg.threads);
	ck_assert_msg(cfg.max_conns >= 1, "max_conns: expected >= 1, got %d",
	    cfg.max_conns);
}
END_TEST

START_TEST(test_finish_keeps_explicit)
{
	struct settings cfg;
	char err[SETTINGS_ERRLEN];

	settings_defaults(&cfg);
	set_ok(&cfg, "threads", "3");
	set_ok(&cfg, "max_conns", "77");
	ck_assert_msg(settings_finish(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(cfg.threads, 3);
	ck_assert_int_eq(cfg.max_conns, 77);
}
END_TEST

/* max_conns is what the descriptor limit leaves after the reserve: what
 * is open already, a listener's, five per worker loop, 16 spare. */
static const struct derive_case {
	long long	 nofile;
	int		 open_fds;
	const char	*threads;
	const char	*max_conns;	/* NULL: derived */
	int		 want;		/* 0: an error */
	const char	*why;
} derive_cases[] = {
	{ 64, 3, "4", NULL, 64 - 3 - 1 - 5 * 4 - 16, NULL },
	{ 400, 3, "64", NULL, 400 - 3 - 1 - 5 * 64 - 16, NULL },
	{ 400, 30, "1", NULL, 400 - 30 - 1 - 5 - 16, NULL },
	{ 0, 3, "4", NULL, 10000000, NULL },
	{ 64, 3, "4", "24", 24, NULL },
	{ 20000, 3, "4", "50000", 0,
	    "max_conns 50000 needs 50040 descriptors; the limit is 20000" },
	{ 64, 3, "4", "25", 0,
	    "max_conns 25 needs 65 descriptors; the limit is 64" },
	{ 20, 3, "8", NULL, 0,
	    "8 threads and 1 listener need 61 descriptors; the limit is 20" },
};

START_TEST(test_derive)
{
	const struct derive_case *c = &derive_cases[_i];
	char err[SETTINGS_ERRLEN] = "";
	struct settings cfg;
	int rc;

	settings_defaults(&cfg);
	set_ok(&cfg, "threads", c->threads);
	if (c->max_conns != NULL)
		set_ok(&cfg, "max_conns", c->max_conns);
	rc = settings_derive(&cfg, c->nofile, c->open_fds, err, sizeof(err));
	if (c->want != 0) {
		ck_assert_msg(rc == 0, "limit %lld, threads %s: unexpected "
		    "error '%s'", c->nofile, c->threads, err);
		ck_assert_msg(cfg.max_conns == c->want, "limit %lld, threads "
		    "%s: expected max_conns %d, got %d", c->nofile, c->threads,
		    c->want, cfg.max_conns);
	} else {
		ck_assert_msg(rc != 0, "limit %lld, threads %s: accepted",
		    c->nofile, c->threads);
		ck_assert_msg(strcmp(err, c->why) == 0, "expected '%s', got "
		    "'%s'", c->why, err);
	}
}
END_TEST

/* A soft descriptor limit below the hard one is raised to it first, and
 * max_conns follows the raised limit. */
START_TEST(test_finish_raises_the_limit)
{
	struct rlimit saved, rl;
	struct settings cfg;
	char err[SETTINGS_ERRLEN];

	ck_assert(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max < 256)
		return;	/* nothing to raise to */
	rl = saved;
	rl.rlim_cur = 128;
	ck_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	settings_defaults(&cfg);
	set_ok(&cfg, "threads", "2");
	ck_assert_msg(settings_finish(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	ck_assert(setrlimit(RLIMIT_NOFILE, &saved) == 0);
	ck_assert_msg(rl.rlim_cur == saved.rlim_max, "soft limit: expected "
	    "%lu (the hard limit), got %lu", (unsigned long)saved.rlim_max,
	    (unsigned long)rl.rlim_cur);
	ck_assert_msg(cfg.max_conns > 128, "max_conns %d does not follow the "
	    "raised limit %lu", cfg.max_conns, (unsigned long)rl.rlim_cur);
}
END_TEST

static Suite *
settings_suite(void)
{
	Suite *s = suite_create("settings");
	TCase *tc;

	tc = tcase_create("set");
	tcase_add_test(tc, test_defaults);
	tcase_add_loop_test(tc, test_set_good, 0, NELEM(set_good));
	tcase_add_loop_test(tc, test_set_bad, 0, NELEM(set_bad));
	tcase_add_test(tc, test_set_too_many_listeners);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_test(tc, test_load_syntax);
	tcase_add_test(tc, test_load_empty);
	tcase_add_loop_test(tc, test_load_bad, 0, NELEM(load_bad));
	tcase_add_test(tc, test_load_long_line);
	tcase_add_loop_test(tc, test_parse_bytes, 0, NELEM(load_bytes));
	tcase_add_test(tc, test_load_nul);
	tcase_add_test(tc, test_load_missing_file);
	tcase_add_test(tc, test_load_directory);
	tcase_add_test(tc, test_load_listen_replaces);
	tcase_add_test(tc, test_precedence);
	tcase_add_test(tc, test_lists_compose);
	tcase_add_test(tc, test_load_shipped_conf);
	suite_add_tcase(s, tc);

	tc = tcase_create("finish");
	tcase_add_test(tc, test_finish_derives);
	tcase_add_test(tc, test_finish_keeps_explicit);
	tcase_add_loop_test(tc, test_derive, 0, NELEM(derive_cases));
	tcase_add_test(tc, test_finish_raises_the_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(settings_suite());
}
