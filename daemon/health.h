/*
 * health.h: the optional HTTP/1.1 listener for probes and scrapes
 * (/healthz, /readyz, /status, /metrics) on the daemon's loop.
 *
 * Deliberately minimal: GET and HEAD only, one request per connection
 * (every answer carries "Connection: close"), request line and headers at
 * most HEALTH_MAX_REQUEST bytes, no request bodies, a bounded number of
 * clients, each with a deadline.  It is meant for a loopback address; a
 * start on any other address logs a warning.
 *
 * Everything runs on the loop thread, handlers included: a handler must
 * not block.
 */
#ifndef NGROKD_HEALTH_H
#define NGROKD_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "daemon/loop.h"
#include "daemon/metrics.h"

#define HEALTH_MAX_REQUEST	8192	/* request line + headers */
#define HEALTH_MAX_CLIENTS	32
#define HEALTH_TIMEOUT_MS	5000	/* accept to last byte written */
#define HEALTH_REASON_LEN	256

typedef struct health health_t;

struct health_handlers {
	/* /readyz: returns 1 when ready, 0 when not, with a one-line reason
	 * written into reason (NUL-terminated, at most len bytes).
	 * NULL: /readyz answers 404. */
	int	(*ready)(void *arg, char *reason, size_t len);
	/* /status: adds the control socket's status and list data to obj
	 * (owned by the caller).  0, or -errno: a 500 answer.
	 * NULL: /status answers 404. */
	int	(*status)(void *arg, cJSON *obj);
	/* /metrics: fills snap, which the caller initialised and frees
	 * (metrics_snapshot_free).  0, or -errno: a 500 answer.
	 * NULL: /metrics answers 404. */
	int	(*metrics)(void *arg, struct metrics_snapshot *snap);
	void	 *arg;
};

/*
 * Listens on addr (a numeric IPv4 or IPv6 address; "localhost" means
 * 127.0.0.1) at port (0: an ephemeral port, see health_port).  h is copied.
 * NULL + errno (EINVAL: addr is not numeric; EADDRINUSE ...), reason logged.
 */
health_t *health_new(loop_t *loop, const char *addr, uint16_t port,
	    const struct health_handlers *h);
/* Closes the listener and every client; NULL ok. */
void	 health_free(health_t *hs);
/* The port actually bound (after port 0). */
uint16_t health_port(const health_t *hs);
/* Overrides HEALTH_MAX_CLIENTS and HEALTH_TIMEOUT_MS (0: keep) for clients
 * accepted from now on (tests). */
void	 health_set_limits(health_t *hs, unsigned max_clients,
	    uint32_t timeout_ms);

/*
 * The request parser, exposed for tests and the fuzz target.
 *
 * Parses buf[0..len) (not NUL-terminated) as the start of one request.
 * Returns 0 while more bytes may make it valid, HEALTH_PARSE_OK when the
 * request line and headers are complete and well-formed (req filled in),
 * or the HTTP status to answer with: 400 (malformed), 405 (a method other
 * than GET or HEAD), 431 (HEALTH_MAX_REQUEST bytes without the end of the
 * headers, or too many header lines), 505 (not HTTP/1.x).  Errors are
 * reported as soon as the bytes so far show them.
 */
#define HEALTH_PARSE_OK		1
#define HEALTH_PATH_MAX		128

struct health_request {
	int		 head;			/* HEAD rather than GET */
	int		 http10;		/* HTTP/1.0 */
	char		 path[HEALTH_PATH_MAX];	/* the query string removed */
	int		 path_too_long;		/* path was cut: answer 404 */
	size_t		 consumed;		/* bytes up to the blank line */
};

int	 health_parse_request(const char *buf, size_t len,
	    struct health_request *req);

#endif
