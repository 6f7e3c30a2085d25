/* bench_worker.h: one bench thread: its own event loop and its share of
 * the connections, opened, driven, verified and timed there alone. */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bench_opts.h"
#include "hist.h"
#include "verify.h"

/* What went wrong, by kind; the order is the report's. */
enum bench_err {
	BENCH_ERR_CONNECT,	/* connect failed or timed out */
	BENCH_ERR_MISMATCH,	/* a reply with a wrong byte */
	BENCH_ERR_SHORT,	/* the server closed in the middle of a reply */
	BENCH_ERR_EXTRA,	/* bytes nobody asked for */
	BENCH_ERR_RESET,	/* connection reset */
	BENCH_ERR_CLOSE,	/* the server closed with replies owed, or
				 * closed a connection we were holding */
	BENCH_ERR_TIMEOUT,	/* no reply progress for -t */
	BENCH_ERR_UNSENT,	/* --rate: due before the end, never sent */
	BENCH_ERR_LOST,		/* udp: a datagram unanswered for -t */
	BENCH_ERR_IO,		/* any other socket error */
	BENCH_ERR__COUNT
};
extern const char *const bench_err_names[BENCH_ERR__COUNT];

enum bench_ctr {
	BENCH_ESTABLISHED,	/* connects that succeeded */
	BENCH_OPEN,		/* connections open now */
	BENCH_HELD,		/* open when the duration ended */
	BENCH_MESSAGES,		/* replies complete (mismatched ones too) */
	BENCH_BYTES,		/* reply bytes received */
	BENCH_RX_DROPS,		/* udp: replies our own sockets dropped */
	BENCH_ERRORS,		/* + enum bench_err */
	BENCH_CTR__COUNT = BENCH_ERRORS + BENCH_ERR__COUNT
};

/* What every worker shares.  Read-only once workers start, except what
 * the lock guards. */
struct bench_run {
	const struct bench_opts		*opts;
	const struct verify_pool	*pool;
	uint64_t			 start_ns;	/* CLOCK_MONOTONIC */
	int				 nsources;	/* >1: bind 127.0.0.1..N */
	int				 done_fd;	/* a byte per finished worker */
	int				 tty;		/* stderr: clear the
							 * progress line first */

	pthread_mutex_t			 lock;
	struct hist			*hist;		/* latencies so far, ns */
	struct hist			*interval;	/* those of this second */
	unsigned			 described;	/* kinds told on stderr */
	int				 mismatch_conn;	/* -1: none yet */
	struct verify_mismatch		 mismatch;	/* the first one */
};

struct bench_worker;

/* Connections first..first+n-1 (global numbers); 'budget' is this
 * worker's share of -n.  Created on the main thread. */
struct bench_worker *bench_worker_new(struct bench_run *run, int id,
	    int first, int n, uint64_t budget);
int	bench_worker_start(struct bench_worker *w);

/* From the main thread: finish (hard 0: stop sending, wait up to -t for
 * the replies owed; 1: close everything now). */
void	bench_worker_stop(struct bench_worker *w, int hard);

/* After its done byte: join the thread. */
int	bench_worker_join(struct bench_worker *w);
void	bench_worker_free(struct bench_worker *w);

/* Any thread: a counter's current value. */
uint64_t bench_worker_get(const struct bench_worker *w, enum bench_ctr c);

/* After the join: the CPU time the worker's thread used. */
uint64_t bench_worker_cpu_ns(const struct bench_worker *w);

uint64_t bench_now_ns(void);

#endif
