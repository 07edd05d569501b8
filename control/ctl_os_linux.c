/*
 * ctl_os_linux.c: Linux peer credentials.  SO_PEERCRED gives the uid, gid
 * and pid the peer had at connect(); SO_PEERGROUPS (Linux 4.13) its
 * supplementary groups, so that group membership is the kernel's word and
 * needs no NSS lookup on the loop thread.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "control/ctl_priv.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

int
ctl_os_peer(int fd, struct ctl_peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -errno;
	if (len != sizeof(uc))
		return -EPROTO;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
	len = sizeof(p->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->ngroups = (int)(len / sizeof(gid_t));
	else
		p->ngroups = -1;	/* old kernel, or more than we hold */
	return 0;
}

int
ctl_os_launchd_fd(void)
{
	return -1;
}
