/* bench_report.c: the numbers a person reads (text) and a script reads
 * (one JSON object), from the same result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_report.h"
#include "hdr.h"
#include "exitcodes.h"

const char *const bench_report_modes[BENCH_IDLE + 1] = {
	[BENCH_CLOSED] = "closed",
	[BENCH_RATE] = "rate",
	[BENCH_CHURN] = "churn",
	[BENCH_IDLE] = "idle",
};

uint64_t
bench_report_errors(const uint64_t ctr[BENCH_CTR__COUNT])
{
	uint64_t n = 0;

	for (int k = 0; k < BENCH_ERR__COUNT; k++)
		n += ctr[BENCH_ERRORS + k];
	return n;
}

double
bench_report_loss_pct(const uint64_t ctr[BENCH_CTR__COUNT])
{
	uint64_t lost = ctr[BENCH_ERRORS + BENCH_ERR_LOST];
	uint64_t sent = lost + ctr[BENCH_MESSAGES];

	return sent > 0 ? 100.0 * (double)lost / (double)sent : 0.0;
}

int
bench_report_status(const struct bench_result *r)
{
	const uint64_t *e = r->ctr + BENCH_ERRORS;

	/* Wrong bytes are the worst news, then lost connections, then
	 * slowness: the same statuses as upcase's other modes. */
	if (e[BENCH_ERR_MISMATCH] > 0 || e[BENCH_ERR_EXTRA] > 0)
		return EXIT_VERIFY;
	if (e[BENCH_ERR_CONNECT] > 0 || e[BENCH_ERR_SHORT] > 0 ||
	    e[BENCH_ERR_RESET] > 0 || e[BENCH_ERR_CLOSE] > 0 ||
	    e[BENCH_ERR_IO] > 0)
		return EXIT_CONNECT;
	if (e[BENCH_ERR_TIMEOUT] > 0 || e[BENCH_ERR_UNSENT] > 0)
		return EXIT_TIMEOUT;
	/* Datagrams may be lost on the way: up to --max-loss is no failure. */
	if (e[BENCH_ERR_LOST] > 0 &&
	    bench_report_loss_pct(r->ctr) > r->opts->max_loss)
		return EXIT_TIMEOUT;
	return EXIT_OK;
}

/* "850us", "12.3ms", "1.25s": three significant digits or so. */
static char *
fmt_latency(uint64_t ns, char *buf, size_t len)
{
	double us = (double)ns / 1e3;

	if (us < 1000)
		snprintf(buf, len, "%.*fus", us < 10 ? 1 : 0, us);
	else if (us < 1e6)
		snprintf(buf, len, "%.*fms", us < 1e4 ? 2 : 1, us / 1e3);
	else
		snprintf(buf, len, "%.2fs", us / 1e6);
	return buf;
}

static double
per_sec(uint64_t n, double secs)
{
	return secs > 0 ? (double)n / secs : 0.0;
}

/* A rate of the run: n over its duration, or for a merge the sum of the
 * runs' own rates. */
static double
report_rate(const struct bench_result *r, enum bench_rate which, uint64_t n)
{
	return r->runs > 0 ? r->rates[which] : per_sec(n, r->duration_s);
}

void
bench_report_text(FILE *fp, const struct bench_result *r)
{
	const struct bench_opts *o = r->opts;
	const uint64_t *c = r->ctr, *e = r->ctr + BENCH_ERRORS;
	static const double pcts[] = { 50, 90, 99, 99.9 };
	static const char *const pct_names[] = { "p50", "p90", "p99", "p99.9" };
	uint64_t errors = bench_report_errors(c);
	int udp = o->addr.kind == ADDR_UDP;
	const char *conns = udp ? "sockets" : "connections";
	char buf[32];

	fprintf(fp, "upcase bench: %s, ", o->addr_text);
	switch (o->mode) {
	case BENCH_CLOSED:
		fprintf(fp, "closed loop, %d %s, pipeline %d, ", o->conns,
		    conns, o->pipeline);
		break;
	case BENCH_RATE:
		fprintf(fp, "open loop at %.0f msgs/s, %d %s, ", o->rate,
		    o->conns, conns);
		break;
	case BENCH_CHURN:
		fprintf(fp, "churn, %d at a time, ", o->conns);
		break;
	case BENCH_IDLE:
		fprintf(fp, "idle, %d connections, ", o->conns);
		break;
	}
	fprintf(fp, "%d thread%s, %.2f s%s", r->threads,
	    r->threads == 1 ? "" : "s", r->duration_s,
	    r->interrupted ? " (interrupted)" : "");
	if (r->runs > 0)
		fprintf(fp, " (%d run%s merged)", r->runs,
		    r->runs == 1 ? "" : "s");
	fprintf(fp, "\n");

	if (o->mode == BENCH_IDLE)
		fprintf(fp, "connections  %llu of %d established, %llu held to "
		    "the end, %llu failed\n", (unsigned long long)c[BENCH_ESTABLISHED],
		    o->conns, (unsigned long long)c[BENCH_HELD],
		    (unsigned long long)e[BENCH_ERR_CONNECT]);
	else if (o->mode == BENCH_CHURN)
		fprintf(fp, "connections  %llu ok (%.1f/s), %llu failed\n",
		    (unsigned long long)c[BENCH_ESTABLISHED],
		    report_rate(r, BENCH_RATE_CONNS, c[BENCH_ESTABLISHED]),
		    (unsigned long long)e[BENCH_ERR_CONNECT]);
	else
		fprintf(fp, "%-12s %llu ok, %llu failed\n", conns,
		    (unsigned long long)c[BENCH_ESTABLISHED],
		    (unsigned long long)e[BENCH_ERR_CONNECT]);

	if (o->mode != BENCH_IDLE) {
		fprintf(fp, "messages     %llu of %zu bytes (%.1f/s), %.2f MB "
		    "each way (%.2f MB/s)\n",
		    (unsigned long long)c[BENCH_MESSAGES], o->size,
		    report_rate(r, BENCH_RATE_MSGS, c[BENCH_MESSAGES]),
		    (double)c[BENCH_BYTES] / 1e6,
		    report_rate(r, BENCH_RATE_BYTES, c[BENCH_BYTES]) / 1e6);
		fprintf(fp, "latency     ");
		if (hist_count(r->hist) == 0)
			fprintf(fp, " none measured");
		for (size_t i = 0; hist_count(r->hist) > 0 &&
		    i < sizeof(pcts) / sizeof(pcts[0]); i++)
			fprintf(fp, " %s %s", pct_names[i], fmt_latency(
			    hist_percentile(r->hist, pcts[i]), buf, sizeof(buf)));
		if (hist_count(r->hist) > 0)
			fprintf(fp, " max %s", fmt_latency(hist_max(r->hist),
			    buf, sizeof(buf)));
		fprintf(fp, "%s\n", o->mode == BENCH_CHURN ?
		    " (connect + exchange)" : o->mode == BENCH_RATE ?
		    " (from the scheduled send)" : "");
	}
	if (udp) {
		fprintf(fp, "lost         %llu of %llu datagrams (%.3f%%, "
		    "--max-loss %g%%)", (unsigned long long)e[BENCH_ERR_LOST],
		    (unsigned long long)(e[BENCH_ERR_LOST] + c[BENCH_MESSAGES]),
		    bench_report_loss_pct(c), o->max_loss);
		if (c[BENCH_RX_DROPS] > 0)
			fprintf(fp, ", %llu dropped by bench's own sockets",
			    (unsigned long long)c[BENCH_RX_DROPS]);
		fprintf(fp, "\n");
	}

	fprintf(fp, "client       %.2f s of CPU", r->cpu_s);
	if (c[BENCH_MESSAGES] > 0)
		fprintf(fp, " (%.2f us per message)", r->cpu_s * 1e6 /
		    (double)c[BENCH_MESSAGES]);
	fprintf(fp, ", busiest thread %.0f%% of the run%s\n", r->busy * 100,
	    r->busy > BENCH_CPU_BOUND ? ": CPU-bound" : "");
	fprintf(fp, "errors       ");
	if (errors == 0)
		fprintf(fp, "none");
	else {
		const char *sep = "";
		fprintf(fp, "%llu (", (unsigned long long)errors);
		for (int k = 0; k < BENCH_ERR__COUNT; k++) {
			if (e[k] == 0)
				continue;
			fprintf(fp, "%s%s %llu", sep, bench_err_names[k],
			    (unsigned long long)e[k]);
			sep = ", ";
		}
		fprintf(fp, ")");
	}
	fprintf(fp, "\n");
	if (r->mismatch_conn >= 0)
		fprintf(fp, "first wrong byte: connection %d, reply %llu byte "
		    "%zu (stream offset %llu): got 0x%02x, want 0x%02x\n",
		    r->mismatch_conn, (unsigned long long)r->mismatch.msg,
		    r->mismatch.at, (unsigned long long)r->mismatch.offset,
		    r->mismatch.got, r->mismatch.want);
}

/* s as a JSON string, quoted and escaped. */
static void
report_json_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(fp, "\\u%04x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

static double
us(uint64_t ns)
{
	return (double)ns / 1e3;
}

void
bench_report_json(FILE *fp, const struct bench_result *r)
{
	const struct bench_opts *o = r->opts;
	const uint64_t *c = r->ctr, *e = r->ctr + BENCH_ERRORS;
	const struct hist *h = r->hist;
	char *text;

	fprintf(fp, "{\"mode\":\"%s\",\"target\":", bench_report_modes[o->mode]);
	report_json_string(fp, o->addr_text);
	fprintf(fp, ",\"threads\":%d,\"size\":%zu,\"pipeline\":%d",
	    r->threads, o->size, o->pipeline);
	if (o->mode == BENCH_RATE)
		fprintf(fp, ",\"rate\":%.3f", o->rate);
	else
		fprintf(fp, ",\"rate\":null");
	fprintf(fp, ",\"connections\":%llu,\"connections_failed\":%llu"
	    ",\"connections_requested\":%d,\"connections_held\":%llu"
	    ",\"conns_per_sec\":%.3f",
	    (unsigned long long)c[BENCH_ESTABLISHED],
	    (unsigned long long)e[BENCH_ERR_CONNECT], o->conns,
	    (unsigned long long)c[BENCH_HELD],
	    report_rate(r, BENCH_RATE_CONNS, c[BENCH_ESTABLISHED]));
	fprintf(fp, ",\"messages\":%llu,\"bytes\":%llu,\"duration_s\":%.6f"
	    ",\"msgs_per_sec\":%.3f,\"bytes_per_sec\":%.3f",
	    (unsigned long long)c[BENCH_MESSAGES],
	    (unsigned long long)c[BENCH_BYTES], r->duration_s,
	    report_rate(r, BENCH_RATE_MSGS, c[BENCH_MESSAGES]),
	    report_rate(r, BENCH_RATE_BYTES, c[BENCH_BYTES]));
	fprintf(fp, ",\"latency_us\":{\"count\":%llu,\"min\":%.3f,\"mean\":%.3f"
	    ",\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
	    (unsigned long long)hist_count(h), us(hist_min(h)),
	    hist_mean(h) / 1e3, us(hist_percentile(h, 50)),
	    us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
	    us(hist_percentile(h, 99.9)), us(hist_max(h)));
	text = hdr_encode(h);
	fprintf(fp, ",\"histogram\":");
	if (text != NULL)
		report_json_string(fp, text);
	else
		fprintf(fp, "null");
	free(text);
	fprintf(fp, ",\"client_cpu_s\":%.6f,\"client_busy_pct\":%.3f",
	    r->cpu_s, r->busy * 100);
	fprintf(fp, ",\"errors\":%llu,\"mismatches\":%llu,\"timeouts\":%llu",
	    (unsigned long long)bench_report_errors(c),
	    (unsigned long long)e[BENCH_ERR_MISMATCH],
	    (unsigned long long)e[BENCH_ERR_TIMEOUT]);
	if (o->addr.kind == ADDR_UDP)
		fprintf(fp, ",\"transport\":\"udp\",\"loss_pct\":%.6f"
		    ",\"max_loss_pct\":%g,\"rx_drops\":%llu",
		    bench_report_loss_pct(c), o->max_loss,
		    (unsigned long long)c[BENCH_RX_DROPS]);
	else
		fprintf(fp, ",\"transport\":\"%s\",\"loss_pct\":null"
		    ",\"max_loss_pct\":null,\"rx_drops\":0",
		    o->addr.kind == ADDR_UNIX ? "unix" : "tcp");
	fprintf(fp, ",\"errors_by_kind\":{");
	for (int k = 0; k < BENCH_ERR__COUNT; k++)
		fprintf(fp, "%s\"%s\":%llu", k ? "," : "", bench_err_names[k],
		    (unsigned long long)e[k]);
	fprintf(fp, "}");
	if (r->mismatch_conn >= 0)
		fprintf(fp, ",\"first_mismatch\":{\"connection\":%d,\"reply\":%llu"
		    ",\"byte\":%zu,\"offset\":%llu,\"got\":%u,\"want\":%u}",
		    r->mismatch_conn, (unsigned long long)r->mismatch.msg,
		    r->mismatch.at, (unsigned long long)r->mismatch.offset,
		    r->mismatch.got, r->mismatch.want);
	else
		fprintf(fp, ",\"first_mismatch\":null");
	fprintf(fp, ",\"runs\":%d", r->runs > 0 ? r->runs : 1);
	fprintf(fp, ",\"interrupted\":%s,\"exit_status\":%d}\n",
	    r->interrupted ? "true" : "false", bench_report_status(r));
}

void
bench_report_progress(FILE *fp, int tty, const struct bench_opts *o,
    const struct bench_progress *p)
{
	char buf[32];

	fprintf(fp, "%s%6.1fs", tty ? "\r" : "", p->elapsed_s);
	switch (o->mode) {
	case BENCH_IDLE:
		fprintf(fp, "  open %llu", (unsigned long long)p->open);
		break;
	case BENCH_CHURN:
		fprintf(fp, "  conns/s %.0f", p->conns_per_sec);
		__attribute__((fallthrough));	/* gcc and clang both read it */
	default:
		fprintf(fp, "  msgs/s %.0f  MB/s %.2f  p99 %s", p->msgs_per_sec,
		    p->bytes_per_sec / 1e6, p->p99_ns ?
		    fmt_latency(p->p99_ns, buf, sizeof(buf)) : "-");
		break;
	}
	fprintf(fp, "  errors %llu%s", (unsigned long long)p->errors,
	    tty ? "\033[K" : "\n");
	fflush(fp);
}
