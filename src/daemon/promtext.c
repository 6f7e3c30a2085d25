/* promtext.c: the exposition.  Every family is written with HELP and TYPE,
 * and every labelled series is present from the start (at 0), so that a
 * dashboard or an alert never waits for a first event to see it. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "promtext.h"

/* The text being written, and whether any of it failed (out of memory):
 * a scrape must never store a page cut short. */
struct promtext_out {
	struct evbuffer	*buf;
	int		 failed;
};

static void promtext_printf(struct promtext_out *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

static void
promtext_printf(struct promtext_out *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(out->buf, fmt, ap) < 0)
		out->failed = 1;
	va_end(ap);
}

/* One series of a labelled family: its label value and its counter. */
struct promtext_series {
	const char	*label;
	enum stat_id	 id;
};

static const struct promtext_series promtext_closed[] = {
	{ "eof", ST_CLOSED_EOF },
	{ "idle_timeout", ST_CLOSED_IDLE },
	{ "write_timeout", ST_CLOSED_WRITE_TIMEOUT },
	{ "reset", ST_CLOSED_RESET },
	{ "error", ST_CLOSED_ERROR },
	{ "shutdown", ST_CLOSED_SHUTDOWN },
	{ NULL, ST__COUNT },
};

static const struct promtext_series promtext_rejected[] = {
	{ "acl", ST_REJECTED_ACL },
	{ "per_ip", ST_REJECTED_PER_IP },
	{ "proxy", ST_REJECTED_PROXY },
	{ "error", ST_REJECTED_ERROR },
	{ NULL, ST__COUNT },
};

static const struct promtext_series promtext_pauses[] = {
	{ "max_conns", ST_LIMIT_PAUSES },
	{ "emfile", ST_ERROR_PAUSES },
	{ NULL, ST__COUNT },
};

/* The pause clocks, in the order of enum stats_pause. */
static const char *const promtext_pause_reasons[STATS_PAUSE__COUNT] = {
	"max_conns", "emfile",
};

static const struct promtext_series promtext_dropped[] = {
	{ "kernel", ST_DGRAMS_KERNEL_DROPS },
	{ "send", ST_DGRAMS_DROPPED },
	{ "loop", ST_DGRAMS_DROPPED_LOOP },
	{ "acl", ST_DGRAMS_DROPPED_ACL },
	{ "rate", ST_DGRAMS_DROPPED_RATE },
	{ NULL, ST__COUNT },
};

/* Plain counters and gauges, straight from one counter each. */
static const struct promtext_plain {
	const char	*name;
	const char	*type;
	const char	*help;
	enum stat_id	 id;
} promtext_plain[] = {
	{ "upcased_connections_accepted_total", "counter",
	    "Stream connections accepted.", ST_ACCEPTED },
	{ "upcased_received_bytes_total", "counter",
	    "Bytes received from clients, stream and datagram.", ST_BYTES_IN },
	{ "upcased_sent_bytes_total", "counter",
	    "Bytes sent to clients, stream and datagram.", ST_BYTES_OUT },
	{ "upcased_datagrams_received_total", "counter",
	    "UDP datagrams received.", ST_DGRAMS_IN },
	{ "upcased_datagrams_sent_total", "counter",
	    "UDP datagrams answered.", ST_DGRAMS },
	{ "upcased_pending_bytes", "gauge",
	    "Reply bytes held in upcased for clients that do not read fast "
	    "enough.", ST_PENDING },
	{ "upcased_backpressure_pauses_total", "counter",
	    "Times reading from a client paused because its replies reached "
	    "max_pending.", ST_BACKPRESSURE_PAUSES },
	{ "upcased_accept_errors_total", "counter",
	    "accept() failures (EMFILE, ENFILE, ENOBUFS, ENOMEM).",
	    ST_ACCEPT_ERRORS },
	{ "upcased_shutting_down", "gauge",
	    "1 once a graceful shutdown has begun.", ST_STOPPING },
	{ NULL, NULL, NULL, ST__COUNT },
};

static void
promtext_head(struct promtext_out *out, const char *name, const char *type,
    const char *help)
{
	promtext_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A family of one unlabelled sample. */
static void
promtext_u64(struct promtext_out *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
	promtext_head(out, name, type, help);
	promtext_printf(out, "%s %" PRIu64 "\n", name, v);
}

static void
promtext_f(struct promtext_out *out, const char *name, const char *type,
    const char *help, double v)
{
	promtext_head(out, name, type, help);
	promtext_printf(out, "%s %.3f\n", name, v);
}

static void
promtext_labelled(struct promtext_out *out, const char *name, const char *help,
    const struct promtext_series *series, const struct stats_snap *s)
{
	promtext_head(out, name, "counter", help);
	for (const struct promtext_series *k = series; k->label != NULL; k++)
		promtext_printf(out, "%s{reason=\"%s\"} %" PRIu64 "\n", name,
		    k->label, s->v[k->id]);
}

static void
promtext_lag(struct promtext_out *out, const struct stats_snap *w, int n)
{
	const char *name = "upcased_loop_lag_seconds";

	promtext_head(out, name, "histogram", "How late a timer due every "
	    "100 ms runs on each worker's event loop.");
	for (int k = 0; k < n; k++) {
		const uint64_t *v = w[k].v;
		uint64_t cum = 0;

		for (int i = 0; i < STATS_LAG_BUCKETS; i++) {
			cum += v[ST_LAG_BUCKET + i];
			promtext_printf(out, "%s_bucket{worker=\"%d\",le="
			    "\"%s\"} %" PRIu64 "\n", name, k, stats_lag_le[i],
			    cum);
		}
		promtext_printf(out, "%s_bucket{worker=\"%d\",le=\"+Inf\"} %"
		    PRIu64 "\n%s_sum{worker=\"%d\"} %.6f\n%s_count{worker="
		    "\"%d\"} %" PRIu64 "\n", name, k, v[ST_LAG_COUNT], name, k,
		    (double)v[ST_LAG_SUM_US] / 1e6, name, k, v[ST_LAG_COUNT]);
	}
}

static void
promtext_process(struct promtext_out *out, const struct procinfo *p)
{
	promtext_f(out, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.", p->cpu_seconds);
	promtext_u64(out, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.", p->rss_bytes);
	promtext_u64(out, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.", p->vsize_bytes);
	/* -1: /proc/self/fd unreadable (a process not dumpable after its
	 * drop to `user` may find it so): no sample rather than a wrong one. */
	if (p->open_fds >= 0)
		promtext_u64(out, "process_open_fds", "gauge",
		    "Number of open file descriptors.", (uint64_t)p->open_fds);
	if (p->max_fds >= 0)
		promtext_u64(out, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.",
		    (uint64_t)p->max_fds);
	promtext_f(out, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.",
	    p->start_time);
}

int
promtext_render(struct evbuffer *buf, const struct promtext_input *in)
{
	const struct stats_snap *s = in->sum;
	struct promtext_out o = { buf, 0 }, *out = &o;

	promtext_head(out, "upcased_build_info", "gauge",
	    "Always 1; the version is a label.");
	promtext_printf(out, "upcased_build_info{version=\"%s\"} 1\n",
	    in->version);
	promtext_u64(out, "upcased_connections", "gauge",
	    "Stream connections open now.", stats_open_conns(s));
	for (const struct promtext_plain *p = promtext_plain; p->name != NULL;
	    p++)
		promtext_u64(out, p->name, p->type, p->help, s->v[p->id]);
	promtext_labelled(out, "upcased_connections_rejected_total",
	    "Connections accepted and then refused, by reason.",
	    promtext_rejected, s);
	promtext_labelled(out, "upcased_connections_closed_total",
	    "Stream connections closed, by reason.", promtext_closed, s);
	promtext_labelled(out, "upcased_accept_pauses_total",
	    "Times accepting paused, by reason.", promtext_pauses, s);
	promtext_head(out, "upcased_accept_paused_seconds_total", "counter",
	    "Time spent with accepting paused, by reason.");
	for (int i = 0; i < STATS_PAUSE__COUNT; i++)
		promtext_printf(out, "upcased_accept_paused_seconds_total"
		    "{reason=\"%s\"} %.6f\n", promtext_pause_reasons[i],
		    (double)s->paused_us[i] / 1e6);
	promtext_u64(out, "upcased_accepting", "gauge", "1 while accepting, 0 "
	    "while paused (max_conns, accept errors) or shutting down.",
	    (uint64_t)stats_accepting(s));
	promtext_labelled(out, "upcased_datagrams_dropped_total",
	    "UDP datagrams dropped, by reason.", promtext_dropped, s);
	promtext_lag(out, in->workers, in->nworkers);
	if (in->proc != NULL)
		promtext_process(out, in->proc);
	return o.failed ? -1 : 0;
}
