/*
 * ctl_client.c: the client side of the control socket's JSON lines, shared
 * by ngrokctl's commands and `ngrokctl check` (control/check.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control/check.h"

#define REPLY_MAX	(64u << 20)	/* a control reply line */

int
ctl_client_send(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

char *
ctl_client_recv_line(int fd, char *why, size_t wlen, int *err)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb, *nl;
	ssize_t n;

	*err = 0;
	if (buf == NULL)
		snprintf(why, wlen, "out of memory");
	while (buf != NULL) {
		if (len + 1 >= cap) {
			if (cap >= REPLY_MAX || (nb = realloc(buf, cap * 2)) == NULL) {
				snprintf(why, wlen, "reply too large");
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : 0;
			snprintf(why, wlen, "%s", n == 0 ? "ngrokd closed the "
			    "connection without a reply" : errno == EAGAIN ?
			    "timed out waiting for ngrokd" : strerror(errno));
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if ((nl = memchr(buf + len - n, '\n', (size_t)n)) != NULL) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}
