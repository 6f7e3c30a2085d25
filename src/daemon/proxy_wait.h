/* proxy_wait.h: a connection on a proxy_protocol listener before it is a
 * connection: its PROXY header read (bounded in bytes and by
 * proxy_timeout), its client admitted, then served by conn.c as that
 * client.  Connections on other listeners never come here. */
#ifndef PROXY_WAIT_H
#define PROXY_WAIT_H

#include "conn.h"

/* Wait on env's loop for fd's PROXY header; peer is the balancer, as
 * accept() told it (NULL: ask the socket).  A bad or late header closes
 * fd, counted as a PROXY rejection; env->closed runs then, as for any
 * connection that ends. */
void	proxy_wait_start(struct conn_env *env, evutil_socket_t fd,
	    const struct sockaddr *peer, socklen_t len);

/* Close every connection still waiting (shutdown deadline, exit). */
void	proxy_wait_close_all(struct conn_env *env);

#endif
