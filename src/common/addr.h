/* addr.h: the ADDR syntax (HOST:PORT, [V6]:PORT, *:PORT, unix:PATH,
 * udp:HOST:PORT) to and from socket addresses. */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>
#include <sys/socket.h>

enum addr_kind {
	ADDR_TCP,
	ADDR_UDP,
	ADDR_UNIX,
};

struct addr {
	enum addr_kind		kind;
	int			any;	/* "*": every interface, v6 and v4 */
	socklen_t		len;
	struct sockaddr_storage	ss;
};

/* Long enough for "udp:[v6%scope]:port" and for "unix:" + a full path. */
#define ADDR_STRLEN	128

/* Parse s into a; host names are resolved (first answer wins).  Returns 0,
 * or -1 with the reason in err. */
int	addr_parse(const char *s, struct addr *a, char *err, size_t errlen);

/* The same for an address to connect to: *:PORT is refused. */
int	addr_parse_peer(const char *s, struct addr *a, char *err,
	    size_t errlen);

/* Fill a from a socket address, e.g. what getsockname() returned. */
void	addr_from_sockaddr(struct addr *a, enum addr_kind kind,
	    const struct sockaddr *sa, socklen_t len);

/* Print a in the ADDR syntax; always NUL-terminates. */
char	*addr_format(const struct addr *a, char *buf, size_t len);

/* A stream peer as the logs show it: an IPv4 client that a dual-stack
 * socket reports as ::ffff:a.b.c.d is printed as a.b.c.d. */
char	*addr_format_peer(const struct sockaddr *sa, socklen_t salen, char *buf,
	    size_t len);

/* The socket type and family to create for a. */
int	addr_socktype(const struct addr *a);
int	addr_family(const struct addr *a);

/* Port of an inet address in host order (0 for unix). */
int	addr_port(const struct addr *a);
void	addr_set_port(struct addr *a, int port);

#endif
