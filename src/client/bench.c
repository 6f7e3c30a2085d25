/* bench.c: upcase bench's main: options, then the workers (one event
 * loop per thread, each with its share of the connections), a progress
 * line each second, and the summary once every worker is done. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"
#include "bench_merge.h"
#include "bench_opts.h"
#include "bench_report.h"
#include "bench_series.h"
#include "bench_worker.h"
#include "exitcodes.h"
#include "verify.h"

/* Connections per source address.  The default ephemeral range has
 * 28232 ports, and Linux gives connect() the even half first: past that
 * every connect() scans the used ports, and opening 19000 connections
 * from one address costs seconds of system time. */
#define PORTS_PER_SOURCE	10000
/* --churn leaves a TIME_WAIT socket per connection for a minute: spread
 * them so that a long run does not run out of ports. */
#define CHURN_SOURCES		16
/* How long after each second of the run the main thread takes it: the
 * workers hand it over on the second, give or take their loop's turn. */
#define INTERVAL_SLACK_NS	200000000u
/* Descriptors besides the connections: stdio and the main loop's, and
 * per worker its epoll, timerfd and stop pipe. */
#define FD_RESERVE(threads)	(32 + 4 * (threads))

struct bench {
	struct bench_opts	*opts;
	struct bench_run	 run;
	struct bench_worker	**workers;
	int			 nworkers;	/* started */
	int			 ndone;
	int			 stops;		/* signals received */
	int			 progress_shown;
	struct event_base	*base;
	int			 done_pipe[2];
	struct bench_series	*series;	/* NULL: no --hdr-log, --plot */
	struct event		*interval_ev;
	struct hist		*spare;		/* swapped with run.interval */
	uint64_t		 intervals;	/* seconds handed to series */
	/* The previous progress sample, for per-second rates. */
	uint64_t		 last_ns;
	uint64_t		 last_msgs;
	uint64_t		 last_bytes;
	uint64_t		 last_conns;
};

static void
sum_counters(const struct bench *b, uint64_t ctr[BENCH_CTR__COUNT])
{
	memset(ctr, 0, sizeof(uint64_t) * BENCH_CTR__COUNT);
	for (int i = 0; i < b->nworkers; i++)
		for (int k = 0; k < BENCH_CTR__COUNT; k++)
			ctr[k] += bench_worker_get(b->workers[i],
			    (enum bench_ctr)k);
}

static void
progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	struct bench_progress p;
	uint64_t ctr[BENCH_CTR__COUNT], now = bench_now_ns();
	double dt = (double)(now - b->last_ns) / 1e9;

	sum_counters(b, ctr);
	memset(&p, 0, sizeof(p));
	p.elapsed_s = (double)(now - b->run.start_ns) / 1e9;
	if (dt > 0) {
		p.msgs_per_sec = (double)(ctr[BENCH_MESSAGES] - b->last_msgs) / dt;
		p.bytes_per_sec = (double)(ctr[BENCH_BYTES] - b->last_bytes) / dt;
		p.conns_per_sec = (double)(ctr[BENCH_ESTABLISHED] -
		    b->last_conns) / dt;
	}
	p.open = ctr[BENCH_OPEN];
	p.errors = bench_report_errors(ctr);
	if (pthread_mutex_lock(&b->run.lock) == 0) {
		p.p99_ns = hist_percentile(b->run.hist, 99);
		if (pthread_mutex_unlock(&b->run.lock) != 0)
			fprintf(stderr, "upcase bench: cannot unlock\n");
	}
	b->last_ns = now;
	b->last_msgs = ctr[BENCH_MESSAGES];
	b->last_bytes = ctr[BENCH_BYTES];
	b->last_conns = ctr[BENCH_ESTABLISHED];
	bench_report_progress(stderr, b->run.tty, b->opts, &p);
	b->progress_shown = 1;
}

static struct timeval
ns_to_timeval(uint64_t ns)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ns / 1000000000u);
	tv.tv_usec = (suseconds_t)(ns % 1000000000u / 1000u);
	return tv;
}

/* The wall clock, for the log's StartTime. */
static double
epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The interval [intervals, up_to) seconds of the run, from what the
 * workers handed over by now. */
static void
take_interval(struct bench *b, double up_to)
{
	uint64_t ctr[BENCH_CTR__COUNT];
	struct hist *h;

	if (pthread_mutex_lock(&b->run.lock) != 0)
		return;
	h = b->run.interval;
	b->run.interval = b->spare;
	if (pthread_mutex_unlock(&b->run.lock) != 0)
		fprintf(stderr, "upcase bench: cannot unlock\n");
	b->spare = h;
	sum_counters(b, ctr);
	bench_series_add(b->series, (double)b->intervals, up_to, h, ctr);
	hist_reset(h);
	b->intervals++;
}

/* A little after each second of the run (the workers hand theirs over
 * on the second): that second to the series. */
static void
interval_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	uint64_t next = b->run.start_ns + (b->intervals + 2) * 1000000000u +
	    INTERVAL_SLACK_NS, now = bench_now_ns();
	struct timeval tv = ns_to_timeval(next > now ? next - now : 0);

	take_interval(b, (double)(b->intervals + 1));
	if (evtimer_add(b->interval_ev, &tv) != 0)
		fprintf(stderr, "upcase bench: cannot add a timer\n");
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	char buf[BENCH_MAX_THREADS];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		b->ndone += (int)n;
	if (b->ndone >= b->nworkers && event_base_loopexit(b->base, NULL) != 0)
		fprintf(stderr, "upcase bench: cannot leave the event loop\n");
}

/* The first SIGINT or SIGTERM ends the run as its duration would (the
 * replies owed get -t to arrive); the second closes everything now. */
static void
bench_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct bench *b = arg;
	int hard = b->stops++ > 0;

	for (int i = 0; i < b->nworkers; i++)
		bench_worker_stop(b->workers[i], hard);
}

/* Enough descriptors for every connection, raising the soft limit if
 * the hard one allows. */
static int
check_fds(const struct bench_opts *o)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)o->conns + FD_RESERVE(o->threads);

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;	/* unknown: let connect failures tell */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max >= need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		fprintf(stderr, "upcase bench: %s: %d connections need about "
		    "%llu descriptors; the limit (ulimit -n) is %llu\n",
		    o->mode == BENCH_IDLE ? "--idle" : "-c", o->conns,
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* Source addresses to spread over: only where one would run out of
 * ports, and only where every 127.x address is ours (IPv4 loopback). */
static int
source_count(const struct bench_opts *o)
{
	int n;

	if (o->sources > 0)
		return o->sources;
	if (!bench_opts_loopback4(&o->addr))
		return 1;
	if (o->mode == BENCH_CHURN)
		return CHURN_SOURCES;
	n = (o->conns + PORTS_PER_SOURCE - 1) / PORTS_PER_SOURCE;
	return n > BENCH_MAX_SOURCES ? BENCH_MAX_SOURCES : n;
}

/* Worker i's share of n things split over k workers, spread evenly. */
static uint64_t
share(uint64_t n, int i, int k)
{
	return (uint64_t)(((unsigned __int128)n * (unsigned)(i + 1)) / (unsigned)k -
	    ((unsigned __int128)n * (unsigned)i) / (unsigned)k);
}

static int
start_workers(struct bench *b)
{
	const struct bench_opts *o = b->opts;
	sigset_t block, old;
	int first = 0, k = o->threads;

	b->workers = calloc((size_t)k, sizeof(*b->workers));
	if (b->workers == NULL)
		return -1;
	for (int i = 0; i < k; i++) {
		int n = (int)share((uint64_t)o->conns, i, k);
		/* -n is split like the connections, so that each worker's
		 * budget matches its share of the load. */
		uint64_t budget = (uint64_t)(((unsigned __int128)o->total *
		    (unsigned)(first + n)) / (unsigned)o->conns -
		    ((unsigned __int128)o->total * (unsigned)first) /
		    (unsigned)o->conns);

		b->workers[i] = bench_worker_new(&b->run, i, first, n, budget);
		if (b->workers[i] == NULL)
			return -1;
		first += n;
	}
	/* Workers never see our signals: the main loop handles them. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &block, &old) != 0)
		return -1;
	b->run.start_ns = bench_now_ns();
	b->last_ns = b->run.start_ns;
	for (int i = 0; i < k; i++) {
		if (bench_worker_start(b->workers[i]) != 0)
			break;
		b->nworkers++;
	}
	if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0)
		return -1;
	return b->nworkers == k ? 0 : -1;
}

/* What bench itself cost: the process's CPU time, and the busiest
 * worker's share of the run, with a warning when that one was nearly
 * always busy (its numbers then measure bench as much as the server). */
static void
client_cpu(const struct bench *b, uint64_t end_ns, struct bench_result *r)
{
	uint64_t wall = end_ns - b->run.start_ns;
	struct rusage ru;
	int busiest = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		r->cpu_s = (double)ru.ru_utime.tv_sec +
		    (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	for (int i = 0; i < b->nworkers && wall > 0; i++) {
		double busy = (double)bench_worker_cpu_ns(b->workers[i]) /
		    (double)wall;
		if (busy > r->busy) {
			r->busy = busy;
			busiest = i;
		}
	}
	if (r->busy > BENCH_CPU_BOUND)
		fprintf(stderr, "upcase bench: bench was CPU-bound (thread %d "
		    "busy %.0f%% of the run): add -T or machines\n", busiest,
		    r->busy * 100);
}

/* Print the summary; returns the exit status it implies. */
static int
report(struct bench *b, uint64_t end_ns)
{
	struct bench_result r;
	char err[BENCH_ERRLEN];
	int status;

	memset(&r, 0, sizeof(r));
	r.opts = b->opts;
	r.threads = b->nworkers;
	sum_counters(b, r.ctr);
	r.duration_s = (double)(end_ns - b->run.start_ns) / 1e9;
	r.hist = b->run.hist;
	r.mismatch_conn = b->run.mismatch_conn;
	r.mismatch = b->run.mismatch;
	r.interrupted = b->stops > 0;
	client_cpu(b, end_ns, &r);
	if (b->progress_shown && b->run.tty)
		fprintf(stderr, "\r\033[K");
	if (b->opts->json)
		bench_report_json(stdout, &r);
	else
		bench_report_text(stdout, &r);
	fflush(stdout);
	status = bench_report_status(&r);
	if (bench_series_end(b->series, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "upcase bench: %s\n", err);
		if (status == EXIT_OK)
			status = EXIT_IO;
	}
	return status;
}

/* Set up, run every worker to the end, report.  Returns the status. */
static int
bench_run(struct bench *b)
{
	const struct bench_opts *o = b->opts;
	struct verify_pool pool;
	struct event *ev[4] = { NULL, NULL, NULL, NULL };
	struct timeval second = { 1, 0 };
	int status = EXIT_SOFTWARE, started;
	char err[BENCH_ERRLEN];
	uint64_t end_ns;

	if (verify_pool_init(&pool, o->size, o->seed) != 0) {
		fprintf(stderr, "upcase bench: out of memory\n");
		return EXIT_SOFTWARE;
	}
	b->run.opts = o;
	b->run.pool = &pool;
	b->run.nsources = source_count(o);
	b->run.tty = isatty(STDERR_FILENO);
	b->run.mismatch_conn = -1;
	b->done_pipe[0] = b->done_pipe[1] = -1;
	if (pthread_mutex_init(&b->run.lock, NULL) != 0) {
		verify_pool_free(&pool);
		return EXIT_SOFTWARE;
	}
	b->run.hist = hist_new();
	b->run.interval = hist_new();
	b->spare = hist_new();
	b->base = event_base_new();
	if (b->run.hist == NULL || b->run.interval == NULL ||
	    b->spare == NULL || b->base == NULL ||
	    pipe2(b->done_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		goto out;
	b->series = bench_series_new(o, epoch_now(), err, sizeof(err));
	if (b->series == NULL && err[0] != '\0') {
		fprintf(stderr, "upcase bench: %s\n", err);
		goto out;
	}
	b->run.done_fd = b->done_pipe[1];
	ev[0] = event_new(b->base, b->done_pipe[0], EV_READ | EV_PERSIST,
	    done_cb, b);
	ev[1] = evsignal_new(b->base, SIGINT, bench_signal_cb, b);
	ev[2] = evsignal_new(b->base, SIGTERM, bench_signal_cb, b);
	ev[3] = event_new(b->base, -1, EV_PERSIST, progress_cb, b);
	if (ev[0] == NULL || ev[1] == NULL || ev[2] == NULL || ev[3] == NULL ||
	    event_add(ev[0], NULL) != 0 || event_add(ev[1], NULL) != 0 ||
	    event_add(ev[2], NULL) != 0 ||
	    (!o->quiet && event_add(ev[3], &second) != 0))
		goto out;

	started = start_workers(b) == 0;
	if (b->series != NULL) {
		struct timeval tv = ns_to_timeval(1000000000u +
		    INTERVAL_SLACK_NS);
		b->interval_ev = evtimer_new(b->base, interval_cb, b);
		if (b->interval_ev == NULL ||
		    evtimer_add(b->interval_ev, &tv) != 0)
			fprintf(stderr, "upcase bench: cannot add a timer\n");
	}
	if (!started) {
		fprintf(stderr, "upcase bench: cannot start %d workers: %s\n",
		    o->threads, strerror(errno));
		for (int i = 0; i < b->nworkers; i++)
			bench_worker_stop(b->workers[i], 1);
	}
	if (b->nworkers > 0 && event_base_dispatch(b->base) != 0)
		fprintf(stderr, "upcase bench: event loop failed\n");
	end_ns = bench_now_ns();
	for (int i = 0; i < b->nworkers; i++)
		if (bench_worker_join(b->workers[i]) != 0)
			fprintf(stderr, "upcase bench: cannot join worker %d\n", i);
	if (b->series != NULL && end_ns > b->run.start_ns)
		take_interval(b, (double)(end_ns - b->run.start_ns) / 1e9);
	if (started)
		status = report(b, end_ns);
out:
	bench_series_free(b->series);
	if (b->interval_ev != NULL)
		event_free(b->interval_ev);
	for (int i = 0; i < 4; i++)
		if (ev[i] != NULL)
			event_free(ev[i]);
	if (b->workers != NULL)
		for (int i = 0; i < b->opts->threads; i++)
			bench_worker_free(b->workers[i]);
	free(b->workers);
	if (b->base != NULL)
		event_base_free(b->base);
	for (int i = 0; i < 2; i++)
		if (b->done_pipe[i] >= 0)
			close(b->done_pipe[i]);
	hist_free(b->run.hist);
	hist_free(b->run.interval);
	hist_free(b->spare);
	pthread_mutex_destroy(&b->run.lock);
	verify_pool_free(&pool);
	return status;
}

int
bench_main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench b;
	char err[BENCH_ERRLEN];

	if (argc > 1 && strcmp(argv[1], "merge") == 0)
		return bench_merge_main(argc - 1, argv + 1);
	switch (bench_opts_parse(&o, argc, argv, err, sizeof(err))) {
	case BENCH_OPTS_HELP:
		fputs(bench_usage, stdout);
		return EXIT_OK;
	case BENCH_OPTS_RUN:
		break;
	default:
		fprintf(stderr, "upcase bench: %s\nTry 'upcase bench --help'.\n",
		    err);
		return EXIT_USAGE;
	}
	if (check_fds(&o) != 0)
		return EXIT_USAGE;
	memset(&b, 0, sizeof(b));
	b.opts = &o;
	return bench_run(&b);
}
