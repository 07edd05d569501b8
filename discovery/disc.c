/*
 * disc.c: the discovery client.  A worker thread talks to the ngrok API
 * (libcurl easy interface), allocates addresses and writes the state, key,
 * certificate and hosts files; the loop thread only applies each polled
 * endpoint set to the endpoint table.  docs/discovery.md has the rules.
 *
 * Handoff: the worker builds an endpoint list (owned by nobody else), puts
 * it in d->pending under d->mu and writes the eventfd; the loop takes it
 * and reconciles.  A newer list replaces one the loop has not taken yet.
 *
 * Names under wildcard endpoints (docs/dns.md): the loop thread allocates
 * them when DNS asks, from the same allocator, under d->amu.  The worker
 * holds d->amu only for in-memory work (an allocation round: hash lookups,
 * O(endpoints); rendering state.json's text), never across a file write or
 * a request, so a DNS answer never waits for the network or the disk; the
 * write of a new name is queued to the worker (d->save).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "discovery/disc_http.h"
#include "discovery/disc_priv.h"

#define DEFAULT_INGRESS	"kubernetes-binding-ingress.ngrok.io:443"
#define MAX_KEY		512
#define TOTAL_MS	30000u
#define BACKOFF_MIN_MS	1000u
#define RENEW_BEFORE_S	(7 * 24 * 3600)	/* renew a week before not_after */

struct disc {
	loop_t		*loop;
	eptable_t	*table;
	struct disc_hooks hooks;

	/* Copied from the config: immutable while the worker runs. */
	char		*api_url, *cfg_ingress, *hosts_file, *state_dir;
	char		*cert_path, *key_path;
	char		 state_path[PATH_MAX], apikey_path[PATH_MAX];
	char		*selectors[CFG_MAX_SELECTORS];
	size_t		 n_selectors;
	uint32_t	 first, last;		/* address range */
	uint32_t	 poll_ms, connect_ms;
	int		 manage_hosts;		/* server.manage_hosts */
	int		 hosts_dropped;		/* worker: our block removed once */

	int		 efd;			/* eventfd: worker -> loop */
	pthread_t	 thread;
	int		 started;

	pthread_mutex_t	 mu;			/* guards what follows */
	pthread_cond_t	 cv;
	int		 stop, kick, deregister;
	int		 save;			/* state.json is to be written */
	char		*api_key;
	struct disc_eplist *pending;
	struct disc_status status;

	/* The allocator and the names under wildcards: the worker's rounds
	 * and state rendering, the loop's DNS allocations. */
	pthread_mutex_t	 amu;
	disc_alloc_t	*alloc;
	disc_wild_t	*wild;
	unsigned	 wild_limit;

	/* Worker thread only (set up before it starts). */
	struct disc_state st;
	char		*saved_state;		/* last text written */
	CURL		*curl;
	uint64_t	 rng;
	unsigned	 failures;
};

/* --- helpers ------------------------------------------------------------- */

static int
join(char *out, size_t len, const char *dir, const char *name)
{
	return (size_t)snprintf(out, len, "%s/%s", dir, name) >= len ?
	    -ENAMETOOLONG : 0;
}

static int
valid_key(const char *k)
{
	size_t n = strlen(k), i;

	if (n == 0 || n > MAX_KEY)
		return 0;
	for (i = 0; i < n; i++)
		if (k[i] <= ' ' || k[i] >= 127)
			return 0;
	return 1;
}

static void
set_error(disc_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_error(disc_t *d, const char *fmt, ...)
{
	char buf[DISC_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("disc: %s", buf);
	pthread_mutex_lock(&d->mu);
	snprintf(d->status.last_error, sizeof(d->status.last_error), "%s", buf);
	d->status.api_ok = 0;
	pthread_mutex_unlock(&d->mu);
}

/* Exponential backoff with full jitter in [cap/2, cap]. */
static uint32_t
backoff_ms(disc_t *d)
{
	uint64_t cap = BACKOFF_MIN_MS;
	unsigned i;

	for (i = 1; i < d->failures && cap < d->poll_ms; i++)
		cap *= 2;
	if (cap > d->poll_ms)
		cap = d->poll_ms;
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return (uint32_t)(cap / 2 + d->rng % (cap / 2 + 1));
}

static char *
read_trimmed(const char *path, size_t max)
{
	char *buf;
	size_t len;

	if (disc_read_file(path, max, &buf, &len) != 0)
		return NULL;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' '))
		buf[--len] = '\0';
	return buf;
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* --- API requests (worker) ----------------------------------------------- */

/* An API error as a message in status and the log; 1 for a rejected key. */
static void
api_failed(disc_t *d, const char *what, int r, const struct disc_http_reply *rep)
{
	char msg[DISC_ERR_LEN] = "";

	if (r != 0) {
		set_error(d, "%s: API unreachable: %s", what, rep->error[0] ?
		    rep->error : strerror(-r));
		return;
	}
	if (rep->body != NULL)
		disc_parse_error(rep->body, rep->len, msg, sizeof(msg));
	if (rep->status == 401 || rep->status == 403) {
		pthread_mutex_lock(&d->mu);
		d->status.key_rejected = 1;
		pthread_mutex_unlock(&d->mu);
		set_error(d, "%s: the API key was rejected (HTTP %ld)%s%s", what,
		    rep->status, msg[0] ? ": " : "", msg);
		return;
	}
	set_error(d, "%s: HTTP %ld%s%s", what, rep->status, msg[0] ? ": " : "",
	    msg[0] ? msg : rep->status == 429 ? "rate limited" :
	    rep->status >= 500 ? "server error" : "");
}

static int
request(disc_t *d, const char *key, const char *method, const char *url,
    const char *body, struct disc_http_reply *rep)
{
	struct disc_http_req q = { method, url, key, body, d->connect_ms,
	    TOTAL_MS, &d->stop };

	return disc_http(d->curl, &q, rep);
}

static int
ok_status(const struct disc_http_reply *rep)
{
	if (rep->status >= 200 && rep->status < 300)
		return 1;
	return 0;
}

/* --- provisioning (worker) ----------------------------------------------- */

static void
metadata(char *buf, size_t len)
{
	char host[256] = "", *mid;

	gethostname(host, sizeof(host) - 1);
	mid = read_trimmed("/etc/machine-id", 128);
	snprintf(buf, len, "{\"owner\":\"ngrokd\",\"host\":\"%s\","
	    "\"machine_id\":\"%s\"}", disc_valid_hostname(host) ? host : "",
	    mid != NULL && disc_valid_id(mid) ? mid : "");
	free(mid);
}

/* GET /kubernetes_operators, every page, for our metadata. */
static int
adopt(disc_t *d, const char *key, const char *meta, struct disc_op *op)
{
	struct disc_http_reply rep;
	char *url, *next;
	int r, pages = 0;

	if ((url = disc_resolve_uri(d->api_url, "/kubernetes_operators")) == NULL)
		return -errno;
	for (;;) {
		r = request(d, key, "GET", url, NULL, &rep);
		free(url);
		if (r != 0 || !ok_status(&rep)) {
			api_failed(d, "listing operators", r, &rep);
			disc_http_reply_free(&rep);
			return -EIO;
		}
		r = disc_op_find(rep.body, rep.len, meta, op, &next);
		disc_http_reply_free(&rep);
		if (r != -ENOENT || next == NULL || ++pages > DISC_MAX_PAGES)
			return r;
		url = disc_resolve_uri(d->api_url, next);
		free(next);
		if (url == NULL)
			return -EINVAL;
	}
}

static int save_state(disc_t *d);

static int
save_credentials(disc_t *d, const char *key_pem, const struct disc_op *op)
{
	int r;

	if ((r = disc_write_atomic(d->key_path, key_pem, strlen(key_pem), 0600,
	    0)) != 0 || (r = disc_write_atomic(d->cert_path, op->cert_pem,
	    strlen(op->cert_pem), 0644, 0)) != 0) {
		set_error(d, "saving the certificate: %s", strerror(-r));
		return r;
	}
	free(d->st.operator_id);
	free(d->st.ingress_endpoint);
	free(d->st.api_url);
	d->st.operator_id = strdup(op->id);
	d->st.ingress_endpoint = op->ingress_endpoint ?
	    strdup(op->ingress_endpoint) : NULL;
	d->st.api_url = strdup(d->api_url);
	if (d->st.operator_id == NULL || d->st.api_url == NULL)
		return -ENOMEM;
	return save_state(d);
}

/* POST a new operator, or PATCH a new CSR into id (adoption, renewal). */
static int
send_csr(disc_t *d, const char *key, const char *id, const char *csr,
    const char *meta, struct disc_op *op, long *status)
{
	struct disc_op_req q = { "ngrokd", meta, NULL, d->selectors,
	    d->n_selectors, csr };
	struct disc_http_reply rep;
	char path[256], *url, *body;
	int r;

	if (id != NULL)
		snprintf(path, sizeof(path), "/kubernetes_operators/%s", id);
	body = id != NULL ? disc_op_patch_body(csr) : disc_op_create_body(&q);
	url = disc_resolve_uri(d->api_url, id ? path : "/kubernetes_operators");
	if (body == NULL || url == NULL) {
		free(body);
		free(url);
		return -ENOMEM;
	}
	r = request(d, key, id ? "PATCH" : "POST", url, body, &rep);
	free(url);
	free(body);
	*status = rep.status;
	if (r != 0 || !ok_status(&rep)) {
		if (rep.status != 404)
			api_failed(d, id ? "renewing the certificate" :
			    "registering", r, &rep);
		disc_http_reply_free(&rep);
		return r != 0 ? r : -EIO;
	}
	r = disc_op_parse(rep.body, rep.len, op);
	disc_http_reply_free(&rep);
	if (r != 0 || op->cert_pem == NULL) {
		set_error(d, "registering: the reply has no operator id or "
		    "binding.cert.cert");
		disc_op_clear(op);
		return -EINVAL;
	}
	return 0;
}

static int
provision(disc_t *d, const char *key, const char *id_in)
{
	struct disc_op op = { 0 }, found;
	char meta[512], *key_pem = NULL, *csr = NULL, *id = NULL;
	long status = 0;
	int r;

	metadata(meta, sizeof(meta));
	if ((r = disc_prov_make_csr(&key_pem, &csr)) != 0) {
		set_error(d, "making a key and CSR failed");
		return r;
	}
	if (id_in != NULL)
		id = strdup(id_in);
	else if (adopt(d, key, meta, &found) == 0) {
		log_info("disc: adopting operator %s registered for this host",
		    found.id);
		id = strdup(found.id);
		disc_op_clear(&found);
	}
	r = send_csr(d, key, id, csr, meta, &op, &status);
	if (r != 0 && id != NULL && status == 404) {
		log_warnx("disc: operator %s no longer exists; registering anew", id);
		r = send_csr(d, key, NULL, csr, meta, &op, &status);
	}
	if (r == 0 && (r = save_credentials(d, key_pem, &op)) == 0)
		log_info("disc: registered as operator %s (ingress %s)", op.id,
		    op.ingress_endpoint ? op.ingress_endpoint : "default");
	disc_op_clear(&op);
	explicit_bzero(key_pem, strlen(key_pem));
	free(key_pem);
	free(csr);
	free(id);
	return r;
}

static long long
cert_expiry(disc_t *d)
{
	char *pem;
	size_t len;
	long long t = 0;

	if (disc_read_file(d->cert_path, 65536, &pem, &len) != 0)
		return 0;
	if (disc_prov_cert_not_after(pem, len, &t) != 0)
		t = 0;
	free(pem);
	return t;
}

/* Registered with a certificate that is not about to expire?  Provisions
 * or renews when not.  0 when usable. */
static int
ensure_registered(disc_t *d, const char *key)
{
	long long exp;
	int have = d->st.operator_id != NULL && file_exists(d->cert_path) &&
	    file_exists(d->key_path);
	int r = 0;

	exp = have ? cert_expiry(d) : 0;
	if (!have)
		r = provision(d, key, NULL);
	else if (exp != 0 && exp - (long long)time(NULL) < RENEW_BEFORE_S) {
		log_info("disc: certificate expires soon; renewing");
		r = provision(d, key, d->st.operator_id);
		if (r != 0 && exp > (long long)time(NULL))
			r = 0;		/* the old one still works */
	}
	pthread_mutex_lock(&d->mu);
	d->status.registered = d->st.operator_id != NULL && r == 0;
	snprintf(d->status.operator_id, sizeof(d->status.operator_id), "%s",
	    d->st.operator_id ? d->st.operator_id : "");
	snprintf(d->status.ingress_endpoint, sizeof(d->status.ingress_endpoint),
	    "%s", strcmp(d->cfg_ingress, DEFAULT_INGRESS) == 0 &&
	    d->st.ingress_endpoint ? d->st.ingress_endpoint : d->cfg_ingress);
	d->status.cert_not_after = r == 0 ? cert_expiry(d) : 0;
	pthread_mutex_unlock(&d->mu);
	return r;
}

/* --- polling (worker) ---------------------------------------------------- */

static int
fetch_all(disc_t *d, const char *key, struct disc_eplist *l)
{
	struct disc_http_reply rep;
	char path[256], err[256], *url, *next = NULL;
	int r, pages = 0;

	snprintf(path, sizeof(path), "/kubernetes_operators/%s/bound_endpoints",
	    d->st.operator_id);
	if ((url = disc_resolve_uri(d->api_url, path)) == NULL)
		return -ENOMEM;
	while (url != NULL) {
		if (++pages > DISC_MAX_PAGES) {
			set_error(d, "bound endpoints: more than %d pages",
			    DISC_MAX_PAGES);
			r = -E2BIG;
			break;
		}
		r = request(d, key, "GET", url, NULL, &rep);
		if (r != 0 || !ok_status(&rep)) {
			api_failed(d, "listing bound endpoints", r, &rep);
			/* 404: the operator is gone. */
			r = r == 0 && rep.status == 404 ? -ENOENT : -EIO;
			disc_http_reply_free(&rep);
			break;
		}
		r = disc_parse_page(rep.body, rep.len, l, &next, err, sizeof(err));
		disc_http_reply_free(&rep);
		free(url);
		url = NULL;
		if (r != 0) {
			set_error(d, "bound endpoints: %s; keeping the previous set",
			    err);
			break;
		}
		if (next != NULL && (url = disc_resolve_uri(d->api_url,
		    next)) == NULL) {
			set_error(d, "bound endpoints: next_page_uri points away "
			    "from %s; ignoring the listing", d->api_url);
			r = -EINVAL;
		}
		free(next);
		next = NULL;
	}
	free(url);
	return r;
}

static int
cmp_ep_host(const void *key, const void *elt)
{
	return strcmp(key, ((const struct disc_ep *)elt)->hostname);
}

/* Is host among the polled endpoints?  l is sorted by host name
 * (disc_eplist_normalize) and assign keeps the order. */
static int
listed(void *arg, const char *host)
{
	const struct disc_eplist *l = arg;

	return l->n > 0 && bsearch(host, l->v, l->n, sizeof(*l->v),
	    cmp_ep_host) != NULL;
}

/* n: disc_wild_count, read under amu. */
static void
set_wild_count(disc_t *d, size_t n)
{
	pthread_mutex_lock(&d->mu);
	d->status.wildcard_names = n;
	pthread_mutex_unlock(&d->mu);
}

/* Addresses for l; endpoints that get none (subnet full) are dropped.
 * The names under wildcards still listed keep theirs. */
static void
assign(disc_t *d, struct disc_eplist *l)
{
	size_t i, w = 0, dropped = 0, gone, names;

	pthread_mutex_lock(&d->amu);
	disc_alloc_begin_round(d->alloc);
	for (i = 0; i < l->n; i++) {
		if (disc_alloc_acquire(d->alloc, l->v[i].hostname,
		    &l->v[i].addr) != 0) {
			dropped++;
			free(l->v[i].id); free(l->v[i].hostname);
			free(l->v[i].proto); free(l->v[i].url);
			continue;
		}
		l->v[w++] = l->v[i];
	}
	l->n = w;
	gone = disc_wild_round(d->wild, d->alloc, listed, l);
	disc_alloc_end_round(d->alloc);
	names = disc_wild_count(d->wild);
	pthread_mutex_unlock(&d->amu);
	if (gone)
		log_info("disc: %zu names under wildcard endpoints lose their "
		    "addresses (the wildcard is gone, or an endpoint of that "
		    "name is listed)", gone);
	set_wild_count(d, names);
	if (dropped)
		set_error(d, "the address range is exhausted: %zu endpoints "
		    "have no address (widen net.subnet)", dropped);
}

/* Writes state.json when its text changed; the text is rendered under
 * amu, the file written outside it. */
static int
save_state(disc_t *d)
{
	char *txt;
	int r;

	pthread_mutex_lock(&d->amu);
	txt = disc_state_render(&d->st, d->alloc, d->wild);
	pthread_mutex_unlock(&d->amu);
	if (txt == NULL)
		return -ENOMEM;
	if (d->saved_state != NULL && strcmp(txt, d->saved_state) == 0) {
		free(txt);
		return 0;
	}
	if ((r = disc_write_atomic(d->state_path, txt, strlen(txt), 0600, 0)) != 0) {
		log_warnx("disc: writing %s: %s", d->state_path, strerror(-r));
		free(txt);
		return r;
	}
	free(d->saved_state);
	d->saved_state = txt;
	return 0;
}

static void
write_hosts(disc_t *d, const struct disc_eplist *l)
{
	struct disc_hosts_ent *e = NULL;
	char err[DISC_ERR_LEN] = "";
	size_t i;
	int r = -ENOMEM;

	/* server.manage_hosts false: names come from the DNS responder.  A
	 * block left by an earlier configuration would pin names to
	 * addresses nobody updates, so it is removed once; then the file is
	 * not touched again. */
	if (!d->manage_hosts) {
		if (!d->hosts_dropped &&
		    disc_hosts_update(d->hosts_file, NULL, 0, err, sizeof(err)) != 0)
			log_warnx("disc: hosts file: %s", err);
		d->hosts_dropped = 1;
		return;
	}
	if (l->n == 0 || (e = calloc(l->n, sizeof(*e))) != NULL) {
		for (i = 0; i < l->n; i++) {
			e[i].host = l->v[i].hostname;
			e[i].addr = l->v[i].addr;
		}
		r = disc_hosts_update(d->hosts_file, e, l->n, err, sizeof(err));
	}
	free(e);
	if (r != 0)
		log_warnx("disc: hosts file: %s", err);
	pthread_mutex_lock(&d->mu);
	d->status.hosts_ok = r == 0;
	snprintf(d->status.hosts_error, sizeof(d->status.hosts_error), "%s",
	    r == 0 ? "" : err);
	pthread_mutex_unlock(&d->mu);
}

static void
hand_off(disc_t *d, struct disc_eplist *l)
{
	struct disc_eplist *old;
	uint64_t one = 1;

	pthread_mutex_lock(&d->mu);
	old = d->pending;
	d->pending = l;
	d->status.api_ok = 1;
	d->status.key_rejected = 0;
	d->status.last_error[0] = '\0';
	d->status.last_poll_ok = (long long)time(NULL);
	pthread_mutex_unlock(&d->mu);
	if (old != NULL) {
		disc_eplist_free(old);
		free(old);
	}
	if (write(d->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("disc: eventfd");
}

/* One poll.  0, or -errno (the previous endpoint set stays). */
static int
poll_once(disc_t *d, const char *key)
{
	struct disc_eplist *l;
	struct disc_eplist hosts;
	int r;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
	if ((r = fetch_all(d, key, l)) != 0) {
		if (r == -ENOENT) {
			log_warnx("disc: operator %s is gone; registering again",
			    d->st.operator_id);
			free(d->st.operator_id);
			d->st.operator_id = NULL;
		}
		disc_eplist_free(l);
		free(l);
		return r;
	}
	disc_eplist_normalize(l);
	assign(d, l);
	save_state(d);
	/* The hosts file is written after the handoff, from a shallow copy
	 * made before: the loop owns l from here on. */
	hosts = *l;
	if ((hosts.v = malloc((l->n ? l->n : 1) * sizeof(*l->v))) == NULL) {
		disc_eplist_free(l);
		free(l);
		return -ENOMEM;
	}
	memcpy(hosts.v, l->v, l->n * sizeof(*l->v));
	for (size_t i = 0; i < hosts.n; i++)
		if ((hosts.v[i].hostname = strdup(l->v[i].hostname)) == NULL)
			hosts.n = i;
	hand_off(d, l);
	write_hosts(d, &hosts);
	for (size_t i = 0; i < hosts.n; i++)
		free(hosts.v[i].hostname);
	free(hosts.v);
	return 0;
}

/* --- deregistration (worker) --------------------------------------------- */

static void
do_deregister(disc_t *d, const char *key)
{
	struct disc_http_reply rep;
	char path[256], *url;
	int r;

	if (d->st.operator_id != NULL) {
		snprintf(path, sizeof(path), "/kubernetes_operators/%s",
		    d->st.operator_id);
		if ((url = disc_resolve_uri(d->api_url, path)) == NULL)
			return;
		r = request(d, key, "DELETE", url, NULL, &rep);
		free(url);
		if (r != 0 || (!ok_status(&rep) && rep.status != 404)) {
			api_failed(d, "deregistering", r, &rep);
			disc_http_reply_free(&rep);
			return;
		}
		disc_http_reply_free(&rep);
		log_info("disc: operator %s deleted", d->st.operator_id);
	}
	unlink(d->key_path);
	unlink(d->cert_path);
	free(d->st.operator_id);
	d->st.operator_id = NULL;
	save_state(d);
	pthread_mutex_lock(&d->mu);
	d->status.registered = 0;
	d->status.operator_id[0] = '\0';
	pthread_mutex_unlock(&d->mu);
}

/* --- the worker ---------------------------------------------------------- */

static uint32_t
work(disc_t *d, const char *key, int dereg)
{
	int r;

	if (dereg) {
		do_deregister(d, key);
		return d->poll_ms;
	}
	if ((r = ensure_registered(d, key)) == 0 &&
	    (r = poll_once(d, key)) == 0) {
		d->failures = 0;
		return d->poll_ms;
	}
	pthread_mutex_lock(&d->mu);
	d->status.consecutive_failures = ++d->failures;
	pthread_mutex_unlock(&d->mu);
	/* The operator vanished: register again at once. */
	return r == -ENOENT && d->failures < 3 ? 0 : backoff_ms(d);
}

/* Waits (d->mu held) until stop, a kick or until; writes state.json
 * meanwhile when the loop gave a name under a wildcard an address. */
static void
wait_until(disc_t *d, const struct timespec *until)
{
	int rc = 0;

	for (;;) {
		while (!d->stop && !d->kick && !d->save && rc == 0)
			rc = pthread_cond_timedwait(&d->cv, &d->mu, until);
		if (d->stop || d->kick || !d->save)
			return;
		d->save = 0;
		pthread_mutex_unlock(&d->mu);
		save_state(d);
		pthread_mutex_lock(&d->mu);
		if (rc != 0)
			return;		/* time for the next poll */
	}
}

static void *
worker(void *arg)
{
	disc_t *d = arg;
	struct timespec until;
	uint32_t wait_ms;
	char *key;
	int dereg;

	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		key = d->api_key ? strdup(d->api_key) : NULL;
		dereg = d->deregister;
		d->kick = d->deregister = 0;
		pthread_mutex_unlock(&d->mu);
		wait_ms = d->poll_ms;
		if (key != NULL) {
			wait_ms = work(d, key, dereg);
			explicit_bzero(key, strlen(key));
			free(key);
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&d->mu);
		wait_until(d, &until);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* --- the loop side ------------------------------------------------------- */

struct wild_copy {
	struct disc_wild_name	*v;
	size_t			 n;
	int			 nomem;
};

static void
copy_name(const char *name, const char *wildcard, uint32_t addr, void *arg)
{
	struct wild_copy *c = arg;
	struct disc_wild_name *x = &c->v[c->n];

	if ((x->name = strdup(name)) == NULL ||
	    (x->wildcard = strdup(wildcard)) == NULL) {
		free(x->name);
		c->nomem = 1;
		return;
	}
	x->addr = addr;
	c->n++;
}

/* The derived endpoints follow the names (copied from under amu) and the
 * wildcard endpoints now in the table. */
static void
wild_sync(disc_t *d)
{
	struct disc_reconcile_stats rs;
	struct wild_copy c = { NULL, 0, 0 };
	size_t i, n;
	int r = -ENOMEM;

	pthread_mutex_lock(&d->amu);
	n = disc_wild_count(d->wild);
	if ((c.v = calloc(n ? n : 1, sizeof(*c.v))) != NULL)
		disc_wild_foreach(d->wild, copy_name, &c);
	pthread_mutex_unlock(&d->amu);
	if (c.v != NULL && !c.nomem)
		r = disc_wild_sync(d->table, c.v, c.n, &rs);
	for (i = 0; i < c.n; i++) {
		free(c.v[i].name);
		free(c.v[i].wildcard);
	}
	free(c.v);
	if (r != 0)
		log_warnx("disc: names under wildcards: out of memory; retrying "
		    "next poll");
	else if (rs.added || rs.removed)
		log_info("disc: names under wildcards: %zu table entries added, "
		    "%zu removed", rs.added, rs.removed);
}

static void
on_result(loop_t *loop, int fd, int events, void *arg)
{
	struct disc_reconcile_stats rs;
	struct disc_eplist *l;
	disc_t *d = arg;
	uint64_t n;
	int r;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("disc: eventfd");
	pthread_mutex_lock(&d->mu);
	l = d->pending;
	d->pending = NULL;
	pthread_mutex_unlock(&d->mu);
	if (l == NULL)
		return;
	r = disc_reconcile(d->table, l, &rs);
	disc_eplist_free(l);
	free(l);
	if (r != 0)
		log_warnx("disc: reconcile: out of memory; retrying next poll");
	wild_sync(d);
	pthread_mutex_lock(&d->mu);
	d->status.endpoints = eptable_count(d->table) -
	    eptable_count_derived(d->table);
	pthread_mutex_unlock(&d->mu);
	if (rs.added || rs.removed) {
		log_info("disc: endpoints: %zu added, %zu removed, %zu unchanged",
		    rs.added, rs.removed, rs.kept);
		if (d->hooks.changed != NULL)
			d->hooks.changed(d->hooks.arg);
	}
}

/* --- public -------------------------------------------------------------- */

static int
copy_config(disc_t *d, const struct config *cfg)
{
	uint32_t mask, net, bcast;
	size_t i;
	int r;

	d->api_url = strdup(cfg->api_url ? cfg->api_url : "https://api.ngrok.com");
	d->cfg_ingress = strdup(cfg->ingress_endpoint ? cfg->ingress_endpoint :
	    DEFAULT_INGRESS);
	d->hosts_file = strdup(cfg->hosts_file ? cfg->hosts_file : "/etc/hosts");
	d->state_dir = strdup(cfg->state_dir ? cfg->state_dir : "/var/lib/ngrokd");
	if (!d->api_url || !d->cfg_ingress || !d->hosts_file || !d->state_dir)
		return -ENOMEM;
	/* A trailing slash would double up in joined paths. */
	while (strlen(d->api_url) > 8 && d->api_url[strlen(d->api_url) - 1] == '/')
		d->api_url[strlen(d->api_url) - 1] = '\0';
	if ((r = join(d->state_path, sizeof(d->state_path), d->state_dir,
	    "state.json")) != 0 || (r = join(d->apikey_path,
	    sizeof(d->apikey_path), d->state_dir, "api_key")) != 0)
		return r;
	d->cert_path = cfg->client_cert ? strdup(cfg->client_cert) : NULL;
	d->key_path = cfg->client_key ? strdup(cfg->client_key) : NULL;
	if (d->cert_path == NULL && (d->cert_path = malloc(PATH_MAX)) != NULL)
		join(d->cert_path, PATH_MAX, d->state_dir, "tls.crt");
	if (d->key_path == NULL && (d->key_path = malloc(PATH_MAX)) != NULL)
		join(d->key_path, PATH_MAX, d->state_dir, "tls.key");
	if (d->cert_path == NULL || d->key_path == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->n_selectors && i < CFG_MAX_SELECTORS; i++)
		if ((d->selectors[d->n_selectors++] = strdup(cfg->selectors[i]))
		    == NULL)
			return -ENOMEM;
	d->manage_hosts = cfg->manage_hosts;
	d->poll_ms = cfg->poll_interval_ms >= 1000 ? cfg->poll_interval_ms : 1000;
	d->wild_limit = cfg->dns_wildcard_names;
	d->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
	/* .0 network, .1 gateway, .2 the utun peer on macOS: endpoints start
	 * at .3 and end before the broadcast address. */
	if (cfg->subnet_prefix < 8 || cfg->subnet_prefix > 30)
		return -EINVAL;
	mask = cfg->subnet_prefix ? ~0u << (32 - cfg->subnet_prefix) : 0;
	net = cfg->subnet_addr & mask;
	bcast = net | ~mask;
	d->first = net + 3;
	d->last = bcast - 1;
	return d->first <= d->last ? 0 : -EINVAL;
}

static int
load_key(disc_t *d, const struct config *cfg)
{
	char *k;

	if (cfg->api_key != NULL && cfg->api_key[0] != '\0') {
		if (file_exists(d->apikey_path))
			log_info("disc: using the configured API key, not %s",
			    d->apikey_path);
		return (d->api_key = strdup(cfg->api_key)) ? 0 : -ENOMEM;
	}
	if ((k = read_trimmed(d->apikey_path, MAX_KEY + 2)) == NULL)
		return 0;
	if (!valid_key(k)) {
		log_warnx("disc: %s does not hold a usable API key; ignoring it",
		    d->apikey_path);
		explicit_bzero(k, strlen(k));
		free(k);
		return 0;
	}
	d->api_key = k;
	return 0;
}

static int
load_state(disc_t *d)
{
	int aside, r;

	disc_alloc_free(d->alloc);
	disc_wild_free(d->wild);
	disc_state_clear(&d->st);
	d->wild = NULL;
	if ((d->alloc = disc_alloc_new(d->first, d->last)) == NULL ||
	    (d->wild = disc_wild_new(d->wild_limit)) == NULL)
		return -errno;
	r = disc_state_load(d->state_path, &d->st, d->alloc, d->wild, &aside);
	d->status.wildcard_names = disc_wild_count(d->wild);
	if (r != 0) {
		log_warnx("disc: reading %s: %s", d->state_path, strerror(-r));
		return 0;	/* fresh start; the file is left alone */
	}
	/* An operator of another API (test vs. production) is not ours. */
	if (d->st.api_url != NULL && strcmp(d->st.api_url, d->api_url) != 0) {
		log_info("disc: state belongs to %s, not %s; registering anew",
		    d->st.api_url, d->api_url);
		free(d->st.operator_id);
		d->st.operator_id = NULL;
	}
	return 0;
}

disc_t *
disc_new(loop_t *loop, const struct config *cfg, eptable_t *table,
    const struct disc_hooks *hooks)
{
	disc_t *d;
	int r;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->loop = loop;
	d->table = table;
	d->efd = -1;
	if (hooks != NULL)
		d->hooks = *hooks;
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->amu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
	    (uint64_t)(uintptr_t)d;
	if (d->rng == 0)
		d->rng = 1;
	if ((r = copy_config(d, cfg)) != 0 || (r = load_key(d, cfg)) != 0 ||
	    (r = load_state(d)) != 0)
		goto fail;
	if ((d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		r = -errno;
		goto fail;
	}
	d->status.key_set = d->api_key != NULL;
	d->status.hosts_ok = 1;
	snprintf(d->status.operator_id, sizeof(d->status.operator_id), "%s",
	    d->st.operator_id ? d->st.operator_id : "");
	return d;
fail:
	disc_free(d);
	errno = -r;
	return NULL;
}

int
disc_set_loopback(disc_t *d, int on)
{
	if (d->started)
		return -EBUSY;
	if (on) {
		d->first = 0x7f000002u;		/* 127.0.0.2 */
		d->last = 0x7f00fffeu;		/* 127.0.255.254 */
	}
	return load_state(d);
}

int
disc_start(disc_t *d)
{
	int r;

	if (d->started)
		return -EALREADY;
	if (mkdir(d->state_dir, 0700) == -1 && errno != EEXIST)
		log_warn("disc: creating %s", d->state_dir);
	if ((d->curl = curl_easy_init()) == NULL)
		return -ENOMEM;
	if ((r = loop_add_fd(d->loop, d->efd, LOOP_READ, on_result, d)) != 0)
		return r;
	if ((r = pthread_create(&d->thread, NULL, worker, d)) != 0) {
		loop_del_fd(d->loop, d->efd);
		return -r;
	}
	d->started = 1;
	if (d->api_key == NULL)
		log_info("disc: no API key yet (ngrokctl set-api-key, or api.key "
		    "in the config)");
	return 0;
}

void
disc_free(disc_t *d)
{
	size_t i;

	if (d == NULL)
		return;
	disc_stop(d);
	if (d->efd != -1)
		close(d->efd);
	if (d->curl != NULL)
		curl_easy_cleanup(d->curl);
	if (d->pending != NULL) {
		disc_eplist_free(d->pending);
		free(d->pending);
	}
	if (d->api_key != NULL) {
		explicit_bzero(d->api_key, strlen(d->api_key));
		free(d->api_key);
	}
	disc_alloc_free(d->alloc);
	disc_wild_free(d->wild);
	disc_state_clear(&d->st);
	free(d->saved_state);
	free(d->api_url);
	free(d->cfg_ingress);
	free(d->hosts_file);
	free(d->state_dir);
	free(d->cert_path);
	free(d->key_path);
	for (i = 0; i < d->n_selectors; i++)
		free(d->selectors[i]);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->amu);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

void
disc_stop(disc_t *d)
{
	if (!d->started)
		return;
	pthread_mutex_lock(&d->mu);
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	loop_del_fd(d->loop, d->efd);
	d->started = 0;
	if (d->save) {		/* a name the worker had no time to write */
		d->save = 0;
		save_state(d);
	}
}

int
disc_hosts_cleanup(disc_t *d)
{
	char err[DISC_ERR_LEN];
	int r;

	if ((r = disc_hosts_update(d->hosts_file, NULL, 0, err, sizeof(err))) != 0)
		log_warnx("disc: hosts file: %s", err);
	return r;
}

static void
kick(disc_t *d, int dereg)
{
	pthread_mutex_lock(&d->mu);
	d->kick = 1;
	if (dereg)
		d->deregister = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

int
disc_set_api_key(disc_t *d, const char *key)
{
	char *k;
	int r;

	if (key == NULL || !valid_key(key))
		return -EINVAL;
	if (mkdir(d->state_dir, 0700) == -1 && errno != EEXIST)
		return -errno;
	if ((r = disc_write_atomic(d->apikey_path, key, strlen(key), 0600, 0)) != 0)
		return r;
	if ((k = strdup(key)) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&d->mu);
	if (d->api_key != NULL) {
		explicit_bzero(d->api_key, strlen(d->api_key));
		free(d->api_key);
	}
	d->api_key = k;
	d->status.key_set = 1;
	d->status.key_rejected = 0;
	pthread_mutex_unlock(&d->mu);
	log_info("disc: API key stored in %s", d->apikey_path);
	kick(d, 0);
	return 0;
}

int
disc_refresh(disc_t *d)
{
	kick(d, 0);
	return 0;
}

int
disc_deregister(disc_t *d)
{
	if (!d->started)
		return -ENOTCONN;
	kick(d, 1);
	return 0;
}

void
disc_get_status(disc_t *d, struct disc_status *st)
{
	pthread_mutex_lock(&d->mu);
	*st = d->status;
	pthread_mutex_unlock(&d->mu);
}

int
disc_wildcard_addr(disc_t *d, const struct endpoint *w, const char *name,
    uint32_t *addr)
{
	int r;

	size_t n;

	pthread_mutex_lock(&d->amu);
	r = disc_wild_get(d->wild, d->alloc, w->hostname, name, addr);
	n = disc_wild_count(d->wild);
	pthread_mutex_unlock(&d->amu);
	if (r == -EINVAL) {
		/* A name DNS allows and host names do not ("_x", "-x"): any
		 * local program can ask, so not worth a warning each time. */
		log_debug("disc: %s under %s is not a host name an endpoint can "
		    "have: NODATA", name, w->hostname);
		return 0;
	}
	if (r < 0) {
		if (r != -EDQUOT && r != -ENOSPC)	/* those are logged */
			log_warnx("disc: an address for %s under %s: %s", name,
			    w->hostname, strerror(-r));
		return 0;
	}
	if (r == 1) {
		log_info("disc: %s (under %s) gets address %u.%u.%u.%u", name,
		    w->hostname, *addr >> 24, (*addr >> 16) & 0xff,
		    (*addr >> 8) & 0xff, *addr & 0xff);
		pthread_mutex_lock(&d->mu);
		d->save = 1;
		d->status.wildcard_names = n;
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
	}
	disc_wild_add_entries(d->table, w->hostname, name, *addr);
	return 1;
}

const char *
disc_cert_path(const disc_t *d)
{
	return d->cert_path;
}

const char *
disc_key_path(const disc_t *d)
{
	return d->key_path;
}
