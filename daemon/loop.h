/*
 * loop.h: the event loop (Redis ae.h / chrony sched.h sized).
 *
 * One loop per thread; every callback runs on the loop's thread.  Backends:
 * loop_epoll.c (Linux) and loop_kqueue.c (macOS/BSD), chosen by the Makefile;
 * loop_timer.c holds the portable timer heap.
 *
 * Ownership: the loop never closes an fd; the caller removes the watcher
 * (loop_del_fd) before closing.  Timers are owned by the caller: a timer_t
 * is embedded in the caller's struct and must be stopped before it is freed.
 */
#ifndef NGROKD_LOOP_H
#define NGROKD_LOOP_H

#include <stdint.h>

typedef struct loop loop_t;

#define LOOP_READ	0x1
#define LOOP_WRITE	0x2

/* fd callback: events is a mask of LOOP_READ / LOOP_WRITE (errors and hangup
 * are reported as both, so that the next read or write sees them). */
typedef void (*loop_fd_cb)(loop_t *loop, int fd, int events, void *arg);
typedef void (*loop_timer_cb)(loop_t *loop, void *arg);
/* Runs before each sleep; returns the longest the loop may sleep in ms
 * (-1: no limit).  lwIP's sys_timeouts_sleeptime() goes here. */
typedef int64_t (*loop_hook_cb)(loop_t *loop, void *arg);

typedef struct loop_timer {
	uint64_t	 when_ms;	/* monotonic deadline */
	size_t		 heap_idx;	/* 0 = not armed */
	loop_timer_cb	 cb;
	void		*arg;
} loop_timer_t;

loop_t	*loop_new(void);		/* NULL + errno on failure */
void	 loop_free(loop_t *loop);

/* Watches fd for events (a mask); replaces the interest when already added. */
int	 loop_add_fd(loop_t *loop, int fd, int events, loop_fd_cb cb, void *arg);
int	 loop_mod_fd(loop_t *loop, int fd, int events);
int	 loop_del_fd(loop_t *loop, int fd);

void	 loop_timer_init(loop_timer_t *t, loop_timer_cb cb, void *arg);
/* (Re)arms t to fire once after ms milliseconds. */
int	 loop_timer_start(loop_t *loop, loop_timer_t *t, uint64_t ms);
void	 loop_timer_stop(loop_t *loop, loop_timer_t *t);
int	 loop_timer_armed(const loop_timer_t *t);

/* At most one hook; called before every wait. */
void	 loop_set_hook(loop_t *loop, loop_hook_cb cb, void *arg);

/* Runs until loop_stop; returns 0, or -errno when the wait fails. */
int	 loop_run(loop_t *loop);
/* Makes loop_run return after the current iteration (async-signal-safe
 * through loop_wakeup). */
void	 loop_stop(loop_t *loop);
/* Wakes a sleeping loop from a signal handler or another thread. */
void	 loop_wakeup(loop_t *loop);
/* One wait-and-dispatch round with a timeout cap (tests use it). */
int	 loop_once(loop_t *loop, int64_t max_ms);

/* Monotonic milliseconds (cached per loop iteration by loop_now). */
uint64_t loop_now(loop_t *loop);
uint64_t loop_clock_ms(void);

#endif
