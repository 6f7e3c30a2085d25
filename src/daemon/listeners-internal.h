/* listeners-internal.h: what listeners.c (the set, and its stream
 * listeners) and listeners_udp.c (its UDP listeners) share.  Nothing
 * else includes it. */
#ifndef LISTENERS_INTERNAL_H
#define LISTENERS_INTERNAL_H

#include "listeners.h"

/* Every worker's guard learns where the UDP listeners are: a datagram
 * from there is us answering ourselves. */
void	listeners_tell_guard(struct listeners *L);

/* Bind a new UDP listener's first socket for spec (o: its options), so
 * that siblings may join it, and *bound its real address.  Returns the
 * socket, or -1 (logged "cannot listen on"). */
int	listeners_udp_bind(const struct listen_spec *spec,
	    const struct sock_opts *o, struct addr *bound);

/* Serve the sockets fds[0..k) (k >= 1, all bound to *bound) as the next
 * listener: with a sibling bound beside them for each worker they leave
 * without one, if they let siblings in; each read by one worker, in
 * turn.  Takes the sockets (closed on failure); logs "listening on".
 * Returns 0 or -1 (logged). */
int	listeners_udp_serve(struct listeners *L, const struct listen_spec *spec,
	    const struct addr *bound, const evutil_socket_t *fds, int k);

/* Serve first, an inherited socket matching spec, with every other
 * inherited one on its address (a predecessor's group).  As serve. */
int	listeners_udp_claim(struct listeners *L, const struct listen_spec *spec,
	    struct inherited *first);

/* Each socket of l gets a receive buffer of bytes. */
void	listeners_udp_set_rcvbuf(const struct listener *l, int bytes);

/* Hand every socket of l back to its worker to close; l is empty then. */
void	listeners_udp_close(struct listeners *L, struct listener *l);

#endif
