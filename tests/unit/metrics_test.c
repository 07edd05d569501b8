/*
 * metrics_test: the Prometheus text rendering (daemon/metrics.c).
 *
 * The output is checked twice: by a strict line-format check written here
 * (every line is a HELP, a TYPE or a sample of the family last TYPEd; no
 * family twice; histogram buckets cumulative and ending at +Inf = _count),
 * and by the reference parser of Debian's python3-prometheus-client, which
 * must read back the same samples, label values unescaped included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "daemon/metrics.h"

#define NASTY_HOST	"we\"ird\\host\nname.example"

/* ---- helpers ------------------------------------------------------------- */

static void
fill(struct metrics_snapshot *s)
{
	struct endpoint_stats a = {
		.streams_active = 3, .streams_total = 17, .bytes_up = 1000,
		.bytes_down = 123456789012ULL, .errors_connect = 1,
		.errors_tls = 2, .errors_refused = 3, .errors_timeout = 4,
		.errors_reset = 5, .errors_limit = 6,
	};
	struct endpoint_stats b = { .streams_total = 1 };

	metrics_snapshot_init(s);
	assert_int_equal(metrics_snapshot_add_endpoint(s, "ep_1",
	    "api.example", 443, &a), 0);
	assert_int_equal(metrics_snapshot_add_endpoint(s, "ep_2", NASTY_HOST,
	    8080, &b), 0);
	s->have_stack = 1;
	s->stack.packets_in = 11;
	s->stack.packets_out = 12;
	s->stack.bytes_in = 1100;
	s->stack.bytes_out = 1200;
	s->stack.dropped_malformed = 1;
	s->stack.dropped_fragment = 2;
	s->stack.dropped_unallocated = 3;
	s->stack.dropped_proto = 4;
	s->stack.dropped_output = 5;
	s->stack.rst_unallocated = 7;
	s->stack.rst_limit = 8;
	s->stack.streams_active = 3;
	s->stack.streams_total = 18;
	s->have_dns = s->have_dns_fwd = 1;
	s->dns.queries = 31;
	s->dns.answered = 20;
	s->dns.nodata = 3;
	s->dns.forwarded = 6;
	s->dns.tcp_rejected = 2;
	s->dns_fwd.queries = 6;
	s->dns_fwd.timeouts = 1;
	s->have_tun = 1;
	s->tun.rx_packets = 21;
	s->tun.tx_packets = 22;
	s->tun.tx_dropped = 9;
	s->have_tunnel = 1;
	s->tunnel.handshakes_full = 4;
	s->tunnel.handshakes_resumed = 13;
	s->tunnel.handshake_cpu_ns_full = 1500000000ULL;
	s->tunnel.sessions_active = 3;
	s->tunnel.sessions_total = 17;
	metrics_hist_observe(&s->handshake_seconds, 0.004);
	metrics_hist_observe(&s->handshake_seconds, 0.1);	/* on a bound */
	metrics_hist_observe(&s->handshake_seconds, 0.3);
	metrics_hist_observe(&s->handshake_seconds, 60);
	metrics_hist_observe(&s->header_seconds, 0.02);
	s->registered = 1;
	s->api_ok = 1;
	s->have_poll_counts = 1;
	s->polls_ok = 40;
	s->polls_failed = 2;
	s->last_poll_ok = 1700000000;
	s->cert_not_after = 1800000000;
	s->ready = 1;
	s->pcap_active = 1;
	s->pcap_bytes = 4096;
	s->uptime_s = 77;
}

static char *
render(const struct metrics_snapshot *s, size_t *len)
{
	char *out = NULL;

	assert_int_equal(metrics_render(s, &out, len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), *len);
	return out;
}

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static int
valid_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !(s[0] == '_' || s[0] == ':' ||
	    (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; i < n; i++)
		if (!(s[i] == '_' || s[i] == ':' || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* Skips {name="value",...}; returns the byte after '}' or NULL. */
static const char *
skip_labels(const char *p)
{
	const char *q;

	if (*p != '{')
		return p;
	p++;
	while (*p != '}') {
		for (q = p; *q != '=' && *q != '\0'; q++)
			;
		if (!valid_name(p, (size_t)(q - p)) || q[0] != '=' || q[1] != '"')
			return NULL;
		for (p = q + 2; *p != '"'; p++) {
			if (*p == '\0' || *p == '\n')
				return NULL;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return NULL;
			}
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

struct fam {
	char	name[128];
	char	type[16];
};

/* Does sample name s (length n) belong to family f? */
static int
belongs(const struct fam *f, const char *s, size_t n)
{
	size_t fl = strlen(f->name);
	const char *sfx = s + fl;

	if (n < fl || memcmp(s, f->name, fl) != 0)
		return 0;
	if (n == fl)
		return strcmp(f->type, "histogram") != 0;
	if (strcmp(f->type, "histogram") != 0)
		return 0;
	return (n - fl == 7 && memcmp(sfx, "_bucket", 7) == 0) ||
	    (n - fl == 4 && memcmp(sfx, "_sum", 4) == 0) ||
	    (n - fl == 6 && memcmp(sfx, "_count", 6) == 0);
}

/* The strict check; returns the number of samples. */
static int
check_format(const char *text)
{
	struct fam fams[128], *cur = NULL;
	size_t nf = 0, i, n;
	const char *p = text, *eol, *q, *v;
	char *end, help_for[128] = "";
	int samples = 0;

	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (; *p != '\0'; p = eol + 1) {
		eol = strchr(p, '\n');
		assert_non_null(eol);
		if (strncmp(p, "# HELP ", 7) == 0) {
			q = strchr(p + 7, ' ');
			assert_true(q != NULL && q < eol);
			n = (size_t)(q - p - 7);
			assert_true(valid_name(p + 7, n) && n < sizeof(help_for));
			memcpy(help_for, p + 7, n);
			help_for[n] = '\0';
			continue;
		}
		if (strncmp(p, "# TYPE ", 7) == 0) {
			assert_true(nf < 128);
			cur = &fams[nf++];
			q = strchr(p + 7, ' ');
			assert_true(q != NULL && q < eol);
			n = (size_t)(q - p - 7);
			assert_true(valid_name(p + 7, n) && n < sizeof(cur->name));
			memcpy(cur->name, p + 7, n);
			cur->name[n] = '\0';
			assert_string_equal(cur->name, help_for);	/* HELP first */
			n = (size_t)(eol - q - 1);
			assert_true(n < sizeof(cur->type));
			memcpy(cur->type, q + 1, n);
			cur->type[n] = '\0';
			assert_true(strcmp(cur->type, "counter") == 0 ||
			    strcmp(cur->type, "gauge") == 0 ||
			    strcmp(cur->type, "histogram") == 0);
			for (i = 0; i + 1 < nf; i++)
				assert_string_not_equal(fams[i].name, cur->name);
			if (strcmp(cur->type, "counter") == 0)
				assert_true(n > 0 && strlen(cur->name) > 6 &&
				    strcmp(cur->name + strlen(cur->name) - 6,
				    "_total") == 0);
			continue;
		}
		assert_true(p[0] != '#' && p[0] != ' ' && cur != NULL);
		for (q = p; *q != '{' && *q != ' '; q++)
			;
		assert_true(belongs(cur, p, (size_t)(q - p)));
		v = skip_labels(q);
		assert_non_null(v);
		assert_true(*v == ' ');
		v++;
		if (strncmp(v, "+Inf", 4) != 0) {
			errno = 0;
			(void)strtod(v, &end);
			assert_true(end != v && end == eol && errno == 0);
		}
		samples++;
	}
	return samples;
}

/* Runs python's reference parser over text; returns its output. */
static char *
py_parse(const char *text, const char *script)
{
	char tmpl[] = "/tmp/metrics_test_XXXXXX", cmd[512];
	static char out[65536];
	const char *py = access("/usr/bin/python3", X_OK) == 0 ?
	    "/usr/bin/python3" : "python3";
	size_t n = 0, r;
	FILE *fp;
	int fd, st;

	assert_true((fd = mkstemp(tmpl)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s -c '%s' %s 2>&1", py, script, tmpl);
	assert_non_null(fp = popen(cmd, "r"));
	while ((r = fread(out + n, 1, sizeof(out) - 1 - n, fp)) > 0)
		n += r;
	out[n] = '\0';
	st = pclose(fp);
	unlink(tmpl);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("python3 prometheus_client parser failed (install "
		    "python3-prometheus-client):\n%s", out);
	return out;
}

/* One line per sample: name|label=value;...|value, labels sorted; label
 * values printed with repr() so escapes are visible. */
static const char py_dump[] =
	"import sys\n"
	"from prometheus_client.parser import text_string_to_metric_families as p\n"
	"t = open(sys.argv[1]).read()\n"
	"for f in p(t):\n"
	"    for s in f.samples:\n"
	"        l = \";\".join(k + \"=\" + repr(v) for k, v in sorted(s.labels.items()))\n"
	"        print(f.type, s.name, l, repr(s.value), sep=\"|\")\n";

/* ---- tests --------------------------------------------------------------- */

static void
test_hist_observe(void **state)
{
	struct metrics_hist h;

	(void)state;
	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, 0.005);	/* exactly the first bound */
	metrics_hist_observe(&h, 0.0051);
	metrics_hist_observe(&h, -1);		/* clamps to 0 */
	metrics_hist_observe(&h, NAN);
	metrics_hist_observe(&h, 11);		/* above the last bound */
	metrics_hist_observe_ms(&h, 1000, 1250);
	metrics_hist_observe_ms(&h, 1250, 1000);	/* clock went back: 0 */
	assert_int_equal(h.count, 7);
	assert_int_equal(h.counts[0], 4);	/* 0.005, 0, 0, 0 */
	assert_int_equal(h.counts[1], 1);	/* 0.0051 in (0.005, 0.01] */
	assert_int_equal(h.counts[5], 1);	/* 0.25 in (0.1, 0.25] */
	assert_int_equal(h.counts[11], 1);	/* +Inf */
	assert_true(fabs(h.sum - (0.005 + 0.0051 + 11 + 0.25)) < 1e-9);
}

static void
test_hist_custom_bounds(void **state)
{
	static const double b[] = { 1, 2 };
	struct metrics_snapshot s;
	char *out;
	size_t len;

	(void)state;
	metrics_snapshot_init(&s);
	s.header_seconds.bounds = b;
	s.header_seconds.nbounds = 2;
	metrics_hist_observe(&s.header_seconds, 0.5);
	metrics_hist_observe(&s.header_seconds, 1.5);
	metrics_hist_observe(&s.header_seconds, 3);
	out = render(&s, &len);
	assert_true(has_line(out, "ngrokd_header_exchange_seconds_bucket{le=\"1\"} 1"));
	assert_true(has_line(out, "ngrokd_header_exchange_seconds_bucket{le=\"2\"} 2"));
	assert_true(has_line(out, "ngrokd_header_exchange_seconds_bucket{le=\"+Inf\"} 3"));
	assert_true(has_line(out, "ngrokd_header_exchange_seconds_sum 5"));
	assert_true(has_line(out, "ngrokd_header_exchange_seconds_count 3"));
	assert_null(strstr(out, "ngrokd_header_exchange_seconds_bucket{le=\"5\"}"));
	check_format(out);
	free(out);
}

static void
test_escape(void **state)
{
	char buf[64];
	size_t n;

	(void)state;
	n = metrics_escape_label("a\\b\"c\nd", buf, sizeof(buf));
	assert_string_equal(buf, "a\\\\b\\\"c\\nd");
	assert_int_equal(n, strlen(buf));
	/* Other control bytes and broken UTF-8 become '?'; good UTF-8 stays. */
	metrics_escape_label("x\ty\rz\x7f", buf, sizeof(buf));
	assert_string_equal(buf, "x?y?z?");
	metrics_escape_label("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", buf,
	    sizeof(buf));
	assert_string_equal(buf, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	metrics_escape_label("\xc3(\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82",
	    buf, sizeof(buf));
	assert_string_equal(buf, "?(???????????");
	/* Truncation: snprintf-like length, always terminated. */
	n = metrics_escape_label("\"\"\"\"", buf, 4);
	assert_int_equal(n, 8);
	assert_int_equal(strlen(buf), 3);
	assert_int_equal(metrics_escape_label("abc", NULL, 0), 3);
}

static void
test_render_values(void **state)
{
	struct metrics_snapshot s;
	char *out;
	size_t len;

	(void)state;
	fill(&s);
	out = render(&s, &len);
	assert_true(has_line(out, "ngrokd_up 1"));
	assert_true(has_line(out, "ngrokd_ready 1"));
	assert_true(has_line(out, "ngrokd_endpoints 2"));
	assert_true(has_line(out, "# TYPE ngrokd_streams_active gauge"));
	assert_true(has_line(out, "# TYPE ngrokd_streams_total counter"));
	assert_true(has_line(out, "ngrokd_streams_active{endpoint=\"ep_1\","
	    "hostname=\"api.example\",port=\"443\"} 3"));
	assert_true(has_line(out, "ngrokd_streams_total{endpoint=\"ep_1\","
	    "hostname=\"api.example\",port=\"443\"} 17"));
	assert_true(has_line(out, "ngrokd_bytes_total{endpoint=\"ep_1\","
	    "hostname=\"api.example\",port=\"443\",direction=\"down\"} "
	    "123456789012"));
	assert_true(has_line(out, "ngrokd_stream_errors_total{endpoint=\"ep_1\","
	    "hostname=\"api.example\",port=\"443\",kind=\"limit\"} 6"));
	assert_true(has_line(out, "ngrokd_streams_total{endpoint=\"ep_2\","
	    "hostname=\"we\\\"ird\\\\host\\nname.example\",port=\"8080\"} 1"));
	assert_true(has_line(out, "ngrokd_tls_handshakes_total{kind=\"resumed\"} 13"));
	assert_true(has_line(out,
	    "ngrokd_tls_handshake_cpu_seconds_total{kind=\"full\"} 1.5"));
	assert_true(has_line(out, "ngrokd_api_polls_total{result=\"failed\"} 2"));
	assert_true(has_line(out, "ngrokd_cert_not_after_seconds 1800000000"));
	assert_true(has_line(out,
	    "ngrokd_api_last_success_timestamp_seconds 1700000000"));
	assert_true(has_line(out, "ngrokd_packets_total{direction=\"in\"} 11"));
	assert_true(has_line(out,
	    "ngrokd_packets_dropped_total{reason=\"output\"} 5"));
	assert_true(has_line(out, "ngrokd_rst_sent_total{reason=\"unallocated\"} 7"));
	assert_true(has_line(out, "ngrokd_rst_sent_total{reason=\"limit\"} 8"));
	assert_true(has_line(out, "ngrokd_device_dropped_total{direction=\"tx\"} 9"));
	assert_true(has_line(out, "ngrokd_pcap_bytes 4096"));
	assert_true(has_line(out, "ngrokd_dns_queries_total 31"));
	assert_true(has_line(out, "ngrokd_dns_replies_total{result=\"answered\"} 20"));
	assert_true(has_line(out, "ngrokd_dns_replies_total{result=\"nodata\"} 3"));
	assert_true(has_line(out, "ngrokd_dns_replies_total{result=\"forwarded\"} 6"));
	assert_true(has_line(out, "ngrokd_dns_tcp_connections_total{result=\"rejected\"} 2"));
	assert_true(has_line(out, "ngrokd_dns_upstream_queries_total 6"));
	assert_true(has_line(out, "ngrokd_dns_upstream_failures_total{reason=\"timeout\"} 1"));
	assert_null(strstr(out, "ngrokd_dns_gateway_"));	/* no gateway */
	assert_true(has_line(out, "ngrokd_pcap_active 1"));
	/* Cumulative buckets: 0.004 | 0.1 on its bound | 0.3 | 60 above all. */
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"0.005\"} 1"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"0.05\"} 1"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"0.1\"} 2"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"0.5\"} 3"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"10\"} 3"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"+Inf\"} 4"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_count 4"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_sum 60.404"));
	assert_true(has_line(out, "ngrokd_header_exchange_seconds_count 1"));
	/* 3 + 1 endpoint count + 2 endpoints x 10 + tunnel 7 + 2 histograms
	 * x 14 + discovery 7 + stack 13 + device 6 + pcap 2 + dns 11 + its
	 * upstream 6. */
	assert_int_equal(check_format(out), 104);
	free(out);
	metrics_snapshot_free(&s);
}

/* Modules that do not exist yet are left out, not shown as zeros. */
static void
test_render_partial(void **state)
{
	struct metrics_snapshot s;
	char *out;
	size_t len;

	(void)state;
	metrics_snapshot_init(&s);
	out = render(&s, &len);
	assert_true(has_line(out, "ngrokd_up 1"));
	assert_true(has_line(out, "ngrokd_ready 0"));
	assert_true(has_line(out, "ngrokd_endpoints 0"));
	assert_true(has_line(out, "ngrokd_registered 0"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_bucket{le=\"+Inf\"} 0"));
	assert_true(has_line(out, "ngrokd_handshake_seconds_sum 0"));
	assert_null(strstr(out, "ngrokd_packets_total"));
	assert_null(strstr(out, "ngrokd_device_"));
	assert_null(strstr(out, "ngrokd_dns_"));
	assert_null(strstr(out, "ngrokd_tls_handshakes_total"));
	assert_null(strstr(out, "ngrokd_api_polls_total"));
	assert_null(strstr(out, "ngrokd_cert_not_after_seconds"));
	assert_null(strstr(out, "ngrokd_api_last_success"));
	assert_null(strstr(out, "ngrokd_streams_active{"));
	check_format(out);
	free(out);
	metrics_snapshot_free(&s);
}

/* The reference parser reads the same samples back. */
static void
test_python_parser(void **state)
{
	struct metrics_snapshot s;
	char *out, *py;
	size_t len, lines = 0;
	const char *p;

	(void)state;
	fill(&s);
	out = render(&s, &len);
	py = py_parse(out, py_dump);
	for (p = py; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, (size_t)check_format(out));
	/* The escaped host name comes back as the original string. */
	assert_non_null(strstr(py, "counter|ngrokd_streams_total|endpoint='ep_2';"
	    "hostname='we\"ird\\\\host\\nname.example';port='8080'|1.0\n"));
	assert_non_null(strstr(py, "counter|ngrokd_bytes_total|direction='down';"
	    "endpoint='ep_1';hostname='api.example';port='443'|123456789012.0\n"));
	assert_non_null(strstr(py, "gauge|ngrokd_streams_active|endpoint='ep_1';"
	    "hostname='api.example';port='443'|3.0\n"));
	assert_non_null(strstr(py, "histogram|ngrokd_handshake_seconds_bucket|"
	    "le='+Inf'|4.0\n"));
	assert_non_null(strstr(py, "histogram|ngrokd_handshake_seconds_count||4.0\n"));
	assert_non_null(strstr(py, "counter|ngrokd_rst_sent_total|"
	    "reason='limit'|8.0\n"));
	assert_non_null(strstr(py, "gauge|ngrokd_cert_not_after_seconds||"
	    "1800000000.0\n"));
	free(out);
	metrics_snapshot_free(&s);

	/* And an empty snapshot parses too. */
	metrics_snapshot_init(&s);
	out = render(&s, &len);
	py = py_parse(out, py_dump);
	assert_non_null(strstr(py, "gauge|ngrokd_up||1.0\n"));
	free(out);
}

static void
test_many_endpoints(void **state)
{
	struct metrics_snapshot s;
	struct endpoint_stats st = { .streams_total = 5 };
	char id[32], host[300], *out;
	size_t len, i;

	(void)state;
	metrics_snapshot_init(&s);
	memset(host, 'h', 253);
	host[253] = '\0';
	for (i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "ep_%zu", i);
		assert_int_equal(metrics_snapshot_add_endpoint(&s, id, host,
		    (uint16_t)i, &st), 0);
	}
	out = render(&s, &len);
	assert_true(has_line(out, "ngrokd_endpoints 500"));
	assert_int_equal(check_format(out), 500 * 10 + 37);
	free(out);
	metrics_snapshot_free(&s);
	assert_null(s.eps);
	assert_int_equal(s.n_eps, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_observe),
		cmocka_unit_test(test_hist_custom_bounds),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_render_values),
		cmocka_unit_test(test_render_partial),
		cmocka_unit_test(test_python_parser),
		cmocka_unit_test(test_many_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
