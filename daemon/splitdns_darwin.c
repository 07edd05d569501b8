/*
 * splitdns_darwin.c: macOS's resolver reads /etc/resolver/<domain>
 * (resolver(5)): one file per managed domain, written and removed by
 * splitdns_files.c.  `scutil --dns` lists them.
 */
#include <spawn.h>
#include <stddef.h>

#include "daemon/splitdns.h"

void
splitdns_os_backend(struct splitdns_backend *b)
{
	b->kind = SPLITDNS_FILES;
	b->dir = "/etc/resolver";
}

/* Apple's extension: only descriptors the file actions name are kept. */
int
splitdns_os_spawn_closefds(void *file_actions, void *attr)
{
	(void)file_actions;
	return posix_spawnattr_setflags(attr, POSIX_SPAWN_CLOEXEC_DEFAULT);
}
