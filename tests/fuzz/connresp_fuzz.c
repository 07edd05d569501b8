/*
 * connresp_fuzz.c: libFuzzer harness for the ingress's reply as the tunnel
 * reads it (tunnel/tunnel.c do_header): bytes arrive in TLS records of any
 * size, proto_frame_need is asked after each one with the tunnel's 16 KiB
 * cap, then proto_conn_response_decode runs on the payload and whatever
 * follows the frame is the start of the raw pipe.  The same payload also
 * goes through proto_conn_request_decode (the fake ingress's side).
 *
 * Input: one byte seeding the record sizes, then the byte stream from the
 * ingress.  (tests/fuzz/proto_fuzz.c drives the codec with whole frames;
 * this one adds the incremental framing.)
 *
 * Invariants: the framer's answer only ever goes from "need more" to one
 * fixed frame size (2 + the LE16 length) or to -EMSGSIZE as soon as the
 * announced length is over the cap, whatever the record boundaries; a
 * decoded reply holds NUL-terminated, printable strings and at most
 * PROTO_MAX_NOTICES notices; "refused" is exactly "a non-empty error code
 * or message".
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/proto.h"

#define HDR_MAX		16384	/* tunnel.c's cap on a ConnResponse payload */
#define DOWN_CAP	(HDR_MAX + PROTO_FRAME_HDR)

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
	size_t i;
	int refused;

	if (r->n_notices > PROTO_MAX_NOTICES)
		abort();
	check_str(r->endpoint_id, sizeof(r->endpoint_id));
	check_str(r->proto, sizeof(r->proto));
	check_str(r->error_code, sizeof(r->error_code));
	check_str(r->error_message, sizeof(r->error_message));
	for (i = 0; i < r->n_notices; i++)
		check_str(r->notices[i], sizeof(r->notices[i]));
	for (; i < PROTO_MAX_NOTICES; i++)
		if (r->notices[i][0] != '\0')
			abort();
	refused = r->error_code[0] != '\0' || r->error_message[0] != '\0';
	if (proto_conn_response_refused(r) != refused)
		abort();
}

static void
decode(const uint8_t *frame, size_t need)
{
	struct proto_conn_response cr;
	struct proto_conn_request rq;
	uint8_t *payload;
	size_t plen = need - PROTO_FRAME_HDR;
	int r;

	/* Exact-size copy: a read past the payload is caught. */
	if ((payload = malloc(plen ? plen : 1)) == NULL)
		return;
	memcpy(payload, frame + PROTO_FRAME_HDR, plen);
	r = proto_conn_response_decode(payload, plen, &cr);
	if (r == 0)
		check_response(&cr);
	else if (r != -EBADMSG && r != -EINVAL)
		abort();
	r = proto_conn_request_decode(payload, plen, &rq);
	if (r == 0)
		check_str(rq.host, sizeof(rq.host));
	else if (r != -EBADMSG && r != -EINVAL)
		abort();
	free(payload);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t down[DOWN_CAP];
	size_t len = 0, off, announced, rec;
	unsigned seed;
	int need = 0;

	if (size == 0)
		return 0;
	seed = data[0];
	data++;
	size--;
	for (off = 0; ; ) {
		need = proto_frame_need(down, len, HDR_MAX);
		announced = len >= 2 ? (size_t)down[0] | (size_t)down[1] << 8 :
		    0;
		if (len < 2 && need != 0)
			abort();
		if (need < 0) {
			if (need != -EMSGSIZE || announced <= HDR_MAX)
				abort();
			return 0;	/* "ConnResponse larger than ..." */
		}
		if (len >= 2 && announced > HDR_MAX)
			abort();
		if (need > 0) {
			if ((size_t)need != announced + 2 || (size_t)need > len)
				abort();
			break;
		}
		if (len >= 2 && len >= announced + 2)
			abort();	/* the whole frame is there */
		if (len == DOWN_CAP || off == size)
			return 0;	/* does not fit / the ingress closed */
		/* The next TLS record: 1..64 bytes, then up to 16 KiB. */
		rec = seed % 7 == 0 ? size - off : 1 + (seed + off) % 64;
		seed = seed * 33 + 7;
		if (rec > size - off)
			rec = size - off;
		if (rec > DOWN_CAP - len)
			rec = DOWN_CAP - len;
		memcpy(down + len, data + off, rec);
		len += rec;
		off += rec;
	}
	decode(down, (size_t)need);
	return 0;
}
