/*
 * arch/cc.h: ngrokd's lwIP port: compiler and platform glue.
 * lwIP runs NO_SYS on the daemon's loop thread (see lwipopts.h).
 */
#ifndef NGROKD_LWIP_ARCH_CC_H
#define NGROKD_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#define LWIP_TIMEVAL_PRIVATE	0
#define LWIP_ERRNO_INCLUDE	<errno.h>
#define LWIP_ERRNO_STDINCLUDE	1

/* Byte order comes from the compiler. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BYTE_ORDER BIG_ENDIAN
#else
#define BYTE_ORDER LITTLE_ENDIAN
#endif

#if defined(__APPLE__)
/* Darwin's headers bring their own byte-order macros. */
#include <sys/types.h>
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS
#endif

typedef unsigned int sys_prot_t;

/* Implemented in stack/stack.c: a getrandom()-seeded generator. */
uint32_t stack_port_rand(void);
#define LWIP_RAND() (stack_port_rand())

/* lwIP's asserts are broken invariants: log and abort (stack/stack.c). */
void stack_port_assert(const char *msg, const char *file, int line)
    __attribute__((noreturn));
#define LWIP_PLATFORM_ASSERT(x) stack_port_assert((x), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(x) do { } while (0)

#endif
