/*
 * ctl_activate.c: socket activation.  systemd's protocol is three
 * environment variables (sd_listen_fds(3)): LISTEN_PID must be our pid,
 * LISTEN_FDS counts fds starting at 3, LISTEN_FDNAMES optionally names them
 * (colon-separated).  Parsed here directly: no libsystemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "control/control.h"
#include "control/ctl_priv.h"
#include "daemon/log.h"

#define SD_LISTEN_FDS_START	3
#define SD_MAX_FDS		64

/* Strict decimal: no sign, no spaces, no trailing junk, <= max. */
static int
parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 20)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
is_unix_listener(int fd)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 ||
	    !acc)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 0;
	return ss.ss_family == AF_UNIX;
}

/* The n-th name in LISTEN_FDNAMES equals want. */
static int
fd_named(const char *names, long n, const char *want)
{
	size_t wl = strlen(want);
	const char *p = names;

	while (n-- > 0) {
		if ((p = strchr(p, ':')) == NULL)
			return 0;
		p++;
	}
	return strncmp(p, want, wl) == 0 && (p[wl] == ':' || p[wl] == '\0');
}

static int
prepare(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_warn("ctl_activation_fd: fd %d", fd);
		return -1;
	}
	return fd;
}

static int
systemd_fd(void)
{
	const char *names = getenv("LISTEN_FDNAMES");
	long pid, n, i, pick = -1;

	if (getenv("LISTEN_PID") == NULL)
		return -1;
	if (parse_uint(getenv("LISTEN_PID"), INT_MAX, &pid) != 0 ||
	    parse_uint(getenv("LISTEN_FDS"), SD_MAX_FDS, &n) != 0) {
		log_warnx("ctl_activation_fd: bad LISTEN_PID/LISTEN_FDS, ignored");
		return -1;
	}
	if ((pid_t)pid != getpid())
		return -1;	/* meant for another process (our parent?) */
	for (i = 0; i < n; i++) {
		if (!is_unix_listener(SD_LISTEN_FDS_START + (int)i))
			continue;
		if (names != NULL && fd_named(names, i, "control")) {
			pick = i;
			break;
		}
		if (pick < 0)
			pick = i;
	}
	if (pick < 0) {
		log_warnx("ctl_activation_fd: LISTEN_FDS=%ld but no listening "
		    "Unix stream socket among them", n);
		return -1;
	}
	return prepare(SD_LISTEN_FDS_START + (int)pick);
}

int
ctl_activation_fd(void)
{
	int fd;

	if ((fd = ctl_os_launchd_fd()) >= 0)
		return prepare(fd);
	fd = systemd_fd();
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return fd;
}
