/*
 * stack.c: lwIP glue.  The netif over the packet device, the input filter
 * that decides what lwIP may see, lazily created listeners, and the lwIP
 * front of a stream (front.c).
 *
 * Accepting any destination: lwIP only accepts packets addressed to its
 * netif.  Rather than patch lwIP, the input filter (which has already
 * checked the destination against the endpoint table) points the netif's
 * address at the packet's destination for the duration of netif->input.
 * lwIP then accepts it, a listener bound to IP_ANY on the port takes the
 * SYN, and the new pcb's local_ip is the original destination.  Everything
 * lwIP sends uses the pcb's local_ip (or the current packet's destination)
 * as source, never the netif address, so the swap is invisible outside
 * input.  docs/datapath.md has the reasoning and the alternatives.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <lwip/init.h>
#include <lwip/ip4.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/prot/ip4.h>
#include <lwip/prot/tcp.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/timeouts.h>

#include "daemon/log.h"
#include "stack/stack.h"
#include "stack/stack_priv.h"

#define PROTO_ICMP	1
#define PROTO_TCP	6
#define PROTO_UDP	17

/* lwIP has process-wide state; only one stack may exist at a time. */
static int lwip_initialised;
static int stack_exists;

uint32_t
stack_port_rand(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)random();
	return r;
}

void
stack_port_assert(const char *msg, const char *file, int line)
{
	log_error("lwIP assertion \"%s\" failed at %s:%d", msg, file, line);
	abort();
}

u32_t sys_now(void);

u32_t
sys_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static err_t
netif_init_cb(struct netif *nif)
{
	nif->name[0] = 'n';
	nif->name[1] = 'g';
	nif->output = stack_netif_output;
	nif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

netstack_t *
stack_new(const struct stack_params *p, const struct stack_cbs *cbs)
{
	ip4_addr_t addr, mask, gw;
	netstack_t *st;

	if (stack_exists) {
		errno = EBUSY;
		return NULL;
	}
	if (p->mtu < 576 || p->mtu > 65535 || cbs->output == NULL ||
	    cbs->lookup == NULL || cbs->accept == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->params = *p;
	st->cbs = *cbs;
	if (!lwip_initialised) {
		lwip_init();
		lwip_initialised = 1;
	}
	ip4_addr_set_u32(&addr, lwip_htonl(p->gateway));
	/* A /32 mask: nothing the filter lets in is "broadcast". */
	ip4_addr_set_u32(&mask, 0xffffffffu);
	ip4_addr_set_zero(&gw);
	if (netif_add(&st->netif, &addr, &mask, &gw, st, netif_init_cb,
	    ip4_input) == NULL) {
		free(st);
		errno = ENOMEM;
		return NULL;
	}
	st->netif.mtu = (u16_t)p->mtu;
	netif_set_default(&st->netif);
	netif_set_up(&st->netif);
	netif_set_link_up(&st->netif);
	stack_exists = 1;
	return st;
}

void
stack_free(netstack_t *st)
{
	size_t i;

	if (st == NULL)
		return;
	stack_front_abort_all(st);
	if (st->rx != NULL)
		pbuf_free(st->rx);
	for (i = 0; i < st->n_listeners; i++)
		tcp_close((struct tcp_pcb *)st->listeners[i]);
	free(st->listeners);
	/* Connections still closing (FIN_WAIT, TIME_WAIT, ...) hold lwIP's
	 * process-wide state; the next stack must start clean. */
	while (tcp_active_pcbs != NULL)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs != NULL)
		tcp_abort(tcp_tw_pcbs);
	netif_remove(&st->netif);
	free(st);
	stack_exists = 0;
}

/* One listener per destination port, created on the first SYN for it.
 * The filter stays authoritative: a listener only sees SYNs that passed
 * the endpoint lookup. */
static int
listener_for(netstack_t *st, uint16_t port)
{
	struct tcp_pcb *pcb, *lpcb;
	struct tcp_pcb_listen **n;

	if (st->has_listener[port / 8] & (1u << (port % 8)))
		return 0;
	if (st->n_listeners == st->cap_listeners) {
		size_t cap = st->cap_listeners ? st->cap_listeners * 2 : 16;

		if ((n = realloc(st->listeners, cap * sizeof(*n))) == NULL)
			return -ENOMEM;
		st->listeners = n;
		st->cap_listeners = cap;
	}
	if ((pcb = tcp_new()) == NULL)
		return -ENOMEM;
	/* Closing connections on this port must not stop the listener. */
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	if ((lpcb = tcp_listen_with_backlog(pcb, TCP_DEFAULT_LISTEN_BACKLOG)) == NULL) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_arg(lpcb, st);
	tcp_accept(lpcb, stack_front_accept);
	st->listeners[st->n_listeners++] = (struct tcp_pcb_listen *)lpcb;
	st->has_listener[port / 8] |= (uint8_t)(1u << (port % 8));
	return 0;
}

/* A RST for a SYN we refuse, from the address the app tried to reach. */
static void
send_rst(netstack_t *st, uint32_t src, uint32_t dst, uint16_t sport,
    uint16_t dport, uint32_t seq, uint32_t ack, int ack_flag)
{
	ip_addr_t local, remote;

	ip_addr_set_ip4_u32(&local, lwip_htonl(dst));
	ip_addr_set_ip4_u32(&remote, lwip_htonl(src));
	/* tcp_rst_netif always sets ACK; for a SYN, ack = seq + 1 is what the
	 * app's kernel expects, and for an ACK segment seq = its ack. */
	(void)ack_flag;
	tcp_rst_netif(&st->netif, seq, ack, &local, &remote, dport, sport);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Decides what lwIP sees.  Returns 1 to pass the packet in, 0 to drop it. */
static int
filter(netstack_t *st, const uint8_t *pkt, size_t len, uint32_t *dstp)
{
	size_t ihl, tlen;
	uint32_t src, dst;
	const uint8_t *th;
	uint16_t sport, dport;
	uint8_t flags;

	if (len < 20 || (pkt[0] >> 4) != 4 || (ihl = (size_t)(pkt[0] & 0xf) * 4) < 20 ||
	    (tlen = rd16(pkt + 2)) < ihl || tlen > len) {
		st->stats.dropped_malformed++;
		return 0;
	}
	if ((rd16(pkt + 6) & 0x3fff) != 0) {	/* MF or a fragment offset */
		st->stats.dropped_fragment++;
		return 0;
	}
	src = rd32(pkt + 12);
	dst = rd32(pkt + 16);
	*dstp = dst;
	switch (pkt[9]) {
	case PROTO_ICMP:
		if (dst == st->params.gateway || dst == st->params.gateway + 1 ||
		    (st->cbs.has_addr != NULL && st->cbs.has_addr(st->cbs.arg, dst)))
			return 1;
		st->stats.dropped_unallocated++;
		return 0;
	case PROTO_UDP:
		/* gateway + 1 is the DNS responder's (stack/dns.c): the kernel
		 * keeps packets for the gateway, its own address.  lwIP answers
		 * closed ports itself (ICMP port unreachable). */
		if (dst == st->params.gateway || dst == st->params.gateway + 1)
			return 1;
		st->stats.dropped_unallocated++;
		return 0;
	case PROTO_TCP:
		break;
	default:
		st->stats.dropped_proto++;
		return 0;
	}
	if (tlen < ihl + 20 || ((size_t)(pkt[ihl + 12] >> 4) * 4) < 20 ||
	    ihl + (size_t)(pkt[ihl + 12] >> 4) * 4 > tlen) {
		st->stats.dropped_malformed++;
		return 0;
	}
	th = pkt + ihl;
	sport = rd16(th);
	dport = rd16(th + 2);
	flags = th[13];
	if (!(flags & TCP_SYN) || (flags & (TCP_ACK | TCP_RST)))
		return 1;	/* lwIP resets segments of unknown connections */
	/* DNS over TCP (stack/dns.c's listener; lwIP resets when it is off). */
	if (dst == st->params.gateway + 1 && dport == 53)
		return 1;
	if (st->cbs.lookup(st->cbs.arg, dst, dport) == NULL) {
		st->stats.rst_unallocated++;
		send_rst(st, src, dst, sport, dport, 0,
		    rd32(th + 4) + 1 + (uint32_t)(tlen - ihl - (size_t)(th[12] >> 4) * 4), 1);
		return 0;
	}
	/* Half-open connections are not counted here; stack_front_accept
	 * checks again once the handshake completes. */
	if (st->stats.streams_active >= st->params.max_streams) {
		st->stats.rst_limit++;
		if (st->stats.rst_limit == 1 || st->stats.rst_limit % 1000 == 0)
			log_warnx("stack: limits.max_streams (%u) reached: new "
			    "connections are reset (%llu so far)",
			    st->params.max_streams,
			    (unsigned long long)st->stats.rst_limit);
		send_rst(st, src, dst, sport, dport, 0, rd32(th + 4) + 1, 1);
		return 0;
	}
	if (listener_for(st, dport) != 0) {
		st->stats.rst_limit++;
		send_rst(st, src, dst, sport, dport, 0, rd32(th + 4) + 1, 1);
		return 0;
	}
	return 1;
}

/* Hands p (a filtered packet for dst) to lwIP. */
static void
deliver_in(netstack_t *st, struct pbuf *p, uint32_t dst)
{
	ip4_addr_t gw;

	/* See the top of this file: accept any filtered destination. */
	ip4_addr_set_u32(ip_2_ip4(&st->netif.ip_addr), lwip_htonl(dst));
	if (st->netif.input(p, &st->netif) != ERR_OK)
		pbuf_free(p);	/* on failure the caller frees (lwIP's rule) */
	ip4_addr_set_u32(&gw, lwip_htonl(st->params.gateway));
	ip4_addr_copy(*ip_2_ip4(&st->netif.ip_addr), gw);
}

int
stack_input(netstack_t *st, const void *pkt, size_t len)
{
	struct pbuf *p;
	uint32_t dst = 0;

	st->stats.packets_in++;
	st->stats.bytes_in += len;
	if (len > 65535 || !filter(st, pkt, len, &dst))
		return 0;
	if ((p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM)) == NULL)
		return -ENOMEM;
	memcpy(p->payload, pkt, len);
	deliver_in(st, p, dst);
	return 0;
}

void *
stack_rx_buf(netstack_t *st)
{
	if (st->rx == NULL)
		st->rx = pbuf_alloc(PBUF_RAW, STACK_RX_MAX, PBUF_RAM);
	return st->rx != NULL ? st->rx->payload : NULL;
}

/*
 * A large packet (a super-packet, with offload) goes to lwIP in the buffer
 * it was read into, saving a 64 KiB copy; the buffer is not shrunk
 * (malloc'd pbufs cannot be), so only packets of at least half its size
 * keep it: what lwIP holds is never more than twice the bytes.  Smaller
 * packets are copied out and the buffer is read into again.
 */
int
stack_input_rx(netstack_t *st, size_t len)
{
	struct pbuf *p = st->rx;
	uint32_t dst = 0;

	if (p == NULL || len > STACK_RX_MAX)
		return -EINVAL;
	if (len < STACK_RX_MAX / 2)
		return stack_input(st, p->payload, len);
	st->stats.packets_in++;
	st->stats.bytes_in += len;
	if (!filter(st, p->payload, len, &dst))
		return 0;
	st->rx = NULL;
	pbuf_realloc(p, (u16_t)len);
	deliver_in(st, p, dst);
	return 0;
}

/*
 * lwIP 2.2.1 asserts in tcp_slowtmr that a pcb whose persist (zero-window
 * probe) timer runs has unsent data and nothing in flight.  Crafted
 * segments (found by tests/fuzz/packet_fuzz) can leave the timer running
 * after the queue emptied; a local program must not be able to abort the
 * daemon that way.  With nothing left to probe for, the timer has no job:
 * stop it, as tcp_receive does when the window opens.
 */
static void
persist_guard(void)
{
	struct tcp_pcb *pcb;

	for (pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
		if (pcb->persist_backoff == 0)
			continue;
		if (pcb->unsent == NULL || pcb->unacked != NULL) {
			pcb->persist_backoff = 0;
			pcb->persist_cnt = 0;
			pcb->persist_probe = 0;
		}
	}
}

void
stack_tcp_tick(netstack_t *st)
{
	(void)st;
	persist_guard();
	tcp_tmr();
}

int64_t
stack_timers(netstack_t *st)
{
	u32_t next;

	(void)st;
	persist_guard();
	sys_check_timeouts();
	next = sys_timeouts_sleeptime();
	return next == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? -1 : (int64_t)next;
}

void
stack_get_stats(const netstack_t *st, struct stack_stats *out)
{
	*out = st->stats;
}
