/*
 * dns.c: the DNS responder (stack.h, docs/dns.md).
 *
 * lwIP serves it: a UDP pcb bound to addr:53 (addr is gateway + 1 by
 * default: the kernel keeps packets for the gateway, its own address, and
 * routes the rest of the subnet into the device), and optionally a TCP
 * listener on the same address (RFC 7766: 2-byte length prefix, pipelined
 * queries answered in order).  Replies leave from addr through the netif
 * like everything else lwIP sends: no host socket, no port on the host.
 *
 * The parser (dns_parse.c) decides what is a well-formed query; this file
 * decides the answer through the daemon's resolve callback and moves bytes.
 * Queries that are not ours go to the forward callback when there is one
 * (dns.upstream): the reply then comes later through the origin's deliver
 * (dns_deliver below), after the query's pcb callback has returned, so a
 * TCP connection is found again by its id, and pipelined replies may leave
 * out of order (RFC 7766 6.2.1.1 allows it; clients match ids).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/pbuf.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>

#include "daemon/log.h"
#include "stack/dns_priv.h"
#include "stack/stack.h"
#include "stack/stack_priv.h"

#define DNS_PORT		53
#define DNS_TTL_DEFAULT		30
#define DNS_TCP_MAX_CONNS	16
#define DNS_TCP_MAX_QUERY	DNS_MAX_UDP	/* larger ones reset the connection */
#define DNS_TCP_POLL		4		/* lwIP poll ticks of 500 ms: 2 s */
#define DNS_TCP_IDLE_POLLS	5		/* 10 s without a query closes */
#define DNS_REPLY_MAX		(DNS_HDR_LEN + 4 + DNS_MAX_NAME + 16 + 11)

struct dns_conn {
	struct dns_conn	*next, *prev;
	stack_dns_t	*d;
	struct tcp_pcb	*pcb;
	uint64_t	 id;		/* for forwarded replies (origin.conn) */
	unsigned	 pending;	/* forwarded queries not answered yet */
	int		 eof;		/* the client closed: close after pending */
	unsigned	 idle;		/* poll ticks since the last query */
	size_t		 have;		/* bytes in in[] */
	uint8_t		 in[2 + DNS_TCP_MAX_QUERY];
};

struct stack_dns {
	netstack_t		*st;
	struct stack_dns_params	 p;
	struct stack_dns_stats	 stats;
	struct udp_pcb		*udp;
	struct tcp_pcb		*listen;
	struct dns_conn		*conns;
	unsigned		 n_conns;
	uint64_t		 next_conn_id;
	uint8_t			 in[DNS_MAX_UDP + 1];
	uint8_t			 out[2 + DNS_REPLY_MAX];
};

#define RCODE_FORWARD	(-1)	/* decide(): not ours, for the forwarder */

/* The rcode for a well-formed query q (or RCODE_FORWARD); *answer is set
 * when *addr is to be sent as an A record. */
static int
decide(stack_dns_t *d, const struct stack_dns_query *q, uint32_t *addr,
    int *answer)
{
	int want_a = q->qtype == DNS_TYPE_A || q->qtype == DNS_TYPE_ANY;
	int r = -1;

	*answer = 0;
	if (q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR) {
		d->stats.refused++;
		return DNS_RCODE_REFUSED;
	}
	if (q->qclass == DNS_CLASS_IN && q->name_ldh)
		r = d->p.resolve(d->p.arg, q->name, want_a ? addr : NULL);
	if (r < 0) {
		if (d->p.forward != NULL)
			return RCODE_FORWARD;
		d->stats.refused++;
		return DNS_RCODE_REFUSED;
	}
	if (r > 0 && want_a) {
		*answer = 1;
		d->stats.answered++;
	} else {
		d->stats.nodata++;
	}
	return DNS_RCODE_NOERROR;
}

/* The reply to msg in out (cap bytes): its length, 0 for none, or
 * -EINPROGRESS (forwarded: o->deliver answers). */
static int
respond(stack_dns_t *d, const uint8_t *msg, size_t len,
    const struct stack_dns_origin *o, uint8_t *out, size_t cap)
{
	struct stack_dns_query q;
	uint32_t addr = 0;
	int rcode, answer;

	d->stats.queries++;
	switch (stack_dns_parse_query(msg, len, DNS_MAX_UDP, &q)) {
	case STACK_DNS_DROP:
		d->stats.dropped++;
		return 0;
	case STACK_DNS_ERROR:
		if (q.rcode == DNS_RCODE_NOTIMP)
			d->stats.notimp++;
		else
			d->stats.formerr++;
		return (int)stack_dns_build_reply(out, cap, msg, &q, q.rcode,
		    NULL, 0);
	case STACK_DNS_QUERY:
		break;
	}
	rcode = decide(d, &q, &addr, &answer);
	/* Only this host's own programs get the upstream's answers: their
	 * queries come from the gateway address (or loopback).  In network
	 * mode other hosts reach the responder too, and an open forwarder
	 * there would be a reflector. */
	if (rcode == RCODE_FORWARD && o->addr != d->st->params.gateway &&
	    o->addr >> 24 != 127) {
		d->stats.refused++;
		rcode = DNS_RCODE_REFUSED;
	}
	if (rcode == RCODE_FORWARD) {
		if (d->p.forward(d->p.forward_arg, msg, len, o) == 0) {
			d->stats.forwarded++;
			return -EINPROGRESS;
		}
		d->stats.servfail++;
		rcode = DNS_RCODE_SERVFAIL;
	}
	return (int)stack_dns_build_reply(out, cap, msg, &q, rcode,
	    answer ? &addr : NULL, d->p.ttl);
}

/* Sends a reply from the responder's address to addr:port.  A forwarded
 * reply larger than the device's MTU goes out truncated (TC): lwIP is
 * built without IP fragmentation (lwipopts.h), and the client retries
 * over TCP. */
static void
udp_reply(stack_dns_t *d, const ip_addr_t *addr, u16_t port,
    const uint8_t *msg, size_t n)
{
	struct pbuf *r;

	if (n + 28 > d->st->netif.mtu) {
		/* Header and question are all that stay: they fit in out. */
		if (n > sizeof(d->out))
			n = sizeof(d->out);
		if (msg != d->out)
			memcpy(d->out, msg, n);
		n = stack_dns_truncate(d->out, n);
		msg = d->out;
	}
	if ((r = pbuf_alloc(PBUF_TRANSPORT, (u16_t)n, PBUF_RAM)) == NULL) {
		d->stats.dropped++;
		return;
	}
	memcpy(r->payload, msg, n);
	/* The explicit source skips udp_sendto's check against the netif
	 * address, which stack.c points at other addresses during input. */
	if (udp_sendto_if_src(d->udp, r, addr, port, &d->st->netif,
	    &d->udp->local_ip) != ERR_OK)
		d->stats.dropped++;
	pbuf_free(r);
}

static void dns_deliver(const struct stack_dns_origin *o,
    const uint8_t *reply, size_t len);

static void
udp_recv_cb(void *arg, struct udp_pcb *pcb, struct pbuf *p,
    const ip_addr_t *addr, u16_t port)
{
	stack_dns_t *d = arg;
	struct stack_dns_origin o = { dns_deliver, arg, 0, 0, 0 };
	size_t len;
	int n;

	/* One byte more than the limit is enough to see it is too long. */
	len = pbuf_copy_partial(p, d->in,
	    p->tot_len > sizeof(d->in) ? (u16_t)sizeof(d->in) : p->tot_len, 0);
	pbuf_free(p);
	if (port == 0) {	/* nowhere to answer */
		d->stats.queries++;
		d->stats.dropped++;
		return;
	}
	(void)pcb;
	o.addr = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr)));
	o.port = port;
	if ((n = respond(d, d->in, len, &o, d->out, DNS_MAX_UDP)) <= 0)
		return;
	udp_reply(d, addr, port, d->out, (size_t)n);
}

/* --- TCP (RFC 7766) ------------------------------------------------------ */

static void
conn_unlink(struct dns_conn *c)
{
	stack_dns_t *d = c->d;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->n_conns--;
	if (c->pcb != NULL) {
		tcp_arg(c->pcb, NULL);
		tcp_recv(c->pcb, NULL);
		tcp_err(c->pcb, NULL);
		tcp_poll(c->pcb, NULL, 0);
	}
	free(c);
}

/* Ends c; returns what an lwIP callback for c's pcb must return. */
static err_t
conn_end(struct dns_conn *c, int abort_it)
{
	struct tcp_pcb *pcb = c->pcb;

	conn_unlink(c);
	if (!abort_it && tcp_close(pcb) == ERR_OK)
		return ERR_OK;
	tcp_abort(pcb);
	return ERR_ABRT;
}

static void
tcp_err_cb(void *arg, err_t err)
{
	struct dns_conn *c = arg;

	(void)err;
	if (c == NULL)
		return;
	c->pcb = NULL;		/* lwIP has freed it */
	conn_unlink(c);
}

/* Queues one reply (framed) on c.  0, or -1 to reset c. */
static int
conn_write(struct dns_conn *c, const uint8_t *msg, size_t n)
{
	uint8_t len[2] = { (uint8_t)(n >> 8), (uint8_t)n };

	/* The send buffer (TCP_SND_BUF) holds thousands of replies: a
	 * client that pipelines more without reading is reset. */
	if (n > 0xffff || tcp_sndbuf(c->pcb) < n + 2 ||
	    tcp_write(c->pcb, len, 2, TCP_WRITE_FLAG_COPY | TCP_WRITE_FLAG_MORE) != ERR_OK ||
	    tcp_write(c->pcb, msg, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
		return -1;
	return 0;
}

/* Answers every complete query in c->in.  0, or -1 to reset c. */
static int
conn_serve(struct dns_conn *c)
{
	stack_dns_t *d = c->d;
	struct stack_dns_origin o = { dns_deliver, d, 0, 0, 0 };
	size_t mlen;
	int n;

	if (c->pcb != NULL)
		o.addr = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(&c->pcb->remote_ip)));
	while (c->have >= 2) {
		mlen = (size_t)c->in[0] << 8 | c->in[1];
		if (mlen > DNS_TCP_MAX_QUERY) {
			d->stats.queries++;
			d->stats.dropped++;
			return -1;
		}
		if (c->have < 2 + mlen)
			return 0;
		c->idle = 0;
		o.conn = c->id;
		n = respond(d, c->in + 2, mlen, &o, d->out + 2,
		    sizeof(d->out) - 2);
		if (n == 0)
			return -1;	/* RFC 7766 6.2.4: no silent drops */
		if (n == -EINPROGRESS)
			c->pending++;
		else if (conn_write(c, d->out + 2, (size_t)n) != 0)
			return -1;
		c->have -= 2 + mlen;
		memmove(c->in, c->in + 2 + mlen, c->have);
	}
	return 0;
}

static err_t
tcp_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct dns_conn *c = arg;
	size_t off = 0, take;

	if (c == NULL) {
		if (p != NULL)
			pbuf_free(p);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	if (p == NULL || err != ERR_OK) {	/* the client closed */
		if (p != NULL)
			pbuf_free(p);
		if (p == NULL && c->pending > 0) {
			c->eof = 1;	/* answer what was forwarded first */
			return ERR_OK;
		}
		return conn_end(c, 0);
	}
	tcp_recved(pcb, p->tot_len);
	while (off < p->tot_len) {
		take = p->tot_len - off;
		if (take > sizeof(c->in) - c->have)
			take = sizeof(c->in) - c->have;
		pbuf_copy_partial(p, c->in + c->have, (u16_t)take, (u16_t)off);
		c->have += take;
		off += take;
		if (conn_serve(c) != 0) {
			pbuf_free(p);
			return conn_end(c, 1);
		}
	}
	pbuf_free(p);
	tcp_output(pcb);
	return ERR_OK;
}

static err_t
tcp_poll_cb(void *arg, struct tcp_pcb *pcb)
{
	struct dns_conn *c = arg;

	if (c == NULL) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	if (++c->idle >= DNS_TCP_IDLE_POLLS)
		return conn_end(c, 0);
	return ERR_OK;
}

static err_t
tcp_accept_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	stack_dns_t *d = arg;
	struct dns_conn *c;

	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	if (d->n_conns >= DNS_TCP_MAX_CONNS ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		d->stats.tcp_rejected++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	c->d = d;
	c->pcb = pcb;
	c->id = ++d->next_conn_id;
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->n_conns++;
	d->stats.tcp_conns++;
	/* Each reply goes out at once, even with an earlier one unacked. */
	tcp_nagle_disable(pcb);
	tcp_arg(pcb, c);
	tcp_recv(pcb, tcp_recv_cb);
	tcp_err(pcb, tcp_err_cb);
	tcp_poll(pcb, tcp_poll_cb, DNS_TCP_POLL);
	return ERR_OK;
}

static int
tcp_start(stack_dns_t *d, const ip_addr_t *at)
{
	struct tcp_pcb *pcb, *lpcb;

	if ((pcb = tcp_new()) == NULL)
		return -ENOMEM;
	/* An endpoint on port 53 gets an IP_ANY listener (stack.c) beside
	 * this one; lwIP prefers the exact address for ours. */
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, at, DNS_PORT) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	if ((lpcb = tcp_listen_with_backlog(pcb, DNS_TCP_MAX_CONNS)) == NULL) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_arg(lpcb, d);
	tcp_accept(lpcb, tcp_accept_cb);
	d->listen = lpcb;
	return 0;
}

/* A forwarded query's reply (or SERVFAIL), from the forwarder's event,
 * outside every lwIP callback. */
static void
dns_deliver(const struct stack_dns_origin *o, const uint8_t *reply, size_t len)
{
	stack_dns_t *d = o->owner;
	struct dns_conn *c;
	ip_addr_t to;

	if (o->conn == 0) {
		ip_addr_set_ip4_u32(&to, lwip_htonl(o->addr));
		udp_reply(d, &to, o->port, reply, len);
		return;
	}
	for (c = d->conns; c != NULL && c->id != o->conn; c = c->next)
		;
	if (c == NULL) {		/* closed or reset meanwhile */
		d->stats.dropped++;
		return;
	}
	c->pending--;
	if (conn_write(c, reply, len) != 0) {
		conn_end(c, 1);
		return;
	}
	if (c->eof && c->pending == 0) {
		conn_end(c, 0);
		return;
	}
	tcp_output(c->pcb);
}

/* --- public --------------------------------------------------------------- */

int
stack_dns_answer(stack_dns_t *d, const uint8_t *msg, size_t len,
    const struct stack_dns_origin *o, uint8_t *out, size_t cap)
{
	return respond(d, msg, len, o, out, cap);
}

stack_dns_t *
stack_dns_new(netstack_t *st, const struct stack_dns_params *p)
{
	stack_dns_t *d;
	ip_addr_t at;
	int r;

	if (st == NULL || p == NULL || p->resolve == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->st = st;
	d->p = *p;
	if (d->p.ttl == 0)
		d->p.ttl = DNS_TTL_DEFAULT;
	if (d->p.addr == 0)
		d->p.addr = st->params.gateway + 1;
	ip_addr_set_ip4_u32(&at, lwip_htonl(d->p.addr));
	if ((d->udp = udp_new()) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (udp_bind(d->udp, &at, DNS_PORT) != ERR_OK) {
		r = -EADDRINUSE;
		goto fail;
	}
	udp_recv(d->udp, udp_recv_cb, d);
	if (p->tcp && (r = tcp_start(d, &at)) != 0)
		goto fail;
	return d;
fail:
	if (d->udp != NULL)
		udp_remove(d->udp);
	free(d);
	errno = -r;
	return NULL;
}

void
stack_dns_free(stack_dns_t *d)
{
	struct tcp_pcb *pcb;

	if (d == NULL)
		return;
	while (d->conns != NULL) {
		pcb = d->conns->pcb;
		conn_unlink(d->conns);
		tcp_abort(pcb);
	}
	if (d->listen != NULL)
		tcp_close(d->listen);	/* never fails for a listener */
	udp_remove(d->udp);
	free(d);
}

void
stack_dns_get_stats(const stack_dns_t *d, struct stack_dns_stats *out)
{
	*out = d->stats;
}
