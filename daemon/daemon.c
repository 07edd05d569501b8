/*
 * daemon.c: wires the modules to the event loop, handles signals (SIGTERM
 * and SIGINT stop, SIGHUP reloads the configuration) and shuts down in
 * reverse order.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/datapath.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "discovery/discovery.h"
#include "tunnel/tunnel.h"

struct daemon {
	loop_t			*loop;
	struct config		 cfg;
	const struct daemon_opts *opts;
	eptable_t		*eps;
	tunnel_t		*tunnel;
	datapath_t		*dp;
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

	if (d->tunnel == NULL)
		return -ENOTCONN;
	return tunnel_open(d->tunnel, s, ep->hostname, ep->port, ep->id, &ep->stats);
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
	    ncfg.mode != d->cfg.mode)
		log_warnx("SIGHUP: net.* changes take effect at the next restart");
	ncfg.pcap_file = d->cfg.pcap_file;
	d->cfg.pcap_file = NULL;
	ncfg.pcap_max_bytes = d->cfg.pcap_max_bytes;
	config_free(&d->cfg);
	d->cfg = ncfg;
	log_info("SIGHUP: configuration reloaded from %s", d->opts->config_path);
}

static void
tick(loop_t *loop, void *arg)
{
	(void)loop;
	(void)arg;
}

static int
start_tunnel(struct daemon *d)
{
	struct tunnel_params tp = {
		.ingress = d->cfg.ingress_endpoint,
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
	};

	if (access(d->cfg.client_cert, R_OK) != 0 || access(d->cfg.client_key, R_OK) != 0) {
		log_info("tunnel: no client certificate yet (%s); streams are "
		    "refused until one is provisioned", d->cfg.client_cert);
		return 0;
	}
	if ((d->tunnel = tunnel_new(d->loop, &tp)) == NULL)
		return -errno;
	return 0;
}

static void
shutdown_all(struct daemon *d)
{
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
	loop_timer_t ticker;
	int r = 0;

	memset(&d, 0, sizeof(d));
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
	if ((r = setup_signals()) != 0)
		goto out;
	if ((r = start_tunnel(&d)) != 0)
		goto out;
	if (d.cfg.mode != NET_MODE_LOOPBACK) {
		d.dp = dp_new(d.loop, &d.cfg, d.eps, open_back, &d);
		if (d.dp == NULL) {
			r = -errno;
			log_warnx("daemon: cannot open the TUN device (%s)", strerror(errno));
			goto out;
		}
		log_info("data path: %s, gateway %s/%u, mtu %u",
		    dp_device_name(d.dp), "subnet", d.cfg.subnet_prefix, d.cfg.mtu);
	}
	loop_timer_init(&ticker, tick, &d);
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
