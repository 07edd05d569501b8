/*
 * tun_priv.h: helpers shared by the files of tun/ (not part of its
 * interface; nothing outside tun/ includes this).
 */
#ifndef NGROKD_TUN_PRIV_H
#define NGROKD_TUN_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "tun/tun.h"

/* Checks subnet, prefix, gateway and MTU (not the name, which is the OS
 * file's business); logs what is wrong.  0 or -EINVAL. */
int	 tun_params_check(const struct tun_params *p);
/* "10.107.0.1/16" from a host-order address. */
void	 tun_fmt_prefix(uint32_t host, uint8_t prefix, char *buf, size_t len);
/* The netmask of a /prefix, host order (prefix 1-32). */
uint32_t tun_prefix_mask(uint8_t prefix);

#endif
