/*
 * dnsfwd.h: forwarding DNS queries that are not ours to dns.upstream
 * (docs/dns.md, "Forwarding").
 *
 * Each query goes out on a UDP socket of its own, connected to the
 * upstream: the kernel picks a random source port and drops datagrams from
 * anywhere else, and the query carries a fresh random id.  The reply is
 * relayed with the client's id once it is checked to answer the question
 * sent; after the timeout, or when the upstream refuses (ICMP), the client
 * gets SERVFAIL.  At most max_inflight queries are out at once.  Loop
 * thread only.
 */
#ifndef NGROKD_DNSFWD_H
#define NGROKD_DNSFWD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/loop.h"
#include "stack/stack.h"

typedef struct dnsfwd dnsfwd_t;

struct dnsfwd_params {
	uint32_t	 addr;		/* upstream, host order */
	uint16_t	 port;		/* 0: 53 */
	uint32_t	 timeout_ms;	/* 0: 2000 */
	unsigned	 max_inflight;	/* 0: 256 */
};

struct dnsfwd_stats {
	uint64_t	queries;	/* sent upstream */
	uint64_t	replies;	/* relayed to the client */
	uint64_t	timeouts;	/* SERVFAIL after the timeout */
	uint64_t	errors;		/* SERVFAIL: socket error, ICMP refusal */
	uint64_t	busy;		/* refused: max_inflight reached */
	uint64_t	mismatched;	/* datagrams ignored: wrong id or question */
};

/* NULL + errno (EINVAL: no address). */
dnsfwd_t *dnsfwd_new(loop_t *loop, const struct dnsfwd_params *p);
/* Drops the queries in flight without answering them. */
void	 dnsfwd_free(dnsfwd_t *f);

/*
 * stack_dns_params.forward, with arg = the dnsfwd_t: copies msg (at most
 * 512 bytes), sends it upstream and returns 0; o->deliver is called once
 * later (never from inside this call).  -EBUSY (too many in flight),
 * -EMSGSIZE, or a socket error: the caller answers SERVFAIL itself.
 */
int	 dnsfwd_query(void *arg, const uint8_t *msg, size_t len,
	    const struct stack_dns_origin *o);

void	 dnsfwd_get_stats(const dnsfwd_t *f, struct dnsfwd_stats *out);

#endif
