/*
 * tun.h: the packet device (Linux /dev/net/tun, macOS utun), the pcap tap
 * and the utun framing helpers.
 *
 * tun_linux.c / tun_darwin.c implement the device; the Makefile picks one.
 * Packets crossing this header are bare IPv4 packets: utun's 4-byte
 * address-family header never leaves tun_darwin.c (and frame.c, which holds
 * the framing logic so that Linux tests exercise it).
 */
#ifndef NGROKD_TUN_H
#define NGROKD_TUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tun tun_t;
typedef struct tun_pcap tun_pcap_t;

struct tun_params {
	const char	*name;		/* requested name, "ngrokd0"; macOS: ignored (utunN) */
	uint32_t	 subnet;	/* host byte order, 10.107.0.0 */
	uint8_t		 prefix;	/* 16 */
	uint32_t	 gateway;	/* host byte order, first usable: 10.107.0.1 */
	uint32_t	 mtu;
	/* Ask for segmentation and checksum offload (Linux: IFF_VNET_HDR with
	 * TSO4 and CSUM); tun_offload() says whether the device has it. */
	int		 offload;
};

/*
 * Creates the device, gives it the gateway address, sets the MTU, brings it
 * up and routes the subnet to it (rtnetlink on Linux, ioctl and the routing
 * socket on macOS).  The fd is non-blocking.  NULL + errno on failure, with
 * the reason logged ("tun_open: /dev/net/tun: Permission denied").
 */
tun_t	*tun_open(const struct tun_params *p);
/* Removes the route and address, closes the device, frees t (NULL ok). */
void	 tun_close(tun_t *t);
int	 tun_fd(const tun_t *t);
const char *tun_name(const tun_t *t);	/* the real name: ngrokd0, utun4 */
uint32_t tun_mtu(const tun_t *t);

/* Reads one IPv4 packet into buf: length, -EAGAIN when none is waiting,
 * or -errno.  Non-IPv4 packets are skipped (counted).  With offload, a TCP
 * packet may be a super-packet of up to 64 KiB whose TCP checksum is not
 * filled in (the kernel trusts its own packets; so do we). */
ssize_t	 tun_read(tun_t *t, void *buf, size_t len);
/* Writes one IPv4 packet with complete checksums: 0, -EAGAIN (device queue
 * full: the packet is dropped and counted, as a real link would), or
 * -errno. */
int	 tun_write(tun_t *t, const void *pkt, size_t len);
/* With offload only: writes one IPv4 TCP packet whose TCP checksum field
 * holds the pseudo-header sum (not complemented) for the kernel to finish;
 * with gso_size > 0 it is a super-packet of segments of gso_size payload
 * bytes (the last may be shorter) that the kernel takes in as one.
 * Returns as tun_write; -ENOTSUP without offload, -EINVAL for anything
 * that is not such a packet. */
int	 tun_write_tcp(tun_t *t, const void *pkt, size_t len, uint16_t gso_size);
/* 1 when the device does segmentation and checksum offload. */
int	 tun_offload(const tun_t *t);

/* Every packet read or written is also written to pc (NULL: none). tun_t
 * does not own pc. */
void	 tun_set_pcap(tun_t *t, tun_pcap_t *pc);

struct tun_stats {
	uint64_t	rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t	rx_dropped, tx_dropped;
};
void	 tun_get_stats(const tun_t *t, struct tun_stats *st);

/*
 * pcap: a standard pcap file (LINKTYPE_RAW (101): bare IPv4), buffered and flushed on
 * tun_pcap_flush (the daemon calls it from a timer) so it can be read while
 * ngrokd runs.  Writing never blocks the data path: it goes into a memory
 * buffer; a failed write stops capture with a log line.  max_bytes > 0
 * caps the file size: capture stops with a log line once reached.
 */
tun_pcap_t *tun_pcap_open(const char *path, uint64_t max_bytes);
void	 tun_pcap_write(tun_pcap_t *pc, const void *pkt, size_t len);
int	 tun_pcap_flush(tun_pcap_t *pc);
void	 tun_pcap_close(tun_pcap_t *pc);	/* flushes; NULL ok */
int	 tun_pcap_active(const tun_pcap_t *pc);	/* 0 once stopped */
uint64_t tun_pcap_bytes(const tun_pcap_t *pc);

/* utun framing: the 4-byte header is the address family in network byte
 * order.  Writes it for an IPv4/IPv6 packet (by its version nibble) into
 * hdr; 0, or -EAFNOSUPPORT. */
int	 tun_frame_header(uint8_t hdr[4], const uint8_t *pkt, size_t len);
/* Checks a received frame: returns the offset of the IPv4 packet (4), or
 * -EPROTONOSUPPORT for other families, -EINVAL for short frames. */
int	 tun_frame_strip(const uint8_t *frame, size_t len);

#endif
