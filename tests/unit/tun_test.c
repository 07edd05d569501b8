/*
 * tun_test.c: utun framing, the pcap writer (files parsed back here) and
 * tun_open's argument checks.  The device itself is exercised by
 * tests/system/10_tun_device.sh in a private network namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/log.h"
#include "tun/tun.h"

/* ---- framing ------------------------------------------------------------ */

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
test_frame_header_ipv4(void **state)
{
	uint8_t pkt[20] = { 0x45 }, hdr[4] = { 0xff, 0xff, 0xff, 0xff };

	assert_int_equal(tun_frame_header(hdr, pkt, sizeof(pkt)), 0);
	assert_int_equal(be32(hdr), AF_INET);
	assert_int_equal(hdr[0], 0);	/* big-endian: high bytes first */
	assert_int_equal(hdr[3], AF_INET);
}

static void
test_frame_header_ipv6(void **state)
{
	uint8_t pkt[40] = { 0x60 }, hdr[4];

	assert_int_equal(tun_frame_header(hdr, pkt, sizeof(pkt)), 0);
	assert_int_equal(be32(hdr), AF_INET6);
	assert_int_equal(hdr[3], AF_INET6 & 0xff);
}

static void
test_frame_header_unknown(void **state)
{
	uint8_t pkt[20] = { 0x55 }, hdr[4];

	assert_int_equal(tun_frame_header(hdr, pkt, sizeof(pkt)),
	    -EAFNOSUPPORT);
	pkt[0] = 0x00;
	assert_int_equal(tun_frame_header(hdr, pkt, sizeof(pkt)),
	    -EAFNOSUPPORT);
	assert_int_equal(tun_frame_header(hdr, pkt, 0), -EAFNOSUPPORT);
}

static void
frame_with(uint8_t *f, uint32_t af, uint8_t first)
{
	f[0] = (uint8_t)(af >> 24);
	f[1] = (uint8_t)(af >> 16);
	f[2] = (uint8_t)(af >> 8);
	f[3] = (uint8_t)af;
	f[4] = first;
}

static void
test_frame_strip_ipv4(void **state)
{
	uint8_t f[4 + 20] = { 0 };

	frame_with(f, AF_INET, 0x45);
	assert_int_equal(tun_frame_strip(f, sizeof(f)), 4);
	/* round trip: the header we write is the header we accept */
	assert_int_equal(tun_frame_header(f, f + 4, 20), 0);
	assert_int_equal(tun_frame_strip(f, sizeof(f)), 4);
}

static void
test_frame_strip_short(void **state)
{
	uint8_t f[4 + 20] = { 0 };

	frame_with(f, AF_INET, 0x45);
	assert_int_equal(tun_frame_strip(f, 0), -EINVAL);
	assert_int_equal(tun_frame_strip(f, 3), -EINVAL);
	assert_int_equal(tun_frame_strip(f, 4), -EINVAL);	/* no packet */
	assert_int_equal(tun_frame_strip(f, 4 + 19), -EINVAL);
	assert_int_equal(tun_frame_strip(NULL, 24), -EINVAL);
}

static void
test_frame_strip_other_family(void **state)
{
	uint8_t f[4 + 40] = { 0 };

	frame_with(f, AF_INET6, 0x60);
	assert_int_equal(tun_frame_strip(f, sizeof(f)), -EPROTONOSUPPORT);
	frame_with(f, 0x12345678, 0x45);
	assert_int_equal(tun_frame_strip(f, sizeof(f)), -EPROTONOSUPPORT);
	/* the family in little-endian order is not AF_INET */
	frame_with(f, (uint32_t)AF_INET << 24, 0x45);
	assert_int_equal(tun_frame_strip(f, sizeof(f)), -EPROTONOSUPPORT);
}

static void
test_frame_strip_version_mismatch(void **state)
{
	uint8_t f[4 + 40] = { 0 };

	frame_with(f, AF_INET, 0x60);
	assert_int_equal(tun_frame_strip(f, sizeof(f)), -EINVAL);
}

/* ---- pcap --------------------------------------------------------------- */

#define GHDR	24
#define RHDR	16

struct rec {
	uint32_t	 sec, usec, incl, orig;
	const uint8_t	*data;
};

struct capfile {
	uint8_t		*buf;
	size_t		 len;
	struct rec	 recs[1024];
	size_t		 n;
};

struct fixture {
	char		 dir[64];
	char		 path[128];
};

static int
setup_dir(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/ngrokd-tun-test-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/cap.pcap", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown_dir(void **state)
{
	struct fixture *fx = *state;
	char p[192];

	unlink(fx->path);
	snprintf(p, sizeof(p), "%s/link", fx->dir);
	unlink(p);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static uint32_t
le32h(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);	/* the writer uses host order */
	return v;
}

/* Reads and parses the whole file; fails the test on any malformation. */
static void
cap_load(struct capfile *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	size_t off;
	uint16_t maj, min;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &sb), 0);
	c->len = (size_t)sb.st_size;
	c->buf = malloc(c->len + 1);
	assert_non_null(c->buf);
	assert_int_equal(fread(c->buf, 1, c->len, f), c->len);
	fclose(f);
	assert_true(c->len >= GHDR);
	assert_int_equal(le32h(c->buf), 0xa1b2c3d4u);
	memcpy(&maj, c->buf + 4, 2);
	memcpy(&min, c->buf + 6, 2);
	assert_int_equal(maj, 2);
	assert_int_equal(min, 4);
	assert_int_equal(le32h(c->buf + 16), 65535);	/* snaplen */
	assert_int_equal(le32h(c->buf + 20), 101);	/* LINKTYPE_RAW */
	c->n = 0;
	for (off = GHDR; off < c->len; c->n++) {
		struct rec *r = &c->recs[c->n];

		assert_true(c->n < sizeof(c->recs) / sizeof(c->recs[0]));
		assert_true(c->len - off >= RHDR);	/* no partial header */
		r->sec = le32h(c->buf + off);
		r->usec = le32h(c->buf + off + 4);
		r->incl = le32h(c->buf + off + 8);
		r->orig = le32h(c->buf + off + 12);
		assert_true(r->usec < 1000000);
		assert_true(r->incl <= 65535 && r->incl <= r->orig);
		assert_true(c->len - off - RHDR >= r->incl);	/* no partial data */
		r->data = c->buf + off + RHDR;
		off += RHDR + r->incl;
	}
}

static void
cap_free(struct capfile *c)
{
	free(c->buf);
	c->buf = NULL;
}

/* A recognisable IPv4-looking packet: byte i of packet k is k + i. */
static void
fill_pkt(uint8_t *p, size_t len, unsigned k)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(k + i);
	p[0] = 0x45;
}

static size_t
pkt_len(unsigned k)
{
	return 20 + (k * 37) % 1480;
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void
test_pcap_roundtrip(void **state)
{
	struct fixture *fx = *state;
	static struct capfile c;
	uint8_t pkt[1500];
	tun_pcap_t *pc;
	uint64_t total = GHDR;
	time_t before = time(NULL);
	unsigned k;

	pc = tun_pcap_open(fx->path, 0);
	assert_non_null(pc);
	assert_int_equal(tun_pcap_active(pc), 1);
	for (k = 0; k < 100; k++) {
		fill_pkt(pkt, pkt_len(k), k);
		tun_pcap_write(pc, pkt, pkt_len(k));
		total += RHDR + pkt_len(k);
	}
	assert_int_equal(tun_pcap_bytes(pc), total);
	assert_int_equal(tun_pcap_flush(pc), 0);
	assert_int_equal(file_size(fx->path), (off_t)total);
	cap_load(&c, fx->path);
	assert_int_equal(c.n, 100);
	for (k = 0; k < 100; k++) {
		fill_pkt(pkt, pkt_len(k), k);
		assert_int_equal(c.recs[k].incl, pkt_len(k));
		assert_int_equal(c.recs[k].orig, pkt_len(k));
		assert_memory_equal(c.recs[k].data, pkt, pkt_len(k));
		assert_true(c.recs[k].sec >= (uint32_t)before &&
		    c.recs[k].sec <= (uint32_t)time(NULL));
	}
	cap_free(&c);
	tun_pcap_close(pc);
}

static void
test_pcap_flush_while_running(void **state)
{
	struct fixture *fx = *state;
	static struct capfile c;
	uint8_t pkt[100];
	tun_pcap_t *pc;
	unsigned k;

	pc = tun_pcap_open(fx->path, 0);
	assert_non_null(pc);
	/* the global header is on disk at once: a valid empty capture */
	cap_load(&c, fx->path);
	assert_int_equal(c.n, 0);
	cap_free(&c);
	for (k = 0; k < 3; k++) {
		fill_pkt(pkt, sizeof(pkt), k);
		tun_pcap_write(pc, pkt, sizeof(pkt));
	}
	/* buffered, not yet written: the data path does not touch the disk */
	assert_int_equal(file_size(fx->path), GHDR);
	assert_int_equal(tun_pcap_flush(pc), 0);
	cap_load(&c, fx->path);
	assert_int_equal(c.n, 3);
	fill_pkt(pkt, sizeof(pkt), 2);
	assert_memory_equal(c.recs[2].data, pkt, sizeof(pkt));
	cap_free(&c);
	for (k = 3; k < 5; k++) {
		fill_pkt(pkt, sizeof(pkt), k);
		tun_pcap_write(pc, pkt, sizeof(pkt));
	}
	assert_int_equal(tun_pcap_flush(pc), 0);
	assert_int_equal(tun_pcap_flush(pc), 0);	/* nothing new: no-op */
	cap_load(&c, fx->path);
	assert_int_equal(c.n, 5);
	fill_pkt(pkt, sizeof(pkt), 4);
	assert_memory_equal(c.recs[4].data, pkt, sizeof(pkt));
	cap_free(&c);
	tun_pcap_close(pc);
}

static void
test_pcap_buffer_spills(void **state)
{
	struct fixture *fx = *state;
	static struct capfile c;
	uint8_t pkt[1500];
	tun_pcap_t *pc;
	uint64_t total = GHDR;
	unsigned k;
	off_t sz;

	pc = tun_pcap_open(fx->path, 0);
	assert_non_null(pc);
	/* 300 x 1516 bytes is more than the 256 KiB buffer */
	for (k = 0; k < 300; k++) {
		fill_pkt(pkt, sizeof(pkt), k);
		tun_pcap_write(pc, pkt, sizeof(pkt));
		total += RHDR + sizeof(pkt);
	}
	sz = file_size(fx->path);
	assert_true(sz > GHDR && (uint64_t)sz < total);
	assert_true((sz - GHDR) % (RHDR + sizeof(pkt)) == 0);	/* whole records */
	tun_pcap_close(pc);
	cap_load(&c, fx->path);
	assert_int_equal(c.len, total);
	assert_int_equal(c.n, 300);
	fill_pkt(pkt, sizeof(pkt), 299);
	assert_memory_equal(c.recs[299].data, pkt, sizeof(pkt));
	cap_free(&c);
}

static void
test_pcap_snaplen(void **state)
{
	struct fixture *fx = *state;
	static struct capfile c;
	uint8_t *big = malloc(70000);
	tun_pcap_t *pc;

	assert_non_null(big);
	fill_pkt(big, 70000, 9);
	pc = tun_pcap_open(fx->path, 0);
	assert_non_null(pc);
	tun_pcap_write(pc, big, 70000);
	tun_pcap_close(pc);
	cap_load(&c, fx->path);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.recs[0].incl, 65535);
	assert_int_equal(c.recs[0].orig, 70000);
	assert_memory_equal(c.recs[0].data, big, 65535);
	cap_free(&c);
	free(big);
}

/* The cap leaves room for 3 records and a bit: exactly 3 are kept. */
static void
check_cap(const char *path, uint64_t max, unsigned want)
{
	static struct capfile c;
	uint8_t pkt[100];
	tun_pcap_t *pc;
	unsigned k;

	pc = tun_pcap_open(path, max);
	assert_non_null(pc);
	for (k = 0; k < 10; k++) {
		fill_pkt(pkt, sizeof(pkt), k);
		tun_pcap_write(pc, pkt, sizeof(pkt));
		assert_int_equal(tun_pcap_active(pc), k < want);
	}
	assert_true(tun_pcap_bytes(pc) <= max);
	assert_int_equal(tun_pcap_bytes(pc), GHDR + want * (RHDR + 100));
	assert_int_equal(tun_pcap_flush(pc), 0);	/* still flushes */
	cap_load(&c, path);
	assert_true(c.len <= max);
	assert_int_equal(c.len, GHDR + want * (RHDR + 100));
	assert_int_equal(c.n, want);
	fill_pkt(pkt, sizeof(pkt), want - 1);
	assert_memory_equal(c.recs[want - 1].data, pkt, sizeof(pkt));
	cap_free(&c);
	tun_pcap_close(pc);
}

static void
test_pcap_cap(void **state)
{
	struct fixture *fx = *state;

	check_cap(fx->path, GHDR + 3 * (RHDR + 100) + 115, 3);	/* 1 short */
	check_cap(fx->path, GHDR + 3 * (RHDR + 100), 3);	/* exact fit */
	check_cap(fx->path, GHDR + 1 * (RHDR + 100) + 1, 1);
}

static void
test_pcap_cap_too_small(void **state)
{
	struct fixture *fx = *state;

	errno = 0;
	assert_null(tun_pcap_open(fx->path, 10));
	assert_int_equal(errno, EINVAL);
}

static void
test_pcap_mode_and_truncate(void **state)
{
	struct fixture *fx = *state;
	struct stat sb;
	tun_pcap_t *pc;
	mode_t old;
	int fd;

	/* a stale, world-readable file with content */
	fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(write(fd, "stale stale stale stale stale stale", 35), 35);
	close(fd);
	old = umask(0);
	pc = tun_pcap_open(fx->path, 0);
	umask(old);
	assert_non_null(pc);
	assert_int_equal(stat(fx->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, GHDR);
	tun_pcap_close(pc);
	/* a fresh file, even under a permissive umask */
	unlink(fx->path);
	old = umask(0);
	pc = tun_pcap_open(fx->path, 0);
	umask(old);
	assert_non_null(pc);
	assert_int_equal(stat(fx->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	tun_pcap_close(pc);
}

static void
test_pcap_open_errors(void **state)
{
	struct fixture *fx = *state;
	char p[192], target[192];

	errno = 0;
	snprintf(p, sizeof(p), "%s/no/such/dir.pcap", fx->dir);
	assert_null(tun_pcap_open(p, 0));
	assert_int_equal(errno, ENOENT);
	/* a planted symlink is not followed */
	snprintf(p, sizeof(p), "%s/link", fx->dir);
	snprintf(target, sizeof(target), "%s/target", fx->dir);
	assert_int_equal(symlink(target, p), 0);
	errno = 0;
	assert_null(tun_pcap_open(p, 0));
	assert_int_equal(errno, ELOOP);
	assert_int_equal(access(target, F_OK), -1);
	assert_null(tun_pcap_open(NULL, 0));
	assert_int_equal(tun_pcap_active(NULL), 0);
	tun_pcap_close(NULL);
}

/* A write error (file size limit: EFBIG) stops capture. */
static void
test_pcap_write_error(void **state)
{
	struct fixture *fx = *state;
	struct rlimit old, lim;
	uint8_t pkt[1500] = { 0x45 };
	tun_pcap_t *pc;
	int rc;
	unsigned k;

	pc = tun_pcap_open(fx->path, 0);
	assert_non_null(pc);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	/* 100 x 1516 bytes stay in the buffer; the flush hits the limit */
	for (k = 0; k < 100; k++)
		tun_pcap_write(pc, pkt, sizeof(pkt));
	assert_int_equal(tun_pcap_active(pc), 1);
	rc = tun_pcap_flush(pc);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(tun_pcap_active(pc), 0);
	assert_int_equal(tun_pcap_flush(pc), 0);	/* nothing left */
	tun_pcap_write(pc, pkt, sizeof(pkt));	/* ignored, no crash */
	tun_pcap_close(pc);
}

/* ---- tun_open argument checks (no device needed) ------------------------ */

static void
test_tun_open_bad_params(void **state)
{
	struct tun_params p = {
		.name = "ngrokd-name-too-long0", .subnet = 0x0a6b0000,
		.prefix = 16, .gateway = 0x0a6b0001, .mtu = 1500,
	};

	errno = 0;
	assert_null(tun_open(&p));
	assert_int_equal(errno, EINVAL);
	p.name = "ngrokd0";
	p.gateway = 0x0a6c0001;		/* outside the subnet */
	errno = 0;
	assert_null(tun_open(&p));
	assert_int_equal(errno, EINVAL);
	p.gateway = 0x0a6b0000;		/* the network address itself */
	assert_null(tun_open(&p));
	p.gateway = 0x0a6b0001;
	p.subnet = 0x0a6b0100;		/* host bits set */
	assert_null(tun_open(&p));
	p.subnet = 0x0a6b0000;
	p.mtu = 20;
	errno = 0;
	assert_null(tun_open(&p));
	assert_int_equal(errno, EINVAL);
	p.mtu = 1500;
	p.prefix = 0;
	assert_null(tun_open(&p));
	assert_null(tun_open(NULL));
}

/* ---- the device, in a private network namespace ------------------------ */

#define T_GW	0x0a6b0001u	/* 10.107.0.1 */
#define T_PEER	0x0a6b0005u	/* 10.107.0.5: an address only the tun knows */

static uint16_t
ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv4 + UDP (checksum 0: none) from src:sport to dst:dport. */
static size_t
make_udp(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport,
    uint16_t dport, const char *payload)
{
	size_t plen = strlen(payload), len = 28 + plen;
	uint16_t c;

	memset(b, 0, 28);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[8] = 64;
	b[9] = 17;
	b[12] = (uint8_t)(src >> 24); b[13] = (uint8_t)(src >> 16);
	b[14] = (uint8_t)(src >> 8); b[15] = (uint8_t)src;
	b[16] = (uint8_t)(dst >> 24); b[17] = (uint8_t)(dst >> 16);
	b[18] = (uint8_t)(dst >> 8); b[19] = (uint8_t)dst;
	c = ip_csum(b, 20);
	b[10] = (uint8_t)(c >> 8);
	b[11] = (uint8_t)c;
	b[20] = (uint8_t)(sport >> 8); b[21] = (uint8_t)sport;
	b[22] = (uint8_t)(dport >> 8); b[23] = (uint8_t)dport;
	b[24] = (uint8_t)((8 + plen) >> 8); b[25] = (uint8_t)(8 + plen);
	memcpy(b + 28, payload, plen);
	return len;
}

/* Waits up to 2 s for an IPv4 packet from the device. */
static ssize_t
read_one(tun_t *t, uint8_t *buf, size_t len)
{
	struct pollfd pfd = { .fd = tun_fd(t), .events = POLLIN };
	ssize_t n;
	int i;

	for (i = 0; i < 20; i++) {
		if ((n = tun_read(t, buf, len)) != -EAGAIN)
			return n;
		poll(&pfd, 1, 100);
	}
	return -EAGAIN;
}

/* Both directions through a real device, with or without offload (the
 * virtio_net_hdr framing must be invisible to the caller). */
static void
device_io(struct fixture *fx, int offload)
{
	struct tun_params p = { "ngrokdt0", 0x0a6b0000, 16, T_GW, 1400, offload };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 2, 0 };
	struct tun_stats st;
	static struct capfile c;
	uint8_t buf[2048];
	char got[64];
	tun_t *t;
	tun_pcap_t *pc;
	socklen_t sl = sizeof(sin);
	ssize_t n;
	size_t len;
	int s, fl;

	t = tun_open(&p);
	assert_non_null(t);
	assert_int_equal(tun_offload(t), offload);
	assert_string_equal(tun_name(t), "ngrokdt0");
	assert_int_equal(tun_mtu(t), 1400);
	fl = fcntl(tun_fd(t), F_GETFL);
	assert_true(fl >= 0 && (fl & O_NONBLOCK));
	assert_true(fcntl(tun_fd(t), F_GETFD) & FD_CLOEXEC);
	pc = tun_pcap_open(fx->path, 0);
	assert_non_null(pc);
	tun_set_pcap(t, pc);

	/* kernel -> device: a datagram to an address routed to the tun */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	sin.sin_port = htons(9999);
	sin.sin_addr.s_addr = htonl(T_PEER);
	assert_int_equal(sendto(s, "hello", 5, 0, (struct sockaddr *)&sin,
	    sizeof(sin)), 5);
	n = read_one(t, buf, sizeof(buf));
	assert_int_equal(n, 28 + 5);
	assert_int_equal(buf[0], 0x45);
	assert_int_equal(buf[9], 17);
	assert_memory_equal(buf + 16, "\x0a\x6b\x00\x05", 4);
	assert_memory_equal(buf + 28, "hello", 5);

	/* device -> kernel: a datagram from the peer to a bound socket */
	close(s);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	sin.sin_port = 0;
	sin.sin_addr.s_addr = htonl(T_GW);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	len = make_udp(buf, T_PEER, T_GW, 4242, ntohs(sin.sin_port), "world!");
	assert_int_equal(tun_write(t, buf, len), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(recv(s, got, sizeof(got), 0), 6);
	assert_string_equal(got, "world!");
	assert_int_equal(tun_write(t, buf, 0), -EMSGSIZE);
	/* a UDP packet is not for tun_write_tcp; without offload nothing is */
	assert_int_equal(tun_write_tcp(t, buf, len, 0),
	    offload ? -EINVAL : -ENOTSUP);
	close(s);

	tun_get_stats(t, &st);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.rx_bytes, 33);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, len);
	assert_int_equal(st.tx_dropped, 0);	/* a bad length is not a drop */

	/* both directions reached the tap, in order */
	assert_int_equal(tun_pcap_flush(pc), 0);
	cap_load(&c, fx->path);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.recs[0].incl, 33);
	assert_memory_equal(c.recs[0].data + 28, "hello", 5);
	assert_int_equal(c.recs[1].incl, len);
	assert_memory_equal(c.recs[1].data, buf, len);
	cap_free(&c);
	tun_close(t);
	tun_pcap_close(pc);
	assert_int_equal(if_nametoindex("ngrokdt0"), 0);	/* gone */
}

static void
test_tun_device_io(void **state)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		print_message("# needs root to make a network namespace\n");
		skip();
	}
	device_io(*state, 0);
	device_io(*state, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_header_ipv4),
		cmocka_unit_test(test_frame_header_ipv6),
		cmocka_unit_test(test_frame_header_unknown),
		cmocka_unit_test(test_frame_strip_ipv4),
		cmocka_unit_test(test_frame_strip_short),
		cmocka_unit_test(test_frame_strip_other_family),
		cmocka_unit_test(test_frame_strip_version_mismatch),
		cmocka_unit_test_setup_teardown(test_pcap_roundtrip,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_flush_while_running,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_buffer_spills,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_snaplen,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_cap,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_cap_too_small,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_mode_and_truncate,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_open_errors,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pcap_write_error,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_tun_open_bad_params),
		/* last: it moves the process into its own network namespace */
		cmocka_unit_test_setup_teardown(test_tun_device_io,
		    setup_dir, teardown_dir),
	};

	log_init("tun_test", 1, LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
