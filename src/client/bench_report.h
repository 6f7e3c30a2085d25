/* bench_report.h: what upcase bench prints: the progress line while it
 * runs, the summary (text or JSON) and the exit status it implies. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "bench_opts.h"
#include "bench_worker.h"
#include "hist.h"
#include "verify.h"

enum bench_rate {
	BENCH_RATE_MSGS, BENCH_RATE_BYTES, BENCH_RATE_CONNS, BENCH_RATE__COUNT
};

struct bench_result {
	const struct bench_opts	*opts;
	int			 threads;	/* started */
	uint64_t		 ctr[BENCH_CTR__COUNT];	/* summed */
	double			 duration_s;
	const struct hist	*hist;		/* nanoseconds */
	int			 mismatch_conn;	/* -1: none */
	struct verify_mismatch	 mismatch;
	int			 interrupted;	/* stopped by a signal */
	double			 cpu_s;		/* the process's user + system */
	double			 busy;		/* the busiest worker's CPU time
						 * over the duration, 0..1 */
	int			 runs;		/* > 0: a merge of that many */
	double			 rates[BENCH_RATE__COUNT];	/* merged: the runs' rates summed
						 * (enum bench_rate) */
};

/* Each mode's name in the JSON summary ("closed", "rate", ...). */
extern const char *const bench_report_modes[BENCH_IDLE + 1];

/* A worker busier than this measured bench as much as the server. */
#define BENCH_CPU_BOUND	0.90

struct bench_progress {
	double		elapsed_s;
	double		msgs_per_sec;	/* over the last interval */
	double		bytes_per_sec;
	double		conns_per_sec;
	uint64_t	open;
	uint64_t	p99_ns;		/* so far */
	uint64_t	errors;
};

/* A wrong byte or bytes nobody asked for: 5; else a failed connect, a
 * reset, a close or a short reply: 3; else reply timeouts, messages
 * never sent or datagrams lost beyond --max-loss: 4; else 0. */
int	bench_report_status(const struct bench_result *r);

uint64_t bench_report_errors(const uint64_t ctr[BENCH_CTR__COUNT]);

/* udp: the datagrams lost, in percent of those sent (0 when none). */
double	bench_report_loss_pct(const uint64_t ctr[BENCH_CTR__COUNT]);

void	bench_report_text(FILE *fp, const struct bench_result *r);
void	bench_report_json(FILE *fp, const struct bench_result *r);

/* One line; on a terminal it overwrites the previous one. */
void	bench_report_progress(FILE *fp, int tty, const struct bench_opts *o,
	    const struct bench_progress *p);

#endif
