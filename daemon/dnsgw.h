/*
 * dnsgw.h: the DNS responder at the gateway address (docs/dns.md).
 *
 * The gateway (net.subnet + 1) is the kernel's own address on the TUN
 * device: packets to it are delivered locally and never reach lwIP.  So
 * the daemon answers there from kernel sockets, a UDP socket and (with
 * tcp) a TCP listener bound to that one address, port 53, and hands every
 * query to the lwIP responder's logic (stack_dns_answer): the same rules,
 * resolve callback, forwarding and counters.  TCP as on the lwIP side:
 * 2-byte length prefix, queries of at most 512 bytes, at most 16
 * connections, 10 s idle.  Loop thread only.
 */
#ifndef NGROKD_DNSGW_H
#define NGROKD_DNSGW_H

#include <stdint.h>

#include "daemon/loop.h"
#include "stack/stack.h"

typedef struct dnsgw dnsgw_t;

struct dnsgw_params {
	uint32_t	 addr;		/* host order; never INADDR_ANY */
	uint16_t	 port;		/* 0: 53 */
	int		 tcp;		/* also a TCP listener */
};

struct dnsgw_stats {
	uint64_t	tcp_conns;	/* TCP connections accepted */
	uint64_t	tcp_rejected;	/* over the connection limit */
	uint64_t	send_errors;	/* replies the kernel did not take */
};

/* Binds the sockets (see dnsgw_rebind).  dns must outlive the gateway.
 * NULL + errno (EADDRNOTAVAIL: the address is not up; EADDRINUSE: another
 * server has the port; EACCES: no privilege for port 53). */
dnsgw_t *dnsgw_new(loop_t *loop, stack_dns_t *dns, const struct dnsgw_params *p);
/* Closes the sockets and every TCP connection. */
void	 dnsgw_free(dnsgw_t *g);
/* Closes and binds the sockets again (the TUN device, and with it the
 * address, was recreated).  0 or -errno; on error no socket is open. */
int	 dnsgw_rebind(dnsgw_t *g);
void	 dnsgw_get_stats(const dnsgw_t *g, struct dnsgw_stats *out);

#endif
