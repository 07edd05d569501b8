/*
 * disc_http.h: the discovery worker's HTTP request (private to discovery/).
 */
#ifndef NGROKD_DISC_HTTP_H
#define NGROKD_DISC_HTTP_H

#include <stddef.h>

#include "discovery/disc_priv.h"

struct disc_http_req {
	const char	*method;	/* GET, POST, PATCH, DELETE */
	const char	*url;
	const char	*key;		/* bearer key: never logged */
	const char	*body;		/* JSON or NULL */
	unsigned	 connect_ms, total_ms;
	/* When non-NULL and it becomes non-zero, the transfer is abandoned
	 * (a daemon shutting down does not wait for a slow API). */
	const int	*cancel;
};

struct disc_http_reply {
	long	 status;		/* HTTP status, 0 when none */
	char	*body;			/* NUL-terminated, owned */
	size_t	 len, cap;
	int	 too_big;
	char	 error[160];	/* transport error, "" otherwise */
};

/* Performs q on curl (a CURL *); 0 with r filled (any HTTP status), -EIO
 * with r->error on a transport failure, -ENOMEM.  Free r with
 * disc_http_reply_free in every case. */
int	disc_http(void *curl, const struct disc_http_req *q,
	    struct disc_http_reply *r);
void	disc_http_reply_free(struct disc_http_reply *r);

#endif
