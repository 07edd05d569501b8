/* loop_test: the event loop's timers and fd watchers, on real pipes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/loop.h"

struct rec {
	int	order[16];
	int	n;
	int	fd_events;
	int	fd_calls;
};

static struct rec *g_rec;

static void
fire(loop_t *l, void *arg)
{
	(void)l;
	g_rec->order[g_rec->n++] = (int)(intptr_t)arg;
}

static void
test_timers_fire_in_deadline_order(void **state)
{
	loop_t *l = loop_new();
	loop_timer_t t[5];
	struct rec r = { 0 };
	int delays[5] = { 40, 10, 30, 0, 20 }, i;
	uint64_t start = loop_clock_ms();

	(void)state;
	g_rec = &r;
	assert_non_null(l);
	for (i = 0; i < 5; i++) {
		loop_timer_init(&t[i], fire, (void *)(intptr_t)delays[i]);
		assert_int_equal(loop_timer_start(l, &t[i], (uint64_t)delays[i]), 0);
	}
	/* Stopping one removes it; re-arming moves it. */
	loop_timer_stop(l, &t[2]);
	assert_false(loop_timer_armed(&t[2]));
	assert_int_equal(loop_timer_start(l, &t[1], 50), 0);
	while (r.n < 4 && loop_clock_ms() - start < 2000)
		loop_once(l, 100);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.order[0], 0);
	assert_int_equal(r.order[1], 20);
	assert_int_equal(r.order[2], 40);
	assert_int_equal(r.order[3], 10);	/* re-armed for 50 ms */
	assert_true(loop_clock_ms() - start >= 50);
	loop_free(l);
}

static void
on_fd(loop_t *l, int fd, int events, void *arg)
{
	struct rec *r = arg;
	char c;

	(void)l;
	r->fd_calls++;
	r->fd_events |= events;
	if (events & LOOP_READ)
		assert_int_equal(read(fd, &c, 1), 1);
}

static void
test_fd_readiness_and_removal(void **state)
{
	loop_t *l = loop_new();
	struct rec r = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_add_fd(l, p[0], LOOP_READ, on_fd, &r), 0);
	loop_once(l, 0);
	assert_int_equal(r.fd_calls, 0);		/* nothing to read yet */
	assert_int_equal(write(p[1], "x", 1), 1);
	loop_once(l, 1000);
	assert_int_equal(r.fd_calls, 1);
	assert_int_equal(r.fd_events, LOOP_READ);
	/* No interest: not called even though readable. */
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(loop_mod_fd(l, p[0], 0), 0);
	loop_once(l, 0);
	assert_int_equal(r.fd_calls, 1);
	assert_int_equal(loop_del_fd(l, p[0]), 0);
	assert_int_equal(loop_del_fd(l, p[0]), -ENOENT);
	assert_int_equal(loop_add_fd(l, -1, LOOP_READ, on_fd, &r), -EINVAL);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void
stopper(loop_t *l, void *arg)
{
	(void)arg;
	loop_stop(l);
}

static void
test_run_until_stop(void **state)
{
	loop_t *l = loop_new();
	loop_timer_t t;

	(void)state;
	loop_timer_init(&t, stopper, NULL);
	loop_timer_start(l, &t, 5);
	assert_int_equal(loop_run(l), 0);
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_fd_readiness_and_removal),
		cmocka_unit_test(test_run_until_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
