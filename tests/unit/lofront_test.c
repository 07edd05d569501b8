/*
 * lofront_test.c: the kernel-socket front (daemon/lofront.c) with a real
 * loop, real sockets on 127.x.y.z addresses of this process's own (derived
 * from its pid, so parallel runs do not meet) and a fake back behind the
 * stream seam: an echo with a small buffer, so both directions run into
 * backpressure.  Data both ways, half-close both ways, abort both ways,
 * max_streams, a bind conflict beside a working endpoint, endpoint removal,
 * network listen ports with overrides and persistence.  Each test ends
 * with the process's fd count back where it started.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/lofront.h"
#include "daemon/loop.h"
#include "daemon/stream.h"
#include "discovery/discovery.h"

#define FB_MAX		65536
#define DRIVE_MS	5000

/* --- fixture ------------------------------------------------------------- */

struct fixture;

struct fback {
	struct fback	*next;
	struct fixture	*t;
	stream_t	*s;
	char		 host[64];
	uint16_t	 dst_port;
	uint8_t		 buf[FB_MAX];
	size_t		 len, cap;
	uint64_t	 received;
	size_t		 source_left;	/* bytes of pattern still to send */
	uint64_t	 source_off;
	loop_timer_t	 kick;
	unsigned	 front_short;	/* times the front took less */
	unsigned	 refusals;	/* times we took less from the front */
	int		 hold, echo_fin, refused, front_full;
	int		 got_shutdown, sent_shutdown, got_abort, abort_err;
	int		 detached;
	int		 calling;	/* inside a call of ours into the front */
};

struct fixture {
	loop_t		*loop;
	eptable_t	*eps;
	struct config	 cfg;
	lofront_t	*lf;
	struct fback	*backs;
	int		 nbacks;
	int		 open_result;	/* returned by open_back */
	int		 abort_in_open;
	size_t		 back_cap;
	int		 hold, echo_fin;
	uint32_t	 base;		/* 127.a.b.0 */
	uint16_t	 port;
	char		 dir[64];
	int		 fds_before;
};

static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		d = opendir("/dev/fd");
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

static uint16_t
free_port(uint32_t addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	sin.sin_addr.s_addr = htonl(addr);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* --- the fake back ------------------------------------------------------- */

static void fb_step(loop_t *loop, void *arg);

static void
fb_kick(struct fback *b)
{
	if (b->s != NULL && !loop_timer_armed(&b->kick))
		loop_timer_start(b->t->loop, &b->kick, 0);
}

static void
fb_detach(struct fback *b)
{
	stream_t *s = b->s;

	b->s = NULL;
	b->detached = 1;
	loop_timer_stop(b->t->loop, &b->kick);
	if (s != NULL)
		stream_detach(s, STREAM_BACK);
}

static ssize_t
fb_send(void *self, const void *buf, size_t len)
{
	struct fback *b = self;
	size_t n = b->cap - b->len;

	/* The front defers its work: it never calls us back from inside our
	 * own call into it. */
	assert_false(b->calling);
	if (b->got_shutdown)
		return -EPIPE;
	if (n > len)
		n = len;
	memcpy(b->buf + b->len, buf, n);
	b->len += n;
	b->received += n;
	if (n < len) {
		b->refused = 1;
		b->refusals++;
	}
	fb_kick(b);
	return (ssize_t)n;
}

static void
fb_resume(void *self)
{
	struct fback *b = self;

	assert_false(b->calling);
	b->front_full = 0;
	fb_kick(b);
}

static void
fb_shutdown(void *self)
{
	struct fback *b = self;

	assert_false(b->calling);
	b->got_shutdown = 1;
	fb_kick(b);
}

static void
fb_abort(void *self, int err)
{
	struct fback *b = self;

	assert_false(b->calling);
	b->got_abort = 1;
	b->abort_err = err;
	fb_detach(b);
}

static const struct stream_ops fb_ops = {
	.send = fb_send, .resume = fb_resume, .shutdown = fb_shutdown,
	.abort = fb_abort,
};

static uint8_t
pattern(uint64_t i)
{
	return (uint8_t)((i * 7919) ^ (i >> 11));
}

/* Sends pattern bytes (source mode) or the echo buffer to the front. */
static int
fb_forward(struct fback *b)
{
	uint8_t tmp[16384];
	ssize_t n;
	size_t i, k;

	while (!b->front_full && b->source_left > 0) {
		k = b->source_left < sizeof(tmp) ? b->source_left : sizeof(tmp);
		for (i = 0; i < k; i++)
			tmp[i] = pattern(b->source_off + i);
		if ((n = stream_send(b->s, STREAM_BACK, tmp, k)) < 0)
			return (int)n;
		b->source_off += (uint64_t)n;
		b->source_left -= (size_t)n;
		if ((size_t)n < k) {
			b->front_full = 1;
			b->front_short++;
		}
	}
	if (!b->hold && !b->front_full && b->len > 0) {
		if ((n = stream_send(b->s, STREAM_BACK, b->buf, b->len)) < 0)
			return (int)n;
		memmove(b->buf, b->buf + n, b->len - (size_t)n);
		b->len -= (size_t)n;
		if (b->len > 0) {
			b->front_full = 1;
			b->front_short++;
		}
	}
	return 0;
}

static void
fb_step(loop_t *loop, void *arg)
{
	struct fback *b = arg;
	int r;

	(void)loop;
	if (b->s == NULL)
		return;
	b->calling = 1;
	r = fb_forward(b);
	b->calling = 0;
	if (r < 0) {
		stream_abort(b->s, STREAM_BACK, -r);
		fb_detach(b);
		return;
	}
	if (b->refused && b->len < b->cap) {
		b->refused = 0;
		b->calling = 1;
		stream_resume(b->s, STREAM_BACK);
		b->calling = 0;
	}
	if (b->echo_fin && b->got_shutdown && b->len == 0 && !b->sent_shutdown) {
		b->sent_shutdown = 1;
		b->calling = 1;
		stream_shutdown(b->s, STREAM_BACK);
		b->calling = 0;
	}
	if (b->got_shutdown && b->sent_shutdown && (b->len == 0 || b->hold))
		fb_detach(b);
}

static int
open_back(void *arg, stream_t *s, struct endpoint *ep)
{
	struct fixture *t = arg;
	struct fback *b;

	assert_ptr_equal(s->endpoint, ep);
	if (t->open_result != 0)
		return t->open_result;
	b = calloc(1, sizeof(*b));
	assert_non_null(b);
	b->t = t;
	b->s = s;
	b->cap = t->back_cap;
	b->hold = t->hold;
	b->echo_fin = t->echo_fin;
	b->dst_port = s->dst_port;
	snprintf(b->host, sizeof(b->host), "%s", ep->hostname);
	loop_timer_init(&b->kick, fb_step, b);
	b->next = t->backs;
	t->backs = b;
	t->nbacks++;
	stream_attach_back(s, &fb_ops, b);
	if (t->abort_in_open) {
		/* As tunnel_open does when it fails synchronously. */
		stream_abort(s, STREAM_BACK, ECONNREFUSED);
		fb_detach(b);
	}
	return 0;
}

/* The nth back opened (0: the first). */
static struct fback *
back_n(struct fixture *t, int n)
{
	struct fback *b;
	int i = t->nbacks - 1;

	for (b = t->backs; b != NULL; b = b->next, i--)
		if (i == n)
			return b;
	return NULL;
}

/* --- the application side ------------------------------------------------ */

struct app {
	int		 fd;
	const uint8_t	*tx;
	size_t		 txlen, txoff;
	uint8_t		*rx;
	size_t		 rxlen, rxcap;
	int		 eof, err, blocked;
};

static void
app_pump(struct app *a)
{
	ssize_t n;

	a->blocked = 0;
	while (a->fd >= 0 && a->txoff < a->txlen) {
		n = send(a->fd, a->tx + a->txoff, a->txlen - a->txoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				a->blocked = 1;
			else
				a->err = errno;
			break;
		}
		a->txoff += (size_t)n;
	}
	while (a->fd >= 0 && !a->eof && !a->err && a->rxlen < a->rxcap) {
		n = recv(a->fd, a->rx + a->rxlen, a->rxcap - a->rxlen, 0);
		if (n > 0)
			a->rxlen += (size_t)n;
		else if (n == 0)
			a->eof = 1;
		else {
			if (errno != EAGAIN)
				a->err = errno;
			break;
		}
	}
}

static int
app_connect(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(addr);
	sin.sin_port = htons(port);
	if (fd < 0)
		return -errno;
	/* A loopback connect completes in the kernel, before accept. */
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void
app_open(struct app *a, uint32_t addr, uint16_t port, size_t rxcap)
{
	memset(a, 0, sizeof(*a));
	a->fd = app_connect(addr, port);
	assert_true(a->fd >= 0);
	a->rxcap = rxcap;
	a->rx = malloc(rxcap ? rxcap : 1);
	assert_non_null(a->rx);
}

static void
app_close(struct app *a, int rst)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (a->fd >= 0) {
		if (rst)
			setsockopt(a->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(a->fd);
	}
	a->fd = -1;
	free(a->rx);
	a->rx = NULL;
}

/* Runs the loop and pumps the apps until cond holds (or DRIVE_MS pass). */
typedef int (*cond_fn)(struct fixture *t, void *arg);

static int
drive(struct fixture *t, struct app **apps, int napps, cond_fn cond, void *arg)
{
	uint64_t end = loop_clock_ms() + DRIVE_MS;
	int i;

	while (loop_clock_ms() < end) {
		for (i = 0; i < napps; i++)
			app_pump(apps[i]);
		if (cond(t, arg))
			return 1;
		loop_once(t->loop, 2);
	}
	return cond(t, arg);
}

static int
c_app_done(struct fixture *t, void *arg)
{
	struct app *a = arg;

	(void)t;
	return a->rxlen == a->rxcap || a->eof || a->err;
}

static int
c_no_streams(struct fixture *t, void *arg)
{
	struct lofront_stats st;

	(void)arg;
	lofront_get_stats(t->lf, &st);
	return st.streams_active == 0;
}

static int
c_detached(struct fixture *t, void *arg)
{
	struct fback *b = arg;

	(void)t;
	return b->detached;
}

static int
c_nbacks(struct fixture *t, void *arg)
{
	return t->nbacks >= *(int *)arg;
}

/* --- setup / teardown ---------------------------------------------------- */

static uint32_t
addr_of(struct fixture *t, unsigned host)
{
	return t->base | host;
}

static struct endpoint *
add_ep(struct fixture *t, const char *host, unsigned a, uint16_t port)
{
	char id[80];
	struct endpoint *e;

	snprintf(id, sizeof(id), "ep_%s_%u", host, port);
	e = eptable_add(t->eps, id, host, "https", "https://x", addr_of(t, a), port);
	assert_non_null(e);
	return e;
}

static int
setup(void **state)
{
	struct fixture *t = calloc(1, sizeof(*t));
	unsigned pid = (unsigned)getpid();

	assert_non_null(t);
	signal(SIGPIPE, SIG_IGN);
	t->fds_before = fd_count();
	/* 127.a.b.0/24 of our own: a in 16..239, b from the pid. */
	t->base = (127u << 24) | ((16 + pid % 224) << 16) | (((pid / 224) % 256) << 8);
	t->back_cap = 4096;
	t->echo_fin = 1;
	assert_int_equal(config_defaults(&t->cfg), 0);
	snprintf(t->dir, sizeof(t->dir), "/tmp/lofront-test.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	free(t->cfg.state_dir);
	t->cfg.state_dir = strdup(t->dir);
	t->loop = loop_new();
	t->eps = eptable_new();
	assert_non_null(t->loop);
	assert_non_null(t->eps);
	t->port = free_port(addr_of(t, 2));
	*state = t;
	return 0;
}

static void
start(struct fixture *t, unsigned flags)
{
	t->lf = lofront_new(t->loop, &t->cfg, t->eps, flags, open_back, t);
	assert_non_null(t->lf);
	lofront_sync(t->lf);
}

static void
free_backs(struct fixture *t)
{
	struct fback *b;

	while ((b = t->backs) != NULL) {
		t->backs = b->next;
		loop_timer_stop(t->loop, &b->kick);
		assert_null(b->s);	/* every stream was finished */
		free(b);
	}
	t->nbacks = 0;
}

static int
teardown(void **state)
{
	struct fixture *t = *state;
	char cmd[128];

	lofront_free(t->lf);
	free_backs(t);
	eptable_free(t->eps);
	loop_free(t->loop);
	config_free(&t->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", t->dir);
	/* Every listener, accepted socket and loop fd was closed. */
	assert_int_equal(fd_count(), t->fds_before);
	free(t);
	return 0;
}

/* --- tests --------------------------------------------------------------- */

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(rand() >> 7);
	return p;
}

/* 3 connections echo 512 KiB each through a 4 KiB back: both directions
 * hit backpressure many times; bytes arrive intact and in order. */
static void
test_echo_both_ways(void **state)
{
	struct fixture *t = *state;
	enum { N = 3, SZ = 512 * 1024 };
	struct app app[N], *ap[N];
	uint8_t *data = random_bytes(SZ);
	struct fback *b;
	unsigned shorts = 0;
	int i;

	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	for (i = 0; i < N; i++) {
		app_open(&app[i], addr_of(t, 2), t->port, SZ);
		app[i].tx = data;
		app[i].txlen = SZ;
		ap[i] = &app[i];
	}
	for (i = 0; i < N; i++)
		assert_true(drive(t, ap, N, c_app_done, &app[i]));
	for (i = 0; i < N; i++) {
		assert_int_equal(app[i].err, 0);
		assert_int_equal(app[i].rxlen, SZ);
		assert_memory_equal(app[i].rx, data, SZ);
	}
	for (b = t->backs; b != NULL; b = b->next) {
		assert_string_equal(b->host, "alpha.test");
		assert_int_equal(b->dst_port, t->port);
		assert_int_equal(b->received, SZ);
		shorts += b->refusals;
	}
	assert_int_equal(t->nbacks, N);
	/* 4 KiB at a time against 512 KiB: the back was refused often. */
	assert_true(shorts > 0);
	for (i = 0; i < N; i++)
		app_close(&app[i], 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
	for (b = t->backs; b != NULL; b = b->next)
		assert_true(b->got_shutdown && !b->got_abort);
	free(data);
}

/* The back holds its 8 KiB and takes nothing more: the front must stop
 * reading, so the app's writes block with a bounded amount in flight;
 * once the back lets go everything arrives. */
static void
test_backpressure_up(void **state)
{
	struct fixture *t = *state;
	enum { SZ = 32 * 1024 * 1024 };
	struct app app, *ap[1] = { &app };
	uint8_t *data = random_bytes(SZ);
	struct fback *b;
	size_t stalled;
	int i, one = 1;

	t->back_cap = 8192;
	t->hold = 1;
	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, SZ);
	app.tx = data;
	app.txlen = SZ;
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	/* Run until the app's writes have been blocked for a while. */
	for (i = 0; i < 200; i++) {
		app_pump(&app);
		loop_once(t->loop, 2);
	}
	b = back_n(t, 0);
	stalled = app.txoff;
	assert_int_equal(b->received, 8192);	/* all the back took */
	assert_true(app.blocked);
	assert_true(stalled < SZ);
	for (i = 0; i < 50; i++) {
		app_pump(&app);
		loop_once(t->loop, 2);
	}
	assert_int_equal(app.txoff, stalled);	/* still nothing moves */
	b->hold = 0;
	fb_kick(b);
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_int_equal(app.rxlen, SZ);
	assert_memory_equal(app.rx, data, SZ);
	app_close(&app, 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
	free(data);
}

/* The back sends 32 MiB (more than the kernel buffers hold) while the app does not read: the front takes only
 * what the socket takes and resumes the back once it is writable. */
static void
test_backpressure_down(void **state)
{
	struct fixture *t = *state;
	enum { SZ = 32 * 1024 * 1024 };
	struct app app, *ap[1] = { &app };
	struct fback *b;
	size_t i;
	int k, one = 1;

	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, 0);
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	b = back_n(t, 0);
	b->source_left = SZ;
	fb_kick(b);
	for (k = 0; k < 100; k++)
		loop_once(t->loop, 2);
	assert_true(b->front_full);		/* waiting for resume */
	assert_true(b->source_left > 0);
	free(app.rx);
	app.rx = malloc(SZ);
	app.rxcap = SZ;
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_int_equal(app.rxlen, SZ);
	for (i = 0; i < SZ; i++)
		if (app.rx[i] != pattern(i))
			fail_msg("byte %zu differs", i);
	assert_true(b->front_short > 0);
	app_close(&app, 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
}

/* App -> back half-close: the app's FIN reaches the back after its data;
 * the app can still read the echo, then sees the back's FIN. */
static void
test_halfclose_app_first(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct fback *b;

	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, 64);
	app.tx = (const uint8_t *)"hello, world";
	app.txlen = 12;
	app_pump(&app);
	assert_int_equal(shutdown(app.fd, SHUT_WR), 0);
	assert_true(drive(t, ap, 1, c_app_done, &app));
	/* the echo and then EOF */
	assert_true(drive(t, ap, 1, c_no_streams, NULL));
	app_pump(&app);
	assert_int_equal(app.rxlen, 12);
	assert_memory_equal(app.rx, "hello, world", 12);
	assert_true(app.eof);
	assert_int_equal(app.err, 0);
	b = back_n(t, 0);
	assert_true(b->got_shutdown);
	assert_false(b->got_abort);
	app_close(&app, 0);
}

/* Back -> app half-close: the app reads EOF and can still send; its data
 * reaches the back; its FIN ends the stream. */
static void
test_halfclose_back_first(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct fback *b;
	int one = 1;

	t->echo_fin = 0;
	t->hold = 1;	/* keep what the app sends: no echo after our FIN */
	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, 64);
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	b = back_n(t, 0);
	b->sent_shutdown = 1;
	stream_shutdown(b->s, STREAM_BACK);
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_true(app.eof);
	assert_int_equal(app.rxlen, 0);
	app.tx = (const uint8_t *)"after";
	app.txlen = 5;
	app_pump(&app);
	assert_int_equal(app.err, 0);
	assert_int_equal(shutdown(app.fd, SHUT_WR), 0);
	assert_true(drive(t, ap, 1, c_no_streams, NULL));
	assert_true(drive(t, ap, 1, c_detached, b));
	assert_int_equal(b->received, 5);
	assert_memory_equal(b->buf, "after", 5);
	assert_true(b->got_shutdown);
	assert_true(b->detached);
	assert_false(b->got_abort);
	app_close(&app, 0);
}

/* The app resets: the back is aborted with ECONNRESET. */
static void
test_abort_from_app(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct fback *b;
	int one = 1;

	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, 64);
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	app_close(&app, 1);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
	b = back_n(t, 0);
	assert_true(b->got_abort);
	assert_int_equal(b->abort_err, ECONNRESET);
	assert_null(b->s);
}

/* The back aborts: the app sees a reset, not a clean EOF. */
static void
test_abort_from_back(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct fback *b;
	int one = 1;

	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, 64);
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	b = back_n(t, 0);
	stream_abort(b->s, STREAM_BACK, ETIMEDOUT);
	fb_detach(b);
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_int_equal(app.err, ECONNRESET);
	assert_true(c_no_streams(t, NULL));
	app_close(&app, 0);
}

/* open_back refusing, and a back aborting from inside open_back (as
 * tunnel_open does on a synchronous failure): reset, nothing leaks. */
static void
test_open_back_failures(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct lofront_stats st;
	int round;

	add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	for (round = 0; round < 2; round++) {
		t->open_result = round == 0 ? -ENOTCONN : 0;
		t->abort_in_open = round == 1;
		app_open(&app, addr_of(t, 2), t->port, 64);
		assert_true(drive(t, ap, 1, c_app_done, &app));
		assert_int_equal(app.err, ECONNRESET);
		app_close(&app, 0);
	}
	lofront_get_stats(t->lf, &st);
	assert_int_equal(st.streams_active, 0);
	assert_int_equal(st.streams_total, 2);
	assert_int_equal(t->nbacks, 1);
	assert_true(back_n(t, 0)->detached);
}

/* limits.max_streams = 2: the third connection is refused and counted,
 * the first two still work. */
static void
test_max_streams(void **state)
{
	struct fixture *t = *state;
	struct app app[3], *ap[3] = { &app[0], &app[1], &app[2] };
	struct lofront_listener_status ls;
	struct lofront_stats st;
	struct endpoint *ep;
	int i, two = 2;

	t->cfg.max_streams = 2;
	ep = add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	for (i = 0; i < 2; i++)
		app_open(&app[i], addr_of(t, 2), t->port, 4);
	assert_true(drive(t, ap, 2, c_nbacks, &two));
	app_open(&app[2], addr_of(t, 2), t->port, 4);
	assert_true(drive(t, ap + 2, 1, c_app_done, &app[2]));
	assert_true(app[2].err == ECONNRESET || app[2].eof);
	lofront_get_stats(t->lf, &st);
	assert_int_equal(st.refused_limit, 1);
	assert_int_equal(ep->stats.errors_limit, 1);
	assert_int_equal(lofront_get_status(t->lf, ep->addr, ep->port,
	    LOFRONT_AT_ENDPOINT, &ls), 0);
	assert_int_equal(ls.accepted, 2);
	assert_int_equal(ls.refused, 1);
	for (i = 0; i < 2; i++) {
		app[i].tx = (const uint8_t *)"ping";
		app[i].txlen = 4;
		assert_true(drive(t, ap, 2, c_app_done, &app[i]));
		assert_memory_equal(app[i].rx, "ping", 4);
	}
	for (i = 0; i < 3; i++)
		app_close(&app[i], 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
}

static int
listen_on(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(addr);
	sin.sin_port = htons(port);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Another program holds one endpoint's address:port: that listener is
 * reported (status, reason) and the other endpoint works; once the port is
 * free, the next sync listens. */
static void
test_bind_conflict(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct lofront_listener_status ls;
	struct lofront_stats st;
	int squatter;

	squatter = listen_on(addr_of(t, 3), t->port);
	add_ep(t, "alpha.test", 2, t->port);
	add_ep(t, "beta.test", 3, t->port);
	start(t, LOFRONT_VIRTUAL);
	assert_int_equal(lofront_get_status(t->lf, addr_of(t, 3), t->port,
	    LOFRONT_AT_ENDPOINT, &ls), 0);
	assert_int_equal(ls.error, EADDRINUSE);
	assert_string_equal(ls.hostname, "beta.test");
	assert_non_null(strstr(ls.reason, "already in use"));
	assert_int_equal(lofront_get_status(t->lf, addr_of(t, 2), t->port,
	    LOFRONT_AT_ENDPOINT, &ls), 0);
	assert_int_equal(ls.error, 0);
	assert_string_equal(ls.reason, "");
	lofront_get_stats(t->lf, &st);
	assert_int_equal(st.listeners, 1);
	assert_int_equal(st.listeners_failed, 1);
	app_open(&app, addr_of(t, 2), t->port, 3);
	app.tx = (const uint8_t *)"abc";
	app.txlen = 3;
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_memory_equal(app.rx, "abc", 3);
	app_close(&app, 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
	close(squatter);
	lofront_sync(t->lf);
	assert_int_equal(lofront_get_status(t->lf, addr_of(t, 3), t->port,
	    LOFRONT_AT_ENDPOINT, &ls), 0);
	assert_int_equal(ls.error, 0);
	app_open(&app, addr_of(t, 3), t->port, 2);
	app.tx = (const uint8_t *)"ok";
	app.txlen = 2;
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_memory_equal(app.rx, "ok", 2);
	assert_string_equal(back_n(t, 1)->host, "beta.test");
	app_close(&app, 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
}

/* A removed endpoint's listener closes; its open stream goes on. */
static void
test_endpoint_removed(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct lofront_listener_status ls;
	struct endpoint *ep;
	int one = 1;

	ep = add_ep(t, "alpha.test", 2, t->port);
	start(t, LOFRONT_VIRTUAL);
	app_open(&app, addr_of(t, 2), t->port, 4);
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	eptable_remove(t->eps, ep);
	lofront_sync(t->lf);
	assert_int_equal(lofront_get_status(t->lf, addr_of(t, 2), t->port,
	    LOFRONT_AT_ENDPOINT, &ls), -ENOENT);
	assert_int_equal(app_connect(addr_of(t, 2), t->port), -ECONNREFUSED);
	app.tx = (const uint8_t *)"live";
	app.txlen = 4;
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_memory_equal(app.rx, "live", 4);
	app_close(&app, 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
}

struct want_port {
	const char	*host;
	uint16_t	 ep_port;
	uint16_t	 port;
};

static void
expect_port(struct fixture *t, struct endpoint *ep, uint16_t port)
{
	struct lofront_listener_status ls;

	assert_int_equal(lofront_get_status(t->lf, ep->addr, ep->port,
	    LOFRONT_AT_LISTEN, &ls), 0);
	if (ls.port != port)
		fail_msg("%s:%u listens on %u, expected %u", ep->hostname,
		    ep->port, ls.port, port);
	assert_int_equal(ls.error, 0);
	assert_int_equal(ls.addr, addr_of(t, 9));
}

/* listen_interface = an address: start_port + n in host-name order, an
 * override pins one host, only network listeners (no LOFRONT_VIRTUAL);
 * after a restart the same endpoints keep their ports although a new one
 * sorts before them. */
static void
test_network_ports(void **state)
{
	struct fixture *t = *state;
	struct app app, *ap[1] = { &app };
	struct lofront_listener_status ls;
	struct endpoint *a80, *a443, *b443, *c443;
	char addr[16], path[128];
	uint16_t p = free_port(addr_of(t, 9));
	struct in_addr in;
	FILE *f;
	int one = 1;

	in.s_addr = htonl(addr_of(t, 9));
	inet_ntop(AF_INET, &in, addr, sizeof(addr));
	free(t->cfg.listen_interface);
	t->cfg.listen_interface = strdup(addr);
	t->cfg.start_port = p;
	t->cfg.overrides[0].host = strdup("Beta.Test");
	t->cfg.overrides[0].port = (uint16_t)(p + 10);
	t->cfg.n_overrides = 1;
	b443 = add_ep(t, "beta.test", 3, 443);
	a443 = add_ep(t, "alpha.test", 2, 443);
	a80 = add_ep(t, "alpha.test", 2, 80);
	start(t, 0);
	expect_port(t, a80, p);
	expect_port(t, a443, (uint16_t)(p + 1));
	expect_port(t, b443, (uint16_t)(p + 10));
	assert_int_equal(lofront_get_status(t->lf, a80->addr, a80->port,
	    LOFRONT_AT_ENDPOINT, &ls), -ENOENT);
	/* connecting to listen address:port reaches the right endpoint */
	app_open(&app, addr_of(t, 9), (uint16_t)(p + 1), 2);
	assert_true(drive(t, ap, 1, c_nbacks, &one));
	assert_string_equal(back_n(t, 0)->host, "alpha.test");
	assert_int_equal(back_n(t, 0)->dst_port, 443);
	app.tx = (const uint8_t *)"hi";
	app.txlen = 2;
	assert_true(drive(t, ap, 1, c_app_done, &app));
	assert_memory_equal(app.rx, "hi", 2);
	app_close(&app, 0);
	assert_true(drive(t, ap, 0, c_no_streams, NULL));
	snprintf(path, sizeof(path), "%s/listen_ports.json", t->dir);
	assert_non_null(f = fopen(path, "r"));
	fclose(f);

	/* restart: a new host sorting first gets the next free port */
	lofront_free(t->lf);
	c443 = add_ep(t, "aaa.test", 4, 443);
	start(t, 0);
	expect_port(t, a80, p);
	expect_port(t, a443, (uint16_t)(p + 1));
	expect_port(t, b443, (uint16_t)(p + 10));
	expect_port(t, c443, (uint16_t)(p + 2));
}

/* A corrupt port map is set aside, not trusted, and ports start afresh. */
static void
test_corrupt_port_map(void **state)
{
	struct fixture *t = *state;
	char path[128];
	struct endpoint *a;
	struct lofront_listener_status ls;
	uint16_t p = free_port(addr_of(t, 9));
	char addr[16];
	struct in_addr in;
	FILE *f;

	in.s_addr = htonl(addr_of(t, 9));
	inet_ntop(AF_INET, &in, addr, sizeof(addr));
	free(t->cfg.listen_interface);
	t->cfg.listen_interface = strdup(addr);
	t->cfg.start_port = p;
	snprintf(path, sizeof(path), "%s/listen_ports.json", t->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("{\"version\":1,\"ports\":{\"alpha.test:443\":", f);
	fclose(f);
	a = add_ep(t, "alpha.test", 2, 443);
	start(t, 0);
	assert_int_equal(lofront_get_status(t->lf, a->addr, a->port,
	    LOFRONT_AT_LISTEN, &ls), 0);
	assert_int_equal(ls.port, p);
	strcat(path, ".bad");
	assert_int_equal(access(path, F_OK), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_halfclose_app_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_halfclose_back_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_from_app, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_from_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_back_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_port_map, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
