/* notify.c: sd_notify's datagram protocol, written out: one AF_UNIX
 * SOCK_DGRAM datagram per message to the path in NOTIFY_SOCKET, or to an
 * abstract address when it starts with '@'.  No libsystemd needed. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;		/* 0: no manager to tell */
static char notify_path[sizeof(notify_addr.sun_path) + 1];
static uint64_t watchdog_usec;

void
notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	const char *wd = getenv("WATCHDOG_USEC"), *wdpid = getenv("WATCHDOG_PID");
	size_t n;

	notify_len = 0;
	watchdog_usec = 0;
	if (s != NULL && (s[0] == '/' || s[0] == '@') &&
	    (n = strlen(s)) < sizeof(notify_addr.sun_path)) {
		memset(&notify_addr, 0, sizeof(notify_addr));
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, s, n);
		if (s[0] == '@')
			notify_addr.sun_path[0] = '\0';	/* abstract */
		notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    n + (s[0] == '/'));
		strcpy(notify_path, s);
	}
	if (wd != NULL && (wdpid == NULL || atol(wdpid) == (long)getpid())) {
		char *end;
		unsigned long long v = strtoull(wd, &end, 10);
		if (*wd != '\0' && *end == '\0')
			watchdog_usec = v;
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int
notify_enabled(void)
{
	return notify_len != 0;
}

int
notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int fd, n;
	ssize_t sent;

	if (notify_len == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	sent = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (const struct sockaddr *)&notify_addr, notify_len);
	close(fd);
	return sent == n ? 0 : -1;
}

uint64_t
notify_watchdog_usec(void)
{
	return watchdog_usec;
}

const char *
notify_socket(void)
{
	return notify_len != 0 ? notify_path : "";
}
