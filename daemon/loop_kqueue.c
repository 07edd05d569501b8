/*
 * loop_kqueue.c: the macOS/BSD backend of loop.h.  kqueue with one filter
 * per direction; EVFILT_USER wakes the loop from signal handlers and other
 * threads.  Compiled on Darwin only (the Makefile picks the backend).
 */
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/loop.h"
#include "daemon/loop_priv.h"

#define LOOP_MAX_EVENTS 256
#define WAKE_IDENT 1

struct loop_fd {
	loop_fd_cb	 cb;
	void		*arg;
	int		 events;
};

struct loop {
	struct loop_core core;	/* first: see loop_priv.h */
	int		 kq;
	struct loop_fd	*fds;
	size_t		 nfds;
};

loop_t *
loop_new(void)
{
	struct kevent kev;
	loop_t *l;
	int saved;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->kq = kqueue()) == -1)
		goto fail;
	EV_SET(&kev, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	if (kevent(l->kq, &kev, 1, NULL, 0, NULL) == -1)
		goto fail;
	l->core.now = loop_clock_ms();
	return l;
fail:
	saved = errno;
	loop_free(l);
	errno = saved;
	return NULL;
}

void
loop_free(loop_t *l)
{
	if (l == NULL)
		return;
	if (l->kq > 0)
		close(l->kq);
	loop_timers_free(&l->core.timers);
	free(l->fds);
	free(l);
}

static int
grow(loop_t *l, int fd)
{
	size_t n = l->nfds ? l->nfds : 64;
	struct loop_fd *f;

	while (n <= (size_t)fd)
		n *= 2;
	if ((f = realloc(l->fds, n * sizeof(*f))) == NULL)
		return -ENOMEM;
	memset(f + l->nfds, 0, (n - l->nfds) * sizeof(*f));
	l->fds = f;
	l->nfds = n;
	return 0;
}

static int
apply(loop_t *l, int fd, int old, int events)
{
	struct kevent kev[2];
	int n = 0;

	if ((events & LOOP_READ) != (old & LOOP_READ))
		EV_SET(&kev[n++], fd, EVFILT_READ,
		    events & LOOP_READ ? EV_ADD : EV_DELETE, 0, 0, NULL);
	if ((events & LOOP_WRITE) != (old & LOOP_WRITE))
		EV_SET(&kev[n++], fd, EVFILT_WRITE,
		    events & LOOP_WRITE ? EV_ADD : EV_DELETE, 0, 0, NULL);
	if (n > 0 && kevent(l->kq, kev, n, NULL, 0, NULL) == -1)
		return -errno;
	return 0;
}

int
loop_add_fd(loop_t *l, int fd, int events, loop_fd_cb cb, void *arg)
{
	int r, old;

	if (fd < 0 || cb == NULL)
		return -EINVAL;
	if ((size_t)fd >= l->nfds && (r = grow(l, fd)) != 0)
		return r;
	old = l->fds[fd].cb != NULL ? l->fds[fd].events : 0;
	if ((r = apply(l, fd, old, events)) != 0)
		return r;
	l->fds[fd].cb = cb;
	l->fds[fd].arg = arg;
	l->fds[fd].events = events;
	return 0;
}

int
loop_mod_fd(loop_t *l, int fd, int events)
{
	int r;

	if (fd < 0 || (size_t)fd >= l->nfds || l->fds[fd].cb == NULL)
		return -ENOENT;
	if ((r = apply(l, fd, l->fds[fd].events, events)) != 0)
		return r;
	l->fds[fd].events = events;
	return 0;
}

int
loop_del_fd(loop_t *l, int fd)
{
	int r;

	if (fd < 0 || (size_t)fd >= l->nfds || l->fds[fd].cb == NULL)
		return -ENOENT;
	r = apply(l, fd, l->fds[fd].events, 0);
	l->fds[fd].cb = NULL;
	l->fds[fd].arg = NULL;
	l->fds[fd].events = 0;
	return r;
}






void
loop_wakeup(loop_t *l)
{
	struct kevent kev;

	EV_SET(&kev, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	(void)kevent(l->kq, &kev, 1, NULL, 0, NULL);
}


int
loop_once(loop_t *l, int64_t max_ms)
{
	struct kevent ev[LOOP_MAX_EVENTS];
	struct timespec ts, *tsp = NULL;
	int64_t timeout;
	int i, n;

	timeout = loop_core_prepare(l, max_ms);
	if (timeout >= 0) {
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (timeout % 1000) * 1000000;
		tsp = &ts;
	}
	n = kevent(l->kq, NULL, 0, ev, LOOP_MAX_EVENTS, tsp);
	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	l->core.now = loop_clock_ms();
	for (i = 0; i < n; i++) {
		int fd = (int)ev[i].ident, events;
		struct loop_fd *f;

		if (ev[i].filter == EVFILT_USER)
			continue;
		if ((size_t)fd >= l->nfds || (f = &l->fds[fd])->cb == NULL)
			continue;
		events = ev[i].filter == EVFILT_READ ? LOOP_READ : LOOP_WRITE;
		if (ev[i].flags & (EV_EOF | EV_ERROR))
			events |= f->events;
		events &= f->events;
		if (events)
			f->cb(l, fd, events, f->arg);
	}
	return n;
}

