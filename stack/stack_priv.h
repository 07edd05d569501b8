/* stack_priv.h: shared by stack.c and front.c only. */
#ifndef NGROKD_STACK_PRIV_H
#define NGROKD_STACK_PRIV_H

#include <lwip/netif.h>
#include <lwip/tcp.h>

#include "stack/stack.h"

struct front;

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
};

err_t	stack_front_accept(void *arg, struct tcp_pcb *pcb, err_t err);
void	stack_front_abort_all(netstack_t *st);

#endif
