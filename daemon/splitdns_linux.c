/*
 * splitdns_linux.c: Linux registers the managed domains with
 * systemd-resolved (per-link DNS and routing domains on the TUN device).
 * Hosts without resolved get the manual steps in the log (docs/dns.md).
 */
#include <spawn.h>
#include <stddef.h>

#include "daemon/splitdns.h"

void
splitdns_os_backend(struct splitdns_backend *b)
{
	b->kind = SPLITDNS_RESOLVED;
	b->dir = NULL;
}

int
splitdns_os_spawn_closefds(void *file_actions, void *attr)
{
	(void)attr;
	return posix_spawn_file_actions_addclosefrom_np(file_actions, 3);
}
