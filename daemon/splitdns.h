/*
 * splitdns.h: registers the DNS responder with systemd-resolved for the
 * managed domains only (per-link DNS server and routing domains on the TUN
 * device), through resolvectl run without a shell.  docs/dns.md has the
 * manual steps for hosts without resolved and for macOS.
 *
 * resolved forgets a link's settings when the link goes away, so a crash
 * (the TUN device vanishes with the process) leaves nothing behind; a clean
 * exit reverts explicitly.  Each call runs resolvectl and waits for it
 * (bounded by timeout_ms): call at start-up, on reload and at exit, not on
 * the data path.
 */
#ifndef NGROKD_SPLITDNS_H
#define NGROKD_SPLITDNS_H

#include <stddef.h>
#include <stdint.h>

#define SPLITDNS_MAX_DOMAINS	1024

struct splitdns_params {
	const char		*ifname;	/* the TUN device */
	uint32_t		 server;	/* host order: the responder */
	/* Names to route to the server: a domain ("apps.example"), an
	 * endpoint host ("my-api.ngrok.app"), or a wildcard host
	 * ("*.apps.example", routed as "apps.example").  LDH labels only. */
	const char *const	*domains;
	size_t			 n_domains;
	unsigned		 timeout_ms;	/* per resolvectl run; 0: 5000 */
};

/*
 * Sets the link's DNS server and routing-only domains (~domain), and turns
 * its default route off so no other query goes to ngrokd.  0, or -EINVAL
 * (a bad name: nothing was run), -ENOENT (no resolvectl), -EIO (resolvectl
 * failed: resolved not running?), -ETIMEDOUT, -errno.  Failures are logged
 * with what to do instead.
 */
int	splitdns_apply(const struct splitdns_params *p);

/* Drops everything the link was given (resolvectl revert).  Same returns. */
int	splitdns_revert(const char *ifname, unsigned timeout_ms);

#endif
