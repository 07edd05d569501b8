/*
 * dp_harness: the data path without discovery or control: a TUN device,
 * the lwIP stack and the real tunnel, with endpoints given on the command
 * line.  System tests run it inside a private network namespace.
 *
 *   dp_harness --ingress HOST:PORT --cert F --key F --ca F [--insecure]
 *              [--subnet CIDR] [--mtu N] [--name DEV] [--pcap F]
 *              [--max-streams N] [--header-timeout MS] [--idle-timeout MS]
 *              [--no-offload] [--sink]
 *              --endpoint HOST:PORT=ADDR ...
 *
 * --dns serves DNS (dns.enabled); --dns-upstream IP[:PORT] forwards the
 * names that are not ours there (dns.upstream); --no-dns-gateway turns
 * dns.listen_gateway off.
 * --loopback serves the endpoints through the fallback front (kernel
 * listeners on their 127.0.0.x addresses) instead of a TUN device.
 * --sink replaces the tunnel by an in-process back that speaks blast's
 * server protocol (blast.c: 'U' count, 'D' count, 'E'), so make bench can
 * measure app -> TUN -> lwIP -> back without TLS or a second socket.
 * A deleted device is recreated within a second (dp_recover), as the
 * daemon does.  Prints "ready DEV" once the device is up; SIGUSR1 prints the counters
 * ("stats active=.. total=.. rst_unalloc=.. rst_limit=.. streams=..
 * sessions=.."); SIGTERM exits 0 after tearing everything down.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/packet.h"
#include "daemon/config.h"
#include "daemon/datapath.h"
#include "daemon/lofront.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "discovery/discovery.h"
#include "tunnel/tunnel.h"

static volatile sig_atomic_t stop, dump;
static loop_t *the_loop;

static void
on_sig(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else
		stop = 1;
	loop_wakeup(the_loop);
}

struct harness {
	tunnel_t	*tunnel;
	int		 sink;
};

/* --- the sink back: blast's server protocol inside the process ----------- */

#define SINK_CHUNK	(256 * 1024)

struct sink {
	stream_t	*s;
	uint8_t		 cmd[9];
	size_t		 have;		/* bytes of cmd read */
	uint64_t	 count, done;
	int		 replying;	/* 'U': the 8-byte count is being sent */
	int		 detached;
};

static const uint8_t sink_zeros[SINK_CHUNK];

static void
sink_finish(struct sink *k)
{
	if (k->detached)
		return;
	k->detached = 1;
	stream_shutdown(k->s, STREAM_BACK);
	stream_detach(k->s, STREAM_BACK);
	free(k);
}

/* Sends what is owed ('D' data or the 'U' answer) until the front is full. */
static void
sink_pump(struct sink *k)
{
	uint8_t ans[8];
	ssize_t n;

	if (k->replying) {
		wr64(ans, k->done);
		if (stream_send(k->s, STREAM_BACK, ans, 8) == 8)
			sink_finish(k);
		return;
	}
	if (k->have < 9 || k->cmd[0] != 'D')
		return;
	while (k->done < k->count) {
		size_t want = k->count - k->done < SINK_CHUNK ?
		    (size_t)(k->count - k->done) : SINK_CHUNK;

		if ((n = stream_send(k->s, STREAM_BACK, sink_zeros, want)) <= 0)
			return;	/* the front resumes us */
		k->done += (uint64_t)n;
	}
	sink_finish(k);
}

static ssize_t
sink_send(void *self, const void *buf, size_t len)
{
	struct sink *k = self;
	const uint8_t *p = buf;
	size_t used = 0, n;

	while (k->have < 9 && used < len)
		k->cmd[k->have++] = p[used++];
	if (k->have < 9)
		return (ssize_t)used;
	if (used > 0)		/* the command completed in this call */
		k->count = rd64(k->cmd + 1);
	if (k->cmd[0] == 'U') {
		n = len - used;
		k->done += n;
		if (k->done >= k->count && !k->replying) {
			k->replying = 1;
			sink_pump(k);
		}
		return (ssize_t)len;
	}
	if (k->cmd[0] == 'D' && used > 0)
		sink_pump(k);
	return (ssize_t)len;	/* anything after a 'D' is ignored */
}

static void
sink_resume(void *self)
{
	sink_pump(self);
}

static void
sink_shutdown(void *self)
{
	struct sink *k = self;

	if (k->cmd[0] != 'D' || k->have < 9)
		sink_finish(k);
}

static void
sink_abort(void *self, int err)
{
	struct sink *k = self;

	(void)err;
	k->detached = 1;
	stream_detach(k->s, STREAM_BACK);
	free(k);
}

static const struct stream_ops sink_ops = {
	.send = sink_send,
	.resume = sink_resume,
	.shutdown = sink_shutdown,
	.abort = sink_abort,
};

static int
sink_open(stream_t *s)
{
	struct sink *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return -ENOMEM;
	k->s = s;
	stream_attach_back(s, &sink_ops, k);
	return 0;
}

static int
open_back(void *arg, stream_t *s, struct endpoint *ep)
{
	struct harness *h = arg;

	if (h->sink)
		return sink_open(s);
	return tunnel_open(h->tunnel, s, ep->hostname, ep->port, ep->id, &ep->stats);
}

static int
add_endpoint(eptable_t *eps, char *spec)
{
	char *eq = strchr(spec, '='), *colon, id[300];
	struct in_addr a;
	long port;

	if (eq == NULL || (colon = strrchr(spec, ':')) == NULL || colon > eq)
		return -1;
	*eq = *colon = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535 || inet_pton(AF_INET, eq + 1, &a) != 1)
		return -1;
	snprintf(id, sizeof(id), "ep_%s_%ld", spec, port);
	return eptable_add(eps, id, spec, "http", "", ntohl(a.s_addr),
	    (uint16_t)port) == NULL ? -1 : 0;
}

static void
print_stats(datapath_t *dp, tunnel_t *t)
{
	struct stack_stats st;
	struct tun_stats ts;
	struct tunnel_stats tt;

	memset(&st, 0, sizeof(st));
	memset(&tt, 0, sizeof(tt));
	if (dp != NULL)
		dp_get_stats(dp, &st, &ts);
	if (t != NULL)
		tunnel_get_stats(t, &tt);
	printf("stats active=%llu total=%llu rst_unalloc=%llu rst_limit=%llu "
	    "sessions=%llu full=%llu resumed=%llu errors=%llu "
	    "hs_cpu_us_full=%llu hs_cpu_us_resumed=%llu\n",
	    (unsigned long long)st.streams_active,
	    (unsigned long long)st.streams_total,
	    (unsigned long long)st.rst_unallocated,
	    (unsigned long long)st.rst_limit,
	    (unsigned long long)tt.sessions_active,
	    (unsigned long long)tt.handshakes_full,
	    (unsigned long long)tt.handshakes_resumed,
	    (unsigned long long)tt.errors,
	    (unsigned long long)(tt.handshakes_full ?
	    tt.handshake_cpu_ns_full / tt.handshakes_full / 1000 : 0),
	    (unsigned long long)(tt.handshakes_resumed ?
	    tt.handshake_cpu_ns_resumed / tt.handshakes_resumed / 1000 : 0));
	fflush(stdout);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "ingress", required_argument, NULL, 'i' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "subnet", required_argument, NULL, 's' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "pcap", required_argument, NULL, 'p' },
		{ "max-streams", required_argument, NULL, 'x' },
		{ "header-timeout", required_argument, NULL, 'h' },
		{ "idle-timeout", required_argument, NULL, 'd' },
		{ "no-resumption", no_argument, NULL, 'R' },
		{ "pool", required_argument, NULL, 'P' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "debug", no_argument, NULL, 'D' },
		{ "dns", no_argument, NULL, 'N' },
		{ "dns-upstream", required_argument, NULL, 'U' },
		{ "no-dns-gateway", no_argument, NULL, 'G' },
		{ "loopback", no_argument, NULL, 'L' },
		{ "sink", no_argument, NULL, 'S' },
		{ "no-offload", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 }
	};
	struct tunnel_params tp = { 0 };
	struct harness h = { 0 };
	struct config cfg;
	struct sigaction sa;
	eptable_t *eps;
	datapath_t *dp = NULL;
	lofront_t *lf = NULL;
	const char *why;
	int ch, loopback = 0;

	log_init("dp_harness", 1, LOG_LVL_INFO);
	if (config_defaults(&cfg) != 0 || (eps = eptable_new()) == NULL)
		return 1;
	tp.stream_buffer = cfg.stream_buffer;
	tp.connect_timeout_ms = cfg.connect_timeout_ms;
	tp.handshake_timeout_ms = cfg.handshake_timeout_ms;
	tp.header_timeout_ms = cfg.header_timeout_ms;
	tp.idle_timeout_ms = cfg.idle_timeout_ms;
	tp.session_resumption = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'i': tp.ingress = optarg; break;
		case 'c': tp.client_cert = optarg; break;
		case 'k': tp.client_key = optarg; break;
		case 'a': tp.ca_file = optarg; break;
		case 'I': tp.insecure_skip_verify = 1; break;
		case 'R': tp.session_resumption = 0; break;
		case 'P': tp.pool_size = (uint32_t)atoi(optarg); break;
		case 'D': log_set_level(LOG_LVL_DEBUG); break;
		case 'N': cfg.dns_enabled = 1; break;
		case 'G': cfg.dns_listen_gateway = 0; break;
		case 'U':
			if (config_parse_upstream(optarg, &cfg.dns_upstream_addr,
			    &cfg.dns_upstream_port, &why) != 0)
				fatalx("--dns-upstream %s %s", optarg, why);
			break;
		case 'L': loopback = 1; break;
		case 'S': h.sink = 1; break;
		case 'O': cfg.offload = 0; break;
		case 's':
			if (config_parse_cidr(optarg, &cfg.subnet_addr,
			    &cfg.subnet_prefix) != 0)
				fatalx("bad --subnet %s", optarg);
			break;
		case 'm': cfg.mtu = (uint32_t)atoi(optarg); break;
		case 'n':
			free(cfg.interface_name);
			cfg.interface_name = strdup(optarg);
			break;
		case 'p': cfg.pcap_file = strdup(optarg); break;
		case 'x': cfg.max_streams = (uint32_t)atoi(optarg); break;
		case 'h': tp.header_timeout_ms = (uint32_t)atoi(optarg); break;
		case 'd': tp.idle_timeout_ms = (uint32_t)atoi(optarg); break;
		case 'e':
			if (add_endpoint(eps, optarg) != 0)
				fatalx("bad --endpoint (want HOST:PORT=ADDR)");
			break;
		default:
			return 2;
		}
	}
	if (!h.sink && (tp.ingress == NULL || tp.client_cert == NULL ||
	    tp.client_key == NULL))
		fatalx("--ingress, --cert and --key are required (or --sink)");
	if ((the_loop = loop_new()) == NULL)
		fatal("loop_new");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!h.sink && (h.tunnel = tunnel_new(the_loop, &tp)) == NULL)
		fatalx("tunnel_new failed");
	if (loopback) {
		/* The fallback front: kernel listeners on the endpoints' own
		 * (127.0.0.x) addresses. */
		if ((lf = lofront_new(the_loop, &cfg, eps, LOFRONT_VIRTUAL,
		    open_back, &h)) == NULL)
			fatalx("lofront_new: %s", strerror(errno));
		lofront_sync(lf);
		printf("ready loopback\n");
	} else {
		if ((dp = dp_new(the_loop, &cfg, eps, open_back, &h)) == NULL)
			fatalx("dp_new: %s", strerror(errno));
		printf("ready %s\n", dp_device_name(dp));
	}
	fflush(stdout);
	while (!stop) {
		/* As the daemon's 1 s tick: recreate a deleted device. */
		if (loop_once(the_loop, 1000) < 0)
			break;
		if (dp != NULL && dp_down_reason(dp) != NULL)
			dp_recover(dp);
		if (dump) {
			dump = 0;
			print_stats(dp, h.tunnel);
		}
	}
	lofront_free(lf);
	dp_free(dp);
	tunnel_free(h.tunnel);
	eptable_free(eps);
	loop_free(the_loop);
	config_free(&cfg);
	return 0;
}
