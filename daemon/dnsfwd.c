/*
 * dnsfwd.c: see dnsfwd.h.
 *
 * A socket per query rather than one shared socket: with the random id it
 * makes a spoofed reply guess about 32 bits (port and id) instead of 16,
 * the connected socket lets the kernel drop datagrams from other sources,
 * and matching a reply to its query needs no table.  The cost is one fd
 * per query in flight, bounded by max_inflight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/dnsfwd.h"
#include "daemon/log.h"

#define FWD_PORT		53
#define FWD_TIMEOUT_MS		2000
#define FWD_MAX_INFLIGHT	256
#define FWD_MAX_QUERY		512	/* what the responder accepts */
#define FWD_READS		8	/* datagrams per wake-up */

struct fwd_query {
	struct fwd_query	*next, *prev;
	dnsfwd_t		*f;
	int			 fd;
	loop_timer_t		 timer;
	struct stack_dns_origin	 o;
	uint16_t		 client_id;
	size_t			 len;
	uint8_t			 msg[FWD_MAX_QUERY];	/* as sent: our id */
};

struct dnsfwd {
	loop_t			*loop;
	struct sockaddr_in	 upstream;
	uint32_t		 timeout_ms;
	unsigned		 max_inflight, n;
	struct fwd_query	*queries;
	struct dnsfwd_stats	 stats;
	uint8_t			 buf[65536];	/* one reply at a time */
};

static void
set_id(uint8_t *msg, uint16_t id)
{
	msg[0] = (uint8_t)(id >> 8);
	msg[1] = (uint8_t)id;
}

/* Unlinks q and releases its socket and timer; the caller frees it. */
static void
query_unlink(struct fwd_query *q)
{
	dnsfwd_t *f = q->f;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		f->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	f->n--;
	loop_timer_stop(f->loop, &q->timer);
	if (q->fd >= 0) {
		loop_del_fd(f->loop, q->fd);
		close(q->fd);
	}
}

/* Ends q with reply (the client's id put back), or SERVFAIL when NULL. */
static void
query_done(struct fwd_query *q, uint8_t *reply, size_t len)
{
	uint8_t sf[STACK_DNS_REPLY_MAX];

	query_unlink(q);
	if (reply == NULL) {
		set_id(q->msg, q->client_id);
		reply = sf;
		len = stack_dns_servfail(q->msg, q->len, sf, sizeof(sf));
	} else {
		set_id(reply, q->client_id);
	}
	/* Unlinked first: whatever deliver does cannot reach q again. */
	if (len > 0)
		q->o.deliver(&q->o, reply, len);
	free(q);
}

static void
query_timeout(loop_t *loop, void *arg)
{
	struct fwd_query *q = arg;

	(void)loop;
	q->f->stats.timeouts++;
	query_done(q, NULL, 0);
}

static void
query_readable(loop_t *loop, int fd, int events, void *arg)
{
	struct fwd_query *q = arg;
	dnsfwd_t *f = q->f;
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < FWD_READS; i++) {
		n = recv(fd, f->buf, sizeof(f->buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return;
		if (n < 0) {
			/* ECONNREFUSED: the upstream answered with ICMP port
			 * unreachable; no use waiting for the timeout. */
			f->stats.errors++;
			log_debug("dns: upstream: %s", strerror(errno));
			query_done(q, NULL, 0);
			return;
		}
		if (!stack_dns_is_reply_to(q->msg, q->len, f->buf, (size_t)n)) {
			f->stats.mismatched++;
			continue;
		}
		f->stats.replies++;
		query_done(q, f->buf, (size_t)n);
		return;
	}
}

/* A connected, non-blocking UDP socket to the upstream; fd or -errno. */
static int
upstream_socket(const dnsfwd_t *f)
{
	int fd, e;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
	    connect(fd, (const struct sockaddr *)&f->upstream,
	    sizeof(f->upstream)) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int
query_send(dnsfwd_t *f, struct fwd_query *q)
{
	uint16_t id;
	ssize_t n;
	int r;

	if (getentropy(&id, sizeof(id)) != 0)
		return -errno;
	set_id(q->msg, id);
	if ((q->fd = upstream_socket(f)) < 0)
		return q->fd;
	if ((n = send(q->fd, q->msg, q->len, 0)) < 0)
		return -errno;
	if ((size_t)n != q->len)
		return -EIO;
	if ((r = loop_add_fd(f->loop, q->fd, LOOP_READ, query_readable, q)) != 0)
		return r;
	return loop_timer_start(f->loop, &q->timer, f->timeout_ms);
}

int
dnsfwd_query(void *arg, const uint8_t *msg, size_t len,
    const struct stack_dns_origin *o)
{
	dnsfwd_t *f = arg;
	struct fwd_query *q;
	int r;

	if (f->n >= f->max_inflight) {
		f->stats.busy++;
		return -EBUSY;
	}
	if (len < 12 || len > FWD_MAX_QUERY)
		return -EMSGSIZE;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->f = f;
	q->fd = -1;
	q->o = *o;
	q->client_id = (uint16_t)(msg[0] << 8 | msg[1]);
	q->len = len;
	memcpy(q->msg, msg, len);
	loop_timer_init(&q->timer, query_timeout, q);
	q->next = f->queries;
	if (f->queries != NULL)
		f->queries->prev = q;
	f->queries = q;
	f->n++;
	if ((r = query_send(f, q)) != 0) {
		f->stats.errors++;
		log_debug("dns: forwarding a query: %s", strerror(-r));
		query_unlink(q);
		free(q);
		return r;
	}
	f->stats.queries++;
	return 0;
}

dnsfwd_t *
dnsfwd_new(loop_t *loop, const struct dnsfwd_params *p)
{
	dnsfwd_t *f;

	if (loop == NULL || p == NULL || p->addr == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->loop = loop;
	f->upstream.sin_family = AF_INET;
	f->upstream.sin_addr.s_addr = htonl(p->addr);
	f->upstream.sin_port = htons(p->port != 0 ? p->port : FWD_PORT);
	f->timeout_ms = p->timeout_ms != 0 ? p->timeout_ms : FWD_TIMEOUT_MS;
	f->max_inflight = p->max_inflight != 0 ? p->max_inflight :
	    FWD_MAX_INFLIGHT;
	return f;
}

void
dnsfwd_free(dnsfwd_t *f)
{
	struct fwd_query *q;

	if (f == NULL)
		return;
	while ((q = f->queries) != NULL) {
		query_unlink(q);
		free(q);
	}
	free(f);
}

void
dnsfwd_get_stats(const dnsfwd_t *f, struct dnsfwd_stats *out)
{
	*out = f->stats;
}
