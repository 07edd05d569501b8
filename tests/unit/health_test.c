/*
 * health_test: the HTTP listener (daemon/health.c) on a real loop and real
 * TCP sockets on 127.0.0.1 (an ephemeral port), with fake handlers, and
 * its request parser on its own.  Clients run in the same thread: each
 * helper pumps the loop while it waits for the server's bytes.  Every
 * misbehaving client is followed by a check that a good one is still
 * answered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"

#define WAIT_MS		3000
#define RESP_MAX	(256 * 1024)

struct fx {
	loop_t		*loop;
	health_t	*hs;
	uint16_t	 port;
	int		 ready;
	int		 status_fail;
	int		 calls_metrics;
	char		 resp[RESP_MAX];
	size_t		 rlen;
};

/* ---- fake handlers ------------------------------------------------------- */

static int
h_ready(void *arg, char *reason, size_t len)
{
	struct fx *f = arg;

	if (!f->ready)
		snprintf(reason, len, "no successful endpoint poll yet\r\nX-Evil: 1");
	return f->ready;
}

static int
h_status(void *arg, cJSON *obj)
{
	struct fx *f = arg;
	cJSON *a, *e;

	if (f->status_fail)
		return -EIO;
	cJSON_AddBoolToObject(obj, "registered", 1);
	cJSON_AddStringToObject(obj, "operator_id", "k8sop_test");
	a = cJSON_AddArrayToObject(obj, "endpoints");
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", "ep_1");
	cJSON_AddNumberToObject(e, "port", 443);
	cJSON_AddItemToArray(a, e);
	return 0;
}

static int
h_metrics(void *arg, struct metrics_snapshot *s)
{
	struct fx *f = arg;
	struct endpoint_stats st = { .streams_active = 2, .streams_total = 9 };

	f->calls_metrics++;
	s->ready = f->ready;
	s->have_stack = 1;
	s->stack.rst_limit = 4;
	return metrics_snapshot_add_endpoint(s, "ep_1", "api.example", 443, &st);
}

/* ---- fixture ------------------------------------------------------------- */

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct health_handlers h = { h_ready, h_status, h_metrics, NULL };

	if (f == NULL)
		return -1;
	h.arg = f;
	if ((f->loop = loop_new()) == NULL)
		return -1;
	if ((f->hs = health_new(f->loop, "127.0.0.1", 0, &h)) == NULL)
		return -1;
	f->port = health_port(f->hs);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	health_free(f->hs);
	loop_free(f->loop);
	free(f);
	return 0;
}

/* ---- client helpers ------------------------------------------------------ */

static int
conn(struct fx *f)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(f->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	/* Loopback connects complete from the backlog, before any accept. */
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void
pump(struct fx *f, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;

	while (loop_clock_ms() < end)
		loop_once(f->loop, 5);
}

static void
send_all(struct fx *f, int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			assert_true(errno == EAGAIN);
			loop_once(f->loop, 5);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Reads into f->resp until EOF; returns 1 on EOF, 0 on timeout, -1 on a
 * reset.  Pumps the loop meanwhile. */
static int
read_to_eof(struct fx *f, int fd, int max_ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)max_ms;
	ssize_t n;

	f->rlen = 0;
	while (loop_clock_ms() < end) {
		n = recv(fd, f->resp + f->rlen, sizeof(f->resp) - 1 - f->rlen, 0);
		if (n == 0) {
			f->resp[f->rlen] = '\0';
			return 1;
		}
		if (n > 0) {
			f->rlen += (size_t)n;
			assert_true(f->rlen < sizeof(f->resp) - 1);
			continue;
		}
		if (errno == ECONNRESET) {
			f->resp[f->rlen] = '\0';
			return -1;
		}
		assert_true(errno == EAGAIN);
		loop_once(f->loop, 5);
	}
	f->resp[f->rlen] = '\0';
	return 0;
}

/* One request on a new connection; the status code, headers and body are
 * in f->resp. */
static int
req(struct fx *f, const char *raw)
{
	int fd = conn(f), code = 0;

	send_all(f, fd, raw, strlen(raw));
	assert_int_equal(read_to_eof(f, fd, WAIT_MS), 1);
	close(fd);
	assert_int_equal(sscanf(f->resp, "HTTP/1.1 %d ", &code), 1);
	return code;
}

static const char *
body(struct fx *f)
{
	const char *b = strstr(f->resp, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

static long
content_length(struct fx *f)
{
	const char *h = strstr(f->resp, "\r\nContent-Length: ");

	assert_non_null(h);
	return strtol(h + 18, NULL, 10);
}

static int
has_header(struct fx *f, const char *line)
{
	char want[256];
	const char *end = strstr(f->resp, "\r\n\r\n");
	const char *p;

	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	p = strstr(f->resp, want);
	return p != NULL && end != NULL && p < end + 2;
}

/* A well-behaved probe still gets its answer. */
static void
good_probe(struct fx *f)
{
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
	assert_string_equal(body(f), "ok\n");
}

/* ---- paths --------------------------------------------------------------- */

static void
test_port(void **state)
{
	struct fx *f = *state;

	assert_true(f->port != 0);
}

static void
test_healthz(void **state)
{
	struct fx *f = *state;

	good_probe(f);
	assert_true(has_header(f, "Connection: close"));
	assert_true(has_header(f, "Content-Length: 3"));
	assert_true(has_header(f, "Content-Type: text/plain; charset=utf-8"));
	/* Query strings are ignored; HTTP/1.0 and bare LF line ends too. */
	assert_int_equal(req(f, "GET /healthz?verbose=1 HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\nHost: x\n\n"), 200);
}

static void
test_readyz(void **state)
{
	struct fx *f = *state;

	f->ready = 0;
	assert_int_equal(req(f, "GET /readyz HTTP/1.1\r\n\r\n"), 503);
	/* The reason, cut at the line end the handler put in it. */
	assert_string_equal(body(f), "no successful endpoint poll yet\n");
	assert_false(has_header(f, "X-Evil: 1"));
	f->ready = 1;
	assert_int_equal(req(f, "GET /readyz HTTP/1.1\r\n\r\n"), 200);
	assert_string_equal(body(f), "ready\n");
	f->ready = 0;
	assert_int_equal(req(f, "GET /readyz HTTP/1.1\r\n\r\n"), 503);
}

static void
test_status(void **state)
{
	struct fx *f = *state;
	cJSON *j, *a;

	assert_int_equal(req(f, "GET /status HTTP/1.1\r\n\r\n"), 200);
	assert_true(has_header(f, "Content-Type: application/json"));
	assert_int_equal(content_length(f), (long)strlen(body(f)));
	assert_non_null(j = cJSON_Parse(body(f)));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "registered")));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "operator_id")), "k8sop_test");
	a = cJSON_GetObjectItem(j, "endpoints");
	assert_int_equal(cJSON_GetArraySize(a), 1);
	cJSON_Delete(j);
	f->status_fail = 1;
	assert_int_equal(req(f, "GET /status HTTP/1.1\r\n\r\n"), 500);
	good_probe(f);
}

static void
test_metrics(void **state)
{
	struct fx *f = *state;

	f->ready = 1;
	assert_int_equal(req(f, "GET /metrics HTTP/1.1\r\n\r\n"), 200);
	assert_true(has_header(f,
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
	assert_int_equal(content_length(f), (long)strlen(body(f)));
	assert_non_null(strstr(body(f), "\nngrokd_up 1\n"));
	assert_non_null(strstr(body(f), "\nngrokd_ready 1\n"));
	assert_non_null(strstr(body(f), "\nngrokd_rst_sent_total{reason=\"limit\"} 4\n"));
	assert_non_null(strstr(body(f), "\nngrokd_streams_active{endpoint=\"ep_1\","
	    "hostname=\"api.example\",port=\"443\"} 2\n"));
	assert_int_equal(f->calls_metrics, 1);
}

static void
test_head(void **state)
{
	struct fx *f = *state;
	long get_len;

	assert_int_equal(req(f, "GET /metrics HTTP/1.1\r\n\r\n"), 200);
	get_len = (long)strlen(body(f));
	assert_true(get_len > 100);
	assert_int_equal(req(f, "HEAD /metrics HTTP/1.1\r\n\r\n"), 200);
	assert_int_equal(content_length(f), get_len);
	assert_string_equal(body(f), "");
	assert_int_equal(req(f, "HEAD /nope HTTP/1.1\r\n\r\n"), 404);
	assert_string_equal(body(f), "");
}

static void
test_not_found(void **state)
{
	struct fx *f = *state;
	char big[512];

	assert_int_equal(req(f, "GET / HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(req(f, "GET /healthz/ HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(req(f, "GET /HEALTHZ HTTP/1.1\r\n\r\n"), 404);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	snprintf(big + 400, sizeof(big) - 400, " HTTP/1.1\r\n\r\n");
	assert_int_equal(req(f, big), 404);
}

/* Handlers that are not set: 404, and /healthz still works. */
static void
test_no_handlers(void **state)
{
	struct fx *f = *state;
	struct health_handlers none = { NULL, NULL, NULL, NULL };
	health_t *hs2;
	uint16_t port = f->port;

	assert_non_null(hs2 = health_new(f->loop, "127.0.0.1", 0, &none));
	f->port = health_port(hs2);
	assert_true(f->port != port);
	assert_int_equal(req(f, "GET /readyz HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(req(f, "GET /metrics HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(req(f, "GET /status HTTP/1.1\r\n\r\n"), 404);
	good_probe(f);
	health_free(hs2);
	f->port = port;
	good_probe(f);
}

/* ---- bad requests -------------------------------------------------------- */

static void
test_bad_method(void **state)
{
	struct fx *f = *state;

	assert_int_equal(req(f, "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
	    405);
	assert_true(has_header(f, "Allow: GET, HEAD"));
	assert_int_equal(req(f, "DELETE /status HTTP/1.1\r\n\r\n"), 405);
	assert_int_equal(req(f, "get /healthz HTTP/1.1\r\n\r\n"), 405);
	good_probe(f);
}

static void
test_garbage(void **state)
{
	struct fx *f = *state;
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

	/* A TLS ClientHello is refused at its first byte. */
	assert_int_equal(req(f, tls), 400);
	assert_int_equal(req(f, "GET /healthz HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(req(f, "GET /healthz\r\n\r\n"), 400);
	assert_int_equal(req(f, "GET  /healthz HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(req(f, "GET http://x/healthz HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
	    400);
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
	    "hello"), 400);
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
	assert_int_equal(req(f, "\r\nGET /healthz HTTP/1.1\r\n\r\n"), 400);
	good_probe(f);
}

static void
test_oversized(void **state)
{
	struct fx *f = *state;
	char *big = malloc(HEALTH_MAX_REQUEST + 1024);
	size_t n;

	assert_non_null(big);
	n = (size_t)snprintf(big, 64, "GET /healthz HTTP/1.1\r\nX-Pad: ");
	memset(big + n, 'a', HEALTH_MAX_REQUEST + 1000 - n);
	memcpy(big + HEALTH_MAX_REQUEST + 1000, "\r\n\r\n", 5);
	assert_int_equal(req(f, big), 431);
	/* Many small headers are refused as well. */
	n = (size_t)snprintf(big, 64, "GET /healthz HTTP/1.1\r\n");
	while (n < 2000)
		n += (size_t)snprintf(big + n, 64, "X: y\r\n");
	snprintf(big + n, 8, "\r\n");
	assert_int_equal(req(f, big), 431);
	/* Just under the limit is fine. */
	n = (size_t)snprintf(big, 64, "GET /healthz HTTP/1.1\r\nX-Pad: ");
	memset(big + n, 'a', HEALTH_MAX_REQUEST - 4 - n);
	memcpy(big + HEALTH_MAX_REQUEST - 4, "\r\n\r\n", 5);
	assert_int_equal(strlen(big), HEALTH_MAX_REQUEST);
	assert_int_equal(req(f, big), 200);
	free(big);
	good_probe(f);
}

/* A request trickling in byte by byte is still answered. */
static void
test_split(void **state)
{
	struct fx *f = *state;
	const char *r = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = conn(f);
	size_t i;

	for (i = 0; r[i] != '\0'; i++) {
		send_all(f, fd, r + i, 1);
		pump(f, 2);
	}
	assert_int_equal(read_to_eof(f, fd, WAIT_MS), 1);
	close(fd);
	assert_int_equal(strncmp(f->resp, "HTTP/1.1 200 OK\r\n", 17), 0);
}

/* ---- slow and many clients ----------------------------------------------- */

static void
test_slow_client(void **state)
{
	struct fx *f = *state;
	uint64_t t0;
	int silent, partial;

	health_set_limits(f->hs, 0, 300);
	silent = conn(f);
	partial = conn(f);
	send_all(f, partial, "GET /hea", 8);
	t0 = loop_clock_ms();
	good_probe(f);		/* not held up by either */
	assert_int_equal(read_to_eof(f, partial, WAIT_MS), 1);
	assert_true(loop_clock_ms() - t0 >= 250);
	assert_true(loop_clock_ms() - t0 < 1500);
	assert_int_equal(strncmp(f->resp, "HTTP/1.1 408 ", 13), 0);
	assert_int_equal(read_to_eof(f, silent, WAIT_MS), 1);
	assert_int_equal(strncmp(f->resp, "HTTP/1.1 408 ", 13), 0);
	close(silent);
	close(partial);
	good_probe(f);
}

/* A client that neither reads its response nor closes holds its slot only
 * until its deadline. */
static void
test_lingering_client(void **state)
{
	struct fx *f = *state;
	uint64_t t0;
	int fd;

	health_set_limits(f->hs, 1, 300);
	fd = conn(f);
	send_all(f, fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	t0 = loop_clock_ms();
	pump(f, 100);
	/* The only slot is still taken. */
	assert_int_equal(req(f, "GET /healthz HTTP/1.1\r\n\r\n"), 503);
	pump(f, 300);
	assert_true(loop_clock_ms() - t0 >= 300);
	good_probe(f);
	/* It got its whole response all the same. */
	assert_int_equal(read_to_eof(f, fd, WAIT_MS), 1);
	assert_int_equal(strncmp(f->resp, "HTTP/1.1 200 OK\r\n", 17), 0);
	assert_int_equal(content_length(f), (long)strlen(body(f)));
	close(fd);
}

static void
test_too_many_clients(void **state)
{
	struct fx *f = *state;
	int a, b, c;

	health_set_limits(f->hs, 2, 400);
	a = conn(f);
	b = conn(f);
	pump(f, 30);		/* both accepted */
	c = conn(f);
	assert_int_equal(read_to_eof(f, c, WAIT_MS), 1);
	close(c);
	assert_int_equal(strncmp(f->resp, "HTTP/1.1 503 ", 13), 0);
	assert_string_equal(body(f), "too many clients\n");
	/* A slot frees when a client goes away. */
	close(a);
	pump(f, 30);
	good_probe(f);
	close(b);
	pump(f, 30);
}

/* A client that hangs up mid-request frees its slot at once. */
static void
test_hangup(void **state)
{
	struct fx *f = *state;
	int fd;

	health_set_limits(f->hs, 1, 5000);
	fd = conn(f);
	send_all(f, fd, "GET /hea", 8);
	pump(f, 20);
	close(fd);
	pump(f, 20);
	good_probe(f);
}

static void
test_bad_address(void **state)
{
	struct fx *f = *state;
	struct health_handlers none = { NULL, NULL, NULL, NULL };
	health_t *hs2;

	errno = 0;
	assert_null(health_new(f->loop, "example.com", 0, &none));
	assert_int_equal(errno, EINVAL);
	/* The port is taken. */
	assert_null(health_new(f->loop, "127.0.0.1", f->port, &none));
	assert_int_equal(errno, EADDRINUSE);
	/* localhost is 127.0.0.1; IPv6 loopback works when configured. */
	assert_non_null(hs2 = health_new(f->loop, "localhost", 0, &none));
	health_free(hs2);
	if ((hs2 = health_new(f->loop, "::1", 0, &none)) != NULL)
		health_free(hs2);
	good_probe(f);
}

/* ---- the parser on its own ----------------------------------------------- */

static void
test_parser(void **state)
{
	static const struct { const char *in; int want; } cases[] = {
		{ "", 0 },
		{ "G", 0 },
		{ "GET /healthz HTTP/1.1\r", 0 },
		{ "GET /healthz HTTP/1.1\r\n", 0 },
		{ "GET /healthz HTTP/1.1\r\nHost: a", 0 },
		{ "GET /healthz HTTP/1.1\r\nHost: a\r\n\r", 0 },
		{ "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", HEALTH_PARSE_OK },
		{ "GET /a HTTP/1.1\r\nX:\r\nY:  v  \r\n\r\n", HEALTH_PARSE_OK },
		{ "GET /a HTTP/1.1\r\nContent-Length: 00\r\n\r\n", HEALTH_PARSE_OK },
		{ "GET /a HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", HEALTH_PARSE_OK },
		{ "PUT /a HTTP/1.1\r\n\r\n", 405 },
		{ "GET /a HTTP/1.9\r\n\r\n", HEALTH_PARSE_OK },
		{ "GET /a HTTP/3.0\r\n\r\n", 505 },
		{ "GET /a HTTP/1.10\r\n\r\n", 400 },
		{ "GET /a HTTPS/1.1\r\n\r\n", 400 },
		{ "GET /a b HTTP/1.1\r\n\r\n", 400 },
		{ "GET /\x7f HTTP/1.1\r\n\r\n", 400 },
		{ " GET", 400 },
		{ "GE\x01", 400 },
		{ "GET /a\x01", 400 },
		{ "GET /a HTTP/1.1\r\nX\x01", 400 },
		{ "GET /a HTTP/1.1\r\n\tX", 400 },
		{ "GET /a HTTP/1.1\r\n: v\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nX: a\x01\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nContent-Length: 1\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\nContent-Length:\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\ntransfer-encoding: x\r\n\r\n", 400 },
		{ "GET /a HTTP/1.1\r\r\n\r\n", 400 },
	};
	struct health_request r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = health_parse_request(cases[i].in, strlen(cases[i].in), &r);

		if (got != cases[i].want)
			fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].in,
			    got, cases[i].want);
	}
	assert_int_equal(health_parse_request("HEAD /metrics?x=1&y HTTP/1.0\r\n\r\n",
	    32, &r), HEALTH_PARSE_OK);
	assert_true(r.head);
	assert_true(r.http10);
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(r.consumed, 32);
	assert_int_equal(health_parse_request("GET /x HTTP/1.1\n\nextra", 22, &r),
	    HEALTH_PARSE_OK);
	assert_int_equal(r.consumed, 17);
	assert_false(r.head);
	assert_false(r.path_too_long);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser),
		cmocka_unit_test_setup_teardown(test_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readyz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_handlers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lingering_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
	};

	log_init("health_test", 1, LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
