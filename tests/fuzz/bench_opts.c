/* bench_opts.c (fuzz): upcase bench's command line.  The bytes are the
 * arguments after "bench", one per line (a NUL ends one too).  A command
 * line that parses gives options within their documented ranges, and
 * written back as a canonical command line it parses to the same options;
 * one that is refused says why. */
#include <math.h>
#include <stdarg.h>

#include "fuzz.h"
#include "addrs.h"
#include "bench_opts.h"
#include "timeout.h"

#define MAX_ARGS	64

static char fuzz_argv0[] = "bench";

/* Split data into argv after argv[0]; the strings live in buf. */
static int
fuzz_bench_split(const uint8_t *data, size_t size, char *buf, char **argv)
{
	int argc = 0;

	argv[argc++] = fuzz_argv0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0, start = 0; i <= size && argc < MAX_ARGS; i++) {
		if (i == size || buf[i] == '\n' || buf[i] == '\0') {
			buf[i] = '\0';
			if (i > start || i < size)
				argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	return argc;
}

/* Each option bench_opts_parse reads, written back; what the mode does
 * not allow is left out, as a user would. */
struct fuzz_args {
	char	*argv[40];
	char	 text[40][ADDR_STRLEN];	/* text[i] backs argv[i] */
	int	 argc;
};

static void
fuzz_word(struct fuzz_args *a, const char *word)
{
	snprintf(a->text[a->argc], sizeof(a->text[0]), "%s", word);
	a->argv[a->argc] = a->text[a->argc];
	a->argv[++a->argc] = NULL;
}

/* An option, and its value printed with fmt unless fmt is NULL. */
static void
fuzz_arg(struct fuzz_args *a, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fuzz_arg(struct fuzz_args *a, const char *opt, const char *fmt, ...)
{
	char value[ADDR_STRLEN];
	va_list ap;

	fuzz_word(a, opt);
	if (fmt == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	fuzz_word(a, value);
}

static void
fuzz_bench_canonical(const struct bench_opts *o, struct fuzz_args *a)
{
	char t[TIMEOUT_STRLEN];

	a->argc = 0;
	fuzz_word(a, "bench");
	if (o->mode == BENCH_IDLE)
		fuzz_arg(a, "--idle", "%d", o->conns);
	else {
		fuzz_arg(a, "-c", "%d", o->conns);
		fuzz_arg(a, "-s", "%zu", o->size);
	}
	if (o->mode == BENCH_CLOSED || o->mode == BENCH_RATE)
		fuzz_arg(a, "--pipeline", "%d", o->pipeline);
	if (o->duration_us != 0)
		fuzz_arg(a, "-d", "%s", timeout_format((timeout_us)o->duration_us,
		    t, sizeof(t)));
	if (o->total != 0 && o->mode != BENCH_IDLE)
		fuzz_arg(a, "-n", "%llu", (unsigned long long)o->total);
	fuzz_arg(a, "-t", "%s", timeout_format((timeout_us)o->timeout_us, t,
	    sizeof(t)));
	fuzz_arg(a, "-T", "%d", o->threads);
	if (o->connect_rate > 0)
		fuzz_arg(a, "--connect-rate", "%.17g", o->connect_rate);
	if (o->mode == BENCH_RATE)
		fuzz_arg(a, "--rate", "%.17g", o->rate);
	if (o->mode == BENCH_CHURN)
		fuzz_arg(a, "--churn", NULL);
	if (o->sources != 0)
		fuzz_arg(a, "--sources", "%d", o->sources);
	fuzz_arg(a, "--seed", "%llu", (unsigned long long)o->seed);
	if (o->json)
		fuzz_arg(a, "--json", NULL);
	if (o->quiet)
		fuzz_arg(a, "-q", NULL);
	fuzz_word(a, "--");
	fuzz_word(a, o->addr_text);
}

static void
fuzz_bench_ranges(const struct bench_opts *o)
{
	FUZZ_CHECK(o->conns >= 1 && o->conns <= BENCH_MAX_CONNS, "conns %d",
	    o->conns);
	FUZZ_CHECK(o->threads >= 1 && o->threads <= BENCH_MAX_THREADS &&
	    o->threads <= o->conns, "threads %d for %d connections",
	    o->threads, o->conns);
	FUZZ_CHECK(o->size >= 1 && o->size <= BENCH_MAX_SIZE, "size %zu",
	    o->size);
	FUZZ_CHECK(o->pipeline >= 1 && o->pipeline <= BENCH_MAX_PIPELINE,
	    "pipeline %d", o->pipeline);
	FUZZ_CHECK(o->duration_us != 0 || o->total != 0, "neither a "
	    "duration nor a message count: the run would never end");
	FUZZ_CHECK(o->timeout_us >= 1, "timeout %llu us",
	    (unsigned long long)o->timeout_us);
	FUZZ_CHECK((o->mode == BENCH_RATE) == (o->rate > 0) &&
	    isfinite(o->rate) && o->rate <= 1e9, "mode %d with rate %g",
	    o->mode, o->rate);
	FUZZ_CHECK(o->connect_rate >= 0 && o->connect_rate <= 1e7,
	    "connect rate %g", o->connect_rate);
	FUZZ_CHECK(o->sources >= 0 && o->sources <= BENCH_MAX_SOURCES &&
	    (o->sources <= 1 || bench_opts_loopback4(&o->addr)),
	    "%d sources for %s", o->sources, o->addr_text);
	FUZZ_CHECK(!o->addr.any, "*:PORT taken to connect to: %s", o->addr_text);
}

static int
fuzz_bench_same(const struct bench_opts *a, const struct bench_opts *b)
{
	return a->mode == b->mode && fuzz_addr_equal(&a->addr, &b->addr) &&
	    strcmp(a->addr_text, b->addr_text) == 0 && a->conns == b->conns &&
	    a->duration_us == b->duration_us && a->total == b->total &&
	    a->size == b->size && a->pipeline == b->pipeline &&
	    a->threads == b->threads && a->connect_rate == b->connect_rate &&
	    a->rate == b->rate && a->timeout_us == b->timeout_us &&
	    a->seed == b->seed && a->sources == b->sources &&
	    a->json == b->json && a->quiet == b->quiet;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_args canon;
	struct bench_opts o, o2;
	char err[BENCH_ERRLEN] = "", *argv[MAX_ARGS + 1], *buf;
	int argc, rc;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	argc = fuzz_bench_split(data, size, buf, argv);
	rc = bench_opts_parse(&o, argc, argv, err, sizeof(err));
	FUZZ_CHECK(rc == BENCH_OPTS_RUN || rc == BENCH_OPTS_HELP ||
	    rc == BENCH_OPTS_ERROR, "bench_opts_parse returned %d", rc);
	if (rc == BENCH_OPTS_ERROR)
		FUZZ_CHECK_ERR(err, sizeof(err), "(the command line)");
	if (rc != BENCH_OPTS_RUN) {
		free(buf);
		return 0;
	}
	fuzz_bench_ranges(&o);
	fuzz_bench_canonical(&o, &canon);
	err[0] = '\0';
	rc = bench_opts_parse(&o2, canon.argc, canon.argv, err, sizeof(err));
	FUZZ_CHECK(rc == BENCH_OPTS_RUN, "the canonical command line "
	    "(mode %d, ADDR '%s') is refused: %s", o.mode, o.addr_text, err);
	FUZZ_CHECK(fuzz_bench_same(&o, &o2), "the canonical command line "
	    "(mode %d, ADDR '%s') parses to other options", o.mode,
	    o.addr_text);
	free(buf);
	return 0;
}
