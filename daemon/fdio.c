/*
 * fdio.c: writing a whole buffer to a file descriptor (fdio.h).
 */
#include <errno.h>
#include <unistd.h>

#include "daemon/fdio.h"

int
fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
