/*
 * dns_forward_test: what dns.upstream adds to the responder.
 *  - the forwarder's helpers in stack/dns_parse.c (stack_dns_is_reply_to,
 *    stack_dns_servfail, stack_dns_truncate) on crafted messages;
 *  - stack_dns_answer and the forward callback: which queries are handed
 *    over, SERVFAIL when the forwarder refuses;
 *  - the lwIP responder delivering forwarded replies over UDP (truncated
 *    beyond the MTU) and TCP (after the client's FIN, on a gone connection);
 *  - daemon/dnsfwd.c against a fake upstream socket on 127.0.0.1: relay
 *    with the client's id, a fresh socket (port) and id per query, spoofs
 *    ignored, the in-flight bound, the timeout, an ICMP refusal, freeing
 *    with queries in flight.  Each dnsfwd test ends with the process's fd
 *    count back where it started.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/dnsfwd.h"
#include "daemon/loop.h"
#include "stack/dns_priv.h"
#include "stack/stack.h"
#include "tests/unit/testlib.h"
#include "tests/unit/dnslib.h"

#define LOCAL	0x7f000001u

/* --- messages --------------------------------------------------------------- */

/* An upstream's reply to q (qlen bytes, its OPT dropped): n A records
 * 192.0.2.1.. pointing at the question. */
static size_t
answer(uint8_t *out, const uint8_t *q, size_t qlen, unsigned n)
{
	size_t o = DNS_HDR_LEN;
	unsigned i;

	while (q[o] != 0)
		o += 1 + q[o];
	o += 1 + 4;
	(void)qlen;
	memcpy(out, q, o);
	wr16(out + 2, 0x8180);
	wr16(out + 6, (uint16_t)n);
	wr16(out + 10, 0);
	for (i = 0; i < n; i++, o += 16) {
		wr16(out + o, 0xc00c);
		wr16(out + o + 2, DNS_TYPE_A);
		wr16(out + o + 4, DNS_CLASS_IN);
		wr32(out + o + 6, 60);
		wr16(out + o + 10, 4);
		wr32(out + o + 12, 0xc0000201u + i);
	}
	return o;
}

/* --- helpers ------------------------------------------------------------------ */

static void
test_is_reply_to(void **state)
{
	uint8_t q[600], r[600];
	size_t qn = query(q, 0x1234, "Example.COM", DNS_TYPE_A, Q_OPT), rn;

	(void)state;
	rn = answer(r, q, qn, 1);
	assert_true(stack_dns_is_reply_to(q, qn, r, rn));
	/* The echo may change letter case (0x20), nothing else. */
	r[12 + 1] = 'e';
	r[12 + 9] = 'C';
	assert_true(stack_dns_is_reply_to(q, qn, r, rn));
	r[12 + 2] = 'y';
	assert_false(stack_dns_is_reply_to(q, qn, r, rn));
	r[12 + 2] = 'x';
	wr16(r, 0x1235);				/* another id */
	assert_false(stack_dns_is_reply_to(q, qn, r, rn));
	wr16(r, 0x1234);
	wr16(r + 2, 0x0180);				/* not a response */
	assert_false(stack_dns_is_reply_to(q, qn, r, rn));
	wr16(r + 2, 0x8180);
	wr16(r + 25, DNS_TYPE_AAAA);			/* another type */
	assert_false(stack_dns_is_reply_to(q, qn, r, rn));
	wr16(r + 25, DNS_TYPE_A);
	wr16(r + 4, 0);					/* no question */
	assert_false(stack_dns_is_reply_to(q, qn, r, rn));
	wr16(r + 4, 1);
	assert_false(stack_dns_is_reply_to(q, qn, r, 20));	/* cut short */
	assert_true(stack_dns_is_reply_to(q, qn, r, rn));
	/* A query the parser would not accept matches nothing. */
	assert_false(stack_dns_is_reply_to(q, 11, r, rn));
}

static void
test_servfail(void **state)
{
	uint8_t q[600], out[STACK_DNS_REPLY_MAX];
	size_t qn = query(q, 0x4321, "a.example", DNS_TYPE_AAAA, Q_OPT), n;

	(void)state;
	n = stack_dns_servfail(q, qn, out, sizeof(out));
	assert_int_equal(n, qn);	/* header, question, OPT */
	assert_int_equal(rd16(out), 0x4321);
	assert_int_equal(rd16(out + 2), 0x8102);	/* QR, RD, SERVFAIL, no AA */
	assert_int_equal(rd16(out + 4), 1);
	assert_int_equal(rd16(out + 6), 0);
	assert_int_equal(rd16(out + 10), 1);
	assert_memory_equal(out + 12, q + 12, qn - 12 - 11);
	assert_int_equal(stack_dns_servfail(q, qn, out, 20), 0);
	assert_int_equal(stack_dns_servfail(q, 5, out, sizeof(out)), 0);
}

static void
test_truncate(void **state)
{
	uint8_t q[600], r[4096];
	size_t qn = query(q, 7, "big.example", DNS_TYPE_A, Q_NOEDNS), rn, n;

	(void)state;
	rn = answer(r, q, qn, 100);
	assert_int_equal(rn, qn + 1600);
	n = stack_dns_truncate(r, rn);
	assert_int_equal(n, qn);
	assert_int_equal(rd16(r + 2), 0x8380);		/* TC added */
	assert_int_equal(rd16(r + 4), 1);
	assert_int_equal(rd16(r + 6), 0);
	assert_int_equal(rd16(r + 10), 0);
	assert_memory_equal(r + 12, q + 12, qn - 12);
	/* No usable question: the header alone. */
	memset(r + 12, 0x3f, 100);
	assert_int_equal(stack_dns_truncate(r, 112), 12);
	assert_int_equal(rd16(r + 4), 0);
	assert_int_equal(stack_dns_truncate(r, 5), 5);
}

/* --- the responder and the forward callback ------------------------------------ */

struct fixture {
	netstack_t	*st;
	stack_dns_t	*dns;
	struct capture	 cap;
	int		 fwd_result;	/* what the fake forwarder returns */
	unsigned	 n_fwd;
	struct stack_dns_origin o;	/* the last forwarded query's */
	uint8_t		 fwd_msg[512];
	size_t		 fwd_len;
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
	return addr == DNSA && port == 53 ? (void *)1 : NULL;
}

static int
fake_forward(void *arg, const uint8_t *msg, size_t len,
    const struct stack_dns_origin *o)
{
	struct fixture *f = arg;

	f->n_fwd++;
	if (f->fwd_result != 0)
		return f->fwd_result;
	assert_true(len <= sizeof(f->fwd_msg));
	memcpy(f->fwd_msg, msg, len);
	f->fwd_len = len;
	f->o = *o;
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct stack_params p = { GW, 1500, 8, 0 };
	struct stack_cbs cbs = { cap_output, lookup, NULL, refuse, NULL };
	struct stack_dns_params dp = { 0 };

	assert_non_null(f);
	cbs.arg = f;
	assert_non_null(f->st = stack_new(&p, &cbs));
	dp.resolve = resolve_my_api;
	dp.arg = f;
	dp.tcp = 1;
	dp.forward = fake_forward;
	dp.forward_arg = f;
	assert_non_null(f->dns = stack_dns_new(f->st, &dp));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	stack_dns_free(f->dns);
	stack_free(f->st);
	free(f);
	return 0;
}

static void
never_deliver(const struct stack_dns_origin *o, const uint8_t *r, size_t len)
{
	(void)o;
	(void)r;
	(void)len;
	fail_msg("deliver called from inside the query");
}

static void
test_answer_forwards(void **state)
{
	struct fixture *f = *state;
	struct stack_dns_origin o = { never_deliver, f, 0, 0x7f000005u, 4242 };
	struct stack_dns_stats s;
	uint8_t q[600], out[STACK_DNS_REPLY_MAX];
	size_t n;
	int r;

	/* A managed name: answered here, not forwarded. */
	n = query(q, 1, "MY-API.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	r = stack_dns_answer(f->dns, q, n, &o, out, sizeof(out));
	assert_int_equal(r, n + 16);
	assert_int_equal(rd32(out + n + 12), EP);
	assert_int_equal(f->n_fwd, 0);
	/* Another name: forwarded as sent, with the origin given. */
	n = query(q, 2, "www.Example.com", DNS_TYPE_AAAA, Q_OPT);
	assert_int_equal(stack_dns_answer(f->dns, q, n, &o, out, sizeof(out)),
	    -EINPROGRESS);
	assert_int_equal(f->n_fwd, 1);
	assert_int_equal(f->fwd_len, n);
	assert_memory_equal(f->fwd_msg, q, n);
	assert_ptr_equal(f->o.owner, f);
	assert_int_equal(f->o.addr, 0x7f000005u);
	assert_int_equal(f->o.port, 4242);
	/* Names that cannot be endpoints', and class CHAOS: not ours either. */
	n = query(q, 3, "a b.example", DNS_TYPE_A, Q_NOEDNS);
	assert_int_equal(stack_dns_answer(f->dns, q, n, &o, out, sizeof(out)),
	    -EINPROGRESS);
	n = query(q, 4, "version.bind", 16, Q_NOEDNS);
	wr16(q + n - 2, 3);
	assert_int_equal(stack_dns_answer(f->dns, q, n, &o, out, sizeof(out)),
	    -EINPROGRESS);
	assert_int_equal(f->n_fwd, 3);
	/* Zone transfers and malformed queries are never forwarded. */
	n = query(q, 5, "example.com", DNS_TYPE_AXFR, Q_NOEDNS);
	r = stack_dns_answer(f->dns, q, n, &o, out, sizeof(out));
	assert_int_equal(rd16(out + 2) & 0xf, DNS_RCODE_REFUSED);
	n = query(q, 6, "example.com", DNS_TYPE_A, Q_NOEDNS);
	r = stack_dns_answer(f->dns, q, n + 1, &o, out, sizeof(out));
	assert_int_equal(r, 12);
	assert_int_equal(rd16(out + 2) & 0xf, DNS_RCODE_FORMERR);
	assert_int_equal(f->n_fwd, 3);
	/* The forwarder refuses (too many in flight): SERVFAIL now. */
	f->fwd_result = -EBUSY;
	n = query(q, 7, "example.com", DNS_TYPE_A, Q_OPT);
	r = stack_dns_answer(f->dns, q, n, &o, out, sizeof(out));
	assert_int_equal(r, n);
	assert_int_equal(rd16(out), 7);
	assert_int_equal(rd16(out + 2) & 0xf, DNS_RCODE_SERVFAIL);
	/* A response, or no header: nothing at all. */
	f->fwd_result = 0;
	q[2] |= 0x80;
	assert_int_equal(stack_dns_answer(f->dns, q, n, &o, out, sizeof(out)), 0);
	assert_int_equal(stack_dns_answer(f->dns, q, 11, &o, out, sizeof(out)), 0);
	stack_dns_get_stats(f->dns, &s);
	assert_int_equal(s.queries, 9);
	assert_int_equal(s.answered, 1);
	assert_int_equal(s.forwarded, 3);
	assert_int_equal(s.servfail, 1);
	assert_int_equal(s.refused, 1);
	assert_int_equal(s.formerr, 1);
	assert_int_equal(s.dropped, 2);
}

/* Only this host's programs (the gateway address, loopback) are forwarded
 * for: in network mode other hosts reach the responder, and an open
 * forwarder would be a reflector.  Managed names are answered for all. */
static void
test_forward_local_clients_only(void **state)
{
	struct fixture *f = *state;
	/* 198.51.100.5: another host (TEST-NET-2) */
	struct stack_dns_origin lan = { never_deliver, f, 0, 0xc6336405u, 53000 };
	struct stack_dns_origin gw = { never_deliver, f, 0, GW, 53000 };
	struct stack_dns_stats s;
	uint8_t q[600], out[STACK_DNS_REPLY_MAX], b[2048];
	size_t n;

	n = query(q, 1, "example.com", DNS_TYPE_A, Q_NOEDNS);
	assert_int_equal(stack_dns_answer(f->dns, q, n, &lan, out, sizeof(out)),
	    (int)n);
	assert_int_equal(rd16(out + 2) & 0xf, DNS_RCODE_REFUSED);
	assert_int_equal(f->n_fwd, 0);
	n = query(q, 2, "my-api.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	assert_int_equal(stack_dns_answer(f->dns, q, n, &lan, out, sizeof(out)),
	    (int)n + 16);
	n = query(q, 3, "example.com", DNS_TYPE_A, Q_NOEDNS);
	assert_int_equal(stack_dns_answer(f->dns, q, n, &gw, out, sizeof(out)),
	    -EINPROGRESS);
	assert_int_equal(f->n_fwd, 1);
	/* Through lwIP from another host (network mode): refused there too. */
	assert_int_equal(stack_input(f->st, b, ip_udp(b, 0xc6336405u, DNSA,
	    41000, 53, q, n)), 0);
	assert_int_equal(f->n_fwd, 1);
	assert_int_equal(f->cap.n_out, 1);
	assert_int_equal(rd16(f->cap.out[0].b + 28 + 2) & 0xf, DNS_RCODE_REFUSED);
	stack_dns_get_stats(f->dns, &s);
	assert_int_equal(s.refused, 2);
	assert_int_equal(s.forwarded, 1);
}

/* --- forwarded replies through lwIP ---------------------------------------------- */

static void
send_udp(struct fixture *f, uint16_t sport, const uint8_t *msg, size_t len)
{
	uint8_t b[2048];

	assert_int_equal(stack_input(f->st, b, ip_udp(b, APP, DNSA, sport, 53,
	    msg, len)), 0);
}

static void
test_udp_deliver(void **state)
{
	struct fixture *f = *state;
	uint8_t q[600], r[4096];
	const uint8_t *o;
	size_t qn, rn;

	qn = query(q, 0x5151, "example.com", DNS_TYPE_A, Q_NOEDNS);
	send_udp(f, 40000, q, qn);
	assert_int_equal(f->cap.n_out, 0);			/* nothing yet */
	assert_int_equal(f->n_fwd, 1);
	assert_int_equal(f->o.conn, 0);
	assert_int_equal(f->o.addr, APP);
	assert_int_equal(f->o.port, 40000);
	rn = answer(r, q, qn, 2);
	f->o.deliver(&f->o, r, rn);
	assert_int_equal(f->cap.n_out, 1);
	o = f->cap.out[0].b;
	assert_int_equal(rd32(o + 12), DNSA);
	assert_int_equal(rd32(o + 16), APP);
	assert_int_equal(rd16(o + 20), 53);
	assert_int_equal(rd16(o + 22), 40000);
	assert_int_equal(f->cap.out[0].len, 28 + rn);
	assert_memory_equal(o + 28, r, rn);
	/* Larger than the MTU (1500): header and question, TC set. */
	f->cap.n_out = 0;
	rn = answer(r, q, qn, 100);
	f->o.deliver(&f->o, r, rn);
	assert_int_equal(f->cap.n_out, 1);
	o = f->cap.out[0].b;
	assert_int_equal(f->cap.out[0].len, 28 + qn);
	assert_int_equal(rd16(o + 28), 0x5151);
	assert_int_equal(rd16(o + 28 + 2), 0x8380);
	assert_int_equal(rd16(o + 28 + 6), 0);
}

static size_t
tcp_seg(uint8_t *b, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags,
    const uint8_t *data, size_t dl)
{
	return ip_tcp(b, APP, DNSA, sport, 53, seq, ack, flags, data, dl);
}

static void
test_tcp_deliver(void **state)
{
	struct fixture *f = *state;
	struct stack_dns_stats s;
	uint8_t m[1200], b[1300], got[4096], r[4096];
	struct stack_dns_origin o1;
	size_t n1, n2, n, rn, gl;
	uint32_t srv;
	int flags;

	srv = dns_tcp_connect(f->st, &f->cap, DNSA, 41000, 100);
	/* Pipelined: one to forward, then a managed one. */
	n1 = query(m + 2, 0x1111, "example.com", DNS_TYPE_A, Q_NOEDNS);
	wr16(m, (uint16_t)n1);
	n2 = query(m + 4 + n1, 0x2222, "my-api.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	wr16(m + 2 + n1, (uint16_t)n2);
	n = 4 + n1 + n2;
	stack_input(f->st, b, tcp_seg(b, 41000, 101, srv, ACK | PSH, m, n));
	/* The managed answer leaves first (RFC 7766 allows the order). */
	gl = capture_tcp_payload(&f->cap, got, sizeof(got), &flags);
	assert_int_equal(gl, 2 + n2 + 16);
	assert_int_equal(rd16(got + 2), 0x2222);
	assert_int_equal(f->n_fwd, 1);
	assert_int_not_equal(f->o.conn, 0);
	o1 = f->o;
	/* The client's FIN: the connection stays for the forwarded reply. */
	stack_input(f->st, b, tcp_seg(b, 41000, 101 + (uint32_t)n,
	    srv + (uint32_t)gl, ACK | FIN, NULL, 0));
	capture_tcp_payload(&f->cap, got, sizeof(got), &flags);
	assert_false(flags & (FIN | RST));
	rn = answer(r, m + 2, n1, 100);		/* 1,6xx bytes: fine over TCP */
	o1.deliver(&o1, r, rn);
	gl = capture_tcp_payload(&f->cap, got, sizeof(got), &flags);
	assert_int_equal(gl, 2 + rn);
	assert_int_equal(rd16(got), rn);
	assert_memory_equal(got + 2, r, rn);
	assert_true(flags & FIN);			/* then closed */
	assert_false(flags & RST);

	/* A reply for a connection that is gone is dropped. */
	srv = dns_tcp_connect(f->st, &f->cap, DNSA, 41001, 900);
	stack_input(f->st, b, tcp_seg(b, 41001, 901, srv, ACK | PSH, m, 2 + n1));
	assert_int_equal(f->n_fwd, 2);
	o1 = f->o;
	stack_input(f->st, b, tcp_seg(b, 41001, 901 + (uint32_t)(2 + n1), srv,
	    RST, NULL, 0));
	f->cap.n_out = 0;
	o1.deliver(&o1, r, rn);
	assert_int_equal(f->cap.n_out, 0);
	stack_dns_get_stats(f->dns, &s);
	assert_int_equal(s.forwarded, 2);
	assert_int_equal(s.dropped, 1);
}

/* --- daemon/dnsfwd.c against a fake upstream ---------------------------------------- */

struct upf {
	loop_t		*loop;
	int		 up;		/* the upstream's socket */
	uint16_t	 up_port;
	dnsfwd_t	*fwd;
	int		 fds0;
	/* delivered replies */
	unsigned	 n_got;
	uint8_t		 got[4][4096];
	size_t		 got_len[4];
};

static void
cap_deliver(const struct stack_dns_origin *o, const uint8_t *r, size_t len)
{
	struct upf *u = o->owner;

	assert_true(u->n_got < 4 && len <= sizeof(u->got[0]));
	memcpy(u->got[u->n_got], r, len);
	u->got_len[u->n_got++] = len;
}

static int
udp_local(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(LOCAL);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static int
fwd_setup(void **state)
{
	struct upf *u = calloc(1, sizeof(*u));
	struct dnsfwd_params p = { LOCAL, 0, 300, 3 };

	assert_non_null(u);
	u->fds0 = count_fds();
	assert_non_null(u->loop = loop_new());
	u->up = udp_local(&u->up_port);
	p.port = u->up_port;
	assert_non_null(u->fwd = dnsfwd_new(u->loop, &p));
	*state = u;
	return 0;
}

static int
fwd_teardown(void **state)
{
	struct upf *u = *state;

	dnsfwd_free(u->fwd);
	if (u->up >= 0)
		close(u->up);
	loop_free(u->loop);
	assert_int_equal(count_fds(), u->fds0);
	free(u);
	return 0;
}

/* Runs the loop until n replies were delivered or ms passed. */
static void
pump(struct upf *u, unsigned n, uint64_t ms)
{
	uint64_t end = loop_clock_ms() + ms;

	while (u->n_got < n && loop_clock_ms() < end)
		loop_once(u->loop, 10);
}

/* What the upstream received: the message and the sender. */
static ssize_t
up_recv(struct upf *u, uint8_t *b, size_t cap, struct sockaddr_in *from)
{
	socklen_t fl = sizeof(*from);
	uint64_t end = loop_clock_ms() + 2000;
	ssize_t n;

	while ((n = recvfrom(u->up, b, cap, 0, (struct sockaddr *)from, &fl)) < 0 &&
	    errno == EAGAIN && loop_clock_ms() < end)
		usleep(1000);
	return n;
}

static void
test_fwd_relay(void **state)
{
	struct upf *u = *state;
	struct stack_dns_origin o = { cap_deliver, u, 0, 0, 0 };
	struct dnsfwd_stats s;
	struct sockaddr_in from[3];
	uint8_t q[600], b[3][600], r[600];
	size_t qn;
	ssize_t n[3];
	int i, other_id = 0;

	qn = query(q, 0x1111, "example.com", DNS_TYPE_A, Q_OPT);
	for (i = 0; i < 3; i++) {
		assert_int_equal(dnsfwd_query(u->fwd, q, qn, &o), 0);
		n[i] = up_recv(u, b[i], sizeof(b[i]), &from[i]);
		assert_int_equal(n[i], qn);
		/* The same query but for the id. */
		assert_memory_equal(b[i] + 2, q + 2, qn - 2);
		other_id |= rd16(b[i]) != 0x1111;
	}
	/* A fresh random id per query (three equal to the client's: 2^-48),
	 * and a socket (source port) of its own. */
	assert_true(other_id);
	assert_int_not_equal(from[0].sin_port, from[1].sin_port);
	assert_int_not_equal(from[1].sin_port, from[2].sin_port);
	assert_int_not_equal(from[0].sin_port, from[2].sin_port);
	/* The in-flight bound (3). */
	assert_int_equal(dnsfwd_query(u->fwd, q, qn, &o), -EBUSY);

	/* For query 0: a reply with another id, then one to another
	 * question, both ignored; then the right one, relayed with the
	 * client's id. */
	answer(r, b[0], (size_t)n[0], 1);
	wr16(r, (uint16_t)(rd16(b[0]) ^ 0x8000));
	sendto(u->up, r, qn - 11 + 16, 0, (struct sockaddr *)&from[0], sizeof(from[0]));
	answer(r, b[0], (size_t)n[0], 1);
	r[13] = 'x';
	sendto(u->up, r, qn - 11 + 16, 0, (struct sockaddr *)&from[0], sizeof(from[0]));
	/* Query 0's reply to query 1's socket (port): query 1 sees another
	 * id (unless the two random ids met: then this step is left out). */
	answer(r, b[0], (size_t)n[0], 1);
	if (rd16(b[0]) != rd16(b[1]))
		sendto(u->up, r, qn - 11 + 16, 0, (struct sockaddr *)&from[1],
		    sizeof(from[1]));
	pump(u, 1, 200);
	assert_int_equal(u->n_got, 0);
	sendto(u->up, r, qn - 11 + 16, 0, (struct sockaddr *)&from[0], sizeof(from[0]));
	pump(u, 1, 2000);
	assert_int_equal(u->n_got, 1);
	assert_int_equal(u->got_len[0], qn - 11 + 16);
	assert_int_equal(rd16(u->got[0]), 0x1111);
	assert_memory_equal(u->got[0] + 2, r + 2, u->got_len[0] - 2);
	/* Now there is room again. */
	assert_int_equal(dnsfwd_query(u->fwd, q, qn, &o), 0);
	dnsfwd_get_stats(u->fwd, &s);
	assert_int_equal(s.queries, 4);
	assert_int_equal(s.replies, 1);
	assert_int_equal(s.busy, 1);
	assert_int_equal(s.mismatched, rd16(b[0]) != rd16(b[1]) ? 3 : 2);
	/* The other three time out (300 ms): SERVFAIL with the client's id. */
	pump(u, 4, 3000);
	assert_int_equal(u->n_got, 4);
	for (i = 1; i < 4; i++) {
		assert_int_equal(rd16(u->got[i]), 0x1111);
		assert_int_equal(rd16(u->got[i] + 2) & 0xf, DNS_RCODE_SERVFAIL);
		assert_int_equal(u->got_len[i], qn);	/* question, OPT */
	}
	dnsfwd_get_stats(u->fwd, &s);
	assert_int_equal(s.timeouts, 3);
}

/* The upstream's port closed: ICMP port unreachable, SERVFAIL long
 * before the timeout. */
static void
test_fwd_refused(void **state)
{
	struct upf *u = *state;
	struct stack_dns_origin o = { cap_deliver, u, 0, 0, 0 };
	struct dnsfwd_stats s;
	uint8_t q[600];
	size_t qn = query(q, 0x2222, "example.com", DNS_TYPE_A, Q_NOEDNS);
	uint64_t t0;

	close(u->up);
	u->up = -1;
	t0 = loop_clock_ms();
	assert_int_equal(dnsfwd_query(u->fwd, q, qn, &o), 0);
	pump(u, 1, 2000);
	assert_int_equal(u->n_got, 1);
	assert_true(loop_clock_ms() - t0 < 250);
	assert_int_equal(rd16(u->got[0]), 0x2222);
	assert_int_equal(rd16(u->got[0] + 2) & 0xf, DNS_RCODE_SERVFAIL);
	dnsfwd_get_stats(u->fwd, &s);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.timeouts, 0);
}

/* Freed with queries in flight: nothing delivered, no fd left (teardown). */
static void
test_fwd_free_inflight(void **state)
{
	struct upf *u = *state;
	struct stack_dns_origin o = { cap_deliver, u, 0, 0, 0 };
	uint8_t q[600];
	size_t qn = query(q, 3, "example.com", DNS_TYPE_A, Q_NOEDNS);

	assert_int_equal(dnsfwd_query(u->fwd, q, qn, &o), 0);
	assert_int_equal(dnsfwd_query(u->fwd, q, qn, &o), 0);
	assert_int_equal(dnsfwd_query(u->fwd, q, 513, &o), -EMSGSIZE);
	dnsfwd_free(u->fwd);
	u->fwd = NULL;
	loop_once(u->loop, 10);
	assert_int_equal(u->n_got, 0);
}

static void
test_fwd_new_rejects(void **state)
{
	struct dnsfwd_params p = { 0 };
	loop_t *loop = loop_new();

	(void)state;
	errno = 0;
	assert_null(dnsfwd_new(loop, &p));
	assert_int_equal(errno, EINVAL);
	loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_reply_to),
		cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test_setup_teardown(test_forward_local_clients_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_forwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fwd_relay, fwd_setup, fwd_teardown),
		cmocka_unit_test_setup_teardown(test_fwd_refused, fwd_setup, fwd_teardown),
		cmocka_unit_test_setup_teardown(test_fwd_free_inflight, fwd_setup,
		    fwd_teardown),
		cmocka_unit_test(test_fwd_new_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
