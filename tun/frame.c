/*
 * frame.c: utun's 4-byte packet header.  Kept out of tun_darwin.c so the
 * framing logic is built and tested on every OS.
 *
 * The header is the address family as a 32-bit big-endian integer.  The
 * values are the host's AF_INET / AF_INET6: the header only matters on
 * macOS, where this file is compiled against macOS's <sys/socket.h>
 * (AF_INET6 is 30 there, 10 on Linux).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tun/tun.h"

#define FRAME_HDR_LEN	4
#define IPV4_MIN_HDR	20

static void
put_be32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_be32(const uint8_t p[4])
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
tun_frame_header(uint8_t hdr[4], const uint8_t *pkt, size_t len)
{
	if (pkt == NULL || len < 1)
		return -EAFNOSUPPORT;
	switch (pkt[0] >> 4) {
	case 4:
		put_be32(hdr, AF_INET);
		return 0;
	case 6:
		put_be32(hdr, AF_INET6);
		return 0;
	default:
		return -EAFNOSUPPORT;
	}
}

int
tun_frame_strip(const uint8_t *frame, size_t len)
{
	if (frame == NULL || len < FRAME_HDR_LEN)
		return -EINVAL;
	if (get_be32(frame) != AF_INET)
		return -EPROTONOSUPPORT;
	/* An AF_INET frame must carry at least a minimal IPv4 header whose
	 * version agrees with the family it was sent under. */
	if (len < FRAME_HDR_LEN + IPV4_MIN_HDR ||
	    frame[FRAME_HDR_LEN] >> 4 != 4)
		return -EINVAL;
	return FRAME_HDR_LEN;
}
