/*
 * fdio.h: writing a whole buffer to a file descriptor.
 */
#ifndef NGROKD_FDIO_H
#define NGROKD_FDIO_H

#include <stddef.h>

/* Writes len bytes of buf to fd, retrying short writes and EINTR.  0, or
 * -errno (-EIO when write returns 0). */
int	fd_write_all(int fd, const void *buf, size_t len);

#endif
