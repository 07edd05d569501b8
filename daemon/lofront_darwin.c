/*
 * lofront_darwin.c: lofront_os.h on macOS.  Only 127.0.0.1 is configured on
 * lo0, so each 127.0.0.x must be added as an alias (SIOCAIFADDR, /32, as
 * `ifconfig lo0 alias 127.0.0.x` does) before it can be bound, and removed
 * again (SIOCDIFADDR).  There is no accept4 and no MSG_NOSIGNAL: the flags
 * are set with fcntl and SIGPIPE is turned off per socket (SO_NOSIGPIPE).
 */
#define _DARWIN_C_SOURCE

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sockio.h>

#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/lofront_os.h"

#define LO_IF	"lo0"

/* ifaliasreq and ifreq hold plain sockaddrs: the same 16 bytes. */
static void
put_sin(struct sockaddr *sa, uint32_t host)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_len = sizeof(sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(host);
	memcpy(sa, &sin, sizeof(sin));
}

int
lofront_os_alias_add(uint32_t addr)
{
	struct ifaliasreq ifra;
	int s, r = 0;

	if (addr == INADDR_LOOPBACK)
		return 0;	/* lo0 has it already */
	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return -errno;
	memset(&ifra, 0, sizeof(ifra));
	strlcpy(ifra.ifra_name, LO_IF, sizeof(ifra.ifra_name));
	put_sin(&ifra.ifra_addr, addr);
	put_sin(&ifra.ifra_mask, 0xffffffffu);
	if (ioctl(s, SIOCAIFADDR, &ifra) < 0 && errno != EEXIST)
		r = -errno;
	close(s);
	return r;
}

void
lofront_os_alias_del(uint32_t addr)
{
	struct ifreq ifr;
	int s;

	if (addr == INADDR_LOOPBACK)
		return;
	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, LO_IF, sizeof(ifr.ifr_name));
	put_sin(&ifr.ifr_addr, addr);
	if (ioctl(s, SIOCDIFADDR, &ifr) < 0 && errno != EADDRNOTAVAIL)
		log_warn("lofront: removing alias %u.%u.%u.%u from " LO_IF,
		    addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
	close(s);
}

int
lofront_os_accept(int lfd, struct sockaddr_in *peer)
{
	socklen_t len = sizeof(*peer);
	int fd, fl, one = 1;

	if ((fd = accept(lfd, (struct sockaddr *)peer, &len)) < 0)
		return -errno;
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

ssize_t
lofront_os_send(int fd, const void *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, 0);

	return n == -1 ? -errno : n;
}
