/*
 * config.c: the YAML configuration, read with libyaml's event API.
 *
 * The event API (rather than the document API) is used because it reports
 * anchors and aliases before anything is expanded, so a "billion laughs"
 * file is refused at its first anchor, and because every event carries the
 * mark we need for "FILE:LINE:COL:" messages.  The schema is fixed and two
 * levels deep, so the parser is a small recursive descent over events that
 * stops at the first error; it never skips unknown subtrees.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/splitdns.h"

#define CFG_MAX_FILE		(1024 * 1024)
#define CFG_MAX_PATH		4096
#define CFG_MAX_NAME		253	/* a DNS name */
#define CFG_MAX_SECRET		1024
#define CFG_MAX_SELECTOR	1024
#define CFG_MAX_GROUP		64
#define CFG_SUN_PATH		108	/* sun_path on Linux */
#define CFG_IFNAMSIZ		16
#define CFG_ECHO_MAX		64	/* longest value quoted in errors */

#define DEF_API_URL		"https://api.ngrok.com"
#define DEF_INGRESS		"kubernetes-binding-ingress.ngrok.io:443"
#define DEF_SOCKET_PATH		"/var/run/ngrokd.sock"
#define DEF_SOCKET_GROUP	"ngrokd"
#define DEF_STATE_DIR		"/var/lib/ngrokd"
#define DEF_HOSTS_FILE		"/etc/hosts"
#define DEF_SELECTOR		"true"
#define DEF_IFNAME		"ngrokd0"
#define DEF_SUBNET_ADDR		0x0a6b0000u	/* 10.107.0.0 */
#define DEF_SUBNET_PREFIX	16
#define DEF_LISTEN		"virtual"
#define DEF_START_PORT		9080
#define DEF_MTU			16040
#define DEF_MAX_STREAMS		4096
#define DEF_STREAM_BUFFER	262144
#define DEF_TIMEOUT_MS		10000
#define DEF_POLL_MS		30000

#define ENV_API_KEY		"NGROK_API_KEY"

enum ktype {
	K_PATH,		/* absolute path */
	K_SOCKPATH,	/* absolute path that fits sun_path */
	K_GROUP,	/* group name */
	K_SECRET,	/* the API key: never echoed */
	K_URL,
	K_HOSTPORT,
	K_IFNAME,
	K_LISTEN,
	K_ADDR,		/* numeric IPv4/IPv6 address or "localhost" */
	K_CIDR,
	K_BOOL,
	K_UINT,
	K_PORT,
	K_DURATION,
	K_LOGLEVEL,
	K_LOGFMT,
	K_MODE,
	K_SELECTORS,
	K_OVERRIDES,
	K_UPSTREAM,	/* IPv4 address with an optional :port */
	K_DOMAINS,	/* dns.domains: a list of domain names */
};

struct key {
	const char	*section;	/* NULL: top level */
	const char	*name;
	enum ktype	 type;
	size_t		 off;		/* field in struct config */
	uint32_t	 min, max;	/* K_UINT, K_DURATION (ms) */
};

#define F(m)	offsetof(struct config, m)
#define DAY_MS	(24u * 3600u * 1000u)

static const char *const sections[] = {
	"api", "server", "bound_endpoints", "net", "tls", "limits", "timeouts",
	"health", "dns",
};
#define N_SECTIONS	(sizeof(sections) / sizeof(sections[0]))

static const struct key keys[] = {
	{ "api", "url", K_URL, F(api_url), 0, 0 },
	{ "api", "key", K_SECRET, F(api_key), 0, 0 },
	{ NULL, "ingressEndpoint", K_HOSTPORT, F(ingress_endpoint), 0, 0 },
	{ "server", "log_level", K_LOGLEVEL, F(log_level), 0, 0 },
	{ "server", "log_format", K_LOGFMT, F(log_format), 0, 0 },
	{ "server", "syslog", K_BOOL, F(log_syslog), 0, 0 },
	{ "server", "socket_path", K_SOCKPATH, F(socket_path), 0, 0 },
	{ "server", "socket_group", K_GROUP, F(socket_group), 0, 0 },
	{ "server", "admin_group", K_GROUP, F(admin_group), 0, 0 },
	{ "server", "client_cert", K_PATH, F(client_cert), 0, 0 },
	{ "server", "client_key", K_PATH, F(client_key), 0, 0 },
	{ "server", "state_dir", K_PATH, F(state_dir), 0, 0 },
	{ "server", "hosts_file", K_PATH, F(hosts_file), 0, 0 },
	/* Below 100 ms the poller would hammer the API. */
	{ "bound_endpoints", "poll_interval", K_DURATION, F(poll_interval_ms),
	    100, DAY_MS },
	{ "bound_endpoints", "selectors", K_SELECTORS, F(selectors), 0, 0 },
	{ "net", "interface_name", K_IFNAME, F(interface_name), 0, 0 },
	{ "net", "subnet", K_CIDR, F(subnet_addr), 0, 0 },
	{ "net", "listen_interface", K_LISTEN, F(listen_interface), 0, 0 },
	{ "net", "start_port", K_PORT, F(start_port), 1, 65535 },
	{ "net", "overrides", K_OVERRIDES, F(overrides), 0, 0 },
	{ "net", "mtu", K_UINT, F(mtu), 576, 65535 },
	{ "net", "offload", K_BOOL, F(offload), 0, 0 },
	{ "net", "mode", K_MODE, F(mode), 0, 0 },
	{ "tls", "ca_file", K_PATH, F(ca_file), 0, 0 },
	{ "tls", "insecure_skip_verify", K_BOOL, F(insecure_skip_verify), 0,
	    0 },
	{ "tls", "session_resumption", K_BOOL, F(session_resumption), 0, 0 },
	{ "tls", "pool_size", K_UINT, F(pool_size), 0, 1024 },
	{ "limits", "max_streams", K_UINT, F(max_streams), 1, 1048576 },
	{ "limits", "stream_buffer", K_UINT, F(stream_buffer), 1024,
	    64u * 1024 * 1024 },
	/* 0 would mean "no bound", which the data path must never have. */
	{ "timeouts", "connect", K_DURATION, F(connect_timeout_ms), 1, DAY_MS },
	{ "timeouts", "handshake", K_DURATION, F(handshake_timeout_ms), 1,
	    DAY_MS },
	{ "timeouts", "header", K_DURATION, F(header_timeout_ms), 1, DAY_MS },
	{ "timeouts", "idle", K_DURATION, F(idle_timeout_ms), 0, DAY_MS },
	{ "health", "enabled", K_BOOL, F(health_enabled), 0, 0 },
	{ "health", "address", K_ADDR, F(health_address), 0, 0 },
	/* 0: an ephemeral port (tests). */
	{ "health", "port", K_PORT, F(health_port), 0, 65535 },
	{ "dns", "enabled", K_BOOL, F(dns_enabled), 0, 0 },
	{ "dns", "tcp", K_BOOL, F(dns_tcp), 0, 0 },
	{ "dns", "ttl", K_DURATION, F(dns_ttl_ms), 1000, DAY_MS },
	/* Each name is an address of the subnet: bound what queries for
	 * random names can take. */
	{ "dns", "wildcard_names", K_UINT, F(dns_wildcard_names), 1, 65536 },
	{ "dns", "listen_gateway", K_BOOL, F(dns_listen_gateway), 0, 0 },
	{ "dns", "upstream", K_UPSTREAM, F(dns_upstream_addr), 0, 0 },
	/* split DNS registration and the hosts file */
	{ "dns", "register", K_BOOL, F(dns_register), 0, 0 },
	{ "dns", "domains", K_DOMAINS, F(dns_domains), 0, 0 },
	{ "server", "manage_hosts", K_BOOL, F(manage_hosts), 0, 0 },
};
#define N_KEYS	(sizeof(keys) / sizeof(keys[0]))

struct parser {
	yaml_parser_t	 yp;
	yaml_event_t	 ev;
	int		 have_ev;
	const char	*name;
	const char	*buf;
	size_t		 len;
	char		*err;
	size_t		 errlen;
	struct config	*cfg;
	unsigned char	 seen_key[N_KEYS];
	unsigned char	 seen_sec[N_SECTIONS];
	yaml_mark_t	 manage_hosts_mark;	/* for the cross-key check */
};

/* --- small helpers ------------------------------------------------------ */

static char **
field_str(struct config *cfg, const struct key *k)
{
	return (char **)(void *)((char *)cfg + k->off);
}

static uint32_t *
field_u32(struct config *cfg, const struct key *k)
{
	return (uint32_t *)(void *)((char *)cfg + k->off);
}

static int *
field_int(struct config *cfg, const struct key *k)
{
	return (int *)(void *)((char *)cfg + k->off);
}

static int
set_str(char **dst, const char *s)
{
	char *n = strdup(s);

	if (n == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

static void
free_secret(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static int
has_ctl_or_space(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

/* Quotes a value for an error message, escaped and cut short. */
static void
quote(char *out, size_t cap, const char *v)
{
	size_t o = 0, i;

	out[o++] = '"';
	for (i = 0; v[i] != '\0' && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)v[i];

		if (i == CFG_ECHO_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static int
is_hostname(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CFG_MAX_NAME || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

/* Decimal digits only: no sign, no 0x, which YAML reads as other types. */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -2;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (parse_u64(s, &v) != 0 || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int
valid_hostport(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[CFG_MAX_NAME + 3];
	size_t hl;
	uint16_t port;

	if (colon == NULL || parse_port(colon + 1, &port) != 0)
		return 0;
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= sizeof(host))
		return 0;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[') {
		struct in6_addr a6;

		if (hl < 3 || host[hl - 1] != ']')
			return 0;
		host[hl - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, &a6) == 1;
	}
	return is_hostname(host);
}

int
config_parse_upstream(const char *s, uint32_t *addr, uint16_t *port,
    const char **why)
{
	const char *colon = strchr(s, ':');
	char host[INET_ADDRSTRLEN];
	size_t hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
	struct in_addr in;
	uint32_t a;

	*why = "is not an IPv4 address (a name cannot be resolved without "
	    "DNS; IPv6 is not supported)";
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &in) != 1)
		return -1;
	a = ntohl(in.s_addr);
	if (a == 0 || a == 0xffffffffu || (a >> 28) == 0xe) {
		*why = "is not a unicast address";
		return -1;
	}
	*port = 53;
	if (colon != NULL && parse_port(colon + 1, port) != 0) {
		*why = "has a port outside 1..65535";
		return -1;
	}
	*addr = a;
	*why = NULL;
	return 0;
}

static const char *
fmt_ms(char *buf, size_t cap, uint32_t ms)
{
	if (ms == 0)
		snprintf(buf, cap, "0");
	else if (ms % 3600000 == 0)
		snprintf(buf, cap, "%uh", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, cap, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, cap, "%us", ms / 1000);
	else
		snprintf(buf, cap, "%ums", ms);
	return buf;
}

/* --- public parsers ----------------------------------------------------- */

int
config_parse_cidr(const char *s, uint32_t *addr, uint8_t *prefix)
{
	const char *slash;
	char a[INET_ADDRSTRLEN];
	struct in_addr in;
	uint64_t p;

	if (s == NULL || (slash = strchr(s, '/')) == NULL)
		return -1;
	if ((size_t)(slash - s) >= sizeof(a))
		return -1;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	if (inet_pton(AF_INET, a, &in) != 1)
		return -1;
	if (strlen(slash + 1) > 2 || parse_u64(slash + 1, &p) != 0 || p > 32)
		return -1;
	*addr = ntohl(in.s_addr);
	*prefix = (uint8_t)p;
	return 0;
}

int
config_parse_duration(const char *s, uint32_t *ms)
{
	uint64_t total = 0, n;
	unsigned digits;

	if (s == NULL || *s == '\0')
		return -1;
	/* A bare integer is seconds: the original ngrokd's poll_interval. */
	if (parse_u64(s, &n) == 0) {
		if (strlen(s) > 10 || n > UINT32_MAX / 1000)
			return -1;
		*ms = (uint32_t)(n * 1000);
		return 0;
	}
	/* Else NUMBER UNIT pairs, as Go writes them: "1m30s". */
	while (*s != '\0') {
		uint64_t mul;

		for (n = 0, digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits == 10)
				return -1;
			n = n * 10 + (uint64_t)(*s - '0');
		}
		if (digits == 0)
			return -1;
		if (strncmp(s, "ms", 2) == 0) {
			mul = 1;
			s += 2;
		} else if (*s == 's') {
			mul = 1000;
			s++;
		} else if (*s == 'm') {
			mul = 60000;
			s++;
		} else if (*s == 'h') {
			mul = 3600000;
			s++;
		} else
			return -1;
		total += n * mul;
		if (total > UINT32_MAX)
			return -1;
	}
	*ms = (uint32_t)total;
	return 0;
}

const char *
config_net_mode_name(enum net_mode mode)
{
	switch (mode) {
	case NET_MODE_AUTO:
		return "auto";
	case NET_MODE_TUN:
		return "tun";
	case NET_MODE_LOOPBACK:
		return "loopback";
	}
	return "?";
}

static int
net_mode_parse(const char *s)
{
	if (strcmp(s, "auto") == 0)
		return NET_MODE_AUTO;
	if (strcmp(s, "tun") == 0)
		return NET_MODE_TUN;
	if (strcmp(s, "loopback") == 0)
		return NET_MODE_LOOPBACK;
	return -1;
}

static int
bool_parse(const char *s)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
		return 1;
	if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
		return 0;
	return -1;
}

/* --- defaults ----------------------------------------------------------- */

static int
defaults_raw(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_LVL_INFO;
	cfg->log_format = LOG_FMT_TEXT;
	cfg->poll_interval_ms = DEF_POLL_MS;
	cfg->subnet_addr = DEF_SUBNET_ADDR;
	cfg->subnet_prefix = DEF_SUBNET_PREFIX;
	cfg->start_port = DEF_START_PORT;
	cfg->mtu = DEF_MTU;
	cfg->offload = 1;
	cfg->mode = NET_MODE_AUTO;
	cfg->session_resumption = 1;
	cfg->max_streams = DEF_MAX_STREAMS;
	cfg->stream_buffer = DEF_STREAM_BUFFER;
	cfg->connect_timeout_ms = DEF_TIMEOUT_MS;
	cfg->handshake_timeout_ms = DEF_TIMEOUT_MS;
	cfg->header_timeout_ms = DEF_TIMEOUT_MS;
	cfg->health_enabled = 1;
	cfg->health_port = 8081;
	cfg->dns_tcp = 1;
	cfg->dns_ttl_ms = 30000;
	cfg->dns_wildcard_names = 256;
	cfg->dns_listen_gateway = 1;
	cfg->dns_register = 1;
	cfg->manage_hosts = 1;
	if (set_str(&cfg->api_url, DEF_API_URL) != 0 ||
	    set_str(&cfg->health_address, "127.0.0.1") != 0 ||
	    set_str(&cfg->ingress_endpoint, DEF_INGRESS) != 0 ||
	    set_str(&cfg->socket_path, DEF_SOCKET_PATH) != 0 ||
	    set_str(&cfg->socket_group, DEF_SOCKET_GROUP) != 0 ||
	    set_str(&cfg->state_dir, DEF_STATE_DIR) != 0 ||
	    set_str(&cfg->hosts_file, DEF_HOSTS_FILE) != 0 ||
	    set_str(&cfg->interface_name, DEF_IFNAME) != 0 ||
	    set_str(&cfg->listen_interface, DEF_LISTEN) != 0 ||
	    set_str(&cfg->selectors[0], DEF_SELECTOR) != 0) {
		config_free(cfg);
		return -ENOMEM;
	}
	cfg->n_selectors = 1;
	return 0;
}

static int
join_state(char **dst, const char *dir, const char *file)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (asprintf(dst, "%.*s/%s", (int)n, dir, file) < 0) {
		*dst = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * What depends on other keys or on the environment, done once the file is
 * read: the certificate paths follow state_dir, and NGROK_API_KEY fills a
 * key the file does not have.  Returns 0, -ENOMEM, or -EINVAL for a
 * malformed NGROK_API_KEY.
 */
static int
finish(struct config *cfg)
{
	const char *env;

	if (cfg->client_cert == NULL &&
	    join_state(&cfg->client_cert, cfg->state_dir, "tls.crt") != 0)
		return -ENOMEM;
	if (cfg->client_key == NULL &&
	    join_state(&cfg->client_key, cfg->state_dir, "tls.key") != 0)
		return -ENOMEM;
	if (cfg->api_key != NULL)
		return 0;
	env = getenv(ENV_API_KEY);
	if (env == NULL || *env == '\0')
		return 0;
	/* It ends up in an HTTP header: no CR/LF smuggling. */
	if (strlen(env) > CFG_MAX_SECRET || has_ctl_or_space(env))
		return -EINVAL;
	if ((cfg->api_key = strdup(env)) == NULL)
		return -ENOMEM;
	cfg->api_key_from_env = 1;
	return 0;
}

int
config_defaults(struct config *cfg)
{
	int r;

	if ((r = defaults_raw(cfg)) != 0)
		return r;
	r = finish(cfg);
	if (r == -EINVAL) {
		log_warnx("config: " ENV_API_KEY " holds a space or control "
		    "character; ignored");
		r = 0;
	}
	if (r != 0)
		config_free(cfg);
	return r;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free_secret(&cfg->api_key);
	free(cfg->path);
	free(cfg->api_url);
	free(cfg->ingress_endpoint);
	free(cfg->socket_path);
	free(cfg->socket_group);
	free(cfg->admin_group);
	free(cfg->client_cert);
	free(cfg->client_key);
	free(cfg->state_dir);
	free(cfg->hosts_file);
	for (i = 0; i < cfg->n_selectors && i < CFG_MAX_SELECTORS; i++)
		free(cfg->selectors[i]);
	free(cfg->interface_name);
	free(cfg->listen_interface);
	for (i = 0; i < cfg->n_overrides && i < CFG_MAX_OVERRIDES; i++)
		free(cfg->overrides[i].host);
	free(cfg->ca_file);
	free(cfg->pcap_file);
	free(cfg->health_address);
	for (i = 0; i < cfg->n_dns_domains && i < CFG_MAX_DNS_DOMAINS; i++)
		free(cfg->dns_domains[i]);
	memset(cfg, 0, sizeof(*cfg));
}

/* --- errors ------------------------------------------------------------- */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
perr(struct parser *p, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE:COL: message"; libyaml marks are 0-based. */
static int
perr(struct parser *p, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%zu:%zu: ", p->name,
	    m->line + 1, m->column + 1);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
nomem(struct parser *p)
{
	seterr(p->err, p->errlen, "%s: out of memory", p->name);
	return -ENOMEM;
}

/* Reader errors (bad UTF-8, control bytes) carry an offset, not a mark. */
static void
offset_mark(const struct parser *p, size_t off, yaml_mark_t *m)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < off && i < p->len; i++) {
		if (p->buf[i] == '\n') {
			m->line++;
			m->column = 0;
		} else
			m->column++;
	}
}

static int
syntax_error(struct parser *p)
{
	const yaml_parser_t *y = &p->yp;
	const char *problem = y->problem != NULL ? y->problem : "syntax error";
	yaml_mark_t m;

	if (y->error == YAML_MEMORY_ERROR)
		return nomem(p);
	if (y->error == YAML_READER_ERROR) {
		offset_mark(p, y->problem_offset, &m);
		return perr(p, &m, "%s", problem);
	}
	if (y->context != NULL)
		return perr(p, &y->problem_mark, "%s (%s at %zu:%zu)", problem,
		    y->context, y->context_mark.line + 1,
		    y->context_mark.column + 1);
	return perr(p, &y->problem_mark, "%s", problem);
}

/* --- events ------------------------------------------------------------- */

static int
next(struct parser *p)
{
	const yaml_char_t *anchor = NULL;

	if (p->have_ev) {
		yaml_event_delete(&p->ev);
		p->have_ev = 0;
	}
	if (!yaml_parser_parse(&p->yp, &p->ev))
		return syntax_error(p);
	p->have_ev = 1;
	switch (p->ev.type) {
	case YAML_ALIAS_EVENT:
		return perr(p, &p->ev.start_mark, "YAML anchors and aliases "
		    "are not allowed");
	case YAML_SCALAR_EVENT:
		anchor = p->ev.data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = p->ev.data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = p->ev.data.mapping_start.anchor;
		break;
	default:
		break;
	}
	if (anchor != NULL)
		return perr(p, &p->ev.start_mark, "YAML anchors and "
		    "aliases are not allowed");
	return 0;
}

static const char *
scalar(const struct parser *p)
{
	return (const char *)p->ev.data.scalar.value;
}

static int
is_null(const struct parser *p)
{
	const char *v = scalar(p);

	if (p->ev.type != YAML_SCALAR_EVENT ||
	    p->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* A scalar with an embedded NUL ("\0" in double quotes) would be cut short. */
static int
check_scalar(struct parser *p, const char *kp, size_t max, int secret)
{
	size_t len = p->ev.data.scalar.length;
	char q[CFG_ECHO_MAX * 4 + 16];

	if (strlen(scalar(p)) != len)
		return perr(p, &p->ev.start_mark, "%s: contains a NUL byte",
		    kp);
	if (len > max) {
		if (secret)
			return perr(p, &p->ev.start_mark, "%s: longer than %zu "
			    "bytes", kp, max);
		quote(q, sizeof(q), scalar(p));
		return perr(p, &p->ev.start_mark, "%s: %s is longer than %zu "
		    "bytes", kp, q, max);
	}
	return 0;
}

static const char *
kind_name(enum ktype t)
{
	switch (t) {
	case K_BOOL:
		return "true or false";
	case K_UINT:
	case K_PORT:
		return "an integer";
	case K_DURATION:
		return "a duration";
	case K_SELECTORS:
		return "a list";
	case K_OVERRIDES:
		return "a mapping";
	case K_DOMAINS:
		return "a list of domain names";
	default:
		return "a string";
	}
}

/* --- values ------------------------------------------------------------- */

static int
store_str(struct parser *p, char **dst)
{
	char *n = strndup(scalar(p), p->ev.data.scalar.length);

	if (n == NULL)
		return nomem(p);
	free(*dst);
	*dst = n;
	return 0;
}

static int
val_string(struct parser *p, const struct key *k, const char *kp)
{
	const char *v = scalar(p);
	size_t max = CFG_MAX_PATH;
	char q[CFG_ECHO_MAX * 4 + 16];
	const yaml_mark_t *m = &p->ev.start_mark;
	struct in_addr in;

	switch (k->type) {
	case K_IFNAME:
		max = CFG_IFNAMSIZ - 1;
		break;
	case K_GROUP:
		max = CFG_MAX_GROUP;
		break;
	case K_HOSTPORT:
		max = CFG_MAX_NAME + 8;
		break;
	default:
		break;
	}
	if (check_scalar(p, kp, max, 0) != 0)
		return -1;
	quote(q, sizeof(q), v);
	if (*v == '\0')
		return perr(p, m, "%s: must not be empty", kp);
	switch (k->type) {
	case K_PATH:
	case K_SOCKPATH:
		/* The daemon chdirs to / when it detaches. */
		if (v[0] != '/')
			return perr(p, m, "%s: %s is not an absolute path",
			    kp, q);
		if (k->type == K_SOCKPATH && strlen(v) >= CFG_SUN_PATH)
			return perr(p, m, "%s: %s is longer than %d bytes (the "
			    "limit of a Unix socket address)", kp, q,
			    CFG_SUN_PATH - 1);
		break;
	case K_URL:
		/* Not echoed: a URL may carry credentials, or be a
		 * misplaced API key. */
		if ((strncmp(v, "http://", 7) != 0 || v[7] == '\0') &&
		    (strncmp(v, "https://", 8) != 0 || v[8] == '\0'))
			return perr(p, m, "%s: does not start with http:// or "
			    "https://", kp);
		if (has_ctl_or_space(v))
			return perr(p, m, "%s: contains a space or control "
			    "character", kp);
		break;
	case K_HOSTPORT:
		if (!valid_hostport(v))
			return perr(p, m, "%s: %s is not host:port with a port "
			    "1..65535", kp, q);
		break;
	case K_IFNAME:
		if (!is_hostname(v))
			return perr(p, m, "%s: %s is not an interface name",
			    kp, q);
		break;
	case K_GROUP:
		if (has_ctl_or_space(v) || strchr(v, ':') != NULL)
			return perr(p, m, "%s: %s is not a group name", kp, q);
		break;
	case K_LISTEN:
		if (strcmp(v, "virtual") != 0 &&
		    inet_pton(AF_INET, v, &in) != 1)
			return perr(p, m, "%s: %s is not \"virtual\", "
			    "\"0.0.0.0\" or an IPv4 address", kp, q);
		break;
	case K_ADDR: {
		struct in6_addr in6;

		if (strcmp(v, "localhost") != 0 &&
		    inet_pton(AF_INET, v, &in) != 1 &&
		    inet_pton(AF_INET6, v, &in6) != 1)
			return perr(p, m, "%s: %s is not an IPv4 or IPv6 address "
			    "or \"localhost\"", kp, q);
		break;
	}
	default:
		break;
	}
	return store_str(p, field_str(p->cfg, k));
}

static int
val_secret(struct parser *p, const struct key *k, const char *kp)
{
	char **dst = field_str(p->cfg, k);

	if (check_scalar(p, kp, CFG_MAX_SECRET, 1) != 0)
		return -1;
	/* An empty key is "no key" (templates say key: ""); env may fill it. */
	if (*scalar(p) == '\0') {
		free_secret(dst);
		return 0;
	}
	if (has_ctl_or_space(scalar(p)))
		return perr(p, &p->ev.start_mark, "%s: contains a space or "
		    "control character", kp);
	free_secret(dst);
	if ((*dst = strndup(scalar(p), p->ev.data.scalar.length)) == NULL)
		return nomem(p);
	return 0;
}

static int
val_number(struct parser *p, const struct key *k, const char *kp)
{
	const char *v = scalar(p);
	const yaml_mark_t *m = &p->ev.start_mark;
	char q[CFG_ECHO_MAX * 4 + 16], lo[32], hi[32];
	uint64_t n;
	uint32_t ms;
	int r;

	if (check_scalar(p, kp, 64, 0) != 0)
		return -1;
	quote(q, sizeof(q), v);
	if (k->type == K_DURATION) {
		if (config_parse_duration(v, &ms) != 0)
			return perr(p, m, "%s: %s is not a duration (like 30, "
			    "\"30s\", \"500ms\", \"5m\", \"1h\")", kp, q);
		if (ms < k->min || ms > k->max)
			return perr(p, m, "%s: %s is out of range (%s..%s)", kp,
			    q, fmt_ms(lo, sizeof(lo), k->min),
			    fmt_ms(hi, sizeof(hi), k->max));
		*field_u32(p->cfg, k) = ms;
		return 0;
	}
	if ((r = parse_u64(v, &n)) == -1)
		return perr(p, m, "%s: expected an integer, got %s", kp, q);
	if (r != 0 || n < k->min || n > k->max)
		return perr(p, m, "%s: %s is out of range (%u..%u)", kp, v,
		    k->min, k->max);
	if (k->type == K_PORT)
		*(uint16_t *)(void *)((char *)p->cfg + k->off) = (uint16_t)n;
	else
		*field_u32(p->cfg, k) = (uint32_t)n;
	return 0;
}

static int
val_enum(struct parser *p, const struct key *k, const char *kp)
{
	const char *v = scalar(p);
	const yaml_mark_t *m = &p->ev.start_mark;
	char q[CFG_ECHO_MAX * 4 + 16];
	int x;

	if (check_scalar(p, kp, 64, 0) != 0)
		return -1;
	quote(q, sizeof(q), v);
	switch (k->type) {
	case K_BOOL:
		if ((x = bool_parse(v)) < 0)
			return perr(p, m, "%s: expected true or false, got %s",
			    kp, q);
		*field_int(p->cfg, k) = x;
		break;
	case K_LOGLEVEL:
		if ((x = log_level_parse(v)) < 0)
			return perr(p, m, "%s: %s is not one of error, warn, "
			    "info, debug", kp, q);
		p->cfg->log_level = x;
		break;
	case K_LOGFMT:
		if (strcmp(v, "text") == 0)
			p->cfg->log_format = LOG_FMT_TEXT;
		else if (strcmp(v, "json") == 0)
			p->cfg->log_format = LOG_FMT_JSON;
		else
			return perr(p, m, "%s: %s is not one of text, json",
			    kp, q);
		break;
	case K_MODE:
		if ((x = net_mode_parse(v)) < 0)
			return perr(p, m, "%s: %s is not one of auto, tun, "
			    "loopback", kp, q);
		p->cfg->mode = (enum net_mode)x;
		break;
	default:
		break;
	}
	return 0;
}

/* dns.upstream: "" turns forwarding off again. */
static int
val_upstream(struct parser *p, const char *kp)
{
	const yaml_mark_t *m = &p->ev.start_mark;
	char q[CFG_ECHO_MAX * 4 + 16];
	const char *why;
	uint32_t addr;
	uint16_t port;

	if (check_scalar(p, kp, 64, 0) != 0)
		return -1;
	if (*scalar(p) == '\0') {
		p->cfg->dns_upstream_addr = 0;
		p->cfg->dns_upstream_port = 0;
		return 0;
	}
	quote(q, sizeof(q), scalar(p));
	if (config_parse_upstream(scalar(p), &addr, &port, &why) != 0)
		return perr(p, m, "%s: %s %s; want IP or IP:PORT, like "
		    "\"192.0.2.53\" or \"192.0.2.53:5353\"", kp, q, why);
	p->cfg->dns_upstream_addr = addr;
	p->cfg->dns_upstream_port = port;
	return 0;
}

static int
val_cidr(struct parser *p, const char *kp)
{
	const yaml_mark_t *m = &p->ev.start_mark;
	char q[CFG_ECHO_MAX * 4 + 16];
	uint32_t addr, mask;
	uint8_t prefix;
	struct in_addr in;
	char a[INET_ADDRSTRLEN];

	if (check_scalar(p, kp, 64, 0) != 0)
		return -1;
	quote(q, sizeof(q), scalar(p));
	if (config_parse_cidr(scalar(p), &addr, &prefix) != 0)
		return perr(p, m, "%s: %s is not an IPv4 CIDR", kp, q);
	/* /31 and /32 leave no address for the gateway plus endpoints. */
	if (prefix < 8 || prefix > 30)
		return perr(p, m, "%s: prefix /%u is out of range (8..30)", kp,
		    prefix);
	mask = 0xffffffffu << (32 - prefix);
	if ((addr & ~mask) != 0) {
		in.s_addr = htonl(addr & mask);
		inet_ntop(AF_INET, &in, a, sizeof(a));
		return perr(p, m, "%s: %s has host bits set (did you mean "
		    "%s/%u?)", kp, q, a, prefix);
	}
	p->cfg->subnet_addr = addr;
	p->cfg->subnet_prefix = prefix;
	return 0;
}

static int
val_selectors(struct parser *p, const char *kp)
{
	struct config *cfg = p->cfg;
	size_t i;
	int r;

	for (i = 0; i < cfg->n_selectors; i++) {
		free(cfg->selectors[i]);
		cfg->selectors[i] = NULL;
	}
	cfg->n_selectors = 0;
	for (;;) {
		if ((r = next(p)) != 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (p->ev.type != YAML_SCALAR_EVENT)
			return perr(p, &p->ev.start_mark, "%s: expected a list "
			    "of strings", kp);
		if (check_scalar(p, kp, CFG_MAX_SELECTOR, 0) != 0)
			return -1;
		if (*scalar(p) == '\0')
			return perr(p, &p->ev.start_mark, "%s: entry %zu is "
			    "empty", kp, cfg->n_selectors + 1);
		if (cfg->n_selectors == CFG_MAX_SELECTORS)
			return perr(p, &p->ev.start_mark, "%s: more than %d "
			    "entries", kp, CFG_MAX_SELECTORS);
		if ((r = store_str(p, &cfg->selectors[cfg->n_selectors])) != 0)
			return r;
		cfg->n_selectors++;
	}
	/* The original ngrokd treats an empty list as the default. */
	if (cfg->n_selectors == 0) {
		if ((cfg->selectors[0] = strdup(DEF_SELECTOR)) == NULL)
			return nomem(p);
		cfg->n_selectors = 1;
	}
	return 0;
}

static int
val_override(struct parser *p, const char *kp)
{
	struct config *cfg = p->cfg;
	struct cfg_override *o;
	char q[CFG_ECHO_MAX * 4 + 16];
	const char *host;
	size_t i;
	int r;

	if (p->ev.type != YAML_SCALAR_EVENT)
		return perr(p, &p->ev.start_mark, "%s: expected a host name "
		    "as key", kp);
	if (check_scalar(p, kp, CFG_MAX_NAME, 0) != 0)
		return -1;
	host = scalar(p);
	quote(q, sizeof(q), host);
	if (!is_hostname(host))
		return perr(p, &p->ev.start_mark, "%s: %s is not a host name",
		    kp, q);
	for (i = 0; i < cfg->n_overrides; i++)
		if (strcasecmp(cfg->overrides[i].host, host) == 0)
			return perr(p, &p->ev.start_mark, "duplicate key "
			    "\"%s.%s\"", kp, host);
	if (cfg->n_overrides == CFG_MAX_OVERRIDES)
		return perr(p, &p->ev.start_mark, "%s: more than %d entries",
		    kp, CFG_MAX_OVERRIDES);
	o = &cfg->overrides[cfg->n_overrides];
	if ((r = store_str(p, &o->host)) != 0)
		return r;
	cfg->n_overrides++;
	if ((r = next(p)) != 0)
		return r;
	if (p->ev.type != YAML_SCALAR_EVENT)
		return perr(p, &p->ev.start_mark, "%s.%s: expected an integer",
		    kp, o->host);
	if (check_scalar(p, kp, 64, 0) != 0)
		return -1;
	quote(q, sizeof(q), scalar(p));
	if ((r = parse_port(scalar(p), &o->port)) != 0)
		return perr(p, &p->ev.start_mark, "%s.%s: %s is not a port "
		    "(1..65535)", kp, o->host, q);
	return 0;
}

static int
val_overrides(struct parser *p, const char *kp)
{
	int r;

	for (;;) {
		if ((r = next(p)) != 0)
			return r;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if ((r = val_override(p, kp)) != 0)
			return r;
	}
}

/* dns.domains: each entry a domain ("apps.example") or a wildcard host
 * ("*.apps.example", the same), stored normalised; [] is the default. */
static int
val_domain(struct parser *p, const char *kp)
{
	struct config *cfg = p->cfg;
	char q[CFG_ECHO_MAX * 4 + 16], norm[SPLITDNS_MAX_NAME + 1];
	const yaml_mark_t *m = &p->ev.start_mark;
	size_t i;

	if (p->ev.type != YAML_SCALAR_EVENT)
		return perr(p, m, "%s: expected a list of domain names", kp);
	if (check_scalar(p, kp, CFG_MAX_NAME + 2, 0) != 0)
		return -1;
	quote(q, sizeof(q), scalar(p));
	if (splitdns_domain_norm(scalar(p), norm, sizeof(norm)) != 0)
		return perr(p, m, "%s: %s is not a domain name (dot-separated "
		    "labels of 1..63 letters, digits, '-' or '_', no '-' at "
		    "either end of a label, no final dot)", kp, q);
	for (i = 0; i < cfg->n_dns_domains; i++)
		if (strcmp(cfg->dns_domains[i], norm) == 0)
			return perr(p, m, "%s: %s is listed twice", kp, q);
	if (cfg->n_dns_domains == CFG_MAX_DNS_DOMAINS)
		return perr(p, m, "%s: more than %d entries", kp,
		    CFG_MAX_DNS_DOMAINS);
	if ((cfg->dns_domains[cfg->n_dns_domains] = strdup(norm)) == NULL)
		return nomem(p);
	cfg->n_dns_domains++;
	return 0;
}

static int
val_domains(struct parser *p, const char *kp)
{
	int r;

	for (;;) {
		if ((r = next(p)) != 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if ((r = val_domain(p, kp)) != 0)
			return r;
	}
}

/* Keys that constrain each other, once the whole file is read. */
static int
check_combinations(struct parser *p)
{
	const struct config *cfg = p->cfg;

	if (cfg->manage_hosts)
		return 0;
	if (!cfg->dns_enabled)
		return perr(p, &p->manage_hosts_mark, "server.manage_hosts: "
		    "false needs dns.enabled: true (without the hosts file "
		    "and the DNS responder, endpoint names would not resolve)");
	if (cfg->mode == NET_MODE_LOOPBACK)
		return perr(p, &p->manage_hosts_mark, "server.manage_hosts: "
		    "false needs the DNS responder, which net.mode loopback "
		    "does not have (endpoint names would not resolve)");
	return 0;
}

/* The current event is the value of key k. */
static int
parse_value(struct parser *p, const struct key *k, const char *kp)
{
	yaml_event_type_t want = YAML_SCALAR_EVENT;

	if (k->type == K_SELECTORS)
		want = YAML_SEQUENCE_START_EVENT;
	else if (k->type == K_OVERRIDES)
		want = YAML_MAPPING_START_EVENT;
	else if (k->type == K_DOMAINS)
		want = YAML_SEQUENCE_START_EVENT;
	/* An empty value keeps the default, as it did in the original. */
	if (is_null(p))
		return 0;
	if (p->ev.type != want)
		return perr(p, &p->ev.start_mark, "%s: expected %s", kp,
		    kind_name(k->type));
	switch (k->type) {
	case K_SECRET:
		return val_secret(p, k, kp);
	case K_UINT:
	case K_PORT:
	case K_DURATION:
		return val_number(p, k, kp);
	case K_BOOL:
	case K_LOGLEVEL:
	case K_LOGFMT:
	case K_MODE:
		return val_enum(p, k, kp);
	case K_CIDR:
		return val_cidr(p, kp);
	case K_UPSTREAM:
		return val_upstream(p, kp);
	case K_SELECTORS:
		return val_selectors(p, kp);
	case K_OVERRIDES:
		return val_overrides(p, kp);
	case K_DOMAINS:
		return val_domains(p, kp);
	default:
		return val_string(p, k, kp);
	}
}

/* --- mappings ----------------------------------------------------------- */

static int
looks_like_keyword(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 16)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
			return 0;
	return 1;
}

static const struct key *
find_key(const char *section, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if ((section == NULL) != (keys[i].section == NULL))
			continue;
		if (section != NULL && strcmp(section, keys[i].section) != 0)
			continue;
		if (strcmp(name, keys[i].name) == 0) {
			*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

static int
find_section(const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < N_SECTIONS; i++)
		if (strcmp(name, sections[i]) == 0) {
			*idx = i;
			return 0;
		}
	return -1;
}

/* The current event is a key that is not in the schema. */
static int
unknown_key(struct parser *p, const char *section)
{
	char kp[CFG_ECHO_MAX + 32], q[CFG_ECHO_MAX * 4 + 16];

	/* A pasted API key must not come back in a message. */
	if (section != NULL && strcmp(section, "api") == 0 &&
	    !looks_like_keyword(scalar(p)))
		return perr(p, &p->ev.start_mark, "unknown key under \"api\"");
	snprintf(kp, sizeof(kp), "%s%s%.*s", section != NULL ? section : "",
	    section != NULL ? "." : "", CFG_ECHO_MAX + 1, scalar(p));
	quote(q, sizeof(q), kp);
	return perr(p, &p->ev.start_mark, "unknown key %s", q);
}

/* Reads a mapping key; names are short, so longer ones are unknown anyway. */
static int
read_key(struct parser *p, const char *section, char *name, size_t cap)
{
	if (p->ev.type != YAML_SCALAR_EVENT)
		return perr(p, &p->ev.start_mark, "expected a key, got %s",
		    p->ev.type == YAML_SEQUENCE_START_EVENT ? "a list" :
		    "a mapping");
	if (strlen(scalar(p)) != p->ev.data.scalar.length ||
	    p->ev.data.scalar.length >= cap)
		return unknown_key(p, section);
	memcpy(name, scalar(p), p->ev.data.scalar.length + 1);
	return 0;
}

static int
parse_key(struct parser *p, const char *section, const char *name)
{
	char kp[96];
	const struct key *k;
	size_t idx;
	int r;

	if (section != NULL)
		snprintf(kp, sizeof(kp), "%s.%s", section, name);
	else
		snprintf(kp, sizeof(kp), "%s", name);
	if ((k = find_key(section, name, &idx)) == NULL)
		return unknown_key(p, section);
	if (p->seen_key[idx])
		return perr(p, &p->ev.start_mark, "duplicate key \"%s\"", kp);
	p->seen_key[idx] = 1;
	if ((r = next(p)) != 0)
		return r;
	if (k->off == F(manage_hosts))
		p->manage_hosts_mark = p->ev.start_mark;
	return parse_value(p, k, kp);
}

static int
parse_section(struct parser *p, const char *section)
{
	char name[64];
	int r;

	for (;;) {
		if ((r = next(p)) != 0)
			return r;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if ((r = read_key(p, section, name, sizeof(name))) != 0 ||
		    (r = parse_key(p, section, name)) != 0)
			return r;
	}
}

static int
parse_top_entry(struct parser *p)
{
	char name[64];
	size_t idx;
	int r;

	if ((r = read_key(p, NULL, name, sizeof(name))) != 0)
		return r;
	if (find_section(name, &idx) != 0)
		return parse_key(p, NULL, name);
	if (p->seen_sec[idx])
		return perr(p, &p->ev.start_mark, "duplicate key \"%s\"", name);
	p->seen_sec[idx] = 1;
	if ((r = next(p)) != 0)
		return r;
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return perr(p, &p->ev.start_mark, "%s: expected a mapping",
		    name);
	return parse_section(p, name);
}

static int
parse_document(struct parser *p)
{
	int r;

	if ((r = next(p)) != 0)
		return r;
	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return perr(p, &p->ev.start_mark, "expected a mapping at the "
		    "top level");
	for (;;) {
		if ((r = next(p)) != 0)
			return r;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if ((r = parse_top_entry(p)) != 0)
			return r;
	}
}

static int
parse_stream(struct parser *p)
{
	int r;

	if ((r = next(p)) != 0)			/* STREAM-START */
		return r;
	if ((r = next(p)) != 0)
		return r;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return 0;			/* empty, or comments only */
	if ((r = parse_document(p)) != 0)
		return r;
	if ((r = next(p)) != 0)			/* DOCUMENT-END */
		return r;
	if ((r = next(p)) != 0)
		return r;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return perr(p, &p->ev.start_mark, "more than one YAML "
		    "document");
	return 0;
}

/* Rules between keys, checked once the whole file is read. */
static int
check_dns(const struct config *cfg, const char *name, char *err, size_t errlen)
{
	uint32_t mask = cfg->subnet_prefix == 0 ? 0 :
	    0xffffffffu << (32 - cfg->subnet_prefix);
	uint32_t a = cfg->dns_upstream_addr;

	if (a != 0 && (a & mask) == (cfg->subnet_addr & mask)) {
		seterr(err, errlen, "%s: dns.upstream: %u.%u.%u.%u is inside "
		    "net.subnet (ngrokd's own addresses): queries would come "
		    "back to ngrokd", name, a >> 24, (a >> 16) & 0xff,
		    (a >> 8) & 0xff, a & 0xff);
		return -1;
	}
	return 0;
}

int
config_load_buf(struct config *cfg, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	struct parser p;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > CFG_MAX_FILE) {
		seterr(err, errlen, "%s: file is too large (more than 1 MiB)",
		    name);
		return -1;
	}
	if ((r = defaults_raw(cfg)) != 0) {
		seterr(err, errlen, "%s: out of memory", name);
		return r;
	}
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.buf = buf;
	p.len = len;
	p.err = err;
	p.errlen = errlen;
	p.cfg = cfg;
	if (!yaml_parser_initialize(&p.yp)) {
		config_free(cfg);
		seterr(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	r = parse_stream(&p);
	if (r == 0)
		r = check_combinations(&p);
	if (p.have_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yp);
	if (r == 0)
		r = check_dns(cfg, name, err, errlen);
	if (r == 0 && (cfg->path = strdup(name)) == NULL)
		r = nomem(&p);
	if (r == 0 && (r = finish(cfg)) != 0) {
		if (r == -EINVAL) {
			seterr(err, errlen, "%s: " ENV_API_KEY ": contains a "
			    "space or control character", name);
			r = -1;
		} else
			nomem(&p);
	}
	if (r != 0) {
		config_free(cfg);
		return r == -ENOMEM ? r : -1;
	}
	return 0;
}

/* Reads at most CFG_MAX_FILE + 1 bytes, so "too large" needs no fstat. */
static int
read_file(const char *path, char **out, size_t *outlen, char *err,
    size_t errlen, mode_t *mode)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	*mode = st.st_mode;
	if ((buf = malloc(CFG_MAX_FILE + 1)) == NULL)
		goto fail;
	while (len <= CFG_MAX_FILE) {
		n = read(fd, buf + len, CFG_MAX_FILE + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > CFG_MAX_FILE) {
		free(buf);
		seterr(err, errlen, "%s: file is too large (more than 1 MiB)",
		    path);
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
fail:
	e = errno;
	free(buf);
	if (fd != -1)
		close(fd);
	seterr(err, errlen, "%s: %s", path, strerror(e));
	return e == ENOMEM ? -ENOMEM : -1;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	mode_t mode = 0;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if ((r = read_file(path, &buf, &len, err, errlen, &mode)) != 0)
		return r;
	r = config_load_buf(cfg, path, buf, len, err, errlen);
	explicit_bzero(buf, len);	/* it may hold the API key */
	free(buf);
	if (r == 0 && cfg->api_key != NULL && !cfg->api_key_from_env &&
	    (mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warnx("%s: holds api.key but is readable by others (mode "
		    "%03o); chmod 600 it", path, (unsigned)(mode & 0777));
	return r;
}

/* --- summary ------------------------------------------------------------ */

static const char *
yesno(int v)
{
	return v ? "yes" : "no";
}

static void
summary_selectors(const struct config *cfg)
{
	char list[1024], t[32];
	size_t i, o = 0;
	int n;

	list[0] = '\0';
	for (i = 0; i < cfg->n_selectors; i++) {
		n = snprintf(list + o, sizeof(list) - o, "%s\"%s\"",
		    i > 0 ? ", " : "", cfg->selectors[i]);
		if (n < 0 || (size_t)n >= sizeof(list) - o) {
			snprintf(list + (sizeof(list) - 5), 5, "...");
			break;
		}
		o += (size_t)n;
	}
	log_info("config: bound_endpoints: poll_interval %s, selectors [%s]",
	    fmt_ms(t, sizeof(t), cfg->poll_interval_ms), list);
}

static const char *
fmt_upstream(char *buf, size_t cap, const struct config *cfg)
{
	uint32_t a = cfg->dns_upstream_addr;

	if (a == 0)
		return "none";
	snprintf(buf, cap, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 0xff,
	    (a >> 8) & 0xff, a & 0xff, cfg->dns_upstream_port);
	return buf;
}

void
config_log_summary(const struct config *cfg)
{
	char t[4][32], up[32];
	struct in_addr in;
	char sub[INET_ADDRSTRLEN];

	log_info("config: file %s", cfg->path != NULL ? cfg->path :
	    "(built-in defaults)");
	log_info("config: api: url %s, key %s, ingressEndpoint %s",
	    cfg->api_url, cfg->api_key == NULL ? "(not set)" :
	    cfg->api_key_from_env ? "(from " ENV_API_KEY ")" : "(set)",
	    cfg->ingress_endpoint);
	log_info("config: server: log_level %s, log_format %s, syslog %s, "
	    "socket_path %s, socket_group %s, admin_group %s, state_dir %s, "
	    "hosts_file %s, client_cert %s, client_key %s",
	    log_level_name((enum log_level)cfg->log_level),
	    cfg->log_format == LOG_FMT_JSON ? "json" : "text",
	    yesno(cfg->log_syslog), cfg->socket_path, cfg->socket_group,
	    cfg->admin_group != NULL ? cfg->admin_group : "(root only)",
	    cfg->state_dir, cfg->hosts_file, cfg->client_cert, cfg->client_key);
	summary_selectors(cfg);
	in.s_addr = htonl(cfg->subnet_addr);
	inet_ntop(AF_INET, &in, sub, sizeof(sub));
	log_info("config: net: mode %s, interface_name %s, subnet %s/%u, "
	    "listen_interface %s, start_port %u, overrides %zu, mtu %u, "
	    "offload %s",
	    config_net_mode_name(cfg->mode), cfg->interface_name, sub,
	    cfg->subnet_prefix, cfg->listen_interface, cfg->start_port,
	    cfg->n_overrides, cfg->mtu, yesno(cfg->offload));
	log_info("config: tls: ca_file %s, insecure_skip_verify %s, "
	    "session_resumption %s, pool_size %u",
	    cfg->ca_file != NULL ? cfg->ca_file : "(system roots)",
	    yesno(cfg->insecure_skip_verify), yesno(cfg->session_resumption),
	    cfg->pool_size);
	log_info("config: limits: max_streams %u, stream_buffer %u",
	    cfg->max_streams, cfg->stream_buffer);
	log_info("config: timeouts: connect %s, handshake %s, header %s, "
	    "idle %s", fmt_ms(t[0], sizeof(t[0]), cfg->connect_timeout_ms),
	    fmt_ms(t[1], sizeof(t[1]), cfg->handshake_timeout_ms),
	    fmt_ms(t[2], sizeof(t[2]), cfg->header_timeout_ms),
	    cfg->idle_timeout_ms == 0 ? "none" :
	    fmt_ms(t[3], sizeof(t[3]), cfg->idle_timeout_ms));
	log_info("config: health: enabled %s, address %s, port %u",
	    yesno(cfg->health_enabled), cfg->health_address, cfg->health_port);
	log_info("config: dns: enabled %s, tcp %s, ttl %s, wildcard_names %u, "
	    "listen_gateway %s, upstream %s", yesno(cfg->dns_enabled),
	    yesno(cfg->dns_tcp), fmt_ms(t[0], sizeof(t[0]), cfg->dns_ttl_ms),
	    cfg->dns_wildcard_names, yesno(cfg->dns_listen_gateway),
	    fmt_upstream(up, sizeof(up), cfg));
	snprintf(t[0], sizeof(t[0]), "%zu", cfg->n_dns_domains);
	log_info("config: dns: register %s, domains %s; server.manage_hosts %s",
	    yesno(cfg->dns_register), cfg->n_dns_domains ? t[0] :
	    "(from the endpoints)", yesno(cfg->manage_hosts));
	if (cfg->insecure_skip_verify)
		log_warnx("config: tls.insecure_skip_verify is on: the ingress "
		    "certificate is NOT verified");
}
