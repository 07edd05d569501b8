/*
 * splitdns_darwin.c: macOS's resolver reads /etc/resolver/<domain>
 * (resolver(5)): one file per managed domain, written and removed by
 * splitdns_files.c.  `scutil --dns` lists them.
 */
#include <stddef.h>

#include "daemon/splitdns.h"

void
splitdns_os_backend(struct splitdns_backend *b)
{
	b->kind = SPLITDNS_FILES;
	b->dir = "/etc/resolver";
}
