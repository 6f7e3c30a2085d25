/* listen_opts.h: the options that may follow a listen value's address,
 *
 *	listen = 127.0.0.1:8081 reuseport proxy_protocol
 *	listen = unix:/run/upcased/u.sock mode=0660 group=upcase
 *
 * parsed by one pure function for every kind of listener.  The address
 * ends at the first blank, so a unix path cannot contain one. */
#ifndef LISTEN_OPTS_H
#define LISTEN_OPTS_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"

#define LISTEN_NAME_MAX	64	/* owner= and group= values */
#define LISTEN_OPTS_STRLEN	(64 + 2 * LISTEN_NAME_MAX)

struct listen_opts {
	unsigned	reuseport:1;		/* TCP, UDP: SO_REUSEPORT */
	unsigned	proxy_protocol:1;	/* TCP: a PROXY header first */
	int		mode;			/* unix: permissions, -1 as created */
	char		owner[LISTEN_NAME_MAX];	/* unix: "" unchanged, else a name or id */
	char		group[LISTEN_NAME_MAX];
};

/* One listener as configured: where, and how. */
struct listen_spec {
	struct addr		addr;
	struct listen_opts	opts;
	uid_t			uid;	/* owner= looked up, (uid_t)-1 if none */
	gid_t			gid;	/* group= looked up, (gid_t)-1 if none */
};

void	listen_opts_init(struct listen_opts *o);

/*
 * Parse the blank-separated options in s (the text after the address) for
 * a listener of the given kind into o.  Pure: names are not looked up.
 * Returns 0, or -1 with the reason in err ("unknown listen option 'x'").
 */
int	listen_opts_parse(const char *s, enum addr_kind kind,
	    struct listen_opts *o, char *err, size_t errlen);

/* Split a whole listen value at its first blank: the address text into
 * addr (NUL-terminated), and a pointer to what follows into *rest.
 * Returns -1 if the address does not fit in addrlen. */
int	listen_split(const char *value, char *addr, size_t addrlen,
	    const char **rest);

/* The options as listen_opts_parse() reads them, each preceded by a
 * blank, in a fixed order; "" when there are none. */
char	*listen_opts_format(const struct listen_opts *o, char *buf,
	    size_t len);

/* The ids owner= and group= name, (uid_t)-1 and (gid_t)-1 where they are
 * not given.  Not pure: names are looked up in the user database.
 * Returns -1 with the reason in err for a name that does not exist. */
int	listen_opts_ids(const struct listen_opts *o, uid_t *uid, gid_t *gid,
	    char *err, size_t errlen);

int	listen_opts_equal(const struct listen_opts *a,
	    const struct listen_opts *b);

#endif
