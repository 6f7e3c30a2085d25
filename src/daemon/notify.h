/* notify.h: the service manager's notification protocol (sd_notify(3)):
 * READY=1, RELOADING=1, STOPPING=1, WATCHDOG=1, STATUS=, MAINPID=, as
 * datagrams to $NOTIFY_SOCKET.  Without NOTIFY_SOCKET every call is a
 * no-op, so upcased runs the same with or without systemd. */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdint.h>

/* Read NOTIFY_SOCKET and WATCHDOG_USEC once, at start, and unset them so
 * that nothing we start inherits them.  A restart passes them on itself. */
void	notify_init(void);

/* Whether there is a service manager to tell. */
int	notify_enabled(void);

/* Send one message ("READY=1\nSTATUS=..."); printf-style.  Returns 0, or
 * -1 (errno set) if it could not be sent; no-op (0) when not enabled. */
int	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval the manager asked for, 0 if none: send WATCHDOG=1
 * at half of it.  Only honoured when WATCHDOG_PID is unset or ours. */
uint64_t notify_watchdog_usec(void);

/* The socket's address as given, for a successor's environment ("" if
 * none). */
const char *notify_socket(void);

#endif
