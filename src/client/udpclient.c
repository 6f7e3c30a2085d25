/* udpclient.c: the client over udp: each line of stdin (or the -m text)
 * is one datagram, answered before the next goes out.  Lockstep needs no
 * event loop: plain reads of stdin, and poll() bounded by -t for each
 * reply. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "sock.h"
#include "udpclient.h"

struct udp_client {
	const struct client_opts *o;
	int		 fd;
	int		 in_eof;
	size_t		 start, end;	/* input not yet sent: in[start..end) */
	/* One byte more than a datagram holds: a full datagram without a
	 * newline leaves room to learn whether the input ends there. */
	unsigned char	 in[CLIENT_DGRAM_MAX + 1];
	unsigned char	 reply[65536];	/* more than any datagram */
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wait until the socket is ready for events, or until deadline (-1: no
 * deadline).  A signal that interrupts (a stop, then a continue) costs
 * nothing: the wait resumes with the time that is left. */
static int
udp_wait(struct udp_client *u, short events, int64_t deadline)
{
	struct pollfd pfd = { u->fd, events, 0 };
	char t[TIMEOUT_STRLEN];

	for (;;) {
		int ms = -1, r;

		if (deadline >= 0) {
			int64_t left = deadline - now_us();
			ms = left > 0 ? (int)((left + 999) / 1000) : 0;
		}
		r = poll(&pfd, 1, ms);
		if (r > 0)
			return 0;	/* an error (refused) shows in recv */
		if (r == 0) {
			client_err(u->o->addr_str, "timed out after %s s",
			    timeout_format(u->o->timeout, t, sizeof(t)));
			return EXIT_TIMEOUT;
		}
		if (errno != EINTR) {
			client_err(u->o->addr_str, "poll: %s",
			    client_reason(errno));
			return EXIT_IO;
		}
	}
}

/* One datagram out, its reply to stdout (and, for -m, a newline unless
 * the reply ends with one). */
static int
exchange(struct udp_client *u, const void *msg, size_t len, int newline)
{
	int64_t deadline = -1;
	ssize_t n;
	int rc;

	if (u->o->timeout != TIMEOUT_NONE)
		deadline = now_us() + u->o->timeout;
	while (send(u->fd, msg, len, 0) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			goto fail;
		if ((rc = udp_wait(u, POLLOUT, deadline)) != 0)
			return rc;
	}
	/* Non-blocking even after poll: a datagram dropped for a bad
	 * checksum can leave a readiness that recv() would block on. */
	while ((n = recv(u->fd, u->reply, sizeof(u->reply), 0)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			goto fail;
		if ((rc = udp_wait(u, POLLIN, deadline)) != 0)
			return rc;
	}
	rc = client_output(u->reply, (size_t)n);
	if (rc == 0 && newline && (n == 0 || u->reply[n - 1] != '\n'))
		rc = client_output("\n", 1);
	return rc;
fail:
	client_err(u->o->addr_str, "%s", client_reason(errno));
	return EXIT_CONNECT;
}

/* The next line of stdin with its newline (the last may have none).
 * Returns its length, 0 at the end, or -1 once the reason is said. */
static ssize_t
next_line(struct udp_client *u, const unsigned char **line)
{
	for (;;) {
		unsigned char *p = u->in + u->start, *nl;
		size_t have = u->end - u->start, len;
		ssize_t n;

		nl = memchr(p, '\n', have);
		len = nl != NULL ? (size_t)(nl - p) + 1 : have;
		if (len > CLIENT_DGRAM_MAX) {
			client_err("stdin", "a line of more than %d bytes does "
			    "not fit in one datagram", CLIENT_DGRAM_MAX);
			return -1;
		}
		if (nl != NULL || (u->in_eof && have > 0)) {
			*line = p;
			u->start += len;
			return (ssize_t)len;
		}
		if (u->in_eof)
			return 0;
		memmove(u->in, p, have);
		u->start = 0;
		u->end = have;
		n = read(STDIN_FILENO, u->in + have, sizeof(u->in) - have);
		if (n < 0 && errno == EAGAIN) {
			/* Someone else's non-blocking stdin: wait for it. */
			struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
			if (poll(&pfd, 1, -1) >= 0)
				continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			client_err("stdin", "%s", client_reason(errno));
			return -1;
		}
		if (n == 0)
			u->in_eof = 1;
		u->end += (size_t)n;
	}
}

int
udpclient_run(const struct client_opts *o)
{
	struct udp_client *u;
	const unsigned char *line;
	ssize_t len = 0;
	int rc = EXIT_OK;

	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		client_err("udp", "%s", client_reason(ENOMEM));
		return EXIT_IO;
	}
	u->o = o;
	/* Connected, the socket hears only the server, and a "port
	 * unreachable" comes back as ECONNREFUSED from recv(). */
	u->fd = sock_open(&o->addr);
	if (u->fd < 0 || connect(u->fd, (const struct sockaddr *)&o->addr.ss,
	    o->addr.len) != 0) {
		client_err(o->addr_str, "%s", client_reason(errno));
		rc = EXIT_CONNECT;
	} else if (o->message != NULL)
		rc = exchange(u, o->message, o->message_len, 1);
	else {
		while (rc == EXIT_OK && (len = next_line(u, &line)) > 0)
			rc = exchange(u, line, (size_t)len, 0);
		if (len < 0)
			rc = EXIT_IO;
	}
	if (u->fd >= 0)
		close(u->fd);
	free(u);
	return rc;
}
