/*
 * daemon.c: wires the modules to the event loop, handles signals (SIGTERM
 * and SIGINT stop, SIGHUP reloads the configuration) and shuts down in
 * reverse order.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/datapath.h"
#include "daemon/lofront.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/splitdns.h"
#include "control/control.h"
#include "daemon/health.h"
#include "daemon/metrics.h"
#include "discovery/discovery.h"
#include "tunnel/tunnel.h"

#define TICK_MS		1000

struct daemon {
	loop_t			*loop;
	struct config		 cfg;
	const struct daemon_opts *opts;
	eptable_t		*eps;
	tunnel_t		*tunnel;
	datapath_t		*dp;
	lofront_t		*lo;		/* loopback and/or network listeners */
	disc_t			*disc;
	ctl_t			*ctl;
	health_t		*health;
	splitdns_t		*sdns;		/* split-DNS registration, or NULL */
	const char		*sdns_off;	/* why there is none */
	int			 sdns_paused;	/* dns.register turned off by SIGHUP */
	int			 dns_on;	/* the responder runs (TUN + dns.enabled at start) */
	loop_timer_t		 ticker;
	const char		*mode;		/* "tun", "loopback", "none" */
	char			 mode_reason[256];
	char			 ingress[300];	/* what the tunnel uses */
	long long		 cert_stamp;	/* cert_not_after last loaded */
	uint64_t		 started_ms;
};

/* Signal handlers can only reach the loop through a global. */
static volatile sig_atomic_t sig_stop, sig_reload;
static loop_t *sig_loop;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else
		sig_stop = 1;
	if (sig_loop != NULL)
		loop_wakeup(sig_loop);
}

static int
setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 || sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1)
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return -errno;
	return 0;
}

static int
open_back(void *arg, stream_t *s, struct endpoint *ep)
{
	struct daemon *d = arg;

	/* A name under a wildcard counts on the wildcard endpoint. */
	if (d->tunnel == NULL) {
		endpoint_stats(ep)->errors_connect++;
		log_warnx("stream to %s:%u refused: no client certificate yet",
		    ep->hostname, ep->port);
		return -ENOTCONN;
	}
	return tunnel_open(d->tunnel, s, ep->hostname, ep->port, ep->id,
	    endpoint_stats(ep));
}

/* --- split DNS registration (docs/dns.md) -------------------------------- */

struct names {
	const char	**v;
	size_t		  n, cap;
};

static void
collect_host(struct endpoint *e, void *arg)
{
	struct names *nm = arg;
	const char **v;

	/* Never route a whole top-level domain ("*.com") to ngrokd. */
	if (e->hostname[0] == '*' && strchr(e->hostname + 2, '.') == NULL)
		return;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 64;
		if ((v = realloc(nm->v, nm->cap * sizeof(*v))) == NULL) {
			nm->cap = nm->n;
			return;
		}
		nm->v = v;
	}
	nm->v[nm->n++] = e->hostname;
}

/* Hands the wanted domains to the registration: dns.domains, else every
 * endpoint host name (a wildcard as its domain).  Returns at once; the
 * registration's worker runs resolvectl. */
static void
sync_splitdns(struct daemon *d)
{
	struct names nm = { NULL, 0, 0 };
	int r;

	if (d->sdns == NULL || d->sdns_paused)
		return;
	if (d->cfg.n_dns_domains > 0)
		r = splitdns_set_domains(d->sdns,
		    (const char *const *)d->cfg.dns_domains, d->cfg.n_dns_domains);
	else {
		eptable_foreach(d->eps, collect_host, &nm);
		r = splitdns_set_domains(d->sdns, nm.v, nm.n);
		free(nm.v);
	}
	if (r != 0)
		log_warnx("splitdns: %s; the registration is not updated",
		    strerror(-r));
}

static void
start_splitdns(struct daemon *d)
{
	struct splitdns_config c = { .state_dir = d->cfg.state_dir };
	const char *env = getenv(SPLITDNS_ENV_RESOLVECTL);

	if (!d->dns_on) {
		d->sdns_off = d->dp == NULL ? "off (no TUN device, so no DNS "
		    "responder)" : "off (dns.enabled is false)";
		return;
	}
	if (!d->cfg.dns_register) {
		d->sdns_off = "off (dns.register is false)";
		return;
	}
	splitdns_os_backend(&c.backend);
	c.ifname = dp_device_name(d->dp);
	c.server = dp_gateway(d->dp) + 1;	/* the responder: subnet + 2 */
	if (env != NULL && *env != '\0')
		log_info("splitdns: resolvectl is %s (" SPLITDNS_ENV_RESOLVECTL
		    ", for tests)", env);
	if ((d->sdns = splitdns_new(&c)) == NULL) {
		log_warn("splitdns: not registering the managed domains");
		d->sdns_off = "off (could not start)";
		return;
	}
	sync_splitdns(d);
}

/* SIGHUP: dns.register and dns.domains change in place. */
static void
reload_splitdns(struct daemon *d)
{
	if (!d->cfg.dns_register && d->sdns != NULL) {
		/* An empty set makes the worker revert; splitdns_free here
		 * would wait for resolvectl (seconds, if resolved hangs) on
		 * the loop thread, with every stream. */
		if (splitdns_set_domains(d->sdns, NULL, 0) != 0)
			log_warnx("splitdns: could not drop the registration");
		d->sdns_paused = 1;
		d->sdns_off = "off (dns.register is false)";
	} else if (d->sdns == NULL)
		start_splitdns(d);
	else {
		d->sdns_paused = 0;
		sync_splitdns(d);
	}
}

static void
add_splitdns_json(struct daemon *d, cJSON *data)
{
	struct splitdns_status st;
	struct splitdns_backend b;
	cJSON *arr;
	const char *dom;
	size_t i;

	if (d->sdns == NULL || d->sdns_paused) {
		cJSON_AddStringToObject(data, "dns_registration",
		    d->sdns_off != NULL ? d->sdns_off : "off");
		return;
	}
	splitdns_get_status(d->sdns, &st);
	splitdns_os_backend(&b);
	cJSON_AddStringToObject(data, "dns_registration", st.state);
	cJSON_AddStringToObject(data, "dns_registration_backend",
	    splitdns_backend_name(&b));
	if (st.error[0] != '\0')
		cJSON_AddStringToObject(data, "dns_registration_error", st.error);
	if ((arr = cJSON_AddArrayToObject(data, "dns_domains")) == NULL)
		return;
	for (i = 0; (dom = splitdns_domain_at(d->sdns, i)) != NULL; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(dom));
}

/* The responder's counters, when it serves (dns.enabled in TUN mode).
 * dns_servfail: the forwarder refused the query at once (busy, a socket
 * error); dns_upstream_failures: every forwarded or refused query that
 * ended in SERVFAIL (so it includes dns_servfail). */
static void
add_dns_json(struct daemon *d, cJSON *data)
{
	struct dp_dns_stats ds;

	if (d->dp == NULL || !dp_get_dns_stats(d->dp, &ds))
		return;
	cJSON_AddNumberToObject(data, "dns_queries", (double)ds.dns.queries);
	cJSON_AddNumberToObject(data, "dns_answered", (double)ds.dns.answered);
	cJSON_AddNumberToObject(data, "dns_nodata", (double)ds.dns.nodata);
	cJSON_AddNumberToObject(data, "dns_refused", (double)ds.dns.refused);
	cJSON_AddNumberToObject(data, "dns_servfail", (double)ds.dns.servfail);
	cJSON_AddNumberToObject(data, "dns_errors", (double)(ds.dns.formerr +
	    ds.dns.notimp + ds.dns.dropped));
	if (ds.have_fwd) {
		cJSON_AddNumberToObject(data, "dns_forwarded",
		    (double)ds.dns.forwarded);
		cJSON_AddNumberToObject(data, "dns_upstream_failures",
		    (double)(ds.fwd.timeouts + ds.fwd.errors + ds.fwd.busy));
	}
}

static void
reload(struct daemon *d)
{
	struct config ncfg;
	char err[CFG_ERR_LEN];

	if (d->opts->config_path == NULL) {
		log_info("SIGHUP: no configuration file to reload");
		return;
	}
	if (config_load(&ncfg, d->opts->config_path, err, sizeof(err)) != 0) {
		log_warnx("SIGHUP: %s; keeping the running configuration", err);
		return;
	}
	/* Settings that can change in place; the others need a restart. */
	if (d->opts->log_level_override < 0)
		log_set_level((enum log_level)ncfg.log_level);
	log_set_format((enum log_format)ncfg.log_format);
	if (strcmp(ncfg.interface_name, d->cfg.interface_name) != 0 ||
	    ncfg.subnet_addr != d->cfg.subnet_addr || ncfg.mtu != d->cfg.mtu ||
	    ncfg.offload != d->cfg.offload ||
	    ncfg.mode != d->cfg.mode ||
	    strcmp(ncfg.listen_interface, d->cfg.listen_interface) != 0 ||
	    ncfg.start_port != d->cfg.start_port)
		log_warnx("SIGHUP: net.* changes take effect at the next restart");
	if (ncfg.health_enabled != d->cfg.health_enabled ||
	    ncfg.health_port != d->cfg.health_port ||
	    strcmp(ncfg.health_address, d->cfg.health_address) != 0)
		log_warnx("SIGHUP: health.* changes take effect at the next restart");
	if (ncfg.manage_hosts != d->cfg.manage_hosts ||
	    ncfg.dns_enabled != d->cfg.dns_enabled)
		log_warnx("SIGHUP: server.manage_hosts and dns.enabled changes "
		    "take effect at the next restart");
	if (ncfg.dns_tcp != d->cfg.dns_tcp || ncfg.dns_ttl_ms != d->cfg.dns_ttl_ms ||
	    ncfg.dns_wildcard_names != d->cfg.dns_wildcard_names ||
	    ncfg.dns_listen_gateway != d->cfg.dns_listen_gateway ||
	    ncfg.dns_upstream_addr != d->cfg.dns_upstream_addr ||
	    ncfg.dns_upstream_port != d->cfg.dns_upstream_port)
		log_warnx("SIGHUP: dns.tcp, dns.ttl, dns.wildcard_names, "
		    "dns.listen_gateway and dns.upstream changes take effect at "
		    "the next restart");
	ncfg.pcap_file = d->cfg.pcap_file;
	d->cfg.pcap_file = NULL;
	ncfg.pcap_max_bytes = d->cfg.pcap_max_bytes;
	config_free(&d->cfg);
	d->cfg = ncfg;
	log_info("SIGHUP: configuration reloaded from %s", d->opts->config_path);
	reload_splitdns(d);
}

/* The tunnel follows discovery: it starts once a certificate exists,
 * reloads it after a renewal and follows the operator's ingress. */
static void
sync_tunnel(struct daemon *d)
{
	struct disc_status st;
	const char *ingress = d->cfg.ingress_endpoint;
	struct tunnel_params tp = {
		.client_cert = d->cfg.client_cert,
		.client_key = d->cfg.client_key,
		.ca_file = d->cfg.ca_file,
		.insecure_skip_verify = d->cfg.insecure_skip_verify,
		.session_resumption = d->cfg.session_resumption,
		.stream_buffer = d->cfg.stream_buffer,
		.connect_timeout_ms = d->cfg.connect_timeout_ms,
		.handshake_timeout_ms = d->cfg.handshake_timeout_ms,
		.header_timeout_ms = d->cfg.header_timeout_ms,
		.idle_timeout_ms = d->cfg.idle_timeout_ms,
		.pool_size = d->cfg.pool_size,
	};

	if (d->disc != NULL) {
		disc_get_status(d->disc, &st);
		if (st.ingress_endpoint[0] != '\0')
			ingress = st.ingress_endpoint;
		tp.client_cert = disc_cert_path(d->disc);
		tp.client_key = disc_key_path(d->disc);
	} else
		memset(&st, 0, sizeof(st));
	if (access(tp.client_cert, R_OK) != 0 || access(tp.client_key, R_OK) != 0)
		return;		/* not provisioned yet */
	if (d->tunnel == NULL) {
		tp.ingress = ingress;
		if ((d->tunnel = tunnel_new(d->loop, &tp)) == NULL)
			return;	/* logged; retried at the next tick */
		snprintf(d->ingress, sizeof(d->ingress), "%s", ingress);
		d->cert_stamp = st.cert_not_after;
		return;
	}
	if (strcmp(d->ingress, ingress) != 0 &&
	    tunnel_set_ingress(d->tunnel, ingress) == 0) {
		log_info("tunnel: ingress is now %s", ingress);
		snprintf(d->ingress, sizeof(d->ingress), "%s", ingress);
	}
	if (st.cert_not_after != d->cert_stamp &&
	    tunnel_reload_cert(d->tunnel, tp.client_cert, tp.client_key) == 0)
		d->cert_stamp = st.cert_not_after;
}

static void
tick(loop_t *loop, void *arg)
{
	struct daemon *d = arg;

	/* A recreated device is a new link: resolved forgot the old one's
	 * settings. */
	if (d->dp != NULL && dp_down_reason(d->dp) != NULL &&
	    dp_recover(d->dp) == 0 && d->sdns != NULL && !d->sdns_paused)
		splitdns_reapply(d->sdns);
	sync_tunnel(d);
	loop_timer_start(loop, &d->ticker, TICK_MS);
}

static int
dns_wildcard(void *arg, const struct endpoint *w, const char *name,
    uint32_t *addr)
{
	struct daemon *d = arg;

	return disc_wildcard_addr(d->disc, w, name, addr);
}

static void
on_disc_changed(void *arg)
{
	struct daemon *d = arg;

	if (d->lo != NULL)
		lofront_sync(d->lo);
	sync_tunnel(d);
	sync_splitdns(d);
}

/* --- control handlers ---------------------------------------------------- */

static char *
addr_str(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff,
	    (a >> 8) & 0xff, a & 0xff);
	return buf;
}

static int
h_status(void *arg, cJSON *data, char *err, size_t errlen)
{
	struct daemon *d = arg;
	struct disc_status st;

	(void)err;
	(void)errlen;
	memset(&st, 0, sizeof(st));
	if (d->disc != NULL)
		disc_get_status(d->disc, &st);
	cJSON_AddBoolToObject(data, "registered", st.registered);
	cJSON_AddStringToObject(data, "operator_id", st.operator_id);
	cJSON_AddStringToObject(data, "ingress_endpoint",
	    d->ingress[0] ? d->ingress : d->cfg.ingress_endpoint);
	cJSON_AddBoolToObject(data, "api_key_set", st.key_set);
	cJSON_AddBoolToObject(data, "api_healthy", st.api_ok);
	cJSON_AddStringToObject(data, "api_last_error", st.last_error);
	cJSON_AddNumberToObject(data, "last_poll_ok", (double)st.last_poll_ok);
	cJSON_AddNumberToObject(data, "cert_not_after", (double)st.cert_not_after);
	cJSON_AddBoolToObject(data, "hosts_ok", st.hosts_ok);
	cJSON_AddStringToObject(data, "hosts_error", st.hosts_error);
	cJSON_AddStringToObject(data, "mode", d->mode);
	cJSON_AddStringToObject(data, "mode_reason", d->mode_reason);
	cJSON_AddStringToObject(data, "device", d->dp != NULL ? dp_device_name(d->dp) : "");
	cJSON_AddStringToObject(data, "listen_interface", d->cfg.listen_interface);
	add_splitdns_json(d, data);
	add_dns_json(d, data);
	if (d->lo != NULL) {
		struct lofront_stats ls;

		lofront_get_stats(d->lo, &ls);
		cJSON_AddNumberToObject(data, "listeners", (double)ls.listeners);
		cJSON_AddNumberToObject(data, "listeners_failed",
		    (double)ls.listeners_failed);
	}
	cJSON_AddNumberToObject(data, "endpoints", (double)(eptable_count(d->eps) -
	    eptable_count_derived(d->eps)));
	cJSON_AddNumberToObject(data, "wildcard_names", (double)st.wildcard_names);
	cJSON_AddNumberToObject(data, "uptime_s",
	    (double)((loop_clock_ms() - d->started_ms) / 1000));
	cJSON_AddStringToObject(data, "version", NGROKD_VERSION);
	return 0;
}

struct list_ctx {
	struct daemon	*d;
	cJSON		*arr;
};

/* "listen": "addr:port" and, when it cannot listen, "listen_error": why;
 * the same as "network_listen" for net.listen_interface. */
static void
add_listener_json(cJSON *o, const lofront_t *lo, const struct endpoint *e,
    enum lofront_kind kind, const char *key, const char *errkey)
{
	struct lofront_listener_status ls;
	char a[16], buf[40];

	if (lo == NULL || lofront_get_status(lo, e->addr, e->port, kind, &ls) != 0)
		return;
	snprintf(buf, sizeof(buf), "%s:%u", addr_str(ls.addr, a, sizeof(a)), ls.port);
	cJSON_AddStringToObject(o, key, buf);
	if (ls.error != 0)
		cJSON_AddStringToObject(o, errkey, ls.reason);
}

static void
add_endpoint_json(struct endpoint *e, void *arg)
{
	struct list_ctx *ctx = arg;
	cJSON *arr = ctx->arr, *o = cJSON_CreateObject();
	char a[16];
	const struct endpoint_stats *s = &e->stats;

	if (o == NULL)
		return;
	add_listener_json(o, ctx->d->lo, e, LOFRONT_AT_ENDPOINT, "listen",
	    "listen_error");
	add_listener_json(o, ctx->d->lo, e, LOFRONT_AT_LISTEN, "network_listen",
	    "network_listen_error");
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddStringToObject(o, "hostname", e->hostname);
	cJSON_AddStringToObject(o, "address", addr_str(e->addr, a, sizeof(a)));
	cJSON_AddNumberToObject(o, "port", e->port);
	cJSON_AddStringToObject(o, "proto", e->proto);
	cJSON_AddStringToObject(o, "url", e->url);
	if (e->parent != NULL) {
		/* Its streams count on the wildcard's row. */
		cJSON_AddStringToObject(o, "wildcard", e->parent->hostname);
		cJSON_AddItemToArray(arr, o);
		return;
	}
	cJSON_AddNumberToObject(o, "streams_active", (double)s->streams_active);
	cJSON_AddNumberToObject(o, "streams_total", (double)s->streams_total);
	cJSON_AddNumberToObject(o, "bytes_in", (double)s->bytes_up);
	cJSON_AddNumberToObject(o, "bytes_out", (double)s->bytes_down);
	cJSON_AddNumberToObject(o, "errors", (double)(s->errors_connect +
	    s->errors_tls + s->errors_refused + s->errors_timeout +
	    s->errors_reset + s->errors_limit));
	cJSON_AddItemToArray(arr, o);
}

static int
h_list(void *arg, cJSON *data, char *err, size_t errlen)
{
	struct daemon *d = arg;
	struct list_ctx ctx = { d, NULL };

	if ((ctx.arr = cJSON_AddArrayToObject(data, "endpoints")) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	eptable_foreach(d->eps, add_endpoint_json, &ctx);
	return 0;
}

/* NULL when ready; the one test behind `ngrokctl health`, /readyz and
 * ngrokd_ready. */
static const char *
not_ready_reason(struct daemon *d)
{
	struct disc_status st;

	memset(&st, 0, sizeof(st));
	if (d->disc != NULL)
		disc_get_status(d->disc, &st);
	if (!st.registered)
		return "not registered (no certificate yet)";
	if (st.last_poll_ok == 0)
		return "no successful endpoint poll yet";
	if (d->dp == NULL && d->lo == NULL)
		return "no data path";
	if (d->dp != NULL && dp_down_reason(d->dp) != NULL)
		return dp_down_reason(d->dp);
	if (d->tunnel == NULL)
		return "tunnel not started";
	return NULL;
}

static int
h_health(void *arg, cJSON *data, char *err, size_t errlen)
{
	const char *why = not_ready_reason(arg);

	(void)err;
	(void)errlen;
	cJSON_AddBoolToObject(data, "live", 1);
	cJSON_AddBoolToObject(data, "ready", why == NULL);
	if (why != NULL)
		cJSON_AddStringToObject(data, "reason", why);
	return 0;
}

/* --- the HTTP probe and metrics listener --------------------------------- */

static int
hh_ready(void *arg, char *reason, size_t len)
{
	const char *why = not_ready_reason(arg);

	if (why != NULL)
		snprintf(reason, len, "%s", why);
	return why == NULL;
}

static int
hh_status(void *arg, cJSON *obj)
{
	char err[256];
	int r;

	if ((r = h_status(arg, obj, err, sizeof(err))) != 0)
		return r;
	return h_list(arg, obj, err, sizeof(err));
}

static void
add_endpoint_metrics(struct endpoint *e, void *arg)
{
	if (e->parent != NULL)	/* counted on its wildcard endpoint */
		return;
	(void)metrics_snapshot_add_endpoint(arg, e->id, e->hostname, e->port,
	    &e->stats);
}

static int
hh_metrics(void *arg, struct metrics_snapshot *s)
{
	struct daemon *d = arg;
	struct disc_status st;

	memset(&st, 0, sizeof(st));
	if (d->disc != NULL)
		disc_get_status(d->disc, &st);
	s->registered = st.registered;
	s->api_ok = st.api_ok;
	s->consecutive_failures = st.consecutive_failures;
	s->last_poll_ok = st.last_poll_ok;
	s->cert_not_after = st.cert_not_after;
	s->ready = not_ready_reason(d) == NULL;
	s->uptime_s = (loop_clock_ms() - d->started_ms) / 1000;
	if (d->dp != NULL) {
		struct dp_dns_stats ds;

		dp_get_stats(d->dp, &s->stack, &s->tun);
		s->have_stack = s->have_tun = 1;
		dp_get_pcap(d->dp, &s->pcap_active, &s->pcap_bytes);
		if ((s->have_dns = dp_get_dns_stats(d->dp, &ds))) {
			s->dns = ds.dns;
			s->have_dns_fwd = ds.have_fwd;
			s->dns_fwd = ds.fwd;
			s->have_dns_gw = ds.have_gw;
			s->dns_gw = ds.gw;
		}
	}
	if (d->tunnel != NULL) {
		tunnel_get_stats(d->tunnel, &s->tunnel);
		s->have_tunnel = 1;
		s->handshake_seconds = s->tunnel.handshake_seconds;
		s->header_seconds = s->tunnel.header_seconds;
	}
	eptable_foreach(d->eps, add_endpoint_metrics, s);
	return 0;
}

static void
start_health(struct daemon *d)
{
	struct health_handlers h = { hh_ready, hh_status, hh_metrics, d };

	if (!d->cfg.health_enabled)
		return;
	d->health = health_new(d->loop, d->cfg.health_address,
	    d->cfg.health_port, &h);
	if (d->health == NULL)
		log_warnx("health: not serving probes or metrics (set "
		    "health.enabled: false to turn this off)");
}

static int
h_set_api_key(void *arg, const char *key, char *err, size_t errlen)
{
	struct daemon *d = arg;
	int r;

	if (d->disc == NULL) {
		snprintf(err, errlen, "discovery is not running");
		return -ENOTCONN;
	}
	if ((r = disc_set_api_key(d->disc, key)) != 0)
		snprintf(err, errlen, "cannot store the API key: %s", strerror(-r));
	return r;
}

static int
h_refresh(void *arg, char *err, size_t errlen)
{
	struct daemon *d = arg;
	int r;

	if (d->disc == NULL) {
		snprintf(err, errlen, "discovery is not running");
		return -ENOTCONN;
	}
	if ((r = disc_refresh(d->disc)) != 0)
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

static int
h_deregister(void *arg, char *err, size_t errlen)
{
	struct daemon *d = arg;
	int r;

	if (d->disc == NULL) {
		snprintf(err, errlen, "discovery is not running");
		return -ENOTCONN;
	}
	if ((r = disc_deregister(d->disc)) != 0)
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

static int
start_control(struct daemon *d)
{
	struct ctl_handlers h = {
		.status = h_status, .list = h_list, .health = h_health,
		.set_api_key = h_set_api_key, .refresh_cert = h_refresh,
		.deregister = h_deregister, .arg = d,
	};
	struct ctl_params p = {
		.socket_path = d->cfg.socket_path,
		.group = d->cfg.socket_group,
		.admin_group = d->cfg.admin_group,
		.listen_fd = ctl_activation_fd(),
	};

	if ((d->ctl = ctl_new(d->loop, &p, &h)) == NULL)
		return -errno;
	return 0;
}

static int
start_datapath(struct daemon *d)
{
	unsigned flags = 0;
	int e;

	if (d->cfg.mode == NET_MODE_LOOPBACK)
		snprintf(d->mode_reason, sizeof(d->mode_reason), "net.mode is loopback");
	else if ((d->dp = dp_new(d->loop, &d->cfg, d->eps, open_back, d)) != NULL) {
		d->mode = "tun";
		log_info("data path: %s, subnet %u.%u.%u.%u/%u, mtu %u",
		    dp_device_name(d->dp), d->cfg.subnet_addr >> 24,
		    (d->cfg.subnet_addr >> 16) & 0xff, (d->cfg.subnet_addr >> 8) & 0xff,
		    d->cfg.subnet_addr & 0xff, d->cfg.subnet_prefix, d->cfg.mtu);
	} else {
		snprintf(d->mode_reason, sizeof(d->mode_reason),
		    "cannot open the TUN device: %s", strerror(errno));
		if (d->cfg.mode == NET_MODE_TUN) {
			log_error("data path: %s (net.mode is tun)", d->mode_reason);
			return -ENODEV;
		}
	}
	if (d->dp == NULL) {
		d->mode = "loopback";
		flags |= LOFRONT_VIRTUAL;
		log_warnx("data path: %s, using loopback addresses (127.0.0.x)",
		    d->mode_reason);
		if (d->cfg.dns_enabled)
			log_warnx("dns: not served in loopback mode (the responder "
			    "lives in the TUN device's stack); endpoint names "
			    "resolve through the hosts file only");
		if (!d->cfg.manage_hosts)
			log_warnx("data path: server.manage_hosts is false and "
			    "there is no DNS responder without a TUN device: "
			    "endpoint names do not resolve");
	}
	if (flags == 0 && !lofront_wants_network(&d->cfg))
		return 0;
	if ((d->lo = lofront_new(d->loop, &d->cfg, d->eps, flags, open_back, d)) == NULL) {
		e = errno;
		log_warnx("data path: kernel listeners: %s", strerror(e));
		return -e;
	}
	if (lofront_wants_network(&d->cfg))
		log_info("data path: endpoints also listen on %s from port %u",
		    d->cfg.listen_interface, d->cfg.start_port);
	return 0;
}

/* mkdir -p with mode for the last component (parents get 0755). */
static int
mkdir_p(const char *dir, mode_t mode)
{
	char path[4096], *p;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
make_dirs(const struct config *cfg)
{
	char path[4096], *slash;
	int r;

	if ((r = mkdir_p(cfg->state_dir, 0700)) != 0) {
		log_warnx("server.state_dir %s: %s", cfg->state_dir, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s", cfg->socket_path);
	if ((slash = strrchr(path, '/')) != NULL && slash != path) {
		*slash = '\0';
		if ((r = mkdir_p(path, 0755)) != 0) {
			log_warnx("server.socket_path: %s: %s", path, strerror(-r));
			return r;
		}
	}
	return 0;
}

static void
shutdown_all(struct daemon *d)
{
	if (d->loop != NULL)
		loop_timer_stop(d->loop, &d->ticker);
	health_free(d->health);
	ctl_free(d->ctl);
	lofront_free(d->lo);
	/* Before the device goes: resolved would no longer know the link. */
	splitdns_free(d->sdns);
	d->sdns = NULL;
	if (d->disc != NULL) {
		disc_stop(d->disc);
		disc_hosts_cleanup(d->disc);
		disc_free(d->disc);
	}
	dp_free(d->dp);
	tunnel_free(d->tunnel);
	eptable_free(d->eps);
	loop_free(d->loop);
	sig_loop = NULL;
}

int
daemon_run(struct config *cfg, const struct daemon_opts *opts)
{
	struct daemon d;
	int r = 0;

	memset(&d, 0, sizeof(d));
	d.mode = "none";
	d.cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));	/* the daemon owns it now */
	d.cfg.pcap_file = opts->pcap_file != NULL ? strdup(opts->pcap_file) : NULL;
	d.opts = opts;
	log_set_level((enum log_level)d.cfg.log_level);
	log_set_format((enum log_format)d.cfg.log_format);
	log_set_syslog(d.cfg.log_syslog);
	log_info("ngrokd %s starting", NGROKD_VERSION);
	config_log_summary(&d.cfg);

	if ((d.loop = loop_new()) == NULL || (d.eps = eptable_new()) == NULL) {
		log_warn("daemon: start-up");
		r = -ENOMEM;
		goto out;
	}
	sig_loop = d.loop;
	if ((r = setup_signals()) != 0 || (r = make_dirs(&d.cfg)) != 0)
		goto out;
	{
		/* What a run that did not exit cleanly registered; before the
		 * device exists, so only a leftover link can be touched. */
		struct splitdns_backend b;

		splitdns_os_backend(&b);
		(void)splitdns_cleanup(&b, d.cfg.state_dir, 0);
	}
	if ((r = start_datapath(&d)) != 0)
		goto out;
	d.dns_on = d.dp != NULL && d.cfg.dns_enabled;
	{
		struct disc_hooks hooks = { on_disc_changed, &d };

		if ((d.disc = disc_new(d.loop, &d.cfg, d.eps, &hooks)) == NULL) {
			r = -errno;
			log_warnx("daemon: discovery: %s", strerror(errno));
			goto out;
		}
	}
	if (d.dp != NULL)
		dp_set_wildcard(d.dp, dns_wildcard, &d);
	if (d.lo != NULL && d.dp == NULL && (r = disc_set_loopback(d.disc, 1)) != 0) {
		log_warnx("daemon: discovery: loopback addresses: %s", strerror(-r));
		goto out;
	}
	if ((r = start_control(&d)) != 0)
		goto out;
	start_health(&d);
	if ((r = disc_start(d.disc)) != 0) {
		log_warnx("daemon: discovery: %s", strerror(-r));
		goto out;
	}
	if (d.lo != NULL)
		lofront_sync(d.lo);
	sync_tunnel(&d);
	start_splitdns(&d);
	loop_timer_init(&d.ticker, tick, &d);
	loop_timer_start(d.loop, &d.ticker, TICK_MS);
	d.started_ms = loop_clock_ms();
	log_info("ready");
	while (!sig_stop) {
		if ((r = loop_once(d.loop, -1)) < 0) {
			log_warnx("daemon: event loop: %s", strerror(-r));
			break;
		}
		r = 0;
		if (sig_reload) {
			sig_reload = 0;
			reload(&d);
		}
	}
	log_info("shutting down");
out:
	shutdown_all(&d);
	config_free(&d.cfg);
	return r;
}
