/*
 * tun_linux.c: the packet device on Linux: /dev/net/tun (IFF_TUN |
 * IFF_NO_PI, so reads and writes are IP packets) configured through
 * rtnetlink.
 *
 * Offload (tun_params.offload): IFF_VNET_HDR puts a virtio_net_hdr before
 * every packet, and TUNSETOFFLOAD (TSO4 | CSUM) lets the kernel hand us
 * TCP super-packets of up to 64 KiB with the checksum left to do, and take
 * the same from us.  One read or write then moves 64 KiB instead of one
 * MTU: the per-packet cost of the device, most of the data path's CPU, is
 * paid 4 to 40 times less often (docs/performance.md).  Every rtnetlink request is built here by hand, sent with
 * NLM_F_ACK and its ACK checked, so a failure names the step that failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tun/tun_priv.h"

#define TUN_DEV_PATH	"/dev/net/tun"
#define NL_REQ_SIZE	256		/* largest request: header + 3 attrs */
#define NL_RECV_SIZE	32768		/* a dump part never exceeds this */
#define NL_TIMEOUT_SEC	5		/* a kernel that never answers */
#define READ_SKIP_MAX	64		/* non-IPv4 packets skipped per call */
#define IPV4_MIN_HDR	20
#define PKT_MAX		65535	/* the largest IPv4 packet */
/* Packets the kernel queues for us while we are busy: its default of 500
 * overflows when thousands of connections open or close at once (the
 * 5,000-connection step of tests/system/95_faults.sh). */
#define TXQUEUELEN	2000

struct tun {
	int		 fd;
	int		 nl;		/* rtnetlink socket, kept for tun_close */
	uint32_t	 nl_seq;
	int		 ifindex;
	char		 name[IFNAMSIZ];
	uint32_t	 subnet, gateway, mtu;	/* host byte order */
	uint8_t		 prefix;
	int		 addr_added;
	int		 route_added;
	int		 vnet;		/* a virtio_net_hdr precedes each packet */
	int		 offload;	/* ...and TSO4 + CSUM are on */
	tun_pcap_t	*pcap;
	struct tun_stats st;
};

union nl_req {
	struct nlmsghdr	 n;
	uint8_t		 b[NL_REQ_SIZE];
};

/* ---- rtnetlink ---------------------------------------------------------- */

static void *
nl_init(union nl_req *r, uint16_t type, uint16_t flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->n.nlmsg_type = type;
	r->n.nlmsg_flags = NLM_F_REQUEST | flags;
	return NLMSG_DATA(&r->n);
}

/* Appends one attribute; -EMSGSIZE rather than run past the request. */
static int
nl_put(union nl_req *r, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->n.nlmsg_len);
	struct rtattr *rta;

	if (len > sizeof(r->b) || off + RTA_SPACE(len) > sizeof(r->b))
		return -EMSGSIZE;
	rta = (struct rtattr *)(void *)(r->b + off);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->n.nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
	return 0;
}

static int
nl_put_u32(union nl_req *r, uint16_t type, uint32_t v)
{
	return nl_put(r, type, &v, sizeof(v));
}

static int
nl_open(void)
{
	struct sockaddr_nl sa;
	struct timeval tv = { NL_TIMEOUT_SEC, 0 };
	int fd, one = 1;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	/* Lets the kernel filter route dumps by table and device (4.20+);
	 * without it route_cb filters a whole table, so failure is fine. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one,
	    sizeof(one));
	return fd;
}

typedef void (*nl_cb)(struct nlmsghdr *h, void *arg);

/* Handles one datagram: 1 when the request's answer (ACK, error or end of
 * dump) was in it with its result in *res, else 0. */
static int
nl_parse(uint8_t *buf, size_t len, uint32_t seq, nl_cb cb, void *arg,
    int *res)
{
	struct nlmsghdr *h;
	const struct nlmsgerr *e;

	for (h = (struct nlmsghdr *)(void *)buf; NLMSG_OK(h, len);
	    h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_seq != seq)
			continue;	/* a stale answer to an earlier request */
		if (h->nlmsg_type == NLMSG_ERROR) {
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				*res = -EBADMSG;
			else {
				e = NLMSG_DATA(h);
				*res = e->error <= 0 ? e->error : -EBADMSG;
			}
			return 1;
		}
		if (h->nlmsg_type == NLMSG_DONE) {
			int err = 0;	/* a dump that failed midway says so here */

			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(err)))
				memcpy(&err, NLMSG_DATA(h), sizeof(err));
			*res = err < 0 ? err : 0;
			return 1;
		}
		if (cb != NULL && h->nlmsg_type >= NLMSG_MIN_TYPE)
			cb(h, arg);
	}
	return 0;
}

/* Sends r and waits for its ACK (or, for a dump, its end), handing every
 * data message to cb.  0 or the kernel's -errno. */
static int
nl_talk(tun_t *t, union nl_req *r, nl_cb cb, void *arg)
{
	struct sockaddr_nl kern = { .nl_family = AF_NETLINK };
	struct iovec iov;
	struct msghdr mh;
	uint8_t *buf;
	ssize_t n;
	int res = -EBADMSG, done = 0;

	r->n.nlmsg_seq = ++t->nl_seq;
	if (sendto(t->nl, r, r->n.nlmsg_len, 0, (struct sockaddr *)&kern,
	    sizeof(kern)) < 0)
		return -errno;
	if ((buf = malloc(NL_RECV_SIZE)) == NULL)
		return -ENOMEM;
	while (!done) {
		struct sockaddr_nl from;

		iov.iov_base = buf;
		iov.iov_len = NL_RECV_SIZE;
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(t->nl, &mh, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			res = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			res = -EMSGSIZE;
			break;
		}
		if (from.nl_pid != 0)
			continue;	/* only the kernel talks to us */
		done = nl_parse(buf, (size_t)n, t->nl_seq, cb, arg, &res);
	}
	free(buf);
	return res;
}

/* ---- the configuration steps ------------------------------------------- */

static int
nl_link(tun_t *t, uint32_t mtu, int up)
{
	union nl_req r;
	struct ifinfomsg *ifi;

	ifi = nl_init(&r, RTM_NEWLINK, NLM_F_ACK, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = t->ifindex;
	if (up) {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
	}
	if (mtu > 0 && (nl_put_u32(&r, IFLA_MTU, mtu) < 0 ||
	    nl_put_u32(&r, IFLA_TXQLEN, TXQUEUELEN) < 0))
		return -EMSGSIZE;
	return nl_talk(t, &r, NULL, NULL);
}

static int
nl_addr(tun_t *t, uint16_t type)
{
	union nl_req r;
	struct ifaddrmsg *ifa;
	uint32_t a = htonl(t->gateway);
	uint16_t flags = NLM_F_ACK;

	if (type == RTM_NEWADDR)
		flags |= NLM_F_CREATE | NLM_F_EXCL;
	ifa = nl_init(&r, type, flags, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = t->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)t->ifindex;
	if (nl_put(&r, IFA_LOCAL, &a, sizeof(a)) < 0 ||
	    nl_put(&r, IFA_ADDRESS, &a, sizeof(a)) < 0)
		return -EMSGSIZE;
	return nl_talk(t, &r, NULL, NULL);
}

static int
nl_route(tun_t *t, uint16_t type)
{
	union nl_req r;
	struct rtmsg *rtm;
	uint32_t dst = htonl(t->subnet);
	uint16_t flags = NLM_F_ACK;

	if (type == RTM_NEWROUTE)
		flags |= NLM_F_CREATE | NLM_F_EXCL;
	rtm = nl_init(&r, type, flags, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = t->prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (nl_put(&r, RTA_DST, &dst, sizeof(dst)) < 0 ||
	    nl_put_u32(&r, RTA_OIF, (uint32_t)t->ifindex) < 0)
		return -EMSGSIZE;
	return nl_talk(t, &r, NULL, NULL);
}

struct route_match {
	const tun_t	*t;
	int		 found;
};

/* Is h the route "subnet/prefix dev t" in the main table? */
static void
route_cb(struct nlmsghdr *h, void *arg)
{
	struct route_match *m = arg;
	struct rtmsg *rtm = NLMSG_DATA(h);	/* non-const: the RTA_ macros cast */
	struct rtattr *rta;
	uint32_t table, dst = 0, oif = 0;
	int alen;

	if (h->nlmsg_type != RTM_NEWROUTE ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return;
	if (rtm->rtm_family != AF_INET || rtm->rtm_dst_len != m->t->prefix ||
	    rtm->rtm_type != RTN_UNICAST)
		return;
	table = rtm->rtm_table;
	alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*rtm)));
	for (rta = RTM_RTA(rtm); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
		if (RTA_PAYLOAD(rta) != sizeof(uint32_t))
			continue;
		if (rta->rta_type == RTA_DST)
			memcpy(&dst, RTA_DATA(rta), 4);
		else if (rta->rta_type == RTA_OIF)
			memcpy(&oif, RTA_DATA(rta), 4);
		else if (rta->rta_type == RTA_TABLE)
			memcpy(&table, RTA_DATA(rta), 4);
	}
	if (table == RT_TABLE_MAIN && ntohl(dst) == m->t->subnet &&
	    oif == (uint32_t)m->t->ifindex)
		m->found = 1;
}

/* Adding an address installs its prefix route once the link is up; look
 * for it rather than assume (IFA_F_NOPREFIXROUTE, odd sysctls). */
static int
nl_route_present(tun_t *t, int *found)
{
	union nl_req r;
	struct rtmsg *rtm;
	struct route_match m = { t, 0 };
	int rc;

	rtm = nl_init(&r, RTM_GETROUTE, NLM_F_DUMP, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_table = RT_TABLE_MAIN;
	/* Kernels with strict checking filter on these; older ones send the
	 * whole table and route_cb filters. */
	if (nl_put_u32(&r, RTA_OIF, (uint32_t)t->ifindex) < 0)
		return -EMSGSIZE;
	rc = nl_talk(t, &r, route_cb, &m);
	*found = m.found;
	return rc;
}

/* ---- open / close ------------------------------------------------------- */

/* TSO4 and checksum offload; without them the header stays, all zero. */
static void
set_offload(tun_t *t)
{
	if (ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) < 0) {
		log_warn("tun_open: %s: TUNSETOFFLOAD (running without "
		    "segmentation offload)", t->name);
		return;
	}
	t->offload = 1;
}

static int
open_device(tun_t *t, const char *name, int offload)
{
	struct ifreq ifr;

	if (name != NULL && strnlen(name, IFNAMSIZ) >= IFNAMSIZ) {
		log_warnx("tun_open: interface name \"%.64s\" is too long "
		    "(at most %d bytes)", name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	t->fd = open(TUN_DEV_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		log_warn("tun_open: %s", TUN_DEV_PATH);
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
	if (name != NULL)	/* NULL or "": the kernel picks tunN */
		memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		log_warn("tun_open: TUNSETIFF %s",
		    name != NULL && *name ? name : "tun%d");
		return -errno;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ - 1);
	if ((t->ifindex = (int)if_nametoindex(t->name)) == 0) {
		log_warn("tun_open: %s: interface index", t->name);
		return -errno;
	}
	t->vnet = offload;
	if (offload)
		set_offload(t);
	return 0;
}

/* "tun_open: netlink RTM_NEWADDR 10.107.0.1/16 on ngrokd0: File exists" */
static int
nl_fail(const tun_t *t, const char *what, const char *detail, int rc)
{
	errno = -rc;
	log_warn("tun_open: netlink %s %s on %s", what, detail, t->name);
	return rc;
}

static int
configure(tun_t *t)
{
	char addr[32], net[32], mtu[24];
	int rc, found = 0;

	tun_fmt_prefix(t->gateway, t->prefix, addr, sizeof(addr));
	tun_fmt_prefix(t->subnet, t->prefix, net, sizeof(net));
	snprintf(mtu, sizeof(mtu), "mtu %u", t->mtu);
	if ((rc = nl_open()) < 0) {
		errno = -rc;
		log_warn("tun_open: netlink socket");
		return rc;
	}
	t->nl = rc;
	if ((rc = nl_link(t, t->mtu, 0)) < 0)
		return nl_fail(t, "RTM_NEWLINK", mtu, rc);
	if ((rc = nl_addr(t, RTM_NEWADDR)) < 0)
		return nl_fail(t, "RTM_NEWADDR", addr, rc);
	t->addr_added = 1;
	if ((rc = nl_link(t, 0, 1)) < 0)
		return nl_fail(t, "RTM_NEWLINK", "up", rc);
	if ((rc = nl_route_present(t, &found)) < 0)
		return nl_fail(t, "RTM_GETROUTE", net, rc);
	if (!found) {
		if ((rc = nl_route(t, RTM_NEWROUTE)) < 0)
			return nl_fail(t, "RTM_NEWROUTE", net, rc);
		t->route_added = 1;
		log_debug("tun_open: added route %s dev %s", net, t->name);
	}
	log_info("tun_open: %s up, address %s, mtu %u%s", t->name, addr,
	    t->mtu, t->offload ? ", segmentation offload" : "");
	return 0;
}

/* Undoes what tun_open did, in reverse; errors are logged, not fatal. */
static void
unconfigure(tun_t *t)
{
	char buf[32];
	int rc;

	if (t->nl < 0)
		return;
	if (t->route_added && (rc = nl_route(t, RTM_DELROUTE)) < 0) {
		tun_fmt_prefix(t->subnet, t->prefix, buf, sizeof(buf));
		errno = -rc;
		log_warn("tun_close: netlink RTM_DELROUTE %s on %s", buf,
		    t->name);
	}
	if (t->addr_added && (rc = nl_addr(t, RTM_DELADDR)) < 0) {
		tun_fmt_prefix(t->gateway, t->prefix, buf, sizeof(buf));
		errno = -rc;
		log_warn("tun_close: netlink RTM_DELADDR %s on %s", buf,
		    t->name);
	}
	t->route_added = t->addr_added = 0;
}

static void
tun_free(tun_t *t)
{
	unconfigure(t);
	if (t->nl >= 0)
		close(t->nl);
	/* A non-persistent tun device disappears with its last fd. */
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
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		log_warn("tun_open");
		return NULL;
	}
	t->fd = t->nl = -1;
	t->subnet = p->subnet;
	t->prefix = p->prefix;
	t->gateway = p->gateway;
	t->mtu = p->mtu;
	if ((rc = open_device(t, p->name, p->offload)) < 0 || (rc = configure(t)) < 0) {
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

/* ---- the data path ------------------------------------------------------ */

/* One read(2) of a packet, behind its virtio_net_hdr when there is one
 * (the header is not needed: we check no checksums, and lwIP takes a
 * super-packet as one segment). */
static ssize_t
read_packet(tun_t *t, void *buf, size_t len)
{
	struct virtio_net_hdr vh;
	struct iovec iov[2] = {
		{ &vh, sizeof(vh) }, { buf, len }
	};
	ssize_t n;

	if (!t->vnet)
		return read(t->fd, buf, len);
	if ((n = readv(t->fd, iov, 2)) < 0)
		return n;
	return n < (ssize_t)sizeof(vh) ? 0 : n - (ssize_t)sizeof(vh);
}

ssize_t
tun_read(tun_t *t, void *buf, size_t len)
{
	const uint8_t *b = buf;
	ssize_t n;
	int skipped = 0;

	while (skipped < READ_SKIP_MAX) {
		n = read_packet(t, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		/* IPv6 router solicitations, MLD and the like reach the
		 * device too; only IPv4 goes up. */
		if (n < IPV4_MIN_HDR || b[0] >> 4 != 4) {
			t->st.rx_dropped++;
			skipped++;
			continue;
		}
		t->st.rx_packets++;
		t->st.rx_bytes += (uint64_t)n;
		if (t->pcap != NULL)
			tun_pcap_write(t->pcap, buf, (size_t)n);
		return n;
	}
	/* The fd stays readable: a level-triggered loop comes back. */
	return -EAGAIN;
}

static int
write_packet(tun_t *t, const struct virtio_net_hdr *vh, const void *pkt,
    size_t len)
{
	struct iovec iov[2] = {
		{ (void *)(uintptr_t)vh, sizeof(*vh) },
		{ (void *)(uintptr_t)pkt, len }
	};
	size_t want = len + (t->vnet ? sizeof(*vh) : 0);
	ssize_t n;

	if (len == 0 || len > PKT_MAX)
		return -EMSGSIZE;
	do
		n = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int rc = errno == EWOULDBLOCK || errno == ENOBUFS ?
		    -EAGAIN : -errno;

		t->st.tx_dropped++;
		return rc;
	}
	if ((size_t)n != want) {
		t->st.tx_dropped++;
		return -EIO;
	}
	t->st.tx_packets++;
	t->st.tx_bytes += len;
	if (t->pcap != NULL)
		tun_pcap_write(t->pcap, pkt, len);
	return 0;
}

int
tun_write(tun_t *t, const void *pkt, size_t len)
{
	static const struct virtio_net_hdr none;	/* read-only */

	return write_packet(t, &none, pkt, len);
}

int
tun_write_tcp(tun_t *t, const void *pkt, size_t len, uint16_t gso_size)
{
	const uint8_t *b = pkt;
	struct virtio_net_hdr vh;
	size_t ihl, thl;

	if (!t->offload)
		return -ENOTSUP;
	if (len < IPV4_MIN_HDR || b[0] >> 4 != 4 || b[9] != IPPROTO_TCP ||
	    (ihl = (size_t)(b[0] & 0xf) * 4) < IPV4_MIN_HDR ||
	    len < ihl + 20 || (thl = (size_t)(b[ihl + 12] >> 4) * 4) < 20 ||
	    len < ihl + thl || (size_t)(b[2] << 8 | b[3]) != len ||
	    (gso_size > 0 && len - ihl - thl <= gso_size))
		return -EINVAL;
	memset(&vh, 0, sizeof(vh));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = (uint16_t)ihl;
	vh.csum_offset = 16;		/* struct tcphdr's check */
	vh.hdr_len = (uint16_t)(ihl + thl);
	if (gso_size > 0) {
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh.gso_size = gso_size;
	}
	return write_packet(t, &vh, pkt, len);
}

int
tun_offload(const tun_t *t)
{
	return t->offload;
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
