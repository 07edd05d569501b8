/*
 * config.h: the YAML configuration (libyaml), schema of the original ngrokd
 * plus what this design needs.  docs/ngrokd.yml.5 documents every key.
 *
 * A config is a plain value: config_load fills a fresh struct, SIGHUP loads
 * a second one and the daemon applies the difference.  Every string is owned
 * by the struct and freed by config_free.
 */
#ifndef NGROKD_CONFIG_H
#define NGROKD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_SELECTORS	32
#define CFG_MAX_OVERRIDES	256
#define CFG_MAX_GROUPS		16
#define CFG_ERR_LEN		512
#define CFG_MAX_DNS_DOMAINS	256

enum net_mode {
	NET_MODE_AUTO = 0,	/* TUN, else loopback fallback */
	NET_MODE_TUN,		/* TUN or fail */
	NET_MODE_LOOPBACK,	/* kernel listeners on 127.0.0.x */
};

struct cfg_override {
	char		*host;		/* endpoint host name */
	uint16_t	 port;		/* listen port pinned for it */
};

struct config {
	char		*path;		/* file it came from (NULL: defaults) */

	/* api */
	char		*api_url;	/* https://api.ngrok.com */
	char		*api_key;	/* secret: never logged; NGROK_API_KEY wins when set and file has none */
	int		 api_key_from_env;

	char		*ingress_endpoint; /* host:port, kubernetes-binding-ingress.ngrok.io:443 */

	/* server */
	int		 log_level;	/* enum log_level, info */
	int		 log_format;	/* enum log_format, text */
	int		 log_syslog;	/* server.syslog: also log to syslog (0) */
	char		*socket_path;	/* /var/run/ngrokd.sock */
	char		*socket_group;	/* ngrokd: group that may read status/list */
	char		*admin_group;	/* NULL: root only may set-api-key/deregister */
	char		*client_cert;	/* <state_dir>/tls.crt */
	char		*client_key;	/* <state_dir>/tls.key */
	char		*state_dir;	/* /var/lib/ngrokd */
	char		*hosts_file;	/* /etc/hosts */

	/* bound_endpoints */
	uint32_t	 poll_interval_ms;	/* 30 s; integer seconds or "30s"/"5m" */
	char		*selectors[CFG_MAX_SELECTORS];	/* ["true"] */
	size_t		 n_selectors;

	/* net */
	char		*interface_name;	/* ngrokd0 (utunN on macOS) */
	uint32_t	 subnet_addr;		/* host byte order, 10.107.0.0 */
	uint8_t		 subnet_prefix;		/* 16; 8..30 */
	char		*listen_interface;	/* "virtual" (default), "0.0.0.0" or an IPv4 address */
	uint16_t	 start_port;		/* 9080 */
	struct cfg_override overrides[CFG_MAX_OVERRIDES];
	size_t		 n_overrides;
	uint32_t	 mtu;			/* 16040; 576..65535 */
	int		 offload;		/* 1: TSO/checksum offload on the TUN device */
	enum net_mode	 mode;			/* auto */

	/* tls */
	char		*ca_file;		/* extra CA for the ingress (NULL) */
	int		 insecure_skip_verify;	/* 0; 1 logs a warning at every start */
	int		 session_resumption;	/* 1 */
	uint32_t	 pool_size;		/* 0: no pool of ready connections */

	/* limits */
	uint32_t	 max_streams;		/* 4096 */
	uint32_t	 stream_buffer;		/* bytes per direction per stream, 262144 */

	/* timeouts, milliseconds */
	uint32_t	 connect_timeout_ms;	/* 10 s */
	uint32_t	 handshake_timeout_ms;	/* 10 s */
	uint32_t	 header_timeout_ms;	/* 10 s */
	uint32_t	 idle_timeout_ms;	/* 0: none */

	/* health: the HTTP probe and metrics listener */
	int		 health_enabled;	/* 1 */
	char		*health_address;	/* 127.0.0.1; IPv4/IPv6 or "localhost" */
	uint16_t	 health_port;		/* 8081; 0: ephemeral */

	/* dns: the responder inside the stack, at subnet + 2, and at the
	 * gateway (subnet + 1) from kernel sockets */
	int		 dns_enabled;		/* 0 */
	int		 dns_tcp;		/* 1 */
	uint32_t	 dns_ttl_ms;		/* 30 s */
	uint32_t	 dns_wildcard_names;	/* 256: addresses per wildcard */
	int		 dns_listen_gateway;	/* 1 */
	uint32_t	 dns_upstream_addr;	/* host order; 0: none (REFUSED) */
	uint16_t	 dns_upstream_port;	/* 53 */

	/* split DNS registration and the hosts file (daemon/splitdns*.c) */
	int		 dns_register;		/* dns.register: 1 */
	char		*dns_domains[CFG_MAX_DNS_DOMAINS];	/* dns.domains,
					 * normalised; none: from the endpoints */
	size_t		 n_dns_domains;
	int		 manage_hosts;		/* server.manage_hosts: 1 */

	/* pcap (command line only, kept here so the daemon has one struct) */
	char		*pcap_file;
	uint64_t	 pcap_max_bytes;	/* 0: unlimited */
};

/* Fills cfg with the defaults.  0, or -ENOMEM. */
int	config_defaults(struct config *cfg);

/*
 * Loads path over the defaults into cfg (which must be uninitialised or
 * freed).  On error returns -1 and writes "FILE:LINE:COL: what is wrong"
 * (or "FILE: what") into err; cfg is then freed.
 */
int	config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Same, from a buffer; name is used in messages. */
int	config_load_buf(struct config *cfg, const char *name, const char *buf,
	    size_t len, char *err, size_t errlen);

void	config_free(struct config *cfg);

/* Logs a one-screen summary at info level; secrets are shown as "(set)". */
void	config_log_summary(const struct config *cfg);

/* Parses "10.107.0.0/16"; 0 or -1. */
int	config_parse_cidr(const char *s, uint32_t *addr, uint8_t *prefix);
/* Parses dns.upstream, "IP" or "IP:PORT" (IPv4, unicast; port 53 when
 * left out).  0, or -1 with *why saying what is wrong ("is not an IPv4
 * address", "has a port outside 1..65535", ...). */
int	config_parse_upstream(const char *s, uint32_t *addr, uint16_t *port,
	    const char **why);
/* Parses "30", "30s", "500ms", "5m", "1h" into ms; 0 or -1. */
int	config_parse_duration(const char *s, uint32_t *ms);

const char *config_net_mode_name(enum net_mode mode);

#endif
