/* proxy_wait.c: read a connection's PROXY header into a small buffer of
 * its own as the bytes come (a header may be split across segments),
 * proxy_timeout after the accept at most (a deadline, not an idle timer:
 * a sender dribbling a byte at a time gains nothing); once it is whole,
 * admit the client it names and hand the descriptor to conn.c, with the
 * bytes that came after the header in the same read to be served first.
 * The header itself is never echoed.  A connection here has its own
 * event and callback, so the per-message path of every connection is the
 * same as without PROXY. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "cidr.h"
#include "log.h"
#include "proxy_hdr.h"
#include "proxy_wait.h"

struct proxy_wait {
	struct conn_env		*env;
	struct event		*ev;		/* reading */
	struct event		*deadline;	/* proxy_timeout */
	LIST_ENTRY(proxy_wait)	 link;
	unsigned char		*buf;
	size_t			 len, cap;
	size_t			 want;	/* proxy_parse()'s "read up to" */
	struct sockaddr_storage	 peer;	/* the balancer */
	socklen_t		 peerlen;
};

/* The balancer's address, for the log. */
static char *
proxy_wait_peer(const struct proxy_wait *pw, char *buf, size_t len)
{
	if (pw->peerlen == 0)
		return strcpy(buf, "(unknown peer)");
	return addr_format_peer((const struct sockaddr *)&pw->peer, pw->peerlen,
	    buf, len);
}

/* Forget pw; the descriptor is closed unless keep_fd, the memory freed
 * unless keep_mem. */
static void
proxy_wait_free(struct proxy_wait *pw, int keep_fd, int keep_mem)
{
	struct conn_env *env = pw->env;
	evutil_socket_t fd = event_get_fd(pw->ev);

	LIST_REMOVE(pw, link);
	env->nwaiting--;
	event_free(pw->ev);
	if (pw->deadline != NULL)
		event_free(pw->deadline);
	if (!keep_fd)
		evutil_closesocket(fd);
	free(pw->buf);
	if (!keep_mem)
		free(pw);
}

/* No valid header: closed, counted, logged at debug with the sender. */
static void
proxy_wait_fail(struct proxy_wait *pw, const char *why)
{
	struct conn_env *env = pw->env;

	if (log_get_level() >= LOG_DEBUG) {
		char peer[ADDR_STRLEN];
		log_debug("proxy %s: %s", proxy_wait_peer(pw, peer,
		    sizeof(peer)), why);
	}
	stats_add(env->stats, ST_REJECTED_PROXY, 1);
	proxy_wait_free(pw, 0, 0);
	env->closed(env->arg);
}

/* Refused after its header (allow, deny, the per-address limit: counted
 * by admit), or nothing to serve it with. */
static void
proxy_wait_drop(struct proxy_wait *pw)
{
	struct conn_env *env = pw->env;

	proxy_wait_free(pw, 0, 0);
	env->closed(env->arg);
}

/* Whether the header names its own sender: the connection's peer, port
 * and all.  That is how haproxy's v1 health checks fill the line (as
 * proxy-protocol.txt advises: getsockname() and getpeername()); nobody
 * else can be at that address and port. */
static int
proxy_wait_names_itself(const struct proxy_wait *pw, const struct proxy_hdr *h)
{
	struct sockaddr_storage a, b;
	socklen_t alen = h->srclen, blen = pw->peerlen;

	if (pw->peerlen == 0 || alen > sizeof(a))
		return 0;
	memcpy(&a, &h->src, alen);
	memcpy(&b, &pw->peer, blen);
	cidr_unmap(&a, &alen);
	cidr_unmap(&b, &blen);
	if (alen != blen || a.ss_family != b.ss_family)
		return 0;
	if (a.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)&a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)&b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

/* A whole header: the connection becomes its client's.  The balancer's
 * own connections (a health check: LOCAL, UNKNOWN, or a header naming
 * its sender) keep the balancer's address, which proxy_from let in:
 * allow, deny and the per-address limit are for clients. */
static void
proxy_wait_done(struct proxy_wait *pw, const struct proxy_hdr *h, size_t n)
{
	struct conn_env *env = pw->env;
	evutil_socket_t fd = event_get_fd(pw->ev);
	int own = h->local || proxy_wait_names_itself(pw, h);
	struct conn_origin o;
	char via[ADDR_STRLEN + 8], peer[ADDR_STRLEN];
	unsigned char *data;

	memset(&o, 0, sizeof(o));
	if (pw->peerlen > 0) {
		o.peer = (const struct sockaddr *)&pw->peer;
		o.peerlen = pw->peerlen;
	}
	if (log_get_level() >= LOG_DEBUG) {
		proxy_wait_peer(pw, peer, sizeof(peer));
		if (own)
			snprintf(via, sizeof(via), "(PROXY %s)", !h->local ?
			    "self" : h->version == 1 ? "UNKNOWN" : "LOCAL");
		else
			snprintf(via, sizeof(via), "via %s", peer);
		o.via = via;
	}
	if (!own) {
		o.peer = (const struct sockaddr *)&h->src;
		o.peerlen = h->srclen;
		if (admit_client(&env->admit, o.peer, o.peerlen, o.via != NULL ?
		    peer : NULL, &o.slot) != 0) {
			proxy_wait_drop(pw);
			return;
		}
	}
	/* conn_open serves the rest of this read from our buffer, and logs
	 * the balancer's address of a health check: both are freed only
	 * after. */
	data = pw->buf;
	o.data = data + n;
	o.len = pw->len - n;
	pw->buf = NULL;
	proxy_wait_free(pw, 1, 1);
	conn_open(env, fd, &o);
	free(data);
	free(pw);
}

/* Room for want more bytes, up to the largest header. */
static int
proxy_wait_room(struct proxy_wait *pw)
{
	size_t need = pw->len + pw->want;
	unsigned char *p;

	if (need <= pw->cap)
		return 0;
	if (need > PROXY_HDR_MAX)
		need = PROXY_HDR_MAX;
	if ((p = realloc(pw->buf, need)) == NULL)
		return -1;
	pw->buf = p;
	pw->cap = need;
	return 0;
}

/* Read what there is.  Returns 1 while the header is still to come, 0
 * once pw is gone (served, or closed). */
static int
proxy_wait_read(struct proxy_wait *pw)
{
	evutil_socket_t fd = event_get_fd(pw->ev);
	struct proxy_hdr h;
	char err[256];
	ssize_t r;
	size_t n;

	if (proxy_wait_room(pw) != 0) {
		/* A run of these is logged once, as in conn.c. */
		if (pw->env->failures++ == 0)
			log_warn("out of memory reading a PROXY header: closing "
			    "(the next failures are counted until a connection "
			    "is set up)");
		stats_add(pw->env->stats, ST_REJECTED_ERROR, 1);
		proxy_wait_drop(pw);
		return 0;
	}
	r = read(fd, pw->buf + pw->len, pw->cap - pw->len);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 1;
	if (r <= 0) {
		snprintf(err, sizeof(err), "%s before a complete PROXY header",
		    r == 0 ? (pw->len == 0 ? "closed" : "closed mid-way") :
		    strerror(errno));
		proxy_wait_fail(pw, err);
		return 0;
	}
	pw->len += (size_t)r;
	switch (proxy_parse(pw->buf, pw->len, &h, &n, err, sizeof(err))) {
	case PROXY_MORE:
		pw->want = n;
		return 1;
	case PROXY_BAD:
		proxy_wait_fail(pw, err);
		return 0;
	case PROXY_DONE:
		break;
	}
	proxy_wait_done(pw, &h, n);
	return 0;
}

static void
proxy_wait_read_cb(evutil_socket_t fd, short what, void *arg)
{
	proxy_wait_read(arg);
}

/* proxy_timeout is up.  Bytes that arrived in the same loop iteration
 * still count: they are read first. */
static void
proxy_wait_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_wait *pw = arg;
	int unread = 0;

	if (ioctl(event_get_fd(pw->ev), FIONREAD, &unread) == 0 && unread > 0 &&
	    proxy_wait_read(pw) == 0)
		return;
	proxy_wait_fail(pw, "no complete PROXY header in time (proxy_timeout)");
}

void
proxy_wait_start(struct conn_env *env, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t len)
{
	struct proxy_wait *pw = calloc(1, sizeof(*pw));

	if (pw == NULL)
		goto fail;
	pw->env = env;
	if (peer != NULL && len <= sizeof(pw->peer)) {
		memcpy(&pw->peer, peer, len);
		pw->peerlen = len;
	} else {
		pw->peerlen = sizeof(pw->peer);
		if (getpeername(fd, (struct sockaddr *)&pw->peer,
		    &pw->peerlen) != 0)
			pw->peerlen = 0;
	}
	pw->want = PROXY_V1_MAX;
	pw->ev = event_new(env->base, fd, EV_READ | EV_PERSIST,
	    proxy_wait_read_cb, pw);
	if (pw->ev == NULL || event_add(pw->ev, NULL) != 0)
		goto fail;
	if (env->proxy_tv != NULL && ((pw->deadline = evtimer_new(env->base,
	    proxy_wait_deadline_cb, pw)) == NULL ||
	    evtimer_add(pw->deadline, env->proxy_tv) != 0))
		goto fail;
	LIST_INSERT_HEAD(&env->waiting, pw, link);
	env->nwaiting++;
	return;
fail:
	if (env->failures++ == 0)
		log_warn("cannot set up a connection: %s (the next failures "
		    "are counted until one is set up)", strerror(errno));
	if (pw != NULL && pw->ev != NULL)
		event_free(pw->ev);
	if (pw != NULL && pw->deadline != NULL)
		event_free(pw->deadline);
	free(pw);
	evutil_closesocket(fd);
	stats_add(env->stats, ST_REJECTED_ERROR, 1);
	env->closed(env->arg);
}

void
proxy_wait_close_all(struct conn_env *env)
{
	while (!LIST_EMPTY(&env->waiting))
		proxy_wait_drop(LIST_FIRST(&env->waiting));
}
