/* metrics.h: the metrics listener: Prometheus's /metrics and a load
 * balancer's /healthz over HTTP (libevent's evhttp), served from a thread
 * and an event loop of its own, so that no scrape and no slow or hostile
 * HTTP client ever waits on, or holds, a worker. */
#ifndef METRICS_H
#define METRICS_H

#include "addr.h"
#include "stats.h"

/* Bounds on one HTTP request: a client that sends more, or makes no
 * progress for METRICS_TIMEOUT_S (a request half sent, an idle
 * keep-alive), is closed. */
#define METRICS_MAX_HEADERS	8192
#define METRICS_MAX_BODY	1024
#define METRICS_TIMEOUT_S	5

struct metrics;

/*
 * Serve the counters of stats[0..n) (one block per worker, read-only, to
 * outlive the listener) on where: on fd if it is >= 0 (a socket passed at
 * exec, now ours), else bound anew.  Logs "metrics on ADDR" with the real
 * address.  Returns NULL with the reason logged.
 */
struct metrics *metrics_start(const struct addr *where, int fd,
	    struct stats *const *stats, int n);

/* Stop serving, close the listener and every HTTP connection, free m
 * (NULL: nothing).  From the thread that started it. */
void	metrics_stop(struct metrics *m);

/* The address as configured (a reload compares it), and the listening
 * descriptor (a restart hands it on). */
const struct addr *metrics_where(const struct metrics *m);
int	metrics_fd(const struct metrics *m);

/* A reload: make the running listener *m match on/where, starting the new
 * one before stopping the old, so that a failure leaves *m as it was.
 * Returns 0, or -1 (logged). */
int	metrics_update(struct metrics **m, int on, const struct addr *where,
	    struct stats *const *stats, int n);

#endif
