/*
 * daemon.h: the daemon proper: wires tun/, stack/, tunnel/, discovery/ and
 * control/ to the event loop, handles signals and reloads.
 */
#ifndef NGROKD_DAEMON_H
#define NGROKD_DAEMON_H

#include "daemon/config.h"

struct daemon_opts {
	int		 foreground;
	const char	*config_path;		/* for SIGHUP reload (NULL: none) */
	const char	*pcap_file;
	int		 log_level_override;	/* -1: take the config's */
};

/* Runs until SIGTERM/SIGINT.  cfg is borrowed (the daemon keeps its own
 * copy after a reload).  Returns 0 on a clean shutdown, -errno otherwise. */
int	daemon_run(struct config *cfg, const struct daemon_opts *opts);

#endif
