/* disc_reconcile_test.c: the endpoint table follows the polled set. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "discovery/disc_priv.h"

static void
push(struct disc_eplist *l, const char *id, const char *host, uint32_t addr,
    uint16_t port, const char *url)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n].id = strdup(id);
	l->v[l->n].hostname = strdup(host);
	l->v[l->n].proto = strdup("https");
	l->v[l->n].url = strdup(url);
	l->v[l->n].addr = addr;
	l->v[l->n].port = port;
	l->n++;
}

static void
test_add_keep_change_remove(void **state)
{
	eptable_t *t = eptable_new();
	struct disc_eplist l = { 0 };
	struct disc_reconcile_stats st;
	struct endpoint *a, *b, *c;

	push(&l, "ep_a", "a.x", 10, 443, "https://a.x");
	push(&l, "ep_b", "b.x", 11, 443, "https://b.x");
	push(&l, "ep_c", "b.x", 11, 8443, "https://b.x:8443");
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	assert_int_equal(st.added, 3);
	assert_int_equal(eptable_count(t), 3);
	a = eptable_lookup(t, 10, 443);
	b = eptable_lookup(t, 11, 443);
	c = eptable_lookup(t, 11, 8443);
	assert_non_null(a);
	assert_string_equal(c->id, "ep_c");
	endpoint_ref(c);		/* a stream on c */
	disc_eplist_free(&l);

	/* Same a, b with a new id (changed), c gone, d new. */
	push(&l, "ep_d", "d.x", 12, 443, "https://d.x");
	push(&l, "ep_b2", "b.x", 11, 443, "https://b.x");
	push(&l, "ep_a", "a.x", 10, 443, "https://a.x");
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	assert_int_equal(st.kept, 1);
	assert_int_equal(st.removed, 2);
	assert_int_equal(st.added, 2);
	assert_ptr_equal(eptable_lookup(t, 10, 443), a);	/* untouched */
	assert_ptr_not_equal(eptable_lookup(t, 11, 443), b);
	assert_string_equal(eptable_lookup(t, 11, 443)->id, "ep_b2");
	assert_null(eptable_lookup(t, 11, 8443));
	assert_int_equal(c->in_table, 0);	/* still valid for its stream */
	assert_string_equal(c->hostname, "b.x");
	endpoint_unref(c);
	disc_eplist_free(&l);

	assert_int_equal(disc_reconcile(t, &l, &st), 0);	/* empty set */
	assert_int_equal(st.removed, 3);
	assert_int_equal(eptable_count(t), 0);
	eptable_free(t);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
fill(struct disc_eplist *l, int n, int shift)
{
	char id[32], host[64], url[96];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "ep_%d", i + shift);
		snprintf(host, sizeof(host), "h%d.example", i + shift);
		snprintf(url, sizeof(url), "https://%s", host);
		push(l, id, host, 0x0a6b0003u + (uint32_t)(i + shift), 443, url);
	}
}

/* 10,000 endpoints: a full add, a no-change round and a 10% churn round.
 * Prints the times (make bench reads the same figures); the bound only
 * catches a quadratic regression. */
static void
test_ten_thousand(void **state)
{
	eptable_t *t = eptable_new();
	struct disc_eplist l = { 0 };
	struct disc_reconcile_stats st;
	double t0, t1, t2, t3;

	fill(&l, 10000, 0);
	t0 = now_ms();
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	t1 = now_ms();
	assert_int_equal(st.added, 10000);
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	t2 = now_ms();
	assert_int_equal(st.kept, 10000);
	disc_eplist_free(&l);
	fill(&l, 10000, 1000);
	t3 = now_ms();
	assert_int_equal(disc_reconcile(t, &l, &st), 0);
	t3 = now_ms() - t3;
	assert_int_equal(st.kept, 9000);
	assert_int_equal(st.added, 1000);
	assert_int_equal(st.removed, 1000);
	assert_int_equal(eptable_count(t), 10000);
	printf("# reconcile 10000: add %.2f ms, unchanged %.2f ms, 10%% churn %.2f ms\n",
	    t1 - t0, t2 - t1, t3);
	assert_true(t1 - t0 < 2000 && t2 - t1 < 2000 && t3 < 2000);
	disc_eplist_free(&l);
	eptable_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_keep_change_remove),
		cmocka_unit_test(test_ten_thousand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
