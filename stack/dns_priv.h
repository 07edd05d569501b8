/*
 * dns_priv.h: the DNS message parser and reply encoder (stack/dns_parse.c),
 * shared by the responder (stack/dns.c), its unit test and its fuzz target.
 * Pure functions over byte buffers: no lwIP, no allocation, no state.
 *
 * Only what a stub resolver sends to an authoritative-only server is
 * accepted: one question, no answer or authority records, at most one
 * additional record which must be an EDNS0 OPT.  docs/dns.md lists every
 * rule and the rcode each broken rule gets.
 */
#ifndef NGROKD_DNS_PRIV_H
#define NGROKD_DNS_PRIV_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN		12
#define DNS_MAX_UDP		512	/* RFC 1035 4.2.1; we never need more */
#define DNS_MAX_MSG		65535	/* over TCP (2-byte length prefix) */
#define DNS_MAX_NAME		255	/* wire form, root label included */
#define DNS_MAX_LABEL		63
#define DNS_NAME_TEXT		254	/* dotted text, without a final dot */

#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_FORMERR	1
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NXDOMAIN	3
#define DNS_RCODE_NOTIMP	4
#define DNS_RCODE_REFUSED	5
#define DNS_RCODE_BADVERS	16	/* extended (EDNS0), RFC 6891 */

#define DNS_TYPE_A		1
#define DNS_TYPE_AAAA		28
#define DNS_TYPE_OPT		41
#define DNS_TYPE_IXFR		251
#define DNS_TYPE_AXFR		252
#define DNS_TYPE_ANY		255
#define DNS_CLASS_IN		1

/* What the parser makes of a query. */
enum stack_dns_verdict {
	STACK_DNS_DROP = -1,	/* no reply: header unreadable, or QR=1 */
	STACK_DNS_QUERY = 0,	/* a well-formed query: q is complete */
	STACK_DNS_ERROR = 1,	/* answer q->rcode (header-only reply) */
};

struct stack_dns_query {
	uint16_t	 id;
	uint16_t	 flags;		/* the query's flags word, as sent */
	uint16_t	 qtype, qclass;
	int		 rcode;		/* for STACK_DNS_ERROR */
	/* The question as sent (case kept, for the echo in the reply:
	 * resolvers using 0x20 case randomisation compare it). */
	size_t		 q_off, q_len;	/* name + type + class */
	/* The name, lower case, dotted, no final dot ("" for the root). */
	char		 name[DNS_NAME_TEXT + 1];
	/* Every label is letters, digits, '-' or '_': only such names can
	 * be endpoint names; the others are refused, not looked up. */
	int		 name_ldh;
	int		 edns;		/* an OPT record was present */
	uint8_t		 edns_version;
	uint16_t	 edns_udp;	/* requestor's payload size */
	uint8_t		 edns_do;	/* the DO bit (not echoed: no DNSSEC) */
};

/*
 * Parses one DNS query of len bytes (at most max: DNS_MAX_UDP over UDP,
 * DNS_MAX_MSG over TCP).  Never reads outside msg[0..len).
 */
enum stack_dns_verdict stack_dns_parse_query(const uint8_t *msg, size_t len,
		    size_t max, struct stack_dns_query *q);

/*
 * Encodes the reply to q (parsed from msg) into out (cap bytes): the header,
 * the question echoed for NOERROR/REFUSED/NXDOMAIN (header only for FORMERR
 * and NOTIMP), one A record when addr is non-NULL, and an OPT record when
 * the query had one.  Returns the length, or 0 when cap is too small
 * (DNS_MAX_UDP always suffices for a query parse accepted with that max).
 */
size_t	stack_dns_build_reply(uint8_t *out, size_t cap, const uint8_t *msg,
	    const struct stack_dns_query *q, int rcode, const uint32_t *addr,
	    uint32_t ttl);

#endif
