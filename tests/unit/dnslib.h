/*
 * tests/unit/dnslib.h: what the DNS unit tests (dns_test, dns_forward_test,
 * dnsgw_test) share: the addresses of their world, DNS queries as stub
 * resolvers send them, and the responder callbacks that do not vary.
 * Include it after testlib.h; everything is static.
 */
#ifndef TESTS_UNIT_DNSLIB_H
#define TESTS_UNIT_DNSLIB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stack/dns_priv.h"
#include "stack/stack.h"

#define GW	0x0a6b0001u	/* 10.107.0.1: the gateway, and the app */
#define DNSA	0x0a6b0002u	/* the responder's default address */
#define EP	0x0a6b0003u	/* my-api.ngrok.app, the one endpoint */
#define APP	GW

/* Encodes a dotted name (no compression); returns its length. */
static inline size_t
put_name(uint8_t *b, const char *name)
{
	size_t o = 0, l;
	const char *dot;

	while (*name != '\0') {
		dot = strchr(name, '.');
		l = dot ? (size_t)(dot - name) : strlen(name);
		b[o++] = (uint8_t)l;
		memcpy(b + o, name, l);
		o += l;
		name += l + (dot ? 1 : 0);
	}
	b[o++] = 0;
	return o;
}

/* query's edns: none, a bare OPT record (11 bytes), or OPT with DO and a
 * cookie option as dig sends (23 bytes). */
#define Q_NOEDNS	0
#define Q_OPT		1
#define Q_COOKIE	2

/* A stub resolver's query: RD set, one question of class IN; returns its
 * length. */
static inline size_t
query(uint8_t *b, uint16_t id, const char *name, uint16_t qtype, int edns)
{
	size_t o;

	memset(b, 0, DNS_HDR_LEN);
	wr16(b, id);
	wr16(b + 2, 0x0100);
	wr16(b + 4, 1);
	wr16(b + 10, edns != Q_NOEDNS ? 1 : 0);
	o = DNS_HDR_LEN + put_name(b + DNS_HDR_LEN, name);
	wr16(b + o, qtype);
	wr16(b + o + 2, DNS_CLASS_IN);
	o += 4;
	if (edns == Q_NOEDNS)
		return o;
	b[o] = 0;
	wr16(b + o + 1, DNS_TYPE_OPT);
	wr16(b + o + 3, 1232);
	wr32(b + o + 5, edns == Q_COOKIE ? 0x00008000 : 0);	/* version 0, DO */
	if (edns == Q_OPT) {
		wr16(b + o + 9, 0);
		return o + 11;
	}
	wr16(b + o + 9, 12);
	wr16(b + o + 11, 10);		/* COOKIE */
	wr16(b + o + 13, 8);
	memcpy(b + o + 15, "\1\2\3\4\5\6\7\10", 8);
	return o + 23;
}

/* stack_cbs.accept: the DNS tests' stacks take no connections to endpoints. */
static inline int
refuse(void *arg, stream_t *s)
{
	(void)arg;
	(void)s;
	return -ECONNREFUSED;
}

/* stack_dns_params.resolve knowing one name. */
static inline int
resolve_my_api(void *arg, const char *qname, uint32_t *addr)
{
	(void)arg;
	if (strcmp(qname, "my-api.ngrok.app") != 0)
		return -1;
	if (addr != NULL)
		*addr = EP;
	return 1;
}

/* The handshake of a DNS-over-TCP client APP:sport -> dst:53 with initial
 * sequence isn; returns the server's next sequence number, c emptied. */
static inline uint32_t
dns_tcp_connect(netstack_t *st, struct capture *c, uint32_t dst,
    uint16_t sport, uint32_t isn)
{
	uint8_t b[64];
	const uint8_t *t;
	uint32_t srv;

	c->n_out = 0;
	stack_input(st, b, ip_tcp(b, APP, dst, sport, 53, isn, 0, SYN, NULL, 0));
	assert_int_equal(c->n_out, 1);
	t = c->out[0].b + 20;
	assert_int_equal(t[13] & (SYN | ACK), SYN | ACK);
	srv = rd32(t + 4) + 1;
	stack_input(st, b, ip_tcp(b, APP, dst, sport, 53, isn + 1, srv, ACK,
	    NULL, 0));
	c->n_out = 0;
	return srv;
}

#endif
