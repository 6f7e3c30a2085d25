/* worker.c: one event loop, the connections it owns and the UDP sockets
 * it serves (each read by a thread of its own: dgram.c).  Accepted
 * descriptors, UDP sockets to serve or to close, and new settings arrive
 * through a small locked queue and an eventfd; after that no other thread
 * touches the worker's loop or its bufferevents (libevent 2.1 crashes and
 * deadlocks on cross-thread bufferevent use). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conn.h"
#include "dgram.h"
#include "log.h"
#include "looplag.h"
#include "proxy_wait.h"
#include "worker.h"

/* A UDP socket this loop serves; dg NULL if it could not be set up (the
 * socket is still ours, and closed when it is taken away). */
struct worker_udp {
	evutil_socket_t		 fd;
	struct dgram		*dg;
};

/* From the main thread: serve fd here, or stop and close it. */
struct worker_udp_op {
	evutil_socket_t		 fd;
	int			 add;
};

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
	struct acl		 acl;		/* env.admit reads it */
	struct udpguard_rates	*rates;		/* every UDP reader's */
	struct dgram_rules	 rules;		/* what they check, as taken */
	struct worker_udp	*udp;		/* UDP sockets served here */
	int			 nudp;

	int			 efd;		/* eventfd: wake-up */
	struct event		*wake_ev;
	struct event		*deadline_ev;
	struct looplag		*lag;

	pthread_mutex_t		 mu;		/* guards the fields below */
	struct worker_conn	*queue;
	size_t			 qlen, qcap;
	int			 stop_requested;
	int			 retune_requested;
	struct worker_tunables	 retune;
	struct worker_tunables	 taken;		/* worker thread only: retune
						 * as taken, off the lock */
	struct worker_udp_op	*udp_ops;	/* in order */
	size_t			 nudp_ops, udp_ops_cap;
	int			 self_requested;
	int			 nself;
	struct addr		 self[UDPGUARD_SELF_MAX];

	int			 stopping;	/* worker thread only */
	int			 stopped;
	/* Connections dropped since the queue last took one (the handing
	 * thread's): a run of them is logged once. */
	uint64_t		 dropped;
};

/* Connections served, and those still waiting for their PROXY header. */
static int
worker_busy(const struct worker *w)
{
	return w->env.nconns + w->env.nwaiting;
}

/* Every connection closed at once, the waiting ones too. */
static void
worker_close_all(struct worker *w)
{
	conn_close_all(&w->env);
	proxy_wait_close_all(&w->env);
}

static void
worker_check_stopped(struct worker *w)
{
	if (!w->stopping || w->stopped || worker_busy(w) > 0)
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

	if (worker_busy(w) > 0)
		log_warn("shutdown timeout: closing %d connection%s with "
		    "replies still pending", worker_busy(w),
		    worker_busy(w) == 1 ? "" : "s");
	worker_close_all(w);
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
	if (worker_busy(w) > 0 && timeout_tv(w->shutdown_timeout, &tv) != NULL) {
		w->deadline_ev = evtimer_new(w->base, worker_deadline_cb, w);
		if (w->deadline_ev == NULL || evtimer_add(w->deadline_ev, &tv) != 0)
			worker_close_all(w);
	}
	worker_check_stopped(w);
}

/* A timeout every connection of this loop shares, as a common timeout
 * (kept in a queue, O(1) to re-arm per read).  *out NULL means none; -1
 * if libevent cannot make one (it holds at most 256 per loop). */
static int
worker_common_timeout(struct worker *w, timeout_us t, const struct timeval **out)
{
	struct timeval tv;

	*out = NULL;
	if (timeout_tv(t, &tv) == NULL)
		return 0;
	return (*out = event_base_init_common_timeout(w->base, &tv)) != NULL ?
	    0 : -1;
}

/* Our own UDP addresses, as the readers are to take them. */
static void
worker_take_self(struct worker *w, const struct addr *self, int n)
{
	memcpy(w->rules.self, self, (size_t)n * sizeof(*self));
	w->rules.nself = n;
}

/* Every UDP reader of this loop takes the rules as w->rules holds them. */
static void
worker_hand_rules(struct worker *w)
{
	for (int i = 0; i < w->nudp; i++)
		if (w->udp[i].dg != NULL)
			dgram_set_rules(w->udp[i].dg, &w->rules);
}

/*
 * Take new settings, in the worker's own thread.  A connection takes the
 * new timeouts from its next re-arm; the scratch buffer is only used
 * inside a callback, so it can be replaced between them.  Returns 0, or
 * -1 with what could not be set left as it was.
 */
static int
worker_apply(struct worker *w, const struct worker_tunables *t)
{
	const struct timeval *idle, *write, *proxy;
	int rc = 0;

	if (t->chunk_size != w->env.chunk_size) {
		unsigned char *p = realloc(w->env.scratch, t->chunk_size);
		if (p != NULL) {
			w->env.scratch = p;
			w->env.chunk_size = t->chunk_size;
		} else {
			rc = -1;
		}
	}
	w->env.max_pending = t->max_pending;
	w->shutdown_timeout = t->shutdown_timeout;
	w->acl = t->acl;
	w->rules.acl = t->acl;
	w->rules.rate = t->udp_rate_per_ip;
	worker_hand_rules(w);
	if (worker_common_timeout(w, t->idle_timeout, &idle) == 0 &&
	    worker_common_timeout(w, t->write_timeout, &write) == 0 &&
	    worker_common_timeout(w, t->proxy_timeout, &proxy) == 0) {
		w->env.idle_tv = idle;
		w->env.write_tv = write;
		w->env.proxy_tv = proxy;
	} else {
		rc = -1;
	}
	if (rc != 0)
		log_warn("worker %d: could not take every new setting "
		    "(out of memory, or too many distinct timeouts)", w->id);
	return rc;
}

/* In w's thread: a connection handed over, served or its PROXY header
 * awaited. */
static void
worker_serve(struct worker *w, const struct worker_conn *wc)
{
	struct conn_origin o;

	if (wc->proxy) {
		proxy_wait_start(&w->env, wc->fd, (const struct sockaddr *)&wc->peer,
		    wc->peerlen);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.slot = wc->slot;
	if (wc->peerlen > 0) {
		o.peer = (const struct sockaddr *)&wc->peer;
		o.peerlen = wc->peerlen;
	}
	conn_open(&w->env, wc->fd, &o);
}

/* In w's thread (or before it runs): serve the UDP socket fd, which is
 * w's from now on. */
static void
worker_udp_add(struct worker *w, evutil_socket_t fd)
{
	struct worker_udp *u = realloc(w->udp, (size_t)(w->nudp + 1) *
	    sizeof(*u));

	if (u == NULL) {
		log_error("worker %d: out of memory: a udp socket is not served",
		    w->id);
		close(fd);
		return;
	}
	w->udp = u;
	u = &w->udp[w->nudp++];
	u->fd = fd;
	u->dg = dgram_new(fd, &w->stats, w->rates, &w->rules);
	if (u->dg == NULL)
		log_error("worker %d: a socket of a udp listener is not served "
		    "(out of memory or threads): %s", w->id, dgram_abandon(fd)
		    == 0 ? "the port's other sockets, if any, take its senders" :
		    "a share of the port's senders goes unanswered");
}

/* In w's thread (or once it is over): stop serving fd and close it. */
static void
worker_udp_remove(struct worker *w, evutil_socket_t fd)
{
	for (int i = 0; i < w->nudp; i++) {
		if (w->udp[i].fd != fd)
			continue;
		if (w->udp[i].dg != NULL)
			dgram_free(w->udp[i].dg);	/* closes fd */
		else
			close(fd);
		w->udp[i] = w->udp[--w->nudp];
		return;
	}
}

static void
worker_udp_apply(struct worker *w, const struct worker_udp_op *op, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (op[i].add)
			worker_udp_add(w, op[i].fd);
		else
			worker_udp_remove(w, op[i].fd);
	}
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_conn *q;
	struct worker_udp_op *ops;
	size_t n, nops;
	uint64_t count;
	struct worker_tunables *t = &w->taken;
	int stop, retune, self;

	if (read(w->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("worker %d: eventfd read: %s", w->id, strerror(errno));
	pthread_mutex_lock(&w->mu);
	q = w->queue;
	n = w->qlen;
	w->queue = NULL;
	w->qlen = w->qcap = 0;
	ops = w->udp_ops;
	nops = w->nudp_ops;
	w->udp_ops = NULL;
	w->nudp_ops = w->udp_ops_cap = 0;
	stop = w->stop_requested;
	retune = w->retune_requested;
	w->retune_requested = 0;
	if (retune)
		*t = w->retune;
	self = w->self_requested;
	w->self_requested = 0;
	if (self)
		worker_take_self(w, w->self, w->nself);
	pthread_mutex_unlock(&w->mu);

	if (retune)
		worker_apply(w, t);	/* hands the rules on too */
	else if (self)
		worker_hand_rules(w);
	worker_udp_apply(w, ops, nops);
	free(ops);

	for (size_t i = 0; i < n; i++)
		worker_serve(w, &q[i]);
	free(q);
	if (w->id == 0 && w->hooks.woken != NULL)
		w->hooks.woken(w->hooks.arg);
	if (stop)
		begin_stop(w);
}

struct worker *
worker_new(int id, const struct settings *cfg, struct event_base *base,
    const struct worker_hooks *hooks, struct perip *perip,
    struct udpguard_rates *rates)
{
	struct worker *w;

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
	if ((w->lag = looplag_start(w->base, &w->stats)) == NULL)
		goto fail;

	w->env.base = w->base;
	w->env.chunk_size = cfg->chunk_size;
	if ((w->env.scratch = malloc(cfg->chunk_size)) == NULL)
		goto fail;
	w->env.max_pending = cfg->max_pending;
	w->env.stats = &w->stats;
	w->env.closed = conn_gone;
	w->env.arg = w;
	w->acl = cfg->acl;
	w->rates = rates;
	w->rules.acl = cfg->acl;
	w->rules.rate = cfg->udp_rate_per_ip;
	w->env.admit.acl = &w->acl;
	w->env.admit.proxy_from = NULL;	/* senders are checked at accept */
	w->env.admit.perip = perip;
	w->env.admit.stats = &w->stats;
	LIST_INIT(&w->env.conns);
	LIST_INIT(&w->env.waiting);
	/* NULL would silently mean "no timeout": fail instead. */
	if (worker_common_timeout(w, cfg->idle_timeout, &w->env.idle_tv) != 0 ||
	    worker_common_timeout(w, cfg->write_timeout, &w->env.write_tv) != 0 ||
	    worker_common_timeout(w, cfg->proxy_timeout, &w->env.proxy_tv) != 0)
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
worker_give(struct worker *w, const struct worker_conn *wc)
{
	int was_empty;

	if (!w->own_thread) {
		worker_serve(w, wc);
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (w->qlen == w->qcap) {
		size_t cap = w->qcap ? w->qcap * 2 : 16;
		struct worker_conn *q = realloc(w->queue, cap * sizeof(*q));
		if (q == NULL) {
			pthread_mutex_unlock(&w->mu);
			if (w->dropped++ == 0)
				log_warn("worker %d: out of memory: dropping "
				    "a connection (the next are counted until "
				    "one is handed over)", w->id);
			evutil_closesocket(wc->fd);
			perip_give(w->env.admit.perip, wc->slot);
			w->hooks.conn_closed(w->hooks.arg);
			return;
		}
		w->queue = q;
		w->qcap = cap;
	}
	was_empty = w->qlen == 0;
	w->queue[w->qlen++] = *wc;
	pthread_mutex_unlock(&w->mu);
	if (w->dropped > 0) {
		log_notice("worker %d: handing connections over again (%llu "
		    "dropped before)", w->id, (unsigned long long)w->dropped);
		w->dropped = 0;
	}
	/* One wake-up per batch: the worker takes the whole queue. */
	if (was_empty)
		worker_wake(w);
}

void
worker_tunables_of(const struct settings *cfg, struct worker_tunables *t)
{
	t->chunk_size = cfg->chunk_size;
	t->max_pending = cfg->max_pending;
	t->idle_timeout = cfg->idle_timeout;
	t->write_timeout = cfg->write_timeout;
	t->shutdown_timeout = cfg->shutdown_timeout;
	t->proxy_timeout = cfg->proxy_timeout;
	t->acl = cfg->acl;
	t->udp_rate_per_ip = cfg->udp_rate_per_ip;
}

void
worker_retune(struct worker *w, const struct worker_tunables *t)
{
	if (!w->own_thread) {
		worker_apply(w, t);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->retune = *t;
	w->retune_requested = 1;
	pthread_mutex_unlock(&w->mu);
	worker_wake(w);
}

/* Whether w's loop runs on a thread of its own already: then only that
 * thread may touch it.  Main thread only (it starts the threads). */
static int
worker_is_apart(const struct worker *w)
{
	return w->own_thread && w->thread_started;
}

/* Queue a UDP socket change for w's thread.  Returns -1 if out of memory. */
static int
worker_queue_udp(struct worker *w, evutil_socket_t fd, int add)
{
	int was_empty;

	pthread_mutex_lock(&w->mu);
	if (w->nudp_ops == w->udp_ops_cap) {
		size_t cap = w->udp_ops_cap ? w->udp_ops_cap * 2 : 8;
		struct worker_udp_op *q = realloc(w->udp_ops, cap * sizeof(*q));

		if (q == NULL) {
			pthread_mutex_unlock(&w->mu);
			return -1;
		}
		w->udp_ops = q;
		w->udp_ops_cap = cap;
	}
	was_empty = w->nudp_ops == 0;
	w->udp_ops[w->nudp_ops].fd = fd;
	w->udp_ops[w->nudp_ops++].add = add;
	pthread_mutex_unlock(&w->mu);
	if (was_empty)
		worker_wake(w);
	return 0;
}

void
worker_add_udp(struct worker *w, evutil_socket_t fd)
{
	if (!worker_is_apart(w)) {
		worker_udp_add(w, fd);
		return;
	}
	if (worker_queue_udp(w, fd, 1) != 0) {
		log_error("worker %d: out of memory: a udp socket is not served",
		    w->id);
		close(fd);
	}
}

void
worker_remove_udp(struct worker *w, evutil_socket_t fd)
{
	/* Out of memory, the socket stays served until the worker ends:
	 * closing it under the loop that watches it is worse. */
	if (!worker_is_apart(w))
		worker_udp_remove(w, fd);
	else if (worker_queue_udp(w, fd, 0) != 0)
		log_error("worker %d: out of memory: a udp socket stays open "
		    "until shutdown", w->id);
}

void
worker_set_udp_self(struct worker *w, const struct addr *self, int n)
{
	if (n > UDPGUARD_SELF_MAX)
		n = UDPGUARD_SELF_MAX;
	if (!worker_is_apart(w)) {
		worker_take_self(w, self, n);
		worker_hand_rules(w);
		return;
	}
	pthread_mutex_lock(&w->mu);
	memcpy(w->self, self, (size_t)n * sizeof(*self));
	w->nself = n;
	w->self_requested = 1;
	pthread_mutex_unlock(&w->mu);
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
		worker_close_all(w);
	/* Alone now: a socket the thread never took is closed, not set up
	 * to be taken down; one it was to stop serving goes with the
	 * rest of w->udp below. */
	for (size_t i = 0; i < w->nudp_ops; i++)
		if (w->udp_ops[i].add)
			close(w->udp_ops[i].fd);
	free(w->udp_ops);
	while (w->nudp > 0)
		worker_udp_remove(w, w->udp[w->nudp - 1].fd);
	free(w->udp);
	for (size_t i = 0; i < w->qlen; i++) {
		evutil_closesocket(w->queue[i].fd);
		perip_give(w->env.admit.perip, w->queue[i].slot);
	}
	free(w->queue);
	free(w->env.scratch);
	if (w->deadline_ev != NULL)
		event_free(w->deadline_ev);
	looplag_free(w->lag);
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
