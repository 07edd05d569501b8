/*
 * splitdns.c: systemd-resolved registration through resolvectl.
 *
 * resolvectl rather than resolved's D-Bus API: no D-Bus library to link,
 * the same calls an operator would type, and a fake resolvectl can record
 * them (tests).  posix_spawn rather than fork + exec: the daemon has threads
 * (discovery's worker, the registration's), and after fork only
 * async-signal-safe calls are allowed in the child.  argv is an array,
 * never a shell line, and every name in it was checked first.
 *
 * Which resolvectl: the first in a fixed list of system directories, never
 * the inherited $PATH (a root daemon started from a shell whose PATH has a
 * user-writable directory first would run that user's program).  Tests
 * name a fake one in $NGROKD_RESOLVECTL, honoured only when the file and
 * its directory are owned by root (or the daemon's user) and writable by
 * nobody else: whoever sets the variable already controls the daemon's
 * environment, and the check keeps a stray value from running a file
 * another user could change.  When it is set but refused, nothing runs:
 * falling back to the real resolvectl would let a test touch the host's
 * resolver.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/splitdns.h"

#define SPLITDNS_TIMEOUT_MS	5000
#define SPLITDNS_ERRLINE	200
#define SPLITDNS_IFNAMSIZ	16
/* Where resolvectl is looked for: fixed, not the inherited $PATH (the
 * daemon runs as root; a PATH with a user's directory first would run
 * that user's program). */
#ifndef SPLITDNS_RESOLVECTL_DIRS
#define SPLITDNS_RESOLVECTL_DIRS	"/usr/bin:/bin:/usr/sbin:/sbin"
#endif

extern char **environ;

static const char hint[] =
    "route the managed domains to the responder by hand (docs/dns.md, "
    "\"Other setups\")";

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
valid_ifname(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= SPLITDNS_IFNAMSIZ || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		    s[i] == '.'))
			return 0;
	return 1;
}

/* --- names ---------------------------------------------------------------- */

int
splitdns_domain_norm(const char *name, char *out, size_t cap)
{
	size_t i, n, label = 0;
	char c;

	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	n = strlen(name);
	if (n == 0 || n > SPLITDNS_MAX_NAME || n + 1 > cap)
		return -1;
	for (i = 0; i < n; i++) {
		c = name[i];
		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return -1;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || (c == '-' && label > 0)) {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (label == 0 || name[n - 1] == '-')
		return -1;
	out[n] = '\0';
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is a proper parent domain of name (a suffix after a dot) in v (sorted,
 * n entries)? */
static int
has_parent(char *const *v, size_t n, const char *name)
{
	const char *p;

	for (p = strchr(name, '.'); p != NULL; p = strchr(p + 1, '.'))
		if (bsearch(&(const char *){ p + 1 }, v, n, sizeof(*v),
		    cmp_str) != NULL)
			return 1;
	return 0;
}

/* Drops duplicates and entries below another entry of v (sorted, n
 * entries); the new length.  A binary search per label, not a comparison
 * of every pair: this runs on the loop thread at every endpoint change,
 * with as many names as there are endpoints. */
static size_t
drop_covered(char **v, size_t n)
{
	unsigned char *drop;
	size_t i, o = 0;

	if (n == 0)
		return 0;
	if ((drop = calloc(n, 1)) == NULL)
		return n;	/* routing a name twice is harmless */
	for (i = 0; i < n; i++)
		drop[i] = (i > 0 && strcmp(v[i], v[i - 1]) == 0) ||
		    has_parent(v, n, v[i]);
	for (i = 0; i < n; i++) {
		if (drop[i])
			free(v[i]);
		else
			v[o++] = v[i];
	}
	v[o] = NULL;
	free(drop);
	return o;
}

int
splitdns_domains(const char *const *names, size_t n, char ***out,
    size_t *nout, size_t *skipped)
{
	char buf[SPLITDNS_MAX_NAME + 1], **v;
	size_t i, o = 0, bad = 0;

	*out = NULL;
	*nout = 0;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (splitdns_domain_norm(names[i], buf, sizeof(buf)) != 0) {
			bad++;
			continue;
		}
		if ((v[o] = strdup(buf)) == NULL) {
			splitdns_domains_free(v);
			return -ENOMEM;
		}
		o++;
	}
	qsort(v, o, sizeof(*v), cmp_str);
	o = drop_covered(v, o);
	while (o > SPLITDNS_MAX_DOMAINS) {
		free(v[--o]);
		v[o] = NULL;
		bad++;
	}
	if (skipped != NULL)
		*skipped = bad;
	*out = v;
	*nout = o;
	return 0;
}

void
splitdns_domains_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* --- resolvectl ------------------------------------------------------------ */

/* "~domain" for a host or domain name, or -1 (splitdns_domain_norm). */
static int
routing_domain(const char *name, char *out, size_t cap)
{
	if (cap < 2)
		return -1;
	out[0] = '~';
	return splitdns_domain_norm(name, out + 1, cap - 1);
}

/* Keeps the first line of what the child writes to stderr, for the log;
 * reads (and drops) the rest so the child never blocks on a full pipe. */
struct errline {
	char	 s[SPLITDNS_ERRLINE + 1];
	size_t	 n;
	int	 done;		/* the first line ended */
};

static void
drain(int fd, struct errline *e)
{
	char buf[512];
	ssize_t r;
	size_t i;

	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)r && !e->done; i++) {
			if (buf[i] == '\n' || e->n == SPLITDNS_ERRLINE)
				e->done = 1;
			else
				e->s[e->n++] = buf[i] >= ' ' && buf[i] < 127 ? buf[i] : '?';
		}
	}
	e->s[e->n] = '\0';
}

/* Waits for pid until the deadline, collecting its stderr from fd.
 * The exit status, or -ETIMEDOUT (the child was killed). */
static int
wait_child(pid_t pid, int fd, unsigned timeout_ms, struct errline *e)
{
	int64_t deadline = now_ms() + timeout_ms, left;
	struct pollfd pfd = { fd, POLLIN, 0 };
	int status;
	pid_t w;

	memset(e, 0, sizeof(*e));
	for (;;) {
		drain(fd, e);
		if ((w = waitpid(pid, &status, WNOHANG)) == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if ((left = deadline - now_ms()) <= 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -ETIMEDOUT;
		}
		/* The pipe reports EOF when the child exits; 50 ms also
		 * covers a child that handed its stderr on to another. */
		poll(&pfd, 1, left < 50 ? (int)left : 50);
	}
	drain(fd, e);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Is path (a file or directory) safe to trust as root: owned by root or
 * by us, and writable by nobody else? */
static int
trusted(const char *path, int want_dir, char *why, size_t len)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return 0;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s: not a %s", path, want_dir ?
		    "directory" : "regular file");
		return 0;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, len, "%s: owned by uid %u", path,
		    (unsigned)st.st_uid);
		return 0;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s: writable by group or others", path);
		return 0;
	}
	return 1;
}

/* $NGROKD_RESOLVECTL: absolute, a regular file and its directory both
 * trusted.  Only tests set it, and a root daemon must not run a program
 * someone else could have replaced. */
static int
env_resolvectl(const char *v, char *out, size_t cap, char *err, size_t errlen)
{
	char dir[PATH_MAX], why[PATH_MAX + 64];
	const char *slash = strrchr(v, '/');

	if (v[0] != '/' || strlen(v) >= cap || strlen(v) >= sizeof(dir)) {
		snprintf(err, errlen, SPLITDNS_ENV_RESOLVECTL " is not an "
		    "absolute path; refused");
		return -EPERM;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == v ? 1 : (int)(slash - v), v);
	if (!trusted(v, 0, why, sizeof(why)) || !trusted(dir, 1, why, sizeof(why))) {
		snprintf(err, errlen, SPLITDNS_ENV_RESOLVECTL " refused: %s", why);
		return -EPERM;
	}
	snprintf(out, cap, "%s", v);
	return 0;
}

int
splitdns_resolvectl(char *out, size_t cap, char *err, size_t errlen)
{
	const char *v = getenv(SPLITDNS_ENV_RESOLVECTL), *p, *colon;
	size_t n;

	if (v != NULL && *v != '\0')
		return env_resolvectl(v, out, cap, err, errlen);
	for (p = SPLITDNS_RESOLVECTL_DIRS; *p != '\0'; p = colon + 1) {
		if ((colon = strchr(p, ':')) == NULL)
			colon = p + strlen(p);
		n = (size_t)(colon - p);
		if (n > 0 && n + sizeof("/resolvectl") <= cap) {
			snprintf(out, cap, "%.*s/resolvectl", (int)n, p);
			if (access(out, X_OK) == 0)
				return 0;
		}
		if (*colon == '\0')
			break;
	}
	snprintf(err, errlen, "resolvectl not found (in %s): systemd-resolved "
	    "is not in use here", SPLITDNS_RESOLVECTL_DIRS);
	return -ENOENT;
}

/* Starts bin with argv, stdin/stdout on /dev/null and stderr on fd.
 * 0 or an errno value (posix_spawn's convention). */
static int
spawn(pid_t *pid, const char *bin, char *const argv[], int fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int r;

	if ((r = posix_spawn_file_actions_init(&fa)) != 0)
		return r;
	if ((r = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return r;
	}
	if ((r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
	    (r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, fd, 2)) == 0 &&
	    (r = splitdns_os_spawn_closefds(&fa, &attr)) == 0)
		r = posix_spawn(pid, bin, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* A close-on-exec pipe, our end non-blocking (the child's stderr stays
 * ordinary).  pipe + fcntl rather than pipe2, which macOS lacks; what
 * another thread opens meanwhile is closed in the child by spawn(). */
static int
make_pipe(int pfd[2])
{
	if (pipe(pfd) < 0)
		return errno;
	if (fcntl(pfd[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(pfd[1], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;

		close(pfd[0]);
		close(pfd[1]);
		return e;
	}
	return 0;
}

/* Runs resolvectl with argv (argv[0] is only its name); 0 for exit 0, else
 * -errno as documented in splitdns.h, with one line saying what went wrong
 * in err. */
static int
run(char *const argv[], unsigned timeout_ms, char *err, size_t errlen)
{
	char bin[PATH_MAX];
	struct errline e;
	int pfd[2], r;
	pid_t pid;

	if ((r = splitdns_resolvectl(bin, sizeof(bin), err, errlen)) != 0)
		return r;
	if ((r = make_pipe(pfd)) != 0) {
		snprintf(err, errlen, "resolvectl: pipe: %s", strerror(r));
		return -r;
	}
	if ((r = spawn(&pid, bin, argv, pfd[1])) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		snprintf(err, errlen, "%.200s: %s", bin, strerror(r));
		return -r;
	}
	close(pfd[1]);
	r = wait_child(pid, pfd[0], timeout_ms, &e);
	close(pfd[0]);
	if (r > 0) {
		snprintf(err, errlen, "resolvectl %s %s: exit %d%s%s", argv[1],
		    argv[2], r, e.n ? ": " : "", e.s);
		return -EIO;
	}
	if (r == -ETIMEDOUT)
		snprintf(err, errlen, "resolvectl %s %s: no answer in %u ms, "
		    "killed", argv[1], argv[2], timeout_ms);
	else if (r < 0)
		snprintf(err, errlen, "resolvectl %s %s: %s", argv[1], argv[2],
		    strerror(-r));
	return r;
}

static void
free_argv(char **argv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
}

/* "resolvectl domain IF ~d..." as an allocated argv; NULL + errno. */
static char **
domain_argv(const struct splitdns_params *p)
{
	char **argv, buf[SPLITDNS_MAX_NAME + 2];
	size_t i, n = 3;

	if ((argv = calloc(p->n_domains + 4, sizeof(*argv))) == NULL)
		return NULL;
	if ((argv[0] = strdup("resolvectl")) == NULL ||
	    (argv[1] = strdup("domain")) == NULL ||
	    (argv[2] = strdup(p->ifname)) == NULL)
		goto fail;
	for (i = 0; i < p->n_domains; i++) {
		if (routing_domain(p->domains[i], buf, sizeof(buf)) != 0) {
			errno = EINVAL;
			goto fail;
		}
		if ((argv[n] = strdup(buf)) == NULL)
			goto fail;
		n++;
	}
	return argv;
fail:
	i = (size_t)errno;
	free_argv(argv, n);
	errno = (int)i;
	return NULL;
}

/* The failure of an apply, in one line: what failed and what to do. */
static void
report(const char *ifname, int r, const char *what, char *err, size_t errlen)
{
	char line[SPLITDNS_ERR_LEN];

	snprintf(line, sizeof(line), "%s%s", what, r == -EIO || r == -ETIMEDOUT ?
	    "; systemd-resolved is probably not running" : "");
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", line);
	else
		log_warnx("splitdns: %s: %s; %s", ifname, line, hint);
}

int
splitdns_apply(const struct splitdns_params *p)
{
	char addr[16], ifname[SPLITDNS_IFNAMSIZ], e[SPLITDNS_ERR_LEN] = "";
	char **dargv;
	unsigned t = p->timeout_ms ? p->timeout_ms : SPLITDNS_TIMEOUT_MS;
	int r;

	if (!valid_ifname(p->ifname) || p->n_domains == 0 ||
	    p->n_domains > SPLITDNS_MAX_DOMAINS)
		return -EINVAL;
	if ((dargv = domain_argv(p)) == NULL)
		return -errno;
	snprintf(ifname, sizeof(ifname), "%s", p->ifname);
	snprintf(addr, sizeof(addr), "%u.%u.%u.%u", p->server >> 24,
	    (p->server >> 16) & 0xff, (p->server >> 8) & 0xff, p->server & 0xff);
	{
		char *dns[] = { "resolvectl", "dns", ifname, addr, NULL };
		char *route[] = { "resolvectl", "default-route", ifname, "false", NULL };

		if ((r = run(dns, t, e, sizeof(e))) != 0 ||
		    (r = run(dargv, t, e, sizeof(e))) != 0) {
			report(ifname, r, e, p->err, p->errlen);
			goto out;
		}
		/* systemd < 240 has no default-route; its links with only
		 * routing domains are not a default route anyway. */
		if (run(route, t, e, sizeof(e)) != 0)
			log_debug("splitdns: %s (default-route not supported?)", e);
	}
	log_debug("splitdns: %s: DNS %s for %zu domain(s) (systemd-resolved)",
	    ifname, addr, p->n_domains);
out:
	free_argv(dargv, p->n_domains + 3);
	return r;
}

int
splitdns_revert(const char *ifname, unsigned timeout_ms, char *err,
    size_t errlen)
{
	char name[SPLITDNS_IFNAMSIZ], e[SPLITDNS_ERR_LEN] = "";
	char *argv[] = { "resolvectl", "revert", name, NULL };
	int r;

	if (!valid_ifname(ifname))
		return -EINVAL;
	snprintf(name, sizeof(name), "%s", ifname);
	r = run(argv, timeout_ms ? timeout_ms : SPLITDNS_TIMEOUT_MS, e, sizeof(e));
	if (r != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", e);
		else
			log_warnx("splitdns: %s: %s", name, e);
	}
	return r;
}
