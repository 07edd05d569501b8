/*
 * lwipopts.h: lwIP configuration for ngrokd.
 *
 * NO_SYS raw API on one thread; IPv4 only; TCP (the data path), ICMP (ping
 * to endpoint addresses) and UDP (the DNS responder).  Tuned for
 * throughput over a local TUN link (docs/datapath.md says why each value):
 * large MSS, window scaling with 512 KiB windows, malloc'd pools so memory
 * follows the number of live streams (bounded by limits.max_streams).
 */
#ifndef NGROKD_LWIPOPTS_H
#define NGROKD_LWIPOPTS_H

#define NO_SYS				1
#define LWIP_TIMERS			1
#define SYS_LIGHTWEIGHT_PROT		0
#define LWIP_SOCKET			0
#define LWIP_NETCONN			0
#define LWIP_CALLBACK_API		1

#define LWIP_IPV4			1
#define LWIP_IPV6			0
#define LWIP_ARP			0
#define LWIP_ETHERNET			0
#define LWIP_DHCP			0
#define LWIP_AUTOIP			0
#define LWIP_ACD			0
#define LWIP_IGMP			0
#define LWIP_DNS			0
#define LWIP_RAW			0
#define LWIP_ICMP			1
#define LWIP_UDP			1
#define LWIP_TCP			1
#define LWIP_SINGLE_NETIF		1
#define LWIP_HAVE_LOOPIF		0
#define LWIP_NETIF_LOOPBACK		0
#define LWIP_NETIF_STATUS_CALLBACK	0
#define LWIP_NETIF_LINK_CALLBACK	0
/* TCP builds each segment (headers included) in one pbuf: one write(2). */
#define LWIP_NETIF_TX_SINGLE_PBUF	1

/* The kernel never fragments towards a TUN device whose MTU it knows, and
 * we never send more than the MTU: no reassembly state to attack. */
#define IP_REASSEMBLY			0
#define IP_FRAG				0
#define IP_DEFAULT_TTL			64

/* Memory: the C library's allocator for the heap and every pool. */
#define MEM_LIBC_MALLOC			1
#define MEMP_MEM_MALLOC			1
#define MEM_ALIGNMENT			8
#define MEMP_NUM_TCP_PCB		4096
#define MEMP_NUM_TCP_PCB_LISTEN		1024
#define MEMP_NUM_TCP_SEG		65535
#define MEMP_NUM_PBUF			65535
#define MEMP_NUM_UDP_PCB		8
#define PBUF_POOL_SIZE			64
#define PBUF_POOL_BUFSIZE		2048

/* TCP. TCP_MSS is lwIP's maximum (16382 by its own checks, minus headroom);
 * the effective MSS follows the device MTU (tcp_eff_send_mss). */
#define TCP_MSS				16000
#define LWIP_WND_SCALE			1
#define TCP_RCV_SCALE			4
#define TCP_WND				(512 * 1024)
#define TCP_SND_BUF			(512 * 1024)
/* A window update once a quarter of the window is free again, not every
 * 64000 bytes (lwIP's default, min(TCP_WND / 4, 4 * TCP_MSS)): with 64 KiB
 * super-packets that was one ACK per packet, each of which wakes the
 * sender; half the ACKs took uploads from 0.83x to 1.05x of veth
 * (docs/performance.md). */
#define TCP_WND_UPDATE_THRESHOLD	(TCP_WND / 4)
/* Queue length counts pbufs: enough for TCP_SND_BUF in MSS-536 pieces. */
#define TCP_SND_QUEUELEN		4096
/* Only the socket API reads it; lwIP requires it below 0xffff - 4 * MSS. */
#define TCP_SNDLOWAT			1024
#define TCP_SNDQUEUELOWAT		(TCP_SND_QUEUELEN / 2)
#define TCP_OVERSIZE			TCP_MSS
#define TCP_QUEUE_OOSEQ			1
#define LWIP_TCP_SACK_OUT		0
#define LWIP_TCP_TIMESTAMPS		0
#define LWIP_TCP_KEEPALIVE		1
#define TCP_LISTEN_BACKLOG		1
#define TCP_DEFAULT_LISTEN_BACKLOG	255
/* A local link has no stray old segments: keep TIME_WAIT short (2*MSL). */
#define TCP_MSL				2000UL
#define TCP_MAXRTX			8
#define TCP_SYNMAXRTX			4
#define LWIP_TCP_PCB_NUM_EXT_ARGS	0
/* Listeners are bound with SOF_REUSEADDR (stack.c: listener_for). */
#define SO_REUSE			1

/* Checksums: generated for everything we send (TCP's by stack/tx.c, which
 * leaves them to the kernel when the device has offload); packets from the
 * local kernel are not checked again (the kernel already did, and with
 * offload they carry none). */
#define CHECKSUM_GEN_IP			1
#define CHECKSUM_GEN_TCP		0	/* stack/tx.c: partial (offload) or in software */
#define CHECKSUM_GEN_UDP		1
#define CHECKSUM_GEN_ICMP		1
#define CHECKSUM_CHECK_IP		0
#define CHECKSUM_CHECK_TCP		0
#define CHECKSUM_CHECK_UDP		0
#define CHECKSUM_CHECK_ICMP		0
#define LWIP_CHECKSUM_ON_COPY		0

#define LWIP_STATS			0
#define LWIP_STATS_DISPLAY		0
#define LWIP_DEBUG			0
#define LWIP_PROVIDE_ERRNO		0

#endif
