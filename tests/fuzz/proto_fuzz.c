/*
 * proto_fuzz.c: libFuzzer harness for the binding header codec
 * (tunnel/proto.c): the framer, the ConnResponse decoder ngrokd runs on
 * every ingress reply, and the ConnRequest decoder of the fake ingress.
 *
 * Any input must give 0 or -EBADMSG, never a crash; a decoded reply holds
 * NUL-terminated strings without control characters, at most
 * PROTO_MAX_NOTICES notices, and survives encode -> decode unchanged
 * (sanitizing is idempotent).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap), i;

	if (n == cap)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void
check_response(const struct proto_conn_response *r)
{
	uint8_t buf[8192];
	struct proto_conn_response again;
	size_t i;
	int n;

	if (r->n_notices > PROTO_MAX_NOTICES)
		abort();
	check_str(r->endpoint_id, sizeof(r->endpoint_id));
	check_str(r->proto, sizeof(r->proto));
	check_str(r->error_code, sizeof(r->error_code));
	check_str(r->error_message, sizeof(r->error_message));
	for (i = 0; i < r->n_notices; i++)
		check_str(r->notices[i], sizeof(r->notices[i]));
	n = proto_conn_response_encode(buf, sizeof(buf), r);
	if (n < 2 || proto_frame_need(buf, (size_t)n, 65536) != n)
		abort();
	if (proto_conn_response_decode(buf + 2, (size_t)n - 2, &again) != 0)
		abort();
	/* Strings, not arrays: a repeated field leaves bytes of the earlier
	 * value after the NUL. */
	if (strcmp(again.endpoint_id, r->endpoint_id) != 0 ||
	    strcmp(again.proto, r->proto) != 0 ||
	    strcmp(again.error_code, r->error_code) != 0 ||
	    strcmp(again.error_message, r->error_message) != 0 ||
	    again.n_notices != r->n_notices || again.truncated != 0)
		abort();
	for (i = 0; i < r->n_notices; i++)
		if (strcmp(again.notices[i], r->notices[i]) != 0)
			abort();
	if (proto_conn_response_refused(&again) != proto_conn_response_refused(r))
		abort();
}

static void
check_request(const uint8_t *data, size_t size)
{
	struct proto_conn_request rq, again;
	uint8_t buf[512];
	int r, n;

	r = proto_conn_request_decode(data, size, &rq);
	if (r != 0) {
		if (r != -EBADMSG)
			abort();
		return;
	}
	check_str(rq.host, sizeof(rq.host));
	n = proto_conn_request_encode(buf, sizeof(buf), rq.host, rq.port);
	if (n == -EINVAL)
		return;		/* empty host, host:port, bad port */
	if (n < 2 || proto_conn_request_decode(buf + 2, (size_t)n - 2,
	    &again) != 0 || strcmp(again.host, rq.host) != 0 ||
	    again.port != rq.port)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_conn_response r;
	int need, rc;

	need = proto_frame_need(data, size, 1024);
	if (need != 0 && need != -EMSGSIZE &&
	    (need < 2 || (size_t)need > size || need > 1026))
		abort();
	rc = proto_conn_response_decode(data, size, &r);
	if (rc == 0)
		check_response(&r);
	else if (rc != -EBADMSG)
		abort();
	check_request(data, size);
	return 0;
}
