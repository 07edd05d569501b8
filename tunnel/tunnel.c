/*
 * tunnel.c: the mTLS back of a stream (see tunnel.h and daemon/stream.h).
 *
 * A session walks RESOLVE -> CONNECT -> HANDSHAKE -> HEADER -> PIPE.  Each
 * phase before PIPE has a deadline.  In PIPE:
 *   up   (app -> ingress): the front offers bytes; we copy them into `up`
 *        (at most stream_buffer) and write them with wolfSSL_write.  After
 *        WANT_WRITE wolfSSL must be called again with the same bytes, so
 *        bytes in flight are never moved; new bytes are only appended.
 *   down (ingress -> app): wolfSSL_read into `down`, offered to the front;
 *        what the front cannot take stays in `down` and we stop reading
 *        (and so stop acknowledging the ingress) until the front resumes us.
 * A FIN from the app becomes close_notify once `up` is drained;
 * close_notify (or EOF) from the ingress becomes a FIN once `down` is
 * drained.  Any error aborts both halves with one log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include "daemon/log.h"
#include "tunnel/proto.h"
#include "tunnel/resolve.h"
#include "tunnel/tunnel.h"

#define HDR_MAX		16384	/* ConnResponse payload cap (real ones are < 1 KiB) */
#define REQ_MAX		512	/* ConnRequest: host <= 253 bytes */
#define READ_CHUNK	(64 * 1024)

/* PH_READY: a pooled session, handshake done, waiting for a stream. */
enum phase { PH_RESOLVE, PH_CONNECT, PH_HANDSHAKE, PH_HEADER, PH_PIPE, PH_DONE,
    PH_READY };

#define POOL_MAX_AGE_MS		30000
#define POOL_BACKOFF_MIN_MS	500
#define POOL_BACKOFF_MAX_MS	30000

struct buf {
	uint8_t	*data;
	size_t	 off, len, cap;	/* valid bytes are data[off .. off+len) */
};

struct session {
	struct session	*next, *prev;
	tunnel_t	*t;
	stream_t	*s;
	WOLFSSL		*ssl;
	int		 fd;
	enum phase	 phase;
	int		 interest;
	char		*host;		/* ConnRequest host */
	uint16_t	 port;
	char		*endpoint_id;
	struct endpoint_stats *stats;
	loop_timer_t	 timer;
	uint64_t	 last_io;
	struct buf	 up, down;
	size_t		 up_inflight;	/* bytes handed to a WANT_WRITE wolfSSL_write */
	uint8_t		*hdr;		/* ConnRequest out, then ConnResponse in */
	size_t		 hdr_len, hdr_sent;
	unsigned	 app_fin:1;	/* front: no more data from the app */
	unsigned	 notify_sent:1;
	unsigned	 ingress_eof:1;
	unsigned	 fin_passed:1;	/* front was told */
	unsigned	 front_full:1;	/* front refused bytes: wait for resume */
	unsigned	 up_refused:1;	/* we refused the front: resume it later */
	unsigned	 resumed:1;
	unsigned	 pooled:1;	/* created for the pool, not yet taken */
	struct session	*pool_next;	/* in tunnel.pool while PH_READY */
	uint64_t	 hs_cpu_ns;	/* thread CPU spent in wolfSSL_connect */
	uint64_t	 t_connect, t_header;	/* loop_clock_ms() at phase start */
};

struct tunnel {
	loop_t		*loop;
	struct tunnel_params p;
	char		*ingress_host;
	uint16_t	 ingress_port;
	WOLFSSL_CTX	*ctx;
	WOLFSSL_SESSION	*cached;	/* for resumption */
	resolver_t	*res;
	struct session	*sessions;
	struct tunnel_stats stats;
	/* The pool of ready sessions (tls.pool_size; off when 0). */
	struct session	*pool;		/* PH_READY sessions */
	unsigned	 pool_ready, pool_warming;
	uint32_t	 pool_backoff_ms;
	loop_timer_t	 pool_timer;
};

static void sess_fail(struct session *ss, int err, uint64_t *counter,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void sess_connect(struct session *ss);
static void pool_fill(tunnel_t *t);
static void pool_backoff(tunnel_t *t);
static void pool_drain(tunnel_t *t);
static void on_pool_timer(loop_t *loop, void *arg);
static void on_io(loop_t *loop, int fd, int events, void *arg);

/* --- the TLS context ----------------------------------------------------- */

static int
cpu_has_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes");
#else
	return 1;	/* ARMv8 builds use the crypto extensions */
#endif
}

static const char *
tls_error(int err)
{
	static __thread char buf[WOLFSSL_MAX_ERROR_SZ];

	return wolfSSL_ERR_error_string((unsigned long)err, buf);
}

static WOLFSSL_CTX *
make_ctx(const struct tunnel_params *p, const char *cert, const char *key)
{
	static const char aes_first[] =
	    "TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256:"
	    "TLS13-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384";
	static const char chacha_first[] =
	    "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:"
	    "TLS13-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384";
	WOLFSSL_CTX *ctx;
	int r;

	if ((ctx = wolfSSL_CTX_new(wolfSSLv23_client_method())) == NULL) {
		log_warnx("tunnel: wolfSSL_CTX_new failed");
		errno = ENOMEM;
		return NULL;
	}
	wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
	wolfSSL_CTX_set_cipher_list(ctx, cpu_has_aes() ? aes_first : chacha_first);
	if ((r = wolfSSL_CTX_use_certificate_chain_file(ctx, cert)) != WOLFSSL_SUCCESS) {
		log_warnx("tunnel: client certificate %s: %s", cert, tls_error(r));
		goto inval;
	}
	if ((r = wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM)) !=
	    WOLFSSL_SUCCESS) {
		log_warnx("tunnel: client key %s: %s", key, tls_error(r));
		goto inval;
	}
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
		log_warnx("tunnel: client key %s does not match certificate %s", key, cert);
		goto inval;
	}
	if (p->insecure_skip_verify) {
		log_warnx("tunnel: tls.insecure_skip_verify is set: the ingress's "
		    "certificate is NOT verified; anyone on the path can "
		    "impersonate it");
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	} else {
		if (wolfSSL_CTX_load_system_CA_certs(ctx) != WOLFSSL_SUCCESS)
			log_info("tunnel: no system CA certificates loaded");
		if (p->ca_file != NULL && (r = wolfSSL_CTX_load_verify_locations(ctx,
		    p->ca_file, NULL)) != WOLFSSL_SUCCESS) {
			log_warnx("tunnel: tls.ca_file %s: %s", p->ca_file, tls_error(r));
			goto inval;
		}
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	}
	if (p->session_resumption)
		wolfSSL_CTX_UseSessionTicket(ctx);
	return ctx;
inval:
	wolfSSL_CTX_free(ctx);
	errno = EINVAL;
	return NULL;
}

static int
split_hostport(const char *in, char **host, uint16_t *port)
{
	const char *c = strrchr(in, ':');
	char *end;
	long v;

	if (c == NULL || c == in)
		return -EINVAL;
	v = strtol(c + 1, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return -EINVAL;
	if ((*host = strndup(in, (size_t)(c - in))) == NULL)
		return -ENOMEM;
	*port = (uint16_t)v;
	return 0;
}

static void
on_resolved(void *arg, int err)
{
	tunnel_t *t = arg;
	struct session *ss, *next;

	for (ss = t->sessions; ss != NULL; ss = next) {
		next = ss->next;
		if (ss->phase != PH_RESOLVE)
			continue;
		if (err != 0)
			sess_fail(ss, EHOSTUNREACH, &ss->stats->errors_connect,
			    "cannot resolve ingress %s: %s", t->ingress_host,
			    gai_strerror(err));
		else
			sess_connect(ss);
	}
}

tunnel_t *
tunnel_new(loop_t *loop, const struct tunnel_params *p)
{
	tunnel_t *t;
	int saved;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->loop = loop;
	t->p = *p;
	loop_timer_init(&t->pool_timer, on_pool_timer, t);
	t->p.client_cert = t->p.client_key = t->p.ca_file = t->p.ingress = NULL;
	if (p->ca_file != NULL && (t->p.ca_file = strdup(p->ca_file)) == NULL)
		goto fail;
	if (split_hostport(p->ingress, &t->ingress_host, &t->ingress_port) != 0) {
		log_warnx("tunnel: ingress \"%s\" is not host:port", p->ingress);
		errno = EINVAL;
		goto fail;
	}
	if ((t->res = resolver_new(loop, t->ingress_host, t->ingress_port,
	    on_resolved, t)) == NULL)
		goto fail;
	if ((t->ctx = make_ctx(&t->p, p->client_cert, p->client_key)) == NULL)
		goto fail;
	log_info("tunnel: ingress %s:%u, client certificate %s%s", t->ingress_host,
	    t->ingress_port, p->client_cert, p->pool_size ? ", pool of ready "
	    "connections on" : "");
	pool_fill(t);
	return t;
fail:
	saved = errno;
	tunnel_free(t);
	errno = saved;
	return NULL;
}

void
tunnel_free(tunnel_t *t)
{
	if (t == NULL)
		return;
	loop_timer_stop(t->loop, &t->pool_timer);
	t->p.pool_size = 0;
	while (t->sessions != NULL)
		sess_fail(t->sessions, ECONNABORTED, NULL, "shutting down");
	if (t->cached != NULL)
		wolfSSL_SESSION_free(t->cached);
	if (t->ctx != NULL)
		wolfSSL_CTX_free(t->ctx);
	resolver_free(t->res);
	free(t->ingress_host);
	free((char *)(uintptr_t)t->p.ca_file);
	free(t);
}

int
tunnel_reload_cert(tunnel_t *t, const char *cert, const char *key)
{
	WOLFSSL_CTX *ctx;

	if ((ctx = make_ctx(&t->p, cert, key)) == NULL)
		return -errno;
	/* Live sessions hold their own reference to the old context. */
	wolfSSL_CTX_free(t->ctx);
	t->ctx = ctx;
	if (t->cached != NULL) {
		wolfSSL_SESSION_free(t->cached);
		t->cached = NULL;
	}
	log_info("tunnel: client certificate reloaded from %s", cert);
	pool_drain(t);
	pool_fill(t);
	return 0;
}

int
tunnel_set_ingress(tunnel_t *t, const char *ingress)
{
	char *host;
	uint16_t port;
	resolver_t *res;

	if (split_hostport(ingress, &host, &port) != 0)
		return -EINVAL;
	if ((res = resolver_new(t->loop, host, port, on_resolved, t)) == NULL) {
		free(host);
		return -errno;
	}
	/* Sessions waiting on the old resolver move to the new one. */
	resolver_free(t->res);
	t->res = res;
	free(t->ingress_host);
	t->ingress_host = host;
	t->ingress_port = port;
	if (t->cached != NULL) {
		wolfSSL_SESSION_free(t->cached);
		t->cached = NULL;
	}
	pool_drain(t);
	pool_fill(t);
	return 0;
}

void
tunnel_get_stats(const tunnel_t *t, struct tunnel_stats *st)
{
	*st = t->stats;
}

/* --- buffers ------------------------------------------------------------- */

static int
buf_init(struct buf *b, size_t cap)
{
	b->off = b->len = 0;
	b->cap = cap;
	return (b->data = malloc(cap)) == NULL ? -ENOMEM : 0;
}

/* Appends up to n bytes without moving bytes in flight; returns the count. */
static size_t
buf_append(struct buf *b, const void *p, size_t n, size_t inflight)
{
	size_t room;

	if (b->off > 0 && inflight == 0 && b->off + b->len + n > b->cap) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	room = b->cap - b->off - b->len;
	if (n > room)
		n = room;
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return n;
}

static void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

/* --- session lifetime ---------------------------------------------------- */

static void
sess_free(struct session *ss)
{
	tunnel_t *t = ss->t;
	stream_t *s = ss->s;

	if (ss->prev != NULL)
		ss->prev->next = ss->next;
	else
		t->sessions = ss->next;
	if (ss->next != NULL)
		ss->next->prev = ss->prev;
	loop_timer_stop(t->loop, &ss->timer);
	if (ss->pooled) {
		if (ss->phase == PH_READY) {
			struct session **pp = &t->pool;

			while (*pp != NULL && *pp != ss)
				pp = &(*pp)->pool_next;
			if (*pp != NULL)
				*pp = ss->pool_next;
			t->pool_ready--;
		} else
			t->pool_warming--;
	}
	if (ss->fd != -1) {
		loop_del_fd(t->loop, ss->fd);
		close(ss->fd);
	}
	if (ss->ssl != NULL)
		wolfSSL_free(ss->ssl);
	if (ss->stats != NULL && ss->stats->streams_active > 0)
		ss->stats->streams_active--;
	t->stats.sessions_active--;
	free(ss->up.data);
	free(ss->down.data);
	free(ss->hdr);
	free(ss->host);
	free(ss->endpoint_id);
	free(ss);
	if (s != NULL)
		stream_detach(s, STREAM_BACK);
}

static const char *
phase_name(enum phase ph)
{
	static const char *const names[] = { "resolving the ingress",
	    "connecting to the ingress", "TLS handshake", "binding header",
	    "streaming", "closing", "waiting in the pool" };

	return names[ph];
}

/* At most LOG_BURST error lines per endpoint every LOG_WINDOW_MS, so that a
 * storm (a dead ingress, a scanning client) cannot flood the log; the
 * suppressed count is logged when the next window opens. */
#define LOG_WINDOW_MS	10000
#define LOG_BURST	10

static int
log_allowed(struct session *ss)
{
	struct endpoint_stats *st = ss->stats;
	uint64_t now = loop_now(ss->t->loop);

	if (now - st->log_window_ms >= LOG_WINDOW_MS) {
		if (st->log_suppressed > 0)
			log_warnx("%s:%u (%s): %u more stream errors in the last "
			    "%d s were not logged", ss->host, ss->port,
			    ss->endpoint_id, st->log_suppressed, LOG_WINDOW_MS / 1000);
		st->log_window_ms = now;
		st->log_lines = 0;
		st->log_suppressed = 0;
	}
	if (st->log_lines < LOG_BURST) {
		st->log_lines++;
		return 1;
	}
	st->log_suppressed++;
	return 0;
}

static void
sess_fail(struct session *ss, int err, uint64_t *counter, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (counter != NULL) {
		(*counter)++;
		ss->t->stats.errors++;
	}
	if (ss->pooled && counter != NULL)
		pool_backoff(ss->t);
	if (counter == NULL || log_allowed(ss))
		log_warnx("stream %llu to %s:%u (%s): %s during %s",
		    (unsigned long long)(ss->s != NULL ? ss->s->id : 0), ss->host,
		    ss->port, ss->endpoint_id, msg, phase_name(ss->phase));
	if (ss->s != NULL)
		stream_abort(ss->s, STREAM_BACK, err);
	sess_free(ss);
}

/* Both directions finished cleanly. */
static void
sess_done(struct session *ss)
{
	log_debug("stream %llu to %s:%u closed (%llu up, %llu down)",
	    (unsigned long long)ss->s->id, ss->host, ss->port,
	    (unsigned long long)ss->stats->bytes_up,
	    (unsigned long long)ss->stats->bytes_down);
	sess_free(ss);
}

static void
set_interest(struct session *ss, int ev)
{
	if (ss->fd == -1 || ev == ss->interest)
		return;
	ss->interest = ev;
	loop_mod_fd(ss->t->loop, ss->fd, ev);
}

static void
arm_phase_timer(struct session *ss, uint32_t ms)
{
	if (ms > 0)
		loop_timer_start(ss->t->loop, &ss->timer, ms);
	else
		loop_timer_stop(ss->t->loop, &ss->timer);
}

static void
on_timer(loop_t *loop, void *arg)
{
	struct session *ss = arg;
	uint64_t idle, now;

	if (ss->phase == PH_READY) {	/* too old to trust: replace it */
		tunnel_t *t = ss->t;

		sess_free(ss);
		pool_fill(t);
		return;
	}
	if (ss->phase != PH_PIPE) {
		sess_fail(ss, ETIMEDOUT, &ss->stats->errors_timeout,
		    "timed out");
		return;
	}
	now = loop_clock_ms();
	idle = now - ss->last_io;
	if (idle >= ss->t->p.idle_timeout_ms) {
		sess_fail(ss, ETIMEDOUT, &ss->stats->errors_timeout,
		    "idle for %llu ms", (unsigned long long)idle);
		return;
	}
	loop_timer_start(loop, &ss->timer, ss->t->p.idle_timeout_ms - idle);
}

/* --- phases -------------------------------------------------------------- */

static void
sess_connect(struct session *ss)
{
	tunnel_t *t = ss->t;
	struct sockaddr_storage sa;
	socklen_t salen;
	int one = 1, r;

	if ((r = resolver_get(t->res, &sa, &salen)) == 0) {
		ss->phase = PH_RESOLVE;
		return;		/* on_resolved continues */
	}
	if (r < 0) {
		sess_fail(ss, -r, &ss->stats->errors_connect, "cannot resolve the ingress");
		return;
	}
	ss->phase = PH_CONNECT;
	ss->t_connect = loop_clock_ms();
	ss->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ss->fd == -1) {
		sess_fail(ss, errno, &ss->stats->errors_connect, "socket: %s",
		    strerror(errno));
		return;
	}
	setsockopt(ss->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(ss->fd, (struct sockaddr *)&sa, salen) == -1 &&
	    errno != EINPROGRESS) {
		r = errno;
		resolver_invalidate(t->res);
		sess_fail(ss, r, &ss->stats->errors_connect, "connect: %s",
		    strerror(r));
		return;
	}
	ss->interest = LOOP_WRITE;
	if ((r = loop_add_fd(t->loop, ss->fd, LOOP_WRITE, on_io, ss)) != 0) {
		sess_fail(ss, -r, &ss->stats->errors_connect, "loop: %s", strerror(-r));
		return;
	}
}

/* Returns 0 when ss lives on, -1 when it was freed. */
static int
check_connect(struct session *ss)
{
	tunnel_t *t = ss->t;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(ss->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == EINPROGRESS)
		return 0;
	if (err != 0) {
		resolver_invalidate(t->res);
		sess_fail(ss, err, &ss->stats->errors_connect, "connect to %s:%u: %s",
		    t->ingress_host, t->ingress_port, strerror(err));
		return -1;
	}
	if ((ss->ssl = wolfSSL_new(t->ctx)) == NULL ||
	    wolfSSL_set_fd(ss->ssl, ss->fd) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(ss->ssl, WOLFSSL_SNI_HOST_NAME, t->ingress_host,
	    (unsigned short)strlen(t->ingress_host)) != WOLFSSL_SUCCESS ||
	    (!t->p.insecure_skip_verify &&
	    wolfSSL_check_domain_name(ss->ssl, t->ingress_host) != WOLFSSL_SUCCESS)) {
		sess_fail(ss, ENOMEM, &ss->stats->errors_tls, "cannot set up TLS");
		return -1;
	}
	if (t->cached != NULL && t->p.session_resumption)
		wolfSSL_set_session(ss->ssl, t->cached);
	ss->phase = PH_HANDSHAKE;
	arm_phase_timer(ss, t->p.handshake_timeout_ms);
	return 0;
}

/* Says in words why a TLS session with the ingress failed. */
static const char *
tls_failure(struct session *ss, int err, char *buf, size_t len)
{
	WOLFSSL_ALERT_HISTORY h;

	switch (err) {
	case ASN_NO_SIGNER_E:
		snprintf(buf, len, "the ingress certificate is not trusted (no CA "
		    "in the system store or tls.ca_file signed it)");
		return buf;
	case DOMAIN_NAME_MISMATCH:
		snprintf(buf, len, "the ingress certificate's names do not "
		    "include %s", ss->t->ingress_host);
		return buf;
	case ASN_AFTER_DATE_E:
		snprintf(buf, len, "the ingress certificate has expired");
		return buf;
	case ASN_BEFORE_DATE_E:
		snprintf(buf, len, "the ingress certificate is not valid yet");
		return buf;
	default:
		break;
	}
	memset(&h, 0, sizeof(h));
	if (wolfSSL_get_alert_history(ss->ssl, &h) == WOLFSSL_SUCCESS) {
		const char *what = NULL;

		switch (h.last_rx.code) {
		case bad_certificate:		what = "bad_certificate"; break;
		case unsupported_certificate:	what = "unsupported_certificate"; break;
		case certificate_revoked:	what = "certificate_revoked"; break;
		case certificate_expired:	what = "certificate_expired"; break;
		case certificate_unknown:	what = "certificate_unknown"; break;
		case unknown_ca:		what = "unknown_ca"; break;
		case access_denied:		what = "access_denied"; break;
		case certificate_required:	what = "certificate_required"; break;
		default:			break;
		}
		if (what != NULL) {
			snprintf(buf, len, "the ingress refused our client "
			    "certificate (TLS alert %s)", what);
			return buf;
		}
	}
	snprintf(buf, len, "%s", tls_error(err));
	return buf;
}

/* Maps a wolfSSL result to loop interest; 1 = retry later, 0 = fatal. */
static int
want(struct session *ss, int ret, int *err)
{
	*err = wolfSSL_get_error(ss->ssl, ret);
	if (*err == WOLFSSL_ERROR_WANT_READ) {
		set_interest(ss, LOOP_READ);
		return 1;
	}
	if (*err == WOLFSSL_ERROR_WANT_WRITE) {
		set_interest(ss, LOOP_WRITE);
		return 1;
	}
	return 0;
}

static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
start_header(struct session *ss)
{
	int n = proto_conn_request_encode(ss->hdr, REQ_MAX, ss->host, ss->port);

	if (n < 0) {
		sess_fail(ss, EINVAL, &ss->stats->errors_refused,
		    "cannot encode ConnRequest: %s", strerror(-n));
		return -1;
	}
	ss->hdr_len = (size_t)n;
	ss->hdr_sent = 0;
	ss->phase = PH_HEADER;
	ss->t_header = loop_clock_ms();
	arm_phase_timer(ss, ss->t->p.header_timeout_ms);
	return 0;
}

static int
do_handshake(struct session *ss)
{
	tunnel_t *t = ss->t;
	uint64_t c0 = thread_cpu_ns();
	int r, err;

	r = wolfSSL_connect(ss->ssl);
	ss->hs_cpu_ns += thread_cpu_ns() - c0;
	if (r != WOLFSSL_SUCCESS) {
		if (want(ss, r, &err))
			return 0;
		char why[256];

		sess_fail(ss, ECONNREFUSED, &ss->stats->errors_tls,
		    "TLS handshake with %s failed: %s", t->ingress_host,
		    tls_failure(ss, err, why, sizeof(why)));
		return -1;
	}
	metrics_hist_observe_ms(&t->stats.handshake_seconds, ss->t_connect,
	    loop_clock_ms());
	if (wolfSSL_session_reused(ss->ssl)) {
		ss->resumed = 1;
		t->stats.handshakes_resumed++;
		t->stats.handshake_cpu_ns_resumed += ss->hs_cpu_ns;
	} else {
		t->stats.handshakes_full++;
		t->stats.handshake_cpu_ns_full += ss->hs_cpu_ns;
	}
	if (ss->pooled) {
		/* Wait in the pool; readability now means the ingress closed. */
		ss->phase = PH_READY;
		t->pool_warming--;
		t->pool_ready++;
		t->pool_backoff_ms = 0;
		ss->pool_next = t->pool;
		t->pool = ss;
		set_interest(ss, LOOP_READ);
		arm_phase_timer(ss, POOL_MAX_AGE_MS);
		return 0;
	}
	return start_header(ss);
}

static void
log_notices(struct session *ss, const struct proto_conn_response *cr)
{
	size_t i;

	for (i = 0; i < cr->n_notices; i++)
		log_warnx("ingress notice for %s:%u (%s): %s", ss->host, ss->port,
		    ss->endpoint_id, cr->notices[i]);
}

static int
do_header(struct session *ss)
{
	struct proto_conn_response cr;
	int r, err, need;

	if (ss->hdr_sent < ss->hdr_len) {
		r = wolfSSL_write(ss->ssl, ss->hdr, (int)ss->hdr_len);
		if (r <= 0) {
			if (want(ss, r, &err))
				return 0;
			sess_fail(ss, EIO, &ss->stats->errors_tls,
			    "sending ConnRequest: %s", tls_error(err));
			return -1;
		}
		ss->hdr_sent = ss->hdr_len;
	}
	for (;;) {
		need = proto_frame_need(ss->down.data, ss->down.len, HDR_MAX);
		if (need < 0) {
			sess_fail(ss, EPROTO, &ss->stats->errors_refused,
			    "ConnResponse larger than %d bytes", HDR_MAX);
			return -1;
		}
		if (need > 0)
			break;
		if (ss->down.len == ss->down.cap) {
			sess_fail(ss, EPROTO, &ss->stats->errors_refused,
			    "ConnResponse does not fit");
			return -1;
		}
		r = wolfSSL_read(ss->ssl, ss->down.data + ss->down.len,
		    (int)(ss->down.cap - ss->down.len));
		if (r <= 0) {
			if (want(ss, r, &err))
				return 0;
			char why[256];

			/* TLS 1.3 servers judge the client certificate after
			 * our side of the handshake is done: a refusal shows up
			 * here, as an alert. */
			sess_fail(ss, ECONNRESET, err == WOLFSSL_ERROR_ZERO_RETURN ?
			    &ss->stats->errors_refused : &ss->stats->errors_tls,
			    "no ConnResponse: %s", err == WOLFSSL_ERROR_ZERO_RETURN ?
			    "the ingress closed the connection" :
			    tls_failure(ss, err, why, sizeof(why)));
			return -1;
		}
		ss->down.len += (size_t)r;
	}
	metrics_hist_observe_ms(&ss->t->stats.header_seconds, ss->t_header,
	    loop_clock_ms());
	r = proto_conn_response_decode(ss->down.data + 2, (size_t)need - 2, &cr);
	if (r != 0) {
		sess_fail(ss, EPROTO, &ss->stats->errors_refused,
		    "malformed ConnResponse (%s)", strerror(-r));
		return -1;
	}
	log_notices(ss, &cr);
	if (proto_conn_response_refused(&cr)) {
		sess_fail(ss, ECONNREFUSED, &ss->stats->errors_refused,
		    "the ingress refused the connection: %s %s",
		    cr.error_code[0] ? cr.error_code : "(no code)", cr.error_message);
		return -1;
	}
	buf_consume(&ss->down, (size_t)need);
	if (ss->down.len > 0 && ss->down.off > 0) {
		memmove(ss->down.data, ss->down.data + ss->down.off, ss->down.len);
		ss->down.off = 0;
	}
	/* A TLS 1.3 ticket arrives after the handshake; it has been read by
	 * now.  Keep the newest for the next session. */
	if (ss->t->p.session_resumption && !ss->resumed) {
		WOLFSSL_SESSION *sess = wolfSSL_get1_session(ss->ssl);

		if (sess != NULL) {
			if (ss->t->cached != NULL)
				wolfSSL_SESSION_free(ss->t->cached);
			ss->t->cached = sess;
		}
	}
	log_debug("stream %llu: %s:%u open via %s (%s%s)",
	    (unsigned long long)ss->s->id, ss->host, ss->port, cr.endpoint_id,
	    wolfSSL_get_version(ss->ssl), ss->resumed ? ", resumed" : "");
	ss->phase = PH_PIPE;
	ss->last_io = loop_clock_ms();
	arm_phase_timer(ss, ss->t->p.idle_timeout_ms);
	return 0;
}

/* app -> ingress */
static int
pump_up(struct session *ss)
{
	int r, err;
	size_t n;

	while (ss->up.len > 0) {
		n = ss->up_inflight ? ss->up_inflight : ss->up.len;
		if (n > INT32_MAX)
			n = INT32_MAX;
		r = wolfSSL_write(ss->ssl, ss->up.data + ss->up.off, (int)n);
		if (r <= 0) {
			if (want(ss, r, &err)) {
				ss->up_inflight = n;
				return 1;
			}
			sess_fail(ss, ECONNRESET, &ss->stats->errors_reset,
			    "write to the ingress: %s", tls_error(err));
			return -1;
		}
		ss->up_inflight = 0;
		buf_consume(&ss->up, (size_t)r);
		ss->stats->bytes_up += (uint64_t)r;
		ss->last_io = loop_now(ss->t->loop);
	}
	if (ss->up_refused) {
		ss->up_refused = 0;
		stream_resume(ss->s, STREAM_BACK);
		if (ss->up.len > 0)
			return pump_up(ss);
	}
	if (ss->app_fin && !ss->notify_sent) {
		ss->notify_sent = 1;
		r = wolfSSL_shutdown(ss->ssl);
		if (r == WOLFSSL_FATAL_ERROR && !want(ss, r, &err))
			log_debug("stream %llu: close_notify: %s",
			    (unsigned long long)ss->s->id, tls_error(err));
	}
	return 0;
}

/* ingress -> app.  Reads as many records as fit before offering them, so
 * that lwIP builds full-sized segments instead of one per 16 KiB record. */
static int
pump_down(struct session *ss)
{
	ssize_t m;
	int r, err, more = 1;

	for (;;) {
		while (more && !ss->ingress_eof) {
			size_t end = ss->down.off + ss->down.len;

			if (end == ss->down.cap) {
				if (ss->down.off == 0)
					break;
				memmove(ss->down.data, ss->down.data + ss->down.off,
				    ss->down.len);
				ss->down.off = 0;
				end = ss->down.len;
			}
			r = wolfSSL_read(ss->ssl, ss->down.data + end,
			    (int)(ss->down.cap - end));
			if (r > 0) {
				ss->down.len += (size_t)r;
				ss->last_io = loop_now(ss->t->loop);
				continue;
			}
			err = wolfSSL_get_error(ss->ssl, r);
			if (err == WOLFSSL_ERROR_WANT_READ ||
			    err == WOLFSSL_ERROR_WANT_WRITE) {
				more = 0;
				break;
			}
			if (err == WOLFSSL_ERROR_ZERO_RETURN) {
				ss->ingress_eof = 1;	/* close_notify */
				break;
			}
			/* A TCP close without close_notify truncates the stream:
			 * the app must not mistake it for a clean end. */
			if (err == SOCKET_PEER_CLOSED_E) {
				sess_fail(ss, ECONNRESET, &ss->stats->errors_reset,
				    "the ingress closed the connection without "
				    "close_notify");
				return -1;
			}
			sess_fail(ss, ECONNRESET, &ss->stats->errors_reset,
			    "read from the ingress: %s", tls_error(err));
			return -1;
		}
		if (ss->down.len > 0) {
			m = stream_send(ss->s, STREAM_BACK,
			    ss->down.data + ss->down.off, ss->down.len);
			if (m < 0) {
				sess_fail(ss, (int)-m, &ss->stats->errors_reset,
				    "the application's connection is gone");
				return -1;
			}
			buf_consume(&ss->down, (size_t)m);
			ss->stats->bytes_down += (uint64_t)m;
			if (ss->down.len > 0) {
				ss->front_full = 1;
				return 0;
			}
		}
		if (ss->ingress_eof) {
			if (!ss->fin_passed) {
				ss->fin_passed = 1;
				stream_shutdown(ss->s, STREAM_BACK);
			}
			return 0;
		}
		if (!more)
			return 0;
	}
}

static void
pipe_interest(struct session *ss)
{
	int ev = 0;

	if (!ss->front_full && !ss->ingress_eof)
		ev |= LOOP_READ;
	if (ss->up_inflight)
		ev |= LOOP_WRITE;	/* a WANT_WRITE to finish */
	set_interest(ss, ev);
}

static void
do_pipe(struct session *ss)
{
	if (pump_up(ss) < 0)
		return;
	if (pump_down(ss) < 0)
		return;
	if (ss->fin_passed && ss->notify_sent && ss->up.len == 0) {
		sess_done(ss);
		return;
	}
	pipe_interest(ss);
}

static void
on_io(loop_t *loop, int fd, int events, void *arg)
{
	struct session *ss = arg;

	(void)loop;
	(void)fd;
	(void)events;
	switch (ss->phase) {
	case PH_CONNECT:
		if (check_connect(ss) < 0)
			return;
		if (ss->phase != PH_HANDSHAKE)
			return;
		/* FALLTHROUGH */
	case PH_HANDSHAKE:
		if (do_handshake(ss) < 0 || ss->phase != PH_HEADER)
			return;
		/* FALLTHROUGH */
	case PH_HEADER:
		if (do_header(ss) < 0 || ss->phase != PH_PIPE)
			return;
		/* FALLTHROUGH */
	case PH_PIPE:
		do_pipe(ss);
		return;
	case PH_READY: {
		/* The ingress closed an idle pooled connection (or spoke out
		 * of turn): drop it and refill later. */
		tunnel_t *t = ss->t;

		log_debug("tunnel: a pooled connection was closed by the ingress");
		sess_free(ss);
		pool_backoff(t);
		return;
	}
	default:
		return;
	}
}

/* --- the stream seam ----------------------------------------------------- */

/* The seam's calls never fail the session synchronously: work is kicked
 * to the loop (write readiness of a connected socket is immediate). */
static void
kick(struct session *ss)
{
	if (ss->phase == PH_PIPE)
		set_interest(ss, ss->interest | LOOP_WRITE);
}

static ssize_t
back_send(void *self, const void *buf, size_t len)
{
	struct session *ss = self;
	size_t n;

	if (ss->app_fin)
		return -EPIPE;
	n = buf_append(&ss->up, buf, len, ss->up_inflight);
	if (n < len)
		ss->up_refused = 1;
	if (n > 0)
		kick(ss);
	return (ssize_t)n;
}

static void
back_resume(void *self)
{
	struct session *ss = self;

	ss->front_full = 0;
	kick(ss);
}

static void
back_shutdown(void *self)
{
	struct session *ss = self;

	ss->app_fin = 1;
	kick(ss);
}

static void
back_abort(void *self, int err)
{
	struct session *ss = self;

	log_debug("stream %llu to %s:%u: the application reset the connection",
	    (unsigned long long)ss->s->id, ss->host, ss->port);
	(void)err;
	sess_free(ss);
}

static const struct stream_ops back_ops = {
	.send = back_send,
	.resume = back_resume,
	.shutdown = back_shutdown,
	.abort = back_abort,
};

/* A session not yet attached to a stream; NULL on allocation failure. */
static struct session *
sess_alloc(tunnel_t *t, const char *host, uint16_t port, const char *endpoint_id,
    struct endpoint_stats *stats)
{
	static struct endpoint_stats sink;
	struct session *ss;
	size_t cap = t->p.stream_buffer > HDR_MAX ? t->p.stream_buffer : HDR_MAX;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return NULL;
	ss->t = t;
	ss->fd = -1;
	ss->port = port;
	ss->stats = stats != NULL ? stats : &sink;
	loop_timer_init(&ss->timer, on_timer, ss);
	if ((ss->host = strdup(host)) == NULL ||
	    (ss->endpoint_id = strdup(endpoint_id != NULL ? endpoint_id : "-")) == NULL ||
	    (ss->hdr = malloc(REQ_MAX)) == NULL ||
	    buf_init(&ss->up, t->p.stream_buffer) != 0 ||
	    buf_init(&ss->down, cap) != 0) {
		free(ss->host);
		free(ss->endpoint_id);
		free(ss->hdr);
		free(ss->up.data);
		free(ss->down.data);
		free(ss);
		return NULL;
	}
	ss->next = t->sessions;
	if (t->sessions != NULL)
		t->sessions->prev = ss;
	t->sessions = ss;
	t->stats.sessions_active++;
	t->stats.sessions_total++;
	ss->phase = PH_RESOLVE;
	return ss;
}

static void
sess_attach(struct session *ss, stream_t *s)
{
	ss->stats->streams_active++;
	ss->stats->streams_total++;
	ss->s = s;
	stream_attach_back(s, &back_ops, ss);
}

/* --- the pool of ready sessions ------------------------------------------ */

static void
pool_fill(tunnel_t *t)
{
	struct session *ss;

	while (t->p.pool_size > 0 &&
	    t->pool_ready + t->pool_warming < t->p.pool_size &&
	    !loop_timer_armed(&t->pool_timer)) {
		if ((ss = sess_alloc(t, "(pool)", 0, "pool", NULL)) == NULL)
			return;
		ss->pooled = 1;
		t->pool_warming++;
		arm_phase_timer(ss, t->p.connect_timeout_ms);
		sess_connect(ss);
	}
}

static void
pool_backoff(tunnel_t *t)
{
	t->pool_backoff_ms = t->pool_backoff_ms == 0 ? POOL_BACKOFF_MIN_MS :
	    t->pool_backoff_ms * 2;
	if (t->pool_backoff_ms > POOL_BACKOFF_MAX_MS)
		t->pool_backoff_ms = POOL_BACKOFF_MAX_MS;
	loop_timer_start(t->loop, &t->pool_timer, t->pool_backoff_ms);
}

static void
on_pool_timer(loop_t *loop, void *arg)
{
	(void)loop;
	pool_fill(arg);
}

static void
pool_drain(tunnel_t *t)
{
	struct session *ss, *next;

	for (ss = t->sessions; ss != NULL; ss = next) {
		next = ss->next;
		if (ss->pooled)
			sess_free(ss);
	}
}

/* Gives a ready session to s; 0, or -errno (then the caller connects). */
static int
pool_take(tunnel_t *t, stream_t *s, const char *host, uint16_t port,
    const char *endpoint_id, struct endpoint_stats *stats)
{
	struct session *ss = t->pool;
	char *h, *id;

	if (ss == NULL)
		return -ENOENT;
	if ((h = strdup(host)) == NULL ||
	    (id = strdup(endpoint_id != NULL ? endpoint_id : "-")) == NULL) {
		free(h);
		return -ENOMEM;
	}
	t->pool = ss->pool_next;
	t->pool_ready--;
	ss->pooled = 0;
	free(ss->host);
	free(ss->endpoint_id);
	ss->host = h;
	ss->endpoint_id = id;
	ss->port = port;
	ss->stats = stats;
	sess_attach(ss, s);
	if (start_header(ss) == 0)
		set_interest(ss, LOOP_WRITE);	/* do_header from the loop */
	pool_fill(t);
	return 0;
}

int
tunnel_open(tunnel_t *t, stream_t *s, const char *host, uint16_t port,
    const char *endpoint_id, struct endpoint_stats *stats)
{
	struct session *ss;

	if (stats != NULL && pool_take(t, s, host, port, endpoint_id, stats) == 0)
		return 0;
	if ((ss = sess_alloc(t, host, port, endpoint_id, stats)) == NULL)
		return -ENOMEM;
	sess_attach(ss, s);
	arm_phase_timer(ss, t->p.connect_timeout_ms);
	/* A synchronous failure aborts the front from inside its accept
	 * callback, which the lwIP front handles (it returns ERR_ABRT). */
	sess_connect(ss);
	pool_fill(t);
	return 0;
}
