/* bench_opts.c: upcase bench's command line: one getopt loop, then the
 * checks that need every option at once. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_opts.h"
#include "timeout.h"
#include "verify.h"


enum {
	OPT_PIPELINE = 256,
	OPT_CONNECT_RATE,
	OPT_RATE,
	OPT_CHURN,
	OPT_IDLE,
	OPT_JSON,
	OPT_SEED,
	OPT_SOURCES,
	OPT_MAX_LOSS,
	OPT_HDR_LOG,
	OPT_PLOT,
	OPT_SEND_PROXY,
	OPT_PROXY_SOURCE,
};

const char bench_usage[] =
"usage: upcase bench [-c N] [-d SECONDS | -n TOTAL] [-s BYTES] [-t SECONDS]\n"
"                    [-T THREADS] [--pipeline K] [--connect-rate R]\n"
"                    [--rate R | --churn | --idle N] [--max-loss PCT]\n"
"                    [--send-proxy V [--proxy-source CIDR]]\n"
"                    [--json] [--hdr-log FILE] [--plot FILE.svg] [-q] [ADDR]\n"
"       upcase bench merge [--json] A.json B.json ...\n"
"Load upcased at ADDR (default " BENCH_DEFAULT_ADDR ") and check every reply\n"
"byte against the uppercase of what was sent.  With a udp:HOST:PORT ADDR,\n"
"-c is sockets and each message a datagram (16 to 65507 bytes, a sequence\n"
"number first, so that replies match in any order); one unanswered for -t\n"
"is lost.\n"
"\n"
"  -c, --connections N   connections (default 50)\n"
"  -d, --duration SECS   run this long (default 10 unless -n is given)\n"
"  -n, --messages TOTAL  stop after TOTAL replies in all (with -d: first wins)\n"
"  -s, --size BYTES      message size (default 64; k and m suffixes: KiB, MiB)\n"
"  -t, --timeout SECS    a reply (or a connect) that makes no progress for\n"
"                        this long is an error (default 5)\n"
"  -T, --threads N       event loops (default: online CPUs, at most -c)\n"
"      --pipeline K      messages in flight per connection (default 1)\n"
"      --connect-rate R  open at most R new connections per second\n"
"      --rate R          open loop: R messages per second in all on a fixed\n"
"                        schedule; latency counts from the scheduled time\n"
"      --churn           connect, send one message, read the reply, close,\n"
"                        over and over on -c connections at once\n"
"      --idle N          open N connections, hold them for -d, send nothing\n"
"      --json            the summary as one JSON object (with the whole\n"
"                        histogram, HdrHistogram's compressed encoding)\n"
"      --hdr-log FILE    latencies (ns) as an HdrHistogram interval log: one\n"
"                        line a second, then the run (Tag=total)\n"
"      --plot FILE.svg   a picture: msgs/s, p50 and p99 per second, errors,\n"
"                        and the percentile spectrum\n"
"      --max-loss PCT    udp: exit 0 with up to PCT% of the datagrams lost\n"
"                        (default 0: any loss is status 4)\n"
"      --sources N       connect from 127.0.0.1 .. 127.0.0.N (IPv4 loopback\n"
"                        ADDR only; default: as many as the ports need)\n"
"      --send-proxy V    start every connection with a PROXY header, V is\n"
"                        v1 or v2 (for a proxy_protocol listener)\n"
"      --proxy-source CIDR  the clients the headers name: connection i is\n"
"                        the range's i-th address (default: our own)\n"
"      --seed N          payload seed (default: from the clock)\n"
"  -q, --quiet           no progress line on stderr\n"
"  -h, --help            this text\n"
"\n"
"merge adds up the --json summaries of runs made at the same time (from\n"
"several machines): counts and rates summed, the longest duration, the\n"
"histograms merged exactly; its status is what one such run would have.\n"
"\n"
"Counts take k, m, g suffixes (x1000).  Exit status: 0 every reply verified;\n"
"2 usage; 3 a connect failed or a connection was reset or closed early;\n"
"4 a reply timed out (or, with --rate, a message due was never sent; over\n"
"udp, datagrams lost beyond --max-loss); 5 a reply byte was wrong (or\n"
"never asked for).\n";

static const struct option longopts[] = {
	{ "connections", required_argument, NULL, 'c' },
	{ "duration", required_argument, NULL, 'd' },
	{ "messages", required_argument, NULL, 'n' },
	{ "size", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "threads", required_argument, NULL, 'T' },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "connect-rate", required_argument, NULL, OPT_CONNECT_RATE },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "churn", no_argument, NULL, OPT_CHURN },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "sources", required_argument, NULL, OPT_SOURCES },
	{ "max-loss", required_argument, NULL, OPT_MAX_LOSS },
	{ "hdr-log", required_argument, NULL, OPT_HDR_LOG },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "send-proxy", required_argument, NULL, OPT_SEND_PROXY },
	{ "proxy-source", required_argument, NULL, OPT_PROXY_SOURCE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
static const char shortopts[] = "c:d:n:s:t:T:qh";

/* The power of a k, m or g suffix (1, 2, 3); 0 for any other byte. */
static int
suffix_power(char c)
{
	switch (c) {
	case 'k': case 'K':
		return 1;
	case 'm': case 'M':
		return 2;
	case 'g': case 'G':
		return 3;
	default:
		return 0;
	}
}

/* A whole number in lo..hi; 'mult' is what k, m, g multiply by (0: no
 * suffix allowed). */
static int
parse_uint(const char *opt, const char *s, uint64_t lo, uint64_t hi,
    uint64_t mult, uint64_t *out, char *err, size_t errlen)
{
	unsigned long long v;
	uint64_t scale = 1;
	char *end;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno == ERANGE)
		goto bad;
	if (*end != '\0' && mult != 0 && end[1] == '\0') {
		int power = suffix_power(*end++);
		if (power == 0)
			goto bad;
		while (power-- > 0)
			scale *= mult;
	}
	if (*end != '\0')
		goto bad;
	if (v > hi / scale || v * scale < lo || v * scale > hi) {
		snprintf(err, errlen, "%s: %s is out of range (%llu..%llu)",
		    opt, s, (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = v * scale;
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid number '%s'", opt, s);
	return -1;
}

static int
parse_int(const char *opt, const char *s, int lo, int hi, int *out,
    char *err, size_t errlen)
{
	uint64_t v;

	if (parse_uint(opt, s, (uint64_t)lo, (uint64_t)hi, 1000, &v, err,
	    errlen) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* A positive, finite number with an optional k/m/g (x1000) suffix. */
static int
parse_positive(const char *opt, const char *s, double hi, double *out,
    char *err, size_t errlen)
{
	double v, scale = 1;
	char *end;

	/* strtod takes leading space, "inf", "nan" and hex: refuse them. */
	if (!((*s >= '0' && *s <= '9') || *s == '.') || strpbrk(s, "xX"))
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno == ERANGE)
		goto bad;
	if (*end != '\0' && end[1] == '\0') {
		int power = suffix_power(*end++);
		if (power == 0)
			goto bad;
		while (power-- > 0)
			scale *= 1e3;
	}
	if (*end != '\0')
		goto bad;
	v *= scale;
	if (!isfinite(v) || v <= 0 || v > hi) {
		snprintf(err, errlen, "%s: %s is out of range (more than 0, "
		    "at most %.0f)", opt, s, hi);
		return -1;
	}
	*out = v;
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid number '%s'", opt, s);
	return -1;
}

/* A percentage, 0 to 100, with a fraction. */
static int
parse_percent(const char *opt, const char *s, double *out, char *err,
    size_t errlen)
{
	char *end;
	double v;

	if (!((*s >= '0' && *s <= '9') || *s == '.') || strpbrk(s, "xX"))
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno == ERANGE || *end != '\0')
		goto bad;
	if (!(v >= 0 && v <= 100)) {
		snprintf(err, errlen, "%s: %s is out of range (0..100)", opt,
		    s);
		return -1;
	}
	*out = v;
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid percentage '%s'", opt, s);
	return -1;
}

/* Seconds with a fraction as everywhere (timeout_parse), but never none:
 * a bench run always ends. */
static int
parse_seconds(const char *opt, const char *s, uint64_t *us, char *err,
    size_t errlen)
{
	char why[BENCH_ERRLEN / 2];
	timeout_us t;

	if (timeout_parse(s, &t, why, sizeof(why)) != 0 || t == TIMEOUT_NONE) {
		snprintf(err, errlen, "%s: invalid number of seconds '%s' "
		    "(more than 0, at most %d)", opt, s, TIMEOUT_MAX_S);
		return -1;
	}
	*us = (uint64_t)t;
	return 0;
}

static int
online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : (int)n;
}

static uint64_t
clock_seed(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (uint64_t)getpid();
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
	    ((uint64_t)getpid() << 32);
}

int
bench_opts_loopback4(const struct addr *a)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;

	return a->kind == ADDR_TCP && a->ss.ss_family == AF_INET &&
	    (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
}

/* getopt's '?': name the option and say what is wrong with it. */
static void
unknown_option(const char *arg, char *err, size_t errlen)
{
	if (optopt >= 256) {
		for (const struct option *lo = longopts; lo->name; lo++)
			if (lo->val == optopt) {
				snprintf(err, errlen, "--%s: needs a value",
				    lo->name);
				return;
			}
	}
	if (optopt > 0 && optopt < 128 && optopt != ':' &&
	    strchr(shortopts, optopt) != NULL) {
		/* A long alias of a short option shows as its short name. */
		if (strncmp(arg, "--", 2) == 0)
			snprintf(err, errlen, "%s: needs a value", arg);
		else
			snprintf(err, errlen, "-%c: needs a value", optopt);
	} else if (optopt > 0 && optopt < 128)
		snprintf(err, errlen, "-%c: unknown option", optopt);
	else
		snprintf(err, errlen, "%s: unknown option", arg);
}

/* Which option set each mode, for the conflict messages. */
struct seen {
	int	c, d, n, s, pipeline, rate, churn, idle, max_loss;
};

static int
check_conflicts(const struct bench_opts *o, const struct seen *seen,
    char *err, size_t errlen)
{
	if (seen->idle && (seen->churn || seen->rate)) {
		snprintf(err, errlen, "--idle: cannot be combined with %s",
		    seen->churn ? "--churn" : "--rate");
		return -1;
	}
	if (seen->churn && seen->rate) {
		snprintf(err, errlen, "--churn: cannot be combined with --rate");
		return -1;
	}
	if (seen->idle && (seen->c || seen->n || seen->s || seen->pipeline)) {
		snprintf(err, errlen, "--idle: sends nothing; it cannot be "
		    "combined with %s", seen->c ? "-c (--idle N sets the count)" :
		    seen->n ? "-n" : seen->s ? "-s" : "--pipeline");
		return -1;
	}
	if (seen->churn && seen->pipeline) {
		snprintf(err, errlen, "--pipeline: --churn sends one message "
		    "per connection");
		return -1;
	}
	if (o->sources > 1 && !bench_opts_loopback4(&o->addr)) {
		snprintf(err, errlen, "--sources: needs an IPv4 loopback ADDR "
		    "(127.x.x.x:PORT), not %s", o->addr_text);
		return -1;
	}
	if (o->has_proxy_source && !o->send_proxy) {
		snprintf(err, errlen, "--proxy-source: the addresses go in PROXY "
		    "headers: needs --send-proxy");
		return -1;
	}
	if (o->send_proxy && o->addr.kind != ADDR_TCP) {
		snprintf(err, errlen, "--send-proxy: a PROXY header starts a TCP "
		    "connection, not %s", o->addr_text);
		return -1;
	}
	if (o->addr.kind != ADDR_UDP) {
		if (seen->max_loss) {
			snprintf(err, errlen, "--max-loss: only for a udp: ADDR "
			    "(a stream loses nothing)");
			return -1;
		}
		return 0;
	}
	if (seen->churn || seen->idle) {
		snprintf(err, errlen, "%s: udp has no connections to %s",
		    seen->churn ? "--churn" : "--idle",
		    seen->churn ? "open and close" : "hold");
		return -1;
	}
	if (o->size < VERIFY_SEQ_DIGITS || o->size > BENCH_UDP_MAX_SIZE) {
		snprintf(err, errlen, "-s: a udp datagram is %d to %d bytes (it "
		    "starts with a %d-digit sequence number), not %zu",
		    VERIFY_SEQ_DIGITS, BENCH_UDP_MAX_SIZE,
		    VERIFY_SEQ_DIGITS, o->size);
		return -1;
	}
	return 0;
}

int
bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err,
    size_t errlen)
{
	struct seen seen;
	const char *addr = BENCH_DEFAULT_ADDR;
	uint64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	memset(&seen, 0, sizeof(seen));
	o->mode = BENCH_CLOSED;
	o->conns = BENCH_DEFAULT_CONNS;
	o->size = BENCH_DEFAULT_SIZE;
	o->pipeline = 1;
	o->threads = 0;
	o->timeout_us = BENCH_DEFAULT_TIMEOUT * UINT64_C(1000000);
	o->seed = clock_seed();

	/* optind 0 restarts GNU getopt, so parsing can run more than once
	 * in one process (the tests do). */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int rc = 0;

		switch (ch) {
		case 'c':
			seen.c = 1;
			rc = parse_int("-c", optarg, 1, BENCH_MAX_CONNS,
			    &o->conns, err, errlen);
			break;
		case 'd':
			seen.d = 1;
			rc = parse_seconds("-d", optarg, &o->duration_us, err,
			    errlen);
			break;
		case 'n':
			seen.n = 1;
			rc = parse_uint("-n", optarg, 1, UINT64_C(1) << 62, 1000,
			    &o->total, err, errlen);
			break;
		case 's':
			seen.s = 1;
			rc = parse_uint("-s", optarg, 1, BENCH_MAX_SIZE, 1024,
			    &v, err, errlen);
			o->size = (size_t)v;
			break;
		case 't':
			rc = parse_seconds("-t", optarg, &o->timeout_us, err,
			    errlen);
			break;
		case 'T':
			rc = parse_int("-T", optarg, 1, BENCH_MAX_THREADS,
			    &o->threads, err, errlen);
			break;
		case OPT_PIPELINE:
			seen.pipeline = 1;
			rc = parse_int("--pipeline", optarg, 1,
			    BENCH_MAX_PIPELINE, &o->pipeline, err, errlen);
			break;
		case OPT_CONNECT_RATE:
			rc = parse_positive("--connect-rate", optarg, 1e7,
			    &o->connect_rate, err, errlen);
			break;
		case OPT_RATE:
			seen.rate = 1;
			o->mode = BENCH_RATE;
			rc = parse_positive("--rate", optarg, 1e9, &o->rate,
			    err, errlen);
			break;
		case OPT_CHURN:
			seen.churn = 1;
			o->mode = BENCH_CHURN;
			break;
		case OPT_IDLE:
			seen.idle = 1;
			o->mode = BENCH_IDLE;
			rc = parse_int("--idle", optarg, 1, BENCH_MAX_CONNS,
			    &o->conns, err, errlen);
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_SOURCES:
			rc = parse_int("--sources", optarg, 1, BENCH_MAX_SOURCES,
			    &o->sources, err, errlen);
			break;
		case OPT_MAX_LOSS:
			seen.max_loss = 1;
			rc = parse_percent("--max-loss", optarg, &o->max_loss,
			    err, errlen);
			break;
		case OPT_HDR_LOG:
		case OPT_PLOT:
			if (*optarg == '\0') {
				snprintf(err, errlen, "--%s: needs a file name",
				    ch == OPT_PLOT ? "plot" : "hdr-log");
				rc = -1;
			} else if (ch == OPT_PLOT)
				o->plot = optarg;
			else
				o->hdr_log = optarg;
			break;
		case OPT_SEND_PROXY:
			if (strcmp(optarg, "v1") == 0 || strcmp(optarg, "v2") == 0) {
				o->send_proxy = optarg[1] - '0';
				break;
			}
			snprintf(err, errlen, "--send-proxy: v1 or v2, not '%s'",
			    optarg);
			rc = -1;
			break;
		case OPT_PROXY_SOURCE:
			o->has_proxy_source = 1;
			if ((rc = cidr_parse(optarg, &o->proxy_source, err,
			    errlen)) != 0) {
				char why[BENCH_ERRLEN];
				snprintf(why, sizeof(why), "%s", err);
				snprintf(err, errlen, "--proxy-source: %s", why);
			}
			break;
		case OPT_SEED:
			rc = parse_uint("--seed", optarg, 0, UINT64_MAX, 0,
			    &o->seed, err, errlen);
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			return BENCH_OPTS_HELP;
		default:
			unknown_option(argv[optind - 1], err, errlen);
			return BENCH_OPTS_ERROR;
		}
		if (rc != 0)
			return BENCH_OPTS_ERROR;
	}
	if (optind < argc)
		addr = argv[optind++];
	if (optind < argc) {
		snprintf(err, errlen, "ADDR: unexpected second address '%s'",
		    argv[optind]);
		return BENCH_OPTS_ERROR;
	}
	/* addr_text is the ADDR every report names: whole, or refused. */
	if (strlen(addr) >= sizeof(o->addr_text)) {
		snprintf(err, errlen, "ADDR: '%.32s...' is too long (%zu bytes, "
		    "at most %zu)", addr, strlen(addr), sizeof(o->addr_text) - 1);
		return BENCH_OPTS_ERROR;
	}
	snprintf(o->addr_text, sizeof(o->addr_text), "%s", addr);
	if (addr_parse_peer(addr, &o->addr, err, errlen) != 0) {
		char why[BENCH_ERRLEN];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "ADDR: %s", why);
		return BENCH_OPTS_ERROR;
	}
	if (check_conflicts(o, &seen, err, errlen) != 0)
		return BENCH_OPTS_ERROR;

	if (!seen.d && !seen.n)
		o->duration_us = BENCH_DEFAULT_SECS * UINT64_C(1000000);
	if (o->threads == 0)
		o->threads = online_cpus();
	if (o->threads > o->conns)
		o->threads = o->conns;
	return BENCH_OPTS_RUN;
}
