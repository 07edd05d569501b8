/*
 * tunnel.h: the back of every stream: a wolfSSL mTLS session to ngrok's
 * binding ingress, the binding header (ConnRequest / ConnResponse), then a
 * byte pipe with flow control in both directions.
 *
 * Runs on the loop thread; nothing blocks it: the ingress host name is
 * resolved by a helper thread (getaddrinfo) and cached, connects and
 * handshakes are non-blocking, every phase has a timeout.
 */
#ifndef NGROKD_TUNNEL_H
#define NGROKD_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/loop.h"
#include "daemon/metrics_hist.h"
#include "daemon/stream.h"

typedef struct tunnel tunnel_t;

struct tunnel_params {
	const char	*ingress;		/* "host:port" */
	const char	*client_cert;		/* PEM file */
	const char	*client_key;		/* PEM file */
	const char	*ca_file;		/* extra CA (PEM), NULL: none */
	int		 insecure_skip_verify;	/* logs a warning */
	int		 session_resumption;	/* TLS 1.3 tickets */
	uint32_t	 stream_buffer;		/* bytes per direction */
	uint32_t	 connect_timeout_ms;
	uint32_t	 handshake_timeout_ms;
	uint32_t	 header_timeout_ms;
	uint32_t	 idle_timeout_ms;	/* 0: none */
	uint32_t	 pool_size;		/* ready connections kept (0: none) */
};

/* Copies what it needs from p.  NULL + errno, reason logged. */
tunnel_t *tunnel_new(loop_t *loop, const struct tunnel_params *p);
/* Aborts every session and frees t (NULL ok). */
void	 tunnel_free(tunnel_t *t);

/*
 * Opens the back of s: connect, mTLS handshake, ConnRequest{host, port},
 * then piping.  Counters go to stats (may be NULL; must outlive s: the
 * daemon keeps the endpoint referenced through s->endpoint).  endpoint_id
 * names the endpoint in log lines.  Returns 0 with the back attached, or
 * -errno (nothing attached; the caller resets the front).
 */
int	 tunnel_open(tunnel_t *t, stream_t *s, const char *host, uint16_t port,
	    const char *endpoint_id, struct endpoint_stats *stats);

/* Reloads the client certificate and key for new sessions (live sessions
 * keep theirs).  0 or -errno, reason logged. */
int	 tunnel_reload_cert(tunnel_t *t, const char *cert, const char *key);
/* Points new sessions at another ingress ("host:port"). */
int	 tunnel_set_ingress(tunnel_t *t, const char *ingress);

struct tunnel_stats {
	uint64_t	sessions_active, sessions_total;
	uint64_t	handshakes_full, handshakes_resumed;
	/* Thread CPU time spent inside the TLS handshake, by kind. */
	uint64_t	handshake_cpu_ns_full, handshake_cpu_ns_resumed;
	/* Latency: connect start -> handshake done; ConnRequest -> reply. */
	struct metrics_hist handshake_seconds, header_seconds;
	uint64_t	errors;
};
void	 tunnel_get_stats(const tunnel_t *t, struct tunnel_stats *st);

#endif
