/*
 * tests/lib/packet.h: big-endian fields and IPv4 headers of the packets and
 * messages that unit tests and fuzz harnesses build and check.  Everything
 * is static inline.
 */
#ifndef TESTS_LIB_PACKET_H
#define TESTS_LIB_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void
wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void
wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)(v >> 16)); wr16(p + 2, (uint16_t)v); }
static inline uint16_t
rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t
rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static inline void
wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)(v >> 32)); wr32(p + 4, (uint32_t)v); }
static inline uint64_t
rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

/* An IPv4 header without options, its checksum left zero (lwipopts.h turns
 * lwIP's input checks off); returns its length. */
static inline size_t
ip_hdr(uint8_t *b, uint8_t proto, uint32_t src, uint32_t dst, size_t payload)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	wr16(b + 2, (uint16_t)(20 + payload));
	b[8] = 64;
	b[9] = proto;
	wr32(b + 12, src);
	wr32(b + 16, dst);
	return 20;
}

#endif
