/*
 * tx.c: lwIP's output towards the device.
 *
 * TCP checksums are ours (lwipopts.h turns CHECKSUM_GEN_TCP off): complete
 * in software when the device has no offload, or, with offload, only the
 * pseudo-header sum for the kernel to finish (the kernel trusts packets it
 * marks CHECKSUM_PARTIAL, and completes them if it forwards them).
 *
 * With offload, consecutive data segments of one connection that leave in
 * the same loop iteration are joined into one super-packet of up to 64 KiB
 * (the inverse of the kernel's GSO): the device's per-packet cost, most of
 * the data path's CPU, is then paid once per 64 KiB instead of once per
 * segment.  stack_flush() sends what is held, and the ACKs lwIP still
 * delays for streams that received data (front.c); the data path calls it
 * before every wait, so nothing is held across a sleep.
 */
#include <string.h>

#include <lwip/pbuf.h>
#include <lwip/prot/tcp.h>

#include "stack/stack_priv.h"

#define PROTO_TCP	6
#define IP_MAX		65535u

/* One's-complement sum of n bytes, in the byte order they are stored in
 * (RFC 1071's byte-order independence: store the folded result the same
 * way and it is right on any host). */
static uint64_t
sum_bytes(const uint8_t *p, size_t n, uint64_t acc)
{
	uint32_t w;
	uint16_t h;

	for (; n >= 4; p += 4, n -= 4) {
		memcpy(&w, p, 4);
		acc += w;
	}
	if (n >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		n -= 2;
	}
	if (n == 1) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		acc += h;
	}
	return acc;
}

static uint16_t
fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The pseudo-header of a TCP segment of tcp_len bytes. */
static uint64_t
pseudo_sum(const uint8_t *ip, size_t tcp_len)
{
	uint8_t tail[4] = { 0, PROTO_TCP, (uint8_t)(tcp_len >> 8),
	    (uint8_t)tcp_len };

	return sum_bytes(ip + 12, 8, sum_bytes(tail, 4, 0));
}

static void
put_sum(uint8_t *at, uint16_t v)
{
	memcpy(at, &v, 2);
}

static void
ip_checksum(uint8_t *ip, size_t ihl)
{
	ip[10] = ip[11] = 0;
	put_sum(ip + 10, (uint16_t)~fold(sum_bytes(ip, ihl, 0)));
}

/* Fills in the TCP checksum of the packet pkt[0..len): complete, or with
 * partial only the pseudo-header sum (what the kernel expects with
 * VIRTIO_NET_HDR_F_NEEDS_CSUM). */
static void
tcp_checksum(uint8_t *pkt, size_t len, size_t ihl, int partial)
{
	uint8_t *th = pkt + ihl;
	uint64_t acc = pseudo_sum(pkt, len - ihl);

	th[16] = th[17] = 0;
	if (partial)
		put_sum(th + 16, fold(acc));
	else
		put_sum(th + 16, (uint16_t)~fold(sum_bytes(th, len - ihl, acc)));
}

/* A TCP packet lwIP built: its header lengths, or 0 when it is not one. */
static int
tcp_lengths(const uint8_t *pkt, size_t len, size_t *ihl, size_t *thl)
{
	if (len < 40 || pkt[0] >> 4 != 4 || pkt[9] != PROTO_TCP)
		return 0;
	*ihl = (size_t)(pkt[0] & 0xf) * 4;
	if (*ihl < 20 || len < *ihl + 20)
		return 0;
	*thl = (size_t)(pkt[*ihl + 12] >> 4) * 4;
	return *thl >= 20 && len >= *ihl + *thl;
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
deliver(netstack_t *st, const void *pkt, size_t len, int partial,
    uint16_t gso_size)
{
	if (st->cbs.output(st->cbs.arg, pkt, len, partial, gso_size) != 0) {
		st->stats.dropped_output++;
		return;		/* a lost packet; TCP retransmits */
	}
	st->stats.packets_out++;
	st->stats.bytes_out += len;
}

/* Sends the super-packet held.  Called from lwIP's output too, so it must
 * not call back into lwIP. */
static void
gso_flush(netstack_t *st)
{
	struct stack_gso *g = &st->gso;
	size_t ihl;

	if (g->len == 0)
		return;
	ihl = (size_t)(g->buf[0] & 0xf) * 4;
	if (g->nseg > 1) {
		g->buf[2] = (uint8_t)(g->len >> 8);
		g->buf[3] = (uint8_t)g->len;
		ip_checksum(g->buf, ihl);
	}
	tcp_checksum(g->buf, g->len, ihl, 1);
	deliver(st, g->buf, g->len, 1, g->nseg > 1 ? g->seg : 0);
	g->len = 0;
}

void
stack_flush(netstack_t *st)
{
	stack_front_ack_pending(st);
	gso_flush(st);
}

void
stack_set_offload(netstack_t *st, int offload)
{
	stack_flush(st);
	st->params.offload = offload;
}

/* Can the data segment pkt (payload plen) join the super-packet held? */
static int
joins(const struct stack_gso *g, const uint8_t *pkt, size_t ihl, size_t thl,
    size_t plen)
{
	const uint8_t *h = g->buf, *ht = g->buf + g->hlen - thl;

	return g->len > 0 && !g->closed && g->hlen == ihl + thl &&
	    (size_t)(h[0] & 0xf) * 4 == ihl && plen <= g->seg &&
	    g->len + plen <= IP_MAX && h[1] == pkt[1] &&
	    memcmp(h + 12, pkt + 12, 8) == 0 &&		/* addresses */
	    memcmp(ht, pkt + ihl, 4) == 0 &&		/* ports */
	    rd32(pkt + ihl + 4) == g->next_seq &&
	    memcmp(ht + 8, pkt + ihl + 8, 4) == 0 &&	/* ack */
	    ht[12] == pkt[ihl + 12] &&			/* data offset */
	    memcmp(ht + 20, pkt + ihl + 20, thl - 20) == 0; /* options */
}

/* Offload: a TCP packet either joins, starts, or passes the held one. */
static void
tx_offload(netstack_t *st, uint8_t *pkt, size_t len, size_t ihl, size_t thl)
{
	struct stack_gso *g = &st->gso;
	size_t plen = len - ihl - thl;
	uint8_t *gth;
	int data = plen > 0 &&
	    !(pkt[ihl + 13] & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG));

	if (data && joins(g, pkt, ihl, thl, plen)) {
		gth = g->buf + ihl;
		memcpy(g->buf + g->len, pkt + ihl + thl, plen);
		g->len += plen;
		memcpy(gth + 14, pkt + ihl + 14, 2);	/* the newest window */
		gth[13] |= pkt[ihl + 13] & TCP_PSH;
		g->next_seq += (uint32_t)plen;
		g->nseg++;
		g->closed = plen < g->seg;
		return;
	}
	gso_flush(st);
	if (!data) {
		tcp_checksum(pkt, len, ihl, 1);
		deliver(st, pkt, len, 1, 0);
		return;
	}
	memcpy(g->buf, pkt, len);
	g->len = len;
	g->hlen = ihl + thl;
	g->seg = (uint16_t)plen;
	g->next_seq = rd32(pkt + ihl + 4) + (uint32_t)plen;
	g->nseg = 1;
	g->closed = 0;
}

err_t
stack_netif_output(struct netif *nif, struct pbuf *p, const ip4_addr_t *dst)
{
	netstack_t *st = nif->state;
	uint8_t *pkt = p->payload;
	size_t len = p->tot_len, ihl, thl;

	(void)dst;
	if (p->next != NULL) {
		/* Rare with LWIP_NETIF_TX_SINGLE_PBUF (only ICMP errors);
		 * obuf holds any u16 tot_len. */
		pbuf_copy_partial(p, st->obuf, p->tot_len, 0);
		pkt = st->obuf;
	}
	/* The TCP checksum field of lwIP's own pbuf is ours to fill: lwIP
	 * zeroes it again before any retransmission. */
	if (!tcp_lengths(pkt, len, &ihl, &thl)) {
		gso_flush(st);
		deliver(st, pkt, len, 0, 0);
	} else if (st->params.offload) {
		tx_offload(st, pkt, len, ihl, thl);
	} else {
		tcp_checksum(pkt, len, ihl, 0);
		deliver(st, pkt, len, 0, 0);
	}
	return ERR_OK;
}
