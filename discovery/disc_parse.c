/*
 * disc_parse.c: the ngrok API's bound_endpoints replies and error bodies,
 * through cJSON, with every field checked.  A bad endpoint is skipped and
 * logged; a bad page is refused whole so the caller keeps the previous set.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

void
disc_eplist_free(struct disc_eplist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].hostname);
		free(l->v[i].proto);
		free(l->v[i].url);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int
valid_label(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int
disc_valid_hostname(const char *s)
{
	const char *p, *dot;
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	if (len == 0 || len > DISC_MAX_HOST)
		return 0;
	for (p = s; ; p = dot + 1) {
		dot = strchr(p, '.');
		if (!valid_label(p, dot ? (size_t)(dot - p) : strlen(p)))
			return 0;
		if (dot == NULL)
			return 1;
	}
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int
disc_parse_url(const char *url, char *scheme, size_t schemelen, char *host,
    size_t hostlen, uint16_t *port)
{
	const char *sep, *h, *end, *colon;
	size_t slen, hlen;

	*port = 0;
	if ((sep = strstr(url, "://")) == NULL)
		return -EINVAL;
	slen = (size_t)(sep - url);
	if (slen == 0 || slen >= schemelen)
		return -EINVAL;
	memcpy(scheme, url, slen);
	scheme[slen] = '\0';
	lower(scheme);
	h = sep + 3;
	end = h + strcspn(h, "/?#");
	if (memchr(h, '@', (size_t)(end - h)) != NULL)
		return -EINVAL;		/* userinfo: not an endpoint URL */
	colon = memchr(h, ':', (size_t)(end - h));
	if (colon != NULL && parse_port(colon + 1, (size_t)(end - colon - 1),
	    port) != 0)
		return -EINVAL;
	hlen = (size_t)((colon ? colon : end) - h);
	if (hlen == 0 || hlen >= hostlen)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	lower(host);
	return 0;
}

static uint16_t
default_port(const char *proto)
{
	if (strcmp(proto, "http") == 0)
		return 80;
	if (strcmp(proto, "https") == 0 || strcmp(proto, "tls") == 0)
		return 443;
	return 0;	/* tcp: the URL or the record must carry one */
}

static int
known_proto(const char *p)
{
	return strcmp(p, "http") == 0 || strcmp(p, "https") == 0 ||
	    strcmp(p, "tcp") == 0 || strcmp(p, "tls") == 0;
}

/* A string member, NULL when absent or null; -1 through *bad when present
 * with another type or too long. */
static const char *
get_str(const cJSON *o, const char *name, size_t max, int *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    strlen(v->valuestring) > max) {
		*bad = 1;
		return NULL;
	}
	return v->valuestring;
}

struct raw_ep {
	const char	*id, *url, *proto, *hostname;
	long		 port;		/* -1: absent */
};

static int
read_raw(const cJSON *o, struct raw_ep *r, const char **why)
{
	const cJSON *pv;
	int bad = 0;

	if (!cJSON_IsObject(o))
		return *why = "not an object", -1;
	r->id = get_str(o, "id", DISC_MAX_ID, &bad);
	r->url = get_str(o, "url", DISC_MAX_URL, &bad);
	r->proto = get_str(o, "proto", 16, &bad);
	r->hostname = get_str(o, "hostname", DISC_MAX_HOST, &bad);
	if (bad)
		return *why = "a field has the wrong type or is too long", -1;
	if (r->id == NULL || r->id[0] == '\0')
		return *why = "no id", -1;
	if (r->url == NULL || r->url[0] == '\0')
		return *why = "no url", -1;
	r->port = -1;
	pv = cJSON_GetObjectItemCaseSensitive(o, "port");
	if (pv != NULL && !cJSON_IsNull(pv)) {
		if (!cJSON_IsNumber(pv) || pv->valuedouble < 1 ||
		    pv->valuedouble > 65535 ||
		    pv->valuedouble != (double)(long)pv->valuedouble)
			return *why = "port out of range 1..65535", -1;
		r->port = (long)pv->valuedouble;
	}
	return 0;
}

static int
ep_from_raw(const struct raw_ep *r, struct disc_ep *ep, const char **why)
{
	char scheme[16], host[DISC_MAX_HOST + 1];
	const char *proto;
	uint16_t uport;

	if (disc_parse_url(r->url, scheme, sizeof(scheme), host, sizeof(host),
	    &uport) != 0)
		return *why = "url is not scheme://host[:port]", -1;
	proto = r->proto != NULL && r->proto[0] != '\0' ? r->proto : scheme;
	if (!known_proto(proto))
		return *why = "unknown proto", -1;
	if (r->hostname != NULL && r->hostname[0] != '\0') {
		snprintf(host, sizeof(host), "%s", r->hostname);
		lower(host);
	}
	if (!disc_valid_hostname(host))
		return *why = "invalid host name", -1;
	ep->port = r->port > 0 ? (uint16_t)r->port :
	    uport ? uport : default_port(proto);
	if (ep->port == 0)
		return *why = "no port (tcp needs one)", -1;
	ep->id = strdup(r->id);
	ep->hostname = strdup(host);
	ep->proto = strdup(proto);
	ep->url = strdup(r->url);
	ep->addr = 0;
	if (!ep->id || !ep->hostname || !ep->proto || !ep->url) {
		free(ep->id); free(ep->hostname); free(ep->proto); free(ep->url);
		return *why = "out of memory", -1;
	}
	lower(ep->proto);
	return 0;
}

/* The record's id for a log line, when it is short and printable. */
static const char *
raw_id_or(const cJSON *o)
{
	const cJSON *v = cJSON_IsObject(o) ?
	    cJSON_GetObjectItemCaseSensitive(o, "id") : NULL;
	const char *p;

	if (!cJSON_IsString(v) || strlen(v->valuestring) > DISC_MAX_ID)
		return "no id";
	for (p = v->valuestring; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return "unprintable id";
	return v->valuestring;
}

static int
eplist_reserve(struct disc_eplist *l, size_t more)
{
	struct disc_ep *v;
	size_t ncap;

	if (l->n + more <= l->cap)
		return 0;
	ncap = l->cap ? l->cap : 64;
	while (ncap < l->n + more)
		ncap *= 2;
	if ((v = realloc(l->v, ncap * sizeof(*v))) == NULL)
		return -ENOMEM;
	l->v = v;
	l->cap = ncap;
	return 0;
}

static int
page_next(const cJSON *root, char **next, char *err, size_t errlen)
{
	const cJSON *nv = cJSON_GetObjectItemCaseSensitive(root, "next_page_uri");

	*next = NULL;
	if (nv == NULL || cJSON_IsNull(nv))
		return 0;
	if (!cJSON_IsString(nv) || strlen(nv->valuestring) > DISC_MAX_URL) {
		snprintf(err, errlen, "next_page_uri is not a string of at most %d bytes",
		    DISC_MAX_URL);
		return -EINVAL;
	}
	if (nv->valuestring[0] != '\0' && (*next = strdup(nv->valuestring)) == NULL)
		return -ENOMEM;
	return 0;
}

int
disc_parse_page(const char *body, size_t len, struct disc_eplist *out,
    char **next, char *err, size_t errlen)
{
	const cJSON *eps, *o;
	struct raw_ep raw;
	const char *why;
	cJSON *root;
	size_t n0 = out->n;
	int idx = 0, r = -EINVAL;

	*next = NULL;
	if (len > DISC_MAX_BODY) {
		snprintf(err, errlen, "reply of %zu bytes is over the %u limit",
		    len, DISC_MAX_BODY);
		return -EINVAL;
	}
	if ((root = cJSON_ParseWithLength(body, len)) == NULL ||
	    !cJSON_IsObject(root)) {
		snprintf(err, errlen, "reply is not a JSON object");
		goto out;
	}
	eps = cJSON_GetObjectItemCaseSensitive(root, "endpoints");
	if (!cJSON_IsArray(eps)) {
		snprintf(err, errlen, "reply has no \"endpoints\" array");
		goto out;
	}
	if (out->n + (size_t)cJSON_GetArraySize(eps) > DISC_MAX_ENDPOINTS) {
		snprintf(err, errlen, "more than %d endpoints", DISC_MAX_ENDPOINTS);
		goto out;
	}
	if ((r = eplist_reserve(out, (size_t)cJSON_GetArraySize(eps))) != 0)
		goto out;
	cJSON_ArrayForEach(o, eps) {
		if (read_raw(o, &raw, &why) == 0 &&
		    ep_from_raw(&raw, &out->v[out->n], &why) == 0)
			out->n++;
		else
			log_warnx("disc: bound endpoint %d (%s): %s; skipped",
			    idx, raw_id_or(o), why);
		idx++;
	}
	if ((r = page_next(root, next, err, errlen)) != 0)
		goto rollback;
	r = 0;
	goto out;
rollback:
	while (out->n > n0) {
		struct disc_ep *e = &out->v[--out->n];

		free(e->id); free(e->hostname); free(e->proto); free(e->url);
	}
out:
	cJSON_Delete(root);
	return r;
}

static int
cmp_host_port(const void *a, const void *b)
{
	const struct disc_ep *x = a, *y = b;
	int c = strcmp(x->hostname, y->hostname);

	if (c != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->id, y->id);	/* deterministic winner */
}

void
disc_eplist_normalize(struct disc_eplist *l)
{
	size_t i, w = 0;

	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), cmp_host_port);
	for (i = 1; i < l->n; i++) {
		struct disc_ep *keep = &l->v[w], *e = &l->v[i];

		if (strcmp(keep->hostname, e->hostname) == 0 &&
		    keep->port == e->port) {
			log_debug("disc: %s and %s both serve %s:%u; keeping %s",
			    keep->id, e->id, e->hostname, e->port, keep->id);
			free(e->id); free(e->hostname); free(e->proto); free(e->url);
			continue;
		}
		l->v[++w] = *e;
	}
	l->n = w + 1;
}

/* Keeps printable ASCII only, so an error body cannot forge log lines. */
static void
copy_printable(char *dst, size_t dlen, const char *src)
{
	size_t i = 0;

	for (; *src && i + 1 < dlen; src++)
		dst[i++] = isprint((unsigned char)*src) ? *src : '?';
	dst[i] = '\0';
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static const char *
explain(const char *code)
{
	static const struct { const char *code, *text; } known[] = {
		{ "ERR_NGROK_19002", "bindings (Kubernetes bound endpoints) are not "
		    "enabled for this ngrok account" },
		{ "ERR_NGROK_401", "the API key is not valid" },
		{ "ERR_NGROK_402", "the API key is not valid" },
		{ "ERR_NGROK_404", "not found (the operator may have been deleted)" },
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(code, known[i].code) == 0)
			return known[i].text;
	return NULL;
}

int
disc_parse_error(const char *body, size_t len, char *buf, size_t buflen)
{
	char code[64], msg[256];
	const char *text;
	cJSON *root;
	int bad = 0, r = -EINVAL;

	if (len > DISC_MAX_BODY || (root = cJSON_ParseWithLength(body, len)) == NULL)
		return -EINVAL;
	if (!cJSON_IsObject(root))
		goto out;
	copy_printable(code, sizeof(code), or_empty(get_str(root, "error_code",
	    63, &bad)));
	copy_printable(msg, sizeof(msg), or_empty(get_str(root, "msg", 4096,
	    &bad)));
	if (code[0] == '\0' && msg[0] == '\0')
		goto out;
	if ((text = explain(code)) != NULL)
		snprintf(buf, buflen, "%s (%s)", text, code);
	else if (code[0] != '\0')
		snprintf(buf, buflen, "%s: %s", code, msg[0] ? msg : "no message");
	else
		snprintf(buf, buflen, "%s", msg);
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

/* Length of "scheme://authority" at the start of u, 0 when u is not an
 * absolute http(s) URL. */
static size_t
origin_len(const char *u)
{
	size_t n;

	if (strncasecmp(u, "http://", 7) == 0)
		n = 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		n = 8;
	else
		return 0;
	return n + strcspn(u + n, "/?#");
}

char *
disc_resolve_uri(const char *base, const char *uri)
{
	size_t bo = origin_len(base), uo = origin_len(uri);
	char *out;

	if (bo == 0 || strlen(uri) > DISC_MAX_URL)
		goto inval;
	if (uo != 0) {
		/* Absolute: only the API itself, so a reply cannot send our
		 * bearer key to another host. */
		if (uo != bo || strncasecmp(base, uri, bo) != 0)
			goto inval;
		/* "//" after the origin reads as a second authority to some
		 * URL parsers: refuse it here as for relative URIs. */
		if (uri[uo] == '/' && uri[uo + 1] == '/')
			goto inval;
		return strdup(uri);
	}
	if (uri[0] != '/' || uri[1] == '/')
		goto inval;
	if ((out = malloc(bo + strlen(uri) + 1)) == NULL)
		return NULL;
	memcpy(out, base, bo);
	strcpy(out + bo, uri);
	return out;
inval:
	errno = EINVAL;
	return NULL;
}
