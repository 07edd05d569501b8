/*
 * disc_state.c: <state_dir>/state.json, what discovery must keep across a
 * restart: the operator (id, ingress endpoint, API it belongs to) and the
 * address map (active hosts, the release queue, the never-used watermark).
 *
 *   {"version":1,"operator_id":"k8sop_...","ingress_endpoint":"host:443",
 *    "api_url":"https://api.ngrok.com","next_address":"10.107.0.9",
 *    "addresses":{"a.ngrok.app":"10.107.0.3"},
 *    "released":[{"host":"b.ngrok.app","address":"10.107.0.4"}],
 *    "wildcard_names":{"a.apps.example":"*.apps.example"}}
 *
 * wildcard_names (present only when there are some) says which names have
 * their address (in "addresses") because DNS asked for them under a
 * wildcard endpoint; an older ngrokd ignores the key and releases them.
 *
 * A file that does not parse is renamed to state.json.bad (so a person can
 * look at it) and discovery starts fresh; it never stops the daemon.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

#define STATE_VERSION	1

void
disc_state_clear(struct disc_state *st)
{
	free(st->operator_id);
	free(st->ingress_endpoint);
	free(st->api_url);
	memset(st, 0, sizeof(*st));
}

static int
parse_addr(const char *s, uint32_t *addr)
{
	struct in_addr ia;

	if (s == NULL || inet_pton(AF_INET, s, &ia) != 1)
		return -EINVAL;
	*addr = ntohl(ia.s_addr);
	return 0;
}

/* A printable token of at most max bytes, or NULL. */
static const char *
token(const cJSON *o, const char *name, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	const char *p;

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) > max)
		return NULL;
	for (p = v->valuestring; *p; p++)
		if (!isgraph((unsigned char)*p))
			return NULL;
	return v->valuestring;
}

static int
dup_token(const cJSON *o, const char *name, size_t max, char **out)
{
	const char *s = token(o, name, max);

	if (s == NULL)
		return 0;
	return (*out = strdup(s)) == NULL ? -ENOMEM : 0;
}

static void
load_one(disc_alloc_t *a, const char *host, const char *addr, int active)
{
	uint32_t x;

	if (host == NULL || !disc_valid_hostname(host) ||
	    parse_addr(addr, &x) != 0) {
		log_warnx("disc: state: skipping a bad address entry");
		return;
	}
	if (disc_alloc_restore(a, host, x, active) != 0)
		log_warnx("disc: state: %s -> %s is out of the subnet or taken;"
		    " it gets a new address", host, addr);
}

static void
load_map(const cJSON *root, disc_alloc_t *a)
{
	const cJSON *m, *e;

	m = cJSON_GetObjectItemCaseSensitive(root, "addresses");
	if (cJSON_IsObject(m))
		cJSON_ArrayForEach(e, m)
			load_one(a, e->string, cJSON_IsString(e) ?
			    e->valuestring : NULL, 1);
	m = cJSON_GetObjectItemCaseSensitive(root, "released");
	if (cJSON_IsArray(m))
		cJSON_ArrayForEach(e, m)
			load_one(a, token(e, "host", DISC_MAX_HOST),
		    token(e, "address", INET_ADDRSTRLEN), 0);
}

/* After load_map: the names under wildcards, whose addresses it restored. */
static void
load_wild(const cJSON *root, const disc_alloc_t *a, disc_wild_t *w)
{
	const cJSON *m, *e;
	int r;

	m = cJSON_GetObjectItemCaseSensitive(root, "wildcard_names");
	if (w == NULL || !cJSON_IsObject(m))
		return;
	cJSON_ArrayForEach(e, m) {
		if (!cJSON_IsString(e) || e->string == NULL ||
		    !disc_valid_hostname(e->string) ||
		    !disc_valid_hostname(e->valuestring)) {
			log_warnx("disc: state: skipping a bad wildcard_names entry");
			continue;
		}
		if ((r = disc_wild_restore(w, a, e->string, e->valuestring)) != 0)
			log_warnx("disc: state: wildcard name %s under %s: %s; it "
			    "gets an address again when asked for", e->string,
			    e->valuestring, r == -ENOENT ? "it has no address" :
			    r == -EDQUOT ? "over dns.wildcard_names" :
			    r == -EEXIST ? "listed twice" : r == -EINVAL ?
			    "not under that wildcard" : strerror(-r));
	}
}

static int
set_aside(const char *path, const char *why)
{
	char bad[PATH_MAX];

	snprintf(bad, sizeof(bad), "%s.bad", path);
	if (rename(path, bad) == -1) {
		log_warn("disc: state %s is unusable (%s), and renaming it to %s",
		    path, why, bad);
		return -errno;
	}
	log_warnx("disc: state %s is unusable (%s); moved to %s, starting fresh",
	    path, why, bad);
	return 0;
}

int
disc_state_load(const char *path, struct disc_state *st, disc_alloc_t *a,
    disc_wild_t *w, int *aside)
{
	const cJSON *v;
	cJSON *root = NULL;
	uint32_t next;
	char *buf;
	size_t len;
	int r;

	*aside = 0;
	memset(st, 0, sizeof(*st));
	if ((r = disc_read_file(path, DISC_MAX_STATE_FILE, &buf, &len)) != 0) {
		if (r == -ENOENT)
			return 0;
		if (r != -EFBIG && r != -EINVAL && r != -EISDIR)
			return r;
		*aside = 1;
		return set_aside(path, strerror(-r)), 0;
	}
	root = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (root == NULL) {
		*aside = 1;
		return set_aside(path, "not valid JSON (truncated?)"), 0;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsObject(root) || !cJSON_IsNumber(v) ||
	    v->valuedouble != STATE_VERSION) {
		cJSON_Delete(root);
		*aside = 1;
		return set_aside(path, "not a version 1 state file"), 0;
	}
	if ((r = dup_token(root, "operator_id", DISC_MAX_ID, &st->operator_id)) ||
	    (r = dup_token(root, "ingress_endpoint", 300, &st->ingress_endpoint)) ||
	    (r = dup_token(root, "api_url", DISC_MAX_URL, &st->api_url))) {
		disc_state_clear(st);
		cJSON_Delete(root);
		return r;
	}
	load_map(root, a);
	load_wild(root, a, w);
	if (parse_addr(token(root, "next_address", INET_ADDRSTRLEN), &next) == 0)
		disc_alloc_set_next_fresh(a, next);
	else if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root,
	    "next_address")))
		disc_alloc_set_next_fresh(a, 0);	/* range exhausted */
	cJSON_Delete(root);
	return 0;
}

struct save_ctx {
	cJSON	*map, *rel;
	int	 fail;
};

static void
save_one(const char *host, uint32_t addr, int active, void *arg)
{
	struct save_ctx *c = arg;
	struct in_addr ia = { htonl(addr) };
	char s[INET_ADDRSTRLEN];
	cJSON *o;

	inet_ntop(AF_INET, &ia, s, sizeof(s));
	if (active) {
		if (cJSON_AddStringToObject(c->map, host, s) == NULL)
			c->fail = 1;
		return;
	}
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "host", host) == NULL ||
	    cJSON_AddStringToObject(o, "address", s) == NULL ||
	    !cJSON_AddItemToArray(c->rel, o)) {
		cJSON_Delete(o);
		c->fail = 1;
	}
}

static int
add_opt(cJSON *root, const char *name, const char *val)
{
	if (val == NULL)
		return cJSON_AddNullToObject(root, name) ? 0 : -1;
	return cJSON_AddStringToObject(root, name, val) ? 0 : -1;
}

static void
save_wild(const char *name, const char *wildcard, uint32_t addr, void *arg)
{
	struct save_ctx *c = arg;

	(void)addr;
	if (cJSON_AddStringToObject(c->map, name, wildcard) == NULL)
		c->fail = 1;
}

char *
disc_state_render(const struct disc_state *st, const disc_alloc_t *a,
    const disc_wild_t *w)
{
	struct save_ctx c = { NULL, NULL, 0 };
	struct in_addr ia;
	char next[INET_ADDRSTRLEN], *txt = NULL;
	cJSON *root;

	ia.s_addr = htonl(disc_alloc_next_fresh(a));
	inet_ntop(AF_INET, &ia, next, sizeof(next));
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(root, "version", STATE_VERSION) == NULL ||
	    add_opt(root, "operator_id", st->operator_id) ||
	    add_opt(root, "ingress_endpoint", st->ingress_endpoint) ||
	    add_opt(root, "api_url", st->api_url) ||
	    add_opt(root, "next_address",
	    disc_alloc_next_fresh(a) ? next : NULL) ||
	    (c.map = cJSON_AddObjectToObject(root, "addresses")) == NULL ||
	    (c.rel = cJSON_AddArrayToObject(root, "released")) == NULL)
		goto out;
	disc_alloc_foreach(a, save_one, &c);
	if (w != NULL && disc_wild_count(w) > 0) {
		if ((c.map = cJSON_AddObjectToObject(root, "wildcard_names")) == NULL)
			goto out;
		disc_wild_foreach(w, save_wild, &c);
	}
	if (!c.fail)
		txt = cJSON_Print(root);
out:
	cJSON_Delete(root);
	if (txt == NULL)
		errno = ENOMEM;
	return txt;
}

int
disc_state_save(const char *path, const struct disc_state *st,
    const disc_alloc_t *a, const disc_wild_t *w)
{
	char *txt;
	int r;

	if ((txt = disc_state_render(st, a, w)) == NULL)
		return -ENOMEM;
	r = disc_write_atomic(path, txt, strlen(txt), 0600, 0);
	free(txt);
	return r;
}
