/* ctl_priv.h: shared by the control module's files only (not public). */
#ifndef NGROKD_CTL_PRIV_H
#define NGROKD_CTL_PRIV_H

#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#define CTL_PEER_MAX_GROUPS	64

/* Who is on the other end of a connected Unix socket, as the kernel says. */
struct ctl_peer {
	uid_t	uid;
	gid_t	gid;
	pid_t	pid;		/* -1 when the OS does not tell */
	int	ngroups;	/* supplementary groups known; -1: ask getgrouplist */
	gid_t	groups[CTL_PEER_MAX_GROUPS];
};

/* Per-OS (ctl_os_linux.c / ctl_os_darwin.c).  0 or -errno. */
int	ctl_os_peer(int fd, struct ctl_peer *p);
/* launchd's socket on macOS; -1 elsewhere or when there is none. */
int	ctl_os_launchd_fd(void);

struct ctl_handlers;

/* What a connection may do, decided once at accept from ctl_peer. */
struct ctl_caller {
	const struct ctl_peer	*peer;
	int			 can_read;
	int			 can_admin;
	const char		*group;		/* for messages; NULL: none */
	const char		*admin_group;
};

/*
 * ctl_cmd.c: runs one request line (without its newline) and returns the
 * reply object (caller frees with cJSON_Delete); NULL only when out of
 * memory.  The line is wiped before returning (it may hold the API key).
 */
cJSON	*ctl_cmd_run(const struct ctl_handlers *h, const struct ctl_caller *c,
	    char *line, size_t len);
/* {"success": false, "error": msg, "protocol": 1}, or NULL. */
cJSON	*ctl_reply_error(const char *msg);
/* memset that the compiler may not drop. */
void	 ctl_wipe(void *p, size_t n);
#endif
