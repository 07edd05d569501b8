/*
 * disc_probe: runs the discovery client (disc_*) on a loop against an API
 * and prints the endpoint table and the status, for tests/system/40_*.sh.
 *
 *   disc_probe --api URL --state DIR --hosts FILE [--key KEY] [--set-key KEY]
 *              [--interval-ms N] [--run-ms N] [--expect N] [--deregister]
 *
 * Runs until the table holds --expect endpoints (default: until the first
 * successful poll), or --run-ms passes; then prints
 *   ep HOST PORT ADDR ID        one per endpoint, sorted
 *   status key=.. registered=.. operator=.. api_ok=.. ... error="..."
 * Exit status 0 when the stop condition was met, 1 on timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "discovery/discovery.h"

struct probe {
	loop_t		*loop;
	eptable_t	*table;
	disc_t		*disc;
	loop_timer_t	 tick;
	uint64_t	 deadline;
	long		 expect;	/* -1: first successful poll */
	int		 deregister, dereg_sent, met;
	unsigned	 changes;
};

static void
changed(void *arg)
{
	struct probe *p = arg;

	p->changes++;
}

static int
done(struct probe *p)
{
	struct disc_status st;

	disc_get_status(p->disc, &st);
	if (p->deregister) {
		if (!p->dereg_sent && st.last_poll_ok != 0) {
			disc_deregister(p->disc);
			p->dereg_sent = 1;
		}
		return p->dereg_sent && !st.registered;
	}
	if (p->expect < 0)
		return st.last_poll_ok != 0 && st.endpoints == eptable_count(p->table);
	return (long)eptable_count(p->table) == p->expect;
}

static void
on_tick(loop_t *loop, void *arg)
{
	struct probe *p = arg;

	if (done(p)) {
		p->met = 1;
		loop_stop(loop);
		return;
	}
	if (loop_now(loop) >= p->deadline) {
		loop_stop(loop);
		return;
	}
	loop_timer_start(loop, &p->tick, 50);
}

struct row {
	char	 line[512];
};

static int
cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->line, ((const struct row *)b)->line);
}

struct rows {
	struct row	*v;
	size_t		 n;
};

static void
add_row(struct endpoint *e, void *arg)
{
	struct rows *r = arg;
	struct in_addr ia = { htonl(e->addr) };
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &ia, a, sizeof(a));
	snprintf(r->v[r->n++].line, sizeof(r->v[0].line), "ep %s %u %s %s",
	    e->hostname, e->port, a, e->id);
}

static void
print_all(struct probe *p)
{
	struct disc_status st;
	struct rows r = { calloc(eptable_count(p->table) + 1, sizeof(struct row)), 0 };
	size_t i;

	eptable_foreach(p->table, add_row, &r);
	qsort(r.v, r.n, sizeof(*r.v), cmp_row);
	for (i = 0; i < r.n; i++)
		printf("%s\n", r.v[i].line);
	free(r.v);
	disc_get_status(p->disc, &st);
	printf("status key=%d key_rejected=%d registered=%d operator=%s "
	    "ingress=%s api_ok=%d hosts_ok=%d endpoints=%zu failures=%u "
	    "cert_not_after=%lld error=\"%s\" hosts_error=\"%s\"\n",
	    st.key_set, st.key_rejected, st.registered,
	    st.operator_id[0] ? st.operator_id : "-", st.ingress_endpoint[0] ?
	    st.ingress_endpoint : "-", st.api_ok, st.hosts_ok, st.endpoints,
	    st.consecutive_failures, st.cert_not_after, st.last_error,
	    st.hosts_error);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api", required_argument, NULL, 'a' },
		{ "key", required_argument, NULL, 'k' },
		{ "set-key", required_argument, NULL, 'K' },
		{ "state", required_argument, NULL, 's' },
		{ "hosts", required_argument, NULL, 'h' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "run-ms", required_argument, NULL, 'r' },
		{ "expect", required_argument, NULL, 'e' },
		{ "deregister", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct probe p = { .expect = -1 };
	struct disc_hooks hooks = { changed, &p };
	struct config cfg;
	const char *setkey = NULL;
	long run_ms = 10000;
	int c;

	log_init("disc_probe", 1, LOG_LVL_INFO);
	if (config_defaults(&cfg) != 0)
		return 2;
	cfg.poll_interval_ms = 1000;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char **field = NULL;

		switch (c) {
		case 'a': field = &cfg.api_url; break;
		case 'k': field = &cfg.api_key; break;
		case 's': field = &cfg.state_dir; break;
		case 'h': field = &cfg.hosts_file; break;
		case 'K': setkey = optarg; break;
		case 'i': cfg.poll_interval_ms = (uint32_t)atol(optarg); break;
		case 'r': run_ms = atol(optarg); break;
		case 'e': p.expect = atol(optarg); break;
		case 'd': p.deregister = 1; break;
		default: return 2;
		}
		if (field != NULL) {
			free(*field);
			*field = strdup(optarg);
		}
	}
	/* The certificate paths follow state_dir as in config_load. */
	free(cfg.client_cert);
	free(cfg.client_key);
	cfg.client_cert = cfg.client_key = NULL;
	if ((p.loop = loop_new()) == NULL || (p.table = eptable_new()) == NULL ||
	    (p.disc = disc_new(p.loop, &cfg, p.table, &hooks)) == NULL) {
		fprintf(stderr, "disc_probe: setup: %s\n", strerror(errno));
		return 2;
	}
	config_free(&cfg);	/* disc copied what it needs */
	if (disc_start(p.disc) != 0 ||
	    (setkey != NULL && disc_set_api_key(p.disc, setkey) != 0)) {
		fprintf(stderr, "disc_probe: start failed\n");
		return 2;
	}
	p.deadline = loop_now(p.loop) + (uint64_t)run_ms;
	loop_timer_init(&p.tick, on_tick, &p);
	loop_timer_start(p.loop, &p.tick, 50);
	loop_run(p.loop);
	loop_timer_stop(p.loop, &p.tick);
	print_all(&p);
	disc_free(p.disc);
	eptable_free(p.table);
	loop_free(p.loop);
	return p.met ? 0 : 1;
}
