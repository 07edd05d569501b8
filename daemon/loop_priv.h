/* loop_priv.h: shared by the loop backends and loop_timer.c only. */
#ifndef NGROKD_LOOP_PRIV_H
#define NGROKD_LOOP_PRIV_H

#include "daemon/loop.h"

#include <signal.h>

struct loop_timers {
	loop_timer_t	**heap;		/* 1-based */
	size_t		  n, cap;
};

/* The part of struct loop that every backend has; it is the first member
 * of each backend's struct loop, so loop_timer.c reaches it by a cast. */
struct loop_core {
	struct loop_timers	 timers;
	loop_hook_cb		 hook;
	void			*hook_arg;
	uint64_t		 now;
	volatile sig_atomic_t	 stop;
};

#define LOOP_CORE(l)	((struct loop_core *)(void *)(l))

/* Runs due timers and returns how long the backend may wait (ms, -1: no
 * limit), taking the hook, max_ms and a pending stop into account. */
int64_t	loop_core_prepare(loop_t *l, int64_t max_ms);

int	loop_timers_start(struct loop_timers *h, loop_timer_t *t, uint64_t when);
void	loop_timers_stop(struct loop_timers *h, loop_timer_t *t);
/* ms until the first timer (0: due), -1 when none. */
int64_t	loop_timers_next(const struct loop_timers *h, uint64_t now);
void	loop_timers_run(struct loop_timers *h, loop_t *loop, uint64_t now);
void	loop_timers_free(struct loop_timers *h);
/* Backend: wakes the backend's wait (loop_wakeup). */

#endif
