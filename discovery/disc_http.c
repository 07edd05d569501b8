/*
 * disc_http.c: one HTTP request to the ngrok API through libcurl's easy
 * interface, run on the discovery worker thread (docs/discovery.md says why
 * not the multi interface).  Replies are capped at DISC_MAX_BODY; redirects
 * are not followed, so the bearer key only ever goes to api.url.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "discovery/disc_http.h"

#define USER_AGENT	"ngrokd/" NGROKD_VERSION

/* Called by libcurl about once a second, and on every chunk: a non-zero
 * return abandons the transfer. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return __atomic_load_n((const int *)arg, __ATOMIC_RELAXED) != 0;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct disc_http_reply *r = arg;
	size_t n = size * nmemb;
	char *b;

	if (r->len + n > DISC_MAX_BODY) {
		r->too_big = 1;
		return 0;		/* curl stops with CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > r->cap) {
		size_t ncap = r->cap ? r->cap : 16384;

		while (ncap < r->len + n + 1)
			ncap *= 2;
		if ((b = realloc(r->body, ncap)) == NULL)
			return 0;
		r->body = b;
		r->cap = ncap;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

void
disc_http_reply_free(struct disc_http_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int
disc_http(void *curl, const struct disc_http_req *q, struct disc_http_reply *r)
{
	struct curl_slist *h = NULL, *h2;
	char auth[600];
	CURLcode cc;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (strlen(q->key) > 512)
		return -EINVAL;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", q->key);
	if ((h = curl_slist_append(NULL, auth)) == NULL ||
	    (h2 = curl_slist_append(h, "Ngrok-Version: 2")) == NULL ||
	    (h2 = curl_slist_append(h, "Accept: application/json")) == NULL ||
	    (q->body && (h2 = curl_slist_append(h,
	    "Content-Type: application/json")) == NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, q->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)q->connect_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)q->total_ms);
	if (q->cancel != NULL) {
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, q->cancel);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	if (strcmp(q->method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->body != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, q->body);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(r->error, sizeof(r->error), "%s", r->too_big ?
		    "reply larger than 8 MiB" : curl_easy_strerror(cc));
		ret = -EIO;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body == NULL && (r->body = calloc(1, 1)) == NULL)
		ret = -ENOMEM;
out:
	/* The header list holds the key: wipe it before it is freed. */
	explicit_bzero(auth, sizeof(auth));
	for (h2 = h; h2 != NULL; h2 = h2->next)
		explicit_bzero(h2->data, strlen(h2->data));
	curl_slist_free_all(h);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	return ret;
}
