/*
 * control.h: the Unix control socket (server side) and socket activation.
 *
 * Protocol (compatible with the original ngrokd): one JSON object per line,
 *   request  {"command": "status", "args": []}          ("args" optional)
 *   reply    {"success": true,  "data": {...}, "protocol": 1}
 *            {"success": false, "error": "...", "protocol": 1}
 * followed by a newline.  Several requests may follow each other on one
 * connection; replies come back in order.
 *
 * Commands, and who may run them (decided from the kernel's peer
 * credentials, never from the request):
 *   status, list, health, version      root and members of params.group
 *   set-api-key KEY, refresh-cert,     root and members of params.admin_group
 *   deregister                         (root only when admin_group is NULL)
 * The socket file is group `group`, mode 0660, so admin_group members must
 * also be in `group` to reach it at all (the installer adds them).
 * Membership comes from SO_PEERGROUPS on Linux (no lookup); on macOS from
 * getgrouplist, once per connection.
 * Refused and privileged requests leave an "audit:" log line (uid, gid,
 * pid, command, outcome); the API key is never logged or echoed.
 *
 * Everything runs on the loop's thread, handlers included: a handler must not
 * block (start work and return; report progress through status).
 */
#ifndef NGROKD_CONTROL_H
#define NGROKD_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "daemon/loop.h"

#define CTL_PROTOCOL		1
#define CTL_DEFAULT_SOCKET	"/var/run/ngrokd.sock"
#define CTL_DEFAULT_GROUP	"ngrokd"
#define CTL_MAX_REQUEST		65536	/* bytes in one request line */

typedef struct ctl ctl_t;

/*
 * Handlers the daemon plugs in.  Each returns 0, or -errno with a message in
 * err (NUL-terminated, at most errlen bytes; left empty, strerror is used).
 * `data` is an empty cJSON object owned by the caller: add fields to it, do
 * not free it.  A NULL handler answers "not supported by this daemon".
 *
 * Field names the reply data carries (ngrokctl shows them, scripts parse them):
 *   status: registered (bool), operator_id, ingress_endpoint, api_healthy
 *           (bool), api_last_error, mode ("tun"|"loopback"), device,
 *           endpoints (number), uptime_s (number), version; with DNS:
 *           dns_queries, dns_answered, dns_nodata, dns_refused,
 *           dns_servfail, dns_errors,
 *           and with dns.upstream dns_forwarded, dns_upstream_failures
 *   list:   "endpoints": [{id, hostname, address, port, proto, url,
 *           streams_active, streams_total, bytes_in, bytes_out, errors}]
 *   health: live (bool), ready (bool), reason (string, when not ready)
 * `version` is answered by the control module itself.
 */
struct ctl_handlers {
	int	(*status)(void *arg, cJSON *data, char *err, size_t errlen);
	int	(*list)(void *arg, cJSON *data, char *err, size_t errlen);
	int	(*health)(void *arg, cJSON *data, char *err, size_t errlen);
	/* key: validated (1..CTL_MAX_KEY printable, no spaces); wiped after. */
	int	(*set_api_key)(void *arg, const char *key, char *err,
		    size_t errlen);
	int	(*refresh_cert)(void *arg, char *err, size_t errlen);
	int	(*deregister)(void *arg, char *err, size_t errlen);
	void	*arg;
};

#define CTL_MAX_KEY		512

/* Zero / NULL fields take the default shown. */
struct ctl_params {
	const char	*socket_path;	/* CTL_DEFAULT_SOCKET */
	const char	*group;		/* read access; NULL or missing: root only */
	const char	*admin_group;	/* privileged commands; NULL: root only */
	int		 listen_fd;	/* -1 or 0: create socket_path; else a
					 * listening socket (ctl_activation_fd),
					 * taken over on success: ctl_free closes
					 * it and never unlinks anything */
	mode_t		 socket_mode;	/* 0660 (0600 when the group is missing) */
	unsigned	 max_clients;	/* 128 */
	unsigned	 max_per_uid;	/* 16 connections per non-root uid */
	size_t		 max_reply;	/* 4 MiB queued per client, then dropped */
	uint32_t	 idle_ms;	/* 10000: no complete request for that long */
	uint32_t	 rate;		/* 20 requests/s per uid ... */
	uint32_t	 burst;		/* ... with bursts of 40 */
};

/*
 * Creates (or takes over) the socket and starts serving on loop.  A stale
 * socket file is replaced; a live one (another daemon answering) fails with
 * EADDRINUSE, anything that is not a socket with EEXIST.  Returns NULL with
 * errno set, and logs why.  `params` and `h` are copied.
 */
ctl_t	*ctl_new(loop_t *loop, const struct ctl_params *params,
	    const struct ctl_handlers *h);
/* Closes every client and the socket; removes the socket file it created. */
void	 ctl_free(ctl_t *ctl);
/* Connected clients (tests, status). */
size_t	 ctl_nclients(const ctl_t *ctl);

/*
 * The listening socket passed by the service manager: systemd's
 * LISTEN_FDS/LISTEN_PID (the first AF_UNIX stream listener, or the one named
 * "control" in LISTEN_FDNAMES), launchd's "Listeners" socket on macOS.
 * Returns the fd (non-blocking, close-on-exec) or -1 when none was passed.
 * Clears the LISTEN_* variables so that children do not inherit them.
 */
int	 ctl_activation_fd(void);

#endif
