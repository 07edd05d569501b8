/*
 * endpoints_fuzz.c: libFuzzer harness for the bound_endpoints page parser
 * (discovery/disc_parse.c), as the API worker runs it on every poll:
 * disc_parse_page, disc_eplist_normalize, disc_resolve_uri on next_page_uri,
 * and disc_parse_error on the same body (an error reply).
 *
 * Invariants: every endpoint kept is complete and valid (id, URL and host
 * name within their limits, host name lower case and well-formed, a known
 * proto, a non-zero port); a refused page leaves the list as it was; after
 * normalizing, (hostname, port) pairs are sorted and unique; a resolved
 * next page never leaves the API's origin (the bearer key goes there).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

#define API_BASE	"https://api.ngrok.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_ep(const struct disc_ep *e)
{
	const char *p;

	if (e->id == NULL || e->hostname == NULL || e->proto == NULL ||
	    e->url == NULL || e->id[0] == '\0' || e->url[0] == '\0' ||
	    strlen(e->id) > DISC_MAX_ID || strlen(e->url) > DISC_MAX_URL ||
	    !disc_valid_hostname(e->hostname) || e->port == 0 || e->addr != 0)
		abort();
	for (p = e->hostname; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	if (strcmp(e->proto, "http") != 0 && strcmp(e->proto, "https") != 0 &&
	    strcmp(e->proto, "tcp") != 0 && strcmp(e->proto, "tls") != 0)
		abort();
}

static void
check_list(const struct disc_eplist *l, int normalized)
{
	size_t i;
	int c;

	if (l->n > l->cap || l->n > DISC_MAX_ENDPOINTS)
		abort();
	for (i = 0; i < l->n; i++) {
		check_ep(&l->v[i]);
		if (!normalized || i == 0)
			continue;
		c = strcmp(l->v[i - 1].hostname, l->v[i].hostname);
		if (c > 0 || (c == 0 && l->v[i - 1].port >= l->v[i].port))
			abort();
	}
}

static void
check_next(const char *next)
{
	size_t bo = strlen(API_BASE);
	char *url;

	if (next == NULL)
		return;
	if (next[0] == '\0' || strlen(next) > DISC_MAX_URL)
		abort();
	url = disc_resolve_uri(API_BASE, next);
	if (url == NULL) {
		if (errno != EINVAL && errno != ENOMEM)
			abort();
		return;
	}
	if (strncasecmp(url, API_BASE, bo) != 0 ||
	    (url[bo] != '\0' && url[bo] != '/' && url[bo] != '?' &&
	    url[bo] != '#') || (url[bo] == '/' && url[bo + 1] == '/'))
		abort();
	free(url);
}

static void
check_err(const char *err, size_t cap)
{
	if (memchr(err, '\0', cap) == NULL || err[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct disc_eplist l = { NULL, 0, 0 };
	char err[256], msg[512], *next = NULL, *body;
	const char *p;
	size_t n1;
	int r;

	log_set_level(LOG_LVL_ERROR);
	/* The API reply is a counted buffer, not a C string: copy it to an
	 * exact-size allocation so that a read past its end is caught. */
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);

	r = disc_parse_page(body, size, &l, &next, err, sizeof(err));
	if (r != 0) {
		if ((r != -EINVAL && r != -ENOMEM) || l.n != 0 || next != NULL)
			abort();
		check_err(err, sizeof(err));
	} else {
		check_list(&l, 0);
		check_next(next);
		free(next);
		next = NULL;
	}
	/* A second page appended to the first (pagination), then the
	 * per-poll normalization. */
	n1 = l.n;
	r = disc_parse_page(body, size, &l, &next, err, sizeof(err));
	if (r != 0 && l.n != n1)
		abort();
	if (r == 0 && l.n != 2 * n1)
		abort();
	free(next);
	disc_eplist_normalize(&l);
	check_list(&l, 1);
	disc_eplist_free(&l);

	/* An error body becomes a log line: printable ASCII only. */
	if (disc_parse_error(body, size, msg, sizeof(msg)) == 0) {
		if (memchr(msg, '\0', sizeof(msg)) == NULL)
			abort();
		for (p = msg; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
	}
	free(body);
	return 0;
}
