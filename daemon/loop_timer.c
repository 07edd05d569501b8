/*
 * loop_timer.c: the portable half of the loop: a binary min-heap of timers
 * and the monotonic clock.  The backends (loop_epoll.c, loop_kqueue.c) own
 * struct loop and call the loop_timers_* functions declared in loop_priv.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/loop.h"
#include "daemon/loop_priv.h"

uint64_t
loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
loop_timer_init(loop_timer_t *t, loop_timer_cb cb, void *arg)
{
	t->when_ms = 0;
	t->heap_idx = 0;
	t->cb = cb;
	t->arg = arg;
}

int
loop_timer_armed(const loop_timer_t *t)
{
	return t->heap_idx != 0;
}

/* The heap is 1-based so that heap_idx 0 means "not armed". */
static void
heap_set(struct loop_timers *h, size_t i, loop_timer_t *t)
{
	h->heap[i] = t;
	t->heap_idx = i;
}

static void
sift_up(struct loop_timers *h, size_t i)
{
	loop_timer_t *t = h->heap[i];

	while (i > 1 && h->heap[i / 2]->when_ms > t->when_ms) {
		heap_set(h, i, h->heap[i / 2]);
		i /= 2;
	}
	heap_set(h, i, t);
}

static void
sift_down(struct loop_timers *h, size_t i)
{
	loop_timer_t *t = h->heap[i];
	size_t c;

	while ((c = i * 2) <= h->n) {
		if (c < h->n && h->heap[c + 1]->when_ms < h->heap[c]->when_ms)
			c++;
		if (h->heap[c]->when_ms >= t->when_ms)
			break;
		heap_set(h, i, h->heap[c]);
		i = c;
	}
	heap_set(h, i, t);
}

static void
heap_remove(struct loop_timers *h, loop_timer_t *t)
{
	size_t i = t->heap_idx;
	loop_timer_t *last = h->heap[h->n--];

	t->heap_idx = 0;
	if (last == t)
		return;
	heap_set(h, i, last);
	sift_down(h, i);
	sift_up(h, last->heap_idx);
}

int
loop_timers_start(struct loop_timers *h, loop_timer_t *t, uint64_t when)
{
	loop_timer_t **n;

	if (t->heap_idx != 0)
		heap_remove(h, t);
	if (h->n + 1 >= h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;

		if ((n = realloc(h->heap, cap * sizeof(*n))) == NULL)
			return -ENOMEM;
		h->heap = n;
		h->cap = cap;
	}
	t->when_ms = when;
	h->heap[++h->n] = t;
	t->heap_idx = h->n;
	sift_up(h, h->n);
	return 0;
}

void
loop_timers_stop(struct loop_timers *h, loop_timer_t *t)
{
	if (t->heap_idx != 0)
		heap_remove(h, t);
}

int64_t
loop_timers_next(const struct loop_timers *h, uint64_t now)
{
	if (h->n == 0)
		return -1;
	return h->heap[1]->when_ms <= now ? 0 : (int64_t)(h->heap[1]->when_ms - now);
}

void
loop_timers_run(struct loop_timers *h, loop_t *loop, uint64_t now)
{
	loop_timer_t *t;

	/* A callback may re-arm its own timer for "now"; bound the round so
	 * that such a timer cannot starve the fds. */
	size_t budget = h->n;

	while (h->n > 0 && budget-- > 0 && (t = h->heap[1])->when_ms <= now) {
		heap_remove(h, t);
		t->cb(loop, t->arg);
	}
}

void
loop_timers_free(struct loop_timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
}

/* --- the backend-independent half of loop.h ------------------------------ */

int
loop_timer_start(loop_t *l, loop_timer_t *t, uint64_t ms)
{
	return loop_timers_start(&LOOP_CORE(l)->timers, t, loop_clock_ms() + ms);
}

void
loop_timer_stop(loop_t *l, loop_timer_t *t)
{
	loop_timers_stop(&LOOP_CORE(l)->timers, t);
}

void
loop_set_hook(loop_t *l, loop_hook_cb cb, void *arg)
{
	LOOP_CORE(l)->hook = cb;
	LOOP_CORE(l)->hook_arg = arg;
}

uint64_t
loop_now(loop_t *l)
{
	return LOOP_CORE(l)->now;
}

void
loop_stop(loop_t *l)
{
	LOOP_CORE(l)->stop = 1;
	loop_wakeup(l);
}

static int64_t
min_timeout(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

int64_t
loop_core_prepare(loop_t *l, int64_t max_ms)
{
	struct loop_core *c = LOOP_CORE(l);
	int64_t timeout;

	c->now = loop_clock_ms();
	loop_timers_run(&c->timers, l, c->now);
	timeout = loop_timers_next(&c->timers, loop_clock_ms());
	if (c->hook != NULL)
		timeout = min_timeout(timeout, c->hook(l, c->hook_arg));
	timeout = min_timeout(timeout, max_ms);
	if (c->stop)
		timeout = 0;
	/* Wake at least once a minute, whatever the timers say. */
	if (timeout < 0 || timeout > 60000)
		timeout = 60000;
	return timeout;
}

int
loop_run(loop_t *l)
{
	int r;

	LOOP_CORE(l)->stop = 0;
	while (!LOOP_CORE(l)->stop)
		if ((r = loop_once(l, -1)) < 0)
			return r;
	return 0;
}
