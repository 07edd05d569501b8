/*
 * disc_alloc.c: stable host name -> address allocation.
 *
 * The rule (docs/discovery.md):
 *   - one address per host name; endpoints of one host share it (the port
 *     tells them apart);
 *   - a host name keeps its address for as long as it is listed, and across
 *     restarts (disc_state.c persists the map, the release queue and the
 *     never-used watermark);
 *   - when a host name goes away its address is released but remembered:
 *     if the name comes back before the address is reused, it gets the same
 *     address again;
 *   - a new name gets the lowest never-used address; only when none is left
 *     does it take the address released longest ago (its old name forgets
 *     it).  So an address is not handed to a different name while fresh ones
 *     remain, and a recycled one has been idle the longest, well after any
 *     stream to the old name ended.
 * Host and address lookups are hash tables: O(1) per host, O(n) per round.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/disc_priv.h"

struct aent {
	char		*host;
	uint32_t	 addr;
	int		 active;
	uint64_t	 round;		/* last round that acquired it */
	struct aent	*hnext;		/* host hash chain */
	struct aent	*anext;		/* address hash chain */
	struct aent	*qprev, *qnext;	/* release queue, when !active */
};

struct disc_alloc {
	uint32_t	 first, last, next_fresh;
	struct aent	**hb, **ab;	/* buckets by host, by address */
	size_t		 nb;		/* power of two */
	size_t		 count, nactive;
	struct aent	*qhead, *qtail;	/* oldest release first */
	uint64_t	 round;
};

static size_t
hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

static size_t
hash_addr(uint32_t a)
{
	return (size_t)(((uint64_t)a * 0x9E3779B97F4A7C15ull) >> 32);
}

disc_alloc_t *
disc_alloc_new(uint32_t first, uint32_t last)
{
	disc_alloc_t *a;

	if (first == 0 || last < first) {
		errno = EINVAL;
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->first = a->next_fresh = first;
	a->last = last;
	a->nb = 256;
	a->hb = calloc(a->nb, sizeof(*a->hb));
	a->ab = calloc(a->nb, sizeof(*a->ab));
	if (a->hb == NULL || a->ab == NULL) {
		disc_alloc_free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

uint32_t
disc_alloc_size(const disc_alloc_t *a)
{
	return a->last - a->first + 1;
}

void
disc_alloc_free(disc_alloc_t *a)
{
	struct aent *e, *n;
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; a->hb != NULL && i < a->nb; i++)
		for (e = a->hb[i]; e != NULL; e = n) {
			n = e->hnext;
			free(e->host);
			free(e);
		}
	free(a->hb);
	free(a->ab);
	free(a);
}

static struct aent *
find_host(const disc_alloc_t *a, const char *host)
{
	struct aent *e = a->hb[hash_str(host) & (a->nb - 1)];

	while (e != NULL && strcmp(e->host, host) != 0)
		e = e->hnext;
	return e;
}

static struct aent *
find_addr(const disc_alloc_t *a, uint32_t addr)
{
	struct aent *e = a->ab[hash_addr(addr) & (a->nb - 1)];

	while (e != NULL && e->addr != addr)
		e = e->anext;
	return e;
}

static void
link_host(disc_alloc_t *a, struct aent *e)
{
	size_t i = hash_str(e->host) & (a->nb - 1);

	e->hnext = a->hb[i];
	a->hb[i] = e;
}

static void
unlink_host(disc_alloc_t *a, struct aent *e)
{
	struct aent **pp = &a->hb[hash_str(e->host) & (a->nb - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
}

static void
link_addr(disc_alloc_t *a, struct aent *e)
{
	size_t i = hash_addr(e->addr) & (a->nb - 1);

	e->anext = a->ab[i];
	a->ab[i] = e;
}

static int
grow(disc_alloc_t *a)
{
	struct aent **hb, **ab, *e, *n, **oh = a->hb;
	size_t i, onb = a->nb;

	hb = calloc(onb * 2, sizeof(*hb));
	ab = calloc(onb * 2, sizeof(*ab));
	if (hb == NULL || ab == NULL) {
		free(hb);
		free(ab);
		return -ENOMEM;
	}
	free(a->ab);
	a->hb = hb;
	a->ab = ab;
	a->nb = onb * 2;
	for (i = 0; i < onb; i++)
		for (e = oh[i]; e != NULL; e = n) {
			n = e->hnext;
			link_host(a, e);
			link_addr(a, e);
		}
	free(oh);
	return 0;
}

static void
q_append(disc_alloc_t *a, struct aent *e)
{
	e->qnext = NULL;
	e->qprev = a->qtail;
	if (a->qtail != NULL)
		a->qtail->qnext = e;
	else
		a->qhead = e;
	a->qtail = e;
}

static void
q_unlink(disc_alloc_t *a, struct aent *e)
{
	if (e->qprev != NULL)
		e->qprev->qnext = e->qnext;
	else
		a->qhead = e->qnext;
	if (e->qnext != NULL)
		e->qnext->qprev = e->qprev;
	else
		a->qtail = e->qprev;
	e->qprev = e->qnext = NULL;
}

static struct aent *
add_entry(disc_alloc_t *a, const char *host, uint32_t addr)
{
	struct aent *e;

	if (a->count >= a->nb && grow(a) != 0)
		return NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if ((e->host = strdup(host)) == NULL) {
		free(e);
		return NULL;
	}
	e->addr = addr;
	link_host(a, e);
	link_addr(a, e);
	a->count++;
	return e;
}

/* An address in range that nobody holds or remembers: only needed when a
 * persisted state left holes below the watermark. */
static int
scan_hole(const disc_alloc_t *a, uint32_t *addr)
{
	uint32_t x;

	for (x = a->first; ; x++) {
		if (find_addr(a, x) == NULL) {
			*addr = x;
			return 0;
		}
		if (x == a->last)
			return -ENOSPC;
	}
}

static int
new_address(disc_alloc_t *a, const char *host, uint32_t *addr)
{
	struct aent *e;
	char *h;

	while (a->next_fresh != 0 && a->next_fresh <= a->last &&
	    find_addr(a, a->next_fresh) != NULL)
		a->next_fresh++;
	if (a->next_fresh != 0 && a->next_fresh <= a->last) {
		*addr = a->next_fresh++;
		return 0;
	}
	if ((e = a->qhead) == NULL)
		return scan_hole(a, addr);
	/* Recycle the longest-released address: it changes hands. */
	if ((h = strdup(host)) == NULL)
		return -ENOMEM;
	q_unlink(a, e);
	unlink_host(a, e);
	free(e->host);
	e->host = h;
	link_host(a, e);
	e->active = 1;
	e->round = a->round;
	a->nactive++;
	*addr = e->addr;
	return 1;
}

int
disc_alloc_acquire(disc_alloc_t *a, const char *host, uint32_t *addr)
{
	struct aent *e;
	int r;

	if ((e = find_host(a, host)) != NULL) {
		if (!e->active) {
			q_unlink(a, e);
			e->active = 1;
			a->nactive++;
		}
		e->round = a->round;
		*addr = e->addr;
		return 0;
	}
	if ((r = new_address(a, host, addr)) != 0)
		return r > 0 ? 0 : r;
	if ((e = add_entry(a, host, *addr)) == NULL)
		return -ENOMEM;
	e->active = 1;
	e->round = a->round;
	a->nactive++;
	return 0;
}

void
disc_alloc_begin_round(disc_alloc_t *a)
{
	a->round++;
}

size_t
disc_alloc_end_round(disc_alloc_t *a)
{
	struct aent *e;
	size_t i, n = 0;

	for (i = 0; i < a->nb; i++)
		for (e = a->hb[i]; e != NULL; e = e->hnext)
			if (e->active && e->round != a->round) {
				e->active = 0;
				a->nactive--;
				q_append(a, e);
				n++;
			}
	return n;
}

int
disc_alloc_restore(disc_alloc_t *a, const char *host, uint32_t addr,
    int active)
{
	struct aent *e;

	if (addr < a->first || addr > a->last || find_addr(a, addr) != NULL ||
	    find_host(a, host) != NULL)
		return -EINVAL;
	if ((e = add_entry(a, host, addr)) == NULL)
		return -ENOMEM;
	e->active = active;
	e->round = a->round;
	if (active)
		a->nactive++;
	else
		q_append(a, e);
	/* next_fresh 0 means the range is used up: a lower address restored
	 * later must not move it back (the result would depend on order). */
	if (a->next_fresh != 0 && addr >= a->next_fresh)
		a->next_fresh = addr == a->last ? 0 : addr + 1;
	return 0;
}

uint32_t
disc_alloc_next_fresh(const disc_alloc_t *a)
{
	return a->next_fresh;
}

void
disc_alloc_set_next_fresh(disc_alloc_t *a, uint32_t next)
{
	/* Only forward: what was handed out stays used. */
	if (a->next_fresh != 0 && (next == 0 || next > a->next_fresh))
		a->next_fresh = next > a->last ? 0 : next;
}

int
disc_alloc_lookup(const disc_alloc_t *a, const char *host, uint32_t *addr)
{
	struct aent *e = find_host(a, host);

	if (e == NULL || !e->active)
		return -ENOENT;
	*addr = e->addr;
	return 0;
}

size_t
disc_alloc_count(const disc_alloc_t *a)
{
	return a->nactive;
}

void
disc_alloc_foreach(const disc_alloc_t *a,
    void (*fn)(const char *, uint32_t, int, void *), void *arg)
{
	const struct aent *e;
	size_t i;

	for (i = 0; i < a->nb; i++)
		for (e = a->hb[i]; e != NULL; e = e->hnext)
			if (e->active)
				fn(e->host, e->addr, 1, arg);
	for (e = a->qhead; e != NULL; e = e->qnext)
		fn(e->host, e->addr, 0, arg);
}
