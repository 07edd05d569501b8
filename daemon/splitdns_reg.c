/*
 * splitdns_reg.c: the daemon's split-DNS registration: a worker thread
 * that applies the wanted domain set with the OS's backend, a record of
 * what is registered in the state dir, and the start-up clean-up after a
 * crash.
 *
 * Why a thread: resolvectl talks to resolved over D-Bus and each run is
 * waited for (up to timeout_ms, three runs per apply).  Normally that is a
 * few milliseconds, but a resolved that hangs would stall the loop thread,
 * and with it every stream, for up to 15 s at each endpoint change.  The
 * loop thread only hands over the wanted set (splitdns_set_domains returns
 * at once); the worker applies the newest one, so a burst of endpoint
 * changes costs one or two applies, not one per change.
 *
 * The record (<state_dir>/splitdns.json) is written before anything is
 * registered and removed after a clean revert, so a run that dies in
 * between leaves it for splitdns_cleanup at the next start.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon/log.h"
#include "daemon/splitdns.h"

#define REG_TIMEOUT_MS		5000
#define REG_IFNAMSIZ		16
#define REG_MAX_RECORD		(256 * 1024)
#define REG_LIST_LOG		200	/* bytes of the domain list in a log line */

struct splitdns {
	struct splitdns_backend	 b;
	char			 dir[PATH_MAX];
	char			 ifname[REG_IFNAMSIZ];
	char			 record[PATH_MAX];
	uint32_t		 server;
	unsigned		 timeout_ms;
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;

	/* Under mu; want is written only by the loop thread. */
	char			**want;
	size_t			 n_want;
	uint64_t		 gen_want, gen_done;
	int			 stop;
	const char		*state;
	char			 error[SPLITDNS_ERR_LEN];

	/* Worker only. */
	char			**applied;	/* registered now (NULL: nothing) */
	size_t			 n_applied;
	int			 touched;	/* the link/files may hold settings */
	char			 logged[SPLITDNS_ERR_LEN];	/* last failure logged */
};

const char *
splitdns_backend_name(const struct splitdns_backend *b)
{
	return b->kind == SPLITDNS_RESOLVED ? "systemd-resolved" : "resolver files";
}

static const char *
kind_key(enum splitdns_kind k)
{
	return k == SPLITDNS_RESOLVED ? "systemd-resolved" : "files";
}

/* --- the record ------------------------------------------------------------ */

static int
write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 16];
	size_t n = strlen(text), off = 0;
	ssize_t w;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0)
		return -errno;
	while (off < n && r == 0) {
		if ((w = write(fd, text + off, n - off)) < 0) {
			if (errno != EINTR)
				r = -errno;
		} else
			off += (size_t)w;
	}
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r != 0)
		unlink(tmp);
	return r;
}

static int
save_record(struct splitdns *s, char *const *domains, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char *txt = NULL, a[16];
	size_t i;
	int r = -ENOMEM;

	snprintf(a, sizeof(a), "%u.%u.%u.%u", s->server >> 24,
	    (s->server >> 16) & 0xff, (s->server >> 8) & 0xff, s->server & 0xff);
	if (o == NULL ||
	    cJSON_AddStringToObject(o, "backend", kind_key(s->b.kind)) == NULL ||
	    cJSON_AddStringToObject(o, "interface", s->ifname) == NULL ||
	    cJSON_AddStringToObject(o, "server", a) == NULL ||
	    (arr = cJSON_AddArrayToObject(o, "domains")) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(domains[i])))
			goto out;
	if ((txt = cJSON_PrintUnformatted(o)) == NULL)
		goto out;
	r = write_file(s->record, txt);
	if (r != 0)
		log_warnx("splitdns: %s: %s (a crash now would leave the "
		    "registration for the next start to miss)", s->record,
		    strerror(-r));
out:
	cJSON_free(txt);
	cJSON_Delete(o);
	return r;
}

static int
record_path(char *out, size_t cap, const char *state_dir)
{
	size_t n = strlen(state_dir);

	while (n > 1 && state_dir[n - 1] == '/')
		n--;
	if (snprintf(out, cap, "%.*s/" SPLITDNS_RECORD, (int)n, state_dir) >=
	    (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* --- applying (worker) ----------------------------------------------------- */

static void
free_list(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
in_list(char *const *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

/* The files of the applied set that the new set v drops. */
static int
remove_stale(struct splitdns *s, char *const *v, size_t n, char *err,
    size_t errlen)
{
	size_t i;
	int r, first = 0;

	for (i = 0; i < s->n_applied; i++) {
		if (in_list(v, n, s->applied[i]))
			continue;
		r = splitdns_files_remove(s->dir,
		    (const char *const *)&s->applied[i], 1, err, errlen);
		if (first == 0)
			first = r;
	}
	return first;
}

static int
backend_apply(struct splitdns *s, char *const *v, size_t n, char *err,
    size_t errlen)
{
	struct splitdns_params p = {
		.ifname = s->ifname, .server = s->server,
		.domains = (const char *const *)v, .n_domains = n,
		.timeout_ms = s->timeout_ms, .err = err, .errlen = errlen,
	};
	int r;

	if (s->b.kind == SPLITDNS_RESOLVED)
		return splitdns_apply(&p);
	/* Stale files go first, then the record, then the new files: a crash
	 * at any point leaves only files the record lists (or none). */
	if ((r = remove_stale(s, v, n, err, errlen)) != 0)
		return r;
	(void)save_record(s, v, n);
	return splitdns_files_apply(s->dir, s->server,
	    (const char *const *)v, n, err, errlen);
}

static int
backend_revert(struct splitdns *s, char *err, size_t errlen)
{
	if (s->b.kind == SPLITDNS_RESOLVED)
		return splitdns_revert(s->ifname, s->timeout_ms, err, errlen);
	return splitdns_files_remove(s->dir, (const char *const *)s->applied,
	    s->n_applied, err, errlen);
}

/* "a, b, c" cut at about REG_LIST_LOG bytes. */
static void
list_str(char *out, size_t cap, char *const *v, size_t n)
{
	size_t i, o = 0;
	int k;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		k = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", v[i]);
		if (k < 0 || (size_t)k >= cap - o || o + (size_t)k > REG_LIST_LOG) {
			snprintf(out + o, cap - o, "%s... (%zu in all)",
			    i ? ", " : "", n);
			return;
		}
		o += (size_t)k;
	}
}

/* One line per distinct failure: an endpoint change re-applies, and a
 * resolved that is not running would otherwise repeat it every time. */
static void
log_failure(struct splitdns *s, char *const *v, size_t n, const char *err)
{
	char list[REG_LIST_LOG + 64], a[16];

	if (strcmp(s->logged, err) == 0) {
		log_debug("splitdns: %s: still failing: %s", s->ifname, err);
		return;
	}
	snprintf(s->logged, sizeof(s->logged), "%s", err);
	list_str(list, sizeof(list), v, n);
	snprintf(a, sizeof(a), "%u.%u.%u.%u", s->server >> 24,
	    (s->server >> 16) & 0xff, (s->server >> 8) & 0xff, s->server & 0xff);
	log_warnx("splitdns: %s: DNS registration (%s) failed: %s; endpoint "
	    "names resolve through the hosts file only (if server.manage_hosts); "
	    "to send them to ngrokd, route %s to %s by hand (docs/dns.md, "
	    "\"Other setups\")", s->ifname, splitdns_backend_name(&s->b), err,
	    list, a);
}

static void
log_success(struct splitdns *s, char *const *v, size_t n)
{
	char list[REG_LIST_LOG + 64];

	s->logged[0] = '\0';
	list_str(list, sizeof(list), v, n);
	log_info("splitdns: %s: %s to %u.%u.%u.%u (%s)", s->ifname, list,
	    s->server >> 24, (s->server >> 16) & 0xff, (s->server >> 8) & 0xff,
	    s->server & 0xff, splitdns_backend_name(&s->b));
}

/* Reverts what is registered; 0 or -errno (logged). */
static int
do_revert(struct splitdns *s)
{
	char err[SPLITDNS_ERR_LEN] = "";
	int r = 0;

	if (s->touched && (r = backend_revert(s, err, sizeof(err))) != 0) {
		/* After a failed apply the failure was logged already. */
		if (s->logged[0] != '\0')
			log_debug("splitdns: %s: undoing the DNS registration: "
			    "%s", s->ifname, err);
		else
			log_warnx("splitdns: %s: undoing the DNS registration: "
			    "%s", s->ifname, err);
	} else if (s->touched)
		log_info("splitdns: %s: DNS registration removed", s->ifname);
	if (r == 0) {
		free_list(s->applied, s->n_applied);
		s->applied = NULL;
		s->n_applied = 0;
		s->touched = 0;
	}
	return r;
}

/* Applies v (owned: kept as the applied set or freed); sets the status. */
static void
do_apply(struct splitdns *s, char **v, size_t n)
{
	char err[SPLITDNS_ERR_LEN] = "";
	const char *state;
	int r;

	if (n == 0) {
		(void)do_revert(s);
		free_list(v, n);
		state = "waiting";
	} else {
		if (s->b.kind == SPLITDNS_RESOLVED)
			(void)save_record(s, v, n);
		r = backend_apply(s, v, n, err, sizeof(err));
		/* Nothing ran when resolvectl is missing or refused, or a name
		 * was bad; otherwise some settings may be in place. */
		if (r != -ENOENT && r != -EPERM && r != -EINVAL)
			s->touched = 1;
		if (r == 0)
			log_success(s, v, n);
		else
			log_failure(s, v, n, err);
		state = r == 0 ? "applied" : "failed";
		/* Files of v that were written are removed at exit even
		 * after a partial failure. */
		free_list(s->applied, s->n_applied);
		s->applied = v;
		s->n_applied = n;
	}
	pthread_mutex_lock(&s->mu);
	s->state = state;
	snprintf(s->error, sizeof(s->error), "%s", state[0] == 'f' ? err : "");
	pthread_mutex_unlock(&s->mu);
}

static char **
copy_list(char *const *v, size_t n)
{
	char **c = calloc(n + 1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((c[i] = strdup(v[i])) == NULL) {
			free_list(c, i);
			return NULL;
		}
	return c;
}

static void *
worker(void *arg)
{
	struct splitdns *s = arg;
	uint64_t gen;
	char **v;
	size_t n;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stop && s->gen_done == s->gen_want)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		gen = s->gen_want;
		n = s->n_want;
		v = copy_list(s->want, n);
		pthread_mutex_unlock(&s->mu);
		if (v != NULL)
			do_apply(s, v, n);
		else
			log_warnx("splitdns: out of memory; the DNS registration "
			    "is not updated");
		pthread_mutex_lock(&s->mu);
		s->gen_done = gen;
	}
	pthread_mutex_unlock(&s->mu);
	if (do_revert(s) == 0 || s->b.kind == SPLITDNS_RESOLVED)
		unlink(s->record);	/* resolved forgets the link with it */
	pthread_mutex_lock(&s->mu);
	s->gen_done = s->gen_want;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* --- public ------------------------------------------------------------------ */

splitdns_t *
splitdns_new(const struct splitdns_config *c)
{
	struct splitdns *s;
	int r;

	if (c->ifname == NULL || strlen(c->ifname) >= REG_IFNAMSIZ ||
	    (c->backend.kind == SPLITDNS_FILES && (c->backend.dir == NULL ||
	    strlen(c->backend.dir) >= PATH_MAX))) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->b = c->backend;
	if (c->backend.kind == SPLITDNS_FILES) {
		snprintf(s->dir, sizeof(s->dir), "%s", c->backend.dir);
		s->b.dir = s->dir;
	}
	snprintf(s->ifname, sizeof(s->ifname), "%s", c->ifname);
	s->server = c->server;
	s->timeout_ms = c->timeout_ms ? c->timeout_ms : REG_TIMEOUT_MS;
	s->state = "waiting";
	if ((r = record_path(s->record, sizeof(s->record), c->state_dir)) != 0) {
		free(s);
		errno = -r;
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((r = pthread_create(&s->thread, NULL, worker, s)) != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		errno = r;
		return NULL;
	}
	return s;
}

static int
same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

int
splitdns_set_domains(splitdns_t *s, const char *const *names, size_t n)
{
	size_t nv, skipped;
	char **v, **old;
	int r;

	if ((r = splitdns_domains(names, n, &v, &nv, &skipped)) != 0)
		return r;
	if (skipped > 0)
		log_debug("splitdns: %zu name(s) not routed (not a domain name, "
		    "or more than %d)", skipped, SPLITDNS_MAX_DOMAINS);
	if (s->want != NULL && same_list(v, nv, s->want, s->n_want)) {
		splitdns_domains_free(v);
		return 0;
	}
	pthread_mutex_lock(&s->mu);
	old = s->want;
	s->want = v;
	s->n_want = nv;
	s->gen_want++;
	s->state = "pending";
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	splitdns_domains_free(old);
	return 0;
}

void
splitdns_reapply(splitdns_t *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->n_want > 0) {
		s->gen_want++;
		s->state = "pending";
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

int
splitdns_sync(splitdns_t *s, unsigned timeout_ms)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	unsigned waited = 0;
	uint64_t gen;
	int done;

	pthread_mutex_lock(&s->mu);
	gen = s->gen_want;
	pthread_mutex_unlock(&s->mu);
	for (;;) {
		pthread_mutex_lock(&s->mu);
		done = s->gen_done >= gen;
		pthread_mutex_unlock(&s->mu);
		if (done)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		waited += 5;
	}
}

void
splitdns_get_status(splitdns_t *s, struct splitdns_status *st)
{
	pthread_mutex_lock(&s->mu);
	st->state = s->state;
	snprintf(st->error, sizeof(st->error), "%s", s->error);
	st->n_domains = s->n_want;
	pthread_mutex_unlock(&s->mu);
}

const char *
splitdns_domain_at(const splitdns_t *s, size_t i)
{
	return i < s->n_want ? s->want[i] : NULL;
}

void
splitdns_free(splitdns_t *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	splitdns_domains_free(s->want);
	free_list(s->applied, s->n_applied);
	free(s);
}

/* --- clean-up after a crash ------------------------------------------------- */

struct record {
	char		 backend[32];
	char		 ifname[REG_IFNAMSIZ];
	const char	*domains[SPLITDNS_MAX_DOMAINS];
	size_t		 n;
};

static int
read_record(const char *path, char **out)
{
	char *buf;
	ssize_t r;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if ((buf = malloc(REG_MAX_RECORD + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len <= REG_MAX_RECORD) {
		r = read(fd, buf + len, REG_MAX_RECORD + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > REG_MAX_RECORD) {
		free(buf);
		return -EFBIG;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Fills rec from the JSON root (strings borrowed from it); 0 or -1. */
static int
parse_record(const cJSON *root, struct record *rec)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "backend");
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(root, "interface");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "domains");
	const cJSON *e;

	memset(rec, 0, sizeof(*rec));
	if (!cJSON_IsString(b) || !cJSON_IsString(i) || !cJSON_IsArray(d) ||
	    strlen(b->valuestring) >= sizeof(rec->backend) ||
	    strlen(i->valuestring) >= sizeof(rec->ifname))
		return -1;
	snprintf(rec->backend, sizeof(rec->backend), "%s", b->valuestring);
	snprintf(rec->ifname, sizeof(rec->ifname), "%s", i->valuestring);
	cJSON_ArrayForEach(e, d) {
		if (!cJSON_IsString(e) || rec->n == SPLITDNS_MAX_DOMAINS)
			return -1;
		rec->domains[rec->n++] = e->valuestring;
	}
	return 0;
}

static void
cleanup_resolved(const struct record *rec, unsigned timeout_ms)
{
	char err[SPLITDNS_ERR_LEN];

	/* The TUN device goes with the process that held it, and resolved
	 * drops a link's settings when the link goes; a link still there
	 * (a persistent device, or another name configured now) is reverted. */
	if (if_nametoindex(rec->ifname) == 0) {
		log_info("splitdns: %s is gone, and systemd-resolved dropped its "
		    "settings with it", rec->ifname);
		return;
	}
	if (splitdns_revert(rec->ifname, timeout_ms, err, sizeof(err)) != 0)
		log_warnx("splitdns: %s: %s", rec->ifname, err);
	else
		log_info("splitdns: %s: the DNS settings left by the previous "
		    "run are removed", rec->ifname);
}

static void
cleanup_files(const struct splitdns_backend *b, const struct record *rec)
{
	char err[SPLITDNS_ERR_LEN];

	if (splitdns_files_remove(b->dir, rec->domains, rec->n, err,
	    sizeof(err)) != 0)
		log_warnx("splitdns: %s", err);
	else
		log_info("splitdns: removed the resolver files in %s left by "
		    "the previous run (%zu domain(s))", b->dir, rec->n);
}

/* The record could not be read: only the marker says which files are ours. */
static void
cleanup_unreadable(const struct splitdns_backend *b, const char *path,
    const char *why)
{
	int n;

	log_warnx("splitdns: %s: %s; the previous run's DNS registration is "
	    "undone as far as can be told", path, why);
	if (b->kind != SPLITDNS_FILES)
		return;
	if ((n = splitdns_files_sweep(b->dir)) < 0)
		log_warnx("splitdns: %s: %s", b->dir, strerror(-n));
	else
		log_info("splitdns: removed %d marked resolver file(s) in %s",
		    n, b->dir);
}

int
splitdns_cleanup(const struct splitdns_backend *b, const char *state_dir,
    unsigned timeout_ms)
{
	char path[PATH_MAX], *txt = NULL;
	struct record *rec = NULL;
	cJSON *root = NULL;
	int r;

	if ((r = record_path(path, sizeof(path), state_dir)) != 0)
		return r;
	if ((r = read_record(path, &txt)) == -ENOENT)
		return 0;
	if (r != 0) {
		cleanup_unreadable(b, path, strerror(-r));
		goto out;
	}
	if ((rec = malloc(sizeof(*rec))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((root = cJSON_Parse(txt)) == NULL || parse_record(root, rec) != 0) {
		cleanup_unreadable(b, path, "not a registration record");
		goto out;
	}
	log_info("splitdns: the previous run did not remove its DNS "
	    "registration (%s on %s, %zu domain(s)); undoing it", rec->backend,
	    rec->ifname, rec->n);
	if (strcmp(rec->backend, kind_key(SPLITDNS_RESOLVED)) == 0)
		cleanup_resolved(rec, timeout_ms ? timeout_ms : REG_TIMEOUT_MS);
	else if (strcmp(rec->backend, kind_key(SPLITDNS_FILES)) == 0 &&
	    b->kind == SPLITDNS_FILES)
		cleanup_files(b, rec);
	else
		log_warnx("splitdns: %s: backend \"%.31s\" is not this system's; "
		    "ignored", path, rec->backend);
out:
	if (r != -ENOMEM && unlink(path) != 0 && errno != ENOENT)
		log_warnx("splitdns: %s: %s", path, strerror(errno));
	cJSON_Delete(root);
	free(rec);
	free(txt);
	return r == 0 ? 1 : r;
}
