/*
 * ctl_os_darwin.c: macOS peer credentials and launchd socket activation.
 * getpeereid gives uid and gid; LOCAL_PEERPID the pid.  Supplementary
 * groups are looked up with getgrouplist by the caller (ngroups = -1):
 * LOCAL_PEERCRED's xucred caps them at 16 and may be stale.
 */
#include <errno.h>
#include <launch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control/ctl_priv.h"

int
ctl_os_peer(int fd, struct ctl_peer *p)
{
	pid_t pid;
	socklen_t len = sizeof(pid);

	memset(p, 0, sizeof(*p));
	if (getpeereid(fd, &p->uid, &p->gid) == -1)
		return -errno;
	p->pid = -1;
	if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0)
		p->pid = pid;
	p->ngroups = -1;
	return 0;
}

/* The plist names the socket "Listeners" (docs/com.ngrok.ngrokd.plist). */
int
ctl_os_launchd_fd(void)
{
	int *fds = NULL;
	size_t n = 0, i;
	int fd;

	if (launch_activate_socket("Listeners", &fds, &n) != 0 || n == 0) {
		free(fds);
		return -1;
	}
	fd = fds[0];
	for (i = 1; i < n; i++)
		close(fds[i]);
	free(fds);
	return fd;
}
