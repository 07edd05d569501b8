/*
 * proto_test.c: the binding header codec (tunnel/proto.c): byte-exact
 * encodings worked out by hand, round trips, refusals, notices, unknown
 * fields, and every way a hostile or broken reply can be malformed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel/proto.h"

#define BUF_MAX	70000

/* A message assembled from pieces, remembering where each top-level field
 * ends so the truncation test knows which prefixes are whole messages. */
struct msg {
	uint8_t	b[4096];
	size_t	len;
	size_t	ends[64];
	size_t	n_ends;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put_byte(struct msg *m, uint8_t c)
{
	put(m, &c, 1);
}

static void
put_varint(struct msg *m, uint64_t v)
{
	while (v >= 0x80) {
		put_byte(m, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put_byte(m, (uint8_t)v);
}

static void
field_end(struct msg *m)
{
	assert_true(m->n_ends < 64);
	m->ends[m->n_ends++] = m->len;
}

static void
put_str(struct msg *m, uint32_t field, const char *s)
{
	size_t n = strlen(s);

	put_varint(m, (uint64_t)field << 3 | 2);
	put_varint(m, n);
	put(m, s, n);
	field_end(m);
}

static void
put_notice(struct msg *m, const char *s)
{
	size_t n = strlen(s);

	assert_true(n < 120);
	put_varint(m, 5 << 3 | 2);
	put_varint(m, 2 + n);
	put_byte(m, 0x0a);
	put_byte(m, (uint8_t)n);
	put(m, s, n);
	field_end(m);
}

static int
decode(const struct msg *m, struct proto_conn_response *r)
{
	return proto_conn_response_decode(m->b, m->len, r);
}

/* --- ConnRequest ------------------------------------------------------- */

static void
request_bytes_exact(void **state)
{
	/* 0x0a = field 1, wire type 2; 0x10 = 16 bytes of host;
	 * 0x10 = field 2, wire type 0; 443 = 0xbb 0x03 as a varint
	 * (443 & 0x7f = 0x3b | 0x80, 443 >> 7 = 3).  Payload: 2 + 16 + 3 = 21. */
	static const uint8_t want[] = {
		0x15, 0x00,
		0x0a, 0x10, 'm', 'y', '-', 'a', 'p', 'i', '.', 'n', 'g', 'r',
		'o', 'k', '.', 'a', 'p', 'p',
		0x10, 0xbb, 0x03,
	};
	uint8_t out[64];
	int n;

	(void)state;
	memset(out, 0xee, sizeof(out));
	n = proto_conn_request_encode(out, sizeof(out), "my-api.ngrok.app", 443);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(out[n], 0xee);

	/* Port 80 fits one varint byte; 65535 needs three (0xff 0xff 0x03). */
	n = proto_conn_request_encode(out, sizeof(out), "a", 80);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "\x05\x00\x0a\x01" "a" "\x10\x50", 7);
	n = proto_conn_request_encode(out, sizeof(out), "a", 65535);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "\x07\x00\x0a\x01" "a" "\x10\xff\xff\x03", 9);
}

static void
request_encode_rejects(void **state)
{
	char host[300];
	uint8_t out[512];
	size_t cap;

	(void)state;
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), "", 443),
	    -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), NULL, 443),
	    -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out),
	    "my-api.ngrok.app:443", 443), -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out),
	    "my api", 443), -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out),
	    "a\nb", 443), -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), "h", 0),
	    -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), "h", -443),
	    -EINVAL);
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), "h", 65536),
	    -EINVAL);

	memset(host, 'a', sizeof(host));
	host[253] = '\0';
	/* 253 bytes: 2 + 1 + 2 (length varint 0xfd 0x01) + 253 + 3 = 261 */
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), host, 443),
	    261);
	host[253] = 'a';
	host[254] = '\0';
	assert_int_equal(proto_conn_request_encode(out, sizeof(out), host, 443),
	    -EINVAL);

	/* Every buffer one byte short or more is refused, the exact fit works. */
	for (cap = 0; cap < 23; cap++)
		assert_int_equal(proto_conn_request_encode(out, cap,
		    "my-api.ngrok.app", 443), -EMSGSIZE);
	assert_int_equal(proto_conn_request_encode(out, 23, "my-api.ngrok.app",
	    443), 23);
}

static void
request_round_trip(void **state)
{
	struct proto_conn_request rq;
	uint8_t out[512];
	int n;

	(void)state;
	n = proto_conn_request_encode(out, sizeof(out), "x.ngrok.app", 8443);
	assert_true(n > 2);
	assert_int_equal(proto_frame_need(out, (size_t)n, 65536), n);
	assert_int_equal(proto_conn_request_decode(out + 2, (size_t)n - 2, &rq), 0);
	assert_string_equal(rq.host, "x.ngrok.app");
	assert_int_equal(rq.port, 8443);
	assert_int_equal(rq.truncated, 0);

	/* A negative int64 is a 10-byte varint; the decoder keeps it as sent
	 * (the fake ingress refuses it). */
	{
		static const uint8_t neg[] = { 0x0a, 0x01, 'h', 0x10, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };

		assert_int_equal(proto_conn_request_decode(neg, sizeof(neg), &rq), 0);
		assert_int_equal(rq.port, -1);
		assert_string_equal(rq.host, "h");
	}
	/* host:port is decoded verbatim, so a test can see the client sent it */
	{
		static const uint8_t hp[] = { 0x0a, 0x05, 'h', '.', 'x', ':', '1' };

		assert_int_equal(proto_conn_request_decode(hp, sizeof(hp), &rq), 0);
		assert_string_equal(rq.host, "h.x:1");
		assert_int_equal(rq.port, 0);
	}
}

static void
request_decode_long_host(void **state)
{
	struct proto_conn_request rq;
	struct msg m = { .len = 0 };
	char host[400];

	(void)state;
	memset(host, 'b', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	put_str(&m, 1, host);
	assert_int_equal(proto_conn_request_decode(m.b, m.len, &rq), 0);
	assert_int_equal(strlen(rq.host), PROTO_HOST_MAX);
	assert_int_equal(rq.truncated, 1);
	assert_int_equal(proto_conn_request_decode(m.b, m.len - 1, &rq),
	    -EBADMSG);
}

/* --- framing ------------------------------------------------------------ */

static void
frame_need(void **state)
{
	uint8_t b[BUF_MAX];

	(void)state;
	memset(b, 0, sizeof(b));
	assert_int_equal(proto_frame_need(b, 0, 65536), 0);
	assert_int_equal(proto_frame_need(NULL, 0, 65536), 0);
	b[0] = 3;
	assert_int_equal(proto_frame_need(b, 1, 65536), 0);
	assert_int_equal(proto_frame_need(b, 2, 65536), 0);
	assert_int_equal(proto_frame_need(b, 4, 65536), 0);
	assert_int_equal(proto_frame_need(b, 5, 65536), 5);
	/* bytes after the frame belong to the pipe, not the header */
	assert_int_equal(proto_frame_need(b, 100, 65536), 5);
	/* an empty ConnResponse is a whole frame */
	b[0] = 0;
	assert_int_equal(proto_frame_need(b, 2, 65536), 2);
	/* the length is little-endian: 0x01 0x02 = 513 */
	b[0] = 0x01;
	b[1] = 0x02;
	assert_int_equal(proto_frame_need(b, 514, 65536), 0);
	assert_int_equal(proto_frame_need(b, 515, 65536), 515);
	assert_int_equal(proto_frame_need(b, 515, 513), 515);
	assert_int_equal(proto_frame_need(b, 2, 512), -EMSGSIZE);
}

static void
frame_oversize(void **state)
{
	uint8_t b[BUF_MAX];

	(void)state;
	memset(b, 0x41, sizeof(b));
	b[0] = 0xff;
	b[1] = 0xff;
	/* Refused from the prefix alone, before the payload arrives. */
	assert_int_equal(proto_frame_need(b, 2, 1024), -EMSGSIZE);
	assert_int_equal(proto_frame_need(b, 2, 65534), -EMSGSIZE);
	/* Within a 64 KiB cap it is a (large) frame: more bytes needed. */
	assert_int_equal(proto_frame_need(b, 2, 65536), 0);
	assert_int_equal(proto_frame_need(b, 65536, 65536), 0);
	assert_int_equal(proto_frame_need(b, 65537, 65536), 65537);
}

/* --- ConnResponse ------------------------------------------------------- */

static void
response_bytes_exact(void **state)
{
	static const uint8_t want[] = {
		0x17, 0x00,
		0x0a, 0x04, 'e', 'p', '_', 'x',
		0x12, 0x04, 'h', 't', 't', 'p',
		/* Notice{1:"hi"}: 0x2a = field 5 type 2, 4 bytes: 0a 02 h i */
		0x2a, 0x04, 0x0a, 0x02, 'h', 'i',
		/* Notice{}: empty */
		0x2a, 0x00,
		0x22, 0x01, '!',
	};
	struct proto_conn_response r;
	uint8_t out[128];
	int n;

	(void)state;
	memset(&r, 0, sizeof(r));
	strcpy(r.endpoint_id, "ep_x");
	strcpy(r.proto, "http");
	strcpy(r.notices[0], "hi");
	r.n_notices = 2;
	n = proto_conn_response_encode(out, sizeof(out), &r);
	/* the encoder writes fields 1..4 then the notices */
	assert_int_equal(n, (int)sizeof(want) - 3);
	assert_memory_equal(out + 2, want + 2, sizeof(want) - 5);
	assert_int_equal(out[0], sizeof(want) - 5);
	assert_int_equal(out[1], 0);

	/* Field order does not matter to the decoder. */
	assert_int_equal(proto_conn_response_decode(want + 2, sizeof(want) - 2,
	    &r), 0);
	assert_string_equal(r.endpoint_id, "ep_x");
	assert_string_equal(r.proto, "http");
	assert_string_equal(r.error_message, "!");
	assert_int_equal(r.n_notices, 2);
	assert_string_equal(r.notices[0], "hi");
	assert_string_equal(r.notices[1], "");
	assert_int_equal(proto_conn_response_refused(&r), 1);
}

static void
response_round_trip(void **state)
{
	struct proto_conn_response in, out;
	uint8_t b[8192];
	size_t i;
	int n;

	(void)state;
	memset(&in, 0, sizeof(in));
	strcpy(in.endpoint_id, "ep_2abcDEF");
	strcpy(in.proto, "https");
	for (i = 0; i < PROTO_MAX_NOTICES; i++)
		snprintf(in.notices[i], sizeof(in.notices[i]), "notice %zu: "
		    "your plan is about to expire", i);
	in.n_notices = PROTO_MAX_NOTICES;
	n = proto_conn_response_encode(b, sizeof(b), &in);
	assert_true(n > 2);
	assert_int_equal(proto_frame_need(b, (size_t)n, 65536), n);
	assert_int_equal(proto_conn_response_decode(b + 2, (size_t)n - 2, &out),
	    0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(proto_conn_response_refused(&out), 0);

	/* An empty reply is an ok reply with nothing in it. */
	assert_int_equal(proto_conn_response_decode(b, 0, &out), 0);
	assert_int_equal(proto_conn_response_refused(&out), 0);
	assert_int_equal(out.n_notices, 0);

	/* Too many notices or a too small buffer are the caller's error. */
	in.n_notices = PROTO_MAX_NOTICES + 1;
	assert_int_equal(proto_conn_response_encode(b, sizeof(b), &in), -EINVAL);
	in.n_notices = 0;
	n = proto_conn_response_encode(b, sizeof(b), &in);
	assert_int_equal(proto_conn_response_encode(b, (size_t)n - 1, &in),
	    -EMSGSIZE);
	assert_int_equal(proto_conn_response_encode(b, 1, &in), -EMSGSIZE);
}

static void
response_refusals(void **state)
{
	struct proto_conn_response r;
	struct msg m = { .len = 0 };
	uint8_t b[1024];
	int n;

	(void)state;
	put_str(&m, 3, "ERR_NGROK_3200");
	assert_int_equal(decode(&m, &r), 0);
	assert_string_equal(r.error_code, "ERR_NGROK_3200");
	assert_int_equal(proto_conn_response_refused(&r), 1);

	m.len = 0;
	put_str(&m, 4, "endpoint not found");
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(proto_conn_response_refused(&r), 1);

	/* An endpoint id does not cancel an error. */
	m.len = 0;
	put_str(&m, 1, "ep_1");
	put_str(&m, 2, "http");
	put_str(&m, 3, "ERR_NGROK_1");
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(proto_conn_response_refused(&r), 1);

	/* A later empty value replaces an earlier one (last one wins). */
	put_str(&m, 3, "");
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(proto_conn_response_refused(&r), 0);

	/* Encoder -> decoder keeps the refusal. */
	memset(&r, 0, sizeof(r));
	strcpy(r.error_code, "ERR_NGROK_3200");
	strcpy(r.error_message, "no such endpoint");
	n = proto_conn_response_encode(b, sizeof(b), &r);
	assert_true(n > 0);
	assert_int_equal(proto_conn_response_decode(b + 2, (size_t)n - 2, &r), 0);
	assert_int_equal(proto_conn_response_refused(&r), 1);
	assert_string_equal(r.error_message, "no such endpoint");
}

static void
response_notices_overflow(void **state)
{
	struct proto_conn_response r;
	struct msg m = { .len = 0 };
	char s[32];
	int i;

	(void)state;
	for (i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "n%d", i);
		put_notice(&m, s);
	}
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(r.n_notices, PROTO_MAX_NOTICES);
	assert_string_equal(r.notices[7], "n7");
	assert_int_equal(r.truncated, 1);
	assert_int_equal(proto_conn_response_refused(&r), 0);

	/* Notices past the last slot are still checked. */
	put_byte(&m, 0x2a);
	put_byte(&m, 0x02);
	put_byte(&m, 0x0b);	/* a group inside the notice */
	put_byte(&m, 0x00);
	assert_int_equal(decode(&m, &r), -EBADMSG);
}

static void
response_unknown_fields(void **state)
{
	struct proto_conn_response r;
	struct msg m = { .len = 0 };
	static const uint8_t f64[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	put_varint(&m, 9 << 3 | 0);		/* varint */
	put_varint(&m, UINT64_MAX);		/* 10 bytes */
	field_end(&m);
	put_str(&m, 1, "ep_1");
	put_varint(&m, 10 << 3 | 1);		/* fixed64 */
	put(&m, f64, 8);
	field_end(&m);
	put_varint(&m, 11 << 3 | 2);		/* length-delimited */
	put_varint(&m, 3);
	put(&m, "\x03\x00\xff", 3);		/* contents are not parsed */
	field_end(&m);
	put_str(&m, 2, "http");
	put_varint(&m, 12 << 3 | 5);		/* fixed32 */
	put(&m, f64, 4);
	field_end(&m);
	/* known field numbers with another wire type are unknown fields */
	put_varint(&m, 3 << 3 | 0);
	put_varint(&m, 1);
	field_end(&m);
	put_varint(&m, 4 << 3 | 5);
	put(&m, f64, 4);
	field_end(&m);
	put_varint(&m, 5 << 3 | 1);
	put(&m, f64, 8);
	field_end(&m);
	/* a large field number (2^29 - 1) */
	put_varint(&m, (uint64_t)((1u << 29) - 1) << 3 | 0);
	put_varint(&m, 7);
	field_end(&m);
	/* unknown fields inside a notice */
	put_varint(&m, 5 << 3 | 2);
	put_varint(&m, 2 + 2 + 4);
	put(&m, "\x10\x01" "\x0a\x02" "ok" "\x18\x02", 8);
	field_end(&m);

	assert_int_equal(decode(&m, &r), 0);
	assert_string_equal(r.endpoint_id, "ep_1");
	assert_string_equal(r.proto, "http");
	assert_string_equal(r.error_code, "");
	assert_int_equal(r.n_notices, 1);
	assert_string_equal(r.notices[0], "ok");
	assert_int_equal(proto_conn_response_refused(&r), 0);
	assert_int_equal(r.truncated, 0);
}

/*
 * Every prefix of a valid frame: the framer wants more bytes, and the
 * decoder, given a cut payload, accepts it only where a field ends
 * (protobuf has no end marker) and rejects every other cut.
 */
static void
response_every_truncation(void **state)
{
	struct proto_conn_response r;
	struct msg m = { .len = 0 };
	uint8_t frame[4200];
	size_t k, e;
	int rc, boundary;

	(void)state;
	put_str(&m, 1, "ep_truncation");
	put_varint(&m, 9 << 3 | 0);
	put_varint(&m, 300);
	field_end(&m);
	put_str(&m, 2, "http");
	put_varint(&m, 10 << 3 | 1);
	put(&m, "12345678", 8);
	field_end(&m);
	put_notice(&m, "hello");
	put_varint(&m, 12 << 3 | 5);
	put(&m, "1234", 4);
	field_end(&m);
	{
		char big[200];

		memset(big, 'm', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		put_str(&m, 4, big);	/* 2-byte length varint */
	}
	put_varint(&m, 100000 << 3 | 2);	/* 3-byte key */
	put_varint(&m, 1);
	put_byte(&m, 'z');
	field_end(&m);

	frame[0] = (uint8_t)m.len;
	frame[1] = (uint8_t)(m.len >> 8);
	memcpy(frame + 2, m.b, m.len);
	for (k = 0; k < m.len + 2; k++)
		assert_int_equal(proto_frame_need(frame, k, 65536), 0);
	assert_int_equal(proto_frame_need(frame, m.len + 2, 65536), m.len + 2);

	for (k = 0; k <= m.len; k++) {
		boundary = k == 0;
		for (e = 0; e < m.n_ends; e++)
			if (m.ends[e] == k)
				boundary = 1;
		rc = proto_conn_response_decode(m.b, k, &r);
		if (boundary)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -EBADMSG);
	}
	assert_int_equal(decode(&m, &r), 0);
	assert_string_equal(r.notices[0], "hello");
	assert_int_equal(strlen(r.error_message), 199);

	/* the same for a ConnRequest */
	{
		struct proto_conn_request rq;
		uint8_t out[64];
		int n = proto_conn_request_encode(out, sizeof(out),
		    "my-api.ngrok.app", 443);

		for (k = 0; k < (size_t)n; k++)
			assert_int_equal(proto_frame_need(out, k, 65536), 0);
		for (k = 0; k <= (size_t)n - 2; k++) {
			rc = proto_conn_request_decode(out + 2, k, &rq);
			/* whole fields end after 18 and 21 bytes */
			if (k == 0 || k == 18 || k == 21)
				assert_int_equal(rc, 0);
			else
				assert_int_equal(rc, -EBADMSG);
		}
	}
}

static void
response_bad_varints(void **state)
{
	struct proto_conn_response r;
	uint8_t b[32];

	(void)state;
	/* an 11-byte varint value */
	memset(b, 0x80, sizeof(b));
	b[0] = 9 << 3 | 0;
	b[11] = 0x00;
	assert_int_equal(proto_conn_response_decode(b, 12, &r), -EBADMSG);
	/* 10 bytes whose last one spills past bit 63 */
	b[10] = 0x02;
	assert_int_equal(proto_conn_response_decode(b, 11, &r), -EBADMSG);
	/* 10 bytes, bit 63 only: fine */
	b[10] = 0x01;
	assert_int_equal(proto_conn_response_decode(b, 11, &r), 0);
	/* a redundant but short enough encoding of 0 is still protobuf */
	b[10] = 0x00;
	assert_int_equal(proto_conn_response_decode(b, 11, &r), 0);
	/* an over-long key */
	memset(b, 0xff, sizeof(b));
	assert_int_equal(proto_conn_response_decode(b, 11, &r), -EBADMSG);
	assert_int_equal(proto_conn_response_decode(b, 32, &r), -EBADMSG);
	/* an over-long length */
	memset(b, 0x80, sizeof(b));
	b[0] = 0x0a;
	b[12] = 0x01;
	assert_int_equal(proto_conn_response_decode(b, 13, &r), -EBADMSG);
	/* a length past the end, and a huge one that must not wrap */
	memcpy(b, "\x0a\x05" "abcd", 6);
	assert_int_equal(proto_conn_response_decode(b, 6, &r), -EBADMSG);
	memcpy(b, "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "a", 12);
	assert_int_equal(proto_conn_response_decode(b, 12, &r), -EBADMSG);
	memcpy(b, "\x0a\xff\xff\xff\xff\x0f" "a", 7);
	assert_int_equal(proto_conn_response_decode(b, 7, &r), -EBADMSG);
	/* field numbers above 2^29 - 1 */
	memcpy(b, "\x80\x80\x80\x80\x20\x00", 6);
	assert_int_equal(proto_conn_response_decode(b, 6, &r), -EBADMSG);
}

static void
response_groups_and_wire_types(void **state)
{
	struct proto_conn_response r;
	struct proto_conn_request rq;
	uint8_t b[4];
	unsigned wt;

	(void)state;
	for (wt = 3; wt <= 7; wt++) {
		if (wt == 5)
			continue;
		b[0] = (uint8_t)(6 << 3 | wt);	/* unknown field */
		b[1] = 0x00;
		b[2] = (uint8_t)(6 << 3 | 4);
		assert_int_equal(proto_conn_response_decode(b, 3, &r), -EBADMSG);
		assert_int_equal(proto_conn_request_decode(b, 3, &rq), -EBADMSG);
		b[0] = (uint8_t)(1 << 3 | wt);	/* known field */
		assert_int_equal(proto_conn_response_decode(b, 3, &r), -EBADMSG);
	}
	/* an empty group 5 start/end pair: still refused */
	assert_int_equal(proto_conn_response_decode((const uint8_t *)"\x2b\x2c",
	    2, &r), -EBADMSG);
}

static void
response_field_zero(void **state)
{
	struct proto_conn_response r;
	struct proto_conn_request rq;

	(void)state;
	assert_int_equal(proto_conn_response_decode((const uint8_t *)"\x00\x00",
	    2, &r), -EBADMSG);
	assert_int_equal(proto_conn_response_decode((const uint8_t *)"\x02\x00",
	    2, &r), -EBADMSG);
	/* field 0 as a 2-byte key */
	assert_int_equal(proto_conn_response_decode((const uint8_t *)"\x82\x00"
	    "\x00", 3, &r), -EBADMSG);
	/* inside a notice */
	assert_int_equal(proto_conn_response_decode((const uint8_t *)"\x2a\x02"
	    "\x00\x00", 4, &r), -EBADMSG);
	assert_int_equal(proto_conn_request_decode((const uint8_t *)"\x00\x00",
	    2, &rq), -EBADMSG);
	/* NULL with a length is a caller bug */
	assert_int_equal(proto_conn_response_decode(NULL, 1, &r), -EINVAL);
}

static void
response_long_strings(void **state)
{
	struct proto_conn_response r;
	struct msg m = { .len = 0 };
	char s[700];

	(void)state;
	memset(s, 'e', 300);
	s[300] = '\0';
	put_str(&m, 1, s);
	memset(s, 'x', 600);
	s[600] = '\0';
	put_str(&m, 4, s);
	memset(s, 'n', 400);
	s[400] = '\0';
	put_notice(&m, "short");
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(strlen(r.endpoint_id), sizeof(r.endpoint_id) - 1);
	assert_int_equal(strlen(r.error_message), sizeof(r.error_message) - 1);
	assert_int_equal(r.truncated, 1);
	assert_string_equal(r.notices[0], "short");

	/* a notice longer than its slot */
	m.len = 0;
	put_varint(&m, 5 << 3 | 2);
	put_varint(&m, 3 + 400);
	put_byte(&m, 0x0a);
	put_varint(&m, 400);
	put(&m, s, 400);
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(r.n_notices, 1);
	assert_int_equal(strlen(r.notices[0]), sizeof(r.notices[0]) - 1);
	assert_int_equal(r.truncated, 1);

	/* a string that fits exactly is not truncated */
	m.len = 0;
	memset(s, 'p', sizeof(r.proto) - 1);
	s[sizeof(r.proto) - 1] = '\0';
	put_str(&m, 2, s);
	assert_int_equal(decode(&m, &r), 0);
	assert_string_equal(r.proto, s);
	assert_int_equal(r.truncated, 0);

	/* cut at a character boundary: 126 bytes + a 2-byte character do not
	 * fit in 127, and half a character is never kept */
	m.len = 0;
	memset(s, 'a', 126);
	strcpy(s + 126, "\xc3\xa9");
	put_str(&m, 1, s);
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(strlen(r.endpoint_id), 126);
	assert_int_equal(r.truncated, 1);
}

static void
response_sanitized(void **state)
{
	struct proto_conn_response r;
	struct msg m = { .len = 0 };

	(void)state;
	/* newline, ESC, a lone 0xff byte, then a valid é */
	put_str(&m, 4, "a\nb\x1b[31m\xff\xc3\xa9");
	/* C1 CSI (U+009B), an overlong '/', a surrogate, DEL, tab */
	put_str(&m, 3, "\xc2\x9b" "1\xc0\xaf" "2\xed\xa0\x80" "3\x7f\t");
	/* 4-byte emoji is kept; an out of range F5 lead byte is not */
	put_str(&m, 1, "\xf0\x9f\x98\x80\xf5\x80\x80\x80");
	/* a character cut by the end of the field */
	put_str(&m, 2, "h\xe2\x82");
	assert_int_equal(decode(&m, &r), 0);
	assert_string_equal(r.error_message, "a?b?[31m?\xc3\xa9");
	assert_string_equal(r.error_code, "?1??2???3??");
	assert_string_equal(r.endpoint_id, "\xf0\x9f\x98\x80????");
	assert_string_equal(r.proto, "h??");
	assert_int_equal(r.truncated, 0);

	/* an embedded NUL cannot hide the rest of a message */
	m.len = 0;
	put_varint(&m, 4 << 3 | 2);
	put_varint(&m, 5);
	put(&m, "ab\0cd", 5);
	assert_int_equal(decode(&m, &r), 0);
	assert_string_equal(r.error_message, "ab?cd");
	assert_int_equal(proto_conn_response_refused(&r), 1);

	/* a control byte alone still makes a refusal */
	m.len = 0;
	put_str(&m, 3, "\x01");
	assert_int_equal(decode(&m, &r), 0);
	assert_int_equal(proto_conn_response_refused(&r), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_bytes_exact),
		cmocka_unit_test(request_encode_rejects),
		cmocka_unit_test(request_round_trip),
		cmocka_unit_test(request_decode_long_host),
		cmocka_unit_test(frame_need),
		cmocka_unit_test(frame_oversize),
		cmocka_unit_test(response_bytes_exact),
		cmocka_unit_test(response_round_trip),
		cmocka_unit_test(response_refusals),
		cmocka_unit_test(response_notices_overflow),
		cmocka_unit_test(response_unknown_fields),
		cmocka_unit_test(response_every_truncation),
		cmocka_unit_test(response_bad_varints),
		cmocka_unit_test(response_groups_and_wire_types),
		cmocka_unit_test(response_field_zero),
		cmocka_unit_test(response_long_strings),
		cmocka_unit_test(response_sanitized),
	};

	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
