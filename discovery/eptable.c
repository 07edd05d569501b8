/*
 * eptable.c: (address, port) -> endpoint, an open hash table keyed on both.
 * Lives on the loop thread; no locking.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/discovery.h"

struct eptable {
	struct endpoint	**slot;		/* NULL = empty, TOMB = deleted */
	size_t		  cap;		/* power of two */
	size_t		  count;
	size_t		  used;		/* count + tombstones */
	size_t		  derived;	/* entries with a parent */
};

static struct endpoint tomb_;
#define TOMB (&tomb_)

static size_t
hash(uint32_t addr, uint16_t port)
{
	uint64_t h = ((uint64_t)addr << 16 | port) * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 32);
}

eptable_t *
eptable_new(void)
{
	eptable_t *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->cap = 64;
	if ((t->slot = calloc(t->cap, sizeof(*t->slot))) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void
eptable_free(eptable_t *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL && t->slot[i] != TOMB) {
			t->slot[i]->in_table = 0;
			endpoint_unref(t->slot[i]);
		}
	free(t->slot);
	free(t);
}

static size_t
find(const eptable_t *t, uint32_t addr, uint16_t port)
{
	size_t mask = t->cap - 1, i = hash(addr, port) & mask;
	struct endpoint *e;

	while ((e = t->slot[i]) != NULL) {
		if (e != TOMB && e->addr == addr && e->port == port)
			return i;
		i = (i + 1) & mask;
	}
	return (size_t)-1;
}

static void
insert(struct endpoint **slot, size_t cap, struct endpoint *e)
{
	size_t mask = cap - 1, i = hash(e->addr, e->port) & mask;

	while (slot[i] != NULL && slot[i] != TOMB)
		i = (i + 1) & mask;
	slot[i] = e;
}

static int
grow(eptable_t *t)
{
	size_t i, ncap = t->count * 4 > t->cap ? t->cap * 2 : t->cap;
	struct endpoint **n;

	if ((n = calloc(ncap, sizeof(*n))) == NULL)
		return -ENOMEM;
	for (i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL && t->slot[i] != TOMB)
			insert(n, ncap, t->slot[i]);
	free(t->slot);
	t->slot = n;
	t->cap = ncap;
	t->used = t->count;
	return 0;
}

static char *
dupstr(const char *s)
{
	return strdup(s != NULL ? s : "");
}

struct endpoint *
eptable_add(eptable_t *t, const char *id, const char *hostname,
    const char *proto, const char *url, uint32_t addr, uint16_t port)
{
	struct endpoint *e;

	if (find(t, addr, port) != (size_t)-1) {
		errno = EEXIST;
		return NULL;
	}
	if ((t->used + 1) * 2 > t->cap && grow(t) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->refs = 1;
	e->id = dupstr(id);
	e->hostname = dupstr(hostname);
	e->proto = dupstr(proto);
	e->url = dupstr(url);
	if (!e->id || !e->hostname || !e->proto || !e->url) {
		endpoint_unref(e);
		errno = ENOMEM;
		return NULL;
	}
	e->addr = addr;
	e->port = port;
	e->in_table = 1;
	insert(t->slot, t->cap, e);
	t->count++;
	t->used++;
	return e;
}

struct endpoint *
eptable_add_derived(eptable_t *t, struct endpoint *parent, const char *hostname,
    uint32_t addr)
{
	struct endpoint *e;

	if ((e = eptable_add(t, parent->id, hostname, parent->proto, parent->url,
	    addr, parent->port)) == NULL)
		return NULL;
	endpoint_ref(parent);
	e->parent = parent;
	t->derived++;
	return e;
}

void
eptable_remove(eptable_t *t, struct endpoint *e)
{
	size_t i = find(t, e->addr, e->port);

	if (i == (size_t)-1 || t->slot[i] != e)
		return;
	t->slot[i] = TOMB;
	t->count--;
	if (e->parent != NULL)
		t->derived--;
	e->in_table = 0;
	endpoint_unref(e);
}

struct endpoint *
eptable_lookup(const eptable_t *t, uint32_t addr, uint16_t port)
{
	size_t i = find(t, addr, port);

	return i == (size_t)-1 ? NULL : t->slot[i];
}

int
eptable_has_addr(const eptable_t *t, uint32_t addr)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL && t->slot[i] != TOMB &&
		    t->slot[i]->addr == addr)
			return 1;
	return 0;
}

struct endpoint *
eptable_find_id(const eptable_t *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL && t->slot[i] != TOMB &&
		    strcmp(t->slot[i]->id, id) == 0)
			return t->slot[i];
	return NULL;
}

size_t
eptable_count(const eptable_t *t)
{
	return t->count;
}

size_t
eptable_count_derived(const eptable_t *t)
{
	return t->derived;
}

void
eptable_foreach(const eptable_t *t, void (*fn)(struct endpoint *, void *),
    void *arg)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL && t->slot[i] != TOMB)
			fn(t->slot[i], arg);
}

void
endpoint_ref(struct endpoint *e)
{
	e->refs++;
}

void
endpoint_unref(struct endpoint *e)
{
	if (e == NULL || --e->refs > 0)
		return;
	endpoint_unref(e->parent);
	free(e->id);
	free(e->hostname);
	free(e->proto);
	free(e->url);
	free(e);
}

void
endpoint_release(void *e)
{
	endpoint_unref(e);
}

struct endpoint_stats *
endpoint_stats(struct endpoint *e)
{
	return e->parent != NULL ? &e->parent->stats : &e->stats;
}
