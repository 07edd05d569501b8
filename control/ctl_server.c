/*
 * ctl_server.c: the control socket server.  Non-blocking on the daemon's
 * loop: every client has a bounded read buffer (one request line, at most
 * CTL_MAX_REQUEST bytes), a bounded write buffer (a client that does not
 * read its replies is dropped when it fills) and an idle timer, so that no
 * client can stall the loop or another client.  Access is decided once per
 * connection from the kernel's peer credentials (ctl_os_*.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control/control.h"
#include "control/ctl_priv.h"
#include "daemon/log.h"

#define DEF_MAX_CLIENTS		128
#define DEF_MAX_PER_UID		16
#define DEF_MAX_REPLY		(4u << 20)
#define DEF_IDLE_MS		10000
#define DEF_RATE		20
#define DEF_BURST		40
#define RATE_SLOTS		64
#define ACCEPT_BATCH		64
#define ACCEPT_PAUSE_MS		100	/* out of fds: let some close first */
#define RBUF_START		1024
#define WBUF_KEEP		65536	/* larger write buffers are freed when empty */

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0		/* macOS: SIGPIPE is ignored by the daemon */
#endif

struct client {
	struct ctl	*ctl;
	struct client	*next, *prev;
	int		 fd;
	struct ctl_peer	 peer;
	struct ctl_caller caller;
	char		*rbuf;
	size_t		 rlen, rcap, scan;
	char		*wbuf;
	size_t		 woff, wlen, wcap;
	loop_timer_t	 idle;
	int		 closing;	/* flush what is queued, then close */
};

/* Token bucket per uid, in thousandths of a request. */
struct bucket {
	uid_t		 uid;
	int		 used;
	uint64_t	 last_ms;
	uint64_t	 milli;
};

struct ctl {
	loop_t		*loop;
	struct ctl_params p;
	struct ctl_handlers h;
	char		*path, *group, *admin_group;
	gid_t		 gid, admin_gid;
	int		 have_gid, have_admin_gid;
	int		 lfd;
	int		 created;	/* we made the file: unlink it at free */
	dev_t		 dev;
	ino_t		 ino;
	struct client	*clients;
	size_t		 nclients;
	loop_timer_t	 accept_pause;
	struct bucket	 buckets[RATE_SLOTS];
};

static void	client_drop(struct client *c, const char *why);
static int	client_flush(struct client *c);

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

/* ---- authorization ------------------------------------------------------ */

static int
in_group(const struct ctl_peer *p, gid_t g)
{
	gid_t groups[CTL_PEER_MAX_GROUPS * 4];
	int i, n = (int)(sizeof(groups) / sizeof(groups[0]));
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (p->gid == g)
		return 1;
	if (p->ngroups >= 0) {
		for (i = 0; i < p->ngroups; i++)
			if (p->groups[i] == g)
				return 1;
		return 0;
	}
	/* The OS did not say: ask the user database about the peer's uid. */
	if (getpwuid_r(p->uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 ||
	    res == NULL)
		return 0;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == g)
			return 1;
	return 0;
}

static void
caller_init(struct ctl *ctl, struct client *c)
{
	struct ctl_peer *p = &c->peer;

	c->caller.peer = p;
	c->caller.group = ctl->have_gid ? ctl->group : NULL;
	c->caller.admin_group = ctl->have_admin_gid ? ctl->admin_group : NULL;
	c->caller.can_read = p->uid == 0 ||
	    (ctl->have_gid && in_group(p, ctl->gid));
	c->caller.can_admin = p->uid == 0 ||
	    (ctl->have_admin_gid && in_group(p, ctl->admin_gid));
	/* Admin rights include reading. */
	c->caller.can_read |= c->caller.can_admin;
}

/* ---- rate limiting ------------------------------------------------------ */

static struct bucket *
bucket_get(struct ctl *ctl, uid_t uid, uint64_t now)
{
	struct bucket *b, *victim = &ctl->buckets[0];
	size_t i;

	for (i = 0; i < RATE_SLOTS; i++) {
		b = &ctl->buckets[i];
		if (b->used && b->uid == uid)
			return b;
		if (!b->used || (victim->used && b->last_ms < victim->last_ms))
			victim = b;
	}
	/* A new (or evicted) uid starts with a full bucket. */
	victim->used = 1;
	victim->uid = uid;
	victim->last_ms = now;
	victim->milli = (uint64_t)ctl->p.burst * 1000;
	return victim;
}

static int
rate_allow(struct ctl *ctl, uid_t uid)
{
	uint64_t now = loop_now(ctl->loop), cap = (uint64_t)ctl->p.burst * 1000;
	struct bucket *b = bucket_get(ctl, uid, now);

	/* rate requests/s == rate thousandths per ms */
	b->milli += (now - b->last_ms) * ctl->p.rate;
	if (b->milli > cap)
		b->milli = cap;
	b->last_ms = now;
	if (b->milli < 1000)
		return 0;
	b->milli -= 1000;
	return 1;
}

/* ---- per-client buffers ------------------------------------------------- */

/* Queues one reply line; 0, or -1 when the client was dropped. */
static int
client_send(struct client *c, cJSON *reply)
{
	char *s = reply ? cJSON_PrintUnformatted(reply) : NULL;
	size_t n, need, cap;
	char *nb;

	cJSON_Delete(reply);
	if (s == NULL) {
		client_drop(c, "out of memory");
		return -1;
	}
	n = strlen(s);
	need = c->wlen + n + 1;
	if (need > c->ctl->p.max_reply) {
		free(s);
		client_drop(c, "not reading its replies");
		return -1;
	}
	if (need > c->wcap) {
		for (cap = c->wcap ? c->wcap : 1024; cap < need; cap *= 2)
			;
		if ((nb = realloc(c->wbuf, cap)) == NULL) {
			free(s);
			client_drop(c, "out of memory");
			return -1;
		}
		c->wbuf = nb;
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, s, n);
	c->wbuf[c->wlen + n] = '\n';
	c->wlen += n + 1;
	free(s);
	return 0;
}

static int
client_error(struct client *c, const char *msg)
{
	return client_send(c, ctl_reply_error(msg));
}

static int
client_line(struct client *c, char *line, size_t len)
{
	struct ctl *ctl = c->ctl;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;	/* blank lines (an Enter in nc) are ignored */
	loop_timer_start(ctl->loop, &c->idle, ctl->p.idle_ms);
	if (!rate_allow(ctl, c->peer.uid)) {
		ctl_wipe(line, len);
		return client_error(c, "rate limited");
	}
	return client_send(c, ctl_cmd_run(&ctl->h, &c->caller, line, len));
}

/* Answers every complete line; 0, or -1 when the client was dropped. */
static int
client_lines(struct client *c)
{
	char *nl;
	size_t used;

	while (!c->closing &&
	    (nl = memchr(c->rbuf + c->scan, '\n', c->rlen - c->scan)) != NULL) {
		used = (size_t)(nl - c->rbuf) + 1;
		if (client_line(c, c->rbuf, used - 1) != 0)
			return -1;
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
		c->scan = 0;
	}
	c->scan = c->rlen;
	if (!c->closing && c->rlen > CTL_MAX_REQUEST) {
		ctl_wipe(c->rbuf, c->rlen);
		c->rlen = c->scan = 0;
		c->closing = 1;
		return client_error(c, "request too long (the limit is 65536 "
		    "bytes per line)");
	}
	return 0;
}

static int
rbuf_room(struct client *c)
{
	size_t cap, max = CTL_MAX_REQUEST + 1;
	char *nb;

	if (c->rlen < c->rcap)
		return 0;
	if (c->rcap >= max)
		return -ENOBUFS;	/* cannot happen: client_lines empties it */
	cap = c->rcap ? c->rcap * 2 : RBUF_START;
	if (cap > max)
		cap = max;
	if ((nb = malloc(cap)) == NULL)
		return -ENOMEM;
	/* Copy rather than realloc so that the old bytes can be wiped. */
	if (c->rlen > 0)
		memcpy(nb, c->rbuf, c->rlen);
	ctl_wipe(c->rbuf, c->rcap);
	free(c->rbuf);
	c->rbuf = nb;
	c->rcap = cap;
	return 0;
}

/* 0, or -1 when the client was dropped. */
static int
client_read(struct client *c)
{
	ssize_t n;

	if (rbuf_room(c) != 0) {
		client_drop(c, "out of memory");
		return -1;
	}
	n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		client_drop(c, "read error");
		return -1;
	}
	if (n == 0) {
		/* A last request without its newline still gets an answer
		 * (echo -n ... | nc -U); the peer may have shut down only
		 * its sending half. */
		if (c->rlen > 0 && client_line(c, c->rbuf, c->rlen) != 0)
			return -1;
		c->rlen = c->scan = 0;
		c->closing = 1;
		return 0;
	}
	c->rlen += (size_t)n;
	return client_lines(c);
}

static void
client_interest(struct client *c)
{
	int ev = c->closing ? 0 : LOOP_READ;

	if (c->woff < c->wlen)
		ev |= LOOP_WRITE;
	loop_mod_fd(c->ctl->loop, c->fd, ev);
}

/* 0, or -1 when the client was dropped (or closed after its last reply). */
static int
client_flush(struct client *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				break;
			client_drop(c, NULL);	/* peer went away */
			return -1;
		}
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen) {
		c->woff = c->wlen = 0;
		if (c->wcap > WBUF_KEEP) {
			free(c->wbuf);
			c->wbuf = NULL;
			c->wcap = 0;
		}
		if (c->closing) {
			client_drop(c, NULL);
			return -1;
		}
	}
	client_interest(c);
	return 0;
}

static void
on_client(loop_t *loop, int fd, int events, void *arg)
{
	struct client *c = arg;

	(void)loop;
	(void)fd;
	if ((events & LOOP_READ) && !c->closing && client_read(c) != 0)
		return;
	client_flush(c);
}

static void
on_idle(loop_t *loop, void *arg)
{
	(void)loop;
	client_drop(arg, "idle timeout");
}

static void
client_drop(struct client *c, const char *why)
{
	struct ctl *ctl = c->ctl;

	if (why != NULL)
		log_info("ctl: closing client uid=%u pid=%ld: %s",
		    (unsigned)c->peer.uid, (long)c->peer.pid, why);
	loop_timer_stop(ctl->loop, &c->idle);
	loop_del_fd(ctl->loop, c->fd);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ctl->nclients--;
	ctl_wipe(c->rbuf, c->rcap);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

/* ---- accepting ---------------------------------------------------------- */

/* One error line into the fresh socket's empty buffer, then close. */
static void
reject(int fd, const char *msg)
{
	cJSON *r = ctl_reply_error(msg);
	char *s = r ? cJSON_PrintUnformatted(r) : NULL;
	ssize_t w;

	if (s != NULL) {
		size_t n = strlen(s);

		s[n] = '\n';	/* replaces the NUL; length passed explicitly */
		w = send(fd, s, n + 1, MSG_NOSIGNAL);
		(void)w;
	}
	free(s);
	cJSON_Delete(r);
	close(fd);
}

static size_t
uid_conns(const struct ctl *ctl, uid_t uid)
{
	const struct client *c;
	size_t n = 0;

	for (c = ctl->clients; c != NULL; c = c->next)
		n += c->peer.uid == uid;
	return n;
}

static void
client_new(struct ctl *ctl, int fd)
{
	struct ctl_peer peer;
	struct client *c;
	int r;

	if ((r = ctl_os_peer(fd, &peer)) != 0) {
		log_warnx("ctl: peer credentials: %s", strerror(-r));
		close(fd);
		return;
	}
	if (ctl->nclients >= ctl->p.max_clients) {
		log_info("ctl: refusing client uid=%u pid=%ld: too many clients",
		    (unsigned)peer.uid, (long)peer.pid);
		reject(fd, "too many clients");
		return;
	}
	if (peer.uid != 0 && uid_conns(ctl, peer.uid) >= ctl->p.max_per_uid) {
		reject(fd, "too many connections from this user");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		reject(fd, "out of memory");
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->peer = peer;
	caller_init(ctl, c);
	loop_timer_init(&c->idle, on_idle, c);
	if (loop_add_fd(ctl->loop, fd, LOOP_READ, on_client, c) != 0 ||
	    loop_timer_start(ctl->loop, &c->idle, ctl->p.idle_ms) != 0) {
		loop_del_fd(ctl->loop, fd);
		free(c);
		reject(fd, "out of memory");
		return;
	}
	c->next = ctl->clients;
	if (c->next != NULL)
		c->next->prev = c;
	ctl->clients = c;
	ctl->nclients++;
	log_debug("ctl: client uid=%u gid=%u pid=%ld read=%d admin=%d",
	    (unsigned)peer.uid, (unsigned)peer.gid, (long)peer.pid,
	    c->caller.can_read, c->caller.can_admin);
}

static void
on_accept_resume(loop_t *loop, void *arg)
{
	struct ctl *ctl = arg;

	loop_mod_fd(loop, ctl->lfd, LOOP_READ);
}

static void
on_listen(loop_t *loop, int lfd, int events, void *arg)
{
	struct ctl *ctl = arg;
	int i, fd;

	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and friends: the socket stays readable, so
			 * stop watching it for a moment rather than spin. */
			log_warn("ctl: accept");
			loop_mod_fd(loop, lfd, 0);
			loop_timer_start(loop, &ctl->accept_pause,
			    ACCEPT_PAUSE_MS);
			return;
		}
		if (set_nonblock_cloexec(fd) != 0) {
			close(fd);
			continue;
		}
		client_new(ctl, fd);
	}
}

/* ---- the socket file ---------------------------------------------------- */

/* ENOENT: nothing there (or a stale socket, now removed); EADDRINUSE: a
 * live daemon answers; EEXIST: something that is not a socket. */
static int
clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r, saved;

	if (lstat(sa->sun_path, &st) == -1)
		return errno == ENOENT ? -ENOENT : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -errno;
	/* Non-blocking: a live daemon with a full backlog says EAGAIN. */
	if ((r = set_nonblock_cloexec(fd)) != 0) {
		close(fd);
		return r;
	}
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	saved = errno;
	close(fd);
	if (r == 0 || saved == EAGAIN || saved == EINPROGRESS)
		return -EADDRINUSE;
	if (saved != ECONNREFUSED)
		return -saved;
	if (unlink(sa->sun_path) == -1 && errno != ENOENT)
		return -errno;
	log_info("ctl: removed stale socket %s", sa->sun_path);
	return -ENOENT;
}

static int
make_socket(struct ctl *ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (strlen(ctl->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, ctl->path, strlen(ctl->path) + 1);
	if ((r = clear_stale(&sa)) != -ENOENT)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -errno;
	if ((r = set_nonblock_cloexec(fd)) != 0)
		goto fail;
	/* Nobody can connect before listen(), so the mode and group are in
	 * place before the socket answers anyone. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		r = -errno;
		goto fail;
	}
	ctl->created = 1;
	if (chmod(ctl->path, ctl->p.socket_mode) == -1 ||
	    (ctl->have_gid && chown(ctl->path, (uid_t)-1, ctl->gid) == -1) ||
	    listen(fd, 128) == -1 || stat(ctl->path, &st) == -1) {
		r = -errno;
		unlink(ctl->path);
		ctl->created = 0;
		goto fail;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->lfd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

static void
params_defaults(struct ctl_params *p)
{
	if (p->socket_path == NULL)
		p->socket_path = CTL_DEFAULT_SOCKET;
	if (p->max_clients == 0)
		p->max_clients = DEF_MAX_CLIENTS;
	if (p->max_per_uid == 0)
		p->max_per_uid = DEF_MAX_PER_UID;
	if (p->max_reply == 0)
		p->max_reply = DEF_MAX_REPLY;
	if (p->idle_ms == 0)
		p->idle_ms = DEF_IDLE_MS;
	if (p->rate == 0)
		p->rate = DEF_RATE;
	if (p->burst == 0)
		p->burst = DEF_BURST;
}

/* gid of name into *gid; 0 when unknown (logged). */
static int
lookup_group(const char *name, const char *what, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (name == NULL)
		return 0;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL) {
		log_warnx("ctl: %s group \"%s\" does not exist: root only",
		    what, name);
		return 0;
	}
	*gid = gr.gr_gid;
	return 1;
}

static int
ctl_setup(struct ctl *ctl, const struct ctl_params *params)
{
	int r;

	ctl->p = *params;
	params_defaults(&ctl->p);
	if ((ctl->path = strdup(ctl->p.socket_path)) == NULL ||
	    (params->group && (ctl->group = strdup(params->group)) == NULL) ||
	    (params->admin_group &&
	    (ctl->admin_group = strdup(params->admin_group)) == NULL))
		return -ENOMEM;
	ctl->have_gid = lookup_group(ctl->group, "control", &ctl->gid);
	ctl->have_admin_gid = lookup_group(ctl->admin_group, "admin",
	    &ctl->admin_gid);
	if (ctl->p.socket_mode == 0)
		ctl->p.socket_mode = ctl->have_gid ? 0660 : 0600;
	if (params->listen_fd > 0) {
		ctl->lfd = params->listen_fd;
		if ((r = set_nonblock_cloexec(ctl->lfd)) != 0)
			return r;
		log_info("ctl: serving the socket passed by the service manager");
	} else {
		if ((r = make_socket(ctl)) != 0)
			return r;
		log_info("ctl: listening on %s (mode %04o, group %s)", ctl->path,
		    (unsigned)ctl->p.socket_mode,
		    ctl->have_gid ? ctl->group : "root");
	}
	return loop_add_fd(ctl->loop, ctl->lfd, LOOP_READ, on_listen, ctl);
}

ctl_t *
ctl_new(loop_t *loop, const struct ctl_params *params,
    const struct ctl_handlers *h)
{
	struct ctl *ctl;
	int r;

	if (loop == NULL || params == NULL || h == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return NULL;
	ctl->loop = loop;
	ctl->h = *h;
	ctl->lfd = -1;
	loop_timer_init(&ctl->accept_pause, on_accept_resume, ctl);
	if ((r = ctl_setup(ctl, params)) != 0) {
		if (r == -EADDRINUSE)
			log_warnx("ctl: %s: another ngrokd is answering there",
			    ctl->path ? ctl->path : "?");
		else if (r == -EEXIST)
			log_warnx("ctl: %s: exists and is not a socket; not "
			    "touching it", ctl->path);
		else
			log_warnx("ctl: %s: %s", ctl->path ? ctl->path : "?",
			    strerror(-r));
		/* A passed fd stays the caller's on failure. */
		if (params->listen_fd > 0)
			ctl->lfd = -1;
		ctl_free(ctl);
		errno = -r;
		return NULL;
	}
	return ctl;
}

void
ctl_free(ctl_t *ctl)
{
	struct stat st;

	if (ctl == NULL)
		return;
	while (ctl->clients != NULL)
		client_drop(ctl->clients, NULL);
	loop_timer_stop(ctl->loop, &ctl->accept_pause);
	if (ctl->lfd >= 0) {
		loop_del_fd(ctl->loop, ctl->lfd);
		close(ctl->lfd);
	}
	/* Only our own file: another daemon may have replaced it since. */
	if (ctl->created && stat(ctl->path, &st) == 0 &&
	    st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl->group);
	free(ctl->admin_group);
	free(ctl);
}

size_t
ctl_nclients(const ctl_t *ctl)
{
	return ctl->nclients;
}
