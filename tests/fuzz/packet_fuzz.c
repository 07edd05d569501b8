/*
 * packet_fuzz.c: libFuzzer harness for packets from the TUN device into the
 * lwIP stack, through stack_input (what the daemon's TUN reader calls),
 * with the stream seam's back half played by a fake that the input drives.
 *
 * The input is a script of records, each starting with an op byte:
 *   op % 8 == 0, 1  raw packet: u16 BE length, then the bytes.  Op bits
 *                   3..5 repair it: bit 3 sets the IPv4 total length, bit 4
 *                   sets a TCP ack to what the stack has sent on that flow
 *                   (its ISS is random: a fuzzer cannot guess it), bit 5
 *                   sets the TCP seq to the flow's next byte.
 *   op % 8 == 2, 3  TCP segment built here: sel, flags, dlen, then dlen
 *                   bytes of data.  sel bits 0-1: app port, 2-3: endpoint
 *                   (three known, one unallocated), 4: seq off by a delta
 *                   byte, 5: ack off by a delta byte, 6: MSS/WS/SACK
 *                   options, 7: small window.  seq and ack otherwise follow
 *                   the flow, so SYN, ACK, data, FIN and RST sequences come
 *                   easily.
 *   op % 8 == 4     timers: lwIP's TCP timer 1..8 times, then stack_timers.
 *   op % 8 == 5, 6  the back of a stream acts: sel (bits 0-2: which live
 *                   back, bits 3-5: action), and for "send" a size byte:
 *                   send to the app, shut down, abort, stop taking bytes,
 *                   take bytes again (resume), detach when done.
 *   op % 8 == 7     ICMP echo or UDP to the gateway or an endpoint.
 *
 * A stack is made per input and freed at its end (stack_free makes lwIP's
 * process-wide state clean again), so every run starts the same and
 * LeakSanitizer sees every stream, pbuf and pcb the input left behind.
 *
 * Invariants: every packet the stack sends is a well-formed IPv4 packet
 * with the right total length, TCP segments fit the MTU; the stats agree
 * with the streams that were accepted and released; a back is never called
 * after it detached (ASan), and stack_free releases everything.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>

#include "daemon/log.h"
#include "daemon/stream.h"
#include "stack/stack.h"
#include "tests/lib/packet.h"

#define GW	0x0a6b0001u	/* 10.107.0.1: the device, the app's source */
#define EP_A	0x0a6b0003u
#define EP_B	0x0a6b0004u
#define UNALLOC	0x0a6b0009u
#define MTU	1500
#define MAX_STREAMS 4
#define NFLOWS	16
#define MAX_PKT	4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct flow {
	uint32_t	dst;
	uint16_t	sport, dport;
	int		used, seen;	/* seen: the stack has sent on it */
	uint32_t	app_nxt;	/* the app's next seq */
	uint32_t	stack_nxt;	/* what the app acks next */
};

struct back;

/* Everything one run owns; passed to the callbacks through cbs.arg. */
struct run {
	netstack_t	*st;
	struct flow	 flows[NFLOWS];
	struct back	*backs;		/* live (attached) backs */
	uint64_t	 accepted, released;
	uint64_t	 bytes_to_backs;
};

struct back {
	struct back	*next;
	struct run	*run;
	stream_t	*s;
	size_t		 room;		/* what it takes before refusing */
	int		 got_fin, shut;
};

static const struct { uint32_t addr; uint16_t port; } dsts[4] = {
	{ EP_A, 80 }, { EP_A, 443 }, { EP_B, 22 }, { UNALLOC, 80 },
};

static struct flow *
flow_find(struct run *r, uint32_t dst, uint16_t sport, uint16_t dport,
    int create)
{
	struct flow *f, *spare = NULL;
	size_t i;

	for (i = 0; i < NFLOWS; i++) {
		f = &r->flows[i];
		if (f->used && f->dst == dst && f->sport == sport &&
		    f->dport == dport)
			return f;
		if (!f->used && spare == NULL)
			spare = f;
	}
	if (!create || spare == NULL)
		return NULL;
	memset(spare, 0, sizeof(*spare));
	spare->used = 1;
	spare->dst = dst;
	spare->sport = sport;
	spare->dport = dport;
	return spare;
}

/* --- callbacks ------------------------------------------------------------ */

static void
check_out(struct run *r, const uint8_t *p, size_t len, int partial,
    uint16_t gso)
{
	size_t ihl, thl, dl;
	const uint8_t *t;
	struct flow *f;
	uint32_t end;

	if (len < 20 || (p[0] >> 4) != 4 || (ihl = (size_t)(p[0] & 15) * 4) < 20 ||
	    rd16(p + 2) != len || ihl > len)
		abort();
	if (p[9] != 6) {
		if (partial || gso)	/* offload marks TCP only */
			abort();
		return;
	}
	if ((len > MTU && gso == 0) || len < ihl + 20)
		abort();
	t = p + ihl;
	thl = (size_t)(t[12] >> 4) * 4;
	if (thl < 20 || ihl + thl > len)
		abort();
	dl = len - ihl - thl;
	/* A super-packet holds more than one segment of gso bytes, all of
	 * them at most the MTU's worth. */
	if (gso != 0 && (dl <= gso || ihl + thl + gso > MTU))
		abort();
	/* Learn what the app must ack: the stack's seq space on this flow. */
	f = flow_find(r, rd32(p + 12), rd16(t + 2), rd16(t), 0);
	if (f == NULL || (t[13] & TCP_RST))
		return;
	end = rd32(t + 4) + (uint32_t)dl + ((t[13] & TCP_SYN) ? 1 : 0) +
	    ((t[13] & TCP_FIN) ? 1 : 0);
	if (!f->seen || (int32_t)(end - f->stack_nxt) > 0)
		f->stack_nxt = end;
	f->seen = 1;
}

static int
out_cb(void *arg, const void *pkt, size_t len, int partial, uint16_t gso)
{
	check_out(arg, pkt, len, partial, gso);
	return 0;
}

static void *
lookup_cb(void *arg, uint32_t addr, uint16_t port)
{
	size_t i;

	(void)arg;
	for (i = 0; i < 3; i++)
		if (dsts[i].addr == addr && dsts[i].port == port)
			return (void *)(uintptr_t)(i + 1);	/* opaque, non-NULL */
	return NULL;
}

static int
has_addr_cb(void *arg, uint32_t addr)
{
	(void)arg;
	return addr == EP_A || addr == EP_B;
}

static void
back_unlink(struct back *b)
{
	struct back **pp;

	for (pp = &b->run->backs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			return;
		}
	abort();	/* not live: called after it detached */
}

static void
back_free(struct back *b)
{
	back_unlink(b);
	b->run->released++;
	stream_detach(b->s, STREAM_BACK);
	free(b);
}

static ssize_t
back_send(void *self, const void *buf, size_t len)
{
	struct back *b = self;
	volatile uint8_t sink = 0;
	size_t i;

	if (len > b->room)
		len = b->room;
	b->room -= len;
	for (i = 0; i < len; i++)	/* the bytes must be readable */
		sink ^= ((const uint8_t *)buf)[i];
	(void)sink;
	b->run->bytes_to_backs += len;
	return (ssize_t)len;
}

static void
back_resume(void *self)
{
	(void)self;
}

static void
back_shutdown(void *self)
{
	struct back *b = self;

	if (b->got_fin)
		abort();	/* told twice */
	b->got_fin = 1;
}

static void
back_abort(void *self, int err)
{
	(void)err;
	back_free(self);
}

static const struct stream_ops back_ops = {
	back_send, back_resume, back_shutdown, back_abort
};

static int
accept_cb(void *arg, stream_t *s)
{
	struct run *r = arg;
	struct back *b;

	if (lookup_cb(r, s->dst_addr, s->dst_port) == NULL)
		abort();	/* accepted something the filter must refuse */
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->run = r;
	b->s = s;
	b->room = (size_t)-1;
	b->next = r->backs;
	r->backs = b;
	r->accepted++;
	stream_attach_back(s, &back_ops, b);
	return 0;
}

/* --- ops ------------------------------------------------------------------ */

struct in {
	const uint8_t	*p;
	size_t		 left;
};

static int
get8(struct in *in, uint8_t *v)
{
	if (in->left == 0)
		return -1;
	*v = *in->p++;
	in->left--;
	return 0;
}

static size_t
take(struct in *in, size_t want, const uint8_t **p)
{
	if (want > in->left)
		want = in->left;
	*p = in->p;
	in->p += want;
	in->left -= want;
	return want;
}

static void
feed(struct run *r, uint8_t *pkt, size_t len, uint8_t fix)
{
	size_t ihl, thl;
	struct flow *f = NULL;
	uint8_t *t = NULL;

	if (len >= 20 && (fix & 0x08))
		wr16(pkt + 2, (uint16_t)len);
	if (len >= 20 && (pkt[0] >> 4) == 4 && pkt[9] == 6 &&
	    (ihl = (size_t)(pkt[0] & 15) * 4) >= 20 && ihl + 20 <= len) {
		t = pkt + ihl;
		f = flow_find(r, rd32(pkt + 16), rd16(t), rd16(t + 2), 1);
	}
	if (f != NULL) {
		if ((fix & 0x10) && f->seen)
			wr32(t + 8, f->stack_nxt);
		if ((fix & 0x20) && f->app_nxt != 0)
			wr32(t + 4, f->app_nxt);
		if (t[13] & TCP_SYN)
			f->seen = 0;	/* a new connection: learn again */
		thl = (size_t)(t[12] >> 4) * 4;
		if (!(t[13] & TCP_RST) && thl >= 20 && ihl + thl <= len)
			f->app_nxt = rd32(t + 4) + (uint32_t)(len - ihl - thl) +
			    ((t[13] & TCP_SYN) ? 1 : 0) +
			    ((t[13] & TCP_FIN) ? 1 : 0);
	}
	if (stack_input(r->st, pkt, len) != 0)
		abort();	/* only -ENOMEM, and not in a fuzz run */
}

static void
op_raw(struct run *r, struct in *in, uint8_t op)
{
	static uint8_t pkt[MAX_PKT];
	const uint8_t *p;
	uint8_t hi, lo;
	size_t len;

	if (get8(in, &hi) || get8(in, &lo))
		return;
	len = take(in, (size_t)(hi << 8 | lo) % MAX_PKT, &p);
	memcpy(pkt, p, len);
	feed(r, pkt, len, op);
}

static void
op_tcp(struct run *r, struct in *in)
{
	static const uint8_t opts[12] = {
		2, 4, 0x05, 0xb4,	/* MSS 1460 */
		1, 3, 3, 7,		/* NOP, window scale 7 */
		4, 2, 1, 1,		/* SACK permitted, NOP, NOP */
	};
	static uint8_t pkt[20 + 20 + sizeof(opts) + 255];
	uint8_t sel, flags, dlen, dseq = 0, dack = 0, *t;
	const uint8_t *d;
	size_t ol, dl, len;
	struct flow *f;
	uint32_t seq, ack;

	if (get8(in, &sel) || get8(in, &flags) || get8(in, &dlen) ||
	    ((sel & 0x10) && get8(in, &dseq)) || ((sel & 0x20) &&
	    get8(in, &dack)))
		return;
	dl = take(in, dlen, &d);
	f = flow_find(r, dsts[(sel >> 2) & 3].addr, (uint16_t)(40000 + (sel & 3)),
	    dsts[(sel >> 2) & 3].port, 1);
	if (f == NULL)
		return;
	if ((flags & TCP_SYN) && !(flags & TCP_ACK))
		f->app_nxt = 1000;	/* a new connection on this flow */
	seq = f->app_nxt + (uint32_t)(int8_t)dseq;
	ack = f->stack_nxt + (uint32_t)(int8_t)dack;
	ol = (sel & 0x40) ? sizeof(opts) : 0;
	len = ip_hdr(pkt, 6, GW, f->dst, 20 + ol + dl);
	t = pkt + len;
	memset(t, 0, 20);
	wr16(t, f->sport);
	wr16(t + 2, f->dport);
	wr32(t + 4, seq);
	wr32(t + 8, (flags & TCP_ACK) ? ack : 0);
	t[12] = (uint8_t)(((20 + ol) / 4) << 4);
	t[13] = flags;
	wr16(t + 14, (sel & 0x80) ? dlen : 65535);
	memcpy(t + 20, opts, ol);
	memcpy(t + 20 + ol, d, dl);
	len += 20 + ol + dl;
	/* feed() moves the flow on, except for a deliberately off seq. */
	if (sel & 0x10) {
		uint32_t keep = f->app_nxt;

		feed(r, pkt, len, 0);
		f->app_nxt = keep;
	} else
		feed(r, pkt, len, 0);
}

static void
op_icmp_udp(struct run *r, struct in *in)
{
	static uint8_t pkt[20 + 8 + 255];
	uint8_t sel, dlen, *h;
	const uint8_t *d;
	size_t dl, len;
	uint32_t dst;

	if (get8(in, &sel) || get8(in, &dlen))
		return;
	dl = take(in, dlen, &d);
	dst = (sel & 2) ? GW : dsts[(sel >> 2) & 3].addr;
	len = ip_hdr(pkt, (sel & 1) ? 17 : 1, GW, dst, 8 + dl);
	h = pkt + len;
	memset(h, 0, 8);
	if (sel & 1) {		/* UDP: ports from the data, length right */
		wr16(h, 5353);
		wr16(h + 2, (uint16_t)(sel >> 4) * 1000 + 7);
		wr16(h + 4, (uint16_t)(8 + dl));
	} else {		/* ICMP: echo request, or a type from sel */
		h[0] = (sel & 0x10) ? (uint8_t)(sel >> 5) : 8;
		wr16(h + 4, 0x1234);
		wr16(h + 6, sel);
	}
	memcpy(h + 8, d, dl);
	feed(r, pkt, len + 8 + dl, 0);
}

static void
op_timers(struct run *r, struct in *in)
{
	uint8_t n = 0;
	int i;

	(void)get8(in, &n);
	for (i = 0; i <= (n & 7); i++)
		stack_tcp_tick(r->st);
	(void)stack_timers(r->st);
}

static void
op_back(struct run *r, struct in *in)
{
	static uint8_t buf[64 * 1024];
	struct back *b;
	uint8_t sel, sz = 0;
	size_t i, n;
	stream_t *s;

	if (get8(in, &sel))
		return;
	for (b = r->backs, i = sel & 7; b != NULL && i > 0; i--)
		b = b->next;
	if (b == NULL)
		return;
	s = b->s;
	/* Any of these calls may end in back_abort, which frees b: b is not
	 * touched after them. */
	switch ((sel >> 3) & 7) {
	case 0:
	case 1:
		(void)get8(in, &sz);
		n = (size_t)sz * 256 + 1;
		for (i = 0; i < n; i++)
			buf[i] = (uint8_t)i;
		if (!b->shut)
			(void)stream_send(s, STREAM_BACK, buf, n);
		break;
	case 2:
		if (!b->shut) {
			b->shut = 1;
			stream_shutdown(s, STREAM_BACK);
		}
		break;
	case 3:
		stream_abort(s, STREAM_BACK, ECONNRESET);
		back_free(b);
		break;
	case 4:
		b->room = 0;
		break;
	case 5:
		b->room = (size_t)sel * 97;
		stream_resume(s, STREAM_BACK);
		break;
	case 6:
		b->room = (size_t)-1;
		stream_resume(s, STREAM_BACK);
		break;
	default:
		/* Done both ways: a finished back forgets the stream. */
		if (b->shut && b->got_fin)
			back_free(b);
		break;
	}
}

static void
check_stats(struct run *r)
{
	struct stack_stats ss;

	stack_get_stats(r->st, &ss);
	if (ss.streams_total != r->accepted || ss.streams_active >
	    ss.streams_total || ss.packets_out < ss.rst_unallocated)
		abort();
	if (ss.streams_active > MAX_STREAMS)	/* limits.max_streams holds */
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stack_params p = { GW, MTU, MAX_STREAMS, 0 };
	struct stack_cbs cbs = { out_cb, lookup_cb, has_addr_cb, accept_cb,
	    NULL };
	struct in in = { data, size };
	struct run r;
	struct back *b;
	uint8_t op;

	log_set_level(LOG_LVL_ERROR);
	/* Odd-sized inputs run with offload: output is then joined into
	 * super-packets (stack/tx.c), flushed after every operation. */
	p.offload = (int)(size & 1);
	memset(&r, 0, sizeof(r));
	cbs.arg = &r;
	if ((r.st = stack_new(&p, &cbs)) == NULL)
		abort();
	while (get8(&in, &op) == 0) {
		switch (op % 8) {
		case 0: case 1:	op_raw(&r, &in, op);	break;
		case 2: case 3:	op_tcp(&r, &in);	break;
		case 4:		op_timers(&r, &in);	break;
		case 5: case 6:	op_back(&r, &in);	break;
		default:	op_icmp_udp(&r, &in);	break;
		}
		stack_flush(r.st);
		check_stats(&r);
	}
#ifdef PACKET_FUZZ_DEBUG
	{
		struct stack_stats ss;

		stack_get_stats(r.st, &ss);
		fprintf(stderr, "in %llu out %llu rst_unalloc %llu rst_limit %llu "
		    "active %llu total %llu to_backs %llu\n",
		    (unsigned long long)ss.packets_in,
		    (unsigned long long)ss.packets_out,
		    (unsigned long long)ss.rst_unallocated,
		    (unsigned long long)ss.rst_limit,
		    (unsigned long long)ss.streams_active,
		    (unsigned long long)ss.streams_total,
		    (unsigned long long)r.bytes_to_backs);
	}
#endif
	stack_free(r.st);
	/* Backs whose front finished first are still attached. */
	while ((b = r.backs) != NULL)
		back_free(b);
	if (r.released != r.accepted)
		abort();
	return 0;
}
