/*
 * params.c: checks on struct tun_params shared by tun_linux.c and
 * tun_darwin.c, so both refuse the same inputs with the same messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include "daemon/log.h"
#include "tun/tun_priv.h"

#define MTU_MIN		68	/* RFC 791: every IPv4 host takes 68 */
#define MTU_MAX		65535

uint32_t
tun_prefix_mask(uint8_t prefix)
{
	if (prefix == 0)
		return 0;
	if (prefix >= 32)
		return ~0u;
	return ~0u << (32 - prefix);
}

void
tun_fmt_prefix(uint32_t host, uint8_t prefix, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in = { htonl(host) };

	if (inet_ntop(AF_INET, &in, a, sizeof(a)) == NULL)
		a[0] = '\0';
	snprintf(buf, len, "%s/%u", a, prefix);
}

int
tun_params_check(const struct tun_params *p)
{
	char net[32], gw[32];
	uint32_t mask;

	if (p->prefix < 1 || p->prefix > 30) {
		log_warnx("tun_open: prefix /%u out of range (1-30)", p->prefix);
		return -EINVAL;
	}
	mask = tun_prefix_mask(p->prefix);
	if ((p->subnet & ~mask) != 0 || (p->gateway & mask) != p->subnet ||
	    p->gateway == p->subnet || (p->gateway | mask) == ~0u) {
		tun_fmt_prefix(p->subnet, p->prefix, net, sizeof(net));
		tun_fmt_prefix(p->gateway, 32, gw, sizeof(gw));
		log_warnx("tun_open: gateway %s is not a host of %s", gw, net);
		return -EINVAL;
	}
	if (p->mtu < MTU_MIN || p->mtu > MTU_MAX) {
		log_warnx("tun_open: mtu %u out of range (%d-%d)", p->mtu,
		    MTU_MIN, MTU_MAX);
		return -EINVAL;
	}
	return 0;
}
