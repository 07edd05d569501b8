/*
 * pcap.c: the packet tap.  A classic pcap file (magic 0xa1b2c3d4 in host
 * byte order, v2.4, microsecond timestamps) with LINKTYPE_RAW (101): each
 * record is a bare IP packet whose version nibble tells IPv4 from IPv6;
 * tshark and tcpdump decode it as IPv4 without any setting.
 *
 * Records go into a memory buffer that is written out when it fills or on
 * tun_pcap_flush, so the data path waits on the disk for at most one write
 * of the buffer, and only when the buffer is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/fdio.h"
#include "daemon/log.h"
#include "tun/tun.h"

#define PCAP_MAGIC		0xa1b2c3d4u
#define PCAP_VERSION_MAJOR	2
#define PCAP_VERSION_MINOR	4
#define PCAP_SNAPLEN		65535u
#define PCAP_LINKTYPE_RAW	101u
#define PCAP_GLOBAL_HDR_LEN	24
#define PCAP_REC_HDR_LEN	16
#define PCAP_BUF_SIZE		(256 * 1024)

struct tun_pcap {
	int		 fd;
	int		 active;	/* 0 once capped or after a write error */
	char		*path;		/* for log lines */
	uint8_t		*buf;
	size_t		 used;
	uint64_t	 max_bytes;	/* 0: no cap */
	uint64_t	 bytes;		/* file size once the buffer is written */
};

static void
put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));	/* host order: the magic tells readers */
}

static void
put_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static int
write_global_header(int fd)
{
	uint8_t h[PCAP_GLOBAL_HDR_LEN];

	put_u32(h, PCAP_MAGIC);
	put_u16(h + 4, PCAP_VERSION_MAJOR);
	put_u16(h + 6, PCAP_VERSION_MINOR);
	put_u32(h + 8, 0);		/* thiszone: timestamps are UTC */
	put_u32(h + 12, 0);		/* sigfigs */
	put_u32(h + 16, PCAP_SNAPLEN);
	put_u32(h + 20, PCAP_LINKTYPE_RAW);
	return fd_write_all(fd, h, sizeof(h));
}

tun_pcap_t *
tun_pcap_open(const char *path, uint64_t max_bytes)
{
	tun_pcap_t *pc;
	int rc, saved;

	if (path == NULL || *path == '\0' ||
	    (max_bytes > 0 && max_bytes < PCAP_GLOBAL_HDR_LEN)) {
		log_warnx("pcap: %s: invalid path or size cap",
		    path != NULL ? path : "(null)");
		errno = EINVAL;
		return NULL;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	pc->fd = -1;
	if ((pc->path = strdup(path)) == NULL ||
	    (pc->buf = malloc(PCAP_BUF_SIZE)) == NULL)
		goto fail;
	/* The file holds traffic: 0600, and no following a planted symlink. */
	pc->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (pc->fd < 0) {
		log_warn("pcap: open %s", path);
		goto fail;
	}
	/* An existing file keeps its mode through O_CREAT: set it. */
	if (fchmod(pc->fd, 0600) < 0) {
		log_warn("pcap: chmod %s", path);
		goto fail;
	}
	if ((rc = write_global_header(pc->fd)) < 0) {
		errno = -rc;
		log_warn("pcap: write %s", path);
		goto fail;
	}
	pc->bytes = PCAP_GLOBAL_HDR_LEN;
	pc->max_bytes = max_bytes;
	pc->active = 1;
	return pc;
fail:
	saved = errno;
	if (pc->fd >= 0)
		close(pc->fd);
	free(pc->buf);
	free(pc->path);
	free(pc);
	errno = saved;
	return NULL;
}

/* Writes out the buffer; a failure stops capture and drops what was
 * buffered. */
static int
pcap_drain(tun_pcap_t *pc)
{
	int rc;

	if (pc->used == 0)
		return 0;
	rc = fd_write_all(pc->fd, pc->buf, pc->used);
	pc->used = 0;
	if (rc < 0) {
		errno = -rc;
		log_warn("pcap: write %s, capture stopped", pc->path);
		pc->active = 0;
	}
	return rc;
}

void
tun_pcap_write(tun_pcap_t *pc, const void *pkt, size_t len)
{
	struct timespec ts;
	uint32_t caplen;
	size_t rec;
	uint8_t *r;

	if (pc == NULL || !pc->active || pkt == NULL)
		return;
	caplen = len > PCAP_SNAPLEN ? PCAP_SNAPLEN : (uint32_t)len;
	rec = PCAP_REC_HDR_LEN + caplen;
	if (pc->max_bytes > 0 && pc->bytes + rec > pc->max_bytes) {
		/* Stop on a whole record: the file never ends mid-packet. */
		pc->active = 0;
		log_info("pcap: %s reached %" PRIu64 " bytes, capture stopped",
		    pc->path, pc->max_bytes);
		return;
	}
	if (PCAP_BUF_SIZE - pc->used < rec && pcap_drain(pc) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	r = pc->buf + pc->used;
	put_u32(r, (uint32_t)ts.tv_sec);
	put_u32(r + 4, (uint32_t)(ts.tv_nsec / 1000));
	put_u32(r + 8, caplen);
	put_u32(r + 12, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	memcpy(r + PCAP_REC_HDR_LEN, pkt, caplen);
	pc->used += rec;
	pc->bytes += rec;
}

int
tun_pcap_flush(tun_pcap_t *pc)
{
	if (pc == NULL)
		return 0;
	return pcap_drain(pc);
}

void
tun_pcap_close(tun_pcap_t *pc)
{
	if (pc == NULL)
		return;
	pcap_drain(pc);
	if (close(pc->fd) < 0)
		log_warn("pcap: close %s", pc->path);
	free(pc->buf);
	free(pc->path);
	free(pc);
}

int
tun_pcap_active(const tun_pcap_t *pc)
{
	return pc != NULL && pc->active;
}

uint64_t
tun_pcap_bytes(const tun_pcap_t *pc)
{
	return pc != NULL ? pc->bytes : 0;
}
