/*
 * metrics.c: the metrics snapshot and its Prometheus text rendering
 * (exposition format 0.0.4: "# HELP" / "# TYPE" then the samples of that
 * family, contiguous; counters end in _total; histograms as cumulative
 * _bucket{le=...} series ending with le="+Inf", then _sum and _count).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"

/* Latency of network round trips to a remote ingress: 5 ms to 10 s. */
static const double default_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define DEFAULT_NBOUNDS	(sizeof(default_bounds) / sizeof(default_bounds[0]))

/* ---- histogram ----------------------------------------------------------- */

static void
hist_bounds(const struct metrics_hist *h, const double **b, size_t *n)
{
	if (h->bounds != NULL && h->nbounds > 0 &&
	    h->nbounds <= METRICS_HIST_MAX_BOUNDS) {
		*b = h->bounds;
		*n = h->nbounds;
	} else {
		*b = default_bounds;
		*n = DEFAULT_NBOUNDS;
	}
}

void
metrics_hist_observe(struct metrics_hist *h, double seconds)
{
	const double *b;
	size_t n, i;

	if (!(seconds > 0) || !isfinite(seconds))
		seconds = 0;
	hist_bounds(h, &b, &n);
	for (i = 0; i < n && seconds > b[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += seconds;
}

void
metrics_hist_observe_ms(struct metrics_hist *h, uint64_t start_ms,
    uint64_t end_ms)
{
	metrics_hist_observe(h, end_ms > start_ms ?
	    (double)(end_ms - start_ms) / 1000.0 : 0.0);
}

/* ---- snapshot ------------------------------------------------------------ */

void
metrics_snapshot_init(struct metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
}

int
metrics_snapshot_add_endpoint(struct metrics_snapshot *s, const char *id,
    const char *hostname, uint16_t port, const struct endpoint_stats *st)
{
	struct metrics_endpoint *e, *ne;
	size_t cap;

	if (s->n_eps == s->cap_eps) {
		cap = s->cap_eps ? s->cap_eps * 2 : 16;
		if ((ne = realloc(s->eps, cap * sizeof(*ne))) == NULL)
			return -ENOMEM;
		s->eps = ne;
		s->cap_eps = cap;
	}
	e = &s->eps[s->n_eps];
	memset(e, 0, sizeof(*e));
	e->id = strdup(id != NULL ? id : "");
	e->hostname = strdup(hostname != NULL ? hostname : "");
	if (e->id == NULL || e->hostname == NULL) {
		free(e->id);
		free(e->hostname);
		return -ENOMEM;
	}
	e->port = port;
	if (st != NULL)
		e->stats = *st;
	s->n_eps++;
	return 0;
}

void
metrics_snapshot_free(struct metrics_snapshot *s)
{
	size_t i;

	for (i = 0; i < s->n_eps; i++) {
		free(s->eps[i].id);
		free(s->eps[i].hostname);
	}
	free(s->eps);
	s->eps = NULL;
	s->n_eps = s->cap_eps = 0;
}

/* ---- label escaping ------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *p)
{
	unsigned c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
			return 0;
		return (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return 0;
		return (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
		    (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

static size_t
put(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (at + i + 1 < cap)
			buf[at + i] = s[i];
	return at + n;
}

size_t
metrics_escape_label(const char *v, char *buf, size_t cap)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t n = 0, k;

	/* The checks on p[1..3] stop at the NUL, which is never a
	 * continuation byte, so no read goes past the string. */
	while (*p != '\0') {
		if (*p == '\\')
			n = put(buf, cap, n, "\\\\", 2);
		else if (*p == '"')
			n = put(buf, cap, n, "\\\"", 2);
		else if (*p == '\n')
			n = put(buf, cap, n, "\\n", 2);
		else if (*p < 0x20 || *p == 0x7f)
			n = put(buf, cap, n, "?", 1);	/* no other escapes exist */
		else if ((k = utf8_seq(p)) == 0)
			n = put(buf, cap, n, "?", 1);
		else {
			n = put(buf, cap, n, (const char *)p, k);
			p += k;
			continue;
		}
		p++;
	}
	if (cap > 0)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
}

/* ---- output buffer ------------------------------------------------------- */

struct buf {
	char	*p;
	size_t	 len, cap;
	int	 err;
};

static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *np;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		cap = b->cap * 2;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* ---- families ------------------------------------------------------------ */

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
u64_family(struct buf *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	family(b, name, type, help);
	bprintf(b, "%s %" PRIu64 "\n", name, v);
}

/* name{label="v1"} a, name{label="v2"} b, ... for n fixed label values. */
static void
u64_by(struct buf *b, const char *name, const char *type, const char *help,
    const char *label, const char *const *vals, const uint64_t *v, size_t n)
{
	size_t i;

	family(b, name, type, help);
	for (i = 0; i < n; i++)
		bprintf(b, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, vals[i], v[i]);
}

static void
hist(struct buf *b, const char *name, const char *help,
    const struct metrics_hist *h)
{
	const double *bd;
	size_t n, i;
	uint64_t cum = 0;

	hist_bounds(h, &bd, &n);
	family(b, name, "histogram", help);
	for (i = 0; i < n; i++) {
		cum += h->counts[i];
		bprintf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bd[i], cum);
	}
	/* +Inf is the total count by definition, whatever the buckets say. */
	bprintf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	bprintf(b, "%s_sum %.9g\n", name, isfinite(h->sum) ? h->sum : 0.0);
	bprintf(b, "%s_count %" PRIu64 "\n", name, h->count);
}

/* Per-endpoint families: the escaped label sets are built once. */
static char *
escape_dup(const char *v)
{
	size_t n = metrics_escape_label(v, NULL, 0);
	char *p;

	if ((p = malloc(n + 1)) != NULL)
		metrics_escape_label(v, p, n + 1);
	return p;
}

static char *
ep_labels(const struct metrics_endpoint *e)
{
	char *id, *host, *l = NULL;
	size_t n;

	id = escape_dup(e->id);
	host = escape_dup(e->hostname);
	if (id != NULL && host != NULL) {
		n = strlen(id) + strlen(host) + 64;
		if ((l = malloc(n)) != NULL)
			snprintf(l, n, "endpoint=\"%s\",hostname=\"%s\",port=\"%u\"",
			    id, host, (unsigned)e->port);
	}
	free(id);
	free(host);
	return l;
}

static void
free_labels(char **l, size_t n)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static char **
build_labels(const struct metrics_snapshot *s)
{
	char **l;
	size_t i;

	if ((l = calloc(s->n_eps ? s->n_eps : 1, sizeof(*l))) == NULL)
		return NULL;
	for (i = 0; i < s->n_eps; i++)
		if ((l[i] = ep_labels(&s->eps[i])) == NULL) {
			free_labels(l, s->n_eps);
			return NULL;
		}
	return l;
}

/* The endpoint_stats fields a per-endpoint family reads. */
enum ep_field {
	EPF_ACTIVE, EPF_TOTAL, EPF_UP, EPF_DOWN, EPF_E_CONNECT, EPF_E_TLS,
	EPF_E_REFUSED, EPF_E_TIMEOUT, EPF_E_RESET, EPF_E_LIMIT,
};

static uint64_t
ep_value(const struct endpoint_stats *st, enum ep_field f)
{
	switch (f) {
	case EPF_ACTIVE:	return st->streams_active;
	case EPF_TOTAL:		return st->streams_total;
	case EPF_UP:		return st->bytes_up;
	case EPF_DOWN:		return st->bytes_down;
	case EPF_E_CONNECT:	return st->errors_connect;
	case EPF_E_TLS:		return st->errors_tls;
	case EPF_E_REFUSED:	return st->errors_refused;
	case EPF_E_TIMEOUT:	return st->errors_timeout;
	case EPF_E_RESET:	return st->errors_reset;
	case EPF_E_LIMIT:	return st->errors_limit;
	}
	return 0;
}

/* One sample per endpoint, with an optional extra label (extra == NULL:
 * none), e.g. direction="up". */
static void
ep_samples(struct buf *b, const struct metrics_snapshot *s, char **l,
    const char *name, const char *extra, enum ep_field f)
{
	size_t i;

	for (i = 0; i < s->n_eps; i++)
		bprintf(b, "%s{%s%s%s} %" PRIu64 "\n", name, l[i],
		    extra ? "," : "", extra ? extra : "",
		    ep_value(&s->eps[i].stats, f));
}

static void
render_endpoints(struct buf *b, const struct metrics_snapshot *s, char **l)
{
	static const struct { const char *kind; enum ep_field f; } errs[] = {
		{ "kind=\"connect\"", EPF_E_CONNECT }, { "kind=\"tls\"", EPF_E_TLS },
		{ "kind=\"refused\"", EPF_E_REFUSED },
		{ "kind=\"timeout\"", EPF_E_TIMEOUT },
		{ "kind=\"reset\"", EPF_E_RESET }, { "kind=\"limit\"", EPF_E_LIMIT },
	};
	size_t i;

	u64_family(b, "ngrokd_endpoints", "gauge",
	    "Bound endpoints in the endpoint table.", (uint64_t)s->n_eps);
	family(b, "ngrokd_streams_active", "gauge",
	    "Streams open now, by endpoint.");
	ep_samples(b, s, l, "ngrokd_streams_active", NULL, EPF_ACTIVE);
	family(b, "ngrokd_streams_total", "counter",
	    "Streams accepted since the endpoint appeared, by endpoint.");
	ep_samples(b, s, l, "ngrokd_streams_total", NULL, EPF_TOTAL);
	family(b, "ngrokd_bytes_total", "counter",
	    "Stream payload bytes, by endpoint; up is application to ingress.");
	ep_samples(b, s, l, "ngrokd_bytes_total", "direction=\"up\"", EPF_UP);
	ep_samples(b, s, l, "ngrokd_bytes_total", "direction=\"down\"", EPF_DOWN);
	family(b, "ngrokd_stream_errors_total", "counter",
	    "Streams that failed, by endpoint and kind.");
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		ep_samples(b, s, l, "ngrokd_stream_errors_total", errs[i].kind,
		    errs[i].f);
}

static void
render_tunnel(struct buf *b, const struct metrics_snapshot *s)
{
	static const char *const kinds[] = { "full", "resumed" };
	const struct tunnel_stats *t = &s->tunnel;
	uint64_t hs[2] = { t->handshakes_full, t->handshakes_resumed };

	if (s->have_tunnel) {
		u64_family(b, "ngrokd_tls_sessions_active", "gauge",
		    "mTLS sessions to the ingress open now.", t->sessions_active);
		u64_family(b, "ngrokd_tls_sessions_total", "counter",
		    "mTLS sessions to the ingress opened.", t->sessions_total);
		u64_by(b, "ngrokd_tls_handshakes_total", "counter",
		    "Completed TLS handshakes with the ingress, by kind.", "kind",
		    kinds, hs, 2);
		family(b, "ngrokd_tls_handshake_cpu_seconds_total", "counter",
		    "Thread CPU time spent in TLS handshakes, by kind.");
		bprintf(b, "ngrokd_tls_handshake_cpu_seconds_total{kind=\"full\"} "
		    "%.9g\n", (double)t->handshake_cpu_ns_full / 1e9);
		bprintf(b, "ngrokd_tls_handshake_cpu_seconds_total{kind=\"resumed\"} "
		    "%.9g\n", (double)t->handshake_cpu_ns_resumed / 1e9);
		u64_family(b, "ngrokd_tunnel_errors_total", "counter",
		    "Sessions to the ingress that failed.", t->errors);
	}
	hist(b, "ngrokd_handshake_seconds",
	    "Time from connecting to the ingress to the end of the TLS handshake.",
	    &s->handshake_seconds);
	hist(b, "ngrokd_header_exchange_seconds",
	    "Time from sending ConnRequest to receiving ConnResponse.",
	    &s->header_seconds);
}

static void
render_discovery(struct buf *b, const struct metrics_snapshot *s)
{
	static const char *const results[] = { "ok", "failed" };
	uint64_t polls[2] = { s->polls_ok, s->polls_failed };

	u64_family(b, "ngrokd_registered", "gauge",
	    "1 when an operator id and client certificate exist.",
	    s->registered ? 1 : 0);
	u64_family(b, "ngrokd_api_up", "gauge",
	    "1 when the last ngrok API request succeeded.", s->api_ok ? 1 : 0);
	if (s->have_poll_counts)
		u64_by(b, "ngrokd_api_polls_total", "counter",
		    "Bound-endpoint polls of the ngrok API, by result.", "result",
		    results, polls, 2);
	u64_family(b, "ngrokd_api_consecutive_failures", "gauge",
	    "ngrok API requests that failed in a row.", s->consecutive_failures);
	if (s->last_poll_ok > 0)
		u64_family(b, "ngrokd_api_last_success_timestamp_seconds", "gauge",
		    "Unix time of the last successful endpoint poll.",
		    (uint64_t)s->last_poll_ok);
	if (s->cert_not_after > 0)
		u64_family(b, "ngrokd_cert_not_after_seconds", "gauge",
		    "Unix time at which the client certificate expires.",
		    (uint64_t)s->cert_not_after);
}

static void
render_stack(struct buf *b, const struct metrics_snapshot *s)
{
	static const char *const dirs[] = { "in", "out" };
	static const char *const drops[] = {
		"malformed", "fragment", "unallocated", "proto", "output",
	};
	static const char *const rsts[] = { "unallocated", "limit" };
	const struct stack_stats *st = &s->stack;
	uint64_t pk[2] = { st->packets_in, st->packets_out };
	uint64_t by[2] = { st->bytes_in, st->bytes_out };
	uint64_t dr[5] = { st->dropped_malformed, st->dropped_fragment,
	    st->dropped_unallocated, st->dropped_proto, st->dropped_output };
	uint64_t rs[2] = { st->rst_unallocated, st->rst_limit };

	u64_by(b, "ngrokd_packets_total", "counter",
	    "IPv4 packets through the embedded stack; in is from the device.",
	    "direction", dirs, pk, 2);
	u64_by(b, "ngrokd_packet_bytes_total", "counter",
	    "IPv4 bytes through the embedded stack.", "direction", dirs, by, 2);
	u64_by(b, "ngrokd_packets_dropped_total", "counter",
	    "Packets the stack dropped, by reason.", "reason", drops, dr, 5);
	u64_by(b, "ngrokd_rst_sent_total", "counter",
	    "TCP resets sent for refused connections, by reason.", "reason",
	    rsts, rs, 2);
	u64_family(b, "ngrokd_connections_active", "gauge",
	    "TCP connections open in the embedded stack.", st->streams_active);
	u64_family(b, "ngrokd_connections_total", "counter",
	    "TCP connections accepted by the embedded stack.", st->streams_total);
}

static void
render_dns(struct buf *b, const struct metrics_snapshot *s)
{
	static const char *const results[] = {
		"answered", "nodata", "refused", "formerr", "notimp",
		"servfail", "forwarded", "dropped",
	};
	static const char *const conns[] = { "accepted", "rejected" };
	static const char *const fails[] = { "timeout", "error", "busy" };
	const struct stack_dns_stats *d = &s->dns;
	uint64_t r[8] = { d->answered, d->nodata, d->refused, d->formerr,
	    d->notimp, d->servfail, d->forwarded, d->dropped };
	uint64_t c[2] = { d->tcp_conns, d->tcp_rejected };
	uint64_t f[3] = { s->dns_fwd.timeouts, s->dns_fwd.errors,
	    s->dns_fwd.busy };
	uint64_t g[2] = { s->dns_gw.tcp_conns, s->dns_gw.tcp_rejected };

	u64_family(b, "ngrokd_dns_queries_total", "counter",
	    "DNS messages received by the responder (UDP and TCP, the "
	    "gateway's included).", d->queries);
	u64_by(b, "ngrokd_dns_replies_total", "counter",
	    "DNS messages by outcome: answered (an A record), nodata, refused, "
	    "formerr, notimp, servfail (the forwarder refused it at once), "
	    "forwarded upstream, dropped (no reply: unreadable, or a reply "
	    "that could not be sent, counted under its outcome too).",
	    "result", results, r, 8);
	u64_by(b, "ngrokd_dns_tcp_connections_total", "counter",
	    "DNS-over-TCP connections to the endpoint subnet's responder.",
	    "result", conns, c, 2);
	if (s->have_dns_fwd) {
		u64_family(b, "ngrokd_dns_upstream_queries_total", "counter",
		    "Queries for other names sent to dns.upstream.",
		    s->dns_fwd.queries);
		u64_family(b, "ngrokd_dns_upstream_replies_total", "counter",
		    "dns.upstream's replies relayed to the client.",
		    s->dns_fwd.replies);
		u64_by(b, "ngrokd_dns_upstream_failures_total", "counter",
		    "Queries for dns.upstream that ended in SERVFAIL, by reason "
		    "(busy and immediate errors are also result=servfail, the "
		    "others result=forwarded).", "reason",
		    fails, f, 3);
		u64_family(b, "ngrokd_dns_upstream_mismatched_total", "counter",
		    "Datagrams from dns.upstream ignored (wrong id or question).",
		    s->dns_fwd.mismatched);
	}
	if (s->have_dns_gw) {
		u64_by(b, "ngrokd_dns_gateway_tcp_connections_total", "counter",
		    "DNS-over-TCP connections to the gateway address.", "result",
		    conns, g, 2);
		u64_family(b, "ngrokd_dns_gateway_send_errors_total", "counter",
		    "Replies on the gateway's sockets the kernel did not take.",
		    s->dns_gw.send_errors);
	}
}

static void
render_tun(struct buf *b, const struct metrics_snapshot *s)
{
	static const char *const dirs[] = { "rx", "tx" };
	const struct tun_stats *t = &s->tun;
	uint64_t pk[2] = { t->rx_packets, t->tx_packets };
	uint64_t by[2] = { t->rx_bytes, t->tx_bytes };
	uint64_t dr[2] = { t->rx_dropped, t->tx_dropped };

	u64_by(b, "ngrokd_device_packets_total", "counter",
	    "Packets read from (rx) and written to (tx) the TUN device.",
	    "direction", dirs, pk, 2);
	u64_by(b, "ngrokd_device_bytes_total", "counter",
	    "Bytes read from and written to the TUN device.", "direction",
	    dirs, by, 2);
	u64_by(b, "ngrokd_device_dropped_total", "counter",
	    "Packets dropped at the device: rx not IPv4, tx queue full.",
	    "direction", dirs, dr, 2);
}

int
metrics_render(const struct metrics_snapshot *s, char **out, size_t *len)
{
	struct buf b = { NULL, 0, 4096, 0 };
	char **l;

	*out = NULL;
	*len = 0;
	if ((l = build_labels(s)) == NULL)
		return -ENOMEM;
	if ((b.p = malloc(b.cap)) == NULL) {
		free_labels(l, s->n_eps);
		return -ENOMEM;
	}
	u64_family(&b, "ngrokd_up", "gauge", "1 while ngrokd answers scrapes.", 1);
	u64_family(&b, "ngrokd_ready", "gauge",
	    "1 when /readyz answers 200.", s->ready ? 1 : 0);
	u64_family(&b, "ngrokd_uptime_seconds", "gauge",
	    "Seconds since the daemon started.", s->uptime_s);
	render_endpoints(&b, s, l);
	render_tunnel(&b, s);
	render_discovery(&b, s);
	if (s->have_stack)
		render_stack(&b, s);
	if (s->have_tun)
		render_tun(&b, s);
	if (s->have_dns)
		render_dns(&b, s);
	u64_family(&b, "ngrokd_pcap_active", "gauge",
	    "1 while packets are being captured to a pcap file.",
	    s->pcap_active ? 1 : 0);
	u64_family(&b, "ngrokd_pcap_bytes", "gauge",
	    "Bytes written to the pcap file.", s->pcap_bytes);
	free_labels(l, s->n_eps);
	if (b.err != 0) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
