/* disc_alloc_test.c: stable address allocation and the persisted state. */
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

#include "discovery/disc_priv.h"
#include "tests/unit/testlib.h"

#define A(x)	(0x0a6b0000u + (x))	/* 10.107.0.0 + x */

static uint32_t
get(disc_alloc_t *a, const char *host)
{
	uint32_t addr = 0;

	assert_int_equal(disc_alloc_acquire(a, host, &addr), 0);
	return addr;
}

/* One poll round with exactly these hosts. */
static void
round_of(disc_alloc_t *a, const char **hosts, size_t n, uint32_t *out)
{
	size_t i;

	disc_alloc_begin_round(a);
	for (i = 0; i < n; i++)
		out[i] = get(a, hosts[i]);
	disc_alloc_end_round(a);
}

static void
test_stable_and_shared(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	uint32_t x[3];
	const char *h[] = { "a.example", "b.example", "a.example" };

	round_of(a, h, 3, x);
	assert_int_equal(x[0], A(3));
	assert_int_equal(x[1], A(4));
	assert_int_equal(x[2], A(3));		/* same host, same address */
	round_of(a, h + 1, 2, x);		/* a stays: listed again */
	assert_int_equal(x[0], A(4));
	assert_int_equal(x[1], A(3));
	assert_int_equal(disc_alloc_count(a), 2);
	disc_alloc_free(a);
}

static void
test_release_and_recycle_order(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(6));	/* 4 addresses */
	const char *h1[] = { "a", "b", "c" }, *h2[] = { "c" },
	    *h3[] = { "c", "b" }, *h4[] = { "c", "b", "d" },
	    *h5[] = { "c", "b", "d", "e" }, *h6[] = { "c", "b", "d", "e", "f" };
	uint32_t x[5];

	round_of(a, h1, 3, x);			/* a=3 b=4 c=5 */
	round_of(a, h2, 1, x);			/* a, b released (a first) */
	assert_int_equal(disc_alloc_count(a), 1);
	round_of(a, h3, 2, x);			/* b comes back: same address */
	assert_int_equal(x[1], A(4));
	round_of(a, h4, 3, x);			/* d: never-used 6, not a's 3 */
	assert_int_equal(x[2], A(6));
	round_of(a, h5, 4, x);			/* e: none fresh: a's 3 */
	assert_int_equal(x[3], A(3));
	assert_int_equal(disc_alloc_lookup(a, "a", x), -ENOENT);
	disc_alloc_begin_round(a);		/* full: f gets nothing */
	for (int i = 0; i < 4; i++)
		get(a, h6[i]);
	assert_int_equal(disc_alloc_acquire(a, "f", x), -ENOSPC);
	disc_alloc_end_round(a);
	disc_alloc_free(a);
}

static void
test_restore_checks(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(100));

	assert_int_equal(disc_alloc_restore(a, "a", A(50), 1), 0);
	assert_int_equal(disc_alloc_restore(a, "b", A(50), 1), -EINVAL);
	assert_int_equal(disc_alloc_restore(a, "a", A(51), 1), -EINVAL);
	assert_int_equal(disc_alloc_restore(a, "c", A(2), 1), -EINVAL);
	assert_int_equal(disc_alloc_restore(a, "c", A(101), 1), -EINVAL);
	assert_int_equal(disc_alloc_next_fresh(a), A(51));
	assert_int_equal(get(a, "new"), A(51));
	disc_alloc_free(a);
}

static void
test_many_hosts(void **state)
{
	disc_alloc_t *a = disc_alloc_new(A(3), A(65534));
	char h[32];
	uint32_t x;
	int i;

	disc_alloc_begin_round(a);
	for (i = 0; i < 20000; i++) {
		snprintf(h, sizeof(h), "h%d.example", i);
		assert_int_equal(disc_alloc_acquire(a, h, &x), 0);
		assert_int_equal(x, A(3 + (uint32_t)i));
	}
	disc_alloc_end_round(a);
	assert_int_equal(disc_alloc_count(a), 20000);
	assert_int_equal(disc_alloc_lookup(a, "h12345.example", &x), 0);
	assert_int_equal(x, A(3 + 12345));
	disc_alloc_free(a);
}

static void
test_state_roundtrip(void **state)
{
	struct disc_state st = { 0 }, st2;
	disc_alloc_t *a = disc_alloc_new(A(3), A(254)), *b;
	const char *h1[] = { "a.x", "b.x", "c.x" }, *h2[] = { "c.x" };
	char path[128];
	struct stat sb;
	uint32_t x[3];
	int aside;

	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	round_of(a, h1, 3, x);
	round_of(a, h2, 1, x);			/* a.x and b.x released */
	st.operator_id = strdup("k8sop_123");
	st.ingress_endpoint = strdup("ingress.example:443");
	assert_int_equal(disc_state_save(path, &st, a, NULL), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	b = disc_alloc_new(A(3), A(254));
	assert_int_equal(disc_state_load(path, &st2, b, NULL, &aside), 0);
	assert_int_equal(aside, 0);
	assert_string_equal(st2.operator_id, "k8sop_123");
	assert_string_equal(st2.ingress_endpoint, "ingress.example:443");
	assert_null(st2.api_url);
	assert_int_equal(disc_alloc_count(b), 1);
	assert_int_equal(disc_alloc_lookup(b, "c.x", x), 0);
	assert_int_equal(x[0], A(5));
	assert_int_equal(disc_alloc_next_fresh(b), A(6));
	/* A released name that comes back after a restart keeps its address. */
	assert_int_equal(get(b, "b.x"), A(4));
	assert_int_equal(get(b, "new.x"), A(6));
	disc_state_clear(&st);
	disc_state_clear(&st2);
	disc_alloc_free(a);
	disc_alloc_free(b);
}

static void
test_state_corrupt(void **state)
{
	struct disc_state st;
	disc_alloc_t *a = disc_alloc_new(A(3), A(254));
	char path[128], bad[140];
	struct stat sb;
	int fd, aside;

	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, "{\"version\":1,\"addr", 18), 18);
	close(fd);
	assert_int_equal(disc_state_load(path, &st, a, NULL, &aside), 0);
	assert_int_equal(aside, 1);
	assert_null(st.operator_id);
	assert_int_equal(stat(bad, &sb), 0);
	assert_int_equal(sb.st_size, 18);
	assert_int_equal(stat(path, &sb), -1);
	/* Entries that make no sense are skipped, the rest is kept. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const char *j = "{\"version\":1,\"operator_id\":\"bad id\",\"addresses\":"
	    "{\"ok.x\":\"10.107.0.9\",\"bad host\":\"10.107.0.10\","
	    "\"out.x\":\"10.108.0.1\",\"dup.x\":\"10.107.0.9\",\"n.x\":5}}";
	assert_int_equal(write(fd, j, strlen(j)), (ssize_t)strlen(j));
	close(fd);
	assert_int_equal(disc_state_load(path, &st, a, NULL, &aside), 0);
	assert_int_equal(aside, 0);
	assert_null(st.operator_id);
	assert_int_equal(disc_alloc_count(a), 1);
	disc_state_clear(&st);
	disc_alloc_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stable_and_shared),
		cmocka_unit_test(test_release_and_recycle_order),
		cmocka_unit_test(test_restore_checks),
		cmocka_unit_test(test_many_hosts),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_state_corrupt),
	};

	return cmocka_run_group_tests(tests, tmpdir_make, tmpdir_remove);
}
