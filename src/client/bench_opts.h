/* bench_opts.h: upcase bench's options, parsed and validated in one place
 * so that the rules (defaults, ranges, conflicts) can be tested alone. */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cidr.h"

#define BENCH_DEFAULT_ADDR	"127.0.0.1:8080"
#define BENCH_DEFAULT_CONNS	50
#define BENCH_DEFAULT_SECS	10
#define BENCH_DEFAULT_SIZE	64
#define BENCH_DEFAULT_TIMEOUT	5
#define BENCH_MAX_CONNS		1000000
#define BENCH_MAX_SIZE		(16 * 1024 * 1024)
#define BENCH_MAX_PIPELINE	65536
#define BENCH_MAX_THREADS	256
#define BENCH_MAX_SOURCES	254	/* 127.0.0.1 .. 127.0.0.254 */
/* udp: a datagram starts with its sequence number (VERIFY_SEQ_DIGITS
 * digits), so -s is at least that, and at most the largest UDP payload
 * over IPv4. */
#define BENCH_UDP_MAX_SIZE	65507
#define BENCH_ERRLEN		256

enum bench_mode {
	BENCH_CLOSED,		/* each connection keeps 'pipeline' in flight */
	BENCH_RATE,		/* open loop: a fixed schedule of messages */
	BENCH_CHURN,		/* connect, one exchange, close, again */
	BENCH_IDLE,		/* open connections and hold them */
};

struct bench_opts {
	enum bench_mode	mode;
	struct addr	addr;
	char		addr_text[ADDR_STRLEN];
	int		conns;		/* -c, or --idle N */
	uint64_t	duration_us;	/* -d; 0: until -n is done */
	uint64_t	total;		/* -n; 0: until -d is over */
	size_t		size;		/* -s */
	int		pipeline;
	int		threads;	/* -T, capped at conns */
	double		connect_rate;	/* per second; 0: all at once */
	double		rate;		/* --rate, messages per second */
	uint64_t	timeout_us;	/* -t */
	uint64_t	seed;		/* --seed: the payloads */
	int		sources;	/* --sources; 0: as needed */
	int		send_proxy;	/* --send-proxy: 1 or 2; 0: none */
	int		has_proxy_source;
	struct cidr	proxy_source;	/* --proxy-source: the header's
					 * clients, one per connection */
	double		max_loss;	/* --max-loss: udp loss (percent) that
					 * still exits 0 */
	int		json;
	int		quiet;
	const char	*hdr_log;	/* --hdr-log FILE (into argv), or NULL */
	const char	*plot;		/* --plot FILE.svg, or NULL */
};

enum {
	BENCH_OPTS_RUN = 0,
	BENCH_OPTS_HELP = 1,	/* -h: print bench_usage, exit 0 */
	BENCH_OPTS_ERROR = -1,	/* err names the option and the reason */
};

/* Parse argv (argv[0] is "bench"; getopt may permute argv).  The
 * defaults that depend on the host (-T: online CPUs, --seed: the clock)
 * are filled in here too. */
int	bench_opts_parse(struct bench_opts *o, int argc, char **argv,
	    char *err, size_t errlen);

/* An IPv4 TCP address in 127.0.0.0/8: where source spreading works. */
int	bench_opts_loopback4(const struct addr *a);

/* The help text, one screen. */
extern const char bench_usage[];

#endif
