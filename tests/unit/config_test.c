/*
 * config_test.c: daemon/config.c, through files written to mkstemp paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/log.h"

#define SECRET	"2xSecretKeyValue_9f8e7d6c5b4a"

/* Writes len bytes to a fresh temp file; the caller unlinks it. */
static void
write_tmp(char *path, size_t cap, const char *data, size_t len)
{
	int fd;

	snprintf(path, cap, "/tmp/ngrokd-config-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads yaml from a temp file; returns config_load's result, err filled. */
static int
load_yaml(struct config *cfg, const char *yaml, char *path, size_t pathcap,
    char *err, size_t errlen)
{
	int r;

	write_tmp(path, pathcap, yaml, strlen(yaml));
	r = config_load(cfg, path, err, errlen);
	unlink(path);
	return r;
}

struct capture {
	char	 path[64];
	int	 fd, saved;
	char	 out[16384];
};

/* Sends stderr, where foreground logging goes, to a temp file. */
static void
capture_begin(struct capture *cap)
{
	write_tmp(cap->path, sizeof(cap->path), "", 0);
	cap->fd = open(cap->path, O_RDWR | O_TRUNC);
	assert_true(cap->fd >= 0);
	fflush(stderr);
	cap->saved = dup(STDERR_FILENO);
	assert_true(cap->saved >= 0);
	assert_true(dup2(cap->fd, STDERR_FILENO) >= 0);
	log_init("config_test", 1, LOG_LVL_INFO);
}

static const char *
capture_end(struct capture *cap)
{
	ssize_t n;

	fflush(stderr);
	assert_true(dup2(cap->saved, STDERR_FILENO) >= 0);
	close(cap->saved);
	n = pread(cap->fd, cap->out, sizeof(cap->out) - 1, 0);
	assert_true(n >= 0);
	cap->out[n] = '\0';
	close(cap->fd);
	unlink(cap->path);
	return cap->out;
}

static const char *
capture_summary(struct capture *cap, const struct config *c)
{
	capture_begin(cap);
	config_log_summary(c);
	return capture_end(cap);
}

static void
assert_defaults(const struct config *c)
{
	assert_string_equal(c->api_url, "https://api.ngrok.com");
	assert_null(c->api_key);
	assert_int_equal(c->api_key_from_env, 0);
	assert_string_equal(c->ingress_endpoint,
	    "kubernetes-binding-ingress.ngrok.io:443");
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_int_equal(c->log_format, LOG_FMT_TEXT);
	assert_int_equal(c->log_syslog, 0);
	assert_string_equal(c->socket_path, "/var/run/ngrokd.sock");
	assert_string_equal(c->socket_group, "ngrokd");
	assert_null(c->admin_group);
	assert_string_equal(c->client_cert, "/var/lib/ngrokd/tls.crt");
	assert_string_equal(c->client_key, "/var/lib/ngrokd/tls.key");
	assert_string_equal(c->state_dir, "/var/lib/ngrokd");
	assert_string_equal(c->hosts_file, "/etc/hosts");
	assert_int_equal(c->poll_interval_ms, 30000);
	assert_int_equal(c->n_selectors, 1);
	assert_string_equal(c->selectors[0], "true");
	assert_string_equal(c->interface_name, "ngrokd0");
	assert_int_equal(c->subnet_addr, 0x0a6b0000);
	assert_int_equal(c->subnet_prefix, 16);
	assert_string_equal(c->listen_interface, "virtual");
	assert_int_equal(c->start_port, 9080);
	assert_int_equal(c->n_overrides, 0);
	assert_int_equal(c->mtu, 16040);
	assert_int_equal(c->mode, NET_MODE_AUTO);
	assert_null(c->ca_file);
	assert_int_equal(c->insecure_skip_verify, 0);
	assert_int_equal(c->session_resumption, 1);
	assert_int_equal(c->pool_size, 0);
	assert_int_equal(c->max_streams, 4096);
	assert_int_equal(c->stream_buffer, 262144);
	assert_int_equal(c->connect_timeout_ms, 10000);
	assert_int_equal(c->handshake_timeout_ms, 10000);
	assert_int_equal(c->header_timeout_ms, 10000);
	assert_int_equal(c->idle_timeout_ms, 0);
	assert_int_equal(c->health_enabled, 1);
	assert_string_equal(c->health_address, "127.0.0.1");
	assert_int_equal(c->health_port, 8081);
	assert_int_equal(c->dns_enabled, 0);
	assert_int_equal(c->dns_tcp, 1);
	assert_int_equal(c->dns_ttl_ms, 30000);
	assert_int_equal(c->dns_wildcard_names, 256);
	assert_int_equal(c->dns_listen_gateway, 1);
	assert_int_equal(c->dns_upstream_addr, 0);
	assert_int_equal(c->dns_register, 1);
	assert_int_equal(c->n_dns_domains, 0);
	assert_int_equal(c->manage_hosts, 1);
	assert_null(c->pcap_file);
	assert_int_equal(c->pcap_max_bytes, 0);
}

static void
test_defaults(void **state)
{
	struct config c;

	unsetenv("NGROK_API_KEY");
	assert_int_equal(config_defaults(&c), 0);
	assert_null(c.path);
	assert_defaults(&c);
	config_free(&c);
	assert_null(c.api_url);
}

static void
test_empty_files(void **state)
{
	static const char *const empties[] = {
		"", "\n\n", "# only a comment\n# and another\n", "---\n",
		"---\n...\n", "~\n",
		/* Sections left empty, as in a template with keys commented out. */
		"api:\nserver:\nbound_endpoints:\nnet:\ntls:\nlimits:\ntimeouts:\n",
		"net:\n  mtu:\n  subnet: ~\n  overrides:\nbound_endpoints:\n"
		    "  selectors: []\napi:\n  key: \"\"\n",
	};
	char path[64], err[CFG_ERR_LEN];
	struct config c;
	size_t i;

	unsetenv("NGROK_API_KEY");
	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		assert_int_equal(load_yaml(&c, empties[i], path, sizeof(path),
		    err, sizeof(err)), 0);
		assert_string_equal(c.path, path);
		assert_defaults(&c);
		config_free(&c);
	}
}

static const char full_yaml[] =
    "# every key, none at its default\n"
    "api:\n"
    "  url: http://127.0.0.1:8080/v2\n"
    "  key: " SECRET "\n"
    "ingressEndpoint: ingress.example.test:8443\n"
    "server:\n"
    "  log_level: debug\n"
    "  log_format: json\n"
    "  syslog: yes\n"
    "  socket_path: /run/test/ngrokd.sock\n"
    "  socket_group: staff\n"
    "  admin_group: wheel\n"
    "  client_cert: /etc/test/cert.pem\n"
    "  client_key: /etc/test/key.pem\n"
    "  state_dir: /srv/ngrokd\n"
    "  hosts_file: /tmp/hosts\n"
    "bound_endpoints:\n"
    "  poll_interval: 1m30s\n"
    "  selectors:\n"
    "    - \"true\"\n"
    "    - endpoint.metadata.team == 'a'\n"
    "net:\n"
    "  interface_name: ngtest1\n"
    "  subnet: 172.20.0.0/20\n"
    "  listen_interface: 127.0.0.2\n"
    "  start_port: 10000\n"
    "  overrides:\n"
    "    api.example.ngrok.app: 8443\n"
    "    db.internal: 5432\n"
    "  mtu: 1500\n"
    "  mode: loopback\n"
    "tls:\n"
    "  ca_file: /etc/test/ca.pem\n"
    "  insecure_skip_verify: true\n"
    "  session_resumption: no\n"
    "  pool_size: 4\n"
    "limits:\n"
    "  max_streams: 100\n"
    "  stream_buffer: 65536\n"
    "timeouts:\n"
    "  connect: 500ms\n"
    "  handshake: 2s\n"
    "  header: 5\n"
    "  idle: 1h\n"
    "dns:\n"
    "  enabled: true\n"
    "  tcp: false\n"
    "  ttl: 5m\n"
    "  wildcard_names: 16\n"
    "health:\n"
    "  enabled: false\n"
    "  address: \"::1\"\n"
    "  port: 9101\n";

static void
test_full_file(void **state)
{
	char path[64], err[CFG_ERR_LEN];
	struct config c;

	setenv("NGROK_API_KEY", "from-env", 1);
	assert_int_equal(load_yaml(&c, full_yaml, path, sizeof(path), err,
	    sizeof(err)), 0);
	unsetenv("NGROK_API_KEY");
	assert_string_equal(c.path, path);
	assert_string_equal(c.api_url, "http://127.0.0.1:8080/v2");
	assert_string_equal(c.api_key, SECRET);	/* the file wins over env */
	assert_int_equal(c.api_key_from_env, 0);
	assert_string_equal(c.ingress_endpoint, "ingress.example.test:8443");
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_int_equal(c.log_format, LOG_FMT_JSON);
	assert_int_equal(c.log_syslog, 1);
	assert_string_equal(c.socket_path, "/run/test/ngrokd.sock");
	assert_string_equal(c.socket_group, "staff");
	assert_string_equal(c.admin_group, "wheel");
	assert_string_equal(c.client_cert, "/etc/test/cert.pem");
	assert_string_equal(c.client_key, "/etc/test/key.pem");
	assert_string_equal(c.state_dir, "/srv/ngrokd");
	assert_string_equal(c.hosts_file, "/tmp/hosts");
	assert_int_equal(c.poll_interval_ms, 90000);
	assert_int_equal(c.n_selectors, 2);
	assert_string_equal(c.selectors[0], "true");
	assert_string_equal(c.selectors[1], "endpoint.metadata.team == 'a'");
	assert_string_equal(c.interface_name, "ngtest1");
	assert_int_equal(c.subnet_addr, 0xac140000);
	assert_int_equal(c.subnet_prefix, 20);
	assert_string_equal(c.listen_interface, "127.0.0.2");
	assert_int_equal(c.start_port, 10000);
	assert_int_equal(c.n_overrides, 2);
	assert_string_equal(c.overrides[0].host, "api.example.ngrok.app");
	assert_int_equal(c.overrides[0].port, 8443);
	assert_string_equal(c.overrides[1].host, "db.internal");
	assert_int_equal(c.overrides[1].port, 5432);
	assert_int_equal(c.mtu, 1500);
	assert_int_equal(c.mode, NET_MODE_LOOPBACK);
	assert_string_equal(c.ca_file, "/etc/test/ca.pem");
	assert_int_equal(c.insecure_skip_verify, 1);
	assert_int_equal(c.session_resumption, 0);
	assert_int_equal(c.pool_size, 4);
	assert_int_equal(c.max_streams, 100);
	assert_int_equal(c.stream_buffer, 65536);
	assert_int_equal(c.connect_timeout_ms, 500);
	assert_int_equal(c.handshake_timeout_ms, 2000);
	assert_int_equal(c.header_timeout_ms, 5000);
	assert_int_equal(c.idle_timeout_ms, 3600000);
	assert_int_equal(c.health_enabled, 0);
	assert_string_equal(c.health_address, "::1");
	assert_int_equal(c.health_port, 9101);
	assert_int_equal(c.dns_enabled, 1);
	assert_int_equal(c.dns_tcp, 0);
	assert_int_equal(c.dns_ttl_ms, 300000);
	assert_int_equal(c.dns_wildcard_names, 16);
	config_free(&c);
}

static void
test_cert_paths_follow_state_dir(void **state)
{
	char path[64], err[CFG_ERR_LEN];
	struct config c;

	assert_int_equal(load_yaml(&c, "server:\n  state_dir: /x/state//\n",
	    path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(c.client_cert, "/x/state/tls.crt");
	assert_string_equal(c.client_key, "/x/state/tls.key");
	config_free(&c);

	/* An explicit path wins; the other one still follows state_dir. */
	assert_int_equal(load_yaml(&c, "server:\n  client_key: /k.pem\n"
	    "  state_dir: /y\n", path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(c.client_cert, "/y/tls.crt");
	assert_string_equal(c.client_key, "/k.pem");
	config_free(&c);
}

static void
test_accepted_variants(void **state)
{
	char path[64], err[CFG_ERR_LEN];
	struct config c;

	assert_int_equal(load_yaml(&c,
	    "net: {listen_interface: 0.0.0.0, mode: tun, start_port: 65535}\n"
	    "tls: {session_resumption: False, insecure_skip_verify: NO}\n"
	    "server: {log_level: warning, syslog: TRUE}\n"
	    "bound_endpoints: {poll_interval: 500ms}\n"
	    "timeouts: {idle: 0, connect: '1h'}\n"
	    "ingressEndpoint: '[::1]:443'\n", path, sizeof(path), err,
	    sizeof(err)), 0);
	assert_string_equal(c.listen_interface, "0.0.0.0");
	assert_int_equal(c.mode, NET_MODE_TUN);
	assert_int_equal(c.start_port, 65535);
	assert_int_equal(c.session_resumption, 0);
	assert_int_equal(c.insecure_skip_verify, 0);
	assert_int_equal(c.log_level, LOG_LVL_WARN);
	assert_int_equal(c.log_syslog, 1);
	assert_int_equal(c.poll_interval_ms, 500);
	assert_int_equal(c.idle_timeout_ms, 0);
	assert_int_equal(c.connect_timeout_ms, 3600000);
	assert_string_equal(c.ingress_endpoint, "[::1]:443");
	config_free(&c);
}

/* dns.domains, dns.register, server.manage_hosts. */
static void
test_splitdns_keys(void **state)
{
	char path[64], err[CFG_ERR_LEN], yaml[16384];
	struct config c;
	size_t o, i;

	assert_int_equal(load_yaml(&c,
	    "dns:\n  enabled: true\n  register: false\n"
	    "  domains: [\"*.Apps.Example\", my-api.ngrok.app, _svc.x]\n"
	    "server:\n  manage_hosts: false\n", path, sizeof(path), err,
	    sizeof(err)), 0);
	assert_int_equal(c.dns_register, 0);
	assert_int_equal(c.manage_hosts, 0);
	assert_int_equal(c.n_dns_domains, 3);
	assert_string_equal(c.dns_domains[0], "apps.example");
	assert_string_equal(c.dns_domains[1], "my-api.ngrok.app");
	assert_string_equal(c.dns_domains[2], "_svc.x");
	config_free(&c);
	/* The order of the keys does not matter for the combination check;
	 * net.mode auto may fall back to loopback at run time (logged). */
	assert_int_equal(load_yaml(&c, "server: {manage_hosts: false}\n"
	    "dns: {enabled: true}\nnet: {mode: auto}\n", path, sizeof(path),
	    err, sizeof(err)), 0);
	assert_int_equal(c.manage_hosts, 0);
	config_free(&c);
	/* An empty list (or value) is the default: derived from endpoints. */
	assert_int_equal(load_yaml(&c, "dns:\n  domains: []\n  register:\n",
	    path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(c.n_dns_domains, 0);
	assert_int_equal(c.dns_register, 1);
	config_free(&c);
	/* At most CFG_MAX_DNS_DOMAINS. */
	o = (size_t)snprintf(yaml, sizeof(yaml), "dns:\n  domains:\n");
	for (i = 0; i < CFG_MAX_DNS_DOMAINS; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
		    "    - d%zu.example\n", i);
	assert_int_equal(load_yaml(&c, yaml, path, sizeof(path), err,
	    sizeof(err)), 0);
	assert_int_equal(c.n_dns_domains, CFG_MAX_DNS_DOMAINS);
	config_free(&c);
	snprintf(yaml + o, sizeof(yaml) - o, "    - one-too-many.example\n");
	assert_int_equal(load_yaml(&c, yaml, path, sizeof(path), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, ":259:7: dns.domains: more than 256 entries"));
}

struct bad {
	const char	*yaml;
	const char	*msg;	/* after "PATH:" */
};

static const struct bad bad_files[] = {
	{ "net:\n  subnett: 10.0.0.0/8\n",
	  "2:3: unknown key \"net.subnett\"" },
	{ "nett:\n  mtu: 1500\n",
	  "1:1: unknown key \"nett\"" },
	{ "net:\n  subnet: \"10.107.0.0/33\"\n",
	  "2:11: net.subnet: \"10.107.0.0/33\" is not an IPv4 CIDR" },
	{ "net:\n  subnet: 10.107.0.0\n",
	  "2:11: net.subnet: \"10.107.0.0\" is not an IPv4 CIDR" },
	{ "net:\n  subnet: 10.107.0.0/31\n",
	  "2:11: net.subnet: prefix /31 is out of range (8..30)" },
	{ "net:\n  subnet: 10.0.0.0/7\n",
	  "2:11: net.subnet: prefix /7 is out of range (8..30)" },
	{ "net:\n  subnet: 10.107.3.0/16\n",
	  "2:11: net.subnet: \"10.107.3.0/16\" has host bits set "
	  "(did you mean 10.107.0.0/16?)" },
	{ "net:\n  mtu: big\n",
	  "2:8: net.mtu: expected an integer, got \"big\"" },
	{ "net:\n  mtu: -1500\n",
	  "2:8: net.mtu: expected an integer, got \"-1500\"" },
	{ "net:\n  mtu: 575\n",
	  "2:8: net.mtu: 575 is out of range (576..65535)" },
	{ "net:\n  mtu: 65536\n",
	  "2:8: net.mtu: 65536 is out of range (576..65535)" },
	{ "net:\n  start_port: 0\n",
	  "2:15: net.start_port: 0 is out of range (1..65535)" },
	{ "net:\n  start_port: 65536\n",
	  "2:15: net.start_port: 65536 is out of range (1..65535)" },
	{ "net:\n  start_port: 123456789012345678901234567890\n",
	  "2:15: net.start_port: 123456789012345678901234567890 is out of "
	  "range (1..65535)" },
	{ "limits:\n  max_streams: 0\n",
	  "2:16: limits.max_streams: 0 is out of range (1..1048576)" },
	{ "dns:\n  wildcard_names: 0\n",
	  "2:19: dns.wildcard_names: 0 is out of range (1..65536)" },
	{ "bound_endpoints:\n  selectors: \"true\"\n",
	  "2:14: bound_endpoints.selectors: expected a list" },
	{ "bound_endpoints:\n  selectors: [a, [b]]\n",
	  "2:18: bound_endpoints.selectors: expected a list of strings" },
	{ "bound_endpoints:\n  selectors: [a, \"\"]\n",
	  "2:18: bound_endpoints.selectors: entry 2 is empty" },
	{ "bound_endpoints:\n  poll_interval: soon\n",
	  "2:18: bound_endpoints.poll_interval: \"soon\" is not a duration "
	  "(like 30, \"30s\", \"500ms\", \"5m\", \"1h\")" },
	{ "bound_endpoints:\n  poll_interval: 50ms\n",
	  "2:18: bound_endpoints.poll_interval: \"50ms\" is out of range "
	  "(100ms..24h)" },
	{ "timeouts:\n  connect: 0\n",
	  "2:12: timeouts.connect: \"0\" is out of range (1ms..24h)" },
	{ "timeouts:\n  idle: 25h\n",
	  "2:9: timeouts.idle: \"25h\" is out of range (0..24h)" },
	{ "health:\n  address: example.com\n",
	  "2:12: health.address: \"example.com\" is not an IPv4 or IPv6 address or \"localhost\"" },
	{ "health:\n  port: 70000\n",
	  "2:9: health.port: 70000 is out of range (0..65535)" },
	{ "server: /var/run/ngrokd.sock\n",
	  "1:9: server: expected a mapping" },
	{ "server:\n  - log_level\n",
	  "2:3: server: expected a mapping" },
	{ "net:\n  mtu: 1500\n  mtu: 1400\n",
	  "3:3: duplicate key \"net.mtu\"" },
	{ "net: {}\nnet: {}\n",
	  "2:1: duplicate key \"net\"" },
	{ "ingressEndpoint: a:1\ningressEndpoint: b:2\n",
	  "2:1: duplicate key \"ingressEndpoint\"" },
	{ "net:\n  overrides:\n    a.example: 1\n    A.example: 2\n",
	  "4:5: duplicate key \"net.overrides.A.example\"" },
	{ "net:\n  overrides:\n    a.example: 0\n",
	  "3:16: net.overrides.a.example: \"0\" is not a port (1..65535)" },
	{ "net:\n  overrides:\n    \"bad host\": 80\n",
	  "3:5: net.overrides: \"bad host\" is not a host name" },
	{ "net:\n  overrides: [a]\n",
	  "2:14: net.overrides: expected a mapping" },
	{ "net:\n  mode: fast\n",
	  "2:9: net.mode: \"fast\" is not one of auto, tun, loopback" },
	{ "server:\n  log_level: loud\n",
	  "2:14: server.log_level: \"loud\" is not one of error, warn, info, "
	  "debug" },
	{ "server:\n  log_format: xml\n",
	  "2:15: server.log_format: \"xml\" is not one of text, json" },
	{ "tls:\n  insecure_skip_verify: on\n",
	  "2:25: tls.insecure_skip_verify: expected true or false, got \"on\"" },
	{ "tls:\n  session_resumption: 1\n",
	  "2:23: tls.session_resumption: expected true or false, got \"1\"" },
	{ "net:\n  listen_interface: eth0\n",
	  "2:21: net.listen_interface: \"eth0\" is not \"virtual\", \"0.0.0.0\" "
	  "or an IPv4 address" },
	{ "net:\n  listen_interface: 256.1.1.1\n",
	  "2:21: net.listen_interface: \"256.1.1.1\" is not \"virtual\", "
	  "\"0.0.0.0\" or an IPv4 address" },
	{ "net:\n  interface_name: averyverylongname0\n",
	  "2:19: net.interface_name: \"averyverylongname0\" is longer than 15 "
	  "bytes" },
	{ "api:\n  url: ftp://api.ngrok.com\n",
	  "2:8: api.url: does not start with http:// or https://" },
	{ "api:\n  url: https://\n",
	  "2:8: api.url: does not start with http:// or https://" },
	{ "ingressEndpoint: ingress.example\n",
	  "1:18: ingressEndpoint: \"ingress.example\" is not host:port with a "
	  "port 1..65535" },
	{ "ingressEndpoint: ingress.example:99999\n",
	  "1:18: ingressEndpoint: \"ingress.example:99999\" is not host:port "
	  "with a port 1..65535" },
	{ "server:\n  state_dir: var/lib/ngrokd\n",
	  "2:14: server.state_dir: \"var/lib/ngrokd\" is not an absolute path" },
	{ "server:\n  hosts_file: \"\"\n",
	  "2:15: server.hosts_file: must not be empty" },
	{ "server:\n  socket_path: /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "2:16: server.socket_path: \"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaa...\" is longer than 107 bytes (the limit of "
	  "a Unix socket address)" },
	{ "net:\n  mtu: \"15\\0\"\n",
	  "2:8: net.mtu: contains a NUL byte" },
	{ "- net\n- tls\n",
	  "1:1: expected a mapping at the top level" },
	{ "just a string\n",
	  "1:1: expected a mapping at the top level" },
	{ "net:\n  mtu: 1500\n---\nnet: {}\n",
	  "3:1: more than one YAML document" },
	{ "net: {mtu: &m 1500}\n",
	  "1:12: YAML anchors and aliases are not allowed" },
	{ "net: &n {mtu: 1500}\n",
	  "1:6: YAML anchors and aliases are not allowed" },
	{ "net:\n  mtu: *m\n",
	  "2:8: YAML anchors and aliases are not allowed" },
	{ "net:\n  \"mtu\\0x\": 1\n",
	  "2:3: unknown key \"net.mtu\"" },
	{ "net:\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaa: 1\n",
	  "2:3: unknown key \"net.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaa...\"" },
	{ "? [net]\n: 1\n",
	  "1:3: expected a key, got a list" },
	{ "dns:\n  domains: [apps.example, \"a b.example\"]\n",
	  "2:27: dns.domains: \"a b.example\" is not a domain name (dot-separated "
	  "labels of 1..63 letters, digits, '-' or '_', no '-' at either end of "
	  "a label, no final dot)" },
	{ "dns:\n  domains:\n    - apps.example\n    - -bad.example\n",
	  "4:7: dns.domains: \"-bad.example\" is not a domain name (dot-separated "
	  "labels of 1..63 letters, digits, '-' or '_', no '-' at either end of "
	  "a label, no final dot)" },
	{ "dns:\n  domains: [x.example.]\n",
	  "2:13: dns.domains: \"x.example.\" is not a domain name (dot-separated "
	  "labels of 1..63 letters, digits, '-' or '_', no '-' at either end of "
	  "a label, no final dot)" },
	{ "dns:\n  domains: [\"*.Apps.example\", apps.EXAMPLE]\n",
	  "2:31: dns.domains: \"apps.EXAMPLE\" is listed twice" },
	{ "dns:\n  domains: apps.example\n",
	  "2:12: dns.domains: expected a list of domain names" },
	{ "dns:\n  domains: [[a]]\n",
	  "2:13: dns.domains: expected a list of domain names" },
	{ "dns:\n  register: auto\n",
	  "2:13: dns.register: expected true or false, got \"auto\"" },
	{ "server:\n  manage_hosts: false\n",
	  "2:17: server.manage_hosts: false needs dns.enabled: true (without "
	  "the hosts file and the DNS responder, endpoint names would not "
	  "resolve)" },
	{ "dns:\n  enabled: false\nserver:\n  manage_hosts: false\n",
	  "4:17: server.manage_hosts: false needs dns.enabled: true (without "
	  "the hosts file and the DNS responder, endpoint names would not "
	  "resolve)" },
	{ "server:\n  manage_hosts: false\ndns:\n  enabled: true\nnet:\n"
	  "  mode: loopback\n",
	  "2:17: server.manage_hosts: false needs the DNS responder, which "
	  "net.mode loopback does not have (endpoint names would not resolve)" },
	/* libyaml's own words for syntax errors, with its marks. */
	{ "net:\n\tmtu: 1500\n",
	  "2:1: found character that cannot start any token (while scanning "
	  "for the next token at 2:1)" },
	{ "net: {mtu: 1500\n",
	  "2:1: did not find expected ',' or '}' (while parsing a flow mapping "
	  "at 1:6)" },
	{ "net:\n  mtu: 1500\n bad: 1\n",
	  "3:2: did not find expected key (while parsing a block mapping "
	  "at 1:1)" },
	{ "net: {interface_name: \"a\xc3\x28\"}\n",
	  "1:26: invalid trailing UTF-8 octet" },
};

static void
test_bad_files(void **state)
{
	char path[64], err[CFG_ERR_LEN], want[1024];
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		memset(err, 0, sizeof(err));
		assert_int_equal(load_yaml(&c, bad_files[i].yaml, path,
		    sizeof(path), err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s:%s", path, bad_files[i].msg);
		if (strcmp(err, want) != 0)
			print_error("case %zu:\n got  %s\n want %s\n", i, err,
			    want);
		assert_string_equal(err, want);
		/* A failed load leaves nothing to free. */
		assert_null(c.api_url);
		assert_null(c.path);
	}
}

static void
test_file_errors(void **state)
{
	char path[64], err[CFG_ERR_LEN], want[128];
	struct config c;
	char *big;
	size_t n = 1024 * 1024;

	assert_int_equal(config_load(&c, "/nonexistent-ngrokd/cfg.yml", err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "/nonexistent-ngrokd/cfg.yml: No such file or directory");

	assert_int_equal(config_load(&c, "/tmp", err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: Is a directory");

	/* Exactly 1 MiB is accepted, one byte more is not. */
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, ' ', n + 1);
	big[0] = '#';
	big[n - 1] = '\n';
	write_tmp(path, sizeof(path), big, n);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	config_free(&c);
	unlink(path);
	write_tmp(path, sizeof(path), big, n + 1);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file is too large (more than 1 MiB)",
	    path);
	assert_string_equal(err, want);
	unlink(path);
	assert_int_equal(config_load_buf(&c, "buf", big, n + 1, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "buf: file is too large (more than 1 MiB)");
	free(big);

	/* A tiny error buffer is cut, never overrun. */
	assert_int_equal(config_load_buf(&c, "b.yml", "net: {mtu: x}", 13,
	    err, 8), -1);
	assert_string_equal(err, "b.yml:1");
}

static void
test_env_api_key(void **state)
{
	char path[64], err[CFG_ERR_LEN], want[256];
	struct capture cap;
	struct config c;
	const char *out;

	setenv("NGROK_API_KEY", "envkey123", 1);
	assert_int_equal(config_defaults(&c), 0);
	assert_string_equal(c.api_key, "envkey123");
	assert_int_equal(c.api_key_from_env, 1);
	config_free(&c);

	assert_int_equal(load_yaml(&c, "net: {mtu: 1500}\n", path,
	    sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(c.api_key, "envkey123");
	assert_int_equal(c.api_key_from_env, 1);
	config_free(&c);

	/* key: "" and key: (null) mean "none in the file". */
	assert_int_equal(load_yaml(&c, "api:\n  key: \"\"\n", path,
	    sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(c.api_key, "envkey123");
	assert_int_equal(c.api_key_from_env, 1);
	config_free(&c);
	assert_int_equal(load_yaml(&c, "api:\n  key:\n", path, sizeof(path),
	    err, sizeof(err)), 0);
	assert_int_equal(c.api_key_from_env, 1);
	config_free(&c);

	assert_int_equal(load_yaml(&c, "api:\n  key: filekey\n", path,
	    sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(c.api_key, "filekey");
	assert_int_equal(c.api_key_from_env, 0);
	config_free(&c);

	/* It goes into an HTTP header: a newline in it is refused. */
	setenv("NGROK_API_KEY", "abc\r\nX-Evil: 1", 1);
	assert_int_equal(load_yaml(&c, "", path, sizeof(path), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: NGROK_API_KEY: contains a space or "
	    "control character", path);
	assert_string_equal(err, want);
	assert_null(strstr(err, "Evil"));
	/* config_defaults cannot fail over it: it warns and ignores it. */
	capture_begin(&cap);
	assert_int_equal(config_defaults(&c), 0);
	out = capture_end(&cap);
	assert_non_null(strstr(out, "warn  config: NGROK_API_KEY holds a "
	    "space or control character; ignored"));
	assert_null(strstr(out, "Evil"));
	assert_null(c.api_key);
	config_free(&c);

	setenv("NGROK_API_KEY", "", 1);
	assert_int_equal(config_defaults(&c), 0);
	assert_null(c.api_key);
	assert_int_equal(c.api_key_from_env, 0);
	config_free(&c);
	unsetenv("NGROK_API_KEY");
}

/* Errors about the key, or near it, never contain it. */
static void
test_key_not_in_errors(void **state)
{
	static const struct bad cases[] = {
		{ "api:\n  key: [" SECRET "]\n",
		  "2:8: api.key: expected a string" },
		{ "api:\n  key: {" SECRET ": 1}\n",
		  "2:8: api.key: expected a string" },
		{ "api:\n  key: \"" SECRET " x\"\n",
		  "2:8: api.key: contains a space or control character" },
		{ "api:\n  key: \"" SECRET "\\n\"\n",
		  "2:8: api.key: contains a space or control character" },
		{ "api:\n  key: \"" SECRET "\\0\"\n",
		  "2:8: api.key: contains a NUL byte" },
		{ "api:\n  key: " SECRET "\n  key: " SECRET "\n",
		  "3:3: duplicate key \"api.key\"" },
		/* The key pasted on a line of its own, as a key. */
		{ "api:\n  url: https://api.ngrok.com\n  " SECRET ":\n",
		  "3:3: unknown key under \"api\"" },
		{ "api:\n  " SECRET SECRET SECRET ": 1\n",
		  "2:3: unknown key under \"api\"" },
		{ "api:\n  \"" SECRET "\\0\": 1\n",
		  "2:3: unknown key under \"api\"" },
		{ "api:\n  url: " SECRET "\n",
		  "2:8: api.url: does not start with http:// or https://" },
		{ "api: " SECRET "\n",
		  "1:6: api: expected a mapping" },
	};
	char path[64], err[CFG_ERR_LEN], want[512];
	char longkey[1100];
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_yaml(&c, cases[i].yaml, path,
		    sizeof(path), err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s:%s", path, cases[i].msg);
		assert_string_equal(err, want);
		assert_null(strstr(err, "SecretKey"));
	}
	snprintf(longkey, sizeof(longkey), "api:\n  key: %s%01030d\n", SECRET,
	    0);
	assert_int_equal(load_yaml(&c, longkey, path, sizeof(path), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2:8: api.key: longer than 1024 bytes",
	    path);
	assert_string_equal(err, want);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_summary(void **state)
{
	char path[64], err[CFG_ERR_LEN];
	struct capture cap;
	struct config c;
	const char *out;

	unsetenv("NGROK_API_KEY");
	assert_int_equal(load_yaml(&c, full_yaml, path, sizeof(path), err,
	    sizeof(err)), 0);
	out = capture_summary(&cap, &c);
	assert_null(strstr(out, SECRET));
	assert_null(strstr(out, "SecretKey"));
	assert_non_null(strstr(out, "key (set)"));
	assert_non_null(strstr(out, "subnet 172.20.0.0/20"));
	assert_non_null(strstr(out, "poll_interval 90s"));
	assert_non_null(strstr(out, "mode loopback"));
	assert_non_null(strstr(out, "connect 500ms, handshake 2s, header 5s, "
	    "idle 1h"));
	/* One line per section (two for dns), then the insecure_skip_verify
	 * warning. */
	assert_int_equal(count_lines(out), 12);
	assert_non_null(strstr(out, "NOT verified"));
	config_free(&c);

	assert_int_equal(config_defaults(&c), 0);
	out = capture_summary(&cap, &c);
	assert_non_null(strstr(out, "key (not set)"));
	assert_non_null(strstr(out, "file (built-in defaults)"));
	assert_non_null(strstr(out, "idle none"));
	assert_non_null(strstr(out, "dns: enabled no, tcp yes, ttl 30s, wildcard_names 256"));
	assert_non_null(strstr(out, "dns: register yes, domains (from the "
	    "endpoints); server.manage_hosts yes"));
	assert_int_equal(count_lines(out), 11);
	config_free(&c);

	setenv("NGROK_API_KEY", SECRET, 1);
	assert_int_equal(config_defaults(&c), 0);
	unsetenv("NGROK_API_KEY");
	out = capture_summary(&cap, &c);
	assert_non_null(strstr(out, "key (from NGROK_API_KEY)"));
	assert_null(strstr(out, "SecretKey"));
	config_free(&c);
}

static void
test_parse_cidr(void **state)
{
	uint32_t a = 0;
	uint8_t p = 0;

	assert_int_equal(config_parse_cidr("10.107.0.0/16", &a, &p), 0);
	assert_int_equal(a, 0x0a6b0000);
	assert_int_equal(p, 16);
	assert_int_equal(config_parse_cidr("192.168.1.128/25", &a, &p), 0);
	assert_int_equal(a, 0xc0a80180);
	assert_int_equal(p, 25);
	assert_int_equal(config_parse_cidr("0.0.0.0/0", &a, &p), 0);
	assert_int_equal(p, 0);
	assert_int_equal(config_parse_cidr("10.0.0.0/32", &a, &p), 0);
	assert_int_equal(p, 32);
	assert_int_equal(config_parse_cidr("10.0.0.0/33", &a, &p), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0", &a, &p), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/", &a, &p), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/-1", &a, &p), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/016", &a, &p), -1);
	assert_int_equal(config_parse_cidr("10.0.0/8", &a, &p), -1);
	assert_int_equal(config_parse_cidr("256.0.0.0/8", &a, &p), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/8 ", &a, &p), -1);
	assert_int_equal(config_parse_cidr("/8", &a, &p), -1);
	assert_int_equal(config_parse_cidr("", &a, &p), -1);
	assert_int_equal(config_parse_cidr("fd00::/8", &a, &p), -1);
}

static void
test_parse_duration(void **state)
{
	uint32_t ms = 7;

	assert_int_equal(config_parse_duration("30", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(config_parse_duration("30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(config_parse_duration("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(config_parse_duration("5m", &ms), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(config_parse_duration("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(config_parse_duration("1h2m3s4ms", &ms), 0);
	assert_int_equal(ms, 3723004);
	assert_int_equal(config_parse_duration("0", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(config_parse_duration("4294967s", &ms), 0);
	assert_int_equal(ms, 4294967000u);
	assert_int_equal(config_parse_duration("4294968s", &ms), -1);
	assert_int_equal(config_parse_duration("4294968", &ms), -1);
	assert_int_equal(config_parse_duration("99999999999h", &ms), -1);
	assert_int_equal(config_parse_duration("", &ms), -1);
	assert_int_equal(config_parse_duration("s", &ms), -1);
	assert_int_equal(config_parse_duration("10x", &ms), -1);
	assert_int_equal(config_parse_duration("1.5s", &ms), -1);
	assert_int_equal(config_parse_duration("-5s", &ms), -1);
	assert_int_equal(config_parse_duration("5 s", &ms), -1);
	assert_int_equal(config_parse_duration("5S", &ms), -1);
}

static void
test_net_mode_name(void **state)
{
	assert_string_equal(config_net_mode_name(NET_MODE_AUTO), "auto");
	assert_string_equal(config_net_mode_name(NET_MODE_TUN), "tun");
	assert_string_equal(config_net_mode_name(NET_MODE_LOOPBACK),
	    "loopback");
	assert_string_equal(config_net_mode_name((enum net_mode)42), "?");
}

static void
test_list_limits(void **state)
{
	char yaml[8192], path[64], err[CFG_ERR_LEN], want[256];
	struct config c;
	size_t o, i;

	o = (size_t)snprintf(yaml, sizeof(yaml), "bound_endpoints:\n"
	    "  selectors:\n");
	for (i = 0; i < CFG_MAX_SELECTORS; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
		    "    - sel%zu\n", i);
	assert_int_equal(load_yaml(&c, yaml, path, sizeof(path), err,
	    sizeof(err)), 0);
	assert_int_equal(c.n_selectors, CFG_MAX_SELECTORS);
	assert_string_equal(c.selectors[31], "sel31");
	config_free(&c);
	snprintf(yaml + o, sizeof(yaml) - o, "    - one-too-many\n");
	assert_int_equal(load_yaml(&c, yaml, path, sizeof(path), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:35:7: bound_endpoints.selectors: "
	    "more than 32 entries", path);
	assert_string_equal(err, want);
}

/* docs/config.example.yml: the defaults, but for the four safe dev values. */
/*
 * Finds docs/config.example.yml from the working directory or from the
 * binary's (build/NAME/release/tests/unit/ lies inside the tree).
 */
/* dns.listen_gateway and dns.upstream (docs/dns.md, "Forwarding"). */
static void
test_dns_upstream(void **state)
{
	static const struct bad bad[] = {
		{ "dns:\n  upstream: resolver.example\n",
		  "2:13: dns.upstream: \"resolver.example\" is not an IPv4 "
		  "address (a name cannot be resolved without DNS; IPv6 is not "
		  "supported); want IP or IP:PORT, like \"192.0.2.53\" or "
		  "\"192.0.2.53:5353\"" },
		{ "dns:\n  upstream: \"[::1]:53\"\n", "2:13: dns.upstream: "
		  "\"[::1]:53\" is not an IPv4 address" },
		{ "dns:\n  upstream: 192.0.2.53:0\n", "2:13: dns.upstream: "
		  "\"192.0.2.53:0\" has a port outside 1..65535" },
		{ "dns:\n  upstream: 192.0.2.53:65536\n", "2:13: dns.upstream: "
		  "\"192.0.2.53:65536\" has a port outside 1..65535" },
		{ "dns:\n  upstream: \"192.0.2.53:\"\n", "2:13: dns.upstream: "
		  "\"192.0.2.53:\" has a port outside 1..65535" },
		{ "dns:\n  upstream: 0.0.0.0\n", "2:13: dns.upstream: "
		  "\"0.0.0.0\" is not a unicast address" },
		{ "dns:\n  upstream: 224.0.0.251:5353\n", "2:13: dns.upstream: "
		  "\"224.0.0.251:5353\" is not a unicast address" },
		{ "dns:\n  upstream: [1]\n", "2:13: dns.upstream: expected a "
		  "string" },
		/* Checked once the file is read: the subnet may come later. */
		{ "dns:\n  upstream: 10.107.0.2\n", " dns.upstream: 10.107.0.2 "
		  "is inside net.subnet (ngrokd's own addresses): queries would "
		  "come back to ngrokd" },
		{ "dns:\n  upstream: 10.9.1.1\nnet:\n  subnet: 10.9.0.0/16\n",
		  " dns.upstream: 10.9.1.1 is inside net.subnet" },
		{ "dns:\n  listen_gateway: maybe\n", "2:19: dns.listen_gateway: "
		  "expected true or false, got \"maybe\"" },
	};
	char path[64], err[CFG_ERR_LEN], want[1024];
	struct config c;
	uint32_t a;
	uint16_t port;
	const char *why;
	size_t i;

	(void)state;
	assert_int_equal(load_yaml(&c, "dns:\n  upstream: 192.0.2.53\n"
	    "  listen_gateway: false\n", path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(c.dns_upstream_addr, 0xc0000235u);
	assert_int_equal(c.dns_upstream_port, 53);
	assert_int_equal(c.dns_listen_gateway, 0);
	config_free(&c);
	assert_int_equal(load_yaml(&c, "dns:\n  upstream: \"127.0.0.53:5353\"\n",
	    path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(c.dns_upstream_addr, 0x7f000035u);
	assert_int_equal(c.dns_upstream_port, 5353);
	config_free(&c);
	/* "" is none; so is an empty value. */
	assert_int_equal(load_yaml(&c, "dns:\n  upstream: \"\"\n", path,
	    sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(c.dns_upstream_addr, 0);
	config_free(&c);
	/* The subnet moved away: 10.107.0.2 is an ordinary address then. */
	assert_int_equal(load_yaml(&c, "dns:\n  upstream: 10.107.0.2\nnet:\n"
	    "  subnet: 10.200.0.0/16\n", path, sizeof(path), err,
	    sizeof(err)), 0);
	config_free(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load_yaml(&c, bad[i].yaml, path, sizeof(path),
		    err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].msg);
		if (strncmp(err, want, strlen(want)) != 0)
			print_error("case %zu:\n got  %s\n want %s\n", i, err,
			    want);
		assert_true(strncmp(err, want, strlen(want)) == 0);
	}
	/* The parser itself, as dp_harness uses it. */
	assert_int_equal(config_parse_upstream("192.0.2.1:1", &a, &port, &why), 0);
	assert_int_equal(a, 0xc0000201u);
	assert_int_equal(port, 1);
	assert_null(why);
	assert_int_equal(config_parse_upstream("192.0.2.1:x", &a, &port, &why), -1);
	assert_non_null(strstr(why, "port"));
	assert_int_equal(config_parse_upstream(":53", &a, &port, &why), -1);
	assert_non_null(strstr(why, "IPv4"));
	assert_int_equal(config_parse_upstream("255.255.255.255", &a, &port,
	    &why), -1);
}

static int
find_example(char *path, size_t cap)
{
	char dir[4096], *slash;
	ssize_t n;
	int up;

	snprintf(path, cap, "docs/config.example.yml");
	if (access(path, R_OK) == 0)
		return 0;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return -1;
	dir[n] = '\0';
	for (up = 0; up < 8 && (slash = strrchr(dir, '/')) != NULL; up++) {
		*slash = '\0';
		snprintf(path, cap, "%s/docs/config.example.yml", dir);
		if (access(path, R_OK) == 0)
			return 0;
	}
	return -1;
}

static void
test_example_file(void **state)
{
	char path[4200], err[CFG_ERR_LEN];
	struct config c;

	assert_int_equal(find_example(path, sizeof(path)), 0);
	unsetenv("NGROK_API_KEY");
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.socket_path, "/tmp/ngrokd-example/ngrokd.sock");
	assert_string_equal(c.state_dir, "/tmp/ngrokd-example/state");
	assert_string_equal(c.hosts_file, "/tmp/ngrokd-example/hosts");
	assert_int_equal(c.mode, NET_MODE_LOOPBACK);
	assert_string_equal(c.client_cert, "/tmp/ngrokd-example/state/tls.crt");
	assert_string_equal(c.client_key, "/tmp/ngrokd-example/state/tls.key");
	/* Put the production values back: the rest must be the defaults. */
	free(c.socket_path);
	free(c.state_dir);
	free(c.hosts_file);
	free(c.client_cert);
	free(c.client_key);
	c.socket_path = strdup("/var/run/ngrokd.sock");
	c.state_dir = strdup("/var/lib/ngrokd");
	c.hosts_file = strdup("/etc/hosts");
	c.client_cert = strdup("/var/lib/ngrokd/tls.crt");
	c.client_key = strdup("/var/lib/ngrokd/tls.key");
	c.mode = NET_MODE_AUTO;
	assert_defaults(&c);
	config_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_files),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_cert_paths_follow_state_dir),
		cmocka_unit_test(test_accepted_variants),
		cmocka_unit_test(test_splitdns_keys),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_env_api_key),
		cmocka_unit_test(test_key_not_in_errors),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_parse_cidr),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_net_mode_name),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_dns_upstream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
