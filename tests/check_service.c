/* check_service.c: the pidfile's lock and hand-over, sd_notify datagrams,
 * and the sockets passed by the LISTEN_FDS protocol. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activation.h"
#include "notify.h"
#include "pidfile.h"
#include "check_main.h"

#define ERRLEN	512

static char dir[] = "/tmp/check_service.XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/check_service.XXXXXX")));
}

static void
teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static long
file_pid(const char *path)
{
	FILE *fp = fopen(path, "r");
	long pid = -1;

	if (fp != NULL) {
		if (fscanf(fp, "%ld", &pid) != 1)
			pid = -1;
		fclose(fp);
	}
	return pid;
}

/* Whether another process can lock path: fork, try, report. */
static int
lockable_elsewhere(const char *path)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_RDONLY);
		_exit(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

START_TEST(test_pidfile_written_locked_removed)
{
	char path[PATH_MAX], err[ERRLEN] = "";
	struct pidfile *pf;
	int running = -1;

	path_in_dir(path, sizeof(path), "u.pid");
	pf = pidfile_acquire(path, &running, err, sizeof(err));
	ck_assert_msg(pf != NULL, "acquire: %s", err);
	ck_assert_int_eq(running, 0);
	ck_assert_int_eq(pidfile_write(pf, err, sizeof(err)), 0);
	ck_assert_int_eq(file_pid(path), (long)getpid());
	ck_assert_msg(!lockable_elsewhere(path), "the written pidfile is locked");
	pidfile_release(pf);
	ck_assert_msg(access(path, F_OK) != 0, "removed at release");
}
END_TEST

/* A second process finds it locked: it is refused, the file untouched. */
START_TEST(test_pidfile_second_instance_refused)
{
	char path[PATH_MAX], err[ERRLEN] = "", want[PATH_MAX + 64];
	struct pidfile *pf;
	struct stat before, after;
	int running;
	pid_t pid;
	int st;

	path_in_dir(path, sizeof(path), "u.pid");
	pf = pidfile_acquire(path, &running, err, sizeof(err));
	ck_assert_msg(pf != NULL, "%s", err);
	ck_assert_int_eq(pidfile_write(pf, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &before), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char e[ERRLEN];
		int r;
		struct pidfile *again = pidfile_acquire(path, &r, e, sizeof(e));
		snprintf(want, sizeof(want), "pidfile %s: upcased already "
		    "running as pid %ld", path, (long)getppid());
		_exit(again == NULL && r == 1 && strcmp(e, want) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the second acquire is refused, naming the pid");
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert(before.st_ino == after.st_ino &&
	    before.st_mtime == after.st_mtime && after.st_size == before.st_size);
	ck_assert_int_eq(file_pid(path), (long)getpid());
	pidfile_release(pf);
}
END_TEST

START_TEST(test_pidfile_stale_replaced)
{
	char path[PATH_MAX], err[ERRLEN] = "";
	struct pidfile *pf;
	FILE *fp;
	int running;

	path_in_dir(path, sizeof(path), "u.pid");
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "999999\n");	/* nobody holds its lock */
	fclose(fp);
	pf = pidfile_acquire(path, &running, err, sizeof(err));
	ck_assert_msg(pf != NULL, "a stale pidfile is taken over: %s", err);
	ck_assert_int_eq(pidfile_write(pf, err, sizeof(err)), 0);
	ck_assert_int_eq(file_pid(path), (long)getpid());
	pidfile_release(pf);
}
END_TEST

/* A successor that inherited the descriptor rewrites the file; the
 * predecessor's release then leaves the successor's file alone, and the
 * lock never lapses on the way. */
START_TEST(test_pidfile_hand_over)
{
	char path[PATH_MAX], err[ERRLEN] = "";
	struct pidfile *old, *new;
	int running, fd;

	path_in_dir(path, sizeof(path), "u.pid");
	old = pidfile_acquire(path, &running, err, sizeof(err));
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(pidfile_write(old, err, sizeof(err)), 0);
	fd = dup(pidfile_fd(old));	/* what exec would pass on */
	new = pidfile_adopt(path, fd, err, sizeof(err));
	ck_assert_msg(new != NULL, "%s", err);
	ck_assert_msg(!lockable_elsewhere(path), "locked while handed over");
	ck_assert_int_eq(pidfile_write(new, err, sizeof(err)), 0);
	ck_assert_msg(!lockable_elsewhere(path), "locked after the rewrite");
	pidfile_release(old);
	ck_assert_msg(access(path, F_OK) == 0,
	    "the predecessor leaves the successor's pidfile");
	ck_assert_msg(!lockable_elsewhere(path), "still locked by the successor");
	pidfile_release(new);
	ck_assert_msg(access(path, F_OK) != 0, "the successor removes it");
}
END_TEST

/* A successor that fails before it rewrites the pidfile leaves it to its
 * predecessor, which still serves: named, and locked. */
START_TEST(test_pidfile_adopted_not_rewritten_is_left)
{
	char path[PATH_MAX], err[ERRLEN] = "";
	struct pidfile *old, *new;
	int running;

	path_in_dir(path, sizeof(path), "u.pid");
	old = pidfile_acquire(path, &running, err, sizeof(err));
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(pidfile_write(old, err, sizeof(err)), 0);
	new = pidfile_adopt(path, dup(pidfile_fd(old)), err, sizeof(err));
	ck_assert_msg(new != NULL, "%s", err);
	pidfile_release(new);
	ck_assert_msg(access(path, F_OK) == 0,
	    "a successor that never served leaves the pidfile");
	ck_assert_int_eq(file_pid(path), (long)getpid());
	ck_assert_msg(!lockable_elsewhere(path), "still locked by its owner");
	pidfile_release(old);
	ck_assert_msg(access(path, F_OK) != 0, "its owner removes it");
}
END_TEST

START_TEST(test_pidfile_unwritable_dir)
{
	char err[ERRLEN] = "";
	int running;

	ck_assert_ptr_null(pidfile_acquire("/nonexistent-dir/u.pid", &running,
	    err, sizeof(err)));
	ck_assert_msg(strstr(err, "pidfile /nonexistent-dir/u.pid: No such "
	    "file or directory") != NULL, "got \"%s\"", err);
	ck_assert_int_eq(running, 0);
}
END_TEST

/* A datagram receiver bound where NOTIFY_SOCKET says. */
static int
receiver(const char *where, int abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sun.sun_path, where);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(where));
	if (abstract)
		sun.sun_path[0] = '\0';
	else
		len++;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

static void
expect_datagram(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	ck_assert_msg(n >= 0, "no datagram: %s", strerror(errno));
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

START_TEST(test_notify_path_and_abstract)
{
	char path[PATH_MAX], at[64];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	notify_init();
	ck_assert(!notify_enabled());
	ck_assert_int_eq(notify_send("READY=1"), 0);	/* no-op */

	path_in_dir(path, sizeof(path), "notify");
	fd = receiver(path, 0);
	setenv("NOTIFY_SOCKET", path, 1);
	notify_init();
	ck_assert(notify_enabled());
	ck_assert_msg(getenv("NOTIFY_SOCKET") == NULL, "unset for children");
	ck_assert_str_eq(notify_socket(), path);
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=serving %d", 3), 0);
	expect_datagram(fd, "READY=1\nSTATUS=serving 3");
	close(fd);

	snprintf(at, sizeof(at), "@check_service.%ld", (long)getpid());
	fd = receiver(at, 1);
	setenv("NOTIFY_SOCKET", at, 1);
	notify_init();
	ck_assert_int_eq(notify_send("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	close(fd);
}
END_TEST

START_TEST(test_notify_watchdog)
{
	char pid[32];

	setenv("WATCHDOG_USEC", "3000000", 1);
	unsetenv("WATCHDOG_PID");
	notify_init();
	ck_assert_uint_eq(notify_watchdog_usec(), 3000000);
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	setenv("WATCHDOG_USEC", "3000000", 1);
	setenv("WATCHDOG_PID", "1", 1);		/* someone else's */
	notify_init();
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_USEC", "500000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	notify_init();
	ck_assert_uint_eq(notify_watchdog_usec(), 500000);
}
END_TEST

/* Descriptors 3.. are rearranged below, and Check's own are among them:
 * each activation case runs in a child of its own, checks with MUST (no
 * ck_assert: that writes to Check's descriptor) and reports by its exit
 * status, the failed line on stderr. */
#define MUST_MSG(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);		\
		fprintf(stderr, __VA_ARGS__);				\
		fprintf(stderr, "\n");					\
		_exit(1);						\
	}								\
} while (0)
#define MUST(cond)		MUST_MSG(cond, "%s", #cond)
#define MUST_EQ(a, b)		MUST_MSG((a) == (b), "%s == %s", #a, #b)
#define MUST_NULL(p)		MUST_MSG((p) == NULL, "%s is NULL", #p)

/* Put fd at descriptor 3 + i, as a service manager does. */
static void
pass_as(int fd, int i)
{
	MUST_EQ(dup2(fd, ACTIVATION_FD_START + i), ACTIVATION_FD_START + i);
	close(fd);
}

static void
run_apart(void (*fn)(void))
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the case failed in its child (status %d; its stderr says "
	    "where)", st);
}

static void
activation_sockets(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct inherited in[4];
	struct addr want;
	char err[ERRLEN] = "", pid[32], buf[ADDR_STRLEN];
	int tcp, udp, ux, n;

	tcp = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	MUST_EQ(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	MUST_EQ(listen(tcp, 8), 0);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	MUST_EQ(bind(udp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ux = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/a.sock", dir);
	MUST_EQ(bind(ux, (struct sockaddr *)&sun, sizeof(sun)), 0);
	MUST_EQ(listen(ux, 8), 0);
	/* Move them out of the way first, then into 3, 4, 5. */
	tcp = fcntl(tcp, F_DUPFD, 100);
	udp = fcntl(udp, F_DUPFD, 100);
	ux = fcntl(ux, F_DUPFD, 100);
	for (int fd = 3; fd < 100; fd++)
		if (fd != tcp && fd != udp && fd != ux)
			close(fd);
	pass_as(tcp, 0);
	pass_as(udp, 1);
	pass_as(ux, 2);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "3", 1);
	/* Only a TCP socket can be the metrics listener. */
	setenv("LISTEN_FDNAMES", "metrics:metrics:unix", 1);
	n = activation_take(in, 4, err, sizeof(err));
	MUST_MSG(n == 3, "took %d: %s", n, err);
	MUST_NULL(getenv("LISTEN_FDS"));
	MUST_NULL(getenv("LISTEN_FDNAMES"));
	MUST(in[0].metrics);
	MUST(!in[1].metrics);
	MUST(!in[2].metrics);
	MUST_EQ(in[0].addr.kind, ADDR_TCP);
	MUST_EQ(in[1].addr.kind, ADDR_UDP);
	MUST_EQ(in[2].addr.kind, ADDR_UNIX);
	MUST(fcntl(3, F_GETFL) & O_NONBLOCK);
	MUST(fcntl(3, F_GETFD) & FD_CLOEXEC);

	/* Exact address first; port 0 then matches by kind and host. */
	MUST_EQ(addr_parse(addr_format(&in[0].addr, buf, sizeof(buf)),
	    &want, err, sizeof(err)), 0);
	/* The metrics socket is never a listener, and the other way round. */
	MUST_NULL(activation_match(in, n, &want, 0));
	MUST_EQ(activation_match(in, n, &want, 1), &in[0]);
	MUST_EQ(addr_parse("127.0.0.1:0", &want, err, sizeof(err)), 0);
	MUST_EQ(activation_match(in, n, &want, 1), &in[0]);
	in[0].metrics = 0;
	MUST_EQ(activation_match(in, n, &want, 0), &in[0]);
	MUST_NULL(activation_match(in, n, &want, 1));
	MUST_EQ(addr_parse("udp:127.0.0.1:0", &want, err,
	    sizeof(err)), 0);
	MUST_EQ(activation_match(in, n, &want, 0), &in[1]);
	in[1].claimed = 1;
	MUST_NULL(activation_match(in, n, &want, 0));
	MUST_EQ(addr_parse("127.0.0.2:0", &want, err, sizeof(err)), 0);
	MUST_NULL(activation_match(in, n, &want, 0));
	snprintf(buf, sizeof(buf), "unix:%s/a.sock", dir);
	MUST_EQ(addr_parse(buf, &want, err, sizeof(err)), 0);
	MUST_EQ(activation_match(in, n, &want, 0), &in[2]);
	snprintf(buf, sizeof(buf), "unix:%s/b.sock", dir);
	MUST_EQ(addr_parse(buf, &want, err, sizeof(err)), 0);
	MUST_NULL(activation_match(in, n, &want, 0));
}

START_TEST(test_activation_sockets)
{
	run_apart(activation_sockets);
}
END_TEST

static void
activation_not_ours_or_bad(void)
{
	struct inherited in[4];
	char err[ERRLEN] = "", pid[32];
	int fd;

	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "2", 1);
	MUST_EQ(activation_take(in, 4, err, sizeof(err)), 0);
	MUST_NULL(getenv("LISTEN_PID"));

	/* Descriptor 3 a regular file: refused, naming it. */
	fd = open("/dev/null", O_RDONLY);
	MUST_EQ(dup2(fd, 3), 3);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	MUST_EQ(activation_take(in, 4, err, sizeof(err)), -1);
	MUST_MSG(strstr(err, "inherited descriptor 3: not a socket") !=
	    NULL, "got \"%s\"", err);
}

START_TEST(test_activation_not_ours_or_bad)
{
	run_apart(activation_not_ours_or_bad);
}
END_TEST

static Suite *
service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("pidfile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pidfile_written_locked_removed);
	tcase_add_test(tc, test_pidfile_second_instance_refused);
	tcase_add_test(tc, test_pidfile_stale_replaced);
	tcase_add_test(tc, test_pidfile_hand_over);
	tcase_add_test(tc, test_pidfile_adopted_not_rewritten_is_left);
	tcase_add_test(tc, test_pidfile_unwritable_dir);
	suite_add_tcase(s, tc);
	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_notify_path_and_abstract);
	tcase_add_test(tc, test_notify_watchdog);
	suite_add_tcase(s, tc);
	tc = tcase_create("activation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_activation_sockets);
	tcase_add_test(tc, test_activation_not_ours_or_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(service_suite());
}
