/* metrics.c: the HTTP side of the metrics: one thread running its own
 * event loop with an evhttp on the metrics listener.  The workers' counters
 * are read with relaxed loads (stats.h), so a scrape takes no lock a worker
 * could wait on.  Routes: GET/HEAD /metrics, /healthz; other paths 404,
 * other methods 405. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "log.h"
#include "metrics.h"
#include "promtext.h"
#include "settings.h"
#include "sock.h"

#define METRICS_BACKLOG		64
#define METRICS_RETRY_MS	100	/* after an accept error */

/* Every method evhttp knows: those it is not told to allow it answers
 * with 501 by itself; we answer them with 405. */
#define METRICS_ALL_METHODS	(EVHTTP_REQ_GET | EVHTTP_REQ_POST |	\
	EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |		\
	EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |	\
	EVHTTP_REQ_PATCH)

struct metrics {
	struct addr		 where;
	struct addr		 bound;
	struct event_base	*base;
	struct evhttp		*http;
	struct evhttp_bound_socket *bs;
	struct event		*retry_ev;
	int			 efd;		/* eventfd: stop */
	struct event		*stop_ev;
	pthread_t		 thread;
	int			 started;
	struct stats		*stats[SETTINGS_MAX_THREADS];
	int			 n;
};

/* The counters now, summed and per worker. */
struct metrics_view {
	struct stats_snap	 sum;
	struct stats_snap	 each[SETTINGS_MAX_THREADS];
};

static void
metrics_read(struct metrics *m, struct metrics_view *v)
{
	stats_snapshot(&v->sum, m->stats, m->n);
	for (int i = 0; i < m->n; i++)
		stats_snapshot(&v->each[i], &m->stats[i], 1);
}

/* A reply with a text body; HEAD gets the headers alone (evhttp would
 * send a body given for HEAD), with the length GET would have. */
static void
metrics_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		char len[32];

		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(h, "Content-Length", len);
		evhttp_send_reply(req, code, reason, NULL);
		return;
	}
	evhttp_send_reply(req, code, reason, body);
}

static void
metrics_serve_metrics(struct metrics *m, struct evhttp_request *req,
    struct evbuffer *body)
{
	struct metrics_view *v = malloc(sizeof(*v));
	struct promtext_input in;
	struct procinfo proc;
	char err[256];

	if (v == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	metrics_read(m, v);
	in.version = PACKAGE_VERSION;
	in.sum = &v->sum;
	in.workers = v->each;
	in.nworkers = m->n;
	in.proc = procinfo_read(&proc, err, sizeof(err)) == 0 ? &proc : NULL;
	if (in.proc == NULL)
		log_debug("metrics: %s", err);
	if (promtext_render(body, &in) != 0) {
		free(v);
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	free(v);
	metrics_reply(req, HTTP_OK, "OK", PROMTEXT_CONTENT_TYPE, body);
}

/* 200 while serving; 503 from the start of a graceful shutdown (a load
 * balancer takes us out of rotation while we drain), and while accepting
 * is paused (max_conns, accept errors). */
static void
metrics_serve_health(struct metrics *m, struct evhttp_request *req,
    struct evbuffer *body)
{
	struct stats_snap s;
	const char *text = "ok\n";
	int code = HTTP_OK;

	stats_snapshot(&s, m->stats, m->n);
	if (s.v[ST_STOPPING] != 0)
		text = "shutting down\n";
	else if (!stats_accepting(&s))
		text = "not accepting\n";
	if (text[0] != 'o')
		code = HTTP_SERVUNAVAIL;
	evbuffer_add(body, text, strlen(text));
	metrics_reply(req, code, code == HTTP_OK ? "OK" : "Service Unavailable",
	    "text/plain; charset=utf-8", body);
}

static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *body = evbuffer_new();
	int known;

	if (body == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
		return;
	}
	path = path != NULL ? path : "";
	known = strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0;
	if (!known) {
		evbuffer_add_printf(body, "not found: try /metrics or "
		    "/healthz\n");
		metrics_reply(req, HTTP_NOTFOUND, "Not Found",
		    "text/plain; charset=utf-8", body);
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		evbuffer_add_printf(body, "method not allowed: GET or HEAD\n");
		metrics_reply(req, 405, "Method Not Allowed",
		    "text/plain; charset=utf-8", body);
	} else if (path[1] == 'm') {
		metrics_serve_metrics(m, req, body);
	} else {
		metrics_serve_health(m, req, body);
	}
	evbuffer_free(body);
}

/* EMFILE and friends leave the listening socket readable: an enabled
 * listener would spin.  Pause it and retry from a timer, as the echo
 * listeners do. */
static void
metrics_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct metrics *m = arg;
	struct timeval tv = { 0, METRICS_RETRY_MS * 1000 };

	log_debug("metrics: accept: %s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(lev);
	evtimer_add(m->retry_ev, &tv);
}

static void
metrics_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(evhttp_bound_socket_get_listener(m->bs));
}

static void
metrics_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(m->base);
}

static void *
metrics_thread_main(void *arg)
{
	struct metrics *m = arg;

	event_base_loop(m->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* The listening socket: passed, or bound now. */
static int
metrics_socket(struct metrics *m, int fd)
{
	char err[256], name[ADDR_STRLEN];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (fd < 0) {
		fd = sock_listen(&m->where, METRICS_BACKLOG, NULL, &m->bound,
		    NULL, err, sizeof(err));
		if (fd < 0)
			log_error("cannot serve metrics on %s: %s", addr_format(
			    &m->where, name, sizeof(name)), err);
		return fd;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		log_error("metrics: inherited socket: %s", strerror(errno));
		close(fd);
		return -1;
	}
	addr_from_sockaddr(&m->bound, ADDR_TCP, (struct sockaddr *)&ss, len);
	return fd;
}

struct metrics *
metrics_start(const struct addr *where, int fd, struct stats *const *stats,
    int n)
{
	struct metrics *m = calloc(1, sizeof(*m));
	char name[ADDR_STRLEN];
	sigset_t all, old;
	int rc;

	if (m == NULL) {
		log_error("metrics: out of memory");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	m->where = *where;
	m->efd = -1;
	m->n = n;
	memcpy(m->stats, stats, (size_t)n * sizeof(stats[0]));
	if ((fd = metrics_socket(m, fd)) < 0)
		goto fail;
	if ((m->base = event_base_new()) == NULL ||
	    (m->http = evhttp_new(m->base)) == NULL ||
	    (m->bs = evhttp_accept_socket_with_handle(m->http, fd)) == NULL) {
		log_error("metrics: cannot set up the HTTP server");
		close(fd);
		goto fail;
	}
	evhttp_set_allowed_methods(m->http, METRICS_ALL_METHODS);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_gencb(m->http, metrics_request_cb, m);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(m->bs),
	    metrics_accept_error_cb);
	m->retry_ev = evtimer_new(m->base, metrics_retry_cb, m);
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->retry_ev == NULL || m->efd < 0 || (m->stop_ev = event_new(
	    m->base, m->efd, EV_READ, metrics_stop_cb, m)) == NULL ||
	    event_add(m->stop_ev, NULL) != 0) {
		log_error("metrics: cannot set up its event loop");
		goto fail;
	}
	/* Signals are the main loop's: the thread never takes one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&m->thread, NULL, metrics_thread_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("metrics: cannot start a thread: %s", strerror(rc));
		goto fail;
	}
	m->started = 1;
	log_notice("metrics on %s", addr_format(&m->bound, name, sizeof(name)));
	return m;
fail:
	metrics_stop(m);
	return NULL;
}

void
metrics_stop(struct metrics *m)
{
	uint64_t one = 1;

	if (m == NULL)
		return;
	if (m->started) {
		while (write(m->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(m->thread, NULL);
	}
	/* The loop has stopped: freeing from this thread is safe now.
	 * evhttp_free closes the listener and every connection. */
	if (m->http != NULL)
		evhttp_free(m->http);
	if (m->retry_ev != NULL)
		event_free(m->retry_ev);
	if (m->stop_ev != NULL)
		event_free(m->stop_ev);
	if (m->efd >= 0)
		close(m->efd);
	if (m->base != NULL)
		event_base_free(m->base);
	free(m);
}

const struct addr *
metrics_where(const struct metrics *m)
{
	return &m->where;
}

int
metrics_fd(const struct metrics *m)
{
	return evhttp_bound_socket_get_fd(m->bs);
}

static int
metrics_same(const struct addr *a, const struct addr *b)
{
	return a->any == b->any && a->len == b->len &&
	    memcmp(&a->ss, &b->ss, a->len) == 0;
}

int
metrics_update(struct metrics **m, int on, const struct addr *where,
    struct stats *const *stats, int n)
{
	struct metrics *next;
	char name[ADDR_STRLEN];

	if (*m != NULL && on && metrics_same(metrics_where(*m), where))
		return 0;
	if (*m == NULL && !on)
		return 0;
	next = on ? metrics_start(where, -1, stats, n) : NULL;
	if (on && next == NULL)
		return -1;
	if (*m != NULL) {
		/* Logged once closed: a client that read the line is refused. */
		addr_format(&(*m)->bound, name, sizeof(name));
		metrics_stop(*m);
		log_notice("closed metrics listener %s", name);
	}
	*m = next;
	return 0;
}
