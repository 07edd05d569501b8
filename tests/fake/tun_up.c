/*
 * tun_up: opens a TUN device through tun_open and reads packets from it
 * into an optional pcap file until SIGTERM or SIGINT, then closes it.
 * Used by tests/system/10_tun_device.sh.
 *
 *   tun_up NAME SUBNET/PREFIX MTU [--pcap FILE [--pcap-max BYTES]]
 *
 * Prints "ready NAME" on stdout once the device is up, and its counters
 * on stderr at exit.  Exit 0 after a signal, 1 when the device cannot be
 * opened, 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tun/tun.h"

static int
parse_subnet(const char *s, struct tun_params *p)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	char *end;
	unsigned long prefix;
	size_t n;

	if (slash == NULL || (n = (size_t)(slash - s)) >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -1;
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == slash + 1 || prefix > 32)
		return -1;
	p->subnet = ntohl(a.s_addr);
	p->prefix = (uint8_t)prefix;
	p->gateway = p->subnet + 1;
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: tun_up NAME SUBNET/PREFIX MTU "
	    "[--pcap FILE [--pcap-max BYTES]]\n");
	return 2;
}

static void
drain(tun_t *t, tun_pcap_t *pc)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = tun_read(t, buf, sizeof(buf))) > 0)
		;
	if (n != -EAGAIN)
		fprintf(stderr, "tun_up: tun_read: %s\n", strerror((int)-n));
	tun_pcap_flush(pc);
}

static int
run(tun_t *t, tun_pcap_t *pc)
{
	struct pollfd pfd[2];
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		perror("tun_up: signalfd");
		return 1;
	}
	pfd[0].fd = tun_fd(t);
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	printf("ready %s\n", tun_name(t));
	fflush(stdout);
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("tun_up: poll");
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents)
			drain(t, pc);
	}
	close(sfd);
	return 0;
}

int
main(int argc, char **argv)
{
	struct tun_params p = { 0 };
	struct tun_stats st;
	tun_pcap_t *pc = NULL;
	const char *pcap = NULL;
	unsigned long long max = 0;
	tun_t *t;
	int i, rc;

	if (argc < 4)
		return usage();
	log_init("tun_up", 1, LOG_LVL_DEBUG);
	p.name = argv[1];
	if (parse_subnet(argv[2], &p) < 0)
		return usage();
	p.mtu = (uint32_t)strtoul(argv[3], NULL, 10);
	for (i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--pcap") == 0 && i + 1 < argc)
			pcap = argv[++i];
		else if (strcmp(argv[i], "--pcap-max") == 0 && i + 1 < argc)
			max = strtoull(argv[++i], NULL, 10);
		else
			return usage();
	}
	if (pcap != NULL && (pc = tun_pcap_open(pcap, max)) == NULL)
		return 1;
	if ((t = tun_open(&p)) == NULL) {
		tun_pcap_close(pc);
		return 1;
	}
	tun_set_pcap(t, pc);
	rc = run(t, pc);
	tun_get_stats(t, &st);
	fprintf(stderr, "tun_up: rx %" PRIu64 " packets %" PRIu64 " bytes "
	    "%" PRIu64 " dropped, tx %" PRIu64 " packets %" PRIu64 " dropped\n",
	    st.rx_packets, st.rx_bytes, st.rx_dropped, st.tx_packets,
	    st.tx_dropped);
	tun_close(t);
	tun_pcap_close(pc);
	return rc;
}
