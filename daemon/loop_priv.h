/* loop_priv.h: shared by the loop backends and loop_timer.c only. */
#ifndef NGROKD_LOOP_PRIV_H
#define NGROKD_LOOP_PRIV_H

#include "daemon/loop.h"

struct loop_timers {
	loop_timer_t	**heap;		/* 1-based */
	size_t		  n, cap;
};

int	loop_timers_start(struct loop_timers *h, loop_timer_t *t, uint64_t when);
void	loop_timers_stop(struct loop_timers *h, loop_timer_t *t);
/* ms until the first timer (0: due), -1 when none. */
int64_t	loop_timers_next(const struct loop_timers *h, uint64_t now);
void	loop_timers_run(struct loop_timers *h, loop_t *loop, uint64_t now);
void	loop_timers_free(struct loop_timers *h);

#endif
