/*
 * disc_wild.c: the names under wildcard endpoints that DNS gave an address
 * of their own (docs/dns.md, "Wildcard endpoints").
 *
 * A sorted array of names, each pointing at its wildcard's group (the
 * count that the per-wildcard limit checks, and whether the limit was
 * logged).  The addresses themselves live in the ordinary allocator: a
 * derived name is one more host name there, so it is stable, persisted
 * with the others, released-but-remembered when its wildcard goes, and a
 * concrete endpoint that later appears with that name gets the same
 * address.  The caller holds the allocator's lock around every call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

struct wgroup {
	char		*host;		/* "*.apps.example" */
	size_t		 n;		/* names under it */
	int		 warned;	/* "no address" logged since the last drop */
};

struct wname {
	char		*name;
	struct wgroup	*g;
	uint32_t	 addr;
};

struct disc_wild {
	struct wname	 *v;		/* sorted by name */
	size_t		  n, cap;
	struct wgroup	**g;		/* few: one per wildcard with names */
	size_t		  ng, gcap;
	unsigned	  limit;
};

disc_wild_t *
disc_wild_new(unsigned limit)
{
	disc_wild_t *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->limit = limit ? limit : DISC_WILD_NAMES_DEFAULT;
	return w;
}

static void
group_free(struct wgroup *g)
{
	free(g->host);
	free(g);
}

void
disc_wild_free(disc_wild_t *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->v[i].name);
	for (i = 0; i < w->ng; i++)
		group_free(w->g[i]);
	free(w->v);
	free(w->g);
	free(w);
}

int
disc_wild_covers(const char *wildcard, const char *name)
{
	size_t nl = strlen(name), sl;

	if (wildcard[0] != '*' || wildcard[1] != '.' || name[0] == '*')
		return 0;
	sl = strlen(wildcard + 1);	/* ".apps.example" */
	return nl > sl && strcmp(name + nl - sl, wildcard + 1) == 0;
}

static int
valid_pair(const char *wildcard, const char *name)
{
	return disc_valid_hostname(wildcard) && disc_valid_hostname(name) &&
	    disc_wild_covers(wildcard, name);
}

/* The index of name, or -(insertion point) - 1. */
static long
find_name(const disc_wild_t *w, const char *name)
{
	size_t lo = 0, hi = w->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(w->v[mid].name, name)) == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static struct wgroup *
group_find(const disc_wild_t *w, const char *host)
{
	size_t i;

	for (i = 0; i < w->ng; i++)
		if (strcmp(w->g[i]->host, host) == 0)
			return w->g[i];
	return NULL;
}

static struct wgroup *
group_get(disc_wild_t *w, const char *host)
{
	struct wgroup *g, **ng;
	size_t cap;

	if ((g = group_find(w, host)) != NULL)
		return g;
	if (w->ng == w->gcap) {
		cap = w->gcap ? w->gcap * 2 : 8;
		if ((ng = realloc(w->g, cap * sizeof(*ng))) == NULL)
			return NULL;
		w->g = ng;
		w->gcap = cap;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if ((g->host = strdup(host)) == NULL) {
		free(g);
		return NULL;
	}
	w->g[w->ng++] = g;
	return g;
}

/* One name fewer under g; an empty group goes. */
static void
group_put(disc_wild_t *w, struct wgroup *g)
{
	size_t i;

	g->warned = 0;
	if (--g->n > 0)
		return;
	for (i = 0; i < w->ng && w->g[i] != g; i++)
		;
	w->g[i] = w->g[--w->ng];
	group_free(g);
}

/* Inserts (name, g, addr) at position at; the caller checked the limit. */
static int
insert(disc_wild_t *w, size_t at, const char *name, struct wgroup *g,
    uint32_t addr)
{
	struct wname *nv;
	char *s;
	size_t cap;

	if (w->n == w->cap) {
		cap = w->cap ? w->cap * 2 : 16;
		if ((nv = realloc(w->v, cap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		w->v = nv;
		w->cap = cap;
	}
	if ((s = strdup(name)) == NULL)
		return -ENOMEM;
	memmove(&w->v[at + 1], &w->v[at], (w->n - at) * sizeof(*w->v));
	w->v[at] = (struct wname){ s, g, addr };
	w->n++;
	g->n++;
	return 0;
}

static void
warn_once(disc_wild_t *w, struct wgroup *g, const char *name, int err)
{
	if (g->warned)
		return;
	g->warned = 1;
	if (err == -EDQUOT)
		log_warnx("disc: wildcard %s has %u names with an address already "
		    "(dns.wildcard_names); %s and further new names get none "
		    "(NODATA)", g->host, w->limit, name);
	else
		log_warnx("disc: no address for %s under %s: names under "
		    "wildcards hold half of net.subnet, or it is full (widen "
		    "net.subnet)", name, g->host);
}

/* Moves the name at i to group g (a more specific wildcard took it). */
static void
regroup(disc_wild_t *w, size_t i, struct wgroup *g)
{
	struct wgroup *old = w->v[i].g;

	w->v[i].g = g;
	g->n++;
	group_put(w, old);
}

int
disc_wild_get(disc_wild_t *w, disc_alloc_t *a, const char *wildcard,
    const char *name, uint32_t *addr)
{
	struct wgroup *g;
	long i;
	int r;

	if (!valid_pair(wildcard, name))
		return -EINVAL;
	if ((g = group_get(w, wildcard)) == NULL)
		return -ENOMEM;
	if ((i = find_name(w, name)) >= 0) {
		if (w->v[i].g != g)
			regroup(w, (size_t)i, g);
		*addr = w->v[i].addr;
		return 0;
	}
	/* Names come from DNS queries any local program can send: all of
	 * them together never take more than half the subnet, so endpoints
	 * that appear later still get addresses. */
	if (g->n >= w->limit)
		r = -EDQUOT;
	else if (w->n >= disc_alloc_size(a) / 2)
		r = -ENOSPC;
	else
		r = disc_alloc_acquire(a, name, addr);
	if (r == 0 && (r = insert(w, (size_t)(-i - 1), name, g, *addr)) == 0)
		return 1;
	/* An address acquired but not recorded is released at the next
	 * round, like any host name no longer listed. */
	if (r == -EDQUOT || r == -ENOSPC)
		warn_once(w, g, name, r);
	/* A group made for this call goes again, unless it remembers a
	 * warning (a full subnet): disc_wild_round prunes it then. */
	if (g->n == 0 && !g->warned) {
		g->n = 1;
		group_put(w, g);
	}
	return r;
}

size_t
disc_wild_round(disc_wild_t *w, disc_alloc_t *a,
    int (*listed)(void *arg, const char *host), void *arg)
{
	struct wname *x;
	size_t i, k = 0, dropped = 0;
	uint32_t addr;

	for (i = 0; i < w->n; i++) {
		x = &w->v[i];
		if (listed(arg, x->g->host) && !listed(arg, x->name) &&
		    disc_alloc_acquire(a, x->name, &addr) == 0) {
			x->addr = addr;
			w->v[k++] = *x;
			continue;
		}
		group_put(w, x->g);
		free(x->name);
		dropped++;
	}
	w->n = k;
	for (i = w->ng; i-- > 0; )	/* empty groups kept for a warning */
		if (w->g[i]->n == 0) {
			group_free(w->g[i]);
			w->g[i] = w->g[--w->ng];
		}
	return dropped;
}

int
disc_wild_restore(disc_wild_t *w, const disc_alloc_t *a, const char *name,
    const char *wildcard)
{
	struct wgroup *g;
	uint32_t addr;
	long i;
	int r;

	if (!valid_pair(wildcard, name))
		return -EINVAL;
	if (disc_alloc_lookup(a, name, &addr) != 0)
		return -ENOENT;
	if ((i = find_name(w, name)) >= 0)
		return -EEXIST;
	if ((g = group_get(w, wildcard)) == NULL)
		return -ENOMEM;
	r = g->n >= w->limit ? -EDQUOT :
	    insert(w, (size_t)(-i - 1), name, g, addr);
	if (r != 0 && g->n == 0) {
		g->n = 1;
		group_put(w, g);
	}
	return r;
}

size_t
disc_wild_count(const disc_wild_t *w)
{
	return w->n;
}

void
disc_wild_foreach(const disc_wild_t *w,
    void (*fn)(const char *, const char *, uint32_t, void *), void *arg)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		fn(w->v[i].name, w->v[i].g->host, w->v[i].addr, arg);
}
