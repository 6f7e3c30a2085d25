/* listeners.c: the listening sockets, from the listen entries or from a
 * predecessor: streams served on the main loop with evconnlistener, UDP
 * by every worker (listeners_udp.c). */
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listeners-internal.h"
#include "log.h"
#include "worker.h"

void
listeners_tell_guard(struct listeners *L)
{
	struct addr self[SETTINGS_MAX_LISTEN];
	int n = 0;

	for (int i = 0; i < L->n; i++)
		if (L->ls[i].bound.kind == ADDR_UDP)
			self[n++] = L->ls[i].bound;
	for (int i = 0; i < L->nworkers; i++)
		worker_set_udp_self(L->workers[i], self, n);
}

/* Serve fd as the next stream listener; logs "listening on". */
static int
listeners_serve(struct listeners *L, const struct listen_spec *spec,
    const struct addr *bound, const struct sock_file *file, int fd)
{
	struct listener *l = &L->ls[L->n];
	char name[ADDR_STRLEN];

	memset(l, 0, sizeof(*l));
	l->spec = *spec;
	l->bound = *bound;
	if (file != NULL)
		l->file = *file;
	/* Backlog 0: the socket is already listening. */
	l->lev = evconnlistener_new(L->base, spec->opts.proxy_protocol ?
	    L->accept_proxy_cb : L->accept_cb, L->arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev != NULL)
		evconnlistener_set_error_cb(l->lev, L->error_cb);
	if (l->lev == NULL) {
		log_error("cannot listen on %s: out of memory",
		    addr_format(bound, name, sizeof(name)));
		sock_unlink(bound, &l->file);
		close(fd);
		return -1;
	}
	L->n++;
	log_notice("listening on %s", addr_format(bound, name, sizeof(name)));
	return 0;
}

/* A listen entry's socket options; with `user`, unix socket files go to
 * that user unless owner= says otherwise, so it can remove them. */
static struct sock_opts
listeners_sock_opts(const struct settings *cfg, const struct listen_spec *spec)
{
	struct sock_opts so = { spec->opts.reuseport, spec->opts.mode,
	    spec->uid, spec->gid };

	if (cfg->user[0] != '\0' && geteuid() == 0) {
		if (so.uid == (uid_t)-1)
			so.uid = cfg->uid;
		if (so.gid == (gid_t)-1)
			so.gid = cfg->gid;
	}
	return so;
}

int
listeners_inherit(struct listeners *L, int from_manager)
{
	char err[256];

	L->ninh = activation_take(L->inh, ACTIVATION_MAX, err, sizeof(err));
	if (L->ninh < 0) {
		L->ninh = 0;
		log_error("socket activation: %s", err);
		return -1;
	}
	L->from_manager = from_manager && L->ninh > 0;
	return 0;
}

/* A unix socket file inherited from our own predecessor becomes ours
 * once we serve (listeners_own_files): we remove it at exit.  One a
 * service manager passed is the manager's. */
static void
listeners_adopt_file(const struct addr *a, struct sock_file *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (a->kind == ADDR_UNIX && stat(((const struct sockaddr_un *)
	    &a->ss)->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		f->set = 1;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
}

/* The inherited socket for spec, if any: served with spec's options.
 * Returns 1 if one was claimed, 0 if none matches, -1 on failure. */
static int
listeners_claim(struct listeners *L, const struct settings *cfg,
    const struct listen_spec *spec)
{
	struct inherited *in = activation_match(L->inh, L->ninh, &spec->addr, 0);
	struct sock_opts so = listeners_sock_opts(cfg, spec);
	char err[256], name[ADDR_STRLEN];

	if (in == NULL)
		return 0;
	if (in->addr.kind == ADDR_UDP)
		return listeners_udp_claim(L, spec, in) == 0 ? 1 : -1;
	in->claimed = 1;
	if (sock_apply_file_opts(&in->addr, &so, err, sizeof(err)) != 0) {
		log_error("cannot listen on %s: %s", addr_format(&spec->addr,
		    name, sizeof(name)), err);
		close(in->fd);
		return -1;
	}
	if (listeners_serve(L, spec, &in->addr, NULL, in->fd) != 0)
		return -1;
	if (!L->from_manager)
		listeners_adopt_file(&in->addr, &L->ls[L->n - 1].adopted);
	return 1;
}

int
listeners_open(struct listeners *L, const struct settings *cfg,
    const struct listen_spec *spec)
{
	struct sock_opts so = listeners_sock_opts(cfg, spec);
	struct sock_file file;
	struct addr bound;
	char err[256], name[ADDR_STRLEN];
	int fd, claimed;

	if (L->n == SETTINGS_MAX_LISTEN) {
		log_error("cannot listen on %s: more than %d listeners",
		    addr_format(&spec->addr, name, sizeof(name)),
		    SETTINGS_MAX_LISTEN);
		return -1;
	}
	if ((claimed = listeners_claim(L, cfg, spec)) != 0)
		return claimed > 0 ? 0 : -1;
	if (L->from_manager) {
		/* The service manager decides where we listen. */
		if (!cfg->listen_is_default)
			log_warn("listen %s: no such socket was passed by the "
			    "service manager: not bound", addr_format(&spec->addr,
			    name, sizeof(name)));
		return 0;
	}
	if (spec->addr.kind == ADDR_UDP) {
		fd = listeners_udp_bind(spec, &so, &bound);
		return fd < 0 ? -1 : listeners_udp_serve(L, spec, &bound, &fd,
		    1);
	}
	fd = sock_listen(&spec->addr, cfg->backlog, &so, &bound, &file, err,
	    sizeof(err));
	if (fd < 0) {
		log_error("cannot listen on %s: %s", addr_format(&spec->addr,
		    name, sizeof(name)), err);
		return -1;
	}
	return listeners_serve(L, spec, &bound, &file, fd);
}

int
listeners_open_all(struct listeners *L, const struct settings *cfg)
{
	for (int i = 0; i < cfg->nlisten; i++)
		activation_reserve(L->inh, L->ninh, &cfg->listen[i].addr, 0);
	for (int i = 0; i < cfg->nlisten; i++)
		if (listeners_open(L, cfg, &cfg->listen[i]) != 0)
			return -1;
	for (int i = 0; i < L->ninh; i++) {
		struct inherited *in = &L->inh[i];
		struct listen_spec spec;

		if (in->claimed)
			continue;
		in->claimed = 1;
		if (!L->from_manager || in->metrics) {
			/* Our predecessor's, no longer configured; a metrics
			 * socket nobody took is no echo listener. */
			close(in->fd);
			continue;
		}
		/* A passed socket no entry names: served as it is. */
		memset(&spec, 0, sizeof(spec));
		spec.addr = in->addr;
		listen_opts_init(&spec.opts);
		spec.uid = (uid_t)-1;
		spec.gid = (gid_t)-1;
		/* A UDP one with every other passed on its address (a
		 * service manager's group of SO_REUSEPORT sockets). */
		if (L->n == SETTINGS_MAX_LISTEN || (in->addr.kind == ADDR_UDP ?
		    listeners_udp_claim(L, &spec, in) :
		    listeners_serve(L, &spec, &in->addr, NULL, in->fd)) != 0) {
			if (L->n == SETTINGS_MAX_LISTEN) {
				log_error("more than %d listeners passed",
				    SETTINGS_MAX_LISTEN);
				close(in->fd);
			}
			return -1;
		}
	}
	return 0;
}

/* Same configured address and options: the same listener. */
static int
listeners_same_spec(const struct listen_spec *a, const struct listen_spec *b)
{
	return a->addr.kind == b->addr.kind && a->addr.any == b->addr.any &&
	    a->addr.len == b->addr.len &&
	    memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) == 0 &&
	    listen_opts_equal(&a->opts, &b->opts);
}

int
listeners_find(const struct listeners *L, const struct listen_spec *spec)
{
	for (int i = 0; i < L->n; i++)
		if (listeners_same_spec(&L->ls[i].spec, spec))
			return i;
	return -1;
}

void
listeners_close(struct listeners *L, int i, int remove_file)
{
	struct listener *l = &L->ls[i];
	int was_udp = l->bound.kind == ADDR_UDP;

	if (remove_file)
		sock_unlink(&l->bound, &l->file);
	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	listeners_udp_close(L, l);
	memmove(&L->ls[i], &L->ls[i + 1], (size_t)(L->n - i - 1) *
	    sizeof(L->ls[0]));
	L->n--;
	if (was_udp)
		listeners_tell_guard(L);
}

void
listeners_close_all(struct listeners *L, int remove_files)
{
	while (L->n > 0)
		listeners_close(L, L->n - 1, remove_files);
	for (int i = 0; i < L->ninh; i++)
		if (!L->inh[i].claimed) {
			L->inh[i].claimed = 1;
			close(L->inh[i].fd);
		}
}

/*
 * A client whose handshake completes after the drain's last accept, in
 * the moment before the listener is closed, would be reset once it is
 * connected (behind haproxy: a client that got nothing back).  A socket
 * filter that drops every packet makes the kernel drop the SYNs and the
 * handshakes' last ACKs instead, so no connection completes into the
 * queue any more: the client retransmits its SYN, meets the closed port
 * and sees its connect refused, which a balancer retries elsewhere.
 * Only on sockets that are ours alone: a filter belongs to the socket,
 * which a successor or a service manager would keep.
 */
static void
listeners_seal(evutil_socket_t fd)
{
	struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, drop };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog)) != 0)
		log_debug("shutdown: cannot stop new connections on the "
		    "listener (%s): they may be reset", strerror(errno));
}

/*
 * Only ever from the main loop's thread: libevent 2.1 can deadlock
 * otherwise (libevent issue 1224).
 *
 * At max_conns the free slots are contended: the first listener whose
 * callback runs accepts until we pause again, and epoll reports the ready
 * listeners in the order they were re-armed.  So each resume starts one
 * listener further on: a flooded port cannot starve the others.
 */
void
listeners_set(struct listeners *L, int on)
{
	unsigned first = on && L->n > 0 ? L->next_first++ % (unsigned)L->n : 0;

	for (int k = 0; k < L->n; k++) {
		struct listener *l = &L->ls[(first + (unsigned)k) %
		    (unsigned)L->n];

		if (l->lev == NULL)
			continue;
		if (on)
			evconnlistener_enable(l->lev);
		else
			evconnlistener_disable(l->lev);
	}
}

void
listeners_set_udp_rcvbuf(struct listeners *L, int bytes)
{
	L->udp_rcvbuf = bytes;
	for (int i = 0; i < L->n; i++)
		listeners_udp_set_rcvbuf(&L->ls[i], bytes);
}

void
listeners_set_backlog(struct listeners *L, int backlog)
{
	char name[ADDR_STRLEN];

	for (int i = 0; i < L->n; i++)
		if (L->ls[i].lev != NULL && listen(evconnlistener_get_fd(
		    L->ls[i].lev), backlog) != 0)
			log_warn("%s: new backlog %d: %s", addr_format(
			    &L->ls[i].bound, name, sizeof(name)), backlog,
			    strerror(errno));
}

/*
 * At shutdown, the clients in the accept queues have connected and may
 * have sent data the kernel acknowledged: closing the listeners would
 * reset them.  Take them first, even past max_conns (the kernel already
 * let them in), and serve them like every other connection.  At most a
 * backlog's worth per listener, so that a flood cannot hold the shutdown.
 */
void
listeners_drain(struct listeners *L, int backlog, int seal,
    listeners_take_fn take, void *arg)
{
	int taken = 0;

	for (int i = 0; i < L->n; i++) {
		evutil_socket_t lfd;

		if (L->ls[i].lev == NULL)
			continue;
		lfd = evconnlistener_get_fd(L->ls[i].lev);
		if (seal && !L->from_manager && L->ls[i].bound.kind == ADDR_TCP)
			listeners_seal(lfd);
		for (int n = 0; n < backlog; n++) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
				continue;
			if (fd < 0) {
				/* EAGAIN: done; EMFILE and friends: those
				 * left are reset with the listener. */
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					log_warn("accept at shutdown: %s",
					    strerror(errno));
				break;
			}
			take(arg, fd, (struct sockaddr *)&ss, len,
			    L->ls[i].spec.opts.proxy_protocol);
			taken++;
		}
	}
	if (taken > 0)
		log_debug("shutdown: took %d queued connection%s", taken,
		    taken == 1 ? "" : "s");
}

int
listeners_take_metrics(struct listeners *L, const struct addr *want)
{
	struct inherited *in = activation_match(L->inh, L->ninh, want, 1);

	if (in == NULL)
		return -1;
	in->claimed = 1;
	return in->fd;
}

void
listeners_own_files(struct listeners *L)
{
	for (int i = 0; i < L->n; i++)
		if (L->ls[i].adopted.set) {
			L->ls[i].file = L->ls[i].adopted;
			L->ls[i].adopted.set = 0;
		}
}

int
listeners_fds(const struct listeners *L, int *fds, int max)
{
	int n = 0;

	for (int i = 0; i < L->n; i++) {
		const struct listener *l = &L->ls[i];

		if (n + (l->lev != NULL ? 1 : l->nudp) > max)
			return -1;
		if (l->lev != NULL)
			fds[n++] = evconnlistener_get_fd(l->lev);
		for (int k = 0; k < l->nudp; k++)
			fds[n++] = l->udp[k].fd;
	}
	return n;
}
