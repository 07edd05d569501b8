/*
 * disc_reconcile.c: bring the endpoint table to a new endpoint set (loop
 * thread).  The new set is sorted by (addr, port) once; each table entry is
 * looked up in it by binary search, and each new entry in the table by its
 * hash: O(n log n) with n = max(old, new).  Unchanged endpoints keep their
 * struct, so their streams and counters go on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

static int
cmp_addr_port(const void *a, const void *b)
{
	const struct disc_ep *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return 0;
}

static int
same(const struct endpoint *e, const struct disc_ep *d)
{
	return strcmp(e->id, d->id) == 0 &&
	    strcmp(e->hostname, d->hostname) == 0 &&
	    strcmp(e->proto, d->proto) == 0 && strcmp(e->url, d->url) == 0;
}

struct collect {
	struct endpoint	**v;
	size_t		  n;
};

static void
collect_one(struct endpoint *e, void *arg)
{
	struct collect *c = arg;

	c->v[c->n++] = e;
}

/* Removes the entries of t that are not in l (sorted) or differ. */
static int
remove_stale(eptable_t *t, const struct disc_eplist *l,
    struct disc_reconcile_stats *st)
{
	struct collect c = { NULL, 0 };
	struct disc_ep key;
	const struct disc_ep *d;
	size_t i;

	if (eptable_count(t) == 0)
		return 0;
	if ((c.v = malloc(eptable_count(t) * sizeof(*c.v))) == NULL)
		return -ENOMEM;
	eptable_foreach(t, collect_one, &c);
	for (i = 0; i < c.n; i++) {
		key.addr = c.v[i]->addr;
		key.port = c.v[i]->port;
		d = l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v),
		    cmp_addr_port) : NULL;
		if (d != NULL && same(c.v[i], d)) {
			st->kept++;
			continue;
		}
		eptable_remove(t, c.v[i]);
		st->removed++;
	}
	free(c.v);
	return 0;
}

int
disc_reconcile(eptable_t *t, struct disc_eplist *l,
    struct disc_reconcile_stats *st)
{
	const struct disc_ep *d;
	size_t i;
	int r;

	memset(st, 0, sizeof(*st));
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_addr_port);
	if ((r = remove_stale(t, l, st)) != 0)
		return r;
	for (i = 0; i < l->n; i++) {
		d = &l->v[i];
		if (eptable_lookup(t, d->addr, d->port) != NULL)
			continue;	/* kept, or a duplicate (addr, port) */
		if (eptable_add(t, d->id, d->hostname, d->proto, d->url,
		    d->addr, d->port) == NULL) {
			r = -errno;
			log_warn("disc: adding %s:%u", d->hostname, d->port);
			if (r == -ENOMEM)
				return r;
			continue;
		}
		st->added++;
	}
	return 0;
}
