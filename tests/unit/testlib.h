/*
 * tests/unit/testlib.h: small helpers several unit tests share.  Include it
 * after <cmocka.h>; everything is static, so each test takes what it uses.
 */
#ifndef TESTS_UNIT_TESTLIB_H
#define TESTS_UNIT_TESTLIB_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/packet.h"

/*
 * tmpdir: a directory of the test's own, made by tmpdir_make before the
 * first test and removed with its contents by tmpdir_remove after the last
 * (cmocka_run_group_tests(tests, tmpdir_make, tmpdir_remove)).
 */
static char tmpdir[64] __attribute__((unused));

static inline int
tmpdir_make(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ngrokd_unit.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static inline int
tmpdir_remove(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * An Internet checksum computed independently of the code under test:
 * csum_add adds b's 16-bit big-endian words (an odd last byte padded with
 * zero) to the sum s; csum_fold folds the carries.  A packet whose checksum
 * is right sums, with its pseudo-header, to 0xffff.
 */
static inline uint32_t
csum_add(const uint8_t *b, size_t len, uint32_t s)
{
	for (; len >= 2; b += 2, len -= 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (len)
		s += (uint32_t)b[0] << 8;
	return s;
}

static inline uint16_t
csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The process's open descriptors: tests that open sockets compare the
 * count after teardown with the one before setup. */
static inline int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* --- IPv4 packets as an app sends them into the stack ----------------------- */

#define FIN	0x01
#define SYN	0x02
#define RST	0x04
#define PSH	0x08
#define ACK	0x10

/* A UDP datagram carrying len bytes of msg, checksums zero like ip_hdr's
 * (tests/lib/packet.h); returns the packet's length. */
static inline size_t
ip_udp(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
    const void *msg, size_t len)
{
	uint8_t *u = b + ip_hdr(b, 17, src, dst, 8 + len);

	wr16(u, sport);
	wr16(u + 2, dport);
	wr16(u + 4, (uint16_t)(8 + len));
	wr16(u + 6, 0);
	memcpy(u + 8, msg, len);
	return 28 + len;
}

/* A TCP segment without options, window 65535, carrying dl bytes of data,
 * checksums zero; returns the packet's length. */
static inline size_t
ip_tcp(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
    uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t dl)
{
	uint8_t *t = b + ip_hdr(b, 6, src, dst, 20 + dl);

	memset(t, 0, 20);
	wr16(t, sport);
	wr16(t + 2, dport);
	wr32(t + 4, seq);
	wr32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	wr16(t + 14, 65535);
	if (dl > 0)
		memcpy(t + 20, data, dl);
	return 40 + dl;
}

/* --- what the stack sends ------------------------------------------------------ */

#define CAPTURE_MAX	64

struct pkt { uint8_t b[65536]; size_t len; int partial; uint16_t gso; };

/* The packets given to the stack's output callback, in order; those beyond
 * CAPTURE_MAX are counted nowhere (tests reset n_out between steps). */
struct capture {
	struct pkt	 out[CAPTURE_MAX];
	size_t		 n_out;
};

/* The body of a stack_cbs.output callback: the test's own callback finds
 * its struct capture from arg and passes it here. */
static inline int
capture_output(struct capture *c, const void *p, size_t len, int partial,
    uint16_t gso)
{
	if (c->n_out < CAPTURE_MAX && len <= sizeof(c->out[0].b)) {
		memcpy(c->out[c->n_out].b, p, len);
		c->out[c->n_out].partial = partial;
		c->out[c->n_out].gso = gso;
		c->out[c->n_out++].len = len;
	}
	return 0;
}

/* Concatenates the payload of the TCP segments captured (at most cap bytes)
 * and empties c; *flags ORs their TCP flags. */
static inline size_t
capture_tcp_payload(struct capture *c, uint8_t *buf, size_t cap, int *flags)
{
	size_t i, n = 0, pl;
	const uint8_t *o;

	*flags = 0;
	for (i = 0; i < c->n_out; i++) {
		o = c->out[i].b;
		if (o[9] != 6)
			continue;
		*flags |= o[20 + 13];
		pl = c->out[i].len - 20 - (size_t)(o[20 + 12] >> 4) * 4;
		assert_true(n + pl <= cap);
		memcpy(buf + n, o + c->out[i].len - pl, pl);
		n += pl;
	}
	c->n_out = 0;
	return n;
}

#endif
