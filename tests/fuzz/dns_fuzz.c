/*
 * dns_fuzz.c: libFuzzer harness for the DNS query parser and reply encoder
 * (stack/dns_parse.c) and the responder behind lwIP (stack/dns.c).
 *
 * Input: one control byte, then a DNS message.
 *   bit 0 clear: parser + encoder, with the UDP limit (bit 1 clear) or the
 *     TCP one (bit 1 set).  Invariants:
 *     - DROP only for a message shorter than the header or with QR set;
 *     - a QUERY's question lies inside the input, its name is lower case
 *       LDH text of at most 253 bytes when name_ldh, and a reply with an A
 *       record fits in 512 bytes, echoes the question byte for byte and
 *       carries the query's id;
 *     - an ERROR reply fits in 512 bytes, is at least a header, has QR set
 *       and the query's id and opcode.
 *   bit 0 set: the message is sent in a UDP packet to the responder through
 *     stack_input (and, with bit 1, over one TCP connection with a length
 *     prefix); at most one reply per UDP query, never over 512 bytes of DNS.
 *     Names that are not ours go to a fake forwarder, which then delivers
 *     the message itself as the upstream's reply (at most one more packet).
 *   bit 2 set (bit 0 clear): the message is an upstream's reply to a fixed
 *     forwarded query (stack_dns_is_reply_to, stack_dns_truncate, what
 *     daemon/dnsfwd.c and the delivery run on it).  Invariants: an accepted
 *     reply has the query's id, QR and the question; truncating it leaves
 *     exactly header and question with TC; truncation never grows a message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stack/dns_priv.h"
#include "stack/stack.h"
#include "tests/lib/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GW	0x0a6b0001u

static size_t n_out, max_out;
static struct stack_dns_origin fwd_o;	/* the last forwarded query's */
static int fwd_pending;
static uint8_t last[64];	/* the start of the last packet sent */

static int
cap_output(void *arg, const void *p, size_t len, int partial, uint16_t gso)
{
	(void)arg;
	(void)partial;
	(void)gso;
	n_out++;
	if (len > max_out)
		max_out = len;
	memcpy(last, p, len < sizeof(last) ? len : sizeof(last));
	return 0;
}

static void *
lookup(void *arg, uint32_t addr, uint16_t port)
{
	(void)arg;
	return addr == GW && port == 53 ? (void *)1 : NULL;
}

static int
accept_cb(void *arg, stream_t *s)
{
	(void)arg;
	(void)s;
	return -1;
}

static int
resolve(void *arg, const char *qname, uint32_t *addr)
{
	size_t l = strlen(qname);

	(void)arg;
	if (l == 0 || l > DNS_NAME_TEXT)
		abort();
	if (strcmp(qname, "my-api.ngrok.app") == 0 ||
	    (l > 5 && strcmp(qname + l - 5, ".apps") == 0)) {
		if (addr != NULL)
			*addr = 0x0a6b0003u;
		return 1;
	}
	return qname[0] == 'n' ? 0 : -1;
}

static int
fake_forward(void *arg, const uint8_t *msg, size_t len,
    const struct stack_dns_origin *o)
{
	(void)arg;
	if (len > DNS_MAX_UDP || o == NULL || o->deliver == NULL)
		abort();
	if (msg[1] & 1)
		return -EBUSY;		/* refused: the client gets SERVFAIL now */
	fwd_o = *o;
	fwd_pending = 1;
	return 0;
}

/* The upstream's reply to a fixed query for "Example.COM" A with EDNS. */
static void
check_reply(const uint8_t *m, size_t len)
{
	static const uint8_t q[] = {
		0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
		7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0,
		0, 1, 0, 1,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
	};
	const size_t qq = 29;		/* header and question */
	uint8_t *c;
	size_t n;

	if (stack_dns_is_reply_to(q, sizeof(q), m, len)) {
		if (len < qq || m[0] != 0xbe || m[1] != 0xef ||
		    !(m[2] & 0x80) || m[4] != 0 || m[5] != 1 ||
		    memcmp(m + qq - 4, q + qq - 4, 4) != 0)
			abort();
		if ((c = malloc(len)) == NULL)
			return;
		memcpy(c, m, len);
		if (stack_dns_truncate(c, len) != qq || !(c[2] & 0x02) ||
		    c[6] != 0 || c[7] != 0 || c[10] != 0 || c[11] != 0)
			abort();
		free(c);
	}
	if ((c = malloc(len ? len : 1)) == NULL)
		return;
	memcpy(c, m, len);
	n = stack_dns_truncate(c, len);
	if (n > len || (len >= DNS_HDR_LEN && n < DNS_HDR_LEN))
		abort();
	free(c);
}

static void
check_parse(const uint8_t *m, size_t len, size_t max)
{
	struct stack_dns_query q;
	uint8_t out[DNS_MAX_UDP];
	uint32_t addr = 0x0a6b0003u;
	size_t r, i;

	switch (stack_dns_parse_query(m, len, max, &q)) {
	case STACK_DNS_DROP:
		if (len >= DNS_HDR_LEN && !(m[2] & 0x80))
			abort();
		return;
	case STACK_DNS_QUERY:
		if (q.q_off != DNS_HDR_LEN || q.q_len < 5 || q.q_off + q.q_len > len ||
		    strlen(q.name) > 253)
			abort();
		for (i = 0; q.name_ldh && q.name[i] != '\0'; i++)
			if (q.name[i] >= 'A' && q.name[i] <= 'Z')
				abort();
		r = stack_dns_build_reply(out, sizeof(out), m, &q, DNS_RCODE_NOERROR,
		    &addr, 30);
		if (r != DNS_HDR_LEN + q.q_len + 16 + (q.edns ? 11 : 0) ||
		    memcmp(out + DNS_HDR_LEN, m + DNS_HDR_LEN, q.q_len) != 0 ||
		    memcmp(out, m, 2) != 0)
			abort();
		return;
	case STACK_DNS_ERROR:
		r = stack_dns_build_reply(out, sizeof(out), m, &q, q.rcode, NULL, 0);
		if (r < DNS_HDR_LEN || !(out[2] & 0x80) || memcmp(out, m, 2) != 0 ||
		    (out[2] & 0x78) != (m[2] & 0x78))
			abort();
		return;
	}
	abort();
}

static void
via_stack(const uint8_t *m, size_t len, int tcp)
{
	static uint8_t b[1500];
	struct stack_params p = { GW, 1500, 8, 0 };
	struct stack_cbs cbs = { cap_output, lookup, NULL, accept_cb, NULL };
	struct stack_dns_params dp = { 0 };
	netstack_t *st;
	stack_dns_t *d;
	uint32_t srv;

	if (len > 1400)
		return;
	if ((st = stack_new(&p, &cbs)) == NULL)
		abort();
	dp.addr = GW;
	dp.resolve = resolve;
	dp.tcp = tcp;
	dp.forward = fake_forward;
	fwd_pending = 0;
	if ((d = stack_dns_new(st, &dp)) == NULL)
		abort();
	n_out = max_out = 0;
	if (!tcp) {
		ip_hdr(b, 17, GW, GW, 8 + len);
		wr16(b + 20, 4000);
		wr16(b + 22, 53);
		wr16(b + 24, (uint16_t)(8 + len));
		memcpy(b + 28, m, len);
		stack_input(st, b, 28 + len);
		if (n_out > 1 || (n_out == 1 && max_out > 28 + DNS_MAX_UDP))
			abort();
		if (fwd_pending && n_out == 0) {
			fwd_o.deliver(&fwd_o, m, len);
			if (n_out > 1 || max_out > 1500)
				abort();
		}
	} else {
		ip_hdr(b, 6, GW, GW, 20);
		memset(b + 20, 0, 20);
		wr16(b + 20, 4000);
		wr16(b + 22, 53);
		wr32(b + 24, 1);
		b[32] = 5 << 4;
		b[33] = 0x02;
		wr16(b + 34, 65535);
		stack_input(st, b, 40);
		if (n_out != 1 || last[33] != 0x12)	/* SYN-ACK */
			abort();
		srv = (uint32_t)last[24] << 24 | (uint32_t)last[25] << 16 |
		    (uint32_t)last[26] << 8 | last[27];
		/* The handshake's ACK carries the query, length first. */
		ip_hdr(b, 6, GW, GW, 20 + 2 + len);
		wr32(b + 24, 2);
		wr32(b + 28, srv + 1);
		b[33] = 0x18;
		wr16(b + 40, (uint16_t)len);
		memcpy(b + 42, m, len);
		stack_input(st, b, 42 + len);
		if (fwd_pending)
			fwd_o.deliver(&fwd_o, m, len);
	}
	stack_dns_free(d);
	stack_free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *m;

	if (size < 1)
		return 0;
	/* A copy of exactly the message: reads past it are caught by ASan. */
	if ((m = malloc(size - 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(m, data + 1, size - 1);
	if (!(data[0] & 1) && (data[0] & 4))
		check_reply(m, size - 1);
	else if (!(data[0] & 1))
		check_parse(m, size - 1, data[0] & 2 ? DNS_MAX_MSG : DNS_MAX_UDP);
	else
		via_stack(m, size - 1, data[0] & 2);
	free(m);
	return 0;
}
