/*
 * splitdns.h: routes the managed domains (and only those) to the DNS
 * responder inside the stack (docs/dns.md, "Split DNS registration").
 *
 * Three layers:
 *  - splitdns_apply / splitdns_revert (splitdns.c): systemd-resolved's
 *    per-link DNS server and routing domains on the TUN device, through
 *    resolvectl run without a shell.  Each call waits for resolvectl
 *    (bounded by timeout_ms).
 *  - splitdns_files_* (splitdns_files.c): macOS-style resolver files,
 *    <dir>/<domain>, marked as ngrokd's; the directory is a parameter so
 *    tests use a temporary one.
 *  - splitdns_t (splitdns_reg.c): what the daemon uses.  It owns a worker
 *    thread that runs the backend, so the loop thread (and with it the data
 *    path) never waits for resolvectl; it keeps a record of what was
 *    registered in the state dir, so a crash is cleaned up at the next
 *    start (splitdns_cleanup).
 *
 * Which backend an OS uses is splitdns_os_backend (splitdns_linux.c,
 * splitdns_darwin.c).
 */
#ifndef NGROKD_SPLITDNS_H
#define NGROKD_SPLITDNS_H

#include <stddef.h>
#include <stdint.h>

#define SPLITDNS_MAX_DOMAINS	1024
#define SPLITDNS_MAX_NAME	253
#define SPLITDNS_ERR_LEN	512
/* The environment variable naming a resolvectl to run instead of the
 * system's (tests); splitdns.c says when it is honoured. */
#define SPLITDNS_ENV_RESOLVECTL	"NGROKD_RESOLVECTL"
/* First line of every resolver file ngrokd writes; only files starting
 * with it are ever replaced or removed. */
#define SPLITDNS_FILE_MARKER	"# ngrokd managed: written by ngrokd, removed when it stops"
/* The record of the registration in the state dir. */
#define SPLITDNS_RECORD		"splitdns.json"

/* --- names ---------------------------------------------------------------- */

/*
 * The routing domain for a host or domain name: a leading "*." dropped,
 * lower-cased, into out (cap >= SPLITDNS_MAX_NAME + 1).  0, or -1 when it is
 * not LDH labels (letters, digits, '-' not at either end of a label, '_')
 * of 1..63 bytes, at most 253 in all, without a final dot.
 */
int	splitdns_domain_norm(const char *name, char *out, size_t cap);

/*
 * The set of domains to route for names (endpoint host names, wildcards,
 * or configured domains): normalised, invalid names skipped (counted in
 * *skipped if not NULL), sorted, duplicates and names below another one in
 * the set dropped (a routing domain covers the names below it), at most
 * SPLITDNS_MAX_DOMAINS.  *out is a NULL-terminated array freed with
 * splitdns_domains_free; *nout its length.  0 or -ENOMEM.
 */
int	splitdns_domains(const char *const *names, size_t n, char ***out,
	    size_t *nout, size_t *skipped);
void	splitdns_domains_free(char **v);

/* --- systemd-resolved (splitdns.c) ------------------------------------------ */

struct splitdns_params {
	const char		*ifname;	/* the TUN device */
	uint32_t		 server;	/* host order: the responder */
	/* Names to route to the server: a domain ("apps.example"), an
	 * endpoint host ("my-api.ngrok.app"), or a wildcard host
	 * ("*.apps.example", routed as "apps.example").  LDH labels only. */
	const char *const	*domains;
	size_t			 n_domains;
	unsigned		 timeout_ms;	/* per resolvectl run; 0: 5000 */
	/* What went wrong, one line, when not 0 (may be NULL: then it is
	 * logged instead). */
	char			*err;
	size_t			 errlen;
};

/*
 * Sets the link's DNS server and routing-only domains (~domain), and turns
 * its default route off so no other query goes to ngrokd.  0, or -EINVAL
 * (a bad name: nothing was run), -ENOENT (no resolvectl), -EPERM
 * (NGROKD_RESOLVECTL refused), -EIO (resolvectl failed: resolved not
 * running?), -ETIMEDOUT, -errno.
 */
int	splitdns_apply(const struct splitdns_params *p);

/* Drops everything the link was given (resolvectl revert).  Same returns;
 * err as in splitdns_params (may be NULL). */
int	splitdns_revert(const char *ifname, unsigned timeout_ms, char *err,
	    size_t errlen);

/*
 * Where resolvectl is: $NGROKD_RESOLVECTL when set and safe (else -EPERM,
 * with the reason in err: never the system's one instead), otherwise the
 * first executable resolvectl in the fixed SPLITDNS_RESOLVECTL_DIRS (not
 * $PATH: the daemon runs as root).  0, -ENOENT, -EPERM.
 */
int	splitdns_resolvectl(char *out, size_t cap, char *err, size_t errlen);

/* --- resolver files (splitdns_files.c) ------------------------------------- */

/*
 * Writes <dir>/<domain> ("nameserver A.B.C.D", "port 53", under the marker
 * line) for each domain, atomically, creating dir (0755) if missing.  A
 * file that exists without the marker belongs to someone else: it is left
 * alone and reported.  0, or the first -errno (the other domains are still
 * written); err says which file and why.
 */
int	splitdns_files_apply(const char *dir, uint32_t server,
	    const char *const *domains, size_t n, char *err, size_t errlen);
/* Removes <dir>/<domain> for each domain that carries the marker; a
 * missing file is not an error.  0 or the first -errno. */
int	splitdns_files_remove(const char *dir, const char *const *domains,
	    size_t n, char *err, size_t errlen);
/* Removes every file of dir that carries the marker (the record was lost).
 * The number removed, or -errno. */
int	splitdns_files_sweep(const char *dir);

/* --- the registration (splitdns_reg.c) ------------------------------------- */

enum splitdns_kind {
	SPLITDNS_RESOLVED,	/* systemd-resolved through resolvectl */
	SPLITDNS_FILES,		/* <dir>/<domain> resolver files */
};

struct splitdns_backend {
	enum splitdns_kind	 kind;
	const char		*dir;		/* SPLITDNS_FILES */
};

/* This OS's backend (per-OS file). */
void	splitdns_os_backend(struct splitdns_backend *b);
/* Makes a spawned resolvectl inherit no descriptor beyond 0-2 (another
 * thread may be between socket() and its FD_CLOEXEC).  0 or an errno. */
int	splitdns_os_spawn_closefds(void *file_actions, void *attr);
const char *splitdns_backend_name(const struct splitdns_backend *b);

typedef struct splitdns splitdns_t;

struct splitdns_config {
	struct splitdns_backend	 backend;
	const char		*ifname;	/* the TUN device */
	uint32_t		 server;	/* host order: the responder */
	const char		*state_dir;	/* where the record lives */
	unsigned		 timeout_ms;	/* per backend run; 0: 5000 */
};

/* What `ngrokctl status` shows. */
struct splitdns_status {
	const char	*state;		/* "waiting" (no domains yet), "pending",
					 * "applied", "failed" */
	char		 error[SPLITDNS_ERR_LEN];	/* "" unless failed */
	size_t		 n_domains;	/* in the set last asked for */
};

/*
 * Starts the registration for one link (the strings are copied).  Nothing
 * is registered until splitdns_set_domains.  NULL + errno.
 */
splitdns_t *splitdns_new(const struct splitdns_config *c);
/*
 * Asks for the domains of names (splitdns_domains rules) to be routed;
 * returns at once (loop thread), the worker applies the set when it differs
 * from the last one asked for.  An empty set reverts.  0 or -ENOMEM.
 */
int	splitdns_set_domains(splitdns_t *s, const char *const *names, size_t n);
/* Applies the current set again (the link was recreated: resolved forgot
 * it). */
void	splitdns_reapply(splitdns_t *s);
/* Waits until the worker has handled everything asked so far, at most
 * timeout_ms.  0 or -ETIMEDOUT.  For tests. */
int	splitdns_sync(splitdns_t *s, unsigned timeout_ms);
void	splitdns_get_status(splitdns_t *s, struct splitdns_status *st);
/* The domain at i of the set last asked for (loop thread), or NULL. */
const char *splitdns_domain_at(const splitdns_t *s, size_t i);
/* Reverts what was registered (bounded by the timeout), removes the
 * record, stops the worker and frees s. */
void	splitdns_free(splitdns_t *s);

/*
 * At start, before the TUN device is created: undoes what a previous run
 * that did not exit cleanly left, as its record in state_dir says (resolved:
 * revert the link if it still exists; files: remove the marked files it
 * lists, or every marked file when the record is unreadable), then removes
 * the record.  b is this OS's backend (its dir is used, not the record's).
 * 0 when there was nothing to do, 1 when something was cleaned up, -errno.
 */
int	splitdns_cleanup(const struct splitdns_backend *b, const char *state_dir,
	    unsigned timeout_ms);

#endif
