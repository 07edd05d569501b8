/*
 * blast: a traffic tool for tests and benchmarks.
 *
 *   blast server ADDR:PORT
 *       Per connection, reads a 9-byte command: 'U' or 'D' and a 64-bit
 *       big-endian byte count.  'U': reads that many bytes, answers with the
 *       8-byte count it read.  'D': sends that many bytes, then closes.
 *       'E': echoes everything until EOF.  Prints "listening PORT".
 *   blast client ADDR:PORT up|down BYTES [--tls CERT KEY CA SNI HOST PORT]
 *       One stream; prints "bytes=N secs=S gbps=G".  With --tls it speaks
 *       TLS (OpenSSL) straight to the fake ingress with a ConnRequest for
 *       HOST:PORT first: the ceiling that ngrokd is measured against.
 *   blast rate ADDR:PORT CONNS CONCURRENCY [--tls ...]
 *       CONNS connections, CONCURRENCY at a time, each asking for 1 byte
 *       ('D' 1); prints "conns=N secs=S rate=R p50_ms=.. p99_ms=..".
 *
 * BLAST_CC=NAME in the environment sets the TCP congestion control of
 * every socket (the client's, the server's listener and so its
 * connections): the benchmark measures the kernel's sender under more than
 * the machine's default.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tests/lib/packet.h"
#include "tunnel/proto.h"

#define CHUNK (256 * 1024)

struct conn {
	int	 fd;
	SSL	*ssl;
};

struct tlsopt {
	int		 on;
	const char	*cert, *key, *ca, *sni, *host;
	int		 port;
	SSL_CTX		*ctx;
};

static struct tlsopt tls;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *c = strrchr(s, ':');

	if (c == NULL || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(c + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static ssize_t
c_write(struct conn *c, const void *b, size_t n)
{
	if (c->ssl != NULL) {
		int r = SSL_write(c->ssl, b, (int)n);

		return r > 0 ? r : -1;
	}
	return write(c->fd, b, n);
}

static ssize_t
c_read(struct conn *c, void *b, size_t n)
{
	if (c->ssl != NULL) {
		int r = SSL_read(c->ssl, b, (int)n);

		return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
	}
	return read(c->fd, b, n);
}

static int
write_all(struct conn *c, const void *b, size_t n)
{
	const uint8_t *p = b;
	ssize_t r;

	while (n > 0) {
		if ((r = c_write(c, p, n)) <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
read_all(struct conn *c, void *b, size_t n)
{
	uint8_t *p = b;
	ssize_t r;

	while (n > 0) {
		if ((r = c_read(c, p, n)) <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
tls_setup(void)
{
	tls.ctx = SSL_CTX_new(TLS_client_method());
	if (tls.ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(tls.ctx, tls.cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(tls.ctx, tls.key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(tls.ctx, tls.ca, NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return -1;
	}
	SSL_CTX_set_verify(tls.ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

/* BLAST_CC: 0, or -1 with a message. */
static int
set_cc(int fd)
{
	const char *cc = getenv("BLAST_CC");

	if (cc == NULL || *cc == '\0')
		return 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, strlen(cc)) != 0) {
		fprintf(stderr, "blast: congestion control %s: %s\n", cc,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
dial(const struct sockaddr_in *sa, struct conn *c)
{
	uint8_t hdr[512];
	int one = 1, n;
	uint8_t len[2];
	struct proto_conn_response cr;
	uint8_t *msg;

	c->ssl = NULL;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (set_cc(c->fd) != 0) {
		close(c->fd);
		return -1;
	}
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) == -1) {
		close(c->fd);
		return -1;
	}
	if (!tls.on)
		return 0;
	c->ssl = SSL_new(tls.ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, tls.sni);
	if (SSL_connect(c->ssl) != 1)
		return -1;
	n = proto_conn_request_encode(hdr, sizeof(hdr), tls.host, tls.port);
	if (n < 0 || write_all(c, hdr, (size_t)n) != 0 || read_all(c, len, 2) != 0)
		return -1;
	n = len[0] | len[1] << 8;
	if ((msg = malloc((size_t)n + 1)) == NULL || read_all(c, msg, (size_t)n) != 0)
		return -1;
	if (proto_conn_response_decode(msg, (size_t)n, &cr) != 0 ||
	    proto_conn_response_refused(&cr)) {
		free(msg);
		return -1;
	}
	free(msg);
	return 0;
}

static void
hangup(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
}

/* --- server -------------------------------------------------------------- */

static void *
serve(void *arg)
{
	struct conn c = { (int)(intptr_t)arg, NULL };
	uint8_t cmd[9], *buf = malloc(CHUNK), ans[8];
	uint64_t n, done = 0;
	ssize_t r;

	if (buf == NULL || read_all(&c, cmd, 9) != 0)
		goto out;
	n = rd64(cmd + 1);
	memset(buf, 'x', CHUNK);
	if (cmd[0] == 'U') {
		while (done < n && (r = read(c.fd, buf, CHUNK)) > 0)
			done += (uint64_t)r;
		wr64(ans, done);
		write_all(&c, ans, 8);
	} else if (cmd[0] == 'D') {
		while (done < n) {
			size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;

			if (write_all(&c, buf, k) != 0)
				break;
			done += k;
		}
	} else if (cmd[0] == 'E') {
		while ((r = read(c.fd, buf, CHUNK)) > 0)
			if (write_all(&c, buf, (size_t)r) != 0)
				break;
	}
out:
	free(buf);
	close(c.fd);
	return NULL;
}

static int
server(const char *addr)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	pthread_t th;
	int s, fd, one = 1;

	if (parse_addr(addr, &sa) != 0)
		return 2;
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (set_cc(s) != 0)
		return 1;
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 1024) != 0) {
		perror("blast server");
		return 1;
	}
	getsockname(s, (struct sockaddr *)&sa, &sl);
	printf("listening %u\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		if ((fd = accept(s, NULL, NULL)) == -1)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&th, NULL, serve, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(th);
	}
}

/* --- clients ------------------------------------------------------------- */

static int
client(const char *addr, const char *dir, uint64_t bytes)
{
	struct sockaddr_in sa;
	struct conn c;
	uint8_t cmd[9], *buf = malloc(CHUNK), ans[8];
	uint64_t done = 0;
	double t0, t;
	ssize_t r;

	if (buf == NULL || parse_addr(addr, &sa) != 0 || dial(&sa, &c) != 0) {
		fprintf(stderr, "blast: cannot connect to %s\n", addr);
		return 1;
	}
	memset(buf, 'y', CHUNK);
	cmd[0] = strcmp(dir, "up") == 0 ? 'U' : 'D';
	wr64(cmd + 1, bytes);
	t0 = now_s();
	if (write_all(&c, cmd, 9) != 0)
		return 1;
	if (cmd[0] == 'U') {
		while (done < bytes) {
			size_t k = bytes - done < CHUNK ? (size_t)(bytes - done) : CHUNK;

			if (write_all(&c, buf, k) != 0)
				return 1;
			done += k;
		}
		if (read_all(&c, ans, 8) != 0 || rd64(ans) != bytes) {
			fprintf(stderr, "blast: upload not confirmed\n");
			return 1;
		}
	} else {
		while (done < bytes && (r = c_read(&c, buf, CHUNK)) > 0)
			done += (uint64_t)r;
		if (done != bytes) {
			fprintf(stderr, "blast: download short: %llu of %llu\n",
			    (unsigned long long)done, (unsigned long long)bytes);
			return 1;
		}
	}
	t = now_s() - t0;
	printf("bytes=%llu secs=%.3f gbps=%.3f\n", (unsigned long long)bytes, t,
	    (double)bytes * 8 / t / 1e9);
	hangup(&c);
	free(buf);
	return 0;
}

struct rate_job {
	struct sockaddr_in	 sa;
	int			 conns;
	double			*lat;
	int			 failed;
};

static void *
rate_worker(void *arg)
{
	struct rate_job *j = arg;
	uint8_t cmd[9] = { 'D' }, b;
	struct conn c;
	double t0;
	int i;

	wr64(cmd + 1, 1);
	for (i = 0; i < j->conns; i++) {
		t0 = now_s();
		if (dial(&j->sa, &c) != 0) {
			j->failed++;
			j->lat[i] = 1e9;
			continue;
		}
		if (write_all(&c, cmd, 9) != 0 || read_all(&c, &b, 1) != 0)
			j->failed++;
		j->lat[i] = now_s() - t0;
		hangup(&c);
	}
	return NULL;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
rate(const char *addr, int conns, int conc)
{
	struct rate_job *jobs = calloc((size_t)conc, sizeof(*jobs));
	pthread_t *th = calloc((size_t)conc, sizeof(*th));
	double *all = calloc((size_t)conns, sizeof(*all)), t0, t;
	int i, k, n = 0, failed = 0, per = conns / conc;

	if (jobs == NULL || th == NULL || all == NULL || per == 0)
		return 2;
	t0 = now_s();
	for (i = 0; i < conc; i++) {
		if (parse_addr(addr, &jobs[i].sa) != 0)
			return 2;
		jobs[i].conns = per;
		jobs[i].lat = calloc((size_t)per, sizeof(double));
		pthread_create(&th[i], NULL, rate_worker, &jobs[i]);
	}
	for (i = 0; i < conc; i++) {
		pthread_join(th[i], NULL);
		failed += jobs[i].failed;
		for (k = 0; k < per; k++)
			all[n++] = jobs[i].lat[k];
		free(jobs[i].lat);
	}
	t = now_s() - t0;
	qsort(all, (size_t)n, sizeof(double), cmp_d);
	printf("conns=%d failed=%d secs=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f\n",
	    n, failed, t, n / t, all[n / 2] * 1e3, all[(n * 99) / 100] * 1e3);
	free(jobs);
	free(th);
	free(all);
	return failed ? 1 : 0;
}

static int
parse_tls(int argc, char **argv, int i)
{
	if (i >= argc)
		return 0;
	if (strcmp(argv[i], "--tls") != 0 || argc - i < 7)
		return -1;
	tls.on = 1;
	tls.cert = argv[i + 1];
	tls.key = argv[i + 2];
	tls.ca = argv[i + 3];
	tls.sni = argv[i + 4];
	tls.host = argv[i + 5];
	tls.port = atoi(argv[i + 6]);
	return tls_setup();
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "server") == 0)
		return server(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "client") == 0) {
		if (parse_tls(argc, argv, 5) != 0)
			return 2;
		return client(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	}
	if (argc >= 5 && strcmp(argv[1], "rate") == 0) {
		if (parse_tls(argc, argv, 5) != 0)
			return 2;
		return rate(argv[2], atoi(argv[3]), atoi(argv[4]));
	}
	fprintf(stderr, "usage: see tests/fake/blast.c\n");
	return 2;
}
