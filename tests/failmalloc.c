/* failmalloc.c: an LD_PRELOAD shim that makes malloc, calloc and realloc
 * fail on demand, so that tests can watch a real upcased run out of
 * memory.
 *
 * Nothing fails until the shim is armed, so that start-up (the dynamic
 * loader, stdio, libevent's set-up) is never what breaks: a signal,
 * UPCASED_FAILMALLOC_SIGNAL (default SIGRTMIN+4; upcased leaves it
 * alone), arms it, and the same signal disarms it again.  Each change
 * writes one line to stderr, "failmalloc: armed" or "failmalloc:
 * disarmed: C calls, F failed", which is how a test knows it happened.
 * UPCASED_FAILMALLOC_ARMED=1 arms it from the start instead.
 *
 * Once armed, the calls are numbered from 0:
 *   UPCASED_FAILMALLOC_AFTER=N   the first N calls succeed (default 0)
 *   UPCASED_FAILMALLOC_EVERY=K   then every K-th call fails (default 1:
 *                                every one)
 *   UPCASED_FAILMALLOC_RANDOM=P  or instead each fails with probability
 *                                P per mille, drawn from
 *   UPCASED_FAILMALLOC_SEED=S    (default 1) and the call's number, so a
 *                                run is repeatable whatever the threads do
 *   UPCASED_FAILMALLOC_COUNT=M   at most M failures (default unlimited)
 *   UPCASED_FAILMALLOC_BACKTRACE=1  each failure writes its stack to
 *                                stderr (addresses; addr2line names them)
 * A failed call returns NULL with errno ENOMEM, as the real one would.
 * realloc(p, 0) and free are never failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's own allocator under its internal names: calling these instead
 * of dlsym(RTLD_NEXT, "malloc") avoids dlsym's own calloc. */
extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);

static atomic_int	failmalloc_armed;
static atomic_ulong	failmalloc_calls;
static atomic_ulong	failmalloc_failed;
static unsigned long	failmalloc_after;
static unsigned long	failmalloc_every = 1;
static unsigned long	failmalloc_count = ULONG_MAX;
static unsigned long	failmalloc_permille;
static uint64_t		failmalloc_seed = 1;
static int		failmalloc_backtrace;

static unsigned long
failmalloc_env(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoul(v, &end, 10);
	return *end == '\0' ? n : def;
}

/* splitmix64: a well-mixed 64-bit hash of the call's number. */
static uint64_t
failmalloc_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static void
failmalloc_say(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void)r;		/* nowhere to report a failed report */
}

/* Whether this call fails; numbers it if armed. */
static int
failmalloc_should_fail(void)
{
	unsigned long n, f;

	if (!atomic_load_explicit(&failmalloc_armed, memory_order_relaxed))
		return 0;
	n = atomic_fetch_add_explicit(&failmalloc_calls, 1,
	    memory_order_relaxed);
	if (n < failmalloc_after)
		return 0;
	if (failmalloc_permille > 0) {
		if (failmalloc_mix(failmalloc_seed ^ n) % 1000 >=
		    failmalloc_permille)
			return 0;
	} else if ((n - failmalloc_after) % failmalloc_every != 0)
		return 0;
	f = atomic_load_explicit(&failmalloc_failed, memory_order_relaxed);
	do {
		if (f >= failmalloc_count)
			return 0;
	} while (!atomic_compare_exchange_weak(&failmalloc_failed, &f, f + 1));
	if (failmalloc_backtrace) {
		void *frames[32];

		failmalloc_say("failmalloc: failing this call:\n");
		backtrace_symbols_fd(frames, backtrace(frames, 32),
		    STDERR_FILENO);
	}
	return 1;
}

void *
malloc(size_t n)
{
	if (failmalloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	if (failmalloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	if (n > 0 && failmalloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

/* Decimal digits of v at the end of buf; returns where they start
 * (async-signal-safe, unlike snprintf). */
static char *
failmalloc_utoa(unsigned long v, char *end)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return end;
}

static void
failmalloc_toggle(int sig)
{
	char a[24], b[24];
	int saved = errno;

	(void)sig;
	if (atomic_load(&failmalloc_armed)) {
		atomic_store(&failmalloc_armed, 0);
		failmalloc_say("failmalloc: disarmed: ");
		failmalloc_say(failmalloc_utoa(atomic_load(&failmalloc_calls),
		    a + sizeof(a)));
		failmalloc_say(" calls, ");
		failmalloc_say(failmalloc_utoa(atomic_load(&failmalloc_failed),
		    b + sizeof(b)));
		failmalloc_say(" failed\n");
	} else {
		atomic_store(&failmalloc_calls, 0);
		atomic_store(&failmalloc_failed, 0);
		atomic_store(&failmalloc_armed, 1);
		failmalloc_say("failmalloc: armed\n");
	}
	errno = saved;
}

__attribute__((constructor)) static void
failmalloc_init(void)
{
	struct sigaction sa;
	int sig = (int)failmalloc_env("UPCASED_FAILMALLOC_SIGNAL",
	    (unsigned long)(SIGRTMIN + 4));

	failmalloc_after = failmalloc_env("UPCASED_FAILMALLOC_AFTER", 0);
	failmalloc_every = failmalloc_env("UPCASED_FAILMALLOC_EVERY", 1);
	if (failmalloc_every == 0)
		failmalloc_every = 1;
	failmalloc_count = failmalloc_env("UPCASED_FAILMALLOC_COUNT",
	    ULONG_MAX);
	failmalloc_permille = failmalloc_env("UPCASED_FAILMALLOC_RANDOM", 0);
	failmalloc_seed = failmalloc_env("UPCASED_FAILMALLOC_SEED", 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = failmalloc_toggle;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		failmalloc_say("failmalloc: cannot handle the arming signal\n");
	failmalloc_backtrace = (int)failmalloc_env("UPCASED_FAILMALLOC_BACKTRACE",
	    0);
	if (failmalloc_backtrace) {
		void *frame;

		backtrace(&frame, 1);	/* loads libgcc now, not when failing */
	}
	if (failmalloc_env("UPCASED_FAILMALLOC_ARMED", 0))
		atomic_store(&failmalloc_armed, 1);
}
