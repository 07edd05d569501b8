/* stack_priv.h: shared by stack.c and front.c only. */
#ifndef NGROKD_STACK_PRIV_H
#define NGROKD_STACK_PRIV_H

#include <lwip/netif.h>
#include <lwip/tcp.h>

#include "stack/stack.h"

struct front;

/* Fronts that received data in this wake-up (front.c): their delayed ACK is
 * sent before the loop sleeps. */
#define STACK_ACKQ	64

/* The super-packet being assembled (tx.c). */
struct stack_gso {
	size_t		 len;		/* 0: nothing held */
	size_t		 hlen;		/* IP + TCP header */
	uint32_t	 next_seq;	/* where the next segment must start */
	uint16_t	 seg;		/* payload of the first segment */
	unsigned	 nseg;
	int		 closed;	/* a short segment ended it */
	uint8_t		 buf[65535];
};

struct netstack {
	struct netif		 netif;
	struct stack_params	 params;
	struct stack_cbs	 cbs;
	struct stack_stats	 stats;
	struct tcp_pcb		*gone;		/* aborted inside a callback */
	uint8_t			 has_listener[65536 / 8];
	struct tcp_pcb_listen	**listeners;
	size_t			 n_listeners, cap_listeners;
	struct front		*fronts;		/* live fronts (list) */
	uint64_t		 next_stream_id;
	uint8_t			 obuf[65536];		/* for chained output pbufs */
	struct stack_gso	 gso;
	struct front		*ackq[STACK_ACKQ];
	size_t			 n_ackq;
	struct pbuf		*rx;		/* stack_rx_buf's */
};

err_t	stack_netif_output(struct netif *nif, struct pbuf *p, const ip4_addr_t *dst);

err_t	stack_front_accept(void *arg, struct tcp_pcb *pcb, err_t err);
void	stack_front_abort_all(netstack_t *st);
void	stack_front_ack_pending(netstack_t *st);

#endif
