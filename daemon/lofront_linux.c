/*
 * lofront_linux.c: lofront_os.h on Linux.  127/8 is routed to lo as a
 * whole, so any 127.0.0.x can be bound without an alias.
 */
#include <errno.h>
#include <sys/socket.h>

#include "daemon/lofront_os.h"

int
lofront_os_alias_add(uint32_t addr)
{
	(void)addr;
	return 0;
}

void
lofront_os_alias_del(uint32_t addr)
{
	(void)addr;
}

int
lofront_os_accept(int lfd, struct sockaddr_in *peer)
{
	socklen_t len = sizeof(*peer);
	int fd;

	fd = accept4(lfd, (struct sockaddr *)peer, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	return fd == -1 ? -errno : fd;
}

ssize_t
lofront_os_send(int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	return n == -1 ? -errno : n;
}
