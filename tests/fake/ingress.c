/*
 * ingress: a fake ngrok binding ingress for tests (OpenSSL, not wolfSSL, so
 * ngrokd's TLS is checked against an independent implementation).
 *
 *   ingress --listen ADDR:PORT --cert FILE --key FILE [--client-ca FILE]
 *           [--route HOST:PORT=BACKADDR:BACKPORT]... [--fault F]...
 *           [--log FILE]
 *
 * Per connection: TLS handshake (client certificate required and verified
 * when --client-ca is given), one framed ConnRequest (10 s, 64 KiB cap),
 * then a ConnResponse: ok with endpoint_id "ep_<host>" and proto "http"
 * and the stream spliced to the route's TCP backend, or ERR_NGROK_3200 for a
 * host:port without a route (ERR_NGROK_3004 when the backend is down).
 *
 * Faults (--fault, repeatable):
 *   refuse-handshake   close the TCP connection right after accept
 *   no-tls             accept TCP, never answer
 *   close-after=N      relay N bytes backend -> client, then drop the
 *                      connection (no close_notify)
 *   delay-header=MS    wait MS ms before the ConnResponse
 *   garbage-header     reply with a 64-byte frame of random bytes; the first
 *                      one is 0x07 (field 0, wire type 7) so it never parses
 *   oversized-header   announce a 65535-byte reply and send that much junk
 *   notice             add a notice to ok replies
 *
 * --log FILE appends "conn host=H port=P result=ok|refused" per ConnRequest
 * (H as received, control characters replaced by '?').  Prints
 * "listening PORT" on stdout once ready.  Exits 0 on SIGTERM or SIGINT,
 * 1 when it cannot start, 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tunnel/proto.h"

#define MAX_ROUTES	64
#define ROUTE_HOST_MAX	120	/* "ep_" + host fits endpoint_id[128] */
#define HDR_CAP		65536
#define HDR_TIMEOUT_MS	10000
#define CHUNK		(64 * 1024)
#define NOTICE_TEXT	"fake ingress notice: this endpoint is for tests"

struct route {
	char			 host[ROUTE_HOST_MAX + 1];
	long			 port;
	struct sockaddr_storage	 back;
	socklen_t		 backlen;
};

struct faults {
	int	refuse_handshake, no_tls, garbage_header, oversized_header;
	int	notice;
	long	close_after;		/* -1: off */
	long	delay_ms;
};

/* Read-only once the threads start, except the log (under log_mu). */
struct ingress {
	SSL_CTX		*ctx;
	int		 lfd;
	struct route	 routes[MAX_ROUTES];
	size_t		 n_routes;
	struct faults	 f;
	FILE		*log;
	pthread_mutex_t	 log_mu;
};

struct conn {
	struct ingress	*ing;
	int		 fd, back;
	SSL		*ssl;
	uint8_t		*buf;		/* HDR_CAP + 2, then the splice chunk */
	size_t		 extra_off, extra_len;	/* bytes after the header */
	int		 dropped;	/* the close-after fault fired */
};

static void
warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
warnx_(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ingress: %s\n", line);
}

static void
tls_errors(const char *what)
{
	char e[256];
	unsigned long code;

	code = ERR_get_error();
	if (code == 0) {
		warnx_("%s: %s", what, errno ? strerror(errno) : "closed");
		return;
	}
	ERR_error_string_n(code, e, sizeof(e));
	warnx_("%s: %s", what, e);
	ERR_clear_error();
}

/* --- options -------------------------------------------------------------- */

/* "ADDR:PORT" or "[V6]:PORT"; port 0 allowed when passive. */
static int
parse_addr(const char *s, int passive, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints, *res;
	size_t n;
	int r;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if ((r = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		warnx_("%s: %s", s, gai_strerror(r));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* HOST:PORT=BACKADDR:BACKPORT */
static int
parse_route(struct ingress *ing, const char *s)
{
	struct route *rt;
	const char *eq = strchr(s, '='), *colon;
	char port[16];
	size_t n;

	if (eq == NULL || ing->n_routes == MAX_ROUTES)
		return -1;
	rt = &ing->routes[ing->n_routes];
	for (colon = eq; colon > s && *colon != ':'; colon--)
		;
	n = (size_t)(colon - s);
	if (*colon != ':' || n == 0 || n > ROUTE_HOST_MAX ||
	    (size_t)(eq - colon - 1) >= sizeof(port))
		return -1;
	memcpy(rt->host, s, n);
	rt->host[n] = '\0';
	memcpy(port, colon + 1, (size_t)(eq - colon - 1));
	port[eq - colon - 1] = '\0';
	if (parse_long(port, 1, 65535, &rt->port) != 0 ||
	    parse_addr(eq + 1, 0, &rt->back, &rt->backlen) != 0)
		return -1;
	ing->n_routes++;
	return 0;
}

static int
parse_fault(struct faults *f, const char *s)
{
	if (strcmp(s, "refuse-handshake") == 0)
		f->refuse_handshake = 1;
	else if (strcmp(s, "no-tls") == 0)
		f->no_tls = 1;
	else if (strcmp(s, "garbage-header") == 0)
		f->garbage_header = 1;
	else if (strcmp(s, "oversized-header") == 0)
		f->oversized_header = 1;
	else if (strcmp(s, "notice") == 0)
		f->notice = 1;
	else if (strncmp(s, "close-after=", 12) == 0)
		return parse_long(s + 12, 0, INT32_MAX, &f->close_after);
	else if (strncmp(s, "delay-header=", 13) == 0)
		return parse_long(s + 13, 0, 600000, &f->delay_ms);
	else
		return -1;
	return 0;
}

/* --- set-up --------------------------------------------------------------- */

static SSL_CTX *
tls_setup(const char *cert, const char *key, const char *client_ca)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	/* TLS 1.3 is what the real ingress speaks; 1.2 stays possible so a
	 * test can pin it. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(client_ca)) == NULL)
			goto fail;
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	/* Resumed sessions (ngrokd's tickets) with client verification need
	 * a session id context, or OpenSSL fails the handshake. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ngrokd-fake", 11);
	/* Blocking sockets + poll(): without AUTO_RETRY, SSL_read returns
	 * WANT_READ after a non-data record instead of blocking for the next
	 * one while the backend has bytes to send. */
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	return ctx;
fail:
	tls_errors("TLS set-up");
	SSL_CTX_free(ctx);
	return NULL;
}

static int
listen_on(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (parse_addr(spec, 1, &ss, &len) != 0)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
		warnx_("%s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* --- per connection ------------------------------------------------------- */

static void
set_timeouts(int fd, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
log_request(struct ingress *ing, const struct proto_conn_request *rq,
    int ok)
{
	if (ing->log == NULL)
		return;
	pthread_mutex_lock(&ing->log_mu);
	fprintf(ing->log, "conn host=%s port=%lld result=%s\n", rq->host,
	    (long long)rq->port, ok ? "ok" : "refused");
	fflush(ing->log);
	pthread_mutex_unlock(&ing->log_mu);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
tls_write_all(SSL *ssl, const uint8_t *p, size_t n)
{
	int w, err;

	while (n > 0) {
		w = SSL_write(ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		if (w <= 0) {
			err = SSL_get_error(ssl, w);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one framed ConnRequest within HDR_TIMEOUT_MS; returns the frame
 * size (bytes after it stay in c->buf for the backend) or -1. */
static int
read_header(struct conn *c)
{
	long deadline = now_ms() + HDR_TIMEOUT_MS, left;
	size_t len = 0;
	int need, r, err;

	for (;;) {
		need = proto_frame_need(c->buf, len, HDR_CAP);
		if (need < 0) {
			warnx_("ConnRequest larger than %d bytes", HDR_CAP);
			return -1;
		}
		if (need > 0)
			break;
		if ((left = deadline - now_ms()) <= 0) {
			warnx_("no ConnRequest within %d ms", HDR_TIMEOUT_MS);
			return -1;
		}
		set_timeouts(c->fd, left);
		r = SSL_read(c->ssl, c->buf + len, (int)(HDR_CAP + 2 - len));
		if (r <= 0) {
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
				continue;
			tls_errors("reading ConnRequest");
			return -1;
		}
		len += (size_t)r;
	}
	c->extra_off = (size_t)need;
	c->extra_len = len - (size_t)need;
	return need;
}

static const struct route *
find_route(const struct ingress *ing, const struct proto_conn_request *rq)
{
	size_t i;

	for (i = 0; i < ing->n_routes; i++)
		if (strcasecmp(ing->routes[i].host, rq->host) == 0 &&
		    ing->routes[i].port == rq->port && !rq->truncated)
			return &ing->routes[i];
	return NULL;
}

static int
connect_backend(const struct route *rt)
{
	int fd;

	if ((fd = socket(rt->back.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&rt->back, rt->backlen) != 0) {
		warnx_("backend for %s:%ld: %s", rt->host, rt->port,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_response(struct conn *c, const struct proto_conn_response *r)
{
	uint8_t out[8192];
	int n;

	if ((n = proto_conn_response_encode(out, sizeof(out), r)) < 0) {
		warnx_("cannot encode ConnResponse: %s", strerror(-n));
		return -1;
	}
	return tls_write_all(c->ssl, out, (size_t)n);
}

/* The header faults: a reply that must not parse, then wait for the client
 * to give up (so it sees our bytes, not a reset). */
static void
send_bad_header(struct conn *c)
{
	size_t plen = c->ing->f.oversized_header ? 0xffff : 64;
	uint8_t *p = c->buf;
	int r;

	p[0] = (uint8_t)(plen & 0xff);
	p[1] = (uint8_t)(plen >> 8);
	if (RAND_bytes(p + 2, (int)plen) != 1)
		memset(p + 2, 0xa5, plen);
	if (!c->ing->f.oversized_header)
		p[2] = 0x07;
	if (tls_write_all(c->ssl, p, 2 + plen) != 0)
		return;
	set_timeouts(c->fd, HDR_TIMEOUT_MS);
	do
		r = SSL_read(c->ssl, c->buf, CHUNK);
	while (r > 0 || SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ);
}

/* Drops the client without close_notify (the close-after fault). */
static void
drop(struct conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
	c->dropped = 1;
}

/* client -> backend; returns 1 while open, 0 after close_notify, -1. */
static int
pump_up(struct conn *c)
{
	int r, err;

	r = SSL_read(c->ssl, c->buf, CHUNK);
	if (r > 0)
		return write_all(c->back, c->buf, (size_t)r) == 0 ? 1 : -1;
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 1;
	if (err == SSL_ERROR_ZERO_RETURN) {
		/* The client's half-close: pass it on as a TCP FIN. */
		shutdown(c->back, SHUT_WR);
		return 0;
	}
	tls_errors("client");
	return -1;
}

/* backend -> client; returns 1 while open, 0 at backend EOF, -1. */
static int
pump_down(struct conn *c, long *relayed)
{
	long cap = c->ing->f.close_after;
	ssize_t n;

	n = read(c->back, c->buf, CHUNK);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0)
		return -1;
	if (n == 0) {
		/* close_notify is TLS's FIN; reading the client goes on. */
		SSL_shutdown(c->ssl);
		return 0;
	}
	if (cap >= 0 && *relayed + n >= cap) {
		tls_write_all(c->ssl, c->buf, (size_t)(cap - *relayed));
		*relayed = cap;
		drop(c);
		return -1;
	}
	*relayed += n;
	return tls_write_all(c->ssl, c->buf, (size_t)n) == 0 ? 1 : -1;
}

static void
splice(struct conn *c)
{
	struct pollfd pfd[2];
	int up = 1, down = 1, r;
	long relayed = 0;

	set_timeouts(c->fd, 0);
	if (c->ing->f.close_after == 0) {
		drop(c);
		return;
	}
	if (c->extra_len > 0 &&
	    write_all(c->back, c->buf + c->extra_off, c->extra_len) != 0)
		return;
	while (up > 0 || down > 0) {
		/* A closed direction is taken out of the poll set, so a
		 * half-closed socket's HUP cannot spin the loop. */
		pfd[0].fd = up > 0 ? c->fd : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = down > 0 ? c->back : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (up > 0 && SSL_pending(c->ssl) > 0)
			pfd[0].revents = POLLIN;
		else if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (up > 0 && pfd[0].revents != 0 && (r = pump_up(c)) <= 0) {
			if (r < 0)
				return;
			up = 0;
		}
		if (down > 0 && pfd[1].revents != 0 &&
		    (r = pump_down(c, &relayed)) <= 0) {
			if (r < 0)
				return;
			down = 0;
		}
	}
}

static void
answer(struct conn *c, const struct proto_conn_request *rq)
{
	const struct faults *f = &c->ing->f;
	struct proto_conn_response resp;
	const struct route *rt;
	int ok;

	memset(&resp, 0, sizeof(resp));
	rt = rq->port >= 1 && rq->port <= 65535 ? find_route(c->ing, rq) : NULL;
	if (rt == NULL) {
		snprintf(resp.error_code, sizeof(resp.error_code),
		    "ERR_NGROK_3200");
		snprintf(resp.error_message, sizeof(resp.error_message),
		    "no bound endpoint for %.200s:%lld", rq->host,
		    (long long)rq->port);
	} else if ((c->back = connect_backend(rt)) < 0) {
		snprintf(resp.error_code, sizeof(resp.error_code),
		    "ERR_NGROK_3004");
		snprintf(resp.error_message, sizeof(resp.error_message),
		    "the upstream service for %s is not reachable", rt->host);
	} else {
		snprintf(resp.endpoint_id, sizeof(resp.endpoint_id), "ep_%s",
		    rt->host);
		snprintf(resp.proto, sizeof(resp.proto), "http");
		if (f->notice) {
			snprintf(resp.notices[0], sizeof(resp.notices[0]), "%s",
			    NOTICE_TEXT);
			resp.n_notices = 1;
		}
	}
	ok = !proto_conn_response_refused(&resp);
	log_request(c->ing, rq, ok);
	if (f->delay_ms > 0)
		sleep_ms(f->delay_ms);
	if (f->garbage_header || f->oversized_header) {
		send_bad_header(c);
		return;
	}
	if (send_response(c, &resp) != 0) {
		tls_errors("sending ConnResponse");
		return;
	}
	if (ok)
		splice(c);
}

/*
 * Closes after a FIN and a short drain: close() with unread bytes (the
 * client's ConnRequest after a failed handshake) sends a RST, which can
 * destroy the TLS alert before the client reads it.
 */
static void
close_gently(int fd)
{
	char b[4096];
	long deadline = now_ms() + 2000;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	set_timeouts(fd, 200);
	do
		n = read(fd, b, sizeof(b));
	while ((n > 0 || (n < 0 && errno == EINTR)) && now_ms() < deadline);
	close(fd);
}

/* no-tls: hold the TCP connection without a byte until the client goes. */
static void
hold_silent(int fd)
{
	char b[4096];
	ssize_t n;

	do
		n = read(fd, b, sizeof(b));
	while (n > 0 || (n < 0 && errno == EINTR));
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	struct proto_conn_request rq;
	int need, r;

	if (c->ing->f.no_tls) {
		hold_silent(c->fd);
		goto done;
	}
	if ((c->buf = malloc(HDR_CAP + 2)) == NULL ||
	    (c->ssl = SSL_new(c->ing->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1)
		goto done;
	set_timeouts(c->fd, HDR_TIMEOUT_MS);
	if ((r = SSL_accept(c->ssl)) != 1) {
		tls_errors("TLS handshake");
		goto done;
	}
	if ((need = read_header(c)) < 0)
		goto done;
	if ((r = proto_conn_request_decode(c->buf + 2, (size_t)need - 2, &rq))
	    != 0) {
		warnx_("malformed ConnRequest: %s", strerror(-r));
		goto done;
	}
	answer(c, &rq);
done:
	if (c->back >= 0)
		close(c->back);
	SSL_free(c->ssl);
	if (c->dropped)
		close(c->fd);
	else
		close_gently(c->fd);
	free(c->buf);
	free(c);
	ERR_clear_error();
	return NULL;
}

static void *
accept_main(void *arg)
{
	struct ingress *ing = arg;
	pthread_attr_t attr;
	pthread_t th;
	struct conn *c;
	int fd, one = 1;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		fd = accept4(ing->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
				sleep_ms(50);
			continue;
		}
		if (ing->f.refuse_handshake) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->ing = ing;
		c->fd = fd;
		c->back = -1;
		if (pthread_create(&th, &attr, conn_main, c) != 0) {
			warnx_("pthread_create failed");
			close(fd);
			free(c);
		}
	}
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: ingress --listen ADDR:PORT --cert FILE --key FILE "
	    "[--client-ca FILE]\n"
	    "       [--route HOST:PORT=BACKADDR:BACKPORT]... [--fault F]... "
	    "[--log FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "client-ca", required_argument, NULL, 'a' },
		{ "route", required_argument, NULL, 'r' },
		{ "fault", required_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	const char *log_path = NULL;
	struct ingress *ing;
	pthread_t th;
	sigset_t set;
	int ch, sig;

	if ((ing = calloc(1, sizeof(*ing))) == NULL)
		return 1;
	ing->f.close_after = -1;
	pthread_mutex_init(&ing->log_mu, NULL);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': listen_spec = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'L': log_path = optarg; break;
		case 'r':
			if (parse_route(ing, optarg) != 0) {
				warnx_("bad --route %s", optarg);
				usage();
			}
			break;
		case 'f':
			if (parse_fault(&ing->f, optarg) != 0) {
				warnx_("bad --fault %s", optarg);
				usage();
			}
			break;
		default:
			usage();
		}
	}
	if (optind != argc || listen_spec == NULL || cert == NULL || key == NULL)
		usage();

	signal(SIGPIPE, SIG_IGN);
	/* Only the main thread takes SIGTERM/SIGINT (sigwait below). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (log_path != NULL && (ing->log = fopen(log_path, "a")) == NULL) {
		warnx_("%s: %s", log_path, strerror(errno));
		return 1;
	}
	if ((ing->ctx = tls_setup(cert, key, ca)) == NULL)
		return 1;
	if ((ing->lfd = listen_on(listen_spec)) < 0)
		return 1;
	if (pthread_create(&th, NULL, accept_main, ing) != 0)
		return 1;
	printf("listening %d\n", bound_port(ing->lfd));
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	/* Connection threads may be inside OpenSSL: leave without running
	 * library destructors under them. */
	pthread_mutex_lock(&ing->log_mu);
	if (ing->log != NULL)
		fflush(ing->log);
	fflush(stdout);
	_exit(0);
}
