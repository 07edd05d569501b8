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
};

struct stack_cbs {
	/* Sends one IPv4 packet to the device; 0 or -errno (a drop). */
	int	(*output)(void *arg, const void *pkt, size_t len);
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

/* Runs due lwIP timers; returns ms until the next one (for the loop hook). */
int64_t	stack_timers(netstack_t *st);

void	stack_get_stats(const netstack_t *st, struct stack_stats *out);

#endif
