/*
 * proto.c: the ngrok binding header (see proto.h).  Input comes from the
 * network (the ingress reply; the client request in the fake ingress), so
 * every read is checked against what is left and nothing is allocated.
 */
#include <errno.h>
#include <string.h>

#include "tunnel/proto.h"

#define WT_VARINT	0
#define WT_FIXED64	1
#define WT_LEN		2
#define WT_FIXED32	5
#define FIELD_MAX	((1u << 29) - 1)	/* protobuf's largest field number */
#define PAYLOAD_MAX	0xffffu			/* what a uint16 prefix can say */

/* A read cursor over untrusted bytes. */
struct rd {
	const uint8_t	*p;
	size_t		 left;
};

/* A write cursor; overflow is sticky so encoders check once at the end. */
struct wr {
	uint8_t		*p;
	size_t		 cap, len;
	int		 overflow;
};

/* --- reading ------------------------------------------------------------ */

static int
rd_varint(struct rd *b, uint64_t *v)
{
	uint64_t x = 0;
	unsigned i;
	uint8_t c;

	for (i = 0; i < 10; i++) {
		if (b->left == 0)
			return -EBADMSG;
		c = *b->p++;
		b->left--;
		/* The 10th byte carries bit 63 only; more (or a continuation
		 * bit) means a varint longer than 64 bits. */
		if (i == 9 && c > 1)
			return -EBADMSG;
		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if ((c & 0x80) == 0) {
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

static int
rd_skip(struct rd *b, size_t n)
{
	if (n > b->left)
		return -EBADMSG;
	b->p += n;
	b->left -= n;
	return 0;
}

/* A length-delimited value: *v points into the input, *n bytes long. */
static int
rd_bytes(struct rd *b, const uint8_t **v, size_t *n)
{
	uint64_t len;
	int r;

	if ((r = rd_varint(b, &len)) != 0)
		return r;
	if (len > b->left)
		return -EBADMSG;
	*v = b->p;
	*n = (size_t)len;
	return rd_skip(b, (size_t)len);
}

static int
rd_key(struct rd *b, uint32_t *field, unsigned *wt)
{
	uint64_t key;
	int r;

	if ((r = rd_varint(b, &key)) != 0)
		return r;
	if ((key >> 3) == 0 || (key >> 3) > FIELD_MAX)
		return -EBADMSG;
	*field = (uint32_t)(key >> 3);
	*wt = (unsigned)(key & 7);
	/* Groups (3, 4) are deprecated and never used by ngrok; 6 and 7 do
	 * not exist.  Refusing them keeps the skipper non-recursive. */
	if (*wt != WT_VARINT && *wt != WT_FIXED64 && *wt != WT_LEN &&
	    *wt != WT_FIXED32)
		return -EBADMSG;
	return 0;
}

static int
rd_skip_value(struct rd *b, unsigned wt)
{
	const uint8_t *v;
	uint64_t x;
	size_t n;

	switch (wt) {
	case WT_VARINT:
		return rd_varint(b, &x);
	case WT_FIXED64:
		return rd_skip(b, 8);
	case WT_LEN:
		return rd_bytes(b, &v, &n);
	case WT_FIXED32:
		return rd_skip(b, 4);
	default:
		return -EBADMSG;
	}
}

/* --- strings for logging ------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if ill-formed; *cp gets
 * the code point.
 */
static size_t
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * Copies s into dst (cap bytes, NUL-terminated) for log lines: C0/C1
 * control characters, DEL and ill-formed UTF-8 bytes become '?', so a
 * hostile reply cannot forge log lines or drive a terminal.  Cuts at a
 * character boundary; returns 1 when it had to cut.
 */
static int
str_copy(char *dst, size_t cap, const uint8_t *s, size_t n)
{
	size_t i = 0, o = 0, k;
	uint32_t cp;

	while (i < n) {
		k = utf8_seq(s + i, n - i, &cp);
		if (k == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			if (o + 1 > cap - 1)
				break;
			dst[o++] = '?';
			i += k == 0 ? 1 : k;
			continue;
		}
		if (o + k > cap - 1)
			break;
		memcpy(dst + o, s + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
	return i < n;
}

/* --- decoding ----------------------------------------------------------- */

int
proto_frame_need(const uint8_t *buf, size_t len, size_t max)
{
	size_t plen;

	if (len < PROTO_FRAME_HDR)
		return 0;
	if (buf == NULL)
		return -EINVAL;
	plen = (size_t)buf[0] | (size_t)buf[1] << 8;
	if (plen > max)
		return -EMSGSIZE;
	if (len < PROTO_FRAME_HDR + plen)
		return 0;
	return (int)(PROTO_FRAME_HDR + plen);
}

int
proto_conn_request_decode(const uint8_t *msg, size_t len,
    struct proto_conn_request *r)
{
	struct rd b = { msg, len };
	const uint8_t *v;
	uint32_t field;
	unsigned wt;
	uint64_t x;
	size_t n;
	int e;

	if (r == NULL || (msg == NULL && len > 0))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	while (b.left > 0) {
		if ((e = rd_key(&b, &field, &wt)) != 0)
			return e;
		if (field == 1 && wt == WT_LEN) {
			if ((e = rd_bytes(&b, &v, &n)) != 0)
				return e;
			r->truncated = str_copy(r->host, sizeof(r->host), v, n);
		} else if (field == 2 && wt == WT_VARINT) {
			if ((e = rd_varint(&b, &x)) != 0)
				return e;
			/* int64 travels as its two's complement. */
			r->port = (int64_t)x;
		} else if ((e = rd_skip_value(&b, wt)) != 0)
			return e;
	}
	return 0;
}

/* One Notice message; dst NULL: validate only (no room left). */
static int
decode_notice(const uint8_t *msg, size_t len, char *dst, size_t cap,
    int *truncated)
{
	struct rd b = { msg, len };
	const uint8_t *v;
	uint32_t field;
	unsigned wt;
	size_t n;
	int e;

	if (dst != NULL)
		dst[0] = '\0';
	while (b.left > 0) {
		if ((e = rd_key(&b, &field, &wt)) != 0)
			return e;
		if (field == 1 && wt == WT_LEN) {
			if ((e = rd_bytes(&b, &v, &n)) != 0)
				return e;
			if (dst != NULL && str_copy(dst, cap, v, n))
				*truncated = 1;
		} else if ((e = rd_skip_value(&b, wt)) != 0)
			return e;
	}
	return 0;
}

static int
response_field(struct rd *b, uint32_t field, struct proto_conn_response *r)
{
	static const struct {
		size_t	off, cap;
	} strs[] = {
		[1] = { offsetof(struct proto_conn_response, endpoint_id),
			sizeof(r->endpoint_id) },
		[2] = { offsetof(struct proto_conn_response, proto),
			sizeof(r->proto) },
		[3] = { offsetof(struct proto_conn_response, error_code),
			sizeof(r->error_code) },
		[4] = { offsetof(struct proto_conn_response, error_message),
			sizeof(r->error_message) },
	};
	const uint8_t *v;
	char *dst = NULL;
	size_t n;
	int e;

	if ((e = rd_bytes(b, &v, &n)) != 0)
		return e;
	if (field >= 1 && field <= 4) {
		if (str_copy((char *)r + strs[field].off, strs[field].cap, v, n))
			r->truncated = 1;
		return 0;
	}
	/* field 5: a Notice.  Past the last slot it is still checked. */
	if (r->n_notices < PROTO_MAX_NOTICES)
		dst = r->notices[r->n_notices];
	else
		r->truncated = 1;
	if ((e = decode_notice(v, n, dst, sizeof(r->notices[0]),
	    &r->truncated)) != 0)
		return e;
	if (dst != NULL)
		r->n_notices++;
	return 0;
}

int
proto_conn_response_decode(const uint8_t *msg, size_t len,
    struct proto_conn_response *r)
{
	struct rd b = { msg, len };
	uint32_t field;
	unsigned wt;
	int e;

	if (r == NULL || (msg == NULL && len > 0))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	while (b.left > 0) {
		if ((e = rd_key(&b, &field, &wt)) != 0)
			return e;
		if (field >= 1 && field <= 5 && wt == WT_LEN)
			e = response_field(&b, field, r);
		else
			e = rd_skip_value(&b, wt);
		if (e != 0)
			return e;
	}
	return 0;
}

int
proto_conn_response_refused(const struct proto_conn_response *r)
{
	return r->error_code[0] != '\0' || r->error_message[0] != '\0';
}

/* --- encoding ----------------------------------------------------------- */

static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void
wr_byte(struct wr *w, uint8_t c)
{
	if (w->len >= w->cap) {
		w->overflow = 1;
		return;
	}
	w->p[w->len++] = c;
}

static void
wr_varint(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		wr_byte(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	wr_byte(w, (uint8_t)v);
}

static void
wr_raw(struct wr *w, const void *s, size_t n)
{
	if (n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

/* A string field; proto3 leaves empty strings out. */
static void
wr_string(struct wr *w, uint32_t field, const char *s, size_t n)
{
	if (n == 0)
		return;
	wr_varint(w, (uint64_t)field << 3 | WT_LEN);
	wr_varint(w, n);
	wr_raw(w, s, n);
}

/* Reserves the length prefix; frame_end fills it in. */
static void
frame_begin(struct wr *w, uint8_t *out, size_t cap)
{
	w->p = out;
	w->cap = cap;
	w->len = 0;
	w->overflow = 0;
	wr_byte(w, 0);
	wr_byte(w, 0);
}

static int
frame_end(struct wr *w)
{
	size_t plen;

	if (w->overflow)
		return -EMSGSIZE;
	plen = w->len - PROTO_FRAME_HDR;
	if (plen > PAYLOAD_MAX)
		return -EMSGSIZE;
	w->p[0] = (uint8_t)(plen & 0xff);
	w->p[1] = (uint8_t)(plen >> 8);
	return (int)w->len;
}

/* The ingress routes on the bare host name; "host:port" or anything that
 * cannot be in a DNS name is a caller bug, refused before it is sent. */
static int
host_ok(const char *host, size_t *n)
{
	size_t i;

	if (host == NULL)
		return 0;
	*n = strnlen(host, PROTO_HOST_MAX + 1);
	if (*n == 0 || *n > PROTO_HOST_MAX)
		return 0;
	for (i = 0; i < *n; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c == ':' || c <= ' ' || c == 0x7f)
			return 0;
	}
	return 1;
}

int
proto_conn_request_encode(uint8_t *out, size_t cap, const char *host,
    int64_t port)
{
	struct wr w;
	size_t n;

	if (!host_ok(host, &n) || port < 1 || port > 65535)
		return -EINVAL;
	if (out == NULL)
		return -EINVAL;
	frame_begin(&w, out, cap);
	wr_string(&w, 1, host, n);
	wr_varint(&w, 2 << 3 | WT_VARINT);
	wr_varint(&w, (uint64_t)port);
	return frame_end(&w);
}

/* strlen of a fixed array that must hold its NUL. */
static int
field_len(const char *s, size_t cap, size_t *n)
{
	*n = strnlen(s, cap);
	return *n < cap ? 0 : -EINVAL;
}

int
proto_conn_response_encode(uint8_t *out, size_t cap,
    const struct proto_conn_response *r)
{
	const char *f[4];
	size_t caps[4], n, i;
	struct wr w;

	if (out == NULL || r == NULL || r->n_notices > PROTO_MAX_NOTICES)
		return -EINVAL;
	f[0] = r->endpoint_id;
	caps[0] = sizeof(r->endpoint_id);
	f[1] = r->proto;
	caps[1] = sizeof(r->proto);
	f[2] = r->error_code;
	caps[2] = sizeof(r->error_code);
	f[3] = r->error_message;
	caps[3] = sizeof(r->error_message);
	frame_begin(&w, out, cap);
	for (i = 0; i < 4; i++) {
		if (field_len(f[i], caps[i], &n) != 0)
			return -EINVAL;
		wr_string(&w, (uint32_t)i + 1, f[i], n);
	}
	for (i = 0; i < r->n_notices; i++) {
		if (field_len(r->notices[i], sizeof(r->notices[i]), &n) != 0)
			return -EINVAL;
		/* Notice{1: message}: key + length + bytes, or empty. */
		wr_varint(&w, 5 << 3 | WT_LEN);
		wr_varint(&w, n == 0 ? 0 : 1 + varint_len(n) + n);
		wr_string(&w, 1, r->notices[i], n);
	}
	return frame_end(&w);
}
