/*
 * dnsgw.c: see dnsgw.h.
 *
 * Only the sockets live here: what a query gets is decided by
 * stack_dns_answer, so the gateway and the lwIP responder cannot drift
 * apart.  A forwarded query's reply comes back through gw_deliver; a TCP
 * connection is then looked up by its id (it may have gone meanwhile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/dnsgw.h"
#include "daemon/lofront_os.h"
#include "daemon/log.h"

#define GW_PORT		53
#define GW_MAX_QUERY	512		/* as on the lwIP side (stack/dns.c) */
#define GW_READS	64		/* datagrams per wake-up */
#define GW_MAX_CONNS	16
#define GW_IDLE_MS	10000
/* Replies a client has not read yet; a forwarded one may be 64 KiB. */
#define GW_OUT_MAX	(2 * (2 + 65535))

struct gw_conn {
	struct gw_conn	*next, *prev;
	dnsgw_t		*g;
	int		 fd;
	int		 interest;	/* LOOP_* watched; 0: not in the loop */
	uint64_t	 id;		/* origin.conn of its forwarded queries */
	uint32_t	 peer;		/* the client's address, host order */
	unsigned	 pending;	/* forwarded, not answered yet */
	int		 eof;		/* the client closed its side */
	loop_timer_t	 idle;
	size_t		 have;
	uint8_t		 in[2 + GW_MAX_QUERY];
	uint8_t		*out;
	size_t		 out_len, out_cap;
};

struct dnsgw {
	loop_t			*loop;
	stack_dns_t		*dns;
	struct dnsgw_params	 p;
	struct dnsgw_stats	 stats;
	int			 udp, tcp;	/* -1: closed */
	struct gw_conn		*conns;
	unsigned		 n_conns;
	uint64_t		 next_conn_id;
	uint8_t			 in[GW_MAX_QUERY + 1];	/* +1: see "too long" */
	uint8_t			 out[STACK_DNS_REPLY_MAX];
};

static void gw_deliver(const struct stack_dns_origin *o, const uint8_t *reply,
    size_t len);

static void
sin_of(struct sockaddr_in *sin, uint32_t addr, uint16_t port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	sin->sin_port = htons(port);
}

/* --- UDP ------------------------------------------------------------------ */

static void
udp_send(dnsgw_t *g, uint32_t addr, uint16_t port, const uint8_t *msg,
    size_t len)
{
	struct sockaddr_in to;

	sin_of(&to, addr, port);
	if (g->udp < 0 || sendto(g->udp, msg, len, 0,
	    (const struct sockaddr *)&to, sizeof(to)) < 0)
		g->stats.send_errors++;
}

static void
udp_readable(loop_t *loop, int fd, int events, void *arg)
{
	dnsgw_t *g = arg;
	struct stack_dns_origin o = { gw_deliver, arg, 0, 0, 0 };
	struct sockaddr_in from;
	socklen_t fl;
	ssize_t n;
	int i, r;

	(void)loop;
	(void)events;
	for (i = 0; i < GW_READS; i++) {
		fl = sizeof(from);
		/* A datagram over the buffer is cut to 513 bytes: still too
		 * long for the parser, which answers FORMERR. */
		n = recvfrom(fd, g->in, sizeof(g->in), 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;		/* EAGAIN, or an ICMP error: nothing to do */
		if (from.sin_family != AF_INET || from.sin_port == 0)
			continue;
		o.addr = ntohl(from.sin_addr.s_addr);
		o.port = ntohs(from.sin_port);
		r = stack_dns_answer(g->dns, g->in, (size_t)n, &o, g->out,
		    sizeof(g->out));
		if (r > 0)
			udp_send(g, o.addr, o.port, g->out, (size_t)r);
	}
}

/* --- TCP ------------------------------------------------------------------ */

static void conn_event(loop_t *loop, int fd, int events, void *arg);

static void
conn_close(struct gw_conn *c)
{
	dnsgw_t *g = c->g;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	g->n_conns--;
	loop_timer_stop(g->loop, &c->idle);
	if (c->interest != 0)
		loop_del_fd(g->loop, c->fd);
	close(c->fd);
	free(c->out);
	free(c);
}

/* Watches what c waits for: more queries until the client's EOF, and
 * writability while replies are queued.  0 or -errno. */
static int
conn_watch(struct gw_conn *c)
{
	int want = (c->eof ? 0 : LOOP_READ) | (c->out_len > 0 ? LOOP_WRITE : 0);
	int r;

	if (want == c->interest)
		return 0;
	if (want == 0) {
		loop_del_fd(c->g->loop, c->fd);
		c->interest = 0;
		return 0;
	}
	if ((r = loop_add_fd(c->g->loop, c->fd, want, conn_event, c)) != 0)
		return r;
	c->interest = want;
	return 0;
}

/* Writes what the socket takes.  0, or -1: c is broken. */
static int
conn_flush(struct gw_conn *c)
{
	ssize_t n;

	while (c->out_len > 0) {
		n = lofront_os_send(c->fd, c->out, c->out_len);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			break;
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->out_len -= (size_t)n;
		memmove(c->out, c->out + n, c->out_len);
	}
	return 0;
}

/* Queues one reply with its length prefix.  0, or -1 (over GW_OUT_MAX:
 * a client that pipelines without reading; or no memory). */
static int
conn_queue(struct gw_conn *c, const uint8_t *msg, size_t len)
{
	size_t need = c->out_len + 2 + len, cap;
	uint8_t *n;

	if (len > 0xffff || need > GW_OUT_MAX)
		return -1;
	if (need > c->out_cap) {
		cap = need < 4096 ? 4096 : need;
		if ((n = realloc(c->out, cap)) == NULL)
			return -1;
		c->out = n;
		c->out_cap = cap;
	}
	c->out[c->out_len] = (uint8_t)(len >> 8);
	c->out[c->out_len + 1] = (uint8_t)len;
	memcpy(c->out + c->out_len + 2, msg, len);
	c->out_len = need;
	return 0;
}

/* After any progress: flush, close when everything is answered after
 * the client's EOF, else watch.  Frees c on failure or when done. */
static void
conn_settle(struct gw_conn *c)
{
	if (conn_flush(c) != 0 ||
	    (c->eof && c->pending == 0 && c->out_len == 0) ||
	    conn_watch(c) != 0)
		conn_close(c);
}

/* Answers every complete query in c->in.  0, or -1 to close c. */
static int
conn_serve(struct gw_conn *c)
{
	dnsgw_t *g = c->g;
	struct stack_dns_origin o = { gw_deliver, g, c->id, c->peer, 0 };
	size_t mlen;
	int r;

	while (c->have >= 2) {
		mlen = (size_t)c->in[0] << 8 | c->in[1];
		if (mlen > GW_MAX_QUERY)
			return -1;
		if (c->have < 2 + mlen)
			return 0;
		loop_timer_start(g->loop, &c->idle, GW_IDLE_MS);
		r = stack_dns_answer(g->dns, c->in + 2, mlen, &o, g->out,
		    sizeof(g->out));
		if (r == -EINPROGRESS)
			c->pending++;
		else if (r <= 0 || conn_queue(c, g->out, (size_t)r) != 0)
			return -1;	/* RFC 7766 6.2.4: no silent drops */
		c->have -= 2 + mlen;
		memmove(c->in, c->in + 2 + mlen, c->have);
	}
	return 0;
}

/* Reads and answers (a bounded number of reads: others get a turn);
 * 0, or -1 to close c. */
static int
conn_read(struct gw_conn *c)
{
	ssize_t n;
	int i;

	for (i = 0; i < GW_READS; i++) {
		n = read(c->fd, c->in + c->have, sizeof(c->in) - c->have);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* A partial query at EOF can never be answered. */
			c->eof = 1;
			return c->have > 0 ? -1 : 0;
		}
		c->have += (size_t)n;
		if (conn_serve(c) != 0)
			return -1;
	}
	return 0;
}

static void
conn_event(loop_t *loop, int fd, int events, void *arg)
{
	struct gw_conn *c = arg;

	(void)loop;
	(void)fd;
	if ((events & LOOP_READ) && !c->eof && conn_read(c) != 0) {
		conn_close(c);
		return;
	}
	conn_settle(c);
}

static void
conn_idle(loop_t *loop, void *arg)
{
	(void)loop;
	conn_close(arg);
}

static void
tcp_acceptable(loop_t *loop, int fd, int events, void *arg)
{
	dnsgw_t *g = arg;
	struct sockaddr_in peer;
	struct gw_conn *c;
	int cfd, i;

	(void)events;
	for (i = 0; i < GW_MAX_CONNS; i++) {
		if ((cfd = lofront_os_accept(fd, &peer)) < 0)
			return;
		if (g->n_conns >= GW_MAX_CONNS ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			g->stats.tcp_rejected++;
			close(cfd);
			continue;
		}
		c->g = g;
		c->fd = cfd;
		c->id = ++g->next_conn_id;
		c->peer = ntohl(peer.sin_addr.s_addr);
		loop_timer_init(&c->idle, conn_idle, c);
		c->next = g->conns;
		if (g->conns != NULL)
			g->conns->prev = c;
		g->conns = c;
		g->n_conns++;
		g->stats.tcp_conns++;
		loop_timer_start(loop, &c->idle, GW_IDLE_MS);
		if (conn_watch(c) != 0)
			conn_close(c);
	}
}

/* --- forwarded replies ------------------------------------------------------ */

static void
gw_deliver(const struct stack_dns_origin *o, const uint8_t *reply, size_t len)
{
	dnsgw_t *g = o->owner;
	struct gw_conn *c;

	if (o->conn == 0) {
		udp_send(g, o->addr, o->port, reply, len);
		return;
	}
	for (c = g->conns; c != NULL && c->id != o->conn; c = c->next)
		;
	if (c == NULL)
		return;		/* closed meanwhile */
	c->pending--;
	if (conn_queue(c, reply, len) != 0) {
		conn_close(c);
		return;
	}
	conn_settle(c);
}

/* --- sockets ---------------------------------------------------------------- */

/* A non-blocking socket bound to addr:port; fd or -errno. */
static int
bound_socket(int type, uint32_t addr, uint16_t port)
{
	struct sockaddr_in sin;
	int fd, e, one = 1;

	if ((fd = socket(AF_INET, type, 0)) < 0)
		return -errno;
	sin_of(&sin, addr, port);
	/* SO_REUSEADDR: a rebind right after a close must not wait for
	 * old connections in TIME_WAIT. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
	    (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    (type == SOCK_STREAM && listen(fd, GW_MAX_CONNS) != 0)) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void
close_sockets(dnsgw_t *g)
{
	while (g->conns != NULL)
		conn_close(g->conns);
	if (g->udp >= 0) {
		loop_del_fd(g->loop, g->udp);
		close(g->udp);
		g->udp = -1;
	}
	if (g->tcp >= 0) {
		loop_del_fd(g->loop, g->tcp);
		close(g->tcp);
		g->tcp = -1;
	}
}

int
dnsgw_rebind(dnsgw_t *g)
{
	uint16_t port = g->p.port != 0 ? g->p.port : GW_PORT;
	int r;

	close_sockets(g);
	if ((g->udp = bound_socket(SOCK_DGRAM, g->p.addr, port)) < 0) {
		r = g->udp;
		g->udp = -1;
		return r;
	}
	if ((r = loop_add_fd(g->loop, g->udp, LOOP_READ, udp_readable, g)) != 0)
		goto fail;
	if (!g->p.tcp)
		return 0;
	if ((g->tcp = bound_socket(SOCK_STREAM, g->p.addr, port)) < 0) {
		r = g->tcp;
		g->tcp = -1;
		goto fail;
	}
	if ((r = loop_add_fd(g->loop, g->tcp, LOOP_READ, tcp_acceptable, g)) != 0)
		goto fail;
	return 0;
fail:
	close_sockets(g);
	return r;
}

dnsgw_t *
dnsgw_new(loop_t *loop, stack_dns_t *dns, const struct dnsgw_params *p)
{
	dnsgw_t *g;
	int r;

	if (loop == NULL || dns == NULL || p == NULL || p->addr == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->loop = loop;
	g->dns = dns;
	g->p = *p;
	g->udp = g->tcp = -1;
	if ((r = dnsgw_rebind(g)) != 0) {
		free(g);
		errno = -r;
		return NULL;
	}
	return g;
}

void
dnsgw_free(dnsgw_t *g)
{
	if (g == NULL)
		return;
	close_sockets(g);
	free(g);
}

void
dnsgw_get_stats(const dnsgw_t *g, struct dnsgw_stats *out)
{
	*out = g->stats;
}
