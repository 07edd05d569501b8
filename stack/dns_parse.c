/*
 * dns_parse.c: the strict DNS query parser and reply encoder (dns_priv.h).
 *
 * The responder is authoritative for a handful of names and is reachable
 * only from this host, so it accepts exactly what stub resolvers (glibc,
 * systemd-resolved, musl, dig, macOS mDNSResponder) send and nothing else:
 * anything odd is FORMERR, not a best-effort guess.  Compression pointers
 * are refused in the question (RFC 1035 allows them, no client uses them
 * there, and refusing them removes the classic pointer-loop bugs).
 */
#include <string.h>

#include "stack/dns_priv.h"
#include "stack/stack.h"

#define FLAG_QR		0x8000u
#define FLAG_AA		0x0400u
#define FLAG_RD		0x0100u
#define OPCODE(f)	(((f) >> 11) & 0xfu)

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static int
ldh_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

/* The question name at msg[*off]: uncompressed labels of 1..63 bytes,
 * at most DNS_MAX_NAME bytes in wire form.  0 or -1 (FORMERR). */
static int
parse_name(const uint8_t *msg, size_t len, size_t *off, struct stack_dns_query *q)
{
	size_t o = *off, wire = 0, t = 0, i;
	uint8_t l, c;

	q->name_ldh = 1;
	for (;;) {
		if (o >= len)
			return -1;
		l = msg[o++];
		wire++;
		if (l == 0)
			break;
		if ((l & 0xc0) != 0)	/* a pointer (11) or reserved (01, 10) */
			return -1;
		if (wire + l + 1 > DNS_MAX_NAME || len - o < l)
			return -1;
		if (t > 0)
			q->name[t++] = '.';
		for (i = 0; i < l; i++) {
			c = msg[o + i];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c - 'A' + 'a');
			if (!ldh_byte(c)) {
				q->name_ldh = 0;
				c = '?';	/* keeps the text unambiguous */
			}
			q->name[t++] = (char)c;
		}
		o += l;
		wire += l;
	}
	q->name[t] = '\0';
	if (t == 0)
		q->name_ldh = 0;	/* the root is no endpoint name */
	*off = o;
	return 0;
}

/* The one additional record a query may carry: an EDNS0 OPT (RFC 6891 6.1).
 * 0, -1 (FORMERR) or 1 (unknown EDNS version: BADVERS). */
static int
parse_opt(const uint8_t *msg, size_t len, size_t *off, struct stack_dns_query *q)
{
	size_t o = *off, end;
	uint16_t rdlen, optlen;

	if (len - o < 11 || msg[o] != 0 || rd16(msg + o + 1) != DNS_TYPE_OPT)
		return -1;
	q->edns_udp = rd16(msg + o + 3);
	q->edns_version = msg[o + 6];
	q->edns_do = (msg[o + 7] & 0x80) != 0;
	rdlen = rd16(msg + o + 9);
	o += 11;
	if (len - o < rdlen)
		return -1;
	/* Options (cookies, padding, ...) are ignored, but must be well
	 * formed: code, length, data, exactly filling rdata. */
	end = o + rdlen;
	while (o < end) {
		if (end - o < 4)
			return -1;
		optlen = rd16(msg + o + 2);
		o += 4;
		if (end - o < optlen)
			return -1;
		o += optlen;
	}
	*off = end;
	q->edns = 1;
	return q->edns_version != 0 ? 1 : 0;
}

static enum stack_dns_verdict
error(struct stack_dns_query *q, int rcode)
{
	q->rcode = rcode;
	if (rcode != DNS_RCODE_BADVERS)
		q->q_len = 0;	/* header-only reply */
	return STACK_DNS_ERROR;
}

enum stack_dns_verdict
stack_dns_parse_query(const uint8_t *msg, size_t len, size_t max,
    struct stack_dns_query *q)
{
	size_t off = DNS_HDR_LEN;
	int r;

	memset(q, 0, sizeof(*q));
	if (len < DNS_HDR_LEN)
		return STACK_DNS_DROP;
	q->id = rd16(msg);
	q->flags = rd16(msg + 2);
	/* Never answer a response: two responders would echo forever. */
	if (q->flags & FLAG_QR)
		return STACK_DNS_DROP;
	if (OPCODE(q->flags) != 0)
		return error(q, DNS_RCODE_NOTIMP);
	if (len > max || rd16(msg + 4) != 1 || rd16(msg + 6) != 0 ||
	    rd16(msg + 8) != 0 || rd16(msg + 10) > 1)
		return error(q, DNS_RCODE_FORMERR);
	q->q_off = off;
	if (parse_name(msg, len, &off, q) != 0 || len - off < 4)
		return error(q, DNS_RCODE_FORMERR);
	q->qtype = rd16(msg + off);
	q->qclass = rd16(msg + off + 2);
	off += 4;
	q->q_len = off - q->q_off;
	if (rd16(msg + 10) == 1) {
		if ((r = parse_opt(msg, len, &off, q)) < 0) {
			q->edns = 0;	/* no OPT in a reply to a broken one */
			return error(q, DNS_RCODE_FORMERR);
		}
		if (r > 0 && off == len)
			return error(q, DNS_RCODE_BADVERS);
	}
	if (off != len)
		return error(q, DNS_RCODE_FORMERR);
	return STACK_DNS_QUERY;
}

size_t
stack_dns_build_reply(uint8_t *out, size_t cap, const uint8_t *msg,
    const struct stack_dns_query *q, int rcode, const uint32_t *addr,
    uint32_t ttl)
{
	size_t need = DNS_HDR_LEN + q->q_len, o;
	uint16_t flags;

	if (addr != NULL && q->q_len == 0)
		return 0;	/* an answer needs the question it points at */
	need += (addr != NULL ? 16 : 0) + (q->edns ? 11 : 0);
	if (need > cap)
		return 0;
	flags = (uint16_t)(FLAG_QR | (q->flags & (0xfu << 11)) |
	    (q->flags & FLAG_RD) | (rcode & 0xf));
	if (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN)
		flags |= FLAG_AA;
	wr16(out, q->id);
	wr16(out + 2, flags);
	wr16(out + 4, q->q_len > 0 ? 1 : 0);
	wr16(out + 6, addr != NULL ? 1 : 0);
	wr16(out + 8, 0);
	wr16(out + 10, q->edns ? 1 : 0);
	o = DNS_HDR_LEN;
	memcpy(out + o, msg + q->q_off, q->q_len);
	o += q->q_len;
	if (addr != NULL) {
		wr16(out + o, 0xc000 | DNS_HDR_LEN);	/* the question's name */
		wr16(out + o + 2, DNS_TYPE_A);
		wr16(out + o + 4, DNS_CLASS_IN);
		wr32(out + o + 6, ttl);
		wr16(out + o + 10, 4);
		wr32(out + o + 12, *addr);
		o += 16;
	}
	if (q->edns) {
		out[o] = 0;
		wr16(out + o + 1, DNS_TYPE_OPT);
		wr16(out + o + 3, DNS_MAX_UDP);
		/* extended rcode (upper 8 of 12 bits), version 0, no DO */
		wr32(out + o + 5, (uint32_t)((rcode >> 4) & 0xff) << 24);
		wr16(out + o + 9, 0);
		o += 11;
	}
	return o;
}

/* --- for a forwarder (stack.h) ------------------------------------------ */

#define FLAG_TC		0x0200u

static uint8_t
fold_case(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

int
stack_dns_is_reply_to(const uint8_t *query, size_t qlen, const uint8_t *reply,
    size_t rlen)
{
	struct stack_dns_query q;
	const uint8_t *a, *b;
	size_t i, name_len;

	if (stack_dns_parse_query(query, qlen, DNS_MAX_UDP, &q) != STACK_DNS_QUERY)
		return 0;
	if (rlen < DNS_HDR_LEN + q.q_len || rd16(reply) != q.id ||
	    !(rd16(reply + 2) & FLAG_QR) || rd16(reply + 4) != 1)
		return 0;
	a = query + q.q_off;
	b = reply + DNS_HDR_LEN;
	/* The query's name has no pointer, so neither may the echo: the same
	 * wire bytes up to case (length bytes are below 'A'), then type and
	 * class exactly. */
	name_len = q.q_len - 4;
	for (i = 0; i < name_len; i++)
		if (fold_case(a[i]) != fold_case(b[i]))
			return 0;
	return memcmp(a + name_len, b + name_len, 4) == 0;
}

size_t
stack_dns_servfail(const uint8_t *query, size_t len, uint8_t *out, size_t cap)
{
	struct stack_dns_query q;

	if (stack_dns_parse_query(query, len, DNS_MAX_UDP, &q) == STACK_DNS_DROP)
		return 0;
	/* A query with a broken OPT has lost it in q: no OPT then. */
	return stack_dns_build_reply(out, cap, query, &q, DNS_RCODE_SERVFAIL,
	    NULL, 0);
}

size_t
stack_dns_truncate(uint8_t *reply, size_t len)
{
	size_t o = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN)
		return len;
	while (o < len && reply[o] != 0 && (reply[o] & 0xc0) == 0)
		o += 1 + reply[o];
	if (o >= len || reply[o] != 0 || len - o - 1 < 4 || rd16(reply + 4) != 1) {
		o = DNS_HDR_LEN;	/* no usable question: header only */
		wr16(reply + 4, 0);
	} else {
		o += 1 + 4;
	}
	wr16(reply + 2, (uint16_t)(rd16(reply + 2) | FLAG_TC));
	wr16(reply + 6, 0);
	wr16(reply + 8, 0);
	wr16(reply + 10, 0);
	return o;
}
