/*
 * stack.h: the embedded lwIP stack over a packet device.
 *
 * One netstack_t owns lwIP's global state, so there is one per process; it
 * runs on the loop thread (lwIP NO_SYS, no locks).  Packets go in through
 * stack_input (a copy is taken) and out through cbs->output.  TCP is
 * accepted for every (address, port) that cbs->lookup knows; a SYN to
 * anything else is answered with a RST, ICMP echo to an allocated address
 * or the gateway is answered.  Each accepted connection becomes a stream
 * (daemon/stream.h) whose front is the lwIP pcb; cbs->accept attaches a back.
 */
#ifndef NGROKD_STACK_H
#define NGROKD_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/stream.h"

typedef struct netstack netstack_t;

struct stack_params {
	uint32_t	gateway;	/* host order; the device's own address */
	uint32_t	mtu;
	uint32_t	max_streams;	/* SYNs beyond it get a RST (counted) */
	/* The device finishes TCP checksums and takes TCP super-packets
	 * (tun_offload): output then gets TCP packets with partial set, and
	 * consecutive segments joined (see stack_flush). */
	int		offload;
};

struct stack_cbs {
	/* Sends one IPv4 packet to the device; 0 or -errno (a drop).  With
	 * partial, a TCP packet whose checksum field holds only the
	 * pseudo-header sum; gso_size > 0: a super-packet of segments of
	 * that many payload bytes (both only with stack_params.offload). */
	int	(*output)(void *arg, const void *pkt, size_t len, int partial,
		    uint16_t gso_size);
	/* Is (addr, port) an endpoint?  Non-NULL (opaque) when it is. */
	void	*(*lookup)(void *arg, uint32_t addr, uint16_t port);
	/* Is addr allocated to any endpoint (ICMP echo is answered)? */
	int	(*has_addr)(void *arg, uint32_t addr);
	/* A connection was accepted as s (front attached, dst filled in):
	 * attach a back and return 0, or return -errno to reset it. */
	int	(*accept)(void *arg, stream_t *s);
	void	*arg;
};

struct stack_stats {
	uint64_t	packets_in, bytes_in;
	uint64_t	packets_out, bytes_out;
	uint64_t	dropped_malformed;	/* not an IPv4 packet we can parse */
	uint64_t	dropped_fragment;
	uint64_t	dropped_unallocated;	/* ICMP/UDP to unallocated addresses */
	uint64_t	dropped_proto;		/* neither TCP, UDP nor ICMP */
	uint64_t	dropped_output;		/* the device refused a packet */
	uint64_t	rst_unallocated;	/* SYN to an unallocated (addr, port) */
	uint64_t	rst_limit;		/* SYN beyond max_streams */
	uint64_t	streams_active;
	uint64_t	streams_total;
};

/* Initialises lwIP (once per process).  NULL + errno. */
netstack_t *stack_new(const struct stack_params *p, const struct stack_cbs *cbs);
/* Aborts every stream (RST) and frees the stack. */
void	stack_free(netstack_t *st);

/* Feeds one packet from the device.  The bytes are copied; the caller
 * keeps pkt.  Malformed packets are dropped and counted.  Returns 0 or
 * -errno (-ENOMEM: the packet was dropped). */
int	stack_input(netstack_t *st, const void *pkt, size_t len);
/* The same without a copy for large packets: read the packet into
 * stack_rx_buf() (STACK_RX_MAX bytes; NULL when out of memory), then call
 * stack_input_rx with its length. */
#define STACK_RX_MAX	65535
void	*stack_rx_buf(netstack_t *st);
int	stack_input_rx(netstack_t *st, size_t len);
/* With offload, segments are held to be joined until this is called: call
 * it before every wait (and at least once per batch of input). */
void	stack_flush(netstack_t *st);
/* The device was replaced: whether the new one has offload (flushes). */
void	stack_set_offload(netstack_t *st, int offload);

/* Runs due lwIP timers; returns ms until the next one (for the loop hook). */
int64_t	stack_timers(netstack_t *st);
/* Runs lwIP's TCP timer once, now, with the same guards as stack_timers
 * (the fuzzer fast-forwards time with it). */
void	stack_tcp_tick(netstack_t *st);

void	stack_get_stats(const netstack_t *st, struct stack_stats *out);

/*
 * The DNS responder (stack/dns.c, docs/dns.md): port 53 at one address of
 * the subnet, served by lwIP (no host socket).  Not the gateway: the
 * kernel owns that address and never routes packets for it into the
 * device; subnet + 2 (gateway + 1) is reserved for it (and is the utun
 * peer on macOS, which the kernel routes into the device too).  The
 * daemon answers at the gateway as well, from kernel sockets that hand
 * their queries to stack_dns_answer (daemon/dnsgw.c).  A queries for
 * managed names get one A record; other types for managed names get
 * NOERROR with no answer (NODATA); other names get REFUSED, or go to
 * params.forward when set (dns.upstream); malformed queries FORMERR (or
 * nothing when not even the header is readable).  Loop thread only.
 */
typedef struct stack_dns stack_dns_t;

/* Room a reply of stack_dns_answer needs (a forwarded reply may be larger,
 * but it goes through stack_dns_origin.deliver, not this buffer). */
#define STACK_DNS_REPLY_MAX	512

/*
 * Where a query that is forwarded came from.  The forwarder keeps a copy
 * and calls deliver exactly once with the reply (the upstream's, with the
 * client's id, or a SERVFAIL), unless it is freed first.  deliver copies
 * what it needs; a TCP connection that is gone by then is looked up by its
 * id, not found, and the reply dropped.  Owners (the responder, the
 * gateway) must outlive the forwarder.
 */
struct stack_dns_origin {
	void		(*deliver)(const struct stack_dns_origin *o,
			    const uint8_t *reply, size_t len);
	void		*owner;
	uint64_t	 conn;		/* the owner's TCP connection id; 0: UDP */
	uint32_t	 addr;		/* the client, host order (UDP: replies go there) */
	uint16_t	 port;
};

struct stack_dns_params {
	uint32_t	 addr;		/* host order; 0: the stack's gateway + 1 */
	/*
	 * Looks qname up (lower case, dotted, no final dot, only letters,
	 * digits, '-' and '_').  Returns 1 with *addr (host order) set, 0 for
	 * a managed name without an IPv4 address (NODATA), -1 for a name
	 * that is not ours (REFUSED).  addr is NULL for queries other than A
	 * (and ANY): say whether the name is managed, allocate nothing.  May
	 * allocate an address for a name under a wildcard endpoint; must not
	 * block.
	 */
	int		(*resolve)(void *arg, const char *qname, uint32_t *addr);
	void		*arg;
	uint32_t	 ttl;		/* of A records, seconds; 0: 30 */
	int		 tcp;		/* also serve DNS over TCP port 53 */
	/*
	 * Optional (NULL: REFUSED): takes a query that is not ours (a name
	 * resolve does not know, a name that cannot be an endpoint's, a
	 * class other than IN; never a zone transfer).  msg (len <= 512
	 * bytes, parsed and well formed) is only valid during the call: copy
	 * it.  0: taken, o->deliver will answer; -errno: the client gets
	 * SERVFAIL now.  Must not call o->deliver before returning.
	 */
	int		(*forward)(void *arg, const uint8_t *msg, size_t len,
			    const struct stack_dns_origin *o);
	void		*forward_arg;
};

struct stack_dns_stats {
	uint64_t	queries;	/* every message received (UDP and TCP) */
	uint64_t	answered;	/* an A record sent */
	uint64_t	nodata;		/* managed name, no record of that type */
	uint64_t	refused;	/* not ours, not class IN, zone transfers */
	uint64_t	formerr;
	uint64_t	notimp;		/* opcode other than QUERY */
	uint64_t	dropped;	/* unreadable, responses, no memory */
	uint64_t	tcp_conns;	/* TCP connections accepted */
	uint64_t	tcp_rejected;	/* over the TCP connection limit */
	uint64_t	forwarded;	/* handed to params.forward */
	uint64_t	servfail;	/* forward refused it (too many in flight) */
};

/* Binds UDP (and TCP when p->tcp) port 53 at p->addr.  Free it
 * with stack_dns_free before stack_free.  NULL + errno (EADDRINUSE: one
 * responder per stack). */
stack_dns_t *stack_dns_new(netstack_t *st, const struct stack_dns_params *p);
/* Unbinds, aborts open TCP connections, frees. */
void	stack_dns_free(stack_dns_t *d);
void	stack_dns_get_stats(const stack_dns_t *d, struct stack_dns_stats *out);

/*
 * Answers one query (len bytes) that reached the daemon some other way
 * (the gateway's kernel sockets), with the responder's rules, callbacks and
 * counters.  o says where a forwarded reply goes.  Returns the reply's
 * length in out (cap >= STACK_DNS_REPLY_MAX), 0 when there is none (an
 * unreadable message or a response: over TCP, close the connection), or
 * -EINPROGRESS when the query was forwarded: o->deliver answers later.
 */
int	stack_dns_answer(stack_dns_t *d, const uint8_t *msg, size_t len,
	    const struct stack_dns_origin *o, uint8_t *out, size_t cap);

/*
 * Helpers for a forwarder (daemon/dnsfwd.c); query is a message the
 * responder handed to params.forward.
 * stack_dns_is_reply_to: 1 when reply (rlen bytes) is a response to query:
 * QR set, the same id and exactly one question, the query's (the name
 * compared without regard to case, type and class equal); else 0.
 * stack_dns_servfail: the SERVFAIL reply to query in out; its length, or 0
 * (cap too small: STACK_DNS_REPLY_MAX always suffices).
 * stack_dns_truncate: cuts a reply that passed stack_dns_is_reply_to down
 * to its header and question with TC set (the client retries over TCP),
 * for a path that cannot carry it whole; returns the new length.
 */
int	stack_dns_is_reply_to(const uint8_t *query, size_t qlen,
	    const uint8_t *reply, size_t rlen);
size_t	stack_dns_servfail(const uint8_t *query, size_t len, uint8_t *out,
	    size_t cap);
size_t	stack_dns_truncate(uint8_t *reply, size_t len);

#endif
