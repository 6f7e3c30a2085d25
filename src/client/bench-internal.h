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
	struct hist		*hist;		/* since the last tick */
	unsigned char		*buf;
	_Alignas(64) _Atomic uint64_t ctr[BENCH_CTR__COUNT];
};

/* The connection side (bench_conn.c). */
int	bconn_init(struct bconn *c, struct bench_worker *w, int idx,
	    uint64_t *sent_at);
void	bconn_connect(struct bconn *c);
void	bconn_close(struct bconn *c);
void	bconn_retire(struct bconn *c);
void	bconn_fail(struct bconn *c, enum bench_err kind, const char *what);
void	bconn_soft_stop(struct bconn *c, uint64_t now);
int	bench_take_budget(struct bench_worker *w);
void	bench_count_unsent(struct bench_worker *w);

/* The worker side (bench_worker.c): a connect finished, so there is room
 * for one that waits; a --churn connection connects again when
 * --connect-rate allows. */
void	bench_kick_ramp(struct bench_worker *w);
void	bench_reconnect(struct bconn *c);

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
