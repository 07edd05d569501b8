/*
 * lofront_os.h: what the kernel-socket front needs from the OS, one file
 * per OS behind this header (lofront_linux.c, lofront_darwin.c).
 */
#ifndef NGROKD_LOFRONT_OS_H
#define NGROKD_LOFRONT_OS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Makes addr (host order, 127/8) bindable: an lo0 alias on macOS, nothing
 * on Linux (the whole of 127/8 is local).  0 or -errno. */
int	lofront_os_alias_add(uint32_t addr);
/* Removes what lofront_os_alias_add added. */
void	lofront_os_alias_del(uint32_t addr);
/* accept(2) returning a non-blocking, close-on-exec socket that never
 * raises SIGPIPE.  The fd, or -errno. */
int	lofront_os_accept(int lfd, struct sockaddr_in *peer);
/* send(2) without SIGPIPE: the count, or -errno. */
ssize_t	lofront_os_send(int fd, const void *buf, size_t len);

#endif
