/* resolve.c: see resolve.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tunnel/resolve.h"

/* Shared by the loop and at most one lookup thread; freed by the last. */
struct chan {
	pthread_mutex_t	 mu;
	int		 refs;
	int		 abandoned;	/* the resolver is gone */
	int		 rfd, wfd;
	char		*host;
	char		 port[8];
	int		 err;
	struct sockaddr_storage sa;
	socklen_t	 salen;
};

struct resolver {
	loop_t		*loop;
	struct chan	*ch;
	resolve_cb	 cb;
	void		*arg;
	int		 busy;		/* a thread is resolving */
	int		 numeric;	/* an address literal: never expires */
	int		 valid;
	uint64_t	 expires;
	struct sockaddr_storage sa;
	socklen_t	 salen;
};

static void
chan_unref(struct chan *ch)
{
	int last;

	pthread_mutex_lock(&ch->mu);
	last = --ch->refs == 0;
	pthread_mutex_unlock(&ch->mu);
	if (!last)
		return;
	if (ch->rfd != -1)
		close(ch->rfd);
	if (ch->wfd != -1)
		close(ch->wfd);
	free(ch->host);
	pthread_mutex_destroy(&ch->mu);
	free(ch);
}

static int
lookup(const char *host, const char *port, int flags, struct sockaddr_storage *sa,
    socklen_t *salen)
{
	struct addrinfo hints, *res;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags | AI_ADDRCONFIG;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0)
		return r;
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void *
lookup_thread(void *arg)
{
	struct chan *ch = arg;
	struct sockaddr_storage sa;
	socklen_t salen = 0;
	int err;
	char one = 1;

	err = lookup(ch->host, ch->port, 0, &sa, &salen);
	pthread_mutex_lock(&ch->mu);
	if (!ch->abandoned) {
		ch->err = err;
		ch->sa = sa;
		ch->salen = salen;
		if (write(ch->wfd, &one, 1) != 1)
			ch->err = EAI_SYSTEM;
	}
	pthread_mutex_unlock(&ch->mu);
	chan_unref(ch);
	return NULL;
}

static void
on_answer(loop_t *loop, int fd, int events, void *arg)
{
	resolver_t *r = arg;
	char drain[16];
	int err;

	(void)events;
	if (read(fd, drain, sizeof(drain)) <= 0)
		return;
	pthread_mutex_lock(&r->ch->mu);
	err = r->ch->err;
	if (err == 0) {
		r->sa = r->ch->sa;
		r->salen = r->ch->salen;
		r->valid = 1;
		r->expires = loop_clock_ms() + RESOLVE_TTL_MS;
	}
	pthread_mutex_unlock(&r->ch->mu);
	r->busy = 0;
	(void)loop;
	if (err != 0)
		log_warnx("tunnel: cannot resolve %s: %s", r->ch->host,
		    gai_strerror(err));
	r->cb(r->arg, err);
}

resolver_t *
resolver_new(loop_t *loop, const char *host, uint16_t port, resolve_cb cb,
    void *arg)
{
	resolver_t *r;
	struct chan *ch;
	int fds[2], e;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		free(r);
		return NULL;
	}
	r->ch = ch;
	r->loop = loop;
	r->cb = cb;
	r->arg = arg;
	pthread_mutex_init(&ch->mu, NULL);
	ch->refs = 1;
	ch->rfd = ch->wfd = -1;
	snprintf(ch->port, sizeof(ch->port), "%u", port);
	if ((ch->host = strdup(host)) == NULL)
		goto fail;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		goto fail;
	ch->rfd = fds[0];
	ch->wfd = fds[1];
	if (lookup(host, ch->port, AI_NUMERICHOST, &r->sa, &r->salen) == 0) {
		r->numeric = r->valid = 1;
		return r;
	}
	if ((e = loop_add_fd(loop, ch->rfd, LOOP_READ, on_answer, r)) != 0) {
		errno = -e;
		goto fail;
	}
	return r;
fail:
	e = errno;
	resolver_free(r);
	errno = e;
	return NULL;
}

void
resolver_free(resolver_t *r)
{
	if (r == NULL)
		return;
	if (r->ch != NULL) {
		if (r->ch->rfd != -1)
			loop_del_fd(r->loop, r->ch->rfd);
		pthread_mutex_lock(&r->ch->mu);
		r->ch->abandoned = 1;
		pthread_mutex_unlock(&r->ch->mu);
		chan_unref(r->ch);
	}
	free(r);
}

int
resolver_get(resolver_t *r, struct sockaddr_storage *sa, socklen_t *len)
{
	pthread_t th;
	pthread_attr_t attr;
	int e;

	if (r->valid && (r->numeric || loop_clock_ms() < r->expires)) {
		*sa = r->sa;
		*len = r->salen;
		return 1;
	}
	if (r->busy)
		return 0;
	pthread_mutex_lock(&r->ch->mu);
	r->ch->refs++;
	pthread_mutex_unlock(&r->ch->mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&th, &attr, lookup_thread, r->ch);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		chan_unref(r->ch);
		return -e;
	}
	r->busy = 1;
	return 0;
}

void
resolver_invalidate(resolver_t *r)
{
	if (!r->numeric)
		r->valid = 0;
}
