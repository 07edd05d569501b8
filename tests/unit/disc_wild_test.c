/*
 * disc_wild_test.c: names under wildcard endpoints (discovery/disc_wild.c,
 * the derived endpoints in disc_reconcile.c, disc_wildcard_addr): allocation,
 * stability, the per-wildcard limit, release when the wildcard goes, a
 * concrete endpoint taking a name over, the state.json round trip, and the
 * table entries a stream to such a name uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "discovery/disc_priv.h"
#include "tests/unit/testlib.h"

#define A(x)	(0x0a6b0000u + (x))	/* 10.107.0.0 + x */
#define WILD	"*.apps.example"

/* listed() over a NULL-terminated array of host names. */
static int
in_list(void *arg, const char *host)
{
	const char *const *v = arg;

	for (; *v != NULL; v++)
		if (strcmp(*v, host) == 0)
			return 1;
	return 0;
}

/* One poll round of a with the polled hosts in polled, then w's round. */
static size_t
poll_round(disc_alloc_t *a, disc_wild_t *w, const char **polled)
{
	uint32_t x;
	size_t i, gone;

	disc_alloc_begin_round(a);
	for (i = 0; polled[i] != NULL; i++)
		assert_int_equal(disc_alloc_acquire(a, polled[i], &x), 0);
	gone = disc_wild_round(w, a, in_list, polled);
	disc_alloc_end_round(a);
	return gone;
}

static uint32_t
get_new(disc_wild_t *w, disc_alloc_t *a, const char *wc, const char *name)
{
	uint32_t x = 0;

	assert_int_equal(disc_wild_get(w, a, wc, name, &x), 1);
	return x;
}

static uint32_t
get_old(disc_wild_t *w, disc_alloc_t *a, const char *wc, const char *name)
{
	uint32_t x = 0;

	assert_int_equal(disc_wild_get(w, a, wc, name, &x), 0);
	return x;
}

static void
test_covers(void **state)
{
	assert_true(disc_wild_covers(WILD, "a.apps.example"));
	assert_true(disc_wild_covers(WILD, "x.y.apps.example"));
	assert_false(disc_wild_covers(WILD, "apps.example"));
	assert_false(disc_wild_covers(WILD, "aapps.example"));
	assert_false(disc_wild_covers(WILD, "a.apps.example.org"));
	assert_false(disc_wild_covers("apps.example", "a.apps.example"));
	assert_false(disc_wild_covers(WILD, "*.b.apps.example"));
}

static void
test_allocate_and_stable(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	disc_wild_t *w = disc_wild_new(0);
	const char *polled[] = { WILD, "api.example", NULL };
	uint32_t x, y, z, dummy;

	poll_round(a, w, polled);			/* A(3), A(4) */
	x = get_new(w, a, WILD, "a.apps.example");
	assert_int_equal(x, A(5));
	y = get_new(w, a, WILD, "b.apps.example");
	assert_int_equal(y, A(6));
	assert_int_equal(get_old(w, a, WILD, "a.apps.example"), x);
	z = get_new(w, a, WILD, "x.y.apps.example");	/* any depth */
	assert_int_equal(z, A(7));
	assert_int_equal(disc_wild_count(w), 3);
	/* Polls that still list the wildcard keep every name's address. */
	assert_int_equal(poll_round(a, w, polled), 0);
	assert_int_equal(poll_round(a, w, polled), 0);
	assert_int_equal(get_old(w, a, WILD, "b.apps.example"), y);
	assert_int_equal(disc_alloc_lookup(a, "a.apps.example", &dummy), 0);
	assert_int_equal(dummy, x);
	/* Names that are not under the wildcard are refused. */
	assert_int_equal(disc_wild_get(w, a, WILD, "apps.example", &dummy), -EINVAL);
	assert_int_equal(disc_wild_get(w, a, WILD, "a.other.example", &dummy),
	    -EINVAL);
	assert_int_equal(disc_wild_get(w, a, "apps.example", "a.apps.example",
	    &dummy), -EINVAL);
	assert_int_equal(disc_wild_count(w), 3);
	disc_wild_free(w);
	disc_alloc_free(a);
}

static void
test_limit(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	disc_wild_t *w = disc_wild_new(2);
	const char *polled[] = { WILD, "*.other.example", NULL };
	const char *only_other[] = { "*.other.example", NULL };
	uint32_t x, dummy;

	poll_round(a, w, polled);
	x = get_new(w, a, WILD, "a.apps.example");
	get_new(w, a, WILD, "b.apps.example");
	assert_int_equal(disc_wild_get(w, a, WILD, "c.apps.example", &dummy),
	    -EDQUOT);
	assert_int_equal(disc_wild_get(w, a, WILD, "d.apps.example", &dummy),
	    -EDQUOT);
	/* Refused names take no address. */
	assert_int_equal(disc_alloc_lookup(a, "c.apps.example", &dummy), -ENOENT);
	/* Names that have one keep answering; the limit is per wildcard. */
	assert_int_equal(get_old(w, a, WILD, "a.apps.example"), x);
	get_new(w, a, "*.other.example", "a.other.example");
	assert_int_equal(disc_wild_count(w), 3);
	/* When the wildcard goes its names go, and a new one starts empty. */
	assert_int_equal(poll_round(a, w, only_other), 2);
	poll_round(a, w, polled);
	get_new(w, a, WILD, "c.apps.example");
	get_new(w, a, WILD, "d.apps.example");
	disc_wild_free(w);
	disc_alloc_free(a);
}

static void
test_subnet_full(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(4));	/* two addresses */
	disc_wild_t *w = disc_wild_new(0);
	const char *polled[] = { WILD, NULL };
	uint32_t dummy;

	poll_round(a, w, polled);
	get_new(w, a, WILD, "a.apps.example");
	assert_int_equal(disc_wild_get(w, a, WILD, "b.apps.example", &dummy),
	    -ENOSPC);
	assert_int_equal(disc_wild_count(w), 1);
	/* A wildcard without names: refused too (logged once), and its
	 * empty group goes at the next round. */
	assert_int_equal(disc_wild_get(w, a, "*.o.example", "a.o.example",
	    &dummy), -ENOSPC);
	assert_int_equal(disc_wild_get(w, a, "*.o.example", "b.o.example",
	    &dummy), -ENOSPC);
	assert_int_equal(poll_round(a, w, polled), 0);
	assert_int_equal(disc_wild_count(w), 1);
	disc_wild_free(w);
	disc_alloc_free(a);
}

/* Queries for random names (any local program can send them) never take
 * more than half the subnet: endpoints that come later still get one. */
static void
test_names_hold_at_most_half(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(22));	/* 20 addresses */
	disc_wild_t *w = disc_wild_new(0);
	const char *polled[] = { WILD, "*.o.example", NULL };
	char name[64];
	uint32_t addr;
	int i, got = 0, r;

	poll_round(a, w, polled);
	for (i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "n%d.%s", i,
		    i % 2 ? "apps.example" : "o.example");
		r = disc_wild_get(w, a, i % 2 ? WILD : "*.o.example", name, &addr);
		if (r == 1)
			got++;
		else
			assert_int_equal(r, -ENOSPC);
	}
	assert_int_equal(got, 10);
	assert_int_equal(disc_wild_count(w), 10);
	/* 20 - 2 wildcards - 10 names: 8 left for endpoints. */
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "ep%d.example", i);
		assert_int_equal(disc_alloc_acquire(a, name, &addr), 0);
	}
	disc_wild_free(w);
	disc_alloc_free(a);
}

static void
test_release_when_wildcard_goes(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	disc_wild_t *w = disc_wild_new(0);
	const char *with[] = { WILD, "api.example", NULL };
	const char *without[] = { "api.example", NULL };
	const char *concrete[] = { WILD, "api.example", "b.apps.example", NULL };
	uint32_t x, y, dummy;

	poll_round(a, w, with);
	x = get_new(w, a, WILD, "a.apps.example");
	y = get_new(w, a, WILD, "b.apps.example");
	assert_int_equal(poll_round(a, w, without), 2);
	assert_int_equal(disc_wild_count(w), 0);
	assert_int_equal(disc_alloc_lookup(a, "a.apps.example", &dummy), -ENOENT);
	assert_int_equal(disc_alloc_lookup(a, "b.apps.example", &dummy), -ENOENT);
	/* Released but remembered: back before reuse, the same addresses. */
	poll_round(a, w, with);
	assert_int_equal(get_new(w, a, WILD, "b.apps.example"), y);
	assert_int_equal(get_new(w, a, WILD, "a.apps.example"), x);
	/* A concrete endpoint of that name takes the name and its address. */
	assert_int_equal(poll_round(a, w, concrete), 1);
	assert_int_equal(disc_wild_count(w), 1);
	assert_int_equal(disc_alloc_lookup(a, "b.apps.example", &dummy), 0);
	assert_int_equal(dummy, y);
	disc_wild_free(w);
	disc_alloc_free(a);
}

static void
test_most_specific_takes_over(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	disc_wild_t *w = disc_wild_new(1);
	const char *both[] = { WILD, "*.x.apps.example", NULL };
	const char *inner[] = { "*.x.apps.example", NULL };
	uint32_t x;

	poll_round(a, w, both);
	x = get_new(w, a, WILD, "a.x.apps.example");
	/* A query under the more specific wildcard moves the name, with its
	 * address, even with that wildcard at its limit of 1 after it. */
	assert_int_equal(get_old(w, a, "*.x.apps.example", "a.x.apps.example"), x);
	get_new(w, a, WILD, "b.apps.example");	/* WILD has room again */
	assert_int_equal(poll_round(a, w, inner), 1);	/* b goes, a stays */
	assert_int_equal(get_old(w, a, "*.x.apps.example", "a.x.apps.example"), x);
	disc_wild_free(w);
	disc_alloc_free(a);
}

static void
test_state_roundtrip(void **state)
{
	struct disc_state st = { 0 }, st2;
	disc_alloc_t *a = disc_alloc_new(A(3), A(254)), *b;
	disc_wild_t *w = disc_wild_new(0), *w2;
	const char *polled[] = { WILD, "*.other.example", NULL };
	char path[128], *txt;
	uint32_t x, y, z;
	int aside;

	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	poll_round(a, w, polled);
	x = get_new(w, a, WILD, "a.apps.example");
	y = get_new(w, a, WILD, "b.apps.example");
	z = get_new(w, a, "*.other.example", "c.other.example");
	assert_int_equal(disc_state_save(path, &st, a, w), 0);

	b = disc_alloc_new(A(3), A(254));
	w2 = disc_wild_new(0);
	assert_int_equal(disc_state_load(path, &st2, b, w2, &aside), 0);
	assert_int_equal(aside, 0);
	assert_int_equal(disc_wild_count(w2), 3);
	assert_int_equal(get_old(w2, b, WILD, "a.apps.example"), x);
	assert_int_equal(get_old(w2, b, WILD, "b.apps.example"), y);
	assert_int_equal(get_old(w2, b, "*.other.example", "c.other.example"), z);
	/* The restored names survive the first poll that lists their
	 * wildcards, and go with the first that does not. */
	assert_int_equal(poll_round(b, w2, polled), 0);
	assert_int_equal(get_old(w2, b, WILD, "a.apps.example"), x);
	/* Rendered again: the same text. */
	txt = disc_state_render(&st2, b, w2);
	assert_non_null(txt);
	assert_non_null(strstr(txt, "\"wildcard_names\""));
	assert_non_null(strstr(txt, "\"b.apps.example\":\t\"*.apps.example\""));
	free(txt);
	disc_state_clear(&st2);
	disc_wild_free(w2);
	disc_alloc_free(b);

	/* Without names there is no wildcard_names key at all. */
	w2 = disc_wild_new(0);
	txt = disc_state_render(&st, a, w2);
	assert_null(strstr(txt, "wildcard_names"));
	free(txt);
	disc_wild_free(w2);
	disc_wild_free(w);
	disc_alloc_free(a);
}

static void
write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static void
test_state_bad_entries(void **state)
{
	struct disc_state st;
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	disc_wild_t *w = disc_wild_new(2);
	char path[128];
	uint32_t x;
	int aside;

	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	write_file(path, "{\"version\":1,\"addresses\":{"
	    "\"a.apps.example\":\"10.107.0.9\",\"b.apps.example\":\"10.107.0.10\","
	    "\"c.apps.example\":\"10.107.0.11\",\"d.other.example\":\"10.107.0.12\"},"
	    "\"wildcard_names\":{"
	    "\"a.apps.example\":\"*.apps.example\","	/* kept */
	    "\"d.other.example\":\"*.apps.example\","	/* not under it */
	    "\"nope.apps.example\":\"*.apps.example\","	/* no address */
	    "\"bad name\":\"*.apps.example\","		/* not a host name */
	    "\"b.apps.example\":5,"			/* not a string */
	    "\"b.apps.example\":\"*.apps.example\","	/* kept */
	    "\"c.apps.example\":\"*.apps.example\"}}");	/* over the limit */
	assert_int_equal(disc_state_load(path, &st, a, w, &aside), 0);
	assert_int_equal(aside, 0);
	assert_int_equal(disc_wild_count(w), 2);
	assert_int_equal(get_old(w, a, WILD, "a.apps.example"), A(9));
	assert_int_equal(get_old(w, a, WILD, "b.apps.example"), A(10));
	assert_int_equal(disc_wild_get(w, a, WILD, "c.apps.example", &x), -EDQUOT);
	disc_state_clear(&st);
	disc_wild_free(w);
	disc_alloc_free(a);
}

/* --- the endpoint table ---------------------------------------------------- */

static void
push(struct disc_eplist *l, const char *id, const char *host, uint32_t addr,
    uint16_t port, const char *url)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n] = (struct disc_ep){ strdup(id), strdup(host), strdup("http"),
	    strdup(url), port, addr };
	l->n++;
}

/* The polled set: *.apps.example on ports 80 and 443 at A(3), plus extra. */
static void
reconcile(eptable_t *t, const char *url, const char *extra, uint32_t xaddr)
{
	struct disc_eplist l = { 0 };
	struct disc_reconcile_stats st;

	push(&l, "ep_w", WILD, A(3), 80, url);
	push(&l, "ep_w", WILD, A(3), 443, url);
	if (extra != NULL)
		push(&l, "ep_x", extra, xaddr, 80, "http://x");
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	disc_eplist_free(&l);
}

static void
sync_names(eptable_t *t, struct disc_wild_name *v, size_t n,
    struct disc_reconcile_stats *st)
{
	assert_int_equal(disc_wild_sync(t, v, n, st), 0);
}

static void
test_table_entries(void **state)
{
	eptable_t *t = eptable_new();
	struct disc_wild_name v[1] = { { "a.apps.example", WILD, A(5) } };
	struct disc_reconcile_stats st;
	struct endpoint *w80, *e80, *e443, *held;

	reconcile(t, "http://*.apps.example", NULL, 0);
	w80 = eptable_lookup(t, A(3), 80);
	assert_non_null(w80);
	/* The first answer adds one entry per port of the wildcard. */
	assert_int_equal(disc_wild_add_entries(t, WILD, "a.apps.example", A(5)), 2);
	e80 = eptable_lookup(t, A(5), 80);
	e443 = eptable_lookup(t, A(5), 443);
	assert_non_null(e80);
	assert_non_null(e443);
	assert_string_equal(e80->hostname, "a.apps.example");	/* ConnRequest */
	assert_string_equal(e80->id, "ep_w");
	assert_string_equal(e80->url, "http://*.apps.example");
	assert_ptr_equal(e80->parent, w80);
	assert_ptr_equal(endpoint_stats(e80), &w80->stats);
	assert_ptr_equal(endpoint_stats(w80), &w80->stats);
	assert_int_equal(eptable_count(t), 4);
	assert_int_equal(eptable_count_derived(t), 2);
	assert_int_equal(disc_wild_add_entries(t, WILD, "a.apps.example", A(5)), 0);

	/* A poll with the same set keeps them; so does the sync. */
	reconcile(t, "http://*.apps.example", NULL, 0);
	assert_ptr_equal(eptable_lookup(t, A(5), 80), e80);
	sync_names(t, v, 1, &st);
	assert_int_equal(st.kept, 2);
	assert_int_equal(st.added + st.removed, 0);

	/* A stream holds e80 while the wildcard changes (new url): the new
	 * wildcard endpoint gets entries of its own, the old ones stay valid
	 * for the stream. */
	held = e80;
	endpoint_ref(held);
	reconcile(t, "http://*.apps.example:8080", NULL, 0);
	sync_names(t, v, 1, &st);
	assert_int_equal(st.removed, 2);
	assert_int_equal(st.added, 2);
	assert_false(held->in_table);
	assert_false(held->parent->in_table);
	held->parent->stats.streams_total++;		/* still ours to touch */
	e80 = eptable_lookup(t, A(5), 80);
	assert_string_equal(e80->url, "http://*.apps.example:8080");
	assert_ptr_equal(e80->parent, eptable_lookup(t, A(3), 80));
	endpoint_unref(held);

	/* A concrete endpoint of that name (same address) wins its port. */
	reconcile(t, "http://*.apps.example:8080", "a.apps.example", A(5));
	e80 = eptable_lookup(t, A(5), 80);
	assert_null(e80->parent);
	assert_string_equal(e80->id, "ep_x");
	assert_non_null(eptable_lookup(t, A(5), 443)->parent);

	/* The name gone from the list (its wildcard went): entries go. */
	sync_names(t, v, 0, &st);
	assert_int_equal(st.removed, 1);
	assert_null(eptable_lookup(t, A(5), 443));
	assert_int_equal(eptable_count_derived(t), 0);
	eptable_free(t);
}

static void
test_wildcard_gone_removes_entries(void **state)
{
	eptable_t *t = eptable_new();
	struct disc_wild_name v[2] = { { "a.apps.example", WILD, A(5) },
	    { "b.apps.example", WILD, A(6) } };
	struct disc_eplist l = { 0 };
	struct disc_reconcile_stats st;

	reconcile(t, "http://*.apps.example", NULL, 0);
	sync_names(t, v, 2, &st);		/* after a restart: from state */
	assert_int_equal(st.added, 4);
	push(&l, "ep_y", "api.example", A(4), 80, "http://api.example");
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	disc_eplist_free(&l);
	assert_int_equal(st.removed, 2);	/* the wildcard's own two */
	sync_names(t, v, 2, &st);		/* names not yet released */
	assert_int_equal(st.removed, 4);
	assert_int_equal(st.added, 0);
	assert_int_equal(eptable_count(t), 1);
	eptable_free(t);
}

/* disc_wildcard_addr through a real (not started) discovery client. */
static void
test_disc_wildcard_addr(void **state)
{
	struct config cfg;
	struct disc_status ds;
	eptable_t *t = eptable_new();
	struct endpoint *w;
	disc_t *d;
	char sdir[96];
	uint32_t x = 0, y = 0;

	snprintf(sdir, sizeof(sdir), "%s/disc", tmpdir);
	assert_int_equal(mkdir(sdir, 0700), 0);
	assert_int_equal(config_defaults(&cfg), 0);
	free(cfg.state_dir);
	cfg.state_dir = strdup(sdir);
	cfg.dns_wildcard_names = 1;
	d = disc_new(NULL, &cfg, t, NULL);
	assert_non_null(d);
	/* Not from d's allocator: at an address it does not give out first. */
	w = eptable_add(t, "ep_w", WILD, "http", "http://*.apps.example", A(200),
	    80);
	assert_non_null(w);
	assert_int_equal(disc_wildcard_addr(d, w, "a.apps.example", &x), 1);
	assert_int_not_equal(x, 0);
	assert_string_equal(eptable_lookup(t, x, 80)->hostname, "a.apps.example");
	assert_int_equal(disc_wildcard_addr(d, w, "a.apps.example", &y), 1);
	assert_int_equal(x, y);
	assert_int_equal(disc_wildcard_addr(d, w, "b.apps.example", &y), 0);
	disc_get_status(d, &ds);
	assert_int_equal(ds.wildcard_names, 1);
	disc_free(d);
	config_free(&cfg);
	eptable_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_allocate_and_stable),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_subnet_full),
		cmocka_unit_test(test_names_hold_at_most_half),
		cmocka_unit_test(test_release_when_wildcard_goes),
		cmocka_unit_test(test_most_specific_takes_over),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_state_bad_entries),
		cmocka_unit_test(test_table_entries),
		cmocka_unit_test(test_wildcard_gone_removes_entries),
		cmocka_unit_test(test_disc_wildcard_addr),
	};

	return cmocka_run_group_tests(tests, tmpdir_make, tmpdir_remove);
}
