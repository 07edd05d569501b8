/*
 * lofront_priv.h: inside the kernel-socket front (lofront.c): the map of
 * network listen ports (lofront_ports.c).
 *
 * Rule (docs/loopback.md): an endpoint is keyed by "host:port".  A host
 * name in net.overrides gets its pinned port (for the endpoint of that host
 * with the lowest port; the others of the host are allocated as usual).
 * Every other endpoint keeps the port it had before, as read from
 * <state_dir>/listen_ports.json; a new one gets the lowest port from
 * net.start_port up that no entry of the map and no override holds.
 * Entries of endpoints that went away are kept (their port stays reserved
 * and comes back with the endpoint) until the map holds LF_PORTS_MAX
 * entries; then the absent ones are dropped.
 */
#ifndef NGROKD_LOFRONT_PRIV_H
#define NGROKD_LOFRONT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"

#define LF_PORTS_FILE		"listen_ports.json"
#define LF_PORTS_MAX		4096		/* entries kept */
#define LF_PORTS_FILE_MAX	(1024 * 1024)	/* bytes read */
#define LF_PORTS_KEY_MAX	300		/* host (253) + ":65535" */

typedef struct lf_ports lf_ports_t;

/* Reads <state_dir>/listen_ports.json (missing: empty; unreadable or
 * corrupt: logged, moved to .bad, empty).  NULL + errno (ENOMEM). */
lf_ports_t *lf_ports_new(const char *state_dir, uint16_t start_port,
	    const struct cfg_override *ov, size_t nov);
void	 lf_ports_free(lf_ports_t *pm);

/* One sync round: begin, a get per endpoint, end. */
void	 lf_ports_begin(lf_ports_t *pm);
/* The listen port of endpoint host:ep_port.  primary: it is the endpoint of
 * its host with the lowest port (an override applies to it).  0, or -ERANGE
 * (no free port left up to 65535), -ENOMEM. */
int	 lf_ports_get(lf_ports_t *pm, const char *host, uint16_t ep_port,
	    int primary, uint16_t *port);
/* Drops absent entries when the map is full, and writes the file when it
 * changed (temp file, fsync, rename).  0 or -errno (retried next round). */
int	 lf_ports_end(lf_ports_t *pm);
size_t	 lf_ports_count(const lf_ports_t *pm);

#endif
