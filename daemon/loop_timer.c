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
