/* bench_worker.c: one bench thread: its event loop, the ramp that starts
 * its connections, the sweep that times them out, the per-second hand-off
 * of latencies, and the soft and hard stops.  The connections themselves
 * live in bench_conn.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-internal.h"

/* Connects in progress per worker: a SYN flood beyond the server's
 * backlog only buys retransmits a second later. */
#define CONNECTING_MAX	256
/* Connects started per loop iteration, so that timers (the deadline,
 * the sweep) and stops keep running while thousands start. */
#define START_BATCH	64

const char *const bench_err_names[BENCH_ERR__COUNT] = {
	"connect", "mismatch", "short", "extra", "reset", "close", "timeout",
	"unsent", "lost", "io",
};

static void	worker_hard_stop(struct bench_worker *, int);

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
bench_worker_get(const struct bench_worker *w, enum bench_ctr c)
{
	return atomic_load_explicit(&w->ctr[c], memory_order_relaxed);
}

uint64_t
bench_worker_cpu_ns(const struct bench_worker *w)
{
	return w->cpu_ns;
}

/* --connect-rate: whether a connect may begin now, taking its slot if
 * so.  Slots are connect_gap_ns apart; one missed by a late timer may be
 * caught up at once, but no more, so no second ever sees a burst. */
static int
ramp_take(struct bench_worker *w, uint64_t now)
{
	if (w->connect_gap_ns == 0)
		return 1;
	if (now < w->next_connect_ns)
		return 0;
	w->next_connect_ns += w->connect_gap_ns;
	if (w->next_connect_ns < now)
		w->next_connect_ns = now;
	return 1;
}

/* Begin a connect, in whatever way the mode begins one. */
static void
ramp_begin(struct bench_worker *w, struct bconn *c)
{
	if (w->o->mode == BENCH_CHURN && !bench_take_budget(w)) {
		bconn_retire(c);
		return;
	}
	bconn_connect(c);
}

static struct bconn *
ramp_pop(struct bench_worker *w)
{
	struct bconn *c = &w->conns[w->waitq[w->wq_head]];

	w->wq_head = (w->wq_head + 1) % w->n;
	w->wq_len--;
	return c;
}

/* Without the ramp's timer nothing waiting would ever start: give those
 * up. */
static void
ramp_give_up(struct bench_worker *w)
{
	while (w->wq_len > 0)
		bconn_retire(ramp_pop(w));
}

/*
 * Start what waits (every connection at first; with --churn each
 * reconnect that --connect-rate held back): all at once, or what
 * --connect-rate allows by now; at most START_BATCH per call and
 * CONNECTING_MAX in progress.  The timer brings us back: at once for the
 * next batch, at the rate's next slot, or (bench_kick_ramp) when a
 * connect in progress finishes.
 */
static void
ramp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now_ns(), next = now;
	struct timeval tv;
	int batch = 0, allowed = 1;

	while (!w->stopping && w->wq_len > 0 &&
	    w->connecting < CONNECTING_MAX && batch < START_BATCH &&
	    (allowed = ramp_take(w, now))) {
		ramp_begin(w, ramp_pop(w));
		batch++;
	}
	if (w->stopping || w->wq_len == 0 || w->connecting >= CONNECTING_MAX)
		return;
	if (!allowed)
		next = w->next_connect_ns;
	tv = ns_to_tv(next > now ? next - now : 0);
	if (evtimer_add(w->ramp_ev, &tv) != 0)
		ramp_give_up(w);
}

/* A connect finished: room for another, if any wait. */
void
bench_kick_ramp(struct bench_worker *w)
{
	struct timeval now = { 0, 0 };

	if (w->stopping || w->wq_len == 0 || w->ramp_ev == NULL ||
	    evtimer_pending(w->ramp_ev, NULL))
		return;
	if (evtimer_add(w->ramp_ev, &now) != 0)
		ramp_give_up(w);
}

/* --churn: connection c (closed) connects again, as soon as
 * --connect-rate allows and after those already waiting. */
void
bench_reconnect(struct bconn *c)
{
	struct bench_worker *w = c->w;

	if (w->wq_len == 0 && ramp_take(w, bench_now_ns())) {
		ramp_begin(w, c);
		return;
	}
	w->waitq[(w->wq_head + w->wq_len++) % w->n] = (int)(c - w->conns);
	bench_kick_ramp(w);
}

/* Each connection owing replies (or a connect) that made no progress for
 * -t has timed out.  A sweep instead of a timer per connection keeps the
 * per-message path free of timer updates. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now_ns(), limit = w->o->timeout_us * 1000u;

	for (int i = 0; i < w->n; i++)
		bconn_sweep(&w->conns[i], now, limit);
}

/* Hand this second's latencies to the run, where the progress line and
 * the summary read them. */
static void
worker_flush_hist(struct bench_worker *w)
{
	if (hist_count(w->hist) == 0)
		return;
	if (pthread_mutex_lock(&w->run->lock) != 0)
		return;		/* keep them for the next try */
	hist_merge(w->run->hist, w->hist);
	hist_merge(w->run->interval, w->hist);
	if (pthread_mutex_unlock(&w->run->lock) != 0)
		fprintf(stderr, "upcase bench: worker %d: cannot unlock\n",
		    w->id);
	hist_reset(w->hist);
}

/* Each second of the run, on the second (from its start, as the main
 * thread's intervals count): this second's latencies to the run. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now_ns(), since = now - w->run->start_ns;
	struct timeval tv = ns_to_tv(1000000000u - since % 1000000000u);

	worker_flush_hist(w);
	if (evtimer_add(w->tick_ev, &tv) != 0)
		fprintf(stderr, "upcase bench: worker %d: cannot add a timer\n",
		    w->id);
}

/* The duration is over (or the user asked to stop): send nothing more,
 * close what owes nothing, give the rest (replies owed, connects in
 * progress) -t to finish. */
static void
worker_soft_stop(struct bench_worker *w)
{
	struct timeval tv;
	uint64_t now = bench_now_ns();

	if (w->stopping)
		return;
	w->stopping = 1;
	if (now < w->sched_end_ns)
		w->sched_end_ns = now;
	/* -t from the end of the run, not from this callback, which a busy
	 * loop may have run late. */
	w->hard_at_ns = w->sched_end_ns + w->o->timeout_us * 1000u;
	tv = ns_to_tv(w->hard_at_ns > now ? w->hard_at_ns - now : 0);
	event_del(w->ramp_ev);
	w->wq_len = 0;		/* retired below */
	for (int i = 0; i < w->n; i++) {
		struct bconn *c = &w->conns[i];

		if (c->state == BCONN_OPEN) {
			ctr_add(w, BENCH_HELD, 1);
			bconn_soft_stop(c, now);
		} else if (c->state != BCONN_DONE &&
		    c->state != BCONN_CONNECTING) {
			/* A connect in progress is like replies owed: -t to
			 * finish, or the sweep counts it as timed out. */
			bconn_retire(c);
		}
	}
	if (w->live > 0 && evtimer_add(w->hard_ev, &tv) != 0)
		worker_hard_stop(w, 1);
}

/* Close everything now; what is still owed counts (bconn_hard_stop)
 * unless the user cut the run short. */
static void
worker_hard_stop(struct bench_worker *w, int count)
{
	w->stopping = 1;
	for (int i = 0; i < w->n; i++)
		bconn_hard_stop(&w->conns[i], count);
}

/* Without EVENT_BASE_FLAG_PRECISE_TIMER libevent times events with
 * CLOCK_MONOTONIC_COARSE, which can fire a few ms early: whether timer ev
 * meant for 'at' must wait out the rest. */
static int
worker_early(struct event *ev, uint64_t at)
{
	uint64_t now = bench_now_ns();
	struct timeval tv;

	if (now >= at)
		return 0;
	tv = ns_to_tv(at - now);
	return evtimer_add(ev, &tv) == 0;
}

static void
bench_worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;

	/* A run lasts at least -d. */
	if (!worker_early(w->deadline_ev, w->deadline_ns))
		worker_soft_stop(w);
}

static void
hard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;

	/* Replies get all of -t. */
	if (!worker_early(w->hard_ev, w->hard_at_ns))
		worker_hard_stop(w, 1);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	char cmd[16];
	ssize_t n;

	while ((n = read(fd, cmd, sizeof(cmd))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (cmd[i] == 'h') {
				w->cut = 1;
				worker_hard_stop(w, 0);
			}
			else
				worker_soft_stop(w);
		}
	}
}

static void *
bench_worker_thread_main(void *arg)
{
	struct bench_worker *w = arg;
	const struct bench_opts *o = w->o;
	uint64_t now = bench_now_ns(), sweep_ns;
	struct timeval tv, tick;
	struct timespec cpu;
	char done = 'd';

	/* The sweep's grain bounds how late a timeout is noticed. */
	sweep_ns = o->timeout_us * 100u;		/* a tenth of -t */
	if (sweep_ns < 1000000u)
		sweep_ns = 1000000u;
	if (sweep_ns > 100000000u)
		sweep_ns = 100000000u;
	tv = ns_to_tv(sweep_ns);
	tick = ns_to_tv(1000000000u - (now - w->run->start_ns) % 1000000000u);
	/* start_ns was set before this thread was created. */
	if (o->duration_us != 0)
		w->deadline_ns = w->run->start_ns + o->duration_us * 1000u;
	w->sched_end_ns = w->deadline_ns != 0 ? w->deadline_ns : UINT64_MAX;
	if (event_add(w->stop_ev, NULL) != 0 ||
	    event_add(w->sweep_ev, &tv) != 0 ||
	    evtimer_add(w->tick_ev, &tick) != 0)
		goto out;
	if (w->deadline_ns != 0) {
		tv = ns_to_tv(w->deadline_ns > now ? w->deadline_ns - now : 0);
		if (event_add(w->deadline_ev, &tv) != 0)
			goto out;
	}
	w->next_connect_ns = now;
	ramp_cb(-1, 0, w);
	if (w->live > 0 && event_base_dispatch(w->base) != 0)
		fprintf(stderr, "upcase bench: worker %d: event loop failed\n",
		    w->id);
out:
	/* The thread is this worker's alone: its CPU clock is the worker's
	 * work, which tells whether bench itself was the bottleneck. */
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
		w->cpu_ns = (uint64_t)cpu.tv_sec * 1000000000u +
		    (uint64_t)cpu.tv_nsec;
	worker_hard_stop(w, 0);
	if (!w->cut)
		bench_count_unsent(w);
	for (int i = 0; i < w->n; i++)
		ctr_add(w, BENCH_RX_DROPS, budp_drops(&w->conns[i]));
	worker_flush_hist(w);
	if (write(w->run->done_fd, &done, 1) != 1)
		fprintf(stderr, "upcase bench: worker %d: cannot report "
		    "done: %s\n", w->id, strerror(errno));
	return NULL;
}

struct bench_worker *
bench_worker_new(struct bench_run *run, int id, int first, int n,
    uint64_t budget)
{
	const struct bench_opts *o = run->opts;
	struct bench_worker *w;
	struct event_config *cfg = NULL;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->id = id;
	w->run = run;
	w->o = o;
	w->first = first;
	w->n = n;
	w->live = n;
	w->limited = o->total != 0;
	w->budget = budget;
	w->stop_pipe[0] = w->stop_pipe[1] = -1;
	for (int i = 0; i < BENCH_CTR__COUNT; i++)
		atomic_init(&w->ctr[i], 0);
	if (o->mode == BENCH_RATE)
		w->interval_ns = 1e9 * o->conns / o->rate;
	/* This worker's share of --connect-rate, as a gap between connects
	 * (a worker with no connections never uses it). */
	if (o->connect_rate > 0 && n > 0)
		w->connect_gap_ns = (uint64_t)(1e9 * o->conns /
		    (o->connect_rate * n));

	/* --rate: message times are scheduled to the microsecond; epoll's
	 * millisecond timeouts would add up to 1 ms of our own lateness to
	 * every latency.  The precise timer uses timerfd instead. */
	if ((cfg = event_config_new()) == NULL)
		goto fail;
	if (o->mode == BENCH_RATE &&
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0)
		goto fail;
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	cfg = NULL;
	if (w->base == NULL)
		goto fail;
	if (pipe2(w->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		goto fail;
	w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ | EV_PERSIST,
	    stop_cb, w);
	w->deadline_ev = evtimer_new(w->base, bench_worker_deadline_cb, w);
	w->hard_ev = evtimer_new(w->base, hard_cb, w);
	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, sweep_cb, w);
	w->tick_ev = evtimer_new(w->base, tick_cb, w);
	w->ramp_ev = evtimer_new(w->base, ramp_cb, w);
	w->hist = hist_new();
	if (o->addr.kind == ADDR_UDP)
		w->rx = budp_rx_new(o->size);
	else
		w->buf = malloc(READ_BUF);
	w->conns = calloc((size_t)n, sizeof(*w->conns));
	w->waitq = calloc((size_t)n, sizeof(*w->waitq));
	if (o->mode == BENCH_CLOSED)
		w->ring = calloc((size_t)n * (size_t)o->pipeline,
		    sizeof(*w->ring));
	if (w->stop_ev == NULL || w->deadline_ev == NULL || w->hard_ev == NULL ||
	    w->sweep_ev == NULL || w->tick_ev == NULL || w->ramp_ev == NULL ||
	    w->hist == NULL || (w->buf == NULL && w->rx == NULL) ||
	    w->conns == NULL ||
	    w->waitq == NULL ||
	    (o->mode == BENCH_CLOSED && w->ring == NULL))
		goto fail;
	for (int i = 0; i < n; i++) {
		struct bconn *c = &w->conns[i];

		if (bconn_init(c, w, first + i, w->ring == NULL ? NULL :
		    w->ring + (size_t)i * (size_t)o->pipeline) != 0)
			goto fail;
		w->waitq[i] = i;	/* every connection waits to start */
	}
	w->wq_len = n;
	return w;
fail:
	if (cfg != NULL)
		event_config_free(cfg);
	bench_worker_free(w);
	return NULL;
}

int
bench_worker_start(struct bench_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, bench_worker_thread_main, w);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	w->running = 1;
	return 0;
}

void
bench_worker_stop(struct bench_worker *w, int hard)
{
	char cmd = hard ? 'h' : 's';

	/* A full pipe already holds a stop: nothing is lost. */
	if (write(w->stop_pipe[1], &cmd, 1) != 1 && errno != EAGAIN)
		fprintf(stderr, "upcase bench: cannot stop worker %d: %s\n",
		    w->id, strerror(errno));
}

int
bench_worker_join(struct bench_worker *w)
{
	int rc;

	if (!w->running)
		return 0;
	rc = pthread_join(w->thread, NULL);
	w->running = 0;
	return rc == 0 ? 0 : -1;
}

void
bench_worker_free(struct bench_worker *w)
{
	if (w == NULL)
		return;
	bench_worker_join(w);
	if (w->conns != NULL)
		for (int i = 0; i < w->n; i++)
			if (w->conns[i].w != NULL) {	/* set up */
				bconn_close(&w->conns[i]);
				budp_free(&w->conns[i]);
			}
	if (w->stop_ev != NULL)
		event_free(w->stop_ev);
	if (w->deadline_ev != NULL)
		event_free(w->deadline_ev);
	if (w->hard_ev != NULL)
		event_free(w->hard_ev);
	if (w->sweep_ev != NULL)
		event_free(w->sweep_ev);
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->ramp_ev != NULL)
		event_free(w->ramp_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->stop_pipe[0] >= 0)
		close(w->stop_pipe[0]);
	if (w->stop_pipe[1] >= 0)
		close(w->stop_pipe[1]);
	hist_free(w->hist);
	free(w->buf);
	budp_rx_free(w->rx);
	free(w->conns);
	free(w->waitq);
	free(w->ring);
	free(w);
}
