/*
 * splitdns_linux.c: Linux registers the managed domains with
 * systemd-resolved (per-link DNS and routing domains on the TUN device).
 * Hosts without resolved get the manual steps in the log (docs/dns.md).
 */
#include <stddef.h>

#include "daemon/splitdns.h"

void
splitdns_os_backend(struct splitdns_backend *b)
{
	b->kind = SPLITDNS_RESOLVED;
	b->dir = NULL;
}
