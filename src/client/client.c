/* client.c: the upcase client's options, and how it speaks on stderr and
 * stdout, shared by the stream and datagram modes. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "exitcodes.h"

#define OPT_CONNECT_TIMEOUT	256

static int
parse_timeout(const char *opt, const char *s, timeout_us *t, char *err,
    size_t errlen)
{
	char why[128];

	if (timeout_parse(s, t, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", opt, why);
	return -1;
}

enum client_parse_result
client_parse(struct client_opts *o, int argc, char **argv, char *err,
    size_t errlen)
{
	static const struct option longopts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "connect-timeout", required_argument, NULL,
		    OPT_CONNECT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, timeout_given = 0;
	char why[256];

	memset(o, 0, sizeof(*o));
	o->addr_str = CLIENT_DEFAULT_ADDR;
	o->timeout = TIMEOUT_NONE;
	o->connect_timeout = CLIENT_CONNECT_TIMEOUT;
	optind = 0;	/* GNU: start over, so that tests can call us again */
	opterr = 0;	/* our own messages */
	/* A leading ':' makes a missing value ':' rather than '?'. */
	while ((ch = getopt_long(argc, argv, ":m:t:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			o->message = optarg;
			o->message_len = strlen(optarg);
			break;
		case 't':
			if (parse_timeout("-t", optarg, &o->timeout, err,
			    errlen) != 0)
				return CLIENT_BAD;
			timeout_given = 1;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (parse_timeout("--connect-timeout", optarg,
			    &o->connect_timeout, err, errlen) != 0)
				return CLIENT_BAD;
			break;
		case 'h':
			return CLIENT_HELP;
		case 'V':
			return CLIENT_VERSION;
		case ':':
			snprintf(err, errlen, "%s needs a value",
			    argv[optind - 1]);
			return CLIENT_BAD;
		default:
			if (optopt != 0)
				snprintf(err, errlen, "unknown option '-%c'",
				    optopt);
			else
				snprintf(err, errlen, "unknown option '%s'",
				    argv[optind - 1]);
			return CLIENT_BAD;
		}
	}
	if (argc - optind > 1) {
		snprintf(err, errlen, "one ADDR at most, got '%s' and '%s'",
		    argv[optind], argv[optind + 1]);
		return CLIENT_BAD;
	}
	if (argc - optind == 1)
		o->addr_str = argv[optind];
	if (addr_parse_peer(o->addr_str, &o->addr, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return CLIENT_BAD;
	}
	/* A stream cannot carry an empty message and the server answers
	 * nothing to nothing: waiting would hang, as the seed's empty
	 * send() did. */
	if (o->message != NULL && o->message_len == 0) {
		snprintf(err, errlen, "-m needs a non-empty TEXT");
		return CLIENT_BAD;
	}
	if (o->addr.kind == ADDR_UDP) {
		if (!timeout_given)
			o->timeout = CLIENT_UDP_TIMEOUT;
		if (o->message_len > CLIENT_DGRAM_MAX) {
			snprintf(err, errlen, "-m TEXT of %zu bytes does not "
			    "fit in one datagram (%d at most)",
			    o->message_len, CLIENT_DGRAM_MAX);
			return CLIENT_BAD;
		}
	}
	return CLIENT_RUN;
}

void
client_err(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "upcase: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *
client_reason(int errnum)
{
	static _Thread_local char buf[128];

	snprintf(buf, sizeof(buf), "%s", strerror(errnum));
	/* "Connection refused" -> "connection refused"; keep acronyms. */
	if (isupper((unsigned char)buf[0]) && islower((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/*
 * stdout stays blocking: O_NONBLOCK would change a file description we
 * share with the shell and the rest of the pipeline.  A slow reader thus
 * holds the whole client, which is the backpressure we want: the socket
 * is not read, the server stops reading us, stdin is not read.  EAGAIN
 * comes only from a descriptor someone else made non-blocking: wait.
 */
int
client_output(const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd pfd = { STDOUT_FILENO, POLLOUT, 0 };
			if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
				continue;
		}
		/* The reader has gone (upcase | head): nothing to say. */
		if (errno != EPIPE)
			client_err("stdout", "%s", client_reason(errno));
		return EXIT_IO;
	}
	return 0;
}
