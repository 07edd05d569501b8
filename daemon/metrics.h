/*
 * metrics.h: a snapshot of the daemon's counters and its rendering in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * The daemon fills a struct metrics_snapshot on the loop thread (from
 * stack_get_stats, tun, tunnel_get_stats, the endpoint table and
 * disc_get_status); metrics_render turns it into text.  Nothing here keeps
 * state between scrapes: every counter lives in the module that counts it.
 * The histogram type modules fill is in daemon/metrics_hist.h (kept apart
 * so that tunnel/tunnel.h can embed one without including this header).
 */
#ifndef NGROKD_METRICS_H
#define NGROKD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/dnsfwd.h"	/* struct dnsfwd_stats */
#include "daemon/dnsgw.h"	/* struct dnsgw_stats */
#include "daemon/metrics_hist.h"
#include "daemon/stream.h"	/* struct endpoint_stats */
#include "stack/stack.h"	/* struct stack_stats */
#include "tun/tun.h"		/* struct tun_stats */
#include "tunnel/tunnel.h"	/* struct tunnel_stats */

/* One endpoint's counters and labels (copied). */
struct metrics_endpoint {
	char			*id;
	char			*hostname;
	uint16_t		 port;
	struct endpoint_stats	 stats;
};

struct metrics_snapshot {
	/* have_*: the module exists (no device yet: its metrics are left out
	 * rather than reported as zeros that look like a working data path). */
	int			 have_stack;
	struct stack_stats	 stack;
	int			 have_tun;
	struct tun_stats	 tun;
	int			 have_tunnel;
	struct tunnel_stats	 tunnel;
	/* Connect to ConnResponse latency split in two, filled by the tunnel
	 * (empty histograms are still rendered, with zero counts). */
	struct metrics_hist	 handshake_seconds;	/* TCP connect + TLS */
	struct metrics_hist	 header_seconds;	/* ConnRequest -> ConnResponse */

	/* DNS (dns.enabled), its forwarder (dns.upstream) and the gateway's
	 * sockets (dns.listen_gateway). */
	int			 have_dns, have_dns_fwd, have_dns_gw;
	struct stack_dns_stats	 dns;
	struct dnsfwd_stats	 dns_fwd;
	struct dnsgw_stats	 dns_gw;

	struct metrics_endpoint	*eps;	/* metrics_snapshot_add_endpoint */
	size_t			 n_eps, cap_eps;

	/* discovery (struct disc_status) */
	int			 registered;
	int			 api_ok;
	int			 have_poll_counts;	/* polls_ok/failed are known */
	uint64_t		 polls_ok, polls_failed;
	unsigned		 consecutive_failures;
	long long		 last_poll_ok;		/* unix seconds, 0: never */
	long long		 cert_not_after;	/* unix seconds, 0: unknown */

	int			 ready;
	int			 pcap_active;
	uint64_t		 pcap_bytes;
	uint64_t		 uptime_s;
};

void	metrics_snapshot_init(struct metrics_snapshot *s);
/* Copies id, hostname, port and stats; 0 or -ENOMEM (nothing added). */
int	metrics_snapshot_add_endpoint(struct metrics_snapshot *s, const char *id,
	    const char *hostname, uint16_t port, const struct endpoint_stats *st);
/* Frees what the snapshot owns (the endpoint copies); s may be reused after
 * metrics_snapshot_init. */
void	metrics_snapshot_free(struct metrics_snapshot *s);

/*
 * Renders s as Prometheus text format 0.0.4 into a NUL-terminated buffer
 * (*out, freed by the caller with free; *len excludes the NUL).  Label
 * values are escaped (\\, \", \n) and bytes that are not valid UTF-8 are
 * replaced by '?'.  0 or -ENOMEM (*out NULL).
 */
int	metrics_render(const struct metrics_snapshot *s, char **out, size_t *len);

/* Escapes one label value into buf (always NUL-terminated when cap > 0);
 * returns the length the full escape needs, excluding the NUL (like
 * snprintf).  Exposed for tests. */
size_t	metrics_escape_label(const char *v, char *buf, size_t cap);

#endif
