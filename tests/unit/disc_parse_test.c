/* disc_parse_test.c: bound_endpoints pages, host names, URLs, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discovery/disc_priv.h"

static int
parse(const char *body, struct disc_eplist *l, char **next)
{
	char err[256];

	return disc_parse_page(body, strlen(body), l, next, err, sizeof(err));
}

static const struct disc_ep *
by_id(const struct disc_eplist *l, const char *id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	return NULL;
}

static void
test_fields_and_defaults(void **state)
{
	struct disc_eplist l = { 0 };
	const struct disc_ep *e;
	char *next = NULL;

	assert_int_equal(parse("{\"endpoints\":["
	    "{\"id\":\"ep_1\",\"url\":\"http://my-api.ngrok.app\",\"proto\":\"http\"},"
	    "{\"id\":\"ep_2\",\"url\":\"https://My-API.ngrok.app\"},"
	    "{\"id\":\"ep_3\",\"url\":\"tcp://1.tcp.ngrok.io:12345\",\"proto\":\"tcp\"},"
	    "{\"id\":\"ep_4\",\"url\":\"https://x.example\",\"hostname\":\"y.example\",\"port\":8443},"
	    "{\"id\":\"ep_5\",\"url\":\"tls://t.example\"}"
	    "],\"next_page_uri\":null}", &l, &next), 0);
	assert_null(next);
	assert_int_equal(l.n, 5);
	e = by_id(&l, "ep_1");
	assert_string_equal(e->hostname, "my-api.ngrok.app");
	assert_int_equal(e->port, 80);
	assert_string_equal(e->proto, "http");
	e = by_id(&l, "ep_2");
	assert_string_equal(e->hostname, "my-api.ngrok.app");
	assert_int_equal(e->port, 443);
	assert_string_equal(e->proto, "https");
	e = by_id(&l, "ep_3");
	assert_string_equal(e->hostname, "1.tcp.ngrok.io");
	assert_int_equal(e->port, 12345);
	e = by_id(&l, "ep_4");
	assert_string_equal(e->hostname, "y.example");
	assert_int_equal(e->port, 8443);
	assert_int_equal(by_id(&l, "ep_5")->port, 443);
	disc_eplist_free(&l);
}

static void
test_bad_endpoints_skipped(void **state)
{
	struct disc_eplist l = { 0 };
	char *next = NULL, longid[200];

	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	char body[2048];
	snprintf(body, sizeof(body), "{\"endpoints\":["
	    "{\"id\":\"ok\",\"url\":\"http://good.example\"},"
	    "{\"id\":\"p0\",\"url\":\"http://a.example\",\"port\":0},"
	    "{\"id\":\"p1\",\"url\":\"http://a.example\",\"port\":70000},"
	    "{\"id\":\"p2\",\"url\":\"http://a.example\",\"port\":\"80\"},"
	    "{\"id\":\"p3\",\"url\":\"http://a.example:0\"},"
	    "{\"id\":\"%s\",\"url\":\"http://a.example\"},"
	    "{\"id\":\"h1\",\"url\":\"http://-bad.example\"},"
	    "{\"id\":\"h2\",\"url\":\"http://a..example\"},"
	    "{\"id\":\"h3\",\"url\":\"http://a_b.example\"},"
	    "{\"id\":\"h4\",\"url\":\"http://x\",\"hostname\":\"evil\\nhost\"},"
	    "{\"id\":\"t1\",\"url\":\"tcp://1.tcp.ngrok.io\"},"
	    "{\"id\":\"u1\",\"url\":\"ftp://a.example:21\"},"
	    "{\"id\":\"u2\"},"
	    "{\"url\":\"http://noid.example\"},"
	    "{\"id\":\"u3\",\"url\":\"http://user@a.example\"},"
	    "42,"
	    "{\"id\":\"w\",\"url\":\"https://*.wild.example\"}"
	    "]}", longid);
	assert_int_equal(parse(body, &l, &next), 0);
	assert_int_equal(l.n, 2);
	assert_non_null(by_id(&l, "ok"));
	assert_string_equal(by_id(&l, "w")->hostname, "*.wild.example");
	disc_eplist_free(&l);
}

static void
test_bad_pages(void **state)
{
	static const char *bad[] = {
		"", "not json", "[]", "{\"endpoints\":{}}", "{}",
		"{\"endpoints\":[{\"id\":\"a\",\"url\":\"http://a.b\"}",	/* truncated */
		"{\"endpoints\":[],\"next_page_uri\":42}",
	};
	struct disc_eplist l = { 0 };
	char *next = NULL;
	size_t i;

	assert_int_equal(parse("{\"endpoints\":[{\"id\":\"keep\",\"url\":\"http://k.example\"}]}",
	    &l, &next), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &l, &next), -EINVAL);
		assert_null(next);
		assert_int_equal(l.n, 1);	/* page refused whole */
	}
	assert_int_equal(disc_parse_page("{\"endpoints\":[]}", DISC_MAX_BODY + 1,
	    &l, &next, (char[64]){0}, 64), -EINVAL);
	disc_eplist_free(&l);
}

static void
test_next_and_normalize(void **state)
{
	struct disc_eplist l = { 0 };
	char *next = NULL;

	assert_int_equal(parse("{\"endpoints\":["
	    "{\"id\":\"b\",\"url\":\"https://s.example\"},"
	    "{\"id\":\"a\",\"url\":\"https://s.example\"},"
	    "{\"id\":\"c\",\"url\":\"http://s.example\"}],"
	    "\"next_page_uri\":\"http://api/x?before_id=b\"}", &l, &next), 0);
	assert_string_equal(next, "http://api/x?before_id=b");
	free(next);
	disc_eplist_normalize(&l);
	assert_int_equal(l.n, 2);		/* two records, one URL */
	assert_int_equal(l.v[0].port, 80);
	assert_string_equal(l.v[1].id, "a");	/* lowest id wins */
	disc_eplist_free(&l);
}

static void
test_hostname_rules(void **state)
{
	char big[300];

	assert_true(disc_valid_hostname("a.b"));
	assert_true(disc_valid_hostname("x-1.ngrok.app"));
	assert_true(disc_valid_hostname("*.ngrok.app"));
	assert_false(disc_valid_hostname(""));
	assert_false(disc_valid_hostname("*."));
	assert_false(disc_valid_hostname("a.*.b"));
	assert_false(disc_valid_hostname("a-.b"));
	assert_false(disc_valid_hostname("a b"));
	assert_false(disc_valid_hostname("a."));
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_false(disc_valid_hostname(big));		/* label of 64 */
	memset(big, 'a', sizeof(big));
	for (size_t i = 63; i < sizeof(big); i += 64)
		big[i] = '.';
	big[253] = '\0';
	assert_true(big[252] != '.');
	assert_true(disc_valid_hostname(big));
	big[253] = 'a';
	big[254] = '\0';
	assert_false(disc_valid_hostname(big));	/* 254 */
}

static void
test_resolve_uri(void **state)
{
	char *u;

	u = disc_resolve_uri("http://127.0.0.1:8080", "/k/1/bound_endpoints?x=1");
	assert_string_equal(u, "http://127.0.0.1:8080/k/1/bound_endpoints?x=1");
	free(u);
	u = disc_resolve_uri("https://api.ngrok.com/", "https://api.ngrok.com/a?b");
	assert_string_equal(u, "https://api.ngrok.com/a?b");
	free(u);
	assert_null(disc_resolve_uri("https://api.ngrok.com", "https://evil.com/a"));
	assert_null(disc_resolve_uri("https://api.ngrok.com", "https://api.ngrok.com.evil.com/a"));
	assert_null(disc_resolve_uri("https://api.ngrok.com", "http://api.ngrok.com/a"));
	assert_null(disc_resolve_uri("https://api.ngrok.com", "//evil.com/a"));
	assert_null(disc_resolve_uri("https://api.ngrok.com", "a/b"));
}

static void
test_error_body(void **state)
{
	char buf[256];
	const char *b = "{\"error_code\":\"ERR_NGROK_19002\",\"status_code\":400,"
	    "\"msg\":\"x\"}";

	assert_int_equal(disc_parse_error(b, strlen(b), buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "not enabled"));
	assert_non_null(strstr(buf, "ERR_NGROK_19002"));
	b = "{\"error_code\":\"ERR_NGROK_1\",\"msg\":\"bad\\nthing\"}";
	assert_int_equal(disc_parse_error(b, strlen(b), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ERR_NGROK_1: bad?thing");
	assert_int_equal(disc_parse_error("<html>", 6, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(disc_parse_error("{}", 2, buf, sizeof(buf)), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_defaults),
		cmocka_unit_test(test_bad_endpoints_skipped),
		cmocka_unit_test(test_bad_pages),
		cmocka_unit_test(test_next_and_normalize),
		cmocka_unit_test(test_hostname_rules),
		cmocka_unit_test(test_resolve_uri),
		cmocka_unit_test(test_error_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
