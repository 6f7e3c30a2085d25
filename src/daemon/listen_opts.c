/* listen_opts.c: parse and print the options after a listen address, and
 * look up the owner and group they name. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen_opts.h"

#define BLANKS	" \t"

void
listen_opts_init(struct listen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = -1;
}

int
listen_split(const char *value, char *addr, size_t addrlen, const char **rest)
{
	size_t n = strcspn(value, BLANKS);

	if (n >= addrlen)
		return -1;
	memcpy(addr, value, n);
	addr[n] = '\0';
	*rest = value + n;
	return 0;
}

static const char *
kind_name(enum addr_kind kind)
{
	return kind == ADDR_TCP ? "TCP" : kind == ADDR_UDP ? "udp:" : "unix:";
}

/* mode=: octal permission bits, as chmod(1) takes them. */
static int
parse_mode(const char *v, size_t n, int *mode)
{
	int m = 0;

	if (n == 0 || n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '7')
			return -1;
		m = m * 8 + (v[i] - '0');
	}
	if (m > 0777)
		return -1;
	*mode = m;
	return 0;
}

/* owner= and group=: a name or a number, as chown(1) takes them. */
static int
parse_name(const char *v, size_t n, char *out)
{
	if (n == 0 || n >= LISTEN_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!(c == '_' || c == '-' || c == '.' || c == '$' ||
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z')))
			return -1;
	}
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

enum opt_id { OPT_REUSEPORT, OPT_PROXY_PROTOCOL, OPT_MODE, OPT_OWNER,
	OPT_GROUP };

static const struct {
	const char	*name;
	int		 takes_value;
	unsigned	 kinds;		/* bit per enum addr_kind */
	const char	*example;
} opt_table[] = {
	[OPT_REUSEPORT] = { "reuseport", 0, 1u << ADDR_TCP | 1u << ADDR_UDP,
	    NULL },
	[OPT_PROXY_PROTOCOL] = { "proxy_protocol", 0, 1u << ADDR_TCP, NULL },
	[OPT_MODE] = { "mode", 1, 1u << ADDR_UNIX, "mode=0660" },
	[OPT_OWNER] = { "owner", 1, 1u << ADDR_UNIX, "owner=upcased" },
	[OPT_GROUP] = { "group", 1, 1u << ADDR_UNIX, "group=upcase" },
};
#define NOPTS	((int)(sizeof(opt_table) / sizeof(opt_table[0])))

static int
opt_lookup(const char *name, size_t n)
{
	for (int i = 0; i < NOPTS; i++)
		if (strlen(opt_table[i].name) == n &&
		    memcmp(opt_table[i].name, name, n) == 0)
			return i;
	return -1;
}

/* One option, word[0..n), into o; seen marks the ones already given. */
static int
parse_one(const char *word, size_t n, enum addr_kind kind,
    struct listen_opts *o, unsigned *seen, char *err, size_t errlen)
{
	const char *eq = memchr(word, '=', n);
	size_t namelen = eq != NULL ? (size_t)(eq - word) : n;
	const char *v = eq != NULL ? eq + 1 : NULL;
	size_t vlen = eq != NULL ? n - namelen - 1 : 0;
	int id = opt_lookup(word, namelen), bad = 0;

	if (id < 0) {
		snprintf(err, errlen, "unknown listen option '%.*s'%s",
		    (int)n, word, kind == ADDR_UNIX ?
		    " (a unix path cannot contain a blank)" : "");
		return -1;
	}
	if (!(opt_table[id].kinds & (1u << kind))) {
		snprintf(err, errlen, "listen option '%s' is not for %s "
		    "listeners", opt_table[id].name, kind_name(kind));
		return -1;
	}
	if (*seen & (1u << id)) {
		snprintf(err, errlen, "listen option '%s' given twice",
		    opt_table[id].name);
		return -1;
	}
	*seen |= 1u << id;
	if (!opt_table[id].takes_value) {
		if (v != NULL) {
			snprintf(err, errlen, "listen option '%s' takes no "
			    "value, got '%.*s'", opt_table[id].name, (int)n,
			    word);
			return -1;
		}
		if (id == OPT_REUSEPORT)
			o->reuseport = 1;
		else
			o->proxy_protocol = 1;
		return 0;
	}
	if (v == NULL) {
		snprintf(err, errlen, "listen option '%s' needs a value (%s)",
		    opt_table[id].name, opt_table[id].example);
		return -1;
	}
	if (id == OPT_MODE)
		bad = parse_mode(v, vlen, &o->mode);
	else
		bad = parse_name(v, vlen, id == OPT_OWNER ? o->owner : o->group);
	if (bad) {
		snprintf(err, errlen, "listen option '%s': invalid value "
		    "'%.*s' (%s)", opt_table[id].name, (int)vlen, v,
		    id == OPT_MODE ? "octal permissions, 0..0777" :
		    "a user or group name or number");
		return -1;
	}
	return 0;
}

int
listen_opts_parse(const char *s, enum addr_kind kind, struct listen_opts *o,
    char *err, size_t errlen)
{
	unsigned seen = 0;

	listen_opts_init(o);
	for (;;) {
		size_t n;

		s += strspn(s, BLANKS);
		if (*s == '\0')
			return 0;
		n = strcspn(s, BLANKS);
		if (parse_one(s, n, kind, o, &seen, err, errlen) != 0)
			return -1;
		s += n;
	}
}

char *
listen_opts_format(const struct listen_opts *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", o->reuseport ? " reuseport" : "",
	    o->proxy_protocol ? " proxy_protocol" : "");
	if (o->mode >= 0)
		snprintf(buf + strlen(buf), len - strlen(buf), " mode=%04o",
		    (unsigned)o->mode);
	if (o->owner[0] != '\0')
		snprintf(buf + strlen(buf), len - strlen(buf), " owner=%s",
		    o->owner);
	if (o->group[0] != '\0')
		snprintf(buf + strlen(buf), len - strlen(buf), " group=%s",
		    o->group);
	return buf;
}

int
listen_opts_equal(const struct listen_opts *a, const struct listen_opts *b)
{
	return a->reuseport == b->reuseport &&
	    a->proxy_protocol == b->proxy_protocol && a->mode == b->mode &&
	    strcmp(a->owner, b->owner) == 0 && strcmp(a->group, b->group) == 0;
}

/* A user or group given as a number is taken as it is, as chown(1) does. */
static int
numeric_id(const char *s, unsigned long *id)
{
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	*id = strtoul(s, &end, 10);
	return *end == '\0' && errno == 0 && *id < (unsigned long)(uid_t)-1;
}

int
listen_opts_ids(const struct listen_opts *o, uid_t *uid, gid_t *gid,
    char *err, size_t errlen)
{
	unsigned long id;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (o->owner[0] != '\0') {
		struct passwd *pw;
		if (numeric_id(o->owner, &id))
			*uid = (uid_t)id;
		else if ((pw = getpwnam(o->owner)) != NULL)
			*uid = pw->pw_uid;
		else {
			snprintf(err, errlen, "listen option 'owner': unknown "
			    "user '%s'", o->owner);
			return -1;
		}
	}
	if (o->group[0] != '\0') {
		struct group *gr;
		if (numeric_id(o->group, &id))
			*gid = (gid_t)id;
		else if ((gr = getgrnam(o->group)) != NULL)
			*gid = gr->gr_gid;
		else {
			snprintf(err, errlen, "listen option 'group': unknown "
			    "group '%s'", o->group);
			return -1;
		}
	}
	return 0;
}
