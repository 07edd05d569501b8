/*
 * lofront.c: the kernel-socket front of a stream (see lofront.h and
 * daemon/stream.h); stack/front.c is its lwIP twin.
 *
 * App -> back: the socket is read into one shared buffer and offered to the
 * back; what the back does not take is kept in the connection's pending
 * buffer (at most LF_CHUNK bytes) and reading stops (no LOOP_READ) until
 * the back calls resume, so the kernel's receive window closes on the app
 * exactly as tcp_recved does for lwIP.  The app's EOF becomes
 * stream_shutdown once pending is drained.
 * Back -> app: nothing is buffered here: the back's bytes are written
 * straight to the socket, the count written is returned and, when the
 * socket took less, LOOP_WRITE is set and the back resumed once it is
 * writable.  The back's shutdown becomes shutdown(SHUT_WR) (the kernel
 * sends the FIN after the bytes it holds).
 * Errors: a reset or read/write error aborts the back; the back's abort is
 * a RST to the app (SO_LINGER 0).
 *
 * Re-entrancy: a call into the back may come back into us before it
 * returns (an abort from inside tunnel_open or send).  A connection is
 * therefore held (busy) while we call out, an abort only marks it dead,
 * and the outermost holder frees it.  Work the back asks for from inside
 * its own calls (resume, shutdown) is deferred to a zero-delay timer (the
 * "kick"), so we never call stream_send/shutdown/abort on the back from
 * inside the back's call into us.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/lofront.h"
#include "daemon/lofront_os.h"
#include "daemon/lofront_priv.h"
#include "daemon/stream.h"

#define LF_CHUNK	(64 * 1024)	/* one read; the most kept per stream */
#define LF_READS	4		/* reads per wake-up before others run */
#define LF_ACCEPTS	64		/* accepts per wake-up */
#define LF_RETRY_MS	10000		/* retry listeners whose port was busy */
#define LF_PAUSE_MS	250		/* after EMFILE and friends */
#define LF_LOG_EVERY_MS	10000		/* rate limit of repeated warnings */
#define LF_BUCKETS	1024

struct lo_conn {
	struct lo_conn	*next, *prev;
	lofront_t	*lf;
	stream_t	*s;		/* NULL once detached */
	int		 fd;
	int		 interest;	/* LOOP_* registered; 0: not in the loop */
	uint8_t		*pending;	/* read from the app, not taken by the back */
	size_t		 pend_off, pend_len;
	loop_timer_t	 kick;
	int		 failed;	/* errno to abort with at the next step */
	unsigned	 busy;		/* holds: do not free */
	unsigned	 dead:1;	/* closed and detached: free when not busy */
	unsigned	 app_eof:1;	/* the app sent FIN */
	unsigned	 eof_passed:1;	/* ...and the back was told */
	unsigned	 back_shut:1;	/* the back will send nothing more */
	unsigned	 back_blocked:1; /* we took less than offered: resume it */
};

struct lo_listener {
	struct lo_listener *next, *prev;	/* all listeners */
	struct lo_listener *hnext;		/* bucket chain */
	lofront_t	*lf;
	int		 fd;		/* -1: not listening */
	enum lofront_kind kind;
	char		*hostname;
	uint32_t	 ep_addr;
	uint16_t	 ep_port;
	uint32_t	 addr;
	uint16_t	 port;
	int		 error;
	char		 reason[200];
	uint64_t	 accepted, refused;
	unsigned	 seen:1;	/* sync mark */
	unsigned	 aliased:1;
	unsigned	 paused:1;	/* accept hit EMFILE: wait a little */
};

struct lo_alias {
	struct lo_alias	*next;
	uint32_t	 addr;
	unsigned	 refs;
	int		 error;		/* alias could not be added */
};

/* What one endpoint wants in a sync round. */
struct lo_want {
	struct endpoint	*ep;
	enum lofront_kind kind;
	uint32_t	 addr;
	uint16_t	 port;
	int		 error;		/* no port could be given */
	int		 done;
};

struct lofront {
	loop_t		*loop;
	eptable_t	*eps;
	dp_open_back_cb	 open_back;
	void		*arg;
	unsigned	 flags;
	int		 network;	/* listen_interface is not "virtual" */
	uint32_t	 listen_addr;
	uint32_t	 max_streams;
	uid_t		 euid;
	struct cfg_override *ov;	/* copies; lf_ports borrows them */
	size_t		 nov;
	lf_ports_t	*ports;
	struct lo_listener *listeners;
	struct lo_listener *buckets[LF_BUCKETS];
	struct lo_alias	*aliases;
	struct lo_conn	*conns;
	loop_timer_t	 retry;
	uint64_t	 next_id;
	uint64_t	 limit_logged_ms;
	uint64_t	 accept_logged_ms;
	struct lofront_stats stats;
	uint8_t		 rbuf[LF_CHUNK];
};

static void conn_step(struct lo_conn *c);
static void conn_interest(struct lo_conn *c);
static void on_conn_io(loop_t *loop, int fd, int events, void *arg);

static const char *
ip_str(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff,
	    (a >> 8) & 0xff, a & 0xff);
	return buf;
}

/* --- connections: lifetime ---------------------------------------------- */

static void
conn_hold(struct lo_conn *c)
{
	c->busy++;
}

static void
conn_free(struct lo_conn *c)
{
	lofront_t *lf = c->lf;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		lf->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	loop_timer_stop(lf->loop, &c->kick);
	free(c->pending);
	lf->stats.streams_active--;
	free(c);
}

/* Drops a hold; -1 when c is gone or dead (the caller stops touching it). */
static int
conn_unhold(struct lo_conn *c)
{
	if (--c->busy == 0 && c->dead) {
		conn_free(c);
		return -1;
	}
	return c->dead ? -1 : 0;
}

static void
conn_close_fd(struct lo_conn *c, int rst)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->fd < 0)
		return;
	if (c->interest != 0)
		loop_del_fd(c->lf->loop, c->fd);
	c->interest = 0;
	/* SO_LINGER 0: close sends a RST instead of a FIN. */
	if (rst)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
}

/* Forgets the stream (the last half to detach frees it). */
static void
conn_detach(struct lo_conn *c)
{
	stream_t *s = c->s;

	c->dead = 1;
	c->s = NULL;
	if (s != NULL)
		stream_detach(s, STREAM_FRONT);
}

/* RST the app and tell the back.  c is held by the caller. */
static void
conn_fail(struct lo_conn *c, int err)
{
	stream_t *s = c->s;

	conn_close_fd(c, 1);
	c->dead = 1;
	if (s != NULL)
		stream_abort(s, STREAM_FRONT, err);
	conn_detach(c);
}

/* Both directions are done: a graceful close.  Everything received was
 * read (the app's EOF), so close() sends a FIN after what is queued. */
static void
conn_finish(struct lo_conn *c)
{
	conn_close_fd(c, 0);
	conn_detach(c);
}

static void
conn_kick(struct lo_conn *c)
{
	if (!c->dead && !loop_timer_armed(&c->kick))
		loop_timer_start(c->lf->loop, &c->kick, 0);
}

static void
on_kick(loop_t *loop, void *arg)
{
	struct lo_conn *c = arg;

	(void)loop;
	conn_hold(c);
	conn_step(c);
	conn_unhold(c);
}

/* --- back -> app --------------------------------------------------------- */

static ssize_t
lo_send(void *self, const void *buf, size_t len)
{
	struct lo_conn *c = self;
	ssize_t n;

	if (c->dead || c->fd < 0 || c->back_shut)
		return -EPIPE;
	if (c->failed)
		return -c->failed;
	if (len == 0)
		return 0;
	n = lofront_os_send(c->fd, buf, len);
	if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
		n = 0;
	if (n < 0) {
		/* The back will abort us; if it does not, the kick does. */
		c->failed = (int)-n;
		conn_kick(c);
		return n;
	}
	if ((size_t)n < len && !c->back_blocked) {
		c->back_blocked = 1;
		conn_interest(c);
	}
	return n;
}

static void
lo_resume(void *self)
{
	conn_kick(self);
}

static void
lo_shutdown(void *self)
{
	struct lo_conn *c = self;

	if (c->back_shut || c->dead)
		return;
	c->back_shut = 1;
	/* Nothing of the back's is held here: the FIN can go now. */
	if (c->fd >= 0 && shutdown(c->fd, SHUT_WR) != 0 && errno != ENOTCONN)
		c->failed = errno;
	conn_kick(c);
}

static void
lo_abort(void *self, int err)
{
	struct lo_conn *c = self;

	(void)err;
	if (c->dead)
		return;
	log_debug("stream %llu: aborted by the back: %s",
	    (unsigned long long)(c->s != NULL ? c->s->id : 0), strerror(err));
	conn_close_fd(c, 1);
	conn_detach(c);
	if (c->busy == 0)
		conn_free(c);
}

static const struct stream_ops lo_ops = {
	.send = lo_send,
	.resume = lo_resume,
	.shutdown = lo_shutdown,
	.abort = lo_abort,
};

/* --- app -> back --------------------------------------------------------- */

/* Offers buf to the back, keeping what it does not take.  c is held. */
static void
conn_offer(struct lo_conn *c, const uint8_t *buf, size_t len)
{
	ssize_t n = stream_send(c->s, STREAM_FRONT, buf, len);

	if (c->dead)
		return;
	if (n < 0) {
		c->failed = (int)-n;
		return;
	}
	if ((size_t)n == len)
		return;
	if (c->pending == NULL && (c->pending = malloc(LF_CHUNK)) == NULL) {
		c->failed = ENOMEM;
		return;
	}
	memcpy(c->pending, buf + n, len - (size_t)n);
	c->pend_off = 0;
	c->pend_len = len - (size_t)n;
}

static void
conn_push(struct lo_conn *c)
{
	ssize_t n;

	while (c->pend_len > 0) {
		n = stream_send(c->s, STREAM_FRONT, c->pending + c->pend_off,
		    c->pend_len);
		if (c->dead)
			return;
		if (n < 0) {
			c->failed = (int)-n;
			return;
		}
		if (n == 0)
			return;		/* the back resumes us */
		c->pend_off += (size_t)n;
		c->pend_len -= (size_t)n;
	}
	free(c->pending);	/* idle streams hold no buffer */
	c->pending = NULL;
	c->pend_off = 0;
}

static void
conn_read(struct lo_conn *c)
{
	uint8_t *buf = c->lf->rbuf;
	ssize_t n;
	int i;

	for (i = 0; i < LF_READS; i++) {
		if (c->dead || c->failed || c->app_eof || c->pend_len > 0)
			return;
		n = read(c->fd, buf, LF_CHUNK);
		if (n > 0) {
			conn_offer(c, buf, (size_t)n);
			if (n < LF_CHUNK)
				return;
		} else if (n == 0) {
			c->app_eof = 1;
		} else {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				c->failed = errno;
			return;
		}
	}
}

/* Registers what the connection waits for; none at all while it waits
 * only for the back, so a hung-up socket cannot wake the loop in vain. */
static void
conn_interest(struct lo_conn *c)
{
	int ev = 0, r;

	if (c->dead || c->fd < 0)
		return;
	if (!c->app_eof && c->pend_len == 0 && !c->failed)
		ev |= LOOP_READ;
	if (c->back_blocked)
		ev |= LOOP_WRITE;
	if (ev == c->interest)
		return;
	if (ev == 0)
		r = loop_del_fd(c->lf->loop, c->fd);
	else if (c->interest == 0)
		r = loop_add_fd(c->lf->loop, c->fd, ev, on_conn_io, c);
	else
		r = loop_mod_fd(c->lf->loop, c->fd, ev);
	if (r != 0 && ev != 0) {
		c->failed = -r;
		conn_kick(c);
		return;
	}
	c->interest = ev;
}

/* Moves the connection on as far as it can.  c is held. */
static void
conn_step(struct lo_conn *c)
{
	if (c->dead)
		return;
	if (c->failed) {
		log_debug("stream %llu: application connection: %s",
		    (unsigned long long)c->s->id, strerror(c->failed));
		conn_fail(c, c->failed);
		return;
	}
	conn_push(c);
	if (c->dead)
		return;
	if (c->failed) {
		conn_step(c);
		return;
	}
	if (c->app_eof && c->pend_len == 0 && !c->eof_passed) {
		c->eof_passed = 1;
		stream_shutdown(c->s, STREAM_FRONT);
		if (c->dead)
			return;
	}
	if (c->eof_passed && c->back_shut) {
		conn_finish(c);
		return;
	}
	conn_interest(c);
}

static void
on_conn_io(loop_t *loop, int fd, int events, void *arg)
{
	struct lo_conn *c = arg;

	(void)loop;
	(void)fd;
	conn_hold(c);
	if ((events & LOOP_WRITE) && c->back_blocked) {
		c->back_blocked = 0;
		stream_resume(c->s, STREAM_FRONT);
	}
	if ((events & LOOP_READ) && !c->dead)
		conn_read(c);
	if (!c->dead)
		conn_step(c);
	conn_unhold(c);
}

/* --- accepting ----------------------------------------------------------- */

static void
refuse_limit(lofront_t *lf, struct lo_listener *l, struct endpoint *ep, int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	uint64_t now = loop_now(lf->loop);

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	l->refused++;
	lf->stats.refused_limit++;
	ep->stats.errors_limit++;
	if (lf->limit_logged_ms == 0 || now - lf->limit_logged_ms >= LF_LOG_EVERY_MS) {
		lf->limit_logged_ms = now;
		log_warnx("lofront: %s:%u: limits.max_streams (%u) reached; new "
		    "connections are refused (%llu so far)", ep->hostname,
		    ep->port, lf->max_streams,
		    (unsigned long long)lf->stats.refused_limit);
	}
}

static struct lo_conn *
conn_new(lofront_t *lf, int fd, struct endpoint *ep, const struct sockaddr_in *peer)
{
	struct lo_conn *c;
	stream_t *s;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((s = stream_new(&lo_ops, c)) == NULL) {
		free(c);
		return NULL;
	}
	c->lf = lf;
	c->fd = fd;
	c->s = s;
	loop_timer_init(&c->kick, on_kick, c);
	c->next = lf->conns;
	if (lf->conns != NULL)
		lf->conns->prev = c;
	lf->conns = c;
	lf->stats.streams_active++;
	lf->stats.streams_total++;
	s->id = ++lf->next_id;
	/* The endpoint's own address and port, as the TUN front gives them,
	 * whichever listener took the connection. */
	s->dst_addr = ep->addr;
	s->dst_port = ep->port;
	s->src_addr = ntohl(peer->sin_addr.s_addr);
	s->src_port = ntohs(peer->sin_port);
	endpoint_ref(ep);
	s->endpoint = ep;
	s->endpoint_release = endpoint_release;
	/* The back hands over whole records: do not hold them for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

static void
conn_accept(lofront_t *lf, struct lo_listener *l, int fd,
    const struct sockaddr_in *peer)
{
	struct endpoint *ep;
	struct lo_conn *c;
	int r;

	/* The endpoint may have gone before the listener was synced. */
	if ((ep = eptable_lookup(lf->eps, l->ep_addr, l->ep_port)) == NULL) {
		close(fd);
		return;
	}
	if (lf->stats.streams_active >= lf->max_streams) {
		refuse_limit(lf, l, ep, fd);
		return;
	}
	if ((c = conn_new(lf, fd, ep, peer)) == NULL) {
		log_warnx("lofront: %s:%u: out of memory, connection dropped",
		    ep->hostname, ep->port);
		close(fd);
		return;
	}
	l->accepted++;
	conn_hold(c);
	r = lf->open_back(lf->arg, c->s, ep);
	if (c->dead) {			/* the back aborted from inside */
		conn_unhold(c);
		return;
	}
	if (r != 0) {
		/* No back was attached: reset the app, nobody to tell. */
		conn_close_fd(c, 1);
		conn_detach(c);
		conn_unhold(c);
		return;
	}
	conn_interest(c);
	conn_unhold(c);
}

static void
listener_pause(lofront_t *lf, struct lo_listener *l)
{
	if (l->paused || l->fd < 0)
		return;
	loop_del_fd(lf->loop, l->fd);
	l->paused = 1;
	/* Sooner than a pending retry of busy ports, which on_retry re-arms. */
	loop_timer_start(lf->loop, &lf->retry, LF_PAUSE_MS);
}

static void
accept_error(lofront_t *lf, struct lo_listener *l, int err)
{
	uint64_t now = loop_now(lf->loop);
	char a[16];

	lf->stats.accept_errors++;
	if (lf->accept_logged_ms == 0 || now - lf->accept_logged_ms >= LF_LOG_EVERY_MS) {
		lf->accept_logged_ms = now;
		log_warnx("lofront: accept on %s:%u: %s", ip_str(l->addr, a,
		    sizeof(a)), l->port, strerror(err));
	}
	/* Out of fds or memory: the pending connection stays readable, so
	 * stop asking for a moment instead of spinning. */
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
		listener_pause(lf, l);
}

static void
on_accept(loop_t *loop, int lfd, int events, void *arg)
{
	struct lo_listener *l = arg;
	lofront_t *lf = l->lf;
	struct sockaddr_in peer;
	int i, fd;

	(void)loop;
	(void)events;
	for (i = 0; i < LF_ACCEPTS; i++) {
		memset(&peer, 0, sizeof(peer));
		fd = lofront_os_accept(lfd, &peer);
		if (fd == -EAGAIN || fd == -EWOULDBLOCK)
			return;
		if (fd == -EINTR || fd == -ECONNABORTED || fd == -EPROTO)
			continue;
		if (fd < 0) {
			accept_error(lf, l, -fd);
			return;
		}
		conn_accept(lf, l, fd, &peer);
	}
}

/* --- listeners ----------------------------------------------------------- */

static size_t
bucket(uint32_t addr, uint16_t port, enum lofront_kind kind)
{
	uint64_t h = ((uint64_t)addr << 17) ^ ((uint64_t)port << 1) ^ (uint64_t)kind;

	return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 40) & (LF_BUCKETS - 1);
}

static struct lo_listener *
listener_find(const lofront_t *lf, uint32_t ep_addr, uint16_t ep_port,
    enum lofront_kind kind)
{
	struct lo_listener *l;

	for (l = lf->buckets[bucket(ep_addr, ep_port, kind)]; l != NULL; l = l->hnext)
		if (l->ep_addr == ep_addr && l->ep_port == ep_port && l->kind == kind)
			return l;
	return NULL;
}

static struct lo_alias *
alias_find(const lofront_t *lf, uint32_t addr)
{
	struct lo_alias *a;

	for (a = lf->aliases; a != NULL; a = a->next)
		if (a->addr == addr)
			return a;
	return NULL;
}

/* 0 or -errno; an alias is added once per address and counted. */
static int
alias_ref(lofront_t *lf, uint32_t addr)
{
	struct lo_alias *a;
	int r;

	if ((a = alias_find(lf, addr)) != NULL) {
		a->refs++;
		return 0;
	}
	if ((r = lofront_os_alias_add(addr)) != 0)
		return r;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		lofront_os_alias_del(addr);
		return -ENOMEM;
	}
	a->addr = addr;
	a->refs = 1;
	a->next = lf->aliases;
	lf->aliases = a;
	return 0;
}

static void
alias_unref(lofront_t *lf, uint32_t addr)
{
	struct lo_alias **pa, *a;

	for (pa = &lf->aliases; (a = *pa) != NULL; pa = &a->next)
		if (a->addr == addr)
			break;
	if (a == NULL || --a->refs > 0)
		return;
	*pa = a->next;
	lofront_os_alias_del(addr);
	free(a);
}

static void
explain(struct lo_listener *l, int err, uid_t euid)
{
	char a[16];

	ip_str(l->addr, a, sizeof(a));
	if ((err == EACCES || err == EPERM) && l->port < 1024)
		snprintf(l->reason, sizeof(l->reason), "port %u is privileged "
		    "(below 1024) and ngrokd runs without root (uid %u): run it "
		    "as root or give it CAP_NET_BIND_SERVICE", l->port,
		    (unsigned)euid);
	else if (err == EADDRINUSE)
		snprintf(l->reason, sizeof(l->reason), "%s:%u is already in use "
		    "by another program", a, l->port);
	else if (err == EADDRNOTAVAIL)
		snprintf(l->reason, sizeof(l->reason), "%s is not an address of "
		    "this machine", a);
	else if (err == ERANGE)
		snprintf(l->reason, sizeof(l->reason), "no free port left from "
		    "net.start_port to 65535");
	else
		snprintf(l->reason, sizeof(l->reason), "%s", strerror(err));
}

static int
open_socket(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sin;
	int fd, fl, one = 1, e;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -errno;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(addr);
	sin.sin_port = htons(port);
	/* SO_REUSEADDR: a restart must not wait for TIME_WAIT to pass. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Tries to listen; records and (when it is news) logs the outcome. */
static void
listener_open(lofront_t *lf, struct lo_listener *l, int quiet)
{
	int fd, r = 0, before = l->error;
	char a[16];

	if (l->error == ERANGE)
		return;		/* no port: nothing to try */
	if (l->kind == LOFRONT_AT_ENDPOINT && !l->aliased) {
		if ((r = alias_ref(lf, l->addr)) == 0)
			l->aliased = 1;
	}
	fd = r != 0 ? r : open_socket(l->addr, l->port);
	if (fd >= 0 && (r = loop_add_fd(lf->loop, fd, LOOP_READ, on_accept, l)) != 0) {
		close(fd);
		fd = r;
	}
	ip_str(l->addr, a, sizeof(a));
	if (fd < 0) {
		l->error = -fd;
		if (l->kind == LOFRONT_AT_ENDPOINT && !l->aliased)
			snprintf(l->reason, sizeof(l->reason), "cannot add %s "
			    "to the loopback interface: %s (adding an alias "
			    "needs root)", a, strerror(l->error));
		else
			explain(l, l->error, lf->euid);
		if (!quiet || before != l->error)
			log_warnx("lofront: %s:%u: cannot listen on %s:%u: %s; the "
			    "other endpoints are not affected", l->hostname,
			    l->ep_port, a, l->port, l->reason);
		return;
	}
	l->fd = fd;
	l->error = 0;
	l->reason[0] = '\0';
	if (before != 0)
		log_info("lofront: %s:%u: now listening on %s:%u", l->hostname,
		    l->ep_port, a, l->port);
	else
		log_debug("lofront: %s:%u listening on %s:%u", l->hostname,
		    l->ep_port, a, l->port);
}

static struct lo_listener *
listener_new(lofront_t *lf, const struct lo_want *w)
{
	struct lo_listener *l;
	size_t b;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->hostname = strdup(w->ep->hostname)) == NULL) {
		free(l);
		log_warnx("lofront: %s:%u: out of memory, not listening",
		    w->ep->hostname, w->ep->port);
		return NULL;
	}
	l->lf = lf;
	l->fd = -1;
	l->kind = w->kind;
	l->ep_addr = w->ep->addr;
	l->ep_port = w->ep->port;
	l->addr = w->addr;
	l->port = w->port;
	l->seen = 1;
	b = bucket(l->ep_addr, l->ep_port, l->kind);
	l->hnext = lf->buckets[b];
	lf->buckets[b] = l;
	l->next = lf->listeners;
	if (lf->listeners != NULL)
		lf->listeners->prev = l;
	lf->listeners = l;
	if (w->error != 0) {
		l->error = w->error;
		explain(l, l->error, lf->euid);
		log_warnx("lofront: %s:%u: cannot listen on the network: %s; the "
		    "other endpoints are not affected", l->hostname, l->ep_port,
		    l->reason);
		return l;
	}
	listener_open(lf, l, 0);
	return l;
}

static void
listener_free(lofront_t *lf, struct lo_listener *l)
{
	struct lo_listener **pl;

	for (pl = &lf->buckets[bucket(l->ep_addr, l->ep_port, l->kind)];
	    *pl != NULL; pl = &(*pl)->hnext)
		if (*pl == l) {
			*pl = l->hnext;
			break;
		}
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		lf->listeners = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	if (l->fd >= 0) {
		if (!l->paused)
			loop_del_fd(lf->loop, l->fd);
		close(l->fd);
	}
	if (l->aliased)
		alias_unref(lf, l->addr);
	free(l->hostname);
	free(l);
}

/* A port in use may be freed, an address may be configured later; a
 * privileged port stays privileged. */
static int
retryable(const struct lo_listener *l)
{
	return l->fd < 0 && (l->error == EADDRINUSE || l->error == EADDRNOTAVAIL);
}

/* Retries busy ports and resumes paused listeners. */
static void
on_retry(loop_t *loop, void *arg)
{
	lofront_t *lf = arg;
	struct lo_listener *l;
	int again = 0;

	for (l = lf->listeners; l != NULL; l = l->next) {
		if (l->paused) {
			l->paused = 0;
			if (loop_add_fd(loop, l->fd, LOOP_READ, on_accept, l) != 0)
				again = l->paused = 1;
		} else if (retryable(l)) {
			listener_open(lf, l, 1);
			again |= l->fd < 0;
		}
	}
	if (again)
		loop_timer_start(loop, &lf->retry, LF_RETRY_MS);
}

/* --- sync ---------------------------------------------------------------- */

struct collect {
	struct endpoint	**v;
	size_t		 n, cap;
	int		 nomem;
};

static void
collect_ep(struct endpoint *e, void *arg)
{
	struct collect *c = arg;
	struct endpoint **v;

	if (e->parent != NULL)	/* a name under a wildcard: DNS, TUN only */
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;

		if ((v = realloc(c->v, cap * sizeof(*v))) == NULL) {
			c->nomem = 1;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = e;
}

/* By host name, then port: the first endpoint of a host is its
 * "primary" (net.overrides), and new ports go out in a stable order. */
static int
cmp_ep(const void *a, const void *b)
{
	const struct endpoint *x = *(struct endpoint *const *)a;
	const struct endpoint *y = *(struct endpoint *const *)b;
	int r = strcasecmp(x->hostname, y->hostname);

	if (r != 0)
		return r;
	return (x->port > y->port) - (x->port < y->port);
}

/* Fills w[] (2 per endpoint at most); returns the count. */
static size_t
plan(lofront_t *lf, struct endpoint **v, size_t n, struct lo_want *w)
{
	size_t i, k = 0;
	int primary, r;

	if (lf->network)
		lf_ports_begin(lf->ports);
	for (i = 0; i < n; i++) {
		if (lf->flags & LOFRONT_VIRTUAL)
			w[k++] = (struct lo_want){ .ep = v[i],
			    .kind = LOFRONT_AT_ENDPOINT, .addr = v[i]->addr,
			    .port = v[i]->port };
		if (!lf->network)
			continue;
		primary = i == 0 || strcasecmp(v[i - 1]->hostname, v[i]->hostname) != 0;
		w[k] = (struct lo_want){ .ep = v[i], .kind = LOFRONT_AT_LISTEN,
		    .addr = lf->listen_addr };
		if ((r = lf_ports_get(lf->ports, v[i]->hostname, v[i]->port,
		    primary, &w[k].port)) != 0)
			w[k].error = -r;
		k++;
	}
	if (lf->network)
		lf_ports_end(lf->ports);
	return k;
}

static int
same(const struct lo_listener *l, const struct lo_want *w)
{
	return strcmp(l->hostname, w->ep->hostname) == 0 && l->addr == w->addr &&
	    l->port == w->port && (w->error == 0 || l->error == w->error);
}

void
lofront_sync(lofront_t *lf)
{
	struct collect c = { 0 };
	struct lo_listener *l, *next;
	struct lo_want *w = NULL;
	size_t i, n = 0;
	int failed = 0;

	eptable_foreach(lf->eps, collect_ep, &c);
	if (c.nomem || (c.n > 0 && (w = calloc(c.n * 2, sizeof(*w))) == NULL)) {
		log_warnx("lofront: out of memory; listeners not updated");
		free(c.v);
		return;
	}
	if (c.n > 0)
		qsort(c.v, c.n, sizeof(*c.v), cmp_ep);
	n = plan(lf, c.v, c.n, w);
	for (l = lf->listeners; l != NULL; l = l->next)
		l->seen = 0;
	for (i = 0; i < n; i++)
		if ((l = listener_find(lf, w[i].ep->addr, w[i].ep->port,
		    w[i].kind)) != NULL && same(l, &w[i]))
			l->seen = w[i].done = 1;
	/* Close first: a port given up by one endpoint may be another's now. */
	for (l = lf->listeners; l != NULL; l = next) {
		next = l->next;
		if (!l->seen)
			listener_free(lf, l);
	}
	/* A change is a good moment to try busy ports again. */
	for (l = lf->listeners; l != NULL; l = l->next)
		if (retryable(l))
			listener_open(lf, l, 1);
	for (i = 0; i < n; i++)
		if (!w[i].done)
			listener_new(lf, &w[i]);
	for (l = lf->listeners; l != NULL; l = l->next)
		failed |= retryable(l);
	if (failed && !loop_timer_armed(&lf->retry))
		loop_timer_start(lf->loop, &lf->retry, LF_RETRY_MS);
	free(w);
	free(c.v);
}

/* --- public -------------------------------------------------------------- */

int
lofront_wants_network(const struct config *cfg)
{
	return cfg->listen_interface != NULL &&
	    strcmp(cfg->listen_interface, "virtual") != 0;
}

static int
copy_overrides(lofront_t *lf, const struct config *cfg)
{
	size_t i;

	if (cfg->n_overrides == 0)
		return 0;
	if ((lf->ov = calloc(cfg->n_overrides, sizeof(*lf->ov))) == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->n_overrides; i++) {
		if ((lf->ov[i].host = strdup(cfg->overrides[i].host)) == NULL)
			return -ENOMEM;
		lf->ov[i].port = cfg->overrides[i].port;
		lf->nov++;
	}
	return 0;
}

lofront_t *
lofront_new(loop_t *loop, const struct config *cfg, eptable_t *eps,
    unsigned flags, dp_open_back_cb open_back, void *arg)
{
	struct in_addr in;
	lofront_t *lf;
	int saved;

	if ((lf = calloc(1, sizeof(*lf))) == NULL)
		return NULL;
	lf->loop = loop;
	lf->eps = eps;
	lf->open_back = open_back;
	lf->arg = arg;
	lf->flags = flags;
	lf->max_streams = cfg->max_streams ? cfg->max_streams : 1;
	lf->euid = geteuid();
	loop_timer_init(&lf->retry, on_retry, lf);
	if ((lf->network = lofront_wants_network(cfg))) {
		if (inet_pton(AF_INET, cfg->listen_interface, &in) != 1) {
			log_warnx("lofront: net.listen_interface %s is not an "
			    "IPv4 address", cfg->listen_interface);
			errno = EINVAL;
			goto fail;
		}
		lf->listen_addr = ntohl(in.s_addr);
		errno = ENOMEM;
		if (copy_overrides(lf, cfg) != 0 ||
		    (lf->ports = lf_ports_new(cfg->state_dir, cfg->start_port,
		    lf->ov, lf->nov)) == NULL)
			goto fail;
	}
	return lf;
fail:
	saved = errno;
	lofront_free(lf);
	errno = saved;
	return NULL;
}

void
lofront_free(lofront_t *lf)
{
	struct lo_conn *c;
	size_t i;

	if (lf == NULL)
		return;
	while ((c = lf->conns) != NULL) {
		conn_hold(c);
		if (!c->dead)
			conn_fail(c, ECONNABORTED);
		conn_unhold(c);
	}
	while (lf->listeners != NULL)
		listener_free(lf, lf->listeners);
	loop_timer_stop(lf->loop, &lf->retry);
	lf_ports_free(lf->ports);
	for (i = 0; i < lf->nov; i++)
		free(lf->ov[i].host);
	free(lf->ov);
	free(lf);
}

static void
fill_status(const struct lo_listener *l, struct lofront_listener_status *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->hostname, sizeof(st->hostname), "%s", l->hostname);
	st->ep_addr = l->ep_addr;
	st->ep_port = l->ep_port;
	st->kind = l->kind;
	st->addr = l->addr;
	st->port = l->port;
	st->error = l->fd >= 0 ? 0 : l->error;
	snprintf(st->reason, sizeof(st->reason), "%s", st->error ? l->reason : "");
	st->accepted = l->accepted;
	st->refused = l->refused;
}

void
lofront_foreach_status(const lofront_t *lf,
    void (*fn)(const struct lofront_listener_status *st, void *arg), void *arg)
{
	struct lofront_listener_status st;
	const struct lo_listener *l;

	for (l = lf->listeners; l != NULL; l = l->next) {
		fill_status(l, &st);
		fn(&st, arg);
	}
}

int
lofront_get_status(const lofront_t *lf, uint32_t ep_addr, uint16_t ep_port,
    enum lofront_kind kind, struct lofront_listener_status *st)
{
	const struct lo_listener *l;

	if ((l = listener_find(lf, ep_addr, ep_port, kind)) == NULL)
		return -ENOENT;
	fill_status(l, st);
	return 0;
}

void
lofront_get_stats(const lofront_t *lf, struct lofront_stats *st)
{
	const struct lo_listener *l;

	*st = lf->stats;
	st->listeners = st->listeners_failed = 0;
	for (l = lf->listeners; l != NULL; l = l->next) {
		if (l->fd >= 0)
			st->listeners++;
		else
			st->listeners_failed++;
	}
}
