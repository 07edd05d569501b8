/*
 * disc_reconcile.c: bring the endpoint table to a new endpoint set (loop
 * thread).  The new set is sorted by (addr, port) once; each table entry is
 * looked up in it by binary search, and each new entry in the table by its
 * hash: O(n log n) with n = max(old, new).  Unchanged endpoints keep their
 * struct, so their streams and counters go on.
 *
 * The derived endpoints of names under wildcards (disc_wild.c) are not in
 * the polled set: disc_wild_sync keeps them in line with the wildcard
 * endpoints after each reconcile.
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
		/* Derived endpoints are disc_wild_sync's, unless a polled
		 * endpoint took their name (and so their address) over. */
		if (c.v[i]->parent != NULL && d == NULL)
			continue;
		if (d != NULL && c.v[i]->parent == NULL && same(c.v[i], d)) {
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

/* --- derived endpoints: names under wildcards ---------------------------- */

static int
cmp_host_port(const void *a, const void *b)
{
	const struct endpoint *x = *(struct endpoint *const *)a;
	const struct endpoint *y = *(struct endpoint *const *)b;
	int r = strcmp(x->hostname, y->hostname);

	if (r != 0)
		return r;
	return (x->port > y->port) - (x->port < y->port);
}

static int
cmp_name(const void *key, const void *elt)
{
	return strcmp(key, ((const struct disc_wild_name *)elt)->name);
}

/* Is derived endpoint e still what v says? */
static int
derived_current(const struct endpoint *e, const struct disc_wild_name *v,
    size_t n)
{
	const struct disc_wild_name *x;

	x = n ? bsearch(e->hostname, v, n, sizeof(*v), cmp_name) : NULL;
	return x != NULL && x->addr == e->addr && e->parent->in_table &&
	    strcmp(e->parent->hostname, x->wildcard) == 0;
}

/* The first wildcard endpoint of w (sorted by host) whose host is host. */
static size_t
first_of(struct endpoint **w, size_t n, const char *host)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(w[mid]->hostname, host) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
add_missing(eptable_t *t, struct endpoint **w, size_t nw,
    const struct disc_wild_name *x, struct disc_reconcile_stats *st)
{
	size_t j;

	for (j = first_of(w, nw, x->wildcard); j < nw &&
	    strcmp(w[j]->hostname, x->wildcard) == 0; j++) {
		if (eptable_lookup(t, x->addr, w[j]->port) != NULL)
			continue;	/* ours already, or a concrete one wins */
		if (eptable_add_derived(t, w[j], x->name, x->addr) != NULL)
			st->added++;
		else if (errno == ENOMEM)
			log_warnx("disc: adding %s:%u: out of memory", x->name,
			    w[j]->port);
	}
}

int
disc_wild_sync(eptable_t *t, const struct disc_wild_name *v, size_t n,
    struct disc_reconcile_stats *st)
{
	struct collect c = { NULL, 0 };
	struct endpoint **w;
	size_t i, nw = 0;

	memset(st, 0, sizeof(*st));
	if (eptable_count(t) == 0)
		return 0;
	if ((c.v = malloc(eptable_count(t) * sizeof(*c.v))) == NULL)
		return -ENOMEM;
	eptable_foreach(t, collect_one, &c);
	w = c.v;	/* wildcard endpoints are moved to the front */
	for (i = 0; i < c.n; i++) {
		if (c.v[i]->parent != NULL) {
			if (derived_current(c.v[i], v, n)) {
				st->kept++;
				continue;
			}
			eptable_remove(t, c.v[i]);
			st->removed++;
		} else if (c.v[i]->hostname[0] == '*')
			w[nw++] = c.v[i];
	}
	if (nw > 1)
		qsort(w, nw, sizeof(*w), cmp_host_port);
	for (i = 0; i < n; i++)
		add_missing(t, w, nw, &v[i], st);
	free(c.v);
	return 0;
}

struct add_ctx {
	eptable_t	*t;
	const char	*wildcard, *name;
	uint32_t	 addr;
	struct endpoint	**w;
	size_t		 nw, cap;
	int		 nomem;
};

static void
collect_wildcard(struct endpoint *e, void *arg)
{
	struct add_ctx *c = arg;
	struct endpoint **nv;

	if (e->parent != NULL || strcmp(e->hostname, c->wildcard) != 0)
		return;
	if (c->nw == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		if ((nv = realloc(c->w, c->cap * sizeof(*nv))) == NULL) {
			c->nomem = 1;
			return;
		}
		c->w = nv;
	}
	c->w[c->nw++] = e;
}

size_t
disc_wild_add_entries(eptable_t *t, const char *wildcard, const char *name,
    uint32_t addr)
{
	struct add_ctx c = { t, wildcard, name, addr, NULL, 0, 0, 0 };
	struct endpoint *e;
	size_t i, added = 0;

	eptable_foreach(t, collect_wildcard, &c);
	for (i = 0; i < c.nw; i++) {
		e = eptable_lookup(t, addr, c.w[i]->port);
		if (e != NULL && e->parent != NULL && (e->parent != c.w[i] ||
		    strcmp(e->hostname, name) != 0)) {
			eptable_remove(t, e);	/* moved to a new wildcard */
			e = NULL;
		}
		if (e == NULL && eptable_add_derived(t, c.w[i], name, addr) != NULL)
			added++;
	}
	free(c.w);
	return added;
}
