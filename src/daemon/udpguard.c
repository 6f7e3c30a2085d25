/* udpguard.c: echo loops, access lists and a per-source rate, checked for
 * every datagram by the reader thread that read it.  With no access list and no
 * rate, a datagram costs a compare of its port and one per UDP listener
 * (inline, in udpguard.h); the rest is here.  Only the rate's buckets are
 * shared between readers, under their lock. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cidr.h"
#include "settings.h"
#include "udpguard.h"

#define RATE_SLOTS	4096		/* a power of 2: 4096 addresses */
#define RATE_PROBE	8		/* slots looked at per address */

struct udpguard_rate {
	uint8_t		used;
	uint8_t		key[CIDR_CLIENT_KEY];
	double		tokens;
	uint64_t	seen_ns;	/* last datagram; oldest is evicted */
};

_Static_assert(UDPGUARD_SELF_MAX == SETTINGS_MAX_LISTEN, "a slot for each "
    "listener");

struct udpguard_rates {
	pthread_mutex_t		 mu;	/* guards table and its entries */
	struct udpguard_rate	*table;	/* NULL until a rate is set */
	uint64_t		 seed;	/* chains an attacker cannot aim at */
};

static void	udpguard_set_mask(struct udpguard *);

struct udpguard_rates *
udpguard_rates_new(void)
{
	struct udpguard_rates *r = calloc(1, sizeof(*r));
	struct timespec ts;

	if (r == NULL)
		return NULL;
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->seed = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)ts.tv_nsec;
	return r;
}

void
udpguard_rates_free(struct udpguard_rates *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->table);
	free(r);
}

struct udpguard *
udpguard_new(const struct acl *acl, struct udpguard_rates *rates)
{
	struct udpguard *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->acl = acl;
	g->rates = rates;
	udpguard_set_mask(g);
	return g;
}

void
udpguard_free(struct udpguard *g)
{
	free(g);
}

static void
udpguard_mark(struct udpguard *g, unsigned port)
{
	g->look_port[port >> 6] |= UINT64_C(1) << (port & 63);
}

/* A look at every datagram, or at those from a loop port or one of ours. */
static void
udpguard_set_mask(struct udpguard *g)
{
	static const unsigned loop[] = { 0, 7, 9, 13, 19, 37, 123 };

	memset(g->look_port, 0, sizeof(g->look_port));
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
		udpguard_mark(g, loop[i]);
	for (int i = 0; i < g->nself; i++)
		udpguard_mark(g, (unsigned)g->self[i].port);
	g->look_all = g->rate > 0 || g->acl->allow.n > 0 || g->acl->deny.n > 0;
}

int
udpguard_retune(struct udpguard *g, int rate)
{
	struct udpguard_rates *r = g->rates;
	int rc = 0;

	if (rate > 0) {
		pthread_mutex_lock(&r->mu);
		if (r->table == NULL)
			r->table = calloc(RATE_SLOTS, sizeof(*r->table));
		if (r->table == NULL) {
			rate = 0;
			rc = -1;
		}
		pthread_mutex_unlock(&r->mu);
	}
	g->rate = rate;
	udpguard_set_mask(g);
	return rc;
}

void
udpguard_set_self(struct udpguard *g, const struct addr *self, int n)
{
	static const uint8_t zero[16];

	g->nself = 0;
	for (int i = 0; i < n && i < UDPGUARD_SELF_MAX; i++) {
		struct udpguard_self *s = &g->self[g->nself];

		if (cidr_ip_of((const struct sockaddr *)&self[i].ss, self[i].len,
		    &s->ip) != 0)
			continue;
		s->port = addr_port(&self[i]);
		s->any = self[i].any || memcmp(s->ip.b, zero, s->ip.v6 ? 16 :
		    4) == 0;
		g->nself++;
	}
	udpguard_set_mask(g);
}

/* The small services whose replies would start a loop with an echo:
 * echo, discard, daytime, chargen, time, ntp, and port 0, which no one
 * sends from. */
static int
udpguard_loop_port(unsigned port)
{
	switch (port) {
	case 0: case 7: case 9: case 13: case 19: case 37: case 123:
		return 1;
	default:
		return 0;
	}
}

/* From one of our own listening addresses and ports.  The port is
 * compared first: most datagrams need nothing more. */
static int
udpguard_is_self(const struct udpguard *g, unsigned port,
    const struct sockaddr_storage *sa, socklen_t len)
{
	struct cidr_ip ip;

	for (int i = 0; i < g->nself; i++) {
		const struct udpguard_self *s = &g->self[i];

		if ((unsigned)s->port != port)
			continue;
		if (s->any)
			return 1;
		if (cidr_ip_of((const struct sockaddr *)sa, len, &ip) == 0 &&
		    s->ip.v6 == ip.v6 && memcmp(s->ip.b, ip.b, ip.v6 ? 16 :
		    4) == 0)
			return 1;
	}
	return 0;
}

static uint64_t
udpguard_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The bucket for ip: found, a free slot, or the slot unseen longest
 * among those its address may use.  Under r->mu. */
static struct udpguard_rate *
udpguard_bucket(struct udpguard_rates *r, const struct cidr_ip *ip,
    uint64_t now, int *fresh)
{
	uint8_t key[CIDR_CLIENT_KEY];
	uint64_t h;
	struct udpguard_rate *victim = NULL;

	cidr_client_key(ip, key);
	h = cidr_client_hash(key, r->seed);
	for (int k = 0; k < RATE_PROBE; k++) {
		struct udpguard_rate *e = &r->table[(h + (uint64_t)k) &
		    (RATE_SLOTS - 1)];

		if (e->used && memcmp(e->key, key, sizeof(key)) == 0) {
			*fresh = 0;
			return e;
		}
		if (victim == NULL || !e->used || (victim->used &&
		    e->seen_ns < victim->seen_ns))
			victim = e;
	}
	victim->used = 1;
	memcpy(victim->key, key, sizeof(key));
	victim->seen_ns = now;
	*fresh = 1;
	return victim;
}

/* A token bucket of one second's worth: a burst of rate datagrams, then
 * rate per second. */
static int
udpguard_over_rate(struct udpguard *g, const struct cidr_ip *ip)
{
	struct udpguard_rates *r = g->rates;
	struct udpguard_rate *e;
	uint64_t now;
	int fresh, over = 0;

	pthread_mutex_lock(&r->mu);
	/* Read under the lock: another reader's datagram cannot have been
	 * seen later than this one. */
	now = udpguard_now_ns();
	e = udpguard_bucket(r, ip, now, &fresh);
	if (fresh)
		e->tokens = g->rate;
	else if (now > e->seen_ns)
		e->tokens += (double)(now - e->seen_ns) * g->rate / 1e9;
	if (e->tokens > g->rate)
		e->tokens = g->rate;
	e->seen_ns = now;
	if (e->tokens < 1)
		over = 1;
	else
		e->tokens -= 1;
	pthread_mutex_unlock(&r->mu);
	return over;
}

enum udpguard_verdict
udpguard_look(struct udpguard *g, const struct sockaddr_storage *sa,
    socklen_t len)
{
	unsigned port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	struct cidr_ip ip;

	if (udpguard_loop_port(port) || udpguard_is_self(g, port, sa, len))
		return UDPGUARD_LOOP;
	if ((g->rate == 0 && g->acl->allow.n == 0 && g->acl->deny.n == 0) ||
	    cidr_ip_of((const struct sockaddr *)sa, len, &ip) != 0)
		return UDPGUARD_PASS;
	if (!acl_permits(g->acl, &ip))
		return UDPGUARD_ACL;
	if (g->rate > 0 && udpguard_over_rate(g, &ip))
		return UDPGUARD_RATE;
	return UDPGUARD_PASS;
}
