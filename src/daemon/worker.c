/* worker.c: one event loop and the connections it owns.  Accepted
 * descriptors arrive through a small locked queue and an eventfd; after
 * that no other thread touches the worker's loop or its bufferevents
 * (libevent 2.1 crashes and deadlocks on cross-thread bufferevent use). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "worker.h"

struct worker {
	int			 id;
	int			 own_thread;
	int			 thread_started;
	pthread_t		 thread;
	struct event_base	*base;
	struct worker_hooks	 hooks;
	struct conn_env		 env;
	struct stats		 stats;
	timeout_us		 shutdown_timeout;

	int			 efd;		/* eventfd: wake-up */
	struct event		*wake_ev;
	struct event		*deadline_ev;

	pthread_mutex_t		 mu;		/* guards the fields below */
	evutil_socket_t		*queue;
	size_t			 qlen, qcap;
	int			 stop_requested;

	int			 stopping;	/* worker thread only */
	int			 stopped;
};

static void
worker_check_stopped(struct worker *w)
{
	if (!w->stopping || w->stopped || w->env.nconns > 0)
		return;
	w->stopped = 1;
	if (w->deadline_ev != NULL)
		event_del(w->deadline_ev);
	if (w->own_thread)
		event_base_loopbreak(w->base);
	w->hooks.stopped(w->hooks.arg);
}

static void
conn_gone(void *arg)
{
	struct worker *w = arg;

	w->hooks.conn_closed(w->hooks.arg);
	worker_check_stopped(w);
}

static void
worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (w->env.nconns > 0)
		log_warn("shutdown timeout: closing %d connection%s with "
		    "replies still pending", w->env.nconns,
		    w->env.nconns == 1 ? "" : "s");
	conn_close_all(&w->env);
	worker_check_stopped(w);
}

static void
begin_stop(struct worker *w)
{
	struct timeval tv;

	if (w->stopping)
		return;
	w->stopping = 1;
	conn_shutdown_all(&w->env);
	if (w->env.nconns > 0 && timeout_tv(w->shutdown_timeout, &tv) != NULL) {
		w->deadline_ev = evtimer_new(w->base, worker_deadline_cb, w);
		if (w->deadline_ev == NULL || evtimer_add(w->deadline_ev, &tv) != 0)
			conn_close_all(&w->env);
	}
	worker_check_stopped(w);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	evutil_socket_t *q;
	size_t n;
	uint64_t count;
	int stop;

	if (read(w->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("worker %d: eventfd read: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->mu);
	q = w->queue;
	n = w->qlen;
	w->queue = NULL;
	w->qlen = w->qcap = 0;
	stop = w->stop_requested;
	pthread_mutex_unlock(&w->mu);

	for (size_t i = 0; i < n; i++)
		conn_new(&w->env, q[i]);
	free(q);
	if (w->id == 0 && w->hooks.woken != NULL)
		w->hooks.woken(w->hooks.arg);
	if (stop)
		begin_stop(w);
}

struct worker *
worker_new(int id, const struct settings *cfg, struct event_base *base,
    const struct worker_hooks *hooks)
{
	struct worker *w;
	struct timeval tv;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->id = id;
	w->hooks = *hooks;
	w->efd = -1;
	w->shutdown_timeout = cfg->shutdown_timeout;
	pthread_mutex_init(&w->mu, NULL);
	stats_init(&w->stats);
	w->own_thread = base == NULL;
	w->base = base != NULL ? base : event_base_new();
	if (w->base == NULL)
		goto fail;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		goto fail;
	w->wake_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST, wake_cb, w);
	if (w->wake_ev == NULL || event_add(w->wake_ev, NULL) != 0)
		goto fail;

	w->env.base = w->base;
	w->env.chunk_size = cfg->chunk_size;
	if ((w->env.scratch = malloc(cfg->chunk_size)) == NULL)
		goto fail;
	w->env.max_pending = cfg->max_pending;
	w->env.stats = &w->stats;
	w->env.closed = conn_gone;
	w->env.arg = w;
	LIST_INIT(&w->env.conns);
	/* Every connection shares these two values: common timeouts keep
	 * them in a queue instead of the heap, O(1) to re-arm per read.
	 * NULL would silently mean "no timeout": fail instead. */
	if (timeout_tv(cfg->idle_timeout, &tv) != NULL &&
	    (w->env.idle_tv = event_base_init_common_timeout(w->base,
	    &tv)) == NULL)
		goto fail_timeout;
	if (timeout_tv(cfg->write_timeout, &tv) != NULL &&
	    (w->env.write_tv = event_base_init_common_timeout(w->base,
	    &tv)) == NULL)
		goto fail_timeout;
	return w;
fail_timeout:
	log_error("worker %d: cannot set up its timeouts", id);
	worker_free(w);
	return NULL;
fail:
	log_error("worker %d: cannot set up its event loop: %s", id,
	    strerror(errno));
	worker_free(w);
	return NULL;
}

static void *
worker_thread_main(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
worker_start(struct worker *w)
{
	int rc;

	if (!w->own_thread)
		return 0;
	rc = pthread_create(&w->thread, NULL, worker_thread_main, w);
	if (rc != 0) {
		log_error("worker %d: cannot start a thread: %s", w->id,
		    strerror(rc));
		return -1;
	}
	w->thread_started = 1;
	return 0;
}

void
worker_wake(struct worker *w)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: a wake is pending. */
	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("worker %d: eventfd write: %s", w->id, strerror(errno));
}

void
worker_give(struct worker *w, evutil_socket_t fd)
{
	int was_empty;

	if (!w->own_thread) {
		conn_new(&w->env, fd);
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (w->qlen == w->qcap) {
		size_t cap = w->qcap ? w->qcap * 2 : 16;
		evutil_socket_t *q = realloc(w->queue, cap * sizeof(*q));
		if (q == NULL) {
			pthread_mutex_unlock(&w->mu);
			log_warn("worker %d: out of memory: dropping a "
			    "connection", w->id);
			evutil_closesocket(fd);
			w->hooks.conn_closed(w->hooks.arg);
			return;
		}
		w->queue = q;
		w->qcap = cap;
	}
	was_empty = w->qlen == 0;
	w->queue[w->qlen++] = fd;
	pthread_mutex_unlock(&w->mu);
	/* One wake-up per batch: the worker takes the whole queue. */
	if (was_empty)
		worker_wake(w);
}

void
worker_stop(struct worker *w)
{
	if (!w->own_thread) {
		begin_stop(w);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->stop_requested = 1;
	pthread_mutex_unlock(&w->mu);
	worker_wake(w);
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	if (w->base != NULL)
		conn_close_all(&w->env);
	for (size_t i = 0; i < w->qlen; i++)
		evutil_closesocket(w->queue[i]);
	free(w->queue);
	free(w->env.scratch);
	if (w->deadline_ev != NULL)
		event_free(w->deadline_ev);
	if (w->wake_ev != NULL)
		event_free(w->wake_ev);
	if (w->efd >= 0)
		close(w->efd);
	if (w->own_thread && w->base != NULL)
		event_base_free(w->base);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

struct stats *
worker_stats(struct worker *w)
{
	return &w->stats;
}
