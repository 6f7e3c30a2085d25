/* listeners.h: the set of listening sockets: bound from the listen
 * entries or passed at exec, served on the main loop (streams) or on
 * every worker's (UDP), paused and resumed in turn, changed by a reload,
 * handed to a successor, closed. */
#ifndef LISTENERS_H
#define LISTENERS_H

#include <event2/event.h>
#include <event2/listener.h>

#include "activation.h"
#include "settings.h"
#include "sock.h"
#include "stats.h"

struct worker;

/* One socket of a UDP listener, and the worker whose loop reads it. */
struct listener_udp {
	evutil_socket_t		 fd;
	int			 worker;
};

struct listener {
	struct listen_spec	 spec;	/* as configured: its identity */
	struct addr		 bound;	/* what it really is (port 0 resolved) */
	struct sock_file	 file;	/* unix: the socket file to remove */
	struct sock_file	 adopted;	/* a predecessor's: ours once we serve */
	struct evconnlistener	*lev;	/* stream */
	struct listener_udp	*udp;	/* UDP: a socket per worker */
	int			 nudp;
};

struct listeners {
	struct listener		 ls[SETTINGS_MAX_LISTEN];
	int			 n;
	unsigned		 next_first;	/* re-armed first next time */

	/* Sockets passed at exec, until claimed. */
	struct inherited	 inh[ACTIVATION_MAX];
	int			 ninh;
	int			 from_manager;	/* passed by a service manager */

	/* How to serve them: the main loop's callbacks. */
	struct event_base	*base;
	evconnlistener_cb	 accept_cb;
	evconnlistener_cb	 accept_proxy_cb;	/* proxy_protocol ones */
	evconnlistener_errorcb	 error_cb;
	void			*arg;
	/* UDP: the workers that read the sockets. */
	struct worker		**workers;
	int			 nworkers;
	int			 udp_rcvbuf;
};

/* Take what was passed at exec; from_manager: systemd's sockets, which are
 * the listeners (an entry that names none is not bound), else our own
 * restart's (the entries decide, new ones are bound).  Returns 0 or -1
 * (logged). */
int	listeners_inherit(struct listeners *L, int from_manager);

/* Open and serve every listen entry of cfg, logging "listening on" for
 * each.  Returns 0, or -1 (logged) with what was opened still open. */
int	listeners_open_all(struct listeners *L, const struct settings *cfg);

/* Open one entry (a reload's addition).  Returns 0 or -1 (logged). */
int	listeners_open(struct listeners *L, const struct settings *cfg,
	    const struct listen_spec *spec);

/* The listener configured as spec (address and options), or -1. */
int	listeners_find(const struct listeners *L, const struct listen_spec *spec);

/* Close listener i; remove_file: its unix socket file too, before the
 * close (once closed, a successor may bind the path). */
void	listeners_close(struct listeners *L, int i, int remove_file);
void	listeners_close_all(struct listeners *L, int remove_files);

/* Enable or disable every stream listener, each resume starting one
 * further on.  Main loop only. */
void	listeners_set(struct listeners *L, int on);

/* A new receive buffer for every UDP listener. */
void	listeners_set_udp_rcvbuf(struct listeners *L, int bytes);

/* A new backlog for every stream listener (listen(2) again). */
void	listeners_set_backlog(struct listeners *L, int backlog);

/* At shutdown: accept what waits in the queues (up to backlog each), and
 * give each to take(), as the accept callbacks get them.  seal: the
 * sockets are ours alone (not a successor's, not a service manager's):
 * the kernel stops completing new connections on them first. */
typedef void (*listeners_take_fn)(void *arg, evutil_socket_t fd,
	    const struct sockaddr *sa, socklen_t len, int proxy);
void	listeners_drain(struct listeners *L, int backlog, int seal,
	    listeners_take_fn take, void *arg);

/* The passed socket named for the metrics listener at want (see
 * activation_match), now the caller's; -1 if none.  Before
 * listeners_open_all(), which closes what nobody claimed. */
int	listeners_take_metrics(struct listeners *L, const struct addr *want);

/* We serve now: the unix socket files our predecessor handed over are
 * ours to remove at exit.  Until then (a successor that fails to start)
 * they are left to the predecessor, which still serves them. */
void	listeners_own_files(struct listeners *L);

/* Every listening descriptor, in order (all of a UDP listener's), for a
 * successor: their number, or -1 if there are more than max. */
int	listeners_fds(const struct listeners *L, int *fds, int max);

#endif
