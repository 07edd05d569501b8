/*
 * loop_epoll.c: the Linux backend of loop.h.  Level-triggered epoll; an
 * eventfd wakes the loop from signal handlers and other threads.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/loop.h"
#include "daemon/loop_priv.h"

#define LOOP_MAX_EVENTS 256

struct loop_fd {
	loop_fd_cb	 cb;
	void		*arg;
	int		 events;	/* 0 = not watched */
};

struct loop {
	struct loop_core core;	/* first: see loop_priv.h */
	int		 epfd;
	int		 wakefd;
	struct loop_fd	*fds;		/* indexed by fd */
	size_t		 nfds;
};

loop_t *
loop_new(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	loop_t *l;
	int saved;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->wakefd = -1;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		goto fail;
	if ((l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	ev.data.fd = l->wakefd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) == -1)
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
	if (l->wakefd != -1)
		close(l->wakefd);
	if (l->epfd != -1)
		close(l->epfd);
	loop_timers_free(&l->core.timers);
	free(l->fds);
	free(l);
}

static uint32_t
to_epoll(int events)
{
	return (events & LOOP_READ ? EPOLLIN | EPOLLRDHUP : 0) |
	    (events & LOOP_WRITE ? EPOLLOUT : 0);
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

int
loop_add_fd(loop_t *l, int fd, int events, loop_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };
	int op, r;

	if (fd < 0 || cb == NULL)
		return -EINVAL;
	if ((size_t)fd >= l->nfds && (r = grow(l, fd)) != 0)
		return r;
	op = l->fds[fd].cb != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, fd, &ev) == -1)
		return -errno;
	l->fds[fd].cb = cb;
	l->fds[fd].arg = arg;
	l->fds[fd].events = events;
	return 0;
}

int
loop_mod_fd(loop_t *l, int fd, int events)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };

	if (fd < 0 || (size_t)fd >= l->nfds || l->fds[fd].cb == NULL)
		return -ENOENT;
	if (l->fds[fd].events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -errno;
	l->fds[fd].events = events;
	return 0;
}

int
loop_del_fd(loop_t *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || l->fds[fd].cb == NULL)
		return -ENOENT;
	l->fds[fd].cb = NULL;
	l->fds[fd].arg = NULL;
	l->fds[fd].events = 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) == -1)
		return -errno;
	return 0;
}






void
loop_wakeup(loop_t *l)
{
	uint64_t one = 1;
	ssize_t r;

	/* A full counter already means "wake up"; nothing to report. */
	r = write(l->wakefd, &one, sizeof(one));
	(void)r;
}


int
loop_once(loop_t *l, int64_t max_ms)
{
	struct epoll_event ev[LOOP_MAX_EVENTS];
	int64_t timeout;
	uint64_t drain;
	int i, n;

	timeout = loop_core_prepare(l, max_ms);
	n = epoll_wait(l->epfd, ev, LOOP_MAX_EVENTS, (int)timeout);
	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	l->core.now = loop_clock_ms();
	for (i = 0; i < n; i++) {
		int fd = ev[i].data.fd, events = 0;
		struct loop_fd *f;

		if (fd == l->wakefd) {
			if (read(l->wakefd, &drain, sizeof(drain)) < 0)
				drain = 0;
			continue;
		}
		/* An earlier callback of this round may have removed fd. */
		if ((size_t)fd >= l->nfds || (f = &l->fds[fd])->cb == NULL)
			continue;
		if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			events |= LOOP_READ;
		if (ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			events |= LOOP_WRITE;
		events &= f->events;
		if (events)
			f->cb(l, fd, events, f->arg);
	}
	return n;
}

