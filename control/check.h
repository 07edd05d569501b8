/*
 * check.h (private to control/): `ngrokctl check`, a self-test of the whole
 * path without an application.  It runs in the ngrokctl process, never in
 * the daemon: blocking calls are fine here, each bounded by a deadline.
 *
 * Steps, one output line each ("ok   STEP: detail" or "FAILED STEP: why"):
 *   config       the daemon's YAML configuration loads (for the paths below)
 *   daemon       the control socket answers status: registered, and the
 *                ngrok API answers with the key (the daemon's own view)
 *   certificate  server.client_cert / client_key load, the key matches the
 *                certificate, and it is within its validity dates
 *   ingress      a TLS handshake with the ingress using the client
 *                certificate, verified as the daemon verifies it (system
 *                CAs + tls.ca_file, host name, SNI)
 *   endpoint H:P for each endpoint in `list` (or the one named): a fresh
 *                mTLS connection and a ConnRequest answered ok
 */
#ifndef NGROKD_CONTROL_CHECK_H
#define NGROKD_CONTROL_CHECK_H

#include <stddef.h>
#include <stdio.h>

#define CTL_CHECK_DEFAULT_CONFIG	"/etc/ngrokd/config.yml"

struct ctl_check_opts {
	const char	*socket;	/* NULL: the config's server.socket_path */
	const char	*config;	/* NULL: CTL_CHECK_DEFAULT_CONFIG when it
					 * exists, else the built-in defaults */
	const char	*only;		/* endpoint host name or id; NULL: all */
	int		 timeout_s;	/* per step (and per endpoint), >= 1 */
};

/*
 * Runs every step, printing one line per step to out (flushed as it goes).
 * Returns 0 when every step passed, 1 when one failed.  Needs root to read
 * the client key.  Calls wolfSSL_Init/wolfSSL_Cleanup itself.
 */
int	ctl_check_run(const struct ctl_check_opts *o, FILE *out);

/* The client side of the control socket (control/ctl_client.c). */
/* Sends all of p: 0 or -errno. */
int	ctl_client_send(int fd, const char *p, size_t n);
/* Reads one reply line: malloc'd, NUL-terminated, newline dropped; NULL
 * with why set, and *err the errno of a failed recv (0 otherwise). */
char	*ctl_client_recv_line(int fd, char *why, size_t wlen, int *err);

#endif
