/*
 * discovery.h: the endpoint table, and (later) the ngrok API client that
 * fills it: certificate provisioning, bound-endpoint polling, stable address
 * allocation, the /etc/hosts block and persisted state.
 *
 * The endpoint table is what the data path reads: (address, port) ->
 * endpoint.  It lives on the loop thread.  Endpoints are reference counted:
 * a stream holds a reference for its lifetime, so an endpoint removed from
 * the table while streams use it stays valid until the last one ends.
 */
#ifndef NGROKD_DISCOVERY_H
#define NGROKD_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/stream.h"	/* struct endpoint_stats */


struct endpoint {
	char		*id;		/* ngrok endpoint id, "ep_..." */
	char		*hostname;	/* bare host name, sent in ConnRequest */
	char		*proto;		/* "http", "https", "tcp", "tls" */
	char		*url;
	uint16_t	 port;
	uint32_t	 addr;		/* host byte order */
	int		 in_table;	/* 0 once removed */
	unsigned	 refs;
	struct endpoint_stats stats;
	/* A name under a wildcard endpoint that DNS gave an address of its
	 * own (docs/dns.md): the wildcard endpoint (referenced), whose id,
	 * proto and url this one carries and whose stats count its streams.
	 * NULL for the endpoints discovery polled. */
	struct endpoint	*parent;
};

typedef struct eptable eptable_t;

eptable_t	*eptable_new(void);		/* NULL + errno */
void		 eptable_free(eptable_t *t);	/* drops the table's references */

/* Adds a copy of the strings as a new endpoint at (addr, port); returns it
 * (owned by the table) or NULL + errno (EEXIST when (addr, port) is taken,
 * ENOMEM). */
struct endpoint	*eptable_add(eptable_t *t, const char *id, const char *hostname,
		    const char *proto, const char *url, uint32_t addr, uint16_t port);
/* Adds an endpoint for hostname at (addr, parent->port) derived from the
 * wildcard endpoint parent: same id, proto and url, streams counted on
 * parent's stats; it holds a reference to parent.  NULL + errno as
 * eptable_add. */
struct endpoint	*eptable_add_derived(eptable_t *t, struct endpoint *parent,
		    const char *hostname, uint32_t addr);
/* Removes e from the table and drops the table's reference. */
void		 eptable_remove(eptable_t *t, struct endpoint *e);
/* The endpoint at (addr, port), or NULL.  Borrowed: take a reference to
 * keep it. */
struct endpoint	*eptable_lookup(const eptable_t *t, uint32_t addr, uint16_t port);
/* Is any endpoint at addr (any port)?  For ICMP echo. */
int		 eptable_has_addr(const eptable_t *t, uint32_t addr);
struct endpoint	*eptable_find_id(const eptable_t *t, const char *id);
size_t		 eptable_count(const eptable_t *t);	/* derived ones too */
size_t		 eptable_count_derived(const eptable_t *t);
/* Calls fn for each endpoint in the table (do not add or remove inside). */
void		 eptable_foreach(const eptable_t *t,
		    void (*fn)(struct endpoint *e, void *arg), void *arg);

void		 endpoint_ref(struct endpoint *e);
void		 endpoint_unref(struct endpoint *e);	/* frees at zero */
/* void * form of endpoint_unref for stream_t.endpoint_release. */
void		 endpoint_release(void *e);
/* The counters a stream on e updates: its wildcard's for a derived
 * endpoint, else its own. */
struct endpoint_stats *endpoint_stats(struct endpoint *e);

/*
 * The discovery client (disc_*): provisioning, polling bound endpoints,
 * stable addresses, the hosts-file block and persisted state.
 *
 * Threads: the HTTP work (libcurl easy interface), address allocation and
 * the file writes (hosts file, state, credentials) run on one worker thread
 * of disc_t; each polled endpoint set is handed to the loop thread through
 * an eventfd, and only there is the endpoint table changed (reconcile).
 * Every disc_* function below is called on the loop thread.
 */
struct loop;
struct config;

typedef struct disc disc_t;

struct disc_hooks {
	/* After a reconcile that added or removed endpoints (loop thread). */
	void	(*changed)(void *arg);
	void	 *arg;
};

#define DISC_ERR_LEN	256

struct disc_status {
	int		 key_set;	/* an API key is configured */
	int		 key_rejected;	/* the API answered 401/403 */
	int		 registered;	/* operator id and certificate on disk */
	int		 api_ok;	/* the last API request succeeded */
	int		 hosts_ok;	/* the last hosts-file write succeeded */
	char		 operator_id[129];
	char		 ingress_endpoint[300];	/* host:port in use */
	char		 last_error[DISC_ERR_LEN];	/* "" when none */
	char		 hosts_error[DISC_ERR_LEN];
	long long	 last_poll_ok;	/* unix seconds, 0: never */
	long long	 cert_not_after;	/* unix seconds, 0: unknown */
	size_t		 endpoints;	/* in the table (derived ones not counted) */
	size_t		 wildcard_names;	/* names with an address under wildcards */
	unsigned	 consecutive_failures;
};

/*
 * A client for cfg (the values it needs are copied: cfg may be freed after)
 * that fills table.  Reads the persisted state and the stored API key; does
 * no network work until disc_start.  NULL + errno.
 */
disc_t	*disc_new(struct loop *loop, const struct config *cfg, eptable_t *table,
	    const struct disc_hooks *hooks);
/* Addresses come from 127.0.0.2 upward instead of net.subnet (the loopback
 * fallback front); call before disc_start.  0 or -errno. */
int	 disc_set_loopback(disc_t *d, int on);
/* Starts the worker: provisioning if needed, then a poll every
 * bound_endpoints.poll_interval.  0 or -errno. */
int	 disc_start(disc_t *d);
/* Stops the worker (waits for an HTTP request in flight, bounded by the
 * timeouts) and frees d.  The table keeps its endpoints. */
void	 disc_free(disc_t *d);
/* Stops the worker, abandoning an API request in flight; idempotent.
 * Call before disc_hosts_cleanup so that no late poll rewrites the block. */
void	 disc_stop(disc_t *d);
/* Removes the managed block from the hosts file (clean shutdown). */
int	 disc_hosts_cleanup(disc_t *d);
/* Stores key (0600, <state_dir>/api_key) and polls/provisions now.  The key
 * is never logged.  0, -EINVAL (empty, too long, whitespace), -errno. */
int	 disc_set_api_key(disc_t *d, const char *key);
/* Polls now instead of at the next interval.  0 or -errno. */
int	 disc_refresh(disc_t *d);
/* A snapshot of the status; no secrets in it. */
void	 disc_get_status(disc_t *d, struct disc_status *st);
/* Where the client certificate and key are (for the tunnel), and the ingress
 * endpoint to use: valid until disc_free; the files may be replaced
 * (renewal), so read them when connecting. */
const char *disc_cert_path(const disc_t *d);
const char *disc_key_path(const disc_t *d);
/*
 * DNS for name under the wildcard endpoint w (the most specific wildcard
 * in the table that covers it; name lower case, no final dot).  Gives name
 * an address of its own on first use (stable, persisted in state.json
 * asynchronously, released when the wildcard disappears) and makes sure
 * the table holds a derived endpoint for name at that address on each of
 * the wildcard's ports.  Loop thread; does not block: an in-memory
 * allocation under a lock the worker holds only for in-memory work.
 * 1 + *addr; 0 when name gets no address (the wildcard has
 * dns.wildcard_names names already, the subnet is full: logged once).
 */
int	 disc_wildcard_addr(disc_t *d, const struct endpoint *w, const char *name,
	    uint32_t *addr);
/*
 * Deletes the operator in the API (DELETE /kubernetes_operators/{id}) and
 * the local credentials and state; runs on the worker and reports through
 * disc_get_status.  0 or -errno (queued).
 */
int	 disc_deregister(disc_t *d);

#endif
