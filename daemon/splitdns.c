/*
 * splitdns.c: systemd-resolved registration through resolvectl.
 *
 * resolvectl rather than resolved's D-Bus API: no D-Bus library to link,
 * the same calls an operator would type, and the fake resolvectl of the
 * unit test can record them.  posix_spawnp rather than fork + execvp: the
 * daemon has threads (discovery's worker), and after fork only
 * async-signal-safe calls are allowed in the child; posix_spawnp also
 * reports a missing binary as ENOENT instead of an exit status.  argv is an
 * array, never a shell line, and every name in it was checked first.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/splitdns.h"

#define SPLITDNS_TIMEOUT_MS	5000
#define SPLITDNS_ERRLINE	200
#define SPLITDNS_IFNAMSIZ	16

extern char **environ;

static const char hint[] =
    "systemd-resolved is probably not running; route the managed domains "
    "to the responder by hand (docs/dns.md, \"Other setups\")";

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

/* "~domain" for a host or domain name (a leading "*." dropped) into out,
 * or -1 when it is not LDH labels of 1..63 (total <= 253). */
static int
routing_domain(const char *name, char *out, size_t cap)
{
	size_t i, n, label = 0;
	char c;

	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	n = strlen(name);
	if (n == 0 || n > 253 || n + 2 > cap)
		return -1;
	out[0] = '~';
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
		out[i + 1] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (label == 0 || name[n - 1] == '-')
		return -1;
	out[n + 1] = '\0';
	return 0;
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

/* Runs argv (argv[0] looked up in PATH); 0 for exit 0, else -errno as
 * documented in splitdns.h.  The failure is logged unless quiet. */
static int
run(char *const argv[], unsigned timeout_ms, int quiet, struct errline *e)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], r;
	pid_t pid;

	/* Non-blocking for our end only: the child's stderr stays ordinary. */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0) {
		r = errno;
		goto out;
	}
	if ((r = posix_spawn_file_actions_init(&fa)) != 0)
		goto out;
	if ((r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
	    (r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) != 0 ||
	    (r = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto out;
	}
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		goto out;
	close(pfd[1]);
	pfd[1] = -1;
	r = wait_child(pid, pfd[0], timeout_ms, e);
	if (r > 0) {
		if (!quiet)
			log_warnx("splitdns: %s %s %s: exit %d%s%s", argv[0],
			    argv[1], argv[2], r, e->n ? ": " : "", e->s);
		r = EIO;
	} else {
		r = -r;
		if (r == ETIMEDOUT && !quiet)
			log_warnx("splitdns: %s %s %s: no answer in %u ms, killed",
			    argv[0], argv[1], argv[2], timeout_ms);
	}
out:
	close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (r == ENOENT && !quiet)
		log_warnx("splitdns: %s not found: systemd-resolved is not in "
		    "use here; route the managed domains to the responder by "
		    "hand (docs/dns.md, \"Other setups\")", argv[0]);
	return -r;
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
	char **argv, buf[256];
	size_t i, n = 3;

	if ((argv = calloc(p->n_domains + 4, sizeof(*argv))) == NULL)
		return NULL;
	if ((argv[0] = strdup("resolvectl")) == NULL ||
	    (argv[1] = strdup("domain")) == NULL ||
	    (argv[2] = strdup(p->ifname)) == NULL)
		goto fail;
	for (i = 0; i < p->n_domains; i++) {
		if (routing_domain(p->domains[i], buf, sizeof(buf)) != 0) {
			log_warnx("splitdns: \"%.253s\" is not a domain name", p->domains[i]);
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

int
splitdns_apply(const struct splitdns_params *p)
{
	char addr[16], ifname[SPLITDNS_IFNAMSIZ];
	struct errline e = { .n = 0 };
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

		if ((r = run(dns, t, 0, &e)) != 0 ||
		    (r = run(dargv, t, 0, &e)) != 0)
			goto out;
		/* systemd < 240 has no default-route; its links with only
		 * routing domains are not a default route anyway. */
		if (run(route, t, 1, &e) != 0)
			log_debug("splitdns: resolvectl default-route %s false: "
			    "not supported (%s)", ifname, e.s);
	}
	log_info("splitdns: %s: DNS %s for %zu domain(s) (systemd-resolved)",
	    ifname, addr, p->n_domains);
out:
	if (r == -EIO)
		log_warnx("splitdns: %s", hint);
	free_argv(dargv, p->n_domains + 3);
	return r;
}

int
splitdns_revert(const char *ifname, unsigned timeout_ms)
{
	struct errline e = { .n = 0 };
	char name[SPLITDNS_IFNAMSIZ];
	char *argv[] = { "resolvectl", "revert", name, NULL };

	if (!valid_ifname(ifname))
		return -EINVAL;
	snprintf(name, sizeof(name), "%s", ifname);
	return run(argv, timeout_ms ? timeout_ms : SPLITDNS_TIMEOUT_MS, 0, &e);
}
