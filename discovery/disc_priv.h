/*
 * disc_priv.h: discovery's internal pieces, shared by the files of the
 * module and by its unit tests (tests/unit/disc_*_test.c).  Not a public
 * header: the rest of ngrokd uses discovery/discovery.h only.
 *
 * Threads: the parser, the allocator, the hosts block and the state file are
 * plain functions over values; disc.c runs them on the API worker thread.
 * Only disc_reconcile() touches the endpoint table, on the loop thread.
 */
#ifndef NGROKD_DISC_PRIV_H
#define NGROKD_DISC_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "discovery/discovery.h"

#define DISC_MAX_BODY		(8u << 20)	/* one API reply */
#define DISC_MAX_PAGES		1000		/* next_page_uri hops per poll */
#define DISC_MAX_ENDPOINTS	65536		/* per poll, all pages */
#define DISC_MAX_ID		128
#define DISC_MAX_HOST		253
#define DISC_MAX_URL		2048
#define DISC_MAX_HOSTS_FILE	(16u << 20)
#define DISC_MAX_STATE_FILE	(16u << 20)

/* --- disc_parse.c: API replies ------------------------------------------ */

/* One bound endpoint as the API described it, validated. */
struct disc_ep {
	char		*id;
	char		*hostname;	/* lower case, may start with "*." */
	char		*proto;		/* http, https, tcp, tls */
	char		*url;
	uint16_t	 port;
	uint32_t	 addr;		/* filled by the allocator */
};

struct disc_eplist {
	struct disc_ep	*v;
	size_t		 n, cap;
};

void	disc_eplist_free(struct disc_eplist *l);	/* frees strings and v */

/*
 * Parses one bound_endpoints page and appends its valid endpoints to out.
 * A bad endpoint is skipped with a log line; a bad page (not JSON, no
 * "endpoints" array, too many endpoints) returns -EINVAL with a reason in
 * err and out unchanged.  *next gets a malloc'd next_page_uri or NULL.
 */
int	disc_parse_page(const char *body, size_t len, struct disc_eplist *out,
	    char **next, char *err, size_t errlen);

/* Sorts by (hostname, port) and merges duplicates (records sharing one URL
 * or one host:port): the first one wins, the others are logged. */
void	disc_eplist_normalize(struct disc_eplist *l);

/* Host name syntax: LDH labels of 1..63, total <= 253, optional leading
 * "*." (wildcard).  1 when valid. */
int	disc_valid_hostname(const char *s);

/* Splits "scheme://host[:port][/...]" and fills host (lower-cased, size
 * hostlen) and *port (0 when absent).  0 or -EINVAL. */
int	disc_parse_url(const char *url, char *scheme, size_t schemelen,
	    char *host, size_t hostlen, uint16_t *port);

/* An ngrok error body ({"error_code":"ERR_NGROK_...","msg":...}) as a plain
 * message into buf; 0 when the body was one, -EINVAL otherwise. */
int	disc_parse_error(const char *body, size_t len, char *buf, size_t buflen);

/* Resolves a next_page_uri against the API base: an absolute http(s) URL
 * must have the base's scheme://host[:port]; a path is joined to it.
 * Returns a malloc'd URL or NULL (+ errno EINVAL) when it points elsewhere. */
char	*disc_resolve_uri(const char *base, const char *uri);

/* --- disc_alloc.c: stable addresses ------------------------------------- */

typedef struct disc_alloc disc_alloc_t;

/* Addresses first..last inclusive, host byte order. */
disc_alloc_t *disc_alloc_new(uint32_t first, uint32_t last);
void	disc_alloc_free(disc_alloc_t *a);
/* How many addresses the range has. */
uint32_t disc_alloc_size(const disc_alloc_t *a);
/* Begins a round: every host not acquired before disc_alloc_end_round is
 * released by it. */
void	disc_alloc_begin_round(disc_alloc_t *a);
/* The address of host (allocating one when needed): 0, or -ENOSPC when the
 * range is exhausted, -ENOMEM. */
int	disc_alloc_acquire(disc_alloc_t *a, const char *host, uint32_t *addr);
/* Releases the hosts not acquired in this round; returns how many. */
size_t	disc_alloc_end_round(disc_alloc_t *a);
/* Restores a persisted mapping (state load); active says whether host held
 * it (1) or had released it (0, appended to the release queue in call
 * order).  -EINVAL when out of range or taken, -ENOMEM. */
int	disc_alloc_restore(disc_alloc_t *a, const char *host, uint32_t addr,
	    int active);
/* The never-used watermark: addresses >= it were never given out. */
uint32_t disc_alloc_next_fresh(const disc_alloc_t *a);
void	disc_alloc_set_next_fresh(disc_alloc_t *a, uint32_t next);
/* Looks up host without allocating: 0 and *addr, or -ENOENT. */
int	disc_alloc_lookup(const disc_alloc_t *a, const char *host, uint32_t *addr);
size_t	disc_alloc_count(const disc_alloc_t *a);	/* active hosts */
/* Calls fn for active hosts, then for released ones oldest first. */
void	disc_alloc_foreach(const disc_alloc_t *a,
	    void (*fn)(const char *host, uint32_t addr, int active, void *arg),
	    void *arg);

/* --- disc_wild.c: addresses for names under wildcard endpoints ------------ */

/*
 * The names DNS gave an address of their own under a wildcard endpoint
 * ("a.apps.example" under "*.apps.example"), at most limit per wildcard.
 * The addresses come from the ordinary allocator (one address per host
 * name), so a name keeps its address, and a concrete endpoint that later
 * appears with the same name takes it over.  Plain values: the caller
 * locks (disc.c: the allocator's lock).
 */
typedef struct disc_wild disc_wild_t;

#define DISC_WILD_NAMES_DEFAULT	256

disc_wild_t *disc_wild_new(unsigned limit);	/* limit 0: the default */
void	disc_wild_free(disc_wild_t *w);
/* Is name (not a wildcard itself) strictly under wildcard "*.suffix"? */
int	disc_wild_covers(const char *wildcard, const char *name);
/*
 * name's address under wildcard: 0 + *addr when it has one (a name first
 * given out under another wildcard moves to this one, the most specific
 * now); 1 + *addr when it was allocated from a just now (persist it);
 * -EDQUOT when wildcard has limit names already, -ENOSPC when a is
 * exhausted (both logged once until a name of that wildcard goes),
 * -EINVAL (bad names, name not under wildcard), -ENOMEM.
 */
int	disc_wild_get(disc_wild_t *w, disc_alloc_t *a, const char *wildcard,
	    const char *name, uint32_t *addr);
/*
 * Within a poll round of a (after begin_round, before end_round): keeps
 * the names whose wildcard listed() reports as still polled, acquiring
 * their addresses in this round; forgets the others (end_round releases
 * their addresses) and the names listed() reports as polled host names of
 * their own (a concrete endpoint took the name over).  Returns how many
 * were forgotten.
 */
size_t	disc_wild_round(disc_wild_t *w, disc_alloc_t *a,
	    int (*listed)(void *arg, const char *host), void *arg);
/* A persisted name (state load, after the address map): its address must
 * be active in a.  0, -EINVAL, -ENOENT (no address), -EEXIST, -EDQUOT,
 * -ENOMEM. */
int	disc_wild_restore(disc_wild_t *w, const disc_alloc_t *a,
	    const char *name, const char *wildcard);
size_t	disc_wild_count(const disc_wild_t *w);
/* Calls fn for each name, sorted by name. */
void	disc_wild_foreach(const disc_wild_t *w,
	    void (*fn)(const char *name, const char *wildcard, uint32_t addr,
	    void *arg), void *arg);

/* --- disc_reconcile.c: the endpoint table (loop thread) ------------------ */

struct disc_reconcile_stats {
	size_t	added, removed, kept;
};

/*
 * Makes t hold exactly the endpoints of l (whose addr fields are set):
 * endpoints that did not change keep their struct (their streams go on),
 * changed ones are replaced.  Derived endpoints (names under wildcards,
 * disc_wild_sync's) are left alone unless an endpoint of l wants their
 * (address, port).  O(n log n).  Sorts l by (addr, port).
 * 0 or -ENOMEM (the table then holds a mix; the next round repairs it).
 */
int	disc_reconcile(eptable_t *t, struct disc_eplist *l,
	    struct disc_reconcile_stats *st);

/* One name of a disc_wild_t, copied out from under its lock. */
struct disc_wild_name {
	char		*name, *wildcard;
	uint32_t	 addr;
};

/*
 * Makes the derived endpoints of t match v (n names sorted by name): one
 * per name and port of each wildcard endpoint of t it belongs to; derived
 * endpoints of other names, of another address, or whose wildcard endpoint
 * left the table are removed.  A concrete endpoint at the same (address,
 * port) wins.  Loop thread.  0 or -ENOMEM (the next call repairs it).
 */
int	disc_wild_sync(eptable_t *t, const struct disc_wild_name *v, size_t n,
	    struct disc_reconcile_stats *st);
/* Adds derived endpoints for name at addr on each port of the wildcard
 * endpoints of t whose host is wildcard (replacing derived ones of another
 * name there).  Loop thread.  How many were added. */
size_t	disc_wild_add_entries(eptable_t *t, const char *wildcard,
	    const char *name, uint32_t addr);

/* --- disc_file.c: files --------------------------------------------------- */

/* Reads at most max bytes of path into a NUL-terminated malloc'd buffer.
 * -EISDIR, -EFBIG, -ENOENT, -errno. */
int	disc_read_file(const char *path, size_t max, char **buf, size_t *len);
/*
 * Replaces path atomically: a temp file in the same directory, fsync,
 * rename, fsync of the directory.  mode is used for a new file; an existing
 * file keeps its mode and owner (keep = 1) or gets mode (keep = 0).
 */
int	disc_write_atomic(const char *path, const void *buf, size_t len,
	    unsigned mode, int keep);

/* --- disc_hosts.c: the managed block in the hosts file ------------------- */

#define DISC_HOSTS_BEGIN	"# BEGIN ngrokd managed block"
#define DISC_HOSTS_END		"# END ngrokd managed block"

struct disc_hosts_ent {
	const char	*host;
	uint32_t	 addr;
};

/*
 * Rewrites the managed block of the hosts file at path with ents (any
 * order; wildcard names are skipped, a host is written once), or removes
 * the block when n == 0.  Every byte outside the block is kept.  Skips the
 * write when nothing changes.  0, or -errno with a reason in err.
 */
int	disc_hosts_update(const char *path, const struct disc_hosts_ent *ents,
	    size_t n, char *err, size_t errlen);
/* The same transformation on a buffer (tests, fuzzing): *out is malloc'd. */
int	disc_hosts_render(const char *in, size_t inlen,
	    const struct disc_hosts_ent *ents, size_t n, char **out,
	    size_t *outlen, char *err, size_t errlen);

/* --- disc_state.c: <state_dir>/state.json -------------------------------- */

struct disc_state {
	char	*operator_id;
	char	*ingress_endpoint;
	char	*api_url;	/* the API the operator belongs to */
};

void	disc_state_clear(struct disc_state *st);
/*
 * Loads path into st and a (whose range is set), and the names under
 * wildcards into w when it is not NULL.  A missing file is a fresh
 * start (0).  A corrupt one is renamed to path.bad, logged, and also a fresh
 * start (0, *set_aside = 1).  Bad entries are skipped with a log line.
 */
int	disc_state_load(const char *path, struct disc_state *st,
	    disc_alloc_t *a, disc_wild_t *w, int *set_aside);
/* The file's text (malloc'd), or NULL + errno.  w may be NULL. */
char	*disc_state_render(const struct disc_state *st, const disc_alloc_t *a,
	    const disc_wild_t *w);
/* Writes st, a and w (may be NULL) atomically, mode 0600. */
int	disc_state_save(const char *path, const struct disc_state *st,
	    const disc_alloc_t *a, const disc_wild_t *w);

/* --- disc_op.c: kubernetes_operators objects ------------------------------ */

struct disc_op {
	char	*id;
	char	*metadata;
	char	*cert_pem;		/* binding.cert.cert */
	char	*ingress_endpoint;	/* binding.ingress_endpoint */
};

struct disc_op_req {
	const char	*description, *metadata, *region;	/* region: NULL */
	char *const	*selectors;
	size_t		 n_selectors;	/* 0: ["true"] */
	const char	*csr_pem;
};

void	disc_op_clear(struct disc_op *op);
/* [A-Za-z0-9_-]{1,128}: safe in a URL path and a log line. */
int	disc_valid_id(const char *s);
/* The POST /kubernetes_operators body (malloc'd) or NULL. */
char	*disc_op_create_body(const struct disc_op_req *q);
/* The PATCH body carrying a new CSR (renewal, adoption). */
char	*disc_op_patch_body(const char *csr_pem);
/* One operator object: 0 or -EINVAL (no valid id, wrong types). */
int	disc_op_parse(const char *body, size_t len, struct disc_op *op);
/* Searches one page of GET /kubernetes_operators for metadata: 0 (found),
 * -ENOENT (*next: the next page or NULL), -EINVAL. */
int	disc_op_find(const char *body, size_t len, const char *metadata,
	    struct disc_op *op, char **next);

/* --- disc_prov.c: provisioning key and CSR (wolfCrypt) -------------------- */

/* A new ECDSA P-384 key (PEM, "EC PRIVATE KEY") and a CSR with an empty
 * subject for it (PEM).  Both malloc'd.  0 or -errno. */
int	disc_prov_make_csr(char **key_pem, char **csr_pem);
/* The certificate's notAfter as a time_t; 0 or -EINVAL. */
int	disc_prov_cert_not_after(const char *pem, size_t len, long long *t);

#endif
