/*
 * lofront.h: the kernel-socket front of a stream (see daemon/stream.h),
 * the twin of stack/front.c.
 *
 * Kernel TCP listeners feed accepted sockets into the same stream seam as
 * the lwIP front, so tunnel/ cannot tell which front it serves.  Two kinds
 * of listener, per endpoint of the table:
 *   LOFRONT_AT_ENDPOINT  on the endpoint's own address and port
 *                        (127.0.0.x in the loopback fallback); asked for
 *                        with LOFRONT_VIRTUAL.  On macOS the address is
 *                        added as an lo0 alias and removed again.
 *   LOFRONT_AT_LISTEN    on net.listen_interface (0.0.0.0 or an IPv4
 *                        address) at net.start_port + n, when that is not
 *                        "virtual".  The port of each endpoint host:port
 *                        is kept in <state_dir>/listen_ports.json across
 *                        restarts; net.overrides pins a port per host name.
 *                        This is in addition to the endpoint's own address
 *                        (docs/loopback.md).
 * A listener that cannot bind is reported (one log line, and its status)
 * and the others keep working.
 *
 * Everything runs on the loop thread.  The streams' endpoint references are
 * taken here (endpoint_ref, released through s->endpoint_release).
 */
#ifndef NGROKD_LOFRONT_H
#define NGROKD_LOFRONT_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/datapath.h"	/* dp_open_back_cb */
#include "daemon/loop.h"
#include "discovery/discovery.h"

typedef struct lofront lofront_t;

/* lofront_new flags */
#define LOFRONT_VIRTUAL	0x1	/* listen on each endpoint's own address */

enum lofront_kind {
	LOFRONT_AT_ENDPOINT = 0,	/* endpoint address:port (127.0.0.x) */
	LOFRONT_AT_LISTEN = 1,		/* listen_interface:start_port + n */
};

/* Does cfg ask for network listeners (listen_interface not "virtual")? */
int	 lofront_wants_network(const struct config *cfg);

/*
 * A front for the endpoints of eps; open_back(arg, s, ep) is called for each
 * accepted connection, as the TUN front does.  Values of cfg are copied.
 * Opens no listener until lofront_sync.  NULL + errno (EINVAL: a bad
 * listen_interface; ENOMEM).
 */
lofront_t *lofront_new(loop_t *loop, const struct config *cfg, eptable_t *eps,
	    unsigned flags, dp_open_back_cb open_back, void *arg);
/* After every endpoint-table change: opens listeners for new endpoints,
 * closes those of removed ones (their open streams go on). */
void	 lofront_sync(lofront_t *lf);
/* Aborts every open stream (the back is told), closes the listeners,
 * removes the lo0 aliases.  NULL is ok. */
void	 lofront_free(lofront_t *lf);

struct lofront_listener_status {
	char		 hostname[256];	/* the endpoint's */
	uint32_t	 ep_addr;	/* the endpoint's address and port */
	uint16_t	 ep_port;
	enum lofront_kind kind;
	uint32_t	 addr;		/* where it listens (or tried to) */
	uint16_t	 port;
	int		 error;		/* 0: listening; else a positive errno */
	char		 reason[200];	/* "" or why it cannot listen, plainly */
	uint64_t	 accepted;
	uint64_t	 refused;	/* closed at once: max_streams */
};

/* Calls fn for each listener (fn must not call lofront_sync). */
void	 lofront_foreach_status(const lofront_t *lf,
	    void (*fn)(const struct lofront_listener_status *st, void *arg),
	    void *arg);
/* The listener of one endpoint: 0, or -ENOENT. */
int	 lofront_get_status(const lofront_t *lf, uint32_t ep_addr,
	    uint16_t ep_port, enum lofront_kind kind,
	    struct lofront_listener_status *st);

struct lofront_stats {
	uint64_t	streams_active;
	uint64_t	streams_total;
	uint64_t	refused_limit;	/* max_streams reached */
	uint64_t	accept_errors;
	uint64_t	listeners;	/* listening now */
	uint64_t	listeners_failed;
};
void	 lofront_get_stats(const lofront_t *lf, struct lofront_stats *st);

#endif
