/*
 * ngrokctl_check.c: `ngrokctl check` (see check.h).
 *
 * This runs in the ngrokctl process, so it may block; every blocking call
 * is bounded by the step's deadline instead: the name lookup runs on a
 * thread we stop waiting for, connect is non-blocking plus poll, and
 * wolfSSL talks to the socket through IO callbacks that poll up to the
 * deadline (SO_RCVTIMEO would bound each recv, not the handshake).
 *
 * TLS is set up as tunnel/tunnel.c's make_ctx and check_connect do it, so
 * a certificate the daemon would reject is rejected here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "control/check.h"
#include "control/control.h"
#include "daemon/config.h"
#include "tunnel/proto.h"

#define FILE_MAX	(64 * 1024)	/* a PEM certificate chain or key */
#define HDR_MAX		16384		/* ConnResponse payload, as the daemon */
#define REQ_MAX		512
#define WHY_LEN		1024
#define PROBE_MIN_MS	200		/* waiting for a client-cert alert */
#define PROBE_MAX_MS	2000

struct chk {
	const struct ctl_check_opts *o;
	FILE		*out;
	int		 failed;
	struct config	 cfg;
	int		 have_cfg;
	const char	*socket;
	cJSON		*status;	/* the status reply's data, or NULL */
	cJSON		*list;		/* the list reply's data, or NULL */
	char		 list_why[WHY_LEN];
	WOLFSSL_CTX	*ctx;		/* client cert loaded, verification set */
	char		 no_tls_why[WHY_LEN];	/* why ctx is NULL */
	char		*ingress_host;
	char		 ingress_port[8];
	struct addrinfo	*addrs;
};

/* One TLS connection to the ingress; the IO callbacks' context. */
struct conn {
	int		 fd;
	uint64_t	 deadline;	/* monotonic ms */
	int		 timed_out;
	int		 closed;	/* EOF or reset from the ingress */
	uint64_t	 rtt_ms;	/* the TCP connect took that long */
	WOLFSSL		*ssl;
	char		 addr[64];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
left_ms(uint64_t deadline)
{
	uint64_t n = now_ms();

	return n >= deadline ? 0 : (int)(deadline - n);
}

static void
line(struct chk *c, int ok, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints "ok   STEP: detail" or "FAILED STEP: why", one line. */
static void
line(struct chk *c, int ok, const char *step, const char *fmt, ...)
{
	char buf[1536], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Reasons quote the ingress and the daemon: keep it one line. */
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	fprintf(c->out, "%s %s%s%s\n", ok ? "ok  " : "FAILED", step,
	    buf[0] != '\0' ? ": " : "", buf);
	fflush(c->out);
	if (!ok)
		c->failed = 1;
}

static void
wipe(void *p, size_t n)
{
	static void *(*const volatile w)(void *, int, size_t) = memset;

	if (p != NULL)
		w(p, 0, n);
}

/* ---- config ------------------------------------------------------------- */

static int
step_config(struct chk *c)
{
	const char *path = c->o->config;
	char err[CFG_ERR_LEN];
	int r;

	if (path == NULL && access(CTL_CHECK_DEFAULT_CONFIG, F_OK) != 0) {
		if ((r = config_defaults(&c->cfg)) != 0) {
			line(c, 0, "config", "%s", strerror(-r));
			return -1;
		}
		c->have_cfg = 1;
		line(c, 1, "config", "no %s: the built-in defaults",
		    CTL_CHECK_DEFAULT_CONFIG);
		return 0;
	}
	if (path == NULL)
		path = CTL_CHECK_DEFAULT_CONFIG;
	if (config_load(&c->cfg, path, err, sizeof(err)) != 0) {
		line(c, 0, "config", "%s", err);
		return -1;
	}
	c->have_cfg = 1;
	line(c, 1, "config", "%s", path);
	return 0;
}

/* ---- the control socket ------------------------------------------------- */

static int
ctl_connect(const char *path, int timeout_s, char *why, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, len, "%s: path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(why, len, "socket: %s", strerror(errno));
		return -1;
	}
	/* The control server answers at once: a bound per call is enough. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		err = errno;
		close(fd);
		snprintf(why, len, "%s: %s%s", path, strerror(err),
		    err == ENOENT || err == ECONNREFUSED ? " (is ngrokd running?)" :
		    err == EACCES ? " (run ngrokctl check as root)" : "");
		return -1;
	}
	return fd;
}

static cJSON *
ctl_ask(int fd, const char *cmd, char *why, size_t wlen)
{
	char req[64], *raw;
	cJSON *reply, *data = NULL;
	const cJSON *err;
	int r;

	snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", cmd);
	if ((r = ctl_client_send(fd, req, strlen(req))) != 0) {
		snprintf(why, wlen, "%s", strerror(-r));
		return NULL;
	}
	if ((raw = ctl_client_recv_line(fd, why, wlen, &r)) == NULL)
		return NULL;
	reply = cJSON_Parse(raw);
	free(raw);
	if (!cJSON_IsObject(reply)) {
		snprintf(why, wlen, "malformed reply from ngrokd");
	} else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply,
	    "success"))) {
		err = cJSON_GetObjectItemCaseSensitive(reply, "error");
		snprintf(why, wlen, "%s: %s", cmd, cJSON_IsString(err) ?
		    err->valuestring : "refused");
	} else if ((data = cJSON_DetachItemFromObjectCaseSensitive(reply,
	    "data")) == NULL || !cJSON_IsObject(data)) {
		snprintf(why, wlen, "%s: reply without data", cmd);
		cJSON_Delete(data);
		data = NULL;
	}
	cJSON_Delete(reply);
	return data;
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int
jtrue(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- step: daemon ------------------------------------------------------- */

static void
judge_status(struct chk *c)
{
	const cJSON *st = c->status, *v;
	const char *err = jstr(st, "api_last_error");
	char ago[64] = "";

	if (!jtrue(st, "registered")) {
		if (!jtrue(st, "api_key_set"))
			line(c, 0, "daemon", "not registered and no API key "
			    "(ngrokctl set-api-key)");
		else
			line(c, 0, "daemon", "not registered%s%s", *err ? ": " : "",
			    err);
		return;
	}
	if (!jtrue(st, "api_healthy")) {
		line(c, 0, "daemon", "the ngrok API does not answer with the "
		    "key%s%s", *err ? ": " : "", *err ? err : "");
		return;
	}
	v = cJSON_GetObjectItemCaseSensitive(st, "last_poll_ok");
	if (cJSON_IsNumber(v) && v->valuedouble > 0)
		snprintf(ago, sizeof(ago), ", last poll %.0f s ago",
		    (double)time(NULL) - v->valuedouble);
	line(c, 1, "daemon", "registered as %s, API reachable with the key%s",
	    jstr(st, "operator_id"), ago);
}

static void
step_daemon(struct chk *c)
{
	char why[WHY_LEN];
	int fd;

	c->socket = c->o->socket != NULL ? c->o->socket :
	    c->have_cfg ? c->cfg.socket_path : CTL_DEFAULT_SOCKET;
	snprintf(c->list_why, sizeof(c->list_why), "the daemon step failed");
	if ((fd = ctl_connect(c->socket, c->o->timeout_s, why, sizeof(why))) < 0) {
		line(c, 0, "daemon", "%s", why);
		return;
	}
	if ((c->status = ctl_ask(fd, "status", why, sizeof(why))) == NULL) {
		line(c, 0, "daemon", "%s: %s", c->socket, why);
		close(fd);
		return;
	}
	judge_status(c);
	if ((c->list = ctl_ask(fd, "list", why, sizeof(why))) == NULL)
		snprintf(c->list_why, sizeof(c->list_why), "%s", why);
	close(fd);
}

/* ---- step: certificate -------------------------------------------------- */

/* Reads a whole small file; malloc'd (NUL-terminated) or NULL with why. */
static char *
slurp(const char *path, size_t *len, char *why, size_t wlen)
{
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd, err;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if ((buf = malloc(FILE_MAX + 1)) == NULL)
		goto fail;
	while (got < FILE_MAX && (n = read(fd, buf + got, FILE_MAX - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		got += (size_t)n;
	}
	if (got == FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
fail:
	err = errno;
	if (buf != NULL) {
		wipe(buf, FILE_MAX);
		free(buf);
	}
	if (fd != -1)
		close(fd);
	snprintf(why, wlen, "%s: %s%s", path, strerror(err),
	    err == EACCES && geteuid() != 0 ? " (run ngrokctl check as root)" :
	    err == ENOENT ? " (not registered yet?)" : "");
	return NULL;
}

static int
cert_date(const byte *raw, int rawlen, time_t *t)
{
	const byte *date;
	struct tm tm;
	byte fmt;
	int dlen;

	memset(&tm, 0, sizeof(tm));
	if (raw == NULL || wc_GetDateInfo(raw, rawlen, &date, &fmt, &dlen) != 0 ||
	    wc_GetDateAsCalendarTime(date, dlen, fmt, &tm) != 0)
		return -EINVAL;
	*t = timegm(&tm);
	return 0;
}

/* The first certificate's validity dates. */
static int
cert_dates(const char *pem, size_t len, time_t *before, time_t *after)
{
	struct DecodedCert dc;
	unsigned char *der;
	int n, r = -EINVAL;

	if ((der = malloc(len + 1)) == NULL)
		return -ENOMEM;
	n = wc_CertPemToDer((const unsigned char *)pem, (int)len, der, (int)len,
	    CERT_TYPE);
	if (n <= 0) {
		free(der);
		return -EINVAL;
	}
	wc_InitDecodedCert(&dc, der, (word32)n, NULL);
	if (wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) == 0 &&
	    cert_date(dc.beforeDate, dc.beforeDateLen, before) == 0 &&
	    cert_date(dc.afterDate, dc.afterDateLen, after) == 0)
		r = 0;
	wc_FreeDecodedCert(&dc);
	free(der);
	return r;
}

static const char *
tls_error(int err, char *buf)
{
	return wolfSSL_ERR_error_string((unsigned long)err, buf);
}

/* Loads the pair into a fresh context; 0 or -1 with why. */
static int
load_pair(struct chk *c, const char *cpem, size_t clen, const char *kpem,
    size_t klen, char *why, size_t wlen)
{
	const char *cert = c->cfg.client_cert, *key = c->cfg.client_key;
	char e[WOLFSSL_MAX_ERROR_SZ];
	int r;

	if ((c->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method())) == NULL) {
		snprintf(why, wlen, "wolfSSL_CTX_new failed");
		return -1;
	}
	if ((r = wolfSSL_CTX_use_certificate_chain_buffer(c->ctx,
	    (const unsigned char *)cpem, (long)clen)) != WOLFSSL_SUCCESS) {
		snprintf(why, wlen, "%s: not a PEM certificate (%s)", cert,
		    tls_error(r, e));
		return -1;
	}
	if ((r = wolfSSL_CTX_use_PrivateKey_buffer(c->ctx,
	    (const unsigned char *)kpem, (long)klen, WOLFSSL_FILETYPE_PEM)) !=
	    WOLFSSL_SUCCESS) {
		snprintf(why, wlen, "%s: not a PEM private key (%s)", key,
		    tls_error(r, e));
		return -1;
	}
	if (wolfSSL_CTX_check_private_key(c->ctx) != WOLFSSL_SUCCESS) {
		snprintf(why, wlen, "the key %s does not match the certificate "
		    "%s", key, cert);
		return -1;
	}
	return 0;
}

static void
judge_dates(struct chk *c, const char *cpem, size_t clen)
{
	time_t before, after, now = time(NULL);
	char d[32];
	struct tm tm;
	long days;

	if (cert_dates(cpem, clen, &before, &after) != 0) {
		line(c, 0, "certificate", "%s: cannot read its validity dates",
		    c->cfg.client_cert);
		return;
	}
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M UTC", gmtime_r(&after, &tm));
	if (now < before) {
		line(c, 0, "certificate", "%s is not valid yet (from %.0f s "
		    "from now; is the clock right?)", c->cfg.client_cert,
		    difftime(before, now));
		return;
	}
	if (now >= after) {
		line(c, 0, "certificate", "%s expired on %s (ngrokctl "
		    "refresh-cert)", c->cfg.client_cert, d);
		return;
	}
	days = (long)((after - now) / 86400);
	line(c, 1, "certificate", "%s, key matches, valid for %ld more day%s "
	    "(until %s)%s", c->cfg.client_cert, days, days == 1 ? "" : "s", d,
	    days < 7 ? "; due for renewal" : "");
}

static void
step_certificate(struct chk *c)
{
	char why[WHY_LEN], *cpem = NULL, *kpem = NULL;
	size_t clen = 0, klen = 0;

	if (!c->have_cfg) {
		snprintf(c->no_tls_why, sizeof(c->no_tls_why), "no configuration");
		line(c, 0, "certificate", "not tried: no configuration");
		return;
	}
	if ((cpem = slurp(c->cfg.client_cert, &clen, why, sizeof(why))) == NULL ||
	    (kpem = slurp(c->cfg.client_key, &klen, why, sizeof(why))) == NULL ||
	    load_pair(c, cpem, clen, kpem, klen, why, sizeof(why)) != 0) {
		line(c, 0, "certificate", "%s", why);
		snprintf(c->no_tls_why, sizeof(c->no_tls_why), "no usable client "
		    "certificate");
		if (c->ctx != NULL) {
			wolfSSL_CTX_free(c->ctx);
			c->ctx = NULL;
		}
	} else {
		judge_dates(c, cpem, clen);
	}
	if (kpem != NULL) {
		wipe(kpem, klen);
		free(kpem);
	}
	free(cpem);
}

/* ---- TCP and TLS with deadlines ----------------------------------------- */

/* getaddrinfo cannot be given a timeout: it runs on a thread that we stop
 * waiting for at the deadline.  Whoever lets go last frees the job. */
struct gai_job {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 refs, done, err;
	char		*host, *port;
	struct addrinfo	*res;
};

static void
gai_unref(struct gai_job *j)
{
	int last;

	pthread_mutex_lock(&j->mu);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (!last)
		return;
	if (j->res != NULL)
		freeaddrinfo(j->res);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j->host);
	free(j->port);
	free(j);
}

static void *
gai_run(void *arg)
{
	struct gai_job *j = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	int err = getaddrinfo(j->host, j->port, &hints, &res);

	pthread_mutex_lock(&j->mu);
	j->res = res;
	j->err = err;
	j->done = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	gai_unref(j);
	return NULL;
}

static struct gai_job *
gai_start(const char *host, const char *port)
{
	struct gai_job *j = calloc(1, sizeof(*j));
	pthread_t th;

	if (j == NULL)
		return NULL;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->refs = 2;
	j->host = strdup(host);
	j->port = strdup(port);
	if (j->host == NULL || j->port == NULL ||
	    pthread_create(&th, NULL, gai_run, j) != 0) {
		j->refs = 1;
		gai_unref(j);
		return NULL;
	}
	pthread_detach(th);
	return j;
}

/* 0 and *res (caller frees), or -1 with why. */
static int
resolve(const char *host, const char *port, uint64_t deadline,
    struct addrinfo **res, char *why, size_t wlen)
{
	struct gai_job *j = gai_start(host, port);
	struct timespec ts;
	int r = -1;

	if (j == NULL) {
		snprintf(why, wlen, "cannot start the name lookup: %s",
		    strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += left_ms(deadline) / 1000;
	ts.tv_nsec += (long)(left_ms(deadline) % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->mu);
	while (!j->done)
		if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT)
			break;
	if (!j->done) {
		snprintf(why, wlen, "looking up %s: timed out", host);
	} else if (j->err != 0) {
		snprintf(why, wlen, "looking up %s: %s", host, j->err ==
		    EAI_SYSTEM ? strerror(errno) : gai_strerror(j->err));
	} else {
		*res = j->res;
		j->res = NULL;
		r = 0;
	}
	pthread_mutex_unlock(&j->mu);
	gai_unref(j);
	return r;
}

static void
addr_name(const struct addrinfo *ai, char *buf, size_t len)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, (socklen_t)len, NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(buf, len, "?");
}

/* One address: a non-blocking connected socket, or -errno. */
static int
tcp_connect_one(const struct addrinfo *ai, uint64_t deadline)
{
	struct pollfd pfd;
	socklen_t elen = sizeof(int);
	int fd, err = 0, one = 1, n;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		err = errno;
		goto fail;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		n = poll(&pfd, 1, left_ms(deadline));
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		err = ETIMEDOUT;
		goto fail;
	}
	if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
		err = errno;
	if (err == 0)
		return fd;
fail:
	close(fd);
	return -err;
}

/* Tries each address until one answers; 0 or -1 with why. */
static int
tcp_connect(struct chk *c, struct conn *cn, char *why, size_t wlen)
{
	const struct addrinfo *ai;
	uint64_t t0;
	int fd = -ECONNREFUSED;

	for (ai = c->addrs; ai != NULL && left_ms(cn->deadline) > 0;
	    ai = ai->ai_next) {
		addr_name(ai, cn->addr, sizeof(cn->addr));
		t0 = now_ms();
		if ((fd = tcp_connect_one(ai, cn->deadline)) >= 0) {
			cn->fd = fd;
			cn->rtt_ms = now_ms() - t0;
			return 0;
		}
	}
	if (left_ms(cn->deadline) == 0)
		fd = -ETIMEDOUT;
	snprintf(why, wlen, "connect to %s:%s (%s): %s", c->ingress_host,
	    c->ingress_port, cn->addr, fd == -ETIMEDOUT ? "timed out" :
	    strerror(-fd));
	return -1;
}

/* Waits for fd to be ready for events until cn's deadline; 1 ready, 0 not. */
static int
io_wait(struct conn *cn, short events)
{
	struct pollfd pfd = { .fd = cn->fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, left_ms(cn->deadline));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		cn->timed_out = 1;
	return n > 0;
}

static int
io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct conn *cn = arg;
	ssize_t n;

	(void)ssl;
	for (;;) {
		n = recv(cn->fd, buf, (size_t)sz, 0);
		if (n > 0)
			return (int)n;
		if (n == 0) {
			cn->closed = 1;
			return WOLFSSL_CBIO_ERR_CONN_CLOSE;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			cn->closed = 1;
			return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST :
			    WOLFSSL_CBIO_ERR_GENERAL;
		}
		/* Past the deadline: WANT_READ ends the caller's attempt. */
		if (!io_wait(cn, POLLIN))
			return WOLFSSL_CBIO_ERR_WANT_READ;
	}
}

static int
io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct conn *cn = arg;
	ssize_t n;

	(void)ssl;
	for (;;) {
		n = send(cn->fd, buf, (size_t)sz, MSG_NOSIGNAL);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			cn->closed = 1;
			return errno == ECONNRESET || errno == EPIPE ?
			    WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
		}
		if (!io_wait(cn, POLLOUT))
			return WOLFSSL_CBIO_ERR_WANT_WRITE;
	}
}

static const char *
alert_name(int code)
{
	switch (code) {
	case bad_certificate:		return "bad_certificate";
	case unsupported_certificate:	return "unsupported_certificate";
	case certificate_revoked:	return "certificate_revoked";
	case certificate_expired:	return "certificate_expired";
	case certificate_unknown:	return "certificate_unknown";
	case unknown_ca:		return "unknown_ca";
	case access_denied:		return "access_denied";
	case certificate_required:	return "certificate_required";
	case decrypt_error:		return "decrypt_error";
	default:			return NULL;
	}
}

/*
 * After a post-handshake message (a TLS 1.3 session ticket) wolfSSL_read
 * and _peek return WANT_READ although the socket is not out of time: call
 * again.  Our IO callbacks only say WANT_* at the deadline (timed_out).
 */
static int
again(struct conn *cn, int r)
{
	int err = wolfSSL_get_error(cn->ssl, r);

	return (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) &&
	    !cn->timed_out && left_ms(cn->deadline) > 0;
}

/* Says in words why a TLS call failed, as tunnel.c's tls_failure does. */
static void
tls_failure(struct chk *c, struct conn *cn, int err, char *why, size_t wlen)
{
	WOLFSSL_ALERT_HISTORY h;
	char e[WOLFSSL_MAX_ERROR_SZ];
	const char *what;

	if (cn->timed_out) {
		snprintf(why, wlen, "no answer from %s (%s) within %d s",
		    c->ingress_host, cn->addr, c->o->timeout_s);
		return;
	}
	switch (err) {
	case ASN_NO_SIGNER_E:
		snprintf(why, wlen, "the ingress certificate is not trusted (no "
		    "CA in the system store or tls.ca_file signed it)");
		return;
	case DOMAIN_NAME_MISMATCH:
		snprintf(why, wlen, "the ingress certificate's names do not "
		    "include %s", c->ingress_host);
		return;
	case ASN_AFTER_DATE_E:
		snprintf(why, wlen, "the ingress certificate has expired");
		return;
	case ASN_BEFORE_DATE_E:
		snprintf(why, wlen, "the ingress certificate is not valid yet");
		return;
	default:
		break;
	}
	memset(&h, 0, sizeof(h));
	if (wolfSSL_get_alert_history(cn->ssl, &h) == WOLFSSL_SUCCESS &&
	    (what = alert_name(h.last_rx.code)) != NULL) {
		snprintf(why, wlen, "the ingress refused our client certificate "
		    "(TLS alert %s)", what);
		return;
	}
	if (cn->closed) {
		snprintf(why, wlen, "the ingress closed the connection (%s)",
		    tls_error(err, e));
		return;
	}
	snprintf(why, wlen, "%s", tls_error(err, e));
}

static void
conn_close(struct conn *cn)
{
	if (cn->ssl != NULL) {
		/* Best effort close_notify; never wait for the ingress's. */
		if (!cn->closed && !cn->timed_out)
			wolfSSL_shutdown(cn->ssl);
		wolfSSL_free(cn->ssl);
		cn->ssl = NULL;
	}
	if (cn->fd >= 0)
		close(cn->fd);
	cn->fd = -1;
}

/* TCP connect + TLS handshake by the deadline; 0 or -1 with why. */
static int
tls_open(struct chk *c, struct conn *cn, char *why, size_t wlen)
{
	const char *host = c->ingress_host;
	int r;

	if (tcp_connect(c, cn, why, wlen) != 0)
		return -1;
	if ((cn->ssl = wolfSSL_new(c->ctx)) == NULL ||
	    wolfSSL_UseSNI(cn->ssl, WOLFSSL_SNI_HOST_NAME, host,
	    (unsigned short)strlen(host)) != WOLFSSL_SUCCESS ||
	    (!c->cfg.insecure_skip_verify &&
	    wolfSSL_check_domain_name(cn->ssl, host) != WOLFSSL_SUCCESS)) {
		snprintf(why, wlen, "cannot set up TLS");
		return -1;
	}
	wolfSSL_SSLSetIORecv(cn->ssl, io_recv);
	wolfSSL_SSLSetIOSend(cn->ssl, io_send);
	wolfSSL_SetIOReadCtx(cn->ssl, cn);
	wolfSSL_SetIOWriteCtx(cn->ssl, cn);
	if ((r = wolfSSL_connect(cn->ssl)) != WOLFSSL_SUCCESS) {
		tls_failure(c, cn, wolfSSL_get_error(cn->ssl, r), why, wlen);
		return -1;
	}
	return 0;
}

/* ---- step: ingress ------------------------------------------------------ */

static int
split_ingress(struct chk *c, const char *in, char *why, size_t wlen)
{
	const char *colon = strrchr(in, ':');
	char *end;
	long v;

	if (colon == NULL || colon == in || strlen(in) > 300) {
		snprintf(why, wlen, "\"%s\" is not host:port", in);
		return -1;
	}
	v = strtol(colon + 1, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535) {
		snprintf(why, wlen, "\"%s\": bad port", in);
		return -1;
	}
	if ((c->ingress_host = strndup(in, (size_t)(colon - in))) == NULL) {
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	snprintf(c->ingress_port, sizeof(c->ingress_port), "%ld", v);
	return 0;
}

/* Verification as tunnel.c's make_ctx sets it up. */
static int
set_verify(struct chk *c, char *why, size_t wlen)
{
	char e[WOLFSSL_MAX_ERROR_SZ];
	int r;

	wolfSSL_CTX_SetMinVersion(c->ctx, WOLFSSL_TLSV1_2);
	if (c->cfg.insecure_skip_verify) {
		wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_NONE, NULL);
		return 0;
	}
	/* No system store is not an error: tls.ca_file may be enough. */
	(void)wolfSSL_CTX_load_system_CA_certs(c->ctx);
	if (c->cfg.ca_file != NULL && (r = wolfSSL_CTX_load_verify_locations(
	    c->ctx, c->cfg.ca_file, NULL)) != WOLFSSL_SUCCESS) {
		snprintf(why, wlen, "tls.ca_file %s: %s", c->cfg.ca_file,
		    tls_error(r, e));
		return -1;
	}
	wolfSSL_CTX_set_verify(c->ctx, WOLFSSL_VERIFY_PEER, NULL);
	return 0;
}

/*
 * In TLS 1.3 the ingress judges our certificate after our Finished: the
 * handshake "succeeds" here and the refusal comes as an alert.  Wait a
 * little for it (a few round trips, bounded) so that this step, not the
 * first endpoint, names the problem.  0 accepted, -1 refused (why set).
 */
static int
probe_alert(struct chk *c, struct conn *cn, char *why, size_t wlen)
{
	uint64_t wait = 4 * cn->rtt_ms + PROBE_MIN_MS, saved = cn->deadline;
	char b;
	int r, err;

	if (wait > PROBE_MAX_MS)
		wait = PROBE_MAX_MS;
	if (now_ms() + wait < cn->deadline)
		cn->deadline = now_ms() + wait;
	do
		r = wolfSSL_peek(cn->ssl, &b, 1);
	while (r <= 0 && again(cn, r));
	cn->deadline = saved;
	if (r > 0)
		return 0;
	err = wolfSSL_get_error(cn->ssl, r);
	if (err == WOLFSSL_ERROR_WANT_READ && cn->timed_out) {
		cn->timed_out = 0;
		return 0;
	}
	tls_failure(c, cn, err, why, wlen);
	return -1;
}

static void
step_ingress(struct chk *c)
{
	struct conn cn = { .fd = -1 };
	const char *in = c->status != NULL && *jstr(c->status, "ingress_endpoint") ?
	    jstr(c->status, "ingress_endpoint") : c->have_cfg ?
	    c->cfg.ingress_endpoint : NULL;
	char why[WHY_LEN];
	uint64_t t0 = now_ms(), hs_ms = 0;

	if (c->ctx == NULL) {
		line(c, 0, "ingress", "not tried: %s", c->no_tls_why);
		return;
	}
	cn.deadline = t0 + (uint64_t)c->o->timeout_s * 1000u;
	if (in == NULL || *in == '\0') {
		snprintf(why, sizeof(why), "no ingress endpoint known");
		goto fail;
	}
	if (split_ingress(c, in, why, sizeof(why)) != 0 ||
	    set_verify(c, why, sizeof(why)) != 0 ||
	    resolve(c->ingress_host, c->ingress_port, cn.deadline, &c->addrs,
	    why, sizeof(why)) != 0 ||
	    tls_open(c, &cn, why, sizeof(why)) != 0 ||
	    (hs_ms = now_ms() - t0, probe_alert(c, &cn, why, sizeof(why))) != 0)
		goto fail;
	line(c, 1, "ingress", "%s (%s): %s %s, %s, client certificate "
	    "accepted, handshake %llu ms", in, cn.addr, wolfSSL_get_version(cn.ssl),
	    wolfSSL_get_cipher(cn.ssl), c->cfg.insecure_skip_verify ?
	    "certificate NOT verified (tls.insecure_skip_verify)" :
	    "certificate verified", (unsigned long long)hs_ms);
	conn_close(&cn);
	return;
fail:
	line(c, 0, "ingress", "%s%s%s", in != NULL ? in : "", in != NULL ?
	    ": " : "", why);
	conn_close(&cn);
	/* The endpoint steps would only repeat the same failure. */
	snprintf(c->no_tls_why, sizeof(c->no_tls_why), "the ingress step failed");
	if (c->ctx != NULL) {
		wolfSSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
}

/* ---- step: endpoint ----------------------------------------------------- */

static int
write_all(struct chk *c, struct conn *cn, const uint8_t *p, int n, char *why,
    size_t wlen)
{
	int w;

	while (n > 0) {
		if ((w = wolfSSL_write(cn->ssl, p, n)) <= 0 && again(cn, w))
			continue;
		if (w <= 0) {
			tls_failure(c, cn, wolfSSL_get_error(cn->ssl, w), why, wlen);
			return -1;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/* Reads one framed ConnResponse into buf (HDR_MAX + PROTO_FRAME_HDR bytes);
 * its total size or -1 with why.  Reads no byte past the frame. */
static int
read_frame(struct chk *c, struct conn *cn, uint8_t *buf, char *why, size_t wlen)
{
	size_t got = 0, want = PROTO_FRAME_HDR;
	int r, n, err;

	while ((r = proto_frame_need(buf, got, HDR_MAX)) == 0) {
		if (got >= PROTO_FRAME_HDR)
			want = PROTO_FRAME_HDR + ((size_t)buf[0] | (size_t)buf[1] << 8);
		n = wolfSSL_read(cn->ssl, buf + got, (int)(want - got));
		if (n <= 0 && again(cn, n))
			continue;
		if (n <= 0) {
			err = wolfSSL_get_error(cn->ssl, n);
			if (err == WOLFSSL_ERROR_ZERO_RETURN)
				snprintf(why, wlen, "the ingress closed the "
				    "connection before its ConnResponse");
			else
				tls_failure(c, cn, err, why, wlen);
			return -1;
		}
		got += (size_t)n;
	}
	if (r < 0)
		snprintf(why, wlen, "the ingress announced a %u-byte "
		    "ConnResponse (more than %d)", (unsigned)buf[0] |
		    (unsigned)buf[1] << 8, HDR_MAX);
	return r < 0 ? -1 : r;
}

/* One endpoint: a fresh connection and a ConnRequest; prints its line. */
static void
check_endpoint(struct chk *c, const char *host, long port)
{
	struct conn cn = { .fd = -1 };
	uint8_t req[REQ_MAX], *resp = NULL;
	struct proto_conn_response cr;
	char step[300], why[WHY_LEN];
	uint64_t t0 = now_ms();
	int n;

	snprintf(step, sizeof(step), "endpoint %s:%ld", host, port);
	if (c->ctx == NULL) {
		line(c, 0, step, "not tried: %s", c->no_tls_why);
		return;
	}
	cn.deadline = t0 + (uint64_t)c->o->timeout_s * 1000u;
	if ((n = proto_conn_request_encode(req, sizeof(req), host, port)) < 0) {
		snprintf(why, sizeof(why), "cannot encode a ConnRequest: %s",
		    strerror(-n));
		goto fail;
	}
	if ((resp = malloc(HDR_MAX + PROTO_FRAME_HDR)) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	if (tls_open(c, &cn, why, sizeof(why)) != 0 ||
	    write_all(c, &cn, req, n, why, sizeof(why)) != 0 ||
	    (n = read_frame(c, &cn, resp, why, sizeof(why))) < 0)
		goto fail;
	if (proto_conn_response_decode(resp + PROTO_FRAME_HDR,
	    (size_t)n - PROTO_FRAME_HDR, &cr) != 0) {
		snprintf(why, sizeof(why), "the ingress sent a ConnResponse that "
		    "does not parse");
		goto fail;
	}
	if (proto_conn_response_refused(&cr)) {
		snprintf(why, sizeof(why), "refused by the ingress: %s%s%s",
		    cr.error_code[0] ? cr.error_code : "(no code)",
		    cr.error_message[0] ? ": " : "", cr.error_message);
		goto fail;
	}
	line(c, 1, step, "accepted as %s (%s), %llu ms%s%s",
	    cr.endpoint_id[0] ? cr.endpoint_id : "(no id)",
	    cr.proto[0] ? cr.proto : "no proto", (unsigned long long)(now_ms() -
	    t0), cr.n_notices > 0 ? "; notice: " : "",
	    cr.n_notices > 0 ? cr.notices[0] : "");
	goto out;
fail:
	line(c, 0, step, "%s", why);
out:
	free(resp);
	conn_close(&cn);
}

static int
wanted(const struct chk *c, const cJSON *ep)
{
	const char *only = c->o->only;

	return only == NULL || strcmp(only, jstr(ep, "hostname")) == 0 ||
	    strcmp(only, jstr(ep, "id")) == 0;
}

static void
step_endpoints(struct chk *c)
{
	const cJSON *eps, *ep, *port;
	const char *host;
	int n = 0;

	if (c->list == NULL) {
		line(c, 0, "endpoints", "not tried: %s", c->list_why);
		return;
	}
	eps = cJSON_GetObjectItemCaseSensitive(c->list, "endpoints");
	if (!cJSON_IsArray(eps)) {
		line(c, 0, "endpoints", "ngrokd's list has no endpoints array");
		return;
	}
	cJSON_ArrayForEach(ep, eps) {
		if (!wanted(c, ep))
			continue;
		n++;
		host = jstr(ep, "hostname");
		port = cJSON_GetObjectItemCaseSensitive(ep, "port");
		if (*host == '\0' || strlen(host) > PROTO_HOST_MAX ||
		    !cJSON_IsNumber(port) || port->valuedouble < 1 ||
		    port->valuedouble > 65535) {
			line(c, 0, "endpoint", "%s: ngrokd listed it without a "
			    "usable host name and port", jstr(ep, "id"));
			continue;
		}
		check_endpoint(c, host, (long)port->valuedouble);
	}
	if (n > 0)
		return;
	if (c->o->only != NULL)
		line(c, 0, "endpoints", "%s is not among ngrokd's endpoints "
		    "(ngrokctl list)", c->o->only);
	else
		line(c, 1, "endpoints", "none bound to this operator: nothing "
		    "to connect to");
}

/* ---- the whole check ---------------------------------------------------- */

int
ctl_check_run(const struct ctl_check_opts *o, FILE *out)
{
	struct chk c;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.out = out;
	wolfSSL_Init();
	step_config(&c);
	step_daemon(&c);
	step_certificate(&c);
	step_ingress(&c);
	step_endpoints(&c);
	if (c.ctx != NULL)
		wolfSSL_CTX_free(c.ctx);
	if (c.addrs != NULL)
		freeaddrinfo(c.addrs);
	free(c.ingress_host);
	cJSON_Delete(c.status);
	cJSON_Delete(c.list);
	if (c.have_cfg)
		config_free(&c.cfg);
	wolfSSL_Cleanup();
	return c.failed ? 1 : 0;
}
