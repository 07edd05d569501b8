/*
 * health.c: the HTTP listener for probes and scrapes.
 *
 * Each client goes through three states on the loop: READ (bytes into a
 * fixed HEALTH_MAX_REQUEST buffer until the headers end or the parser
 * objects), WRITE (one response, built whole in memory), DRAIN (our side
 * shut down; read and discard until the peer closes, so that closing with
 * unread bytes does not turn into a RST that destroys the response before
 * the peer reads it).  One deadline covers the whole life of a client, so a
 * slow or silent peer holds a slot for at most timeout_ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "daemon/health.h"
#include "daemon/log.h"

#define MAX_HEADERS	100
#define ACCEPT_BATCH	16
#define ACCEPT_PAUSE_MS	100	/* out of fds: let some close first */
#define DRAIN_MS	1000
#define DRAIN_MAX	65536	/* discarded bytes before we stop waiting */

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0		/* macOS: SIGPIPE is ignored by the daemon */
#endif

enum cstate { CS_READ, CS_WRITE, CS_DRAIN };

struct hclient {
	struct health	*hs;
	struct hclient	*next, *prev;
	int		 fd;
	enum cstate	 state;
	char		 rbuf[HEALTH_MAX_REQUEST];
	size_t		 rlen;
	char		*wbuf;
	size_t		 woff, wlen;
	size_t		 drained;
	loop_timer_t	 deadline;
};

struct health {
	loop_t			*loop;
	struct health_handlers	 h;
	int			 lfd;
	uint16_t		 port;
	struct hclient		*clients;
	unsigned		 nclients;
	unsigned		 max_clients;
	uint32_t		 timeout_ms;
	loop_timer_t		 accept_pause;
};

/* ---- request parser ------------------------------------------------------ */

static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values: HTAB, SP, VCHAR and obs-text (RFC 9110 5.5). */
static int
is_fchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Could a line that has not ended yet still become valid?  A CR may only
 * be the last byte (the LF has not arrived). */
static int
partial_ok(const char *p, size_t n, int first)
{
	size_t i;
	int in_method = first;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r' && i == n - 1)
			return 1;
		if (first) {
			if (in_method && c == ' ' && i > 0)
				in_method = 0;
			else if (in_method ? !is_tchar(c) : (c < 0x20 || c > 0x7e))
				return 0;
		} else if (!is_fchar(c) || (i == 0 && (c == ' ' || c == '\t')))
			return 0;
	}
	return 1;
}

static int
parse_version(const char *v, size_t n, struct health_request *req)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
	    v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
		return 400;
	if (v[5] != '1')
		return 505;
	req->http10 = v[7] == '0';
	return 0;
}

static void
set_path(const char *t, size_t n, struct health_request *req)
{
	const char *q = memchr(t, '?', n);

	if (q != NULL)
		n = (size_t)(q - t);
	if (n >= sizeof(req->path)) {
		req->path_too_long = 1;
		n = 0;
	}
	memcpy(req->path, t, n);
	req->path[n] = '\0';
}

/* "METHOD SP origin-form SP HTTP/d.d", single spaces, nothing else. */
static int
parse_request_line(const char *p, size_t n, struct health_request *req)
{
	const char *sp1, *sp2, *t;
	size_t mlen, tlen, i;
	int r;

	if ((sp1 = memchr(p, ' ', n)) == NULL)
		return 400;
	mlen = (size_t)(sp1 - p);
	t = sp1 + 1;
	if ((sp2 = memchr(t, ' ', n - mlen - 1)) == NULL)
		return 400;
	tlen = (size_t)(sp2 - t);
	if (mlen == 0 || tlen == 0 || t[0] != '/')
		return 400;
	for (i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)p[i]))
			return 400;
	for (i = 0; i < tlen; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return 400;
	if ((r = parse_version(sp2 + 1, n - mlen - tlen - 2, req)) != 0)
		return r;
	if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		req->head = 1;
	else if (mlen != 3 || memcmp(p, "GET", 3) != 0)
		return 405;
	set_path(t, tlen, req);
	return 0;
}

/* A request may not carry a body: nothing here would read it. */
static int
check_body_headers(const char *name, size_t nlen, const char *v, size_t vlen)
{
	size_t i;

	if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0)
		return 400;
	if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
		if (vlen == 0)
			return 400;
		for (i = 0; i < vlen; i++)
			if (v[i] != '0')
				return 400;
	}
	return 0;
}

/* "name: value", no space before the colon, no obs-fold. */
static int
parse_header(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n), *v, *end = p + n;
	size_t nlen, i;

	if (colon == NULL || colon == p)
		return 400;
	nlen = (size_t)(colon - p);
	for (i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)p[i]))
			return 400;
	for (v = colon + 1; v < end; v++)
		if (!is_fchar((unsigned char)*v))
			return 400;
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return check_body_headers(p, nlen, v, (size_t)(end - v));
}

/* The line at p: its length without the line end, and where the next line
 * starts; 0 when it has not ended within n bytes. */
static int
next_line(const char *p, size_t n, size_t *llen, size_t *adv)
{
	const char *nl = memchr(p, '\n', n);

	if (nl == NULL)
		return 0;
	*adv = (size_t)(nl - p) + 1;
	*llen = (size_t)(nl - p);
	if (*llen > 0 && p[*llen - 1] == '\r')
		(*llen)--;
	return 1;
}

int
health_parse_request(const char *buf, size_t len, struct health_request *req)
{
	size_t pos = 0, llen, adv, nhdr = 0, i;
	int r, first = 1;

	memset(req, 0, sizeof(*req));
	if (len > HEALTH_MAX_REQUEST)
		len = HEALTH_MAX_REQUEST;
	while (next_line(buf + pos, len - pos, &llen, &adv)) {
		/* A bare CR inside a line is a CTL, never a line end. */
		for (i = 0; i < llen; i++)
			if (buf[pos + i] == '\r')
				return 400;
		if (first) {
			if ((r = parse_request_line(buf + pos, llen, req)) != 0)
				return r;
			first = 0;
		} else if (llen == 0) {
			req->consumed = pos + adv;
			return HEALTH_PARSE_OK;
		} else if ((r = parse_header(buf + pos, llen)) != 0)
			return r;
		else if (++nhdr > MAX_HEADERS)
			return 431;
		pos += adv;
	}
	if (!partial_ok(buf + pos, len - pos, first))
		return 400;
	return len >= HEALTH_MAX_REQUEST ? 431 : 0;
}

/* ---- responses ----------------------------------------------------------- */

static const char *
reason_phrase(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* The whole response in one malloc'd buffer; NULL when out of memory. */
static char *
build_response(int code, const char *ctype, const char *body, size_t blen,
    int head, size_t *outlen)
{
	char hdr[512];
	char *out;
	int n;

	n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Connection: close\r\n\r\n",
	    code, reason_phrase(code), ctype, blen,
	    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return NULL;
	if (head)
		blen = 0;
	if ((out = malloc((size_t)n + blen + 1)) == NULL)
		return NULL;
	memcpy(out, hdr, (size_t)n);
	if (blen > 0)
		memcpy(out + n, body, blen);
	out[(size_t)n + blen] = '\0';
	*outlen = (size_t)n + blen;
	return out;
}

static const char text_plain[] = "text/plain; charset=utf-8";

static char *
text_response(int code, const char *msg, int head, size_t *outlen)
{
	char body[HEALTH_REASON_LEN + 2];
	int n = snprintf(body, sizeof(body), "%s\n", msg);

	if (n < 0)
		return NULL;
	if ((size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	return build_response(code, text_plain, body, (size_t)n, head, outlen);
}

static char *
serve_ready(struct health *hs, int head, size_t *outlen)
{
	char why[HEALTH_REASON_LEN];

	why[0] = '\0';
	if (hs->h.ready(hs->h.arg, why, sizeof(why)))
		return text_response(200, "ready", head, outlen);
	why[sizeof(why) - 1] = '\0';
	/* The reason is ours, but keep it to one line whatever a handler
	 * wrote, so that it cannot forge headers or a second response. */
	why[strcspn(why, "\r\n")] = '\0';
	return text_response(503, why[0] ? why : "not ready", head, outlen);
}

static char *
serve_status(struct health *hs, int head, size_t *outlen)
{
	cJSON *obj = cJSON_CreateObject();
	char *s = NULL, *out;
	int r;

	if (obj == NULL)
		return NULL;
	if ((r = hs->h.status(hs->h.arg, obj)) != 0) {
		cJSON_Delete(obj);
		log_warnx("health: /status: %s", strerror(-r));
		return text_response(500, "status unavailable", head, outlen);
	}
	s = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (s == NULL)
		return NULL;
	out = build_response(200, "application/json", s, strlen(s), head, outlen);
	free(s);
	return out;
}

static char *
serve_metrics(struct health *hs, int head, size_t *outlen)
{
	struct metrics_snapshot snap;
	char *text = NULL, *out;
	size_t tlen;
	int r;

	metrics_snapshot_init(&snap);
	r = hs->h.metrics(hs->h.arg, &snap);
	if (r == 0)
		r = metrics_render(&snap, &text, &tlen);
	metrics_snapshot_free(&snap);
	if (r != 0) {
		log_warnx("health: /metrics: %s", strerror(-r));
		return text_response(500, "metrics unavailable", head, outlen);
	}
	out = build_response(200, "text/plain; version=0.0.4; charset=utf-8",
	    text, tlen, head, outlen);
	free(text);
	return out;
}

static char *
route(struct health *hs, const struct health_request *req, size_t *outlen)
{
	const char *p = req->path;
	int head = req->head;

	if (req->path_too_long)
		return text_response(404, "not found", head, outlen);
	if (strcmp(p, "/healthz") == 0)
		return text_response(200, "ok", head, outlen);
	if (strcmp(p, "/readyz") == 0 && hs->h.ready != NULL)
		return serve_ready(hs, head, outlen);
	if (strcmp(p, "/status") == 0 && hs->h.status != NULL)
		return serve_status(hs, head, outlen);
	if (strcmp(p, "/metrics") == 0 && hs->h.metrics != NULL)
		return serve_metrics(hs, head, outlen);
	return text_response(404, "not found", head, outlen);
}

static const char *
error_text(int code)
{
	switch (code) {
	case 400: return "bad request";
	case 405: return "only GET and HEAD are served";
	case 408: return "request timeout";
	case 431: return "request headers too large";
	case 505: return "only HTTP/1.x is served";
	}
	return "error";
}

/* ---- clients ------------------------------------------------------------- */

static void
client_free(struct hclient *c)
{
	struct health *hs = c->hs;

	loop_timer_stop(hs->loop, &c->deadline);
	loop_del_fd(hs->loop, c->fd);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		hs->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	hs->nclients--;
	free(c->wbuf);
	free(c);
}

static void
client_drain_start(struct hclient *c)
{
	c->state = CS_DRAIN;
	shutdown(c->fd, SHUT_WR);
	loop_mod_fd(c->hs->loop, c->fd, LOOP_READ);
	/* Bounded by the client's deadline too: never extend it. */
	if (c->deadline.when_ms > loop_clock_ms() + DRAIN_MS)
		loop_timer_start(c->hs->loop, &c->deadline, DRAIN_MS);
}

/* 0, or -1 when the client was freed. */
static int
client_write(struct hclient *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			client_free(c);	/* the peer went away */
			return -1;
		}
		c->woff += (size_t)n;
	}
	free(c->wbuf);
	c->wbuf = NULL;
	client_drain_start(c);
	return 0;
}

static int
client_respond(struct hclient *c, char *resp, size_t len)
{
	if (resp == NULL) {
		log_warnx("health: out of memory answering a request");
		client_free(c);
		return -1;
	}
	c->wbuf = resp;
	c->wlen = len;
	c->woff = 0;
	c->state = CS_WRITE;
	loop_mod_fd(c->hs->loop, c->fd, LOOP_WRITE);
	return client_write(c);
}

static int
client_error(struct hclient *c, int code)
{
	size_t len = 0;
	char *resp = text_response(code, error_text(code), 0, &len);

	return client_respond(c, resp, len);
}

static void
client_read(struct hclient *c)
{
	struct health_request req;
	size_t len = 0;
	char *resp;
	ssize_t n;
	int r, first;

	n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_free(c);
		return;
	}
	if (n == 0) {
		client_free(c);	/* gave up before the end of its request */
		return;
	}
	/* Parsing starts over each time: do it only when a line may have
	 * ended, so that a peer sending a byte at a time costs a scan per
	 * line, not per byte.  The first bytes are checked at once, so that
	 * a stray TLS or binary client is turned away without waiting. */
	first = c->rlen == 0;
	c->rlen += (size_t)n;
	if (!first && c->rlen < sizeof(c->rbuf) &&
	    memchr(c->rbuf + c->rlen - (size_t)n, '\n', (size_t)n) == NULL)
		return;
	r = health_parse_request(c->rbuf, c->rlen, &req);
	if (r == 0)
		return;
	if (r != HEALTH_PARSE_OK) {
		log_debug("health: answering %d to a malformed request", r);
		client_error(c, r);
		return;
	}
	resp = route(c->hs, &req, &len);
	client_respond(c, resp, len);
}

static void
client_discard(struct hclient *c)
{
	char sink[4096];
	ssize_t n;

	n = recv(c->fd, sink, sizeof(sink), 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0 || (c->drained += (size_t)n) > DRAIN_MAX)
		client_free(c);
}

static void
on_client(loop_t *loop, int fd, int events, void *arg)
{
	struct hclient *c = arg;

	(void)loop;
	(void)fd;
	switch (c->state) {
	case CS_READ:
		if (events & LOOP_READ)
			client_read(c);
		break;
	case CS_WRITE:
		if (events & LOOP_WRITE)
			client_write(c);
		break;
	case CS_DRAIN:
		if (events & LOOP_READ)
			client_discard(c);
		break;
	}
}

static void
on_deadline(loop_t *loop, void *arg)
{
	struct hclient *c = arg;

	(void)loop;
	if (c->state == CS_READ) {
		/* Best effort: a 408 if it fits in the socket buffer now. */
		loop_timer_start(c->hs->loop, &c->deadline, DRAIN_MS);
		log_debug("health: client timed out before its request ended");
		client_error(c, 408);
		return;
	}
	client_free(c);
}

static int
set_nonblock_cloexec(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -errno;
	return 0;
}

/* Over the limit: a 503 straight away, then close.  The response is small
 * enough for an empty socket buffer, so one non-blocking send does. */
static void
refuse_busy(int fd)
{
	size_t len = 0;
	char *r = text_response(503, "too many clients", 0, &len);
	char sink[1024];

	if (r != NULL) {
		(void)!send(fd, r, len, MSG_NOSIGNAL);
		free(r);
	}
	shutdown(fd, SHUT_WR);
	/* Unread bytes at close turn the FIN into a RST, which can destroy
	 * the 503 before the peer reads it: take what has arrived. */
	(void)!recv(fd, sink, sizeof(sink), 0);
	close(fd);
}

static int
client_new(struct health *hs, int fd)
{
	struct hclient *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->hs = hs;
	c->fd = fd;
	c->state = CS_READ;
	loop_timer_init(&c->deadline, on_deadline, c);
	if (loop_add_fd(hs->loop, fd, LOOP_READ, on_client, c) != 0) {
		free(c);
		return -ENOMEM;
	}
	loop_timer_start(hs->loop, &c->deadline, hs->timeout_ms);
	c->next = hs->clients;
	if (hs->clients != NULL)
		hs->clients->prev = c;
	hs->clients = c;
	hs->nclients++;
	return 0;
}

static void
on_accept_pause(loop_t *loop, void *arg)
{
	struct health *hs = arg;

	loop_mod_fd(loop, hs->lfd, LOOP_READ);
}

static void
on_listen(loop_t *loop, int lfd, int events, void *arg)
{
	struct health *hs = arg;
	int i, fd;

	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("health: accept");
				loop_mod_fd(loop, lfd, 0);
				loop_timer_start(loop, &hs->accept_pause,
				    ACCEPT_PAUSE_MS);
			}
			return;	/* EAGAIN, or a connection that went away */
		}
		if (set_nonblock_cloexec(fd) != 0) {
			close(fd);
			continue;
		}
		if (hs->nclients >= hs->max_clients) {
			log_debug("health: %u clients already; refusing one",
			    hs->nclients);
			refuse_busy(fd);
			continue;
		}
		if (client_new(hs, fd) != 0) {
			log_warnx("health: out of memory accepting a client");
			close(fd);
		}
	}
}

/* ---- listener ------------------------------------------------------------ */

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)
		    (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)
		    (const void *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

/* Numeric addresses only: a name lookup would block the loop. */
static int
resolve(const char *addr, uint16_t port, struct addrinfo **res)
{
	struct addrinfo hints;
	char ps[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (addr == NULL || strcmp(addr, "localhost") == 0)
		addr = "127.0.0.1";
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	if ((r = getaddrinfo(addr, ps, &hints, res)) != 0) {
		log_warnx("health: %s: not a numeric IPv4 or IPv6 address (%s)",
		    addr, gai_strerror(r));
		return -EINVAL;
	}
	return 0;
}

static int
bound_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -errno;
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	else
		*port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	return 0;
}

static int
open_listener(struct health *hs, const char *addr, uint16_t port)
{
	struct addrinfo *ai = NULL;
	int fd = -1, one = 1, r;

	if ((r = resolve(addr, port, &ai)) != 0)
		return r;
	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1 ||
	    (r = set_nonblock_cloexec(fd)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, 64) == -1 || (r = bound_port(fd, &hs->port)) != 0) {
		r = r != 0 ? r : -errno;
		log_warnx("health: listen on %s port %u: %s", addr ? addr : "",
		    (unsigned)port, strerror(-r));
		if (fd != -1)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	if (!is_loopback(ai->ai_addr))
		log_warnx("health: %s is not a loopback address: /status and "
		    "/metrics are open to anyone who can reach port %u",
		    addr, (unsigned)hs->port);
	freeaddrinfo(ai);
	hs->lfd = fd;
	return 0;
}

health_t *
health_new(loop_t *loop, const char *addr, uint16_t port,
    const struct health_handlers *h)
{
	struct health *hs;
	int r;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		return NULL;
	hs->loop = loop;
	hs->lfd = -1;
	if (h != NULL)
		hs->h = *h;
	hs->max_clients = HEALTH_MAX_CLIENTS;
	hs->timeout_ms = HEALTH_TIMEOUT_MS;
	loop_timer_init(&hs->accept_pause, on_accept_pause, hs);
	if ((r = open_listener(hs, addr, port)) != 0)
		goto fail;
	if ((r = loop_add_fd(loop, hs->lfd, LOOP_READ, on_listen, hs)) != 0) {
		log_warnx("health: %s", strerror(-r));
		goto fail;
	}
	log_info("health: serving /healthz /readyz /status /metrics on "
	    "http://%s%s%s:%u", strchr(addr ? addr : "", ':') ? "[" : "",
	    addr ? addr : "127.0.0.1", strchr(addr ? addr : "", ':') ? "]" : "",
	    (unsigned)hs->port);
	return hs;
fail:
	if (hs->lfd != -1)
		close(hs->lfd);
	free(hs);
	errno = -r;
	return NULL;
}

void
health_free(health_t *hs)
{
	if (hs == NULL)
		return;
	while (hs->clients != NULL)
		client_free(hs->clients);
	loop_timer_stop(hs->loop, &hs->accept_pause);
	loop_del_fd(hs->loop, hs->lfd);
	close(hs->lfd);
	free(hs);
}

uint16_t
health_port(const health_t *hs)
{
	return hs->port;
}

void
health_set_limits(health_t *hs, unsigned max_clients, uint32_t timeout_ms)
{
	if (max_clients > 0)
		hs->max_clients = max_clients;
	if (timeout_ms > 0)
		hs->timeout_ms = timeout_ms;
}
