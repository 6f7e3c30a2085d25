/* upcase.c: the client's main: options, then pipe mode or -m over a
 * stream (pipe.c) or over udp (udpclient.c); `upcase bench` has its own
 * options and main (bench.c). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"
#include "client.h"
#include "exitcodes.h"
#include "pipe.h"
#include "udpclient.h"

static void
upcase_usage(FILE *fp)
{
	fprintf(fp,
"usage: upcase [-hV] [-m TEXT] [-t T] [--connect-timeout T] [ADDR]\n"
"       upcase bench [options] [ADDR]     (upcase bench -h)\n"
"Send stdin, or TEXT, to the upcased at ADDR and print what it answers.\n"
"\n"
"  ADDR                  HOST:PORT, [IPV6]:PORT, unix:PATH or udp:HOST:PORT\n"
"                        (default " CLIENT_DEFAULT_ADDR ")\n"
"  -m, --message TEXT    send TEXT (not empty), print the reply followed by\n"
"                        a newline unless it ends with one, and exit\n"
"  -t, --timeout T       give up when no reply comes for T while one is\n"
"                        owed (default none; 5 over udp)\n"
"      --connect-timeout T  give up connecting after T (default 10)\n"
"  -h, --help            this text\n"
"  -V, --version         print the version\n"
"\n"
"Without -m, stdin goes to the server as it is read and the replies go to\n"
"stdout as they arrive, byte for byte; at the end of stdin upcase shuts\n"
"down its sending side and exits once the server has closed.  Over udp,\n"
"each line is one datagram and waits for its reply.  T is seconds with a\n"
"fraction (0.25) or none, as in Python's settimeout.\n"
"\n"
"Exit status: 0 done; 1 stdin or stdout failed (a closed stdout, silently);\n"
"2 bad usage; 3 cannot connect, or the connection failed or closed early;\n"
"4 timed out; 5 a reply failed verification (bench).\n");
}

/* A closed stdin, stdout or stderr would hand its number to the next
 * socket, and our messages or data to the wrong place. */
static int
std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct client_opts o;
	char err[512];

	if (std_fds_open() != 0)
		return EXIT_IO;
	/* A reader that went away is EPIPE from write(), not a signal. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("upcase: signal");
		return EXIT_IO;
	}
	/* No ADDR is a bare word, so "bench" cannot be one. */
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	switch (client_parse(&o, argc, argv, err, sizeof(err))) {
	case CLIENT_RUN:
		break;
	case CLIENT_HELP:
		upcase_usage(stdout);
		return EXIT_OK;
	case CLIENT_VERSION:
		printf("upcase %s (libevent %s)\n", PACKAGE_VERSION,
		    event_get_version());
		return EXIT_OK;
	default:
		fprintf(stderr, "upcase: %s\n", err);
		fprintf(stderr, "usage: upcase [-hV] [-m TEXT] [-t T] "
		    "[--connect-timeout T] [ADDR]\n");
		return EXIT_USAGE;
	}
	if (o.addr.kind == ADDR_UDP)
		return udpclient_run(&o);
	return pipe_run(&o);
}
