/*
 * resolve.h (private to tunnel/): the ingress address, resolved without
 * blocking the loop.  getaddrinfo runs in a short-lived thread; the answer
 * comes back through a pipe watched by the loop and is cached for
 * RESOLVE_TTL_MS, or until resolver_invalidate (a failed connect).
 */
#ifndef NGROKD_RESOLVE_H
#define NGROKD_RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>

#include "daemon/loop.h"

#define RESOLVE_TTL_MS	60000

typedef struct resolver resolver_t;
/* err is 0 or a getaddrinfo error (EAI_*). */
typedef void (*resolve_cb)(void *arg, int err);

resolver_t *resolver_new(loop_t *loop, const char *host, uint16_t port,
	    resolve_cb cb, void *arg);
void	 resolver_free(resolver_t *r);	/* a lookup under way is abandoned */
/* 1: *sa filled from the cache; 0: a lookup is under way and cb will be
 * called; -errno. */
int	 resolver_get(resolver_t *r, struct sockaddr_storage *sa, socklen_t *len);
void	 resolver_invalidate(resolver_t *r);

#endif
