/*
 * stack_test: the lwIP stack without a device.  Packets are crafted here,
 * fed through stack_input, and what the stack sends is captured and parsed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>	/* tcp_tmr: lwIP's clock, by hand */

#include "daemon/stream.h"
#include "stack/stack.h"
#include "tests/unit/testlib.h"

#define EP_ADDR	0x0a6b0003u	/* 10.107.0.3 */
#define GW_ADDR	0x0a6b0001u
#define APP	0x0a6b0001u	/* the app's packets come from the gateway */

struct fixture {
	netstack_t	*st;
	struct capture	 cap;
	int		 accepted;
	stream_t	*s;
	uint8_t		 got[4096];
	size_t		 got_len;
	int		 got_fin, got_abort;
	size_t		 room;		/* what the back can still take */
};

struct back {
	struct fixture	*f;
	stream_t	*s;
};

static int
cap_output(void *arg, const void *p, size_t len, int partial, uint16_t gso)
{
	return capture_output(&((struct fixture *)arg)->cap, p, len, partial, gso);
}

static void *
lookup(void *arg, uint32_t addr, uint16_t port)
{
	(void)arg;
	return addr == EP_ADDR && port == 80 ? (void *)1 : NULL;
}

static int
has_addr(void *arg, uint32_t addr)
{
	(void)arg;
	return addr == EP_ADDR;
}

static ssize_t
back_send(void *self, const void *buf, size_t len)
{
	struct fixture *f = ((struct back *)self)->f;

	if (len > f->room)
		len = f->room;
	f->room -= len;
	if (len > sizeof(f->got) - f->got_len)
		len = sizeof(f->got) - f->got_len;
	memcpy(f->got + f->got_len, buf, len);
	f->got_len += len;
	return (ssize_t)len;
}

static void back_resume(void *self) { (void)self; }
static void back_shutdown(void *self) { ((struct back *)self)->f->got_fin = 1; }

static void
back_abort(void *self, int err)
{
	struct back *b = self;

	(void)err;
	b->f->got_abort = 1;
	if (b->f->s == b->s)
		b->f->s = NULL;
	stream_detach(b->s, STREAM_BACK);
	free(b);
}

static const struct stream_ops back_ops = {
	back_send, back_resume, back_shutdown, back_abort
};

static int
accept_cb(void *arg, stream_t *s)
{
	struct fixture *f = arg;

	struct back *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->f = f;
	b->s = s;
	f->accepted++;
	f->s = s;
	stream_attach_back(s, &back_ops, b);
	return 0;
}

static int
setup_with(void **state, int offload)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct stack_params p = { GW_ADDR, 1500, 8, offload };
	struct stack_cbs cbs = { cap_output, lookup, has_addr, accept_cb, NULL };

	cbs.arg = f;
	f->room = (size_t)-1;
	f->st = stack_new(&p, &cbs);
	assert_non_null(f->st);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_with(state, 0);
}

static int
setup_offload(void **state)
{
	return setup_with(state, 1);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	stack_free(f->st);
	free(f);
	return 0;
}

static size_t
tcp_pkt(uint8_t *b, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq,
    uint32_t ack, uint8_t flags, const char *data)
{
	return ip_tcp(b, APP, dst, sport, dport, seq, ack, flags, data,
	    data ? strlen(data) : 0);
}

/* The pseudo-header sum of the TCP packet o (IP header 20 bytes). */
static uint32_t
ref_pseudo(const uint8_t *o, size_t len)
{
	return csum_add(o + 12, 8, 6 + (uint32_t)(len - 20));
}

static void
test_syn_unallocated_gets_rst(void **state)
{
	struct fixture *f = *state;
	struct stack_stats s;
	uint8_t b[100];
	const uint8_t *o, *t;

	stack_input(f->st, b, tcp_pkt(b, 0x0a6b0009, 40000, 80, 1000, 0, SYN, NULL));
	assert_int_equal(f->cap.n_out, 1);
	o = f->cap.out[0].b;
	t = o + 20;
	assert_int_equal(o[9], 6);
	assert_int_equal(rd32(o + 12), 0x0a6b0009);	/* from the address tried */
	assert_int_equal(rd32(o + 16), APP);
	assert_int_equal(rd16(t), 80);
	assert_int_equal(rd16(t + 2), 40000);
	assert_true(t[13] & RST);
	assert_int_equal(rd32(t + 8), 1001);		/* acks the SYN */
	/* Without offload the TCP checksum is complete (stack/tx.c). */
	assert_int_equal(f->cap.out[0].partial, 0);
	assert_int_equal(csum_fold(csum_add(t, f->cap.out[0].len - 20,
	    ref_pseudo(o, f->cap.out[0].len))), 0xffff);
	stack_get_stats(f->st, &s);
	assert_int_equal(s.rst_unallocated, 1);
	assert_int_equal(f->accepted, 0);

	/* Allocated address, wrong port. */
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40001, 81, 5, 0, SYN, NULL));
	assert_int_equal(f->cap.n_out, 2);
	assert_true(f->cap.out[1].b[20 + 13] & RST);
}

/* Handshake to EP_ADDR:80; returns our ISN's successor. */
static uint32_t
connect_app(struct fixture *f, uint16_t sport, uint32_t isn)
{
	uint8_t b[100];
	const uint8_t *t;
	size_t n0 = f->cap.n_out;
	uint32_t srv;

	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, sport, 80, isn, 0, SYN, NULL));
	assert_int_equal(f->cap.n_out, n0 + 1);
	t = f->cap.out[n0].b + 20;
	assert_int_equal(t[13] & (SYN | ACK), SYN | ACK);
	assert_int_equal(rd32(f->cap.out[n0].b + 12), EP_ADDR);
	assert_int_equal(rd32(t + 8), isn + 1);
	srv = rd32(t + 4) + 1;
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, sport, 80, isn + 1, srv, ACK, NULL));
	return srv;
}

/* The test's back lets go of its stream; the front must be gone by then
 * (the stream is freed with the last half). */
static void
back_gone(struct fixture *f)
{
	struct stack_stats s;

	free(f->s->half[STREAM_BACK].self);
	stream_detach(f->s, STREAM_BACK);
	f->s = NULL;
	stack_get_stats(f->st, &s);
	assert_int_equal(s.streams_active, 0);
}

static void
test_accept_and_data_both_ways(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	uint32_t srv;
	const uint8_t *o;
	size_t i;
	int found = 0;

	srv = connect_app(f, 40100, 7000);
	assert_int_equal(f->accepted, 1);
	assert_non_null(f->s);
	assert_int_equal(f->s->dst_addr, EP_ADDR);
	assert_int_equal(f->s->dst_port, 80);
	assert_int_equal(f->s->src_port, 40100);

	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40100, 80, 7001, srv, ACK | PSH,
	    "GET / HTTP/1.0\r\n\r\n"));
	assert_int_equal(f->got_len, 18);
	assert_memory_equal(f->got, "GET / HTTP/1.0\r\n\r\n", 18);

	/* The back answers; the app sees a segment with those bytes. */
	f->cap.n_out = 0;
	assert_int_equal(stream_send(f->s, STREAM_BACK, "HTTP/1.0 200 OK\r\n", 17), 17);
	for (i = 0; i < f->cap.n_out; i++) {
		o = f->cap.out[i].b;
		if (f->cap.out[i].len == 40 + 17 &&
		    memcmp(o + 40, "HTTP/1.0 200 OK\r\n", 17) == 0 &&
		    rd32(o + 12) == EP_ADDR)
			found = 1;
	}
	assert_true(found);

	/* FIN from the app reaches the back as a shutdown. */
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40100, 80, 7019, srv + 17,
	    ACK | FIN, NULL));
	assert_int_equal(f->got_fin, 1);
	/* The back shuts down too: the stream is finished and freed. */
	stream_shutdown(f->s, STREAM_BACK);
	free(f->s->half[STREAM_BACK].self);
	stream_detach(f->s, STREAM_BACK);
	f->s = NULL;
	{
		struct stack_stats s;

		stack_get_stats(f->st, &s);
		assert_int_equal(s.streams_active, 0);
		assert_int_equal(s.streams_total, 1);
	}
}

static void
test_backpressure_acks_only_taken_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	uint32_t srv;

	f->room = 4;
	srv = connect_app(f, 40200, 100);
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40200, 80, 101, srv, ACK | PSH,
	    "0123456789"));
	/* The back took 4 bytes; the rest waits in the front. */
	assert_int_equal(f->got_len, 4);
	f->room = (size_t)-1;
	stream_resume(f->s, STREAM_BACK);
	assert_int_equal(f->got_len, 10);
	assert_memory_equal(f->got, "0123456789", 10);
}

/* A short segment's ACK leaves before the loop sleeps (stack_flush), not
 * at lwIP's 250 ms delayed-ACK timer: a client's Nagle algorithm holds its
 * next small write until then.  Full segments keep lwIP's ACK of every
 * second one. */
static void
test_short_segment_acked_before_sleep(void **state)
{
	struct fixture *f = *state;
	uint8_t b[800];
	char full[601];
	uint32_t srv;
	size_t n0;
	const uint8_t *t;

	srv = connect_app(f, 40250, 500);
	n0 = f->cap.n_out;
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40250, 80, 501, srv, ACK | PSH, "D"));
	assert_int_equal(f->got_len, 1);
	assert_int_equal(f->cap.n_out, n0);		/* lwIP delays it */
	stack_flush(f->st);
	assert_int_equal(f->cap.n_out, n0 + 1);
	t = f->cap.out[n0].b + 20;
	assert_int_equal(f->cap.out[n0].len, 40);	/* a pure ACK */
	assert_int_equal(t[13] & (ACK | SYN | FIN | RST), ACK);
	assert_int_equal(rd32(t + 8), 502);
	stack_flush(f->st);				/* nothing twice */
	assert_int_equal(f->cap.n_out, n0 + 1);

	/* A full segment (the MSS is lwIP's 536 without the option): lwIP's
	 * delayed ACK stands until the next one. */
	memset(full, 'x', 600);
	full[600] = '\0';
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40250, 80, 502, srv, ACK, full));
	stack_flush(f->st);
	assert_int_equal(f->cap.n_out, n0 + 1);
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40250, 80, 1102, srv, ACK, full));
	assert_int_equal(f->cap.n_out, n0 + 2);
	assert_int_equal(rd32(f->cap.out[n0 + 1].b + 20 + 8), 1702);
}

/* The back shuts down first, then the app's last bytes and FIN arrive
 * while the back takes nothing: lwIP moves the pcb to TIME_WAIT and frees
 * it 2 MSL later without a callback.  The front must not touch it then;
 * the bytes and the FIN still reach the back when it resumes. */
static void
test_time_wait_then_back_resumes(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	uint32_t srv;
	int i;

	srv = connect_app(f, 40400, 300);
	stream_shutdown(f->s, STREAM_BACK);		/* our FIN, seq srv */
	f->room = 0;
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40400, 80, 301, srv + 1,
	    ACK | FIN | PSH, "tail"));
	assert_int_equal(f->got_len, 0);
	for (i = 0; i < 40; i++)			/* 10 s: past 2 MSL */
		tcp_tmr();
	f->room = (size_t)-1;
	stream_resume(f->s, STREAM_BACK);
	assert_int_equal(f->got_len, 4);
	assert_memory_equal(f->got, "tail", 4);
	assert_int_equal(f->got_fin, 1);
	back_gone(f);
}

/* The app's FIN first, the back's shutdown while bytes still wait for it:
 * the close is graceful (LAST_ACK, then lwIP frees the pcb), not a failure
 * that drops the bytes. */
static void
test_last_ack_keeps_pending_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	uint32_t srv;

	srv = connect_app(f, 40450, 700);
	f->room = 0;
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40450, 80, 701, srv,
	    ACK | FIN | PSH, "bytes"));
	stream_shutdown(f->s, STREAM_BACK);		/* our FIN: LAST_ACK */
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40450, 80, 707, srv + 1,
	    ACK, NULL));				/* the app acks it */
	assert_int_equal(f->got_abort, 0);
	f->room = (size_t)-1;
	stream_resume(f->s, STREAM_BACK);
	assert_int_equal(f->got_len, 5);
	assert_memory_equal(f->got, "bytes", 5);
	assert_int_equal(f->got_fin, 1);
	assert_int_equal(f->got_abort, 0);
	back_gone(f);
}

/* The app half-closes after its request; the back answers with more than
 * the app acknowledges at once, then shuts down.  Our FIN waits until the
 * answer is acknowledged: in LAST_ACK lwIP drops a pcb after 2 MSL (4 s)
 * without a word, and with it the bytes still unacknowledged, so a slow
 * reader got a truncated answer and a RST. */
static void
test_answer_outlives_app_half_close(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	char chunk[1001];
	uint32_t srv;
	size_t i, n0;
	struct stack_stats s;
	int fin = 0, round;

	srv = connect_app(f, 40500, 1000);
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40500, 80, 1001, srv,
	    ACK | FIN, NULL));
	assert_int_equal(f->got_fin, 1);		/* passed to the back */
	memset(chunk, 'a', 1000);
	for (i = 0; i < 3; i++)
		assert_int_equal(stream_send(f->s, STREAM_BACK, chunk, 1000), 1000);
	stream_shutdown(f->s, STREAM_BACK);
	free(f->s->half[STREAM_BACK].self);
	stream_detach(f->s, STREAM_BACK);
	f->s = NULL;
	for (i = 0; i < 40; i++)			/* 10 s, the app silent */
		tcp_tmr();
	/* The app acknowledges what it was sent, as it is sent: the whole
	 * answer arrives, then the FIN, once, and no RST. */
	n0 = f->cap.n_out;
	for (round = 0; round < 20 && fin == 0; round++) {
		uint32_t top = srv;

		for (i = 0; i < f->cap.n_out; i++) {
			const uint8_t *o = f->cap.out[i].b, *t = o + 20;
			uint32_t end = rd32(t + 4) + (uint32_t)(f->cap.out[i].len -
			    20 - (size_t)(t[12] >> 4) * 4);

			if (rd16(t + 2) != 40500)
				continue;
			assert_false(t[13] & RST);
			if (t[13] & FIN) {
				assert_int_equal(rd32(t + 4), srv + 3000);
				fin++;
			}
			if ((int32_t)(end - top) > 0)
				top = end;
		}
		stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40500, 80, 1002,
		    top, ACK, NULL));
	}
	assert_int_equal(fin, 1);
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40500, 80, 1002, srv + 3001,
	    ACK, NULL));				/* the FIN's ACK */
	for (i = n0; i < f->cap.n_out; i++)
		assert_false(f->cap.out[i].b[20 + 13] & RST);
	stack_get_stats(f->st, &s);
	assert_int_equal(s.streams_active, 0);
}

static void
test_rst_from_app_aborts_back(void **state)
{
	struct fixture *f = *state;
	uint8_t b[100];
	uint32_t srv;
	struct stack_stats s;

	srv = connect_app(f, 40300, 900);
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 40300, 80, 901, srv, RST, NULL));
	assert_int_equal(f->got_abort, 1);
	stack_get_stats(f->st, &s);
	assert_int_equal(s.streams_active, 0);
}

static void
test_max_streams(void **state)
{
	struct fixture *f = *state;
	uint8_t b[100];
	struct stack_stats s;
	int i;

	for (i = 0; i < 8; i++)
		connect_app(f, (uint16_t)(41000 + i), 100u * (uint32_t)i);
	assert_int_equal(f->accepted, 8);
	f->cap.n_out = 0;
	stack_input(f->st, b, tcp_pkt(b, EP_ADDR, 42000, 80, 1, 0, SYN, NULL));
	assert_int_equal(f->cap.n_out, 1);
	assert_true(f->cap.out[0].b[33] & RST);
	stack_get_stats(f->st, &s);
	assert_int_equal(s.rst_limit, 1);
	assert_int_equal(s.streams_active, 8);
}

static void
test_icmp_echo(void **state)
{
	struct fixture *f = *state;
	uint8_t b[100];
	struct stack_stats s;

	ip_hdr(b, 1, APP, EP_ADDR, 16);
	memset(b + 20, 0, 16);
	b[20] = 8;	/* echo request */
	wr16(b + 24, 0x1234);
	stack_input(f->st, b, 36);
	assert_int_equal(f->cap.n_out, 1);
	assert_int_equal(f->cap.out[0].b[20], 0);	/* echo reply */
	assert_int_equal(rd32(f->cap.out[0].b + 12), EP_ADDR);
	assert_int_equal(rd16(f->cap.out[0].b + 24), 0x1234);

	ip_hdr(b, 1, APP, 0x0a6b0042, 16);
	stack_input(f->st, b, 36);
	assert_int_equal(f->cap.n_out, 1);
	stack_get_stats(f->st, &s);
	assert_int_equal(s.dropped_unallocated, 1);
}

static void
test_malformed_packets_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t b[100];
	struct stack_stats s;
	size_t n;

	memset(b, 0, sizeof(b));
	stack_input(f->st, b, 0);
	stack_input(f->st, b, 19);
	b[0] = 0x65;				/* IPv6 nibble */
	stack_input(f->st, b, 40);
	n = tcp_pkt(b, EP_ADDR, 1, 80, 0, 0, SYN, NULL);
	b[0] = 0x44;				/* IHL 16 bytes */
	stack_input(f->st, b, n);
	n = tcp_pkt(b, EP_ADDR, 1, 80, 0, 0, SYN, NULL);
	wr16(b + 2, 200);			/* longer than the packet */
	stack_input(f->st, b, n);
	n = tcp_pkt(b, EP_ADDR, 1, 80, 0, 0, SYN, NULL);
	b[32] = 0xf0;				/* TCP data offset 60 > packet */
	stack_input(f->st, b, n);
	n = tcp_pkt(b, EP_ADDR, 1, 80, 0, 0, SYN, NULL);
	wr16(b + 6, 0x2000);			/* a fragment */
	stack_input(f->st, b, n);
	stack_get_stats(f->st, &s);
	assert_int_equal(s.dropped_malformed, 6);
	assert_int_equal(s.dropped_fragment, 1);
	assert_int_equal(f->cap.n_out, 0);
	assert_int_equal(f->accepted, 0);
}

/* The back sends n bytes of a counting pattern; returns what lwIP took. */
static ssize_t
back_sends(struct fixture *f, size_t n)
{
	static uint8_t data[20000];
	size_t i;

	for (i = 0; i < n && i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	return stream_send(f->s, STREAM_BACK, data, n);
}

/*
 * Flushes, checks every data packet in out[] (checksum as offload says,
 * headers, pattern bytes, sequence continuing at *next), acks it from the
 * app, and repeats until want bytes have come or 100 rounds have passed.
 * Returns the data bytes seen; *pkts and *joined count the packets that
 * carried them and those that were super-packets.
 */
static size_t
drain(struct fixture *f, uint16_t sport, uint32_t app_seq, uint32_t srv,
    uint32_t *next, size_t want, size_t *pkts, size_t *joined)
{
	uint8_t b[100];
	size_t i, k, got = 0, dl;
	const uint8_t *o, *t;
	int round;

	for (round = 0; round < 100 && got < want; round++) {
		stack_flush(f->st);
		for (i = 0; i < f->cap.n_out; i++) {
			o = f->cap.out[i].b;
			t = o + 20;
			dl = f->cap.out[i].len - 40;
			if (o[9] != 6 || dl == 0)
				continue;
			if (f->cap.out[i].partial)
				assert_int_equal(csum_fold(ref_pseudo(o,
				    f->cap.out[i].len)), rd16(t + 16));
			else
				assert_int_equal(csum_fold(csum_add(t,
				    f->cap.out[i].len - 20, ref_pseudo(o,
				    f->cap.out[i].len))), 0xffff);
			assert_int_equal(csum_fold(csum_add(o, 20, 0)), 0xffff);
			assert_int_equal(rd16(o + 2), f->cap.out[i].len);
			assert_int_equal(rd32(t + 4), *next);
			if (f->cap.out[i].gso != 0) {
				assert_true(dl > f->cap.out[i].gso);
				(*joined)++;
			}
			for (k = 0; k < dl; k++)
				if (t[20 + k] != (uint8_t)((*next - srv + k) * 7))
					fail_msg("byte %zu is wrong",
					    (size_t)(*next - srv + k));
			*next += (uint32_t)dl;
			got += dl;
			(*pkts)++;
		}
		f->cap.n_out = 0;
		stack_input(f->st, b, tcp_pkt(b, EP_ADDR, sport, 80, app_seq,
		    *next, ACK, NULL));
	}
	return got;
}

static void
test_segments_checksummed(void **state)
{
	struct fixture *f = *state;
	size_t pkts = 0, joined = 0;
	uint32_t srv, next;

	srv = next = connect_app(f, 40500, 100);
	f->cap.n_out = 0;
	assert_int_equal(back_sends(f, 10000), 10000);
	assert_true(f->cap.n_out > 0);	/* nothing is held without offload */
	assert_int_equal(drain(f, 40500, 101, srv, &next, 10000, &pkts,
	    &joined), 10000);
	assert_int_equal(joined, 0);
	assert_true(pkts >= 10000 / 536);	/* one packet per segment */
}

static void
test_offload_joins_segments(void **state)
{
	struct fixture *f = *state;
	size_t pkts = 0, joined = 0;
	uint32_t srv, next;

	srv = next = connect_app(f, 40600, 500);
	/* Control segments (the SYN-ACK) leave at once, checksum partial. */
	assert_int_equal(f->cap.out[0].partial, 1);
	assert_int_equal(f->cap.out[0].gso, 0);
	assert_int_equal(csum_fold(ref_pseudo(f->cap.out[0].b, f->cap.out[0].len)),
	    rd16(f->cap.out[0].b + 20 + 16));
	f->cap.n_out = 0;
	assert_int_equal(back_sends(f, 10000), 10000);
	assert_int_equal(f->cap.n_out, 0);		/* held to be joined */
	assert_int_equal(drain(f, 40600, 501, srv, &next, 10000, &pkts,
	    &joined), 10000);
	/* Each flight of several segments left as one packet. */
	assert_true(joined > 0);
	assert_true(pkts < 10000 / 536);
	/* Nothing held now: a flush sends nothing. */
	stack_flush(f->st);
	assert_int_equal(f->cap.n_out, 0);

	/* A FIN after more data: the data leaves first, then the FIN. */
	assert_int_equal(back_sends(f, 1000), 1000);
	stream_shutdown(f->s, STREAM_BACK);
	stack_flush(f->st);
	assert_int_equal(f->cap.n_out, 2);
	assert_int_equal(f->cap.out[0].len - 40, 1000);
	assert_int_equal(f->cap.out[0].gso, 536);
	assert_int_equal(rd32(f->cap.out[0].b + 24), srv + 10000);
	assert_true(f->cap.out[1].b[33] & FIN);
	assert_int_equal(rd32(f->cap.out[1].b + 24), srv + 11000);
}

/* stack_rx_buf/stack_input_rx: small packets are copied out, large ones
 * keep the buffer; both reach lwIP. */
static void
test_offload_rx_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf, *t;
	uint32_t srv;
	static char big[40000];

	srv = connect_app(f, 40700, 900);
	buf = stack_rx_buf(f->st);
	assert_non_null(buf);
	assert_int_equal(stack_input_rx(f->st, tcp_pkt(buf, EP_ADDR, 40700, 80,
	    901, srv, ACK | PSH, "small")), 0);
	assert_int_equal(f->got_len, 5);
	assert_ptr_equal(stack_rx_buf(f->st), buf);	/* kept */
	memset(big, 'b', sizeof(big) - 1);
	t = stack_rx_buf(f->st);
	assert_int_equal(stack_input_rx(f->st, tcp_pkt(t, EP_ADDR, 40700, 80,
	    906, srv, ACK | PSH, big)), 0);
	/* got[] holds 4096: the back took the start of it */
	assert_int_equal(f->got_len, sizeof(f->got));
	assert_int_equal(f->got[5], 'b');
	assert_non_null(stack_rx_buf(f->st));		/* a new buffer */
	assert_int_equal(stack_input_rx(f->st, STACK_RX_MAX + 1), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_syn_unallocated_gets_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_and_data_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_acks_only_taken_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_segment_acked_before_sleep,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_wait_then_back_resumes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_ack_keeps_pending_bytes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_outlives_app_half_close,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_from_app_aborts_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_packets_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segments_checksummed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offload_joins_segments, setup_offload, teardown),
		cmocka_unit_test_setup_teardown(test_offload_rx_buffer, setup_offload, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
