/* bench-internal.h: the private header of upcase bench: one connection and
 * the worker state it runs in, shared by bench_conn.c (the connection's
 * life) and bench_worker.c (the thread, its timers and its stops) only. */
#ifndef BENCH_INTERNAL_H
#define BENCH_INTERNAL_H

#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "bench_worker.h"

/* One recv() per readiness into the worker's buffer. */
#define READ_BUF	(256 * 1024)
/* The most one callback does before the loop runs again: a peer that
 * keeps up with us (a deep pipeline on loopback) must not hold the
 * deadline, the hard stop or the other connections off. */
#define FLUSH_CALLS	16		/* send calls per flush */
#define READ_ROUNDS	4		/* full reads per wake-up */

struct budp;
struct budp_rx;

enum bconn_state {
	BCONN_WAITING,		/* not started yet (ramp) */
	BCONN_CONNECTING,
	BCONN_OPEN,
	BCONN_DONE,		/* retired: counts no more in 'live' */
};

struct bconn {
	struct bench_worker	*w;
	int			 idx;		/* global connection number */
	int			 fd;		/* -1: none; rd, wr set iff >= 0 */
	enum bconn_state	 state;
	int			 wblocked;	/* wr armed: the kernel pushed back */
	struct event		 rd;
	struct event		 wr;		/* connect done, or room to write */
	struct event		 tm;		/* --rate: the next message is due */
	struct verify		 v;
	uint64_t		 wseq;		/* message being written */
	size_t			 woff;		/* bytes of it written */
	uint64_t		*sent_at;	/* pipeline ring of send times */
	uint64_t		 progress;	/* ns: last reply byte, or when
						 * replies (or a connect) began
						 * to be owed */
	uint64_t		 started;	/* ns: connect() was called */
	uint64_t		 sched0;	/* ns: --rate: message 0's time;
						 * 0: not established */
	uint32_t		 cycle;		/* --churn: connections so far */
	struct budp		*u;		/* udp: the datagrams in flight;
						 * NULL over a stream */
};

struct bench_worker {
	int			 id;
	struct bench_run	*run;
	const struct bench_opts	*o;
	struct event_base	*base;
	pthread_t		 thread;
	int			 running;
	int			 stop_pipe[2];	/* main -> worker: 's' or 'h' */
	struct event		*stop_ev;
	struct event		*deadline_ev;
	struct event		*hard_ev;
	struct event		*sweep_ev;
	struct event		*tick_ev;
	struct event		*ramp_ev;
	struct bconn		*conns;
	uint64_t		*ring;
	int			 first;
	int			 n;
	int			*waitq;		/* ring of conns[] indexes waiting
						 * to connect, in order */
	int			 wq_head;
	int			 wq_len;
	int			 connecting;	/* connects in progress */
	int			 live;		/* connections not retired */
	int			 limited;	/* -n given: budget counts */
	uint64_t		 budget;
	int			 stopping;
	uint64_t		 deadline_ns;	/* 0: none */
	uint64_t		 sched_end_ns;	/* --rate: messages scheduled
						 * before this are owed: the
						 * deadline, or an earlier stop
						 * (UINT64_MAX: none yet) */
	uint64_t		 hard_at_ns;	/* the end plus -t */
	int			 cut;		/* the user stopped it hard */
	double			 interval_ns;	/* --rate: per connection */
	uint64_t		 connect_gap_ns; /* --connect-rate share; 0: none */
	uint64_t		 next_connect_ns; /* the next connect's slot */
	uint64_t		 cpu_ns;	/* the thread's CPU time, at its
						 * end */
	struct hist		*hist;		/* since the last tick */
	unsigned char		*buf;		/* stream replies land here */
	struct budp_rx		*rx;		/* udp: the same for datagrams */
	_Alignas(64) _Atomic uint64_t ctr[BENCH_CTR__COUNT];
};

/* The connection side (bench_conn.c). */
int	bconn_init(struct bconn *c, struct bench_worker *w, int idx,
	    uint64_t *sent_at);
void	bconn_connect(struct bconn *c);
void	bconn_close(struct bconn *c);
void	bconn_retire(struct bconn *c);
void	bconn_fail(struct bconn *c, enum bench_err kind, const char *what);
void	bconn_fail_errno(struct bconn *c, enum bench_err kind, int err);
void	bconn_describe(struct bconn *c, enum bench_err kind, const char *what);
void	bconn_note_mismatch(struct bconn *c);
int	bconn_want_write(struct bconn *c);
int	bconn_not_due(struct bconn *c, uint64_t at, uint64_t now);
uint64_t bconn_owed(const struct bconn *c);
void	bconn_soft_stop(struct bconn *c, uint64_t now);
void	bconn_hard_stop(struct bconn *c, int count);
void	bconn_sweep(struct bconn *c, uint64_t now, uint64_t limit);
int	bench_take_budget(struct bench_worker *w);
void	bench_count_unsent(struct bench_worker *w);

/* The datagram side (bench_udp.c): a socket's datagrams in flight, and
 * a worker's receive buffers. */
int	budp_init(struct bconn *c);
void	budp_free(struct bconn *c);
int	budp_open(struct bconn *c, int fd);
int	budp_pump(struct bconn *c, uint64_t now);
void	budp_read_cb(evutil_socket_t fd, short what, void *arg);
void	budp_write_cb(evutil_socket_t fd, short what, void *arg);
uint64_t budp_in_flight(const struct bconn *c);
void	budp_expire(struct bconn *c, uint64_t now, uint64_t limit);
void	budp_lose_all(struct bconn *c, const char *why);
uint64_t budp_drops(const struct bconn *c);
struct budp_rx *budp_rx_new(size_t size);
void	budp_rx_free(struct budp_rx *rx);

/* The worker side (bench_worker.c): a connect finished, so there is room
 * for one that waits; a --churn connection connects again when
 * --connect-rate allows. */
void	bench_kick_ramp(struct bench_worker *w);
void	bench_reconnect(struct bconn *c);

/* --rate: when message seq of this connection is due. */
static inline uint64_t
sched_at(const struct bconn *c, uint64_t seq)
{
	return c->sched0 + (uint64_t)((double)seq * c->w->interval_ns);
}

/* Whether this connection will send anything after now.  --rate: every
 * message scheduled before the end of the run, even once the run is over
 * (--pipeline held it back while the server was slow): it goes out and
 * is timed from its schedule, or bench_count_unsent() counts it. */
static inline int
bconn_more(const struct bconn *c)
{
	const struct bench_worker *w = c->w;

	if (w->limited && w->budget == 0)
		return 0;
	if (w->o->mode == BENCH_RATE)
		return sched_at(c, c->v.sent) < w->sched_end_ns;
	return !w->stopping;
}

static inline struct timeval
ns_to_tv(uint64_t ns)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ns / 1000000000u);
	tv.tv_usec = (suseconds_t)(ns % 1000000000u / 1000u);
	return tv;
}

/* One writer per counter (this thread): a relaxed load and store, as in
 * stats.h, so the main thread's progress line reads them without locks. */
static inline void
ctr_add(struct bench_worker *w, enum bench_ctr c, uint64_t n)
{
	uint64_t old = atomic_load_explicit(&w->ctr[c], memory_order_relaxed);
	atomic_store_explicit(&w->ctr[c], old + n, memory_order_relaxed);
}

#endif
