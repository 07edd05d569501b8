/*
 * dnsgw_test: the gateway's DNS sockets (daemon/dnsgw.c) on 127.0.0.1 and a
 * free port, with a real loop and the real responder logic behind them
 * (an lwIP stack with stack/dns.c, resolve and a fake forwarder): UDP and
 * TCP answers, malformed datagrams, TCP framing (split queries, pipelining,
 * the length limit, a partial query at EOF), forwarded replies over both
 * (also after the client's EOF, and to a connection that is gone), the
 * connection limit, the idle timeout not being hit by a busy client,
 * rebinding, and bind errors.  Each test ends with the process's fd count
 * back where it started.
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/dnsgw.h"
#include "daemon/loop.h"
#include "stack/dns_priv.h"
#include "stack/stack.h"
#include "tests/unit/testlib.h"
#include "tests/unit/dnslib.h"

#define LOCAL	0x7f000001u

/* --- fixture ------------------------------------------------------------------ */

struct fixture {
	loop_t		*loop;
	netstack_t	*st;
	stack_dns_t	*dns;
	dnsgw_t		*gw;
	uint16_t	 port;
	int		 fds0;
	unsigned	 n_fwd;
	struct stack_dns_origin o[4];	/* forwarded queries' origins */
	uint8_t		 fwd_msg[4][512];
	size_t		 fwd_len[4];
};

static int
no_output(void *arg, const void *p, size_t len, int partial, uint16_t gso)
{
	(void)arg;
	(void)partial;
	(void)gso;
	(void)p;
	(void)len;
	return 0;
}

static void *
no_lookup(void *arg, uint32_t addr, uint16_t port)
{
	(void)arg;
	(void)addr;
	(void)port;
	return NULL;
}

static int
fake_forward(void *arg, const uint8_t *msg, size_t len,
    const struct stack_dns_origin *o)
{
	struct fixture *f = arg;

	if (f->n_fwd == 4)
		return -EBUSY;
	memcpy(f->fwd_msg[f->n_fwd], msg, len);
	f->fwd_len[f->n_fwd] = len;
	f->o[f->n_fwd++] = *o;
	return 0;
}

/* A port free for both UDP and TCP on 127.0.0.1 (released again). */
static uint16_t
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int u, t;

	for (;;) {
		u = socket(AF_INET, SOCK_DGRAM, 0);
		a.sin_addr.s_addr = htonl(LOCAL);
		a.sin_port = 0;
		assert_int_equal(bind(u, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(u, (struct sockaddr *)&a, &al), 0);
		t = socket(AF_INET, SOCK_STREAM, 0);
		if (bind(t, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(t);
			close(u);
			return ntohs(a.sin_port);
		}
		close(t);
		close(u);
	}
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct stack_params sp = { GW, 1500, 8, 0 };
	struct stack_cbs cbs = { no_output, no_lookup, NULL, refuse, NULL };
	struct stack_dns_params dp = { 0 };
	struct dnsgw_params gp = { LOCAL, 0, 1 };

	assert_non_null(f);
	f->fds0 = count_fds();
	assert_non_null(f->loop = loop_new());
	assert_non_null(f->st = stack_new(&sp, &cbs));
	dp.resolve = resolve_my_api;
	dp.arg = f;
	dp.forward = fake_forward;
	dp.forward_arg = f;
	assert_non_null(f->dns = stack_dns_new(f->st, &dp));
	f->port = gp.port = free_port();
	assert_non_null(f->gw = dnsgw_new(f->loop, f->dns, &gp));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	dnsgw_free(f->gw);
	stack_dns_free(f->dns);
	stack_free(f->st);
	loop_free(f->loop);
	assert_int_equal(count_fds(), f->fds0);
	free(f);
	return 0;
}

/* --- clients ---------------------------------------------------------------------- */

static void
spin(struct fixture *f, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (loop_clock_ms() < end)
		loop_once(f->loop, 5);
}

static int
client(struct fixture *f, int type)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(LOCAL);
	a.sin_port = htons(f->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Reads up to cap bytes, running the loop meanwhile, until want bytes came,
 * EOF, or ms passed.  Returns the count; *eof set on EOF or reset. */
static size_t
drain(struct fixture *f, int fd, uint8_t *b, size_t cap, size_t want, int ms,
    int *eof)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;
	size_t have = 0;
	ssize_t n;

	*eof = 0;
	while (have < want && loop_clock_ms() < end) {
		loop_once(f->loop, 5);
		n = recv(fd, b + have, cap - have, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			*eof = 1;
			break;
		}
		if (n > 0)
			have += (size_t)n;
	}
	return have;
}

/* --- UDP ----------------------------------------------------------------------------- */

static void
test_udp(void **state)
{
	struct fixture *f = *state;
	uint8_t q[600], r[600];
	size_t n, got;
	int fd = client(f, SOCK_DGRAM), eof;

	n = query(q, 0xabcd, "My-Api.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	send(fd, q, n, 0);
	got = drain(f, fd, r, sizeof(r), 1, 2000, &eof);
	assert_int_equal(got, n + 16);
	assert_int_equal(rd16(r), 0xabcd);
	assert_int_equal(rd16(r + 2), 0x8500);
	assert_memory_equal(r + 12, q + 12, n - 12);	/* case kept */
	assert_int_equal(rd32(r + n + 12), EP);
	/* Garbage: no header (nothing), a response (nothing), 600 bytes
	 * (FORMERR), a pointer in the question (FORMERR). */
	send(fd, q, 11, 0);
	q[2] |= 0x80;
	send(fd, q, n, 0);
	q[2] &= 0x7f;
	memset(q + n, 0, 600 - n);
	send(fd, q, 600, 0);
	got = drain(f, fd, r, sizeof(r), 1, 2000, &eof);
	assert_int_equal(got, 12);
	assert_int_equal(rd16(r + 2) & 0xf, DNS_RCODE_FORMERR);
	q[12] = 0xc0;
	send(fd, q, n, 0);
	got = drain(f, fd, r, sizeof(r), 1, 2000, &eof);
	assert_int_equal(got, 12);
	assert_int_equal(rd16(r + 2) & 0xf, DNS_RCODE_FORMERR);

	/* Forwarded: nothing now, the reply when the forwarder delivers. */
	n = query(q, 0x0101, "example.com", DNS_TYPE_A, Q_NOEDNS);
	send(fd, q, n, 0);
	spin(f, 50);
	assert_int_equal(f->n_fwd, 1);
	assert_int_equal(f->o[0].conn, 0);
	assert_int_equal(f->o[0].addr, LOCAL);
	assert_int_equal(recv(fd, r, sizeof(r), 0), -1);
	memcpy(r, q, n);
	wr16(r + 2, 0x8183);		/* NXDOMAIN, as an upstream says it */
	f->o[0].deliver(&f->o[0], r, n);
	got = drain(f, fd, q, sizeof(q), 1, 2000, &eof);
	assert_int_equal(got, n);
	assert_memory_equal(q, r, n);
	close(fd);
}

/* --- TCP ----------------------------------------------------------------------------- */

static void
test_tcp(void **state)
{
	struct fixture *f = *state;
	struct dnsgw_stats s;
	uint8_t m[1200], r[4096];
	size_t n1, n2, got;
	int fd = client(f, SOCK_STREAM), eof;

	/* Two pipelined queries, the second split across two sends. */
	n1 = query(m + 2, 0x1111, "my-api.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	wr16(m, (uint16_t)n1);
	n2 = query(m + 4 + n1, 0x2222, "my-api.ngrok.app", DNS_TYPE_AAAA, Q_NOEDNS);
	wr16(m + 2 + n1, (uint16_t)n2);
	send(fd, m, 2 + n1 + 3, 0);
	spin(f, 30);
	send(fd, m + 2 + n1 + 3, n2 - 1, 0);
	got = drain(f, fd, r, sizeof(r), 2 + n1 + 16 + 2 + n2, 2000, &eof);
	assert_int_equal(got, 2 + n1 + 16 + 2 + n2);
	assert_int_equal(rd16(r), n1 + 16);
	assert_int_equal(rd16(r + 2), 0x1111);
	assert_int_equal(rd32(r + 2 + n1 + 12), EP);
	assert_int_equal(rd16(r + 2 + n1 + 16), n2);
	assert_int_equal(rd16(r + 4 + n1 + 16), 0x2222);
	assert_int_equal(rd16(r + 4 + n1 + 16 + 6), 0);	/* NODATA */
	/* A length over 512 closes the connection. */
	wr16(m, 513);
	send(fd, m, 2, 0);
	drain(f, fd, r, sizeof(r), 1, 2000, &eof);
	assert_true(eof);
	close(fd);

	/* A partial query at EOF: closed without a reply. */
	fd = client(f, SOCK_STREAM);
	wr16(m, (uint16_t)n1);
	send(fd, m, 6, 0);
	shutdown(fd, SHUT_WR);
	got = drain(f, fd, r, sizeof(r), 1, 2000, &eof);
	assert_true(eof);
	assert_int_equal(got, 0);
	close(fd);
	dnsgw_get_stats(f->gw, &s);
	assert_int_equal(s.tcp_conns, 2);
}

static void
test_tcp_forwarded(void **state)
{
	struct fixture *f = *state;
	uint8_t m[600], r[4096], big[2000];
	size_t n, got;
	int fd = client(f, SOCK_STREAM), fd2, eof;

	n = query(m + 2, 0x3333, "example.com", DNS_TYPE_A, Q_NOEDNS);
	wr16(m, (uint16_t)n);
	send(fd, m, 2 + n, 0);
	/* The client is done sending: the connection waits for the reply. */
	shutdown(fd, SHUT_WR);
	spin(f, 50);
	assert_int_equal(f->n_fwd, 1);
	assert_int_not_equal(f->o[0].conn, 0);
	assert_int_equal(recv(fd, r, sizeof(r), 0), -1);
	assert_int_equal(errno, EAGAIN);
	/* A large reply (TCP carries it whole), then the close. */
	memset(big, 0x5a, sizeof(big));
	memcpy(big, m + 2, n);
	f->o[0].deliver(&f->o[0], big, sizeof(big));
	got = drain(f, fd, r, sizeof(r), sizeof(r), 2000, &eof);
	assert_int_equal(got, 2 + sizeof(big));
	assert_int_equal(rd16(r), sizeof(big));
	assert_memory_equal(r + 2, big, sizeof(big));
	assert_true(eof);
	close(fd);

	/* A reply for a connection that is gone goes nowhere. */
	fd2 = client(f, SOCK_STREAM);
	send(fd2, m, 2 + n, 0);
	spin(f, 50);
	assert_int_equal(f->n_fwd, 2);
	close(fd2);
	spin(f, 50);
	f->o[1].deliver(&f->o[1], big, 100);
	spin(f, 20);
}

static void
test_tcp_limit(void **state)
{
	struct fixture *f = *state;
	struct dnsgw_stats s;
	uint8_t m[600], r[600];
	int fds[17], i, eof;
	size_t n, got;

	for (i = 0; i < 17; i++)
		fds[i] = client(f, SOCK_STREAM);
	spin(f, 100);
	/* The 17th is closed at once. */
	got = drain(f, fds[16], r, sizeof(r), 1, 1000, &eof);
	assert_true(eof);
	assert_int_equal(got, 0);
	dnsgw_get_stats(f->gw, &s);
	assert_int_equal(s.tcp_conns, 16);
	assert_int_equal(s.tcp_rejected, 1);
	/* The 16th answers. */
	n = query(m + 2, 0x4444, "my-api.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	wr16(m, (uint16_t)n);
	send(fds[15], m, 2 + n, 0);
	got = drain(f, fds[15], r, sizeof(r), 2 + n + 16, 2000, &eof);
	assert_int_equal(got, 2 + n + 16);
	for (i = 0; i < 17; i++)
		close(fds[i]);
	spin(f, 100);
	/* Room again. */
	fds[0] = client(f, SOCK_STREAM);
	send(fds[0], m, 2 + n, 0);
	got = drain(f, fds[0], r, sizeof(r), 2 + n + 16, 2000, &eof);
	assert_int_equal(got, 2 + n + 16);
	close(fds[0]);
}

/* --- sockets ------------------------------------------------------------------------- */

static void
test_rebind(void **state)
{
	struct fixture *f = *state;
	uint8_t q[600], r[600];
	size_t n, got;
	int fd, tfd, eof;

	tfd = client(f, SOCK_STREAM);
	spin(f, 50);
	assert_int_equal(dnsgw_rebind(f->gw), 0);
	/* Old connections went with the old sockets. */
	drain(f, tfd, r, sizeof(r), 1, 1000, &eof);
	assert_true(eof);
	close(tfd);
	fd = client(f, SOCK_DGRAM);
	n = query(q, 9, "my-api.ngrok.app", DNS_TYPE_A, Q_NOEDNS);
	send(fd, q, n, 0);
	got = drain(f, fd, r, sizeof(r), 1, 2000, &eof);
	assert_int_equal(got, n + 16);
	close(fd);
}

static void
test_bind_errors(void **state)
{
	struct fixture *f = *state;
	struct dnsgw_params gp = { LOCAL, 0, 1 };

	/* The port taken (by our own gateway). */
	gp.port = f->port;
	errno = 0;
	assert_null(dnsgw_new(f->loop, f->dns, &gp));
	assert_int_equal(errno, EADDRINUSE);
	/* An address this host does not have. */
	gp.addr = 0xc0000201u;
	gp.port = free_port();
	assert_null(dnsgw_new(f->loop, f->dns, &gp));
	assert_int_equal(errno, EADDRNOTAVAIL);
	/* Never INADDR_ANY. */
	gp.addr = 0;
	assert_null(dnsgw_new(f->loop, f->dns, &gp));
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
