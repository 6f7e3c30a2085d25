/* perip.c: a count of open connections per client address, in a hash
 * table that holds only the addresses with connections open (so it is
 * bounded by max_conns), under one lock: it is touched when a connection
 * opens or closes, never per message. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "perip.h"

#define PERIP_KEY	CIDR_CLIENT_KEY
#define PERIP_BUCKETS0	1024		/* grows as addresses come */

struct perip_slot {
	struct perip_slot	*next;
	uint8_t			 key[PERIP_KEY];
	int			 n;
};

struct perip {
	pthread_mutex_t		 mu;
	struct perip_slot	**bucket;
	size_t			 nbuckets;	/* a power of 2 */
	size_t			 nslots;
	uint64_t		 seed;	/* chains an attacker cannot aim at */
	_Atomic int		 limit;
};

static size_t
perip_hash(const struct perip *p, const uint8_t key[PERIP_KEY])
{
	return (size_t)(cidr_client_hash(key, p->seed) & (p->nbuckets - 1));
}

struct perip *
perip_new(void)
{
	struct perip *p = calloc(1, sizeof(*p));
	struct timespec ts;

	if (p == NULL)
		return NULL;
	p->nbuckets = PERIP_BUCKETS0;
	p->bucket = calloc(p->nbuckets, sizeof(*p->bucket));
	if (p->bucket == NULL) {
		free(p);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p->seed = UINT64_C(0xcbf29ce484222325) ^ (uint64_t)ts.tv_nsec ^
	    (uint64_t)ts.tv_sec << 32 ^ (uint64_t)getpid() << 16;
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->limit, 0);
	return p;
}

void
perip_free(struct perip *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nbuckets; i++)
		while (p->bucket[i] != NULL) {
			struct perip_slot *s = p->bucket[i];
			p->bucket[i] = s->next;
			free(s);
		}
	free(p->bucket);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void
perip_set_limit(struct perip *p, int limit)
{
	atomic_store(&p->limit, limit);
}

int
perip_limit(struct perip *p)
{
	return atomic_load(&p->limit);
}

/* Twice the buckets once there are more addresses than buckets; if that
 * memory is not there, the chains just grow longer. */
static void
perip_grow(struct perip *p)
{
	size_t n = p->nbuckets * 2, old = p->nbuckets;
	struct perip_slot **b = calloc(n, sizeof(*b)), **was = p->bucket;

	if (b == NULL)
		return;
	p->bucket = b;
	p->nbuckets = n;
	for (size_t i = 0; i < old; i++)
		while (was[i] != NULL) {
			struct perip_slot *s = was[i];
			size_t h = perip_hash(p, s->key);
			was[i] = s->next;
			s->next = b[h];
			b[h] = s;
		}
	free(was);
}

/* The slot for key in its chain, *prev pointing at it; NULL if none. */
static struct perip_slot *
perip_find(struct perip *p, const uint8_t key[PERIP_KEY],
    struct perip_slot ***prev)
{
	struct perip_slot **pp = &p->bucket[perip_hash(p, key)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (memcmp((*pp)->key, key, PERIP_KEY) == 0)
			break;
	*prev = pp;
	return *pp;
}

enum perip_verdict
perip_take(struct perip *p, const struct cidr_ip *ip, struct perip_slot **slot)
{
	int limit = atomic_load(&p->limit);
	uint8_t key[PERIP_KEY];
	struct perip_slot *s, **pp;
	enum perip_verdict v = PERIP_OK;

	*slot = NULL;
	if (limit == 0)
		return PERIP_OK;
	cidr_client_key(ip, key);
	pthread_mutex_lock(&p->mu);
	if ((s = perip_find(p, key, &pp)) == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			v = PERIP_NOMEM;
			goto out;
		}
		memcpy(s->key, key, PERIP_KEY);
		*pp = s;
		if (++p->nslots > p->nbuckets)
			perip_grow(p);
	}
	if (s->n >= limit) {
		v = PERIP_OVER;
		goto out;	/* an empty slot is not left behind: n > 0 */
	}
	s->n++;
	*slot = s;
out:
	pthread_mutex_unlock(&p->mu);
	return v;
}

void
perip_give(struct perip *p, struct perip_slot *slot)
{
	struct perip_slot *s, **pp;

	if (slot == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	if (--slot->n == 0 && (s = perip_find(p, slot->key, &pp)) == slot) {
		*pp = s->next;
		p->nslots--;
		free(s);
	}
	pthread_mutex_unlock(&p->mu);
}

int
perip_count(struct perip *p, const struct cidr_ip *ip)
{
	uint8_t key[PERIP_KEY];
	struct perip_slot *s, **pp;
	int n;

	cidr_client_key(ip, key);
	pthread_mutex_lock(&p->mu);
	s = perip_find(p, key, &pp);
	n = s != NULL ? s->n : 0;
	pthread_mutex_unlock(&p->mu);
	return n;
}
