/* client.h: what the modes of the upcase client share: its options and
 * the way it speaks on stderr and stdout. */
#ifndef CLIENT_H
#define CLIENT_H

#include <stddef.h>

#include "addr.h"
#include "timeout.h"

#define CLIENT_DEFAULT_ADDR	"127.0.0.1:8080"
#define CLIENT_CONNECT_TIMEOUT	(10 * 1000000LL)
/* A lost datagram is never answered: over udp, -t is 5 s unless given. */
#define CLIENT_UDP_TIMEOUT	(5 * 1000000LL)
/* The largest UDP payload over IPv4; a line or -m text beyond it cannot
 * be one datagram. */
#define CLIENT_DGRAM_MAX	65507

struct client_opts {
	struct addr	 addr;
	const char	*addr_str;	/* as given: errors name it so */
	const char	*message;	/* -m TEXT; NULL: pipe mode */
	size_t		 message_len;
	timeout_us	 timeout;	/* -t: no reply byte for this long */
	timeout_us	 connect_timeout;
};

enum client_parse_result {
	CLIENT_BAD = -1,	/* reason in err */
	CLIENT_RUN,
	CLIENT_HELP,
	CLIENT_VERSION,
};

/* Fill o from argv (getopt_long; may be called again: it resets optind).
 * Resolves the address.  o->addr_str and o->message point into argv. */
enum client_parse_result client_parse(struct client_opts *o, int argc,
	    char **argv, char *err, size_t errlen);

/* "upcase: WHAT: message" on stderr; WHAT is an address, stdin, ... */
void	client_err(const char *what, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* strerror(errnum) as our messages read: "connection refused".  The text
 * lives in a thread-local buffer until the next call. */
const char *client_reason(int errnum);

/* Write all of buf to stdout.  Returns 0, or EXIT_IO once the reason is
 * said (nothing is said when the reader has gone: EPIPE). */
int	client_output(const void *buf, size_t len);

#endif
