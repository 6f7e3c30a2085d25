/* check_main.h: what every Check suite's main() does. */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Run one suite, print Check's report, and turn it into the exit status
 * automake's test driver reads. */
static inline int
check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Seconds on the monotonic clock, for deadlines. */
static inline double
check_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What was written to fd so far (a suite's stderr, captured in a
 * temporary file), into buf: the tail, if it is longer. */
static inline const char *
check_log_tail(int fd, char *buf, size_t len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
	ssize_t n = pread(fd, buf, (size_t)(end - from), from);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

#endif
