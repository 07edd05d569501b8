/* datapath.c: see datapath.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/datapath.h"
#include "daemon/dnsfwd.h"
#include "daemon/dnsgw.h"
#include "daemon/log.h"

/* Packets read per wake-up before other fds get a turn. */
#define DP_BATCH	64
#define PCAP_FLUSH_MS	1000

struct datapath {
	loop_t		*loop;
	eptable_t	*eps;
	tun_t		*tun;
	tun_pcap_t	*pcap;
	netstack_t	*stack;
	stack_dns_t	*dns;
	dnsgw_t		*dns_gw;	/* the gateway's sockets (dns.listen_gateway) */
	dnsfwd_t	*dns_fwd;	/* dns.upstream */
	int		 dns_gw_wanted;
	int		 dns_tcp;
	loop_timer_t	 pcap_timer;
	dp_open_back_cb	 open_back;
	void		*arg;
	dp_wildcard_cb	 wildcard;
	void		*wildcard_arg;
	uint32_t	 gateway;
	struct tun_params tp;
	char		 name[32];
	char		 down[160];	/* why the device is gone; "" when up */
};

static void dp_readable(loop_t *loop, int fd, int events, void *arg);
static void dp_dns_gateway(datapath_t *dp);

static int
dp_output(void *arg, const void *pkt, size_t len, int partial,
    uint16_t gso_size)
{
	datapath_t *dp = arg;

	if (dp->tun == NULL)
		return -ENODEV;
	if (partial)
		return tun_write_tcp(dp->tun, pkt, len, gso_size);
	return tun_write(dp->tun, pkt, len);
}

/* The device went away (deleted, or its fd broke): stop watching it and
 * let dp_recover open it again.  Streams in lwIP time out by themselves. */
static void
dp_device_lost(datapath_t *dp, int err)
{
	snprintf(dp->down, sizeof(dp->down), "TUN device %s lost: %s", dp->name,
	    strerror(err));
	log_error("datapath: %s; trying to recreate it every second", dp->down);
	loop_del_fd(dp->loop, tun_fd(dp->tun));
	tun_set_pcap(dp->tun, NULL);
	tun_close(dp->tun);
	dp->tun = NULL;
}

int
dp_recover(datapath_t *dp)
{
	tun_t *t;
	int r;

	if (dp->tun != NULL)
		return 0;
	if ((t = tun_open(&dp->tp)) == NULL)
		return -errno;
	if ((r = loop_add_fd(dp->loop, tun_fd(t), LOOP_READ, dp_readable, dp)) != 0) {
		tun_close(t);
		return r;
	}
	if (dp->pcap != NULL)
		tun_set_pcap(t, dp->pcap);
	dp->tun = t;
	/* A recreated device may have lost offload (or gained it). */
	stack_set_offload(dp->stack, tun_offload(t));
	dp->down[0] = '\0';
	log_info("datapath: %s is back", tun_name(t));
	dp_dns_gateway(dp);
	return 0;
}

const char *
dp_down_reason(const datapath_t *dp)
{
	return dp->down[0] != '\0' ? dp->down : NULL;
}

static void *
dp_lookup(void *arg, uint32_t addr, uint16_t port)
{
	datapath_t *dp = arg;

	return eptable_lookup(dp->eps, addr, port);
}

static int
dp_has_addr(void *arg, uint32_t addr)
{
	datapath_t *dp = arg;

	return eptable_has_addr(dp->eps, addr);
}

static int
dp_accept(void *arg, stream_t *s)
{
	datapath_t *dp = arg;
	struct endpoint *ep;

	/* The endpoint may have gone between the SYN and the handshake. */
	if ((ep = eptable_lookup(dp->eps, s->dst_addr, s->dst_port)) == NULL)
		return -ECONNREFUSED;
	endpoint_ref(ep);
	s->endpoint = ep;
	s->endpoint_release = endpoint_release;
	return dp->open_back(dp->arg, s, ep);
}

static void
dp_readable(loop_t *loop, int fd, int events, void *arg)
{
	datapath_t *dp = arg;
	void *buf;
	ssize_t n;
	int i;

	(void)loop;
	(void)fd;
	(void)events;
	for (i = 0; i < DP_BATCH; i++) {
		if ((buf = stack_rx_buf(dp->stack)) == NULL)
			return;		/* out of memory: the kernel queues */
		n = tun_read(dp->tun, buf, STACK_RX_MAX);
		if (n == -EAGAIN)
			return;
		if (n == -EINTR || n == -ENOBUFS || n == -ENOMEM)
			return;
		if (n < 0) {
			dp_device_lost(dp, (int)-n);
			return;
		}
		stack_input_rx(dp->stack, (size_t)n);
	}
}

/* DNS: exact host names of the endpoint table (case-insensitive; the
 * derived endpoints of names under wildcards included), else the most
 * specific wildcard endpoint covering the name, whose per-name address
 * discovery allocates (docs/dns.md). */
struct dns_q {
	const char		*name;
	size_t			 len;
	uint32_t		 addr;
	int			 found;
	const struct endpoint	*wildcard;	/* the longest suffix */
};

static void
dns_match(struct endpoint *e, void *arg)
{
	struct dns_q *q = arg;
	size_t hl;

	if (strcasecmp(e->hostname, q->name) == 0) {
		q->found = 1;
		q->addr = e->addr;
		return;
	}
	/* A wildcard over a single label ("*.com", "*.internal") would take
	 * a whole top-level domain into the tunnel: not served. */
	if (e->hostname[0] == '*' && e->hostname[1] == '.' && e->parent == NULL &&
	    strchr(e->hostname + 2, '.') != NULL) {
		hl = strlen(e->hostname + 1);
		if (q->len > hl && strcasecmp(q->name + q->len - hl,
		    e->hostname + 1) == 0 && (q->wildcard == NULL ||
		    hl > strlen(q->wildcard->hostname + 1)))
			q->wildcard = e;
	}
}

static int
dp_dns_resolve(void *arg, const char *qname, uint32_t *addr)
{
	datapath_t *dp = arg;
	struct dns_q q = { qname, strlen(qname), 0, 0, NULL };

	eptable_foreach(dp->eps, dns_match, &q);
	if (q.found) {
		if (addr != NULL)
			*addr = q.addr;
		return 1;
	}
	if (q.wildcard == NULL)
		return -1;
	/* Only an A (or ANY) query allocates; others are NODATA. */
	if (addr == NULL || dp->wildcard == NULL)
		return 0;
	return dp->wildcard(dp->wildcard_arg, q.wildcard, qname, addr) > 0;
}

void
dp_set_wildcard(datapath_t *dp, dp_wildcard_cb fn, void *arg)
{
	dp->wildcard = fn;
	dp->wildcard_arg = arg;
}

/* The gateway's DNS sockets: bound now, or bound again after the device
 * (and with it the address) was recreated.  Failing is not fatal: the
 * responder at gateway + 1 still answers. */
static void
dp_dns_gateway(datapath_t *dp)
{
	struct dnsgw_params gp = { dp->gateway, 0, dp->dns_tcp };
	int r;

	if (!dp->dns_gw_wanted || dp->dns == NULL)
		return;
	if (dp->dns_gw == NULL) {
		dp->dns_gw = dnsgw_new(dp->loop, dp->dns, &gp);
		r = dp->dns_gw == NULL ? -errno : 0;
	} else {
		r = dnsgw_rebind(dp->dns_gw);
	}
	if (r != 0)
		log_warnx("dns: cannot listen at the gateway %u.%u.%u.%u:53: %s; "
		    "only %u.%u.%u.%u answers", dp->gateway >> 24,
		    (dp->gateway >> 16) & 0xff, (dp->gateway >> 8) & 0xff,
		    dp->gateway & 0xff, strerror(-r), (dp->gateway + 1) >> 24,
		    ((dp->gateway + 1) >> 16) & 0xff, ((dp->gateway + 1) >> 8) & 0xff,
		    (dp->gateway + 1) & 0xff);
	else
		log_info("dns: answering at the gateway %u.%u.%u.%u:53 too",
		    dp->gateway >> 24, (dp->gateway >> 16) & 0xff,
		    (dp->gateway >> 8) & 0xff, dp->gateway & 0xff);
}

/* The responder (lwIP, gateway + 1), its forwarder and the gateway's
 * sockets.  0 or -errno (logged). */
static int
dp_dns_start(datapath_t *dp, const struct config *cfg)
{
	struct dnsfwd_params fp = { cfg->dns_upstream_addr,
	    cfg->dns_upstream_port, 0, 0 };
	struct stack_dns_params dns = {
		.addr = 0, .resolve = dp_dns_resolve, .arg = dp,
		.ttl = cfg->dns_ttl_ms / 1000, .tcp = cfg->dns_tcp,
	};
	uint32_t a = dp->gateway + 1, u = cfg->dns_upstream_addr;
	char other[64] = "REFUSED";

	if (u != 0) {
		if ((dp->dns_fwd = dnsfwd_new(dp->loop, &fp)) == NULL) {
			log_warn("datapath: DNS forwarder");
			return -errno;
		}
		dns.forward = dnsfwd_query;
		dns.forward_arg = dp->dns_fwd;
	}
	if ((dp->dns = stack_dns_new(dp->stack, &dns)) == NULL) {
		log_warn("datapath: DNS responder");
		return -errno;
	}
	if (u != 0)
		snprintf(other, sizeof(other), "forwarded to %u.%u.%u.%u:%u",
		    u >> 24, (u >> 16) & 0xff, (u >> 8) & 0xff, u & 0xff,
		    cfg->dns_upstream_port);
	log_info("dns: answering for the endpoints' names at %u.%u.%u.%u:53; "
	    "other names: %s", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
	    a & 0xff, other);
	dp->dns_gw_wanted = cfg->dns_listen_gateway;
	dp->dns_tcp = cfg->dns_tcp;
	dp_dns_gateway(dp);
	return 0;
}

/* The forwarder first: its queries point at the gateway and responder. */
static void
dp_dns_stop(datapath_t *dp)
{
	dnsfwd_free(dp->dns_fwd);
	dp->dns_fwd = NULL;
	dnsgw_free(dp->dns_gw);
	dp->dns_gw = NULL;
	stack_dns_free(dp->dns);
	dp->dns = NULL;
}

static int64_t
dp_hook(loop_t *loop, void *arg)
{
	datapath_t *dp = arg;
	int64_t next;

	(void)loop;
	next = stack_timers(dp->stack);

	/* After the timers: a retransmission they sent must not wait for
	 * the next wake-up.  Nothing is held across a sleep. */
	stack_flush(dp->stack);
	return next;
}

static void
dp_pcap_flush(loop_t *loop, void *arg)
{
	datapath_t *dp = arg;

	tun_pcap_flush(dp->pcap);
	if (tun_pcap_active(dp->pcap))
		loop_timer_start(loop, &dp->pcap_timer, PCAP_FLUSH_MS);
}

datapath_t *
dp_new(loop_t *loop, const struct config *cfg, eptable_t *eps,
    dp_open_back_cb open_back, void *arg)
{
	struct tun_params tp = { 0 };
	struct stack_params sp = { 0 };
	struct stack_cbs cbs = { 0 };
	datapath_t *dp;
	int saved;

	if ((dp = calloc(1, sizeof(*dp))) == NULL)
		return NULL;
	dp->loop = loop;
	dp->eps = eps;
	dp->open_back = open_back;
	dp->arg = arg;
	dp->gateway = cfg->subnet_addr + 1;
	snprintf(dp->name, sizeof(dp->name), "%s", cfg->interface_name);
	tp.name = dp->name;
	tp.subnet = cfg->subnet_addr;
	tp.prefix = cfg->subnet_prefix;
	tp.gateway = dp->gateway;
	tp.mtu = cfg->mtu;
	tp.offload = cfg->offload;
	dp->tp = tp;
	if ((dp->tun = tun_open(&tp)) == NULL)
		goto fail;
	if (cfg->pcap_file != NULL) {
		if ((dp->pcap = tun_pcap_open(cfg->pcap_file, cfg->pcap_max_bytes)) == NULL)
			goto fail;
		tun_set_pcap(dp->tun, dp->pcap);
		loop_timer_init(&dp->pcap_timer, dp_pcap_flush, dp);
		loop_timer_start(loop, &dp->pcap_timer, PCAP_FLUSH_MS);
		log_info("pcap: writing every packet on %s to %s", tun_name(dp->tun),
		    cfg->pcap_file);
	}
	sp.gateway = dp->gateway;
	sp.mtu = cfg->mtu;
	sp.max_streams = cfg->max_streams;
	sp.offload = tun_offload(dp->tun);
	cbs.output = dp_output;
	cbs.lookup = dp_lookup;
	cbs.has_addr = dp_has_addr;
	cbs.accept = dp_accept;
	cbs.arg = dp;
	if ((dp->stack = stack_new(&sp, &cbs)) == NULL) {
		log_warn("datapath: lwIP stack");
		goto fail;
	}
	if (cfg->dns_enabled && (errno = -dp_dns_start(dp, cfg)) != 0)
		goto fail;
	if ((errno = -loop_add_fd(loop, tun_fd(dp->tun), LOOP_READ, dp_readable, dp)) != 0)
		goto fail;
	loop_set_hook(loop, dp_hook, dp);
	return dp;
fail:
	saved = errno;
	dp_free(dp);
	errno = saved;
	return NULL;
}

void
dp_free(datapath_t *dp)
{
	if (dp == NULL)
		return;
	loop_set_hook(dp->loop, NULL, NULL);
	if (dp->tun != NULL)
		loop_del_fd(dp->loop, tun_fd(dp->tun));
	dp_dns_stop(dp);
	stack_free(dp->stack);
	if (dp->pcap != NULL) {
		loop_timer_stop(dp->loop, &dp->pcap_timer);
		tun_set_pcap(dp->tun, NULL);
		tun_pcap_close(dp->pcap);
	}
	tun_close(dp->tun);
	free(dp);
}

const char *
dp_device_name(const datapath_t *dp)
{
	return dp->tun != NULL ? tun_name(dp->tun) : dp->name;
}

uint32_t
dp_gateway(const datapath_t *dp)
{
	return dp->gateway;
}

void
dp_get_stats(const datapath_t *dp, struct stack_stats *st, struct tun_stats *ts)
{
	stack_get_stats(dp->stack, st);
	if (dp->tun != NULL)
		tun_get_stats(dp->tun, ts);
	else
		memset(ts, 0, sizeof(*ts));
}

int
dp_get_dns_stats(const datapath_t *dp, struct dp_dns_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (dp->dns == NULL)
		return 0;
	stack_dns_get_stats(dp->dns, &out->dns);
	if ((out->have_fwd = dp->dns_fwd != NULL))
		dnsfwd_get_stats(dp->dns_fwd, &out->fwd);
	if ((out->have_gw = dp->dns_gw != NULL))
		dnsgw_get_stats(dp->dns_gw, &out->gw);
	return 1;
}

void
dp_get_pcap(const datapath_t *dp, int *active, uint64_t *bytes)
{
	*active = dp->pcap != NULL && tun_pcap_active(dp->pcap);
	*bytes = dp->pcap != NULL ? tun_pcap_bytes(dp->pcap) : 0;
}
