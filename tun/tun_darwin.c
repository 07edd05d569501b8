/*
 * tun_darwin.c: the packet device on macOS: a utun interface, made by
 * connecting a PF_SYSTEM control socket to the utun kernel control.  The
 * kernel picks the unit (utunN); the requested name is ignored.
 *
 * Every packet on a utun socket carries a 4-byte address-family header;
 * it is added and checked here (with frame.c's helpers) and never leaves
 * this file.  The address is set with SIOCAIFADDR (utun is point to point:
 * gateway + 1 is the far end), the MTU with SIOCSIFMTU, and the subnet is
 * routed to the interface with an RTM_ADD message on a routing socket, as
 * `route add -net SUBNET -interface utunN` does.
 */
#define _DARWIN_C_SOURCE

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/socket.h>
#include <sys/sockio.h>
#include <sys/sys_domain.h>
#include <sys/uio.h>

#include <net/if.h>
#include <net/if_dl.h>
#include <net/route.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<net/if_utun.h>)
#include <net/if_utun.h>
#endif
#endif
/* Stable values from xnu's net/if_utun.h, for SDKs that do not ship it. */
#ifndef UTUN_CONTROL_NAME
#define UTUN_CONTROL_NAME	"com.apple.net.utun_control"
#endif
#ifndef UTUN_OPT_IFNAME
#define UTUN_OPT_IFNAME		2
#endif

#include "daemon/log.h"
#include "tun/tun_priv.h"

#define UTUN_HDR_LEN	4
#define IPV4_MIN_HDR	20
#define READ_SKIP_MAX	64
#define PKT_MAX		65535
#define RTMSG_SIZE	512
/* Routing-socket sockaddrs are padded to 4 bytes (xnu's ROUNDUP). */
#define RT_ROUNDUP(a)	((a) > 0 ? (1 + (((a) - 1) | (sizeof(uint32_t) - 1))) \
			    : sizeof(uint32_t))

struct tun {
	int		 fd;		/* the utun control socket */
	char		 name[IFNAMSIZ];
	uint32_t	 subnet, gateway, mtu;	/* host byte order */
	uint8_t		 prefix;
	int		 addr_added;
	int		 route_added;
	int		 rt_seq;
	tun_pcap_t	*pcap;
	struct tun_stats st;
};

static void
set_sin(struct sockaddr_in *sin, uint32_t host)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_len = sizeof(*sin);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(host);
}

/* ifaliasreq and ifreq hold plain sockaddrs: the same 16 bytes. */
static void
put_sin(struct sockaddr *sa, uint32_t host)
{
	struct sockaddr_in sin;

	set_sin(&sin, host);
	memcpy(sa, &sin, sizeof(sin));
}

static void
copy_name(char dst[IFNAMSIZ], const char *src)
{
	memset(dst, 0, IFNAMSIZ);
	strlcpy(dst, src, IFNAMSIZ);
}

static int
set_flags(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* ---- the device --------------------------------------------------------- */

static int
open_utun(tun_t *t)
{
	struct ctl_info ci;
	struct sockaddr_ctl sc;
	socklen_t len;
	int rc;

	t->fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
	if (t->fd < 0) {
		log_warn("tun_open: utun control socket");
		return -errno;
	}
	memset(&ci, 0, sizeof(ci));
	strlcpy(ci.ctl_name, UTUN_CONTROL_NAME, sizeof(ci.ctl_name));
	if (ioctl(t->fd, CTLIOCGINFO, &ci) < 0) {
		log_warn("tun_open: CTLIOCGINFO %s", UTUN_CONTROL_NAME);
		return -errno;
	}
	memset(&sc, 0, sizeof(sc));
	sc.sc_len = sizeof(sc);
	sc.sc_family = AF_SYSTEM;
	sc.ss_sysaddr = AF_SYS_CONTROL;
	sc.sc_id = ci.ctl_id;
	sc.sc_unit = 0;		/* 0: the kernel picks the first free utunN */
	if (connect(t->fd, (struct sockaddr *)&sc, sizeof(sc)) < 0) {
		log_warn("tun_open: connect %s", UTUN_CONTROL_NAME);
		return -errno;
	}
	len = sizeof(t->name);
	if (getsockopt(t->fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, t->name,
	    &len) < 0) {
		log_warn("tun_open: UTUN_OPT_IFNAME");
		return -errno;
	}
	t->name[sizeof(t->name) - 1] = '\0';
	if ((rc = set_flags(t->fd)) < 0) {
		errno = -rc;
		log_warn("tun_open: %s: fcntl", t->name);
		return rc;
	}
	log_info("tun_open: created %s", t->name);
	return 0;
}

static int
set_mtu(const tun_t *t, int s)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	copy_name(ifr.ifr_name, t->name);
	ifr.ifr_mtu = (int)t->mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
		log_warn("tun_open: SIOCSIFMTU %u on %s", t->mtu, t->name);
		return -errno;
	}
	return 0;
}

static int
set_addr(tun_t *t, int s)
{
	struct ifaliasreq ifra;
	char buf[32];

	memset(&ifra, 0, sizeof(ifra));
	copy_name(ifra.ifra_name, t->name);
	put_sin(&ifra.ifra_addr, t->gateway);
	/* on a point-to-point link the "broadcast" slot is the far end */
	put_sin(&ifra.ifra_broadaddr, t->gateway + 1);
	put_sin(&ifra.ifra_mask, tun_prefix_mask(t->prefix));
	if (ioctl(s, SIOCAIFADDR, &ifra) < 0) {
		tun_fmt_prefix(t->gateway, t->prefix, buf, sizeof(buf));
		log_warn("tun_open: SIOCAIFADDR %s on %s", buf, t->name);
		return -errno;
	}
	t->addr_added = 1;
	return 0;
}

static void
del_addr(tun_t *t, int s)
{
	struct ifreq ifr;
	char buf[32];

	memset(&ifr, 0, sizeof(ifr));
	copy_name(ifr.ifr_name, t->name);
	put_sin(&ifr.ifr_addr, t->gateway);
	if (ioctl(s, SIOCDIFADDR, &ifr) < 0 && errno != ENXIO) {
		tun_fmt_prefix(t->gateway, t->prefix, buf, sizeof(buf));
		log_warn("tun_close: SIOCDIFADDR %s on %s", buf, t->name);
	}
	t->addr_added = 0;
}

static int
set_up(const tun_t *t, int s)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	copy_name(ifr.ifr_name, t->name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	return 0;
fail:
	log_warn("tun_open: bringing %s up", t->name);
	return -errno;
}

/* ---- the route ---------------------------------------------------------- */

/* Appends sa, padded, to the routing message; -EMSGSIZE if it won't fit. */
static int
rt_put(uint8_t *buf, size_t cap, size_t *off, const void *sa, size_t len)
{
	size_t space = RT_ROUNDUP(len);

	if (*off > cap || cap - *off < space)
		return -EMSGSIZE;
	memset(buf + *off, 0, space);
	memcpy(buf + *off, sa, len);
	*off += space;
	return 0;
}

/* The interface's link-level sockaddr, as route(8)'s -interface uses it;
 * a bare one carrying only the index if getifaddrs has none. */
static void
link_sockaddr(const tun_t *t, struct sockaddr_dl *sdl)
{
	struct ifaddrs *ifap, *ifa;

	memset(sdl, 0, sizeof(*sdl));
	sdl->sdl_len = sizeof(*sdl);
	sdl->sdl_family = AF_LINK;
	sdl->sdl_index = (u_short)if_nametoindex(t->name);
	if (getifaddrs(&ifap) < 0)
		return;
	for (ifa = ifap; ifa != NULL; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_LINK ||
		    strcmp(ifa->ifa_name, t->name) != 0)
			continue;
		if (ifa->ifa_addr->sa_len <= sizeof(*sdl))
			memcpy(sdl, ifa->ifa_addr, ifa->ifa_addr->sa_len);
		break;
	}
	freeifaddrs(ifap);
}

/* RTM_ADD / RTM_DELETE of "subnet/prefix -interface name". */
static int
rt_msg(tun_t *t, u_char type)
{
	uint8_t buf[RTMSG_SIZE];
	struct rt_msghdr *rtm = (struct rt_msghdr *)(void *)buf;
	struct sockaddr_in dst, mask;
	struct sockaddr_dl gw;
	size_t off = sizeof(*rtm);
	ssize_t n;
	int s, rc = 0;

	memset(buf, 0, sizeof(buf));
	set_sin(&dst, t->subnet);
	set_sin(&mask, tun_prefix_mask(t->prefix));
	link_sockaddr(t, &gw);
	/* Order is fixed by the rtm_addrs bits: DST, GATEWAY, NETMASK. */
	if (rt_put(buf, sizeof(buf), &off, &dst, sizeof(dst)) < 0 ||
	    rt_put(buf, sizeof(buf), &off, &gw, gw.sdl_len) < 0 ||
	    rt_put(buf, sizeof(buf), &off, &mask, sizeof(mask)) < 0)
		return -EMSGSIZE;
	rtm->rtm_msglen = (u_short)off;
	rtm->rtm_version = RTM_VERSION;
	rtm->rtm_type = type;
	/* No RTF_GATEWAY: an interface route, the gateway names the link. */
	rtm->rtm_flags = RTF_UP | RTF_STATIC;
	rtm->rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK;
	rtm->rtm_pid = getpid();
	rtm->rtm_seq = ++t->rt_seq;

	if ((s = socket(PF_ROUTE, SOCK_RAW, AF_INET)) < 0)
		return -errno;
	/* The kernel answers a bad request by failing the write itself. */
	n = write(s, buf, off);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != off)
		rc = -EIO;
	close(s);
	return rc;
}

static int
add_route(tun_t *t)
{
	char net[32];
	int rc;

	if ((rc = rt_msg(t, RTM_ADD)) < 0) {
		tun_fmt_prefix(t->subnet, t->prefix, net, sizeof(net));
		errno = -rc;
		log_warn("tun_open: route RTM_ADD %s -interface %s", net,
		    t->name);
		return rc;
	}
	t->route_added = 1;
	return 0;
}

static void
del_route(tun_t *t)
{
	char net[32];
	int rc;

	if ((rc = rt_msg(t, RTM_DELETE)) < 0 && rc != -ESRCH) {
		tun_fmt_prefix(t->subnet, t->prefix, net, sizeof(net));
		errno = -rc;
		log_warn("tun_close: route RTM_DELETE %s -interface %s", net,
		    t->name);
	}
	t->route_added = 0;
}

/* ---- open / close ------------------------------------------------------- */

static int
configure(tun_t *t)
{
	int s, rc;

	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
		log_warn("tun_open: socket");
		return -errno;
	}
	if ((rc = set_mtu(t, s)) == 0 && (rc = set_addr(t, s)) == 0 &&
	    (rc = set_up(t, s)) == 0)
		rc = add_route(t);
	close(s);
	return rc;
}

static void
tun_free(tun_t *t)
{
	int s;

	if (t->route_added)
		del_route(t);
	if (t->addr_added && (s = socket(AF_INET, SOCK_DGRAM, 0)) >= 0) {
		del_addr(t, s);
		close(s);
	}
	/* Closing the control socket destroys the utun interface. */
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

tun_t *
tun_open(const struct tun_params *p)
{
	tun_t *t;
	int rc;

	if (p == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((rc = tun_params_check(p)) < 0) {
		errno = -rc;
		return NULL;
	}
	/* gateway + 1 is the point-to-point far end: it must be a host too. */
	if (((p->gateway + 1) | tun_prefix_mask(p->prefix)) == ~0u) {
		log_warnx("tun_open: subnet /%u too small for a utun peer",
		    p->prefix);
		errno = EINVAL;
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		log_warn("tun_open");
		return NULL;
	}
	t->fd = -1;
	t->subnet = p->subnet;
	t->prefix = p->prefix;
	t->gateway = p->gateway;
	t->mtu = p->mtu;
	if ((rc = open_utun(t)) < 0 || (rc = configure(t)) < 0) {
		tun_free(t);
		errno = -rc;
		return NULL;
	}
	return t;
}

void
tun_close(tun_t *t)
{
	if (t != NULL)
		tun_free(t);
}

int
tun_fd(const tun_t *t)
{
	return t->fd;
}

const char *
tun_name(const tun_t *t)
{
	return t->name;
}

uint32_t
tun_mtu(const tun_t *t)
{
	return t->mtu;
}

/* utun has no segmentation or checksum offload: tun_params.offload is
 * ignored and every packet is written whole with its checksums. */
int
tun_offload(const tun_t *t)
{
	(void)t;
	return 0;
}

int
tun_write_tcp(tun_t *t, const void *pkt, size_t len, uint16_t gso_size)
{
	(void)t;
	(void)pkt;
	(void)len;
	(void)gso_size;
	return -ENOTSUP;
}

/* ---- the data path ------------------------------------------------------ */

/* Checks the header of a frame read as hdr + pkt[0..plen) without
 * copying the packet: frame.c only looks at the header and the first
 * IPV4_MIN_HDR bytes. */
static int
frame_ok(const uint8_t hdr[UTUN_HDR_LEN], const uint8_t *pkt, size_t plen)
{
	uint8_t probe[UTUN_HDR_LEN + IPV4_MIN_HDR];
	size_t take = plen < IPV4_MIN_HDR ? plen : IPV4_MIN_HDR;

	memcpy(probe, hdr, UTUN_HDR_LEN);
	memcpy(probe + UTUN_HDR_LEN, pkt, take);
	return tun_frame_strip(probe, UTUN_HDR_LEN + take) == UTUN_HDR_LEN;
}

ssize_t
tun_read(tun_t *t, void *buf, size_t len)
{
	uint8_t hdr[UTUN_HDR_LEN];
	struct iovec iov[2];
	ssize_t n;
	size_t plen;
	int skipped = 0;

	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = buf;
	iov[1].iov_len = len;
	while (skipped < READ_SKIP_MAX) {
		n = readv(t->fd, iov, 2);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		plen = n > UTUN_HDR_LEN ? (size_t)n - UTUN_HDR_LEN : 0;
		if (n < UTUN_HDR_LEN || !frame_ok(hdr, buf, plen)) {
			t->st.rx_dropped++;	/* IPv6 and runts */
			skipped++;
			continue;
		}
		t->st.rx_packets++;
		t->st.rx_bytes += plen;
		if (t->pcap != NULL)
			tun_pcap_write(t->pcap, buf, plen);
		return (ssize_t)plen;
	}
	return -EAGAIN;
}

int
tun_write(tun_t *t, const void *pkt, size_t len)
{
	uint8_t hdr[UTUN_HDR_LEN];
	struct iovec iov[2];
	ssize_t n;
	int rc;

	if (len == 0 || len > PKT_MAX)
		return -EMSGSIZE;
	if ((rc = tun_frame_header(hdr, pkt, len)) < 0)
		return rc;
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)pkt;	/* writev won't write it */
	iov[1].iov_len = len;
	do
		n = writev(t->fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* utun reports a full send queue as ENOBUFS */
		rc = errno == EWOULDBLOCK || errno == ENOBUFS ? -EAGAIN : -errno;
		t->st.tx_dropped++;
		return rc;
	}
	if ((size_t)n != len + UTUN_HDR_LEN) {
		t->st.tx_dropped++;
		return -EIO;
	}
	t->st.tx_packets++;
	t->st.tx_bytes += len;
	if (t->pcap != NULL)
		tun_pcap_write(t->pcap, pkt, len);
	return 0;
}

void
tun_set_pcap(tun_t *t, tun_pcap_t *pc)
{
	t->pcap = pc;
}

void
tun_get_stats(const tun_t *t, struct tun_stats *st)
{
	*st = t->st;
}
