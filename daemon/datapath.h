/*
 * datapath.h: the TUN front wired together: device -> (pcap) -> lwIP stack
 * -> endpoint lookup -> tunnel.  Used by the daemon and by the data-path
 * test harness (tests/fake/dp_harness.c).
 */
#ifndef NGROKD_DATAPATH_H
#define NGROKD_DATAPATH_H

#include "daemon/config.h"
#include "daemon/dnsfwd.h"
#include "daemon/dnsgw.h"
#include "daemon/loop.h"
#include "daemon/stream.h"
#include "discovery/discovery.h"
#include "stack/stack.h"
#include "tun/tun.h"

typedef struct datapath datapath_t;

/* Opens a back for an accepted stream (s->endpoint is set, referenced).
 * 0, or -errno to reset the app's connection. */
typedef int (*dp_open_back_cb)(void *arg, stream_t *s, struct endpoint *ep);

/*
 * DNS for a name under a wildcard endpoint (dns.enabled): w is the most
 * specific wildcard endpoint covering name (lower case).  1 + *addr, or 0
 * for no address (NODATA).  Loop thread, must not block; the daemon
 * passes discovery's disc_wildcard_addr.
 */
typedef int (*dp_wildcard_cb)(void *arg, const struct endpoint *w,
	    const char *name, uint32_t *addr);

/* Opens the device and the stack.  NULL + errno, reason logged. */
datapath_t *dp_new(loop_t *loop, const struct config *cfg, eptable_t *eps,
	    dp_open_back_cb open_back, void *arg);
void	 dp_free(datapath_t *dp);
/* Names under wildcard endpoints get addresses through fn (set once
 * discovery exists); without it they answer NODATA. */
void	 dp_set_wildcard(datapath_t *dp, dp_wildcard_cb fn, void *arg);
const char *dp_device_name(const datapath_t *dp);
uint32_t dp_gateway(const datapath_t *dp);
/* NULL while the device is up, else why it is gone. */
const char *dp_down_reason(const datapath_t *dp);
/* Reopens a lost device; 0 (also when it was up) or -errno. */
int	 dp_recover(datapath_t *dp);
/* pcap state for metrics: 1 while capturing; bytes written. */
void	 dp_get_pcap(const datapath_t *dp, int *active, uint64_t *bytes);
void	 dp_get_stats(const datapath_t *dp, struct stack_stats *st,
	    struct tun_stats *ts);

/* The DNS responder's counters (dns.enabled), with its upstream forwarder
 * (dns.upstream) and the gateway's sockets (dns.listen_gateway) when they
 * exist: 1, or 0 when DNS is not served (nothing filled). */
struct dp_dns_stats {
	struct stack_dns_stats	 dns;
	int			 have_fwd, have_gw;
	struct dnsfwd_stats	 fwd;
	struct dnsgw_stats	 gw;
};
int	 dp_get_dns_stats(const datapath_t *dp, struct dp_dns_stats *out);

#endif
