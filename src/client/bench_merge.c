/* bench_merge.c: upcase bench merge: the --json summaries of runs made at
 * the same time (from several machines) added up into one: counts, bytes,
 * errors, CPU time and rates summed, the longest duration, the
 * histograms merged exactly (never averaged percentiles), printed as
 * text or --json with the exit status the merged counts imply. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_merge.h"
#include "bench_report.h"
#include "exitcodes.h"
#include "hdr.h"
#include "json.h"

#define MERGE_MAX_JSON	(64 * 1024 * 1024)

/* The counters a summary carries, by their JSON names. */
static const struct {
	const char	*path;
	enum bench_ctr	 ctr;
} merge_ctrs[] = {
	{ "connections", BENCH_ESTABLISHED },
	{ "connections_held", BENCH_HELD },
	{ "messages", BENCH_MESSAGES },
	{ "bytes", BENCH_BYTES },
	{ "rx_drops", BENCH_RX_DROPS },
};

/* The rates a summary carries, by enum bench_rate. */
static const char *const merge_rates[BENCH_RATE__COUNT] = {
	[BENCH_RATE_MSGS] = "msgs_per_sec",
	[BENCH_RATE_BYTES] = "bytes_per_sec",
	[BENCH_RATE_CONNS] = "conns_per_sec",
};

struct merge {
	struct bench_opts	 opts;
	struct bench_result	 r;
	struct hist		*hist;
	uint64_t		 min, max;
	double			 weighted;	/* sum of mean x count, ns */
	int			 have_mode;
};

static char *
merge_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;
		if (n == cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			if (cap > MERGE_MAX_JSON ||
			    (nb = realloc(buf, cap + 1)) == NULL) {
				snprintf(err, errlen, "%s: too large", path);
				goto fail;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(fp);
	free(buf);
	return NULL;
}

/* A number the summary must have. */
static int
merge_num(const struct json_doc *d, const char *file, const char *path,
    double *v, char *err, size_t errlen)
{
	if (json_number(d, path, v) == 0)
		return 0;
	snprintf(err, errlen, "%s: no number \"%s\": not an upcase bench "
	    "--json summary", file, path);
	return -1;
}

static int
merge_count(const struct json_doc *d, const char *file, const char *path,
    uint64_t *v, char *err, size_t errlen)
{
	if (json_uint(d, path, v) == 0)
		return 0;
	snprintf(err, errlen, "%s: no count \"%s\": not an upcase bench "
	    "--json summary", file, path);
	return -1;
}

/* The run's kind (mode, transport, size, pipeline) must be the first's:
 * adding up runs of different kinds means nothing. */
static int
merge_kind(struct merge *m, const struct json_doc *d, const char *file,
    char *err, size_t errlen)
{
	const char *mode = json_string(d, "mode", NULL);
	const char *target = json_string(d, "target", NULL);
	const char *transport = json_string(d, "transport", NULL);
	double size, pipeline;
	int k;

	if (mode == NULL || target == NULL || transport == NULL) {
		snprintf(err, errlen, "%s: no mode, target or transport: not an "
		    "upcase bench --json summary", file);
		return -1;
	}
	if (merge_num(d, file, "size", &size, err, errlen) != 0 ||
	    merge_num(d, file, "pipeline", &pipeline, err, errlen) != 0)
		return -1;
	for (k = 0; k <= BENCH_IDLE && strcmp(mode, bench_report_modes[k]) != 0;
	    k++)
		;
	if (k > BENCH_IDLE) {
		snprintf(err, errlen, "%s: unknown mode \"%s\"", file, mode);
		return -1;
	}
	if (!m->have_mode) {
		m->have_mode = 1;
		m->opts.mode = (enum bench_mode)k;
		m->opts.size = (size_t)size;
		m->opts.pipeline = (int)pipeline;
		m->opts.addr.kind = strcmp(transport, "udp") == 0 ? ADDR_UDP :
		    strcmp(transport, "unix") == 0 ? ADDR_UNIX : ADDR_TCP;
		snprintf(m->opts.addr_text, sizeof(m->opts.addr_text), "%s",
		    target);
		return 0;
	}
	if ((int)m->opts.mode != k || (size_t)size != m->opts.size ||
	    (int)pipeline != m->opts.pipeline ||
	    (m->opts.addr.kind == ADDR_UDP) != (strcmp(transport, "udp") == 0)) {
		snprintf(err, errlen, "%s: a %s %s run of -s %.0f --pipeline %.0f "
		    "cannot be added to a %s run of -s %zu --pipeline %d", file,
		    transport, mode, size, pipeline,
		    bench_report_modes[m->opts.mode], m->opts.size,
		    m->opts.pipeline);
		return -1;
	}
	if (strcmp(target, m->opts.addr_text) != 0)
		snprintf(m->opts.addr_text, sizeof(m->opts.addr_text),
		    "several targets");
	return 0;
}

static int
merge_latency(struct merge *m, const struct json_doc *d, const char *file,
    char *err, size_t errlen)
{
	struct hist *h = hist_new();
	const char *text;
	double min, max, mean;
	uint64_t count;
	size_t len;
	char why[128];
	int rc = -1;

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((text = json_string(d, "histogram", &len)) == NULL) {
		snprintf(err, errlen, "%s: no \"histogram\" (an upcase bench "
		    "--json summary of an older version?)", file);
		goto out;
	}
	if (hdr_decode(text, len, h, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: histogram: %s", file, why);
		goto out;
	}
	if (merge_count(d, file, "latency_us.count", &count, err, errlen) != 0 ||
	    merge_num(d, file, "latency_us.min", &min, err, errlen) != 0 ||
	    merge_num(d, file, "latency_us.max", &max, err, errlen) != 0 ||
	    merge_num(d, file, "latency_us.mean", &mean, err, errlen) != 0)
		goto out;
	if (hist_count(h) != count) {
		snprintf(err, errlen, "%s: the histogram holds %llu latencies, "
		    "latency_us.count says %llu", file,
		    (unsigned long long)hist_count(h),
		    (unsigned long long)count);
		goto out;
	}
	if (count > 0) {
		uint64_t lo = (uint64_t)(min * 1e3 + 0.5);
		uint64_t hi = (uint64_t)(max * 1e3 + 0.5);
		if (hist_count(m->hist) == 0 || lo < m->min)
			m->min = lo;
		if (hi > m->max)
			m->max = hi;
		m->weighted += mean * 1e3 * (double)count;
	}
	hist_merge(m->hist, h);
	rc = 0;
out:
	hist_free(h);
	return rc;
}

static int
merge_one(struct merge *m, const char *file, char *err, size_t errlen)
{
	struct json_doc *d;
	char *text, why[128];
	size_t len;
	double v, busy;
	uint64_t u;
	int interrupted, rc = -1;

	if ((text = merge_slurp(file, &len, err, errlen)) == NULL)
		return -1;
	d = json_parse(text, len, why, sizeof(why));
	free(text);
	if (d == NULL) {
		snprintf(err, errlen, "%s: not JSON: %s", file, why);
		return -1;
	}
	if (merge_kind(m, d, file, err, errlen) != 0 ||
	    merge_latency(m, d, file, err, errlen) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(merge_ctrs) / sizeof(merge_ctrs[0]); i++) {
		if (merge_count(d, file, merge_ctrs[i].path, &u, err,
		    errlen) != 0)
			goto out;
		m->r.ctr[merge_ctrs[i].ctr] += u;
	}
	for (int k = 0; k < BENCH_ERR__COUNT; k++) {
		char path[64];

		snprintf(path, sizeof(path), "errors_by_kind.%s",
		    bench_err_names[k]);
		if (merge_count(d, file, path, &u, err, errlen) != 0)
			goto out;
		m->r.ctr[BENCH_ERRORS + k] += u;
	}
	if (merge_num(d, file, "duration_s", &v, err, errlen) != 0)
		goto out;
	if (v > m->r.duration_s)
		m->r.duration_s = v;
	for (int k = 0; k < BENCH_RATE__COUNT; k++) {
		if (merge_num(d, file, merge_rates[k], &v, err, errlen) != 0)
			goto out;
		m->r.rates[k] += v;
	}
	if (merge_num(d, file, "threads", &v, err, errlen) != 0)
		goto out;
	m->r.threads += (int)v;
	if (merge_num(d, file, "connections_requested", &v, err, errlen) != 0)
		goto out;
	m->opts.conns += (int)v;
	if (json_number(d, "rate", &v) == 0)
		m->opts.rate += v;
	/* The strictest --max-loss of the runs holds for their sum. */
	if (json_number(d, "max_loss_pct", &v) == 0 &&
	    (m->r.runs == 0 || v < m->opts.max_loss))
		m->opts.max_loss = v;
	if (json_number(d, "client_cpu_s", &v) == 0)
		m->r.cpu_s += v;
	if (json_number(d, "client_busy_pct", &busy) == 0 &&
	    busy / 100 > m->r.busy)
		m->r.busy = busy / 100;
	if (json_bool(d, "interrupted", &interrupted) == 0 && interrupted)
		m->r.interrupted = 1;
	if (m->r.mismatch_conn < 0 &&
	    json_type(d, "first_mismatch") == JSON_OBJECT) {
		double f[6];
		static const char *const keys[] = { "first_mismatch.connection",
		    "first_mismatch.reply", "first_mismatch.byte",
		    "first_mismatch.offset", "first_mismatch.got",
		    "first_mismatch.want" };
		for (int i = 0; i < 6; i++)
			if (merge_num(d, file, keys[i], &f[i], err, errlen) != 0)
				goto out;
		m->r.mismatch_conn = (int)f[0];
		m->r.mismatch.msg = (uint64_t)f[1];
		m->r.mismatch.at = (size_t)f[2];
		m->r.mismatch.offset = (uint64_t)f[3];
		m->r.mismatch.got = (unsigned char)f[4];
		m->r.mismatch.want = (unsigned char)f[5];
	}
	m->r.runs++;
	rc = 0;
out:
	json_free(d);
	return rc;
}

static const char merge_usage[] =
"usage: upcase bench merge [--json] A.json B.json ...\n"
"Add up the --json summaries of upcase bench runs made at the same time\n"
"(runs of one mode, transport, -s and --pipeline): counts, bytes, errors\n"
"and rates summed, the longest duration, the histograms merged exactly.\n"
"Prints the summary (text, or one JSON object with --json) and exits with\n"
"the status the merged counts imply, as one run would.\n";

int
bench_merge_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct merge m;
	char err[BENCH_ERRLEN * 2];
	int ch, json = 0, status = EXIT_SOFTWARE;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(merge_usage, stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "upcase bench merge: %s: unknown option\n"
			    "Try 'upcase bench merge --help'.\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "upcase bench merge: no summaries to merge\n"
		    "Try 'upcase bench merge --help'.\n");
		return EXIT_USAGE;
	}
	memset(&m, 0, sizeof(m));
	m.r.mismatch_conn = -1;
	if ((m.hist = hist_new()) == NULL) {
		fprintf(stderr, "upcase bench merge: out of memory\n");
		return EXIT_SOFTWARE;
	}
	for (int i = optind; i < argc; i++)
		if (merge_one(&m, argv[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "upcase bench merge: %s\n", err);
			status = EXIT_USAGE;
			goto out;
		}
	/* The exact extremes and mean the runs measured, not buckets'. */
	if (hist_count(m.hist) > 0)
		hist_set_exact(m.hist, m.min, m.max,
		    m.weighted / (double)hist_count(m.hist));
	m.r.opts = &m.opts;
	m.r.hist = m.hist;
	if (json)
		bench_report_json(stdout, &m.r);
	else
		bench_report_text(stdout, &m.r);
	fflush(stdout);
	status = bench_report_status(&m.r);
out:
	hist_free(m.hist);
	return status;
}
