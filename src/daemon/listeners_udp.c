/* listeners_udp.c: a UDP listener is a socket per worker, all bound to
 * its address with SO_REUSEPORT and each read by one reader thread of
 * that worker's (dgram.c): the kernel spreads the senders over them by
 * address and port, and no two threads ever read one socket.  Without
 * the reuseport option the port is still ours alone: a probe without
 * SO_REUSEPORT binds it first (and picks the port for :0) as anyone
 * else would have to, and only then is the group bound to it.  A
 * successor gets every socket of the group, so that nothing queued in
 * one is lost, and serves them all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgram.h"
#include "listeners-internal.h"
#include "log.h"
#include "worker.h"

/* Binds after a probe for a port the kernel picks, in case another
 * socket takes that port in between. */
#define PROBE_TRIES	8

/* Whether the socket lets siblings bind beside it (SO_REUSEPORT). */
static int
listeners_udp_shares(evutil_socket_t fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) == 0 && on;
}

void
listeners_udp_set_rcvbuf(const struct listener *l, int bytes)
{
	char name[ADDR_STRLEN];
	int capped = -1, got;

	for (int i = 0; i < l->nudp; i++) {
		if (dgram_set_rcvbuf(l->udp[i].fd, bytes, &got) != 0) {
			log_warn("%s: udp_rcvbuf %d: %s", addr_format(&l->bound,
			    name, sizeof(name)), bytes, strerror(errno));
			return;
		}
		if (got < bytes)
			capped = got;
	}
	if (capped >= 0)
		log_info("udp_rcvbuf: asked for %d bytes, the kernel allows %d "
		    "(net.core.rmem_max)", bytes, capped);
}

int
listeners_udp_serve(struct listeners *L, const struct listen_spec *spec,
    const struct addr *bound, const evutil_socket_t *fds, int k)
{
	struct listener *l = &L->ls[L->n];
	struct sock_opts shared = { 1, -1, (uid_t)-1, (gid_t)-1 };
	char err[256], name[ADDR_STRLEN];
	int want = k;

	addr_format(bound, name, sizeof(name));
	if (k < L->nworkers && listeners_udp_shares(fds[0]))
		want = L->nworkers;
	memset(l, 0, sizeof(*l));
	l->spec = *spec;
	l->bound = *bound;
	if ((l->udp = calloc((size_t)want, sizeof(*l->udp))) == NULL) {
		log_error("cannot listen on %s: out of memory", name);
		for (int i = 0; i < k; i++)
			close(fds[i]);
		return -1;
	}
	for (int i = 0; i < want; i++) {
		struct addr b;

		l->udp[i].worker = i % L->nworkers;
		l->udp[i].fd = i < k ? fds[i] : sock_listen(bound, 0, &shared,
		    &b, NULL, err, sizeof(err));
		if (l->udp[i].fd >= 0)
			continue;
		log_error("cannot listen on %s: its socket for thread %d: %s",
		    name, i + 1, err);
		while (i > 0)
			close(l->udp[--i].fd);
		free(l->udp);
		l->udp = NULL;
		return -1;
	}
	l->nudp = want;
	if (want < L->nworkers)
		log_info("%s: %d socket%s without SO_REUSEPORT: read by %d of "
		    "the %d threads", name, want, want == 1 ? "" : "s", want,
		    L->nworkers);
	listeners_udp_set_rcvbuf(l, L->udp_rcvbuf);
	for (int i = 0; i < want; i++)
		worker_add_udp(L->workers[l->udp[i].worker], l->udp[i].fd);
	L->n++;
	listeners_tell_guard(L);
	log_notice("listening on %s", name);
	return 0;
}

int
listeners_udp_bind(const struct listen_spec *spec, const struct sock_opts *o,
    struct addr *bound)
{
	struct sock_opts shared = *o;
	char err[256], name[ADDR_STRLEN];
	int fd = -1, fixed = addr_port(&spec->addr) != 0;

	shared.reuseport = 1;
	for (int tries = 0; fd < 0 && tries < PROBE_TRIES; tries++) {
		struct addr at = spec->addr;

		if (!o->reuseport) {
			int probe = sock_listen(&spec->addr, 0, o, &at, NULL, err,
			    sizeof(err));

			if (probe < 0)
				break;
			close(probe);
		}
		fd = sock_listen(&at, 0, &shared, bound, NULL, err, sizeof(err));
		/* Only a port the kernel picked may be picked again. */
		if (fd < 0 && (o->reuseport || fixed))
			break;
	}
	if (fd < 0)
		log_error("cannot listen on %s: %s", addr_format(&spec->addr,
		    name, sizeof(name)), err);
	return fd;
}

int
listeners_udp_claim(struct listeners *L, const struct listen_spec *spec,
    struct inherited *first)
{
	evutil_socket_t fds[ACTIVATION_MAX];
	struct inherited *in;
	int k = 0;

	first->claimed = 1;
	fds[k++] = first->fd;
	while ((in = activation_match(L->inh, L->ninh, &first->addr, 0)) !=
	    NULL) {
		in->claimed = 1;
		fds[k++] = in->fd;
	}
	return listeners_udp_serve(L, spec, &first->addr, fds, k);
}

void
listeners_udp_close(struct listeners *L, struct listener *l)
{
	for (int i = 0; i < l->nudp; i++)
		worker_remove_udp(L->workers[l->udp[i].worker], l->udp[i].fd);
	free(l->udp);
	l->udp = NULL;
	l->nudp = 0;
}
