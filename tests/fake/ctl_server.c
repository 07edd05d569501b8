/*
 * ctl_server: serves the control socket with fake handlers, for
 * tests/system/50_control*.sh.  Prints "ready" when listening; SIGTERM or
 * SIGINT stops it (and ctl_free removes the socket file).
 *   ctl_server [--socket PATH | --activation] [--group G] [--admin-group G]
 *              [--mode OCTAL] [--max-clients N] [--rate N] [--burst N]
 *              [--idle-ms N] [--key-file PATH]
 * set-api-key writes the key to --key-file (0600) so that a test can see
 * it arrived intact; the key "fail-key" makes the handler fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/control.h"
#include "daemon/log.h"
#include "daemon/loop.h"

struct fake {
	const char	*key_file;
	int		 key_set;
};

/* The signal handler's only way to reach the loop. */
static loop_t *volatile g_loop;

static void
on_signal(int sig)
{
	(void)sig;
	if (g_loop != NULL)
		loop_stop(g_loop);
}

static int
f_status(void *arg, cJSON *d, char *err, size_t errlen)
{
	struct fake *f = arg;

	cJSON_AddBoolToObject(d, "registered", f->key_set);
	cJSON_AddStringToObject(d, "operator_id", "k8sop_fake123");
	cJSON_AddStringToObject(d, "ingress_endpoint",
	    "kubernetes-binding-ingress.ngrok.io:443");
	cJSON_AddBoolToObject(d, "api_healthy", 1);
	cJSON_AddStringToObject(d, "api_last_error", "");
	cJSON_AddStringToObject(d, "mode", "tun");
	cJSON_AddStringToObject(d, "device", "ngrokd0");
	cJSON_AddNumberToObject(d, "endpoints", 2);
	cJSON_AddNumberToObject(d, "uptime_s", 3725);
	cJSON_AddStringToObject(d, "version", "fake");
	return 0;
}

static void
add_ep(cJSON *a, const char *id, const char *host, const char *addr, int port)
{
	cJSON *e = cJSON_CreateObject();
	char url[128];

	snprintf(url, sizeof(url), "https://%s", host);
	cJSON_AddStringToObject(e, "id", id);
	cJSON_AddStringToObject(e, "hostname", host);
	cJSON_AddStringToObject(e, "address", addr);
	cJSON_AddNumberToObject(e, "port", port);
	cJSON_AddStringToObject(e, "proto", "https");
	cJSON_AddStringToObject(e, "url", url);
	cJSON_AddNumberToObject(e, "streams_active", 1);
	cJSON_AddNumberToObject(e, "streams_total", 42);
	cJSON_AddNumberToObject(e, "bytes_in", 1000);
	cJSON_AddNumberToObject(e, "bytes_out", 2000);
	cJSON_AddNumberToObject(e, "errors", 0);
	cJSON_AddItemToArray(a, e);
}

static int
f_list(void *arg, cJSON *d, char *err, size_t errlen)
{
	cJSON *a = cJSON_AddArrayToObject(d, "endpoints");

	add_ep(a, "ep_1", "my-api.ngrok.app", "10.107.0.3", 443);
	add_ep(a, "ep_2", "db.internal", "10.107.0.4", 5432);
	return 0;
}

static int
f_health(void *arg, cJSON *d, char *err, size_t errlen)
{
	cJSON_AddBoolToObject(d, "live", 1);
	cJSON_AddBoolToObject(d, "ready", 1);
	return 0;
}

static int
f_set_key(void *arg, const char *key, char *err, size_t errlen)
{
	struct fake *f = arg;
	int fd;

	if (strcmp(key, "fail-key") == 0) {
		snprintf(err, errlen, "provisioning failed: HTTP 401");
		return -EACCES;
	}
	if (f->key_file != NULL) {
		fd = open(f->key_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd == -1 || write(fd, key, strlen(key)) < 0) {
			if (fd != -1)
				close(fd);
			return -errno;
		}
		close(fd);
	}
	f->key_set = 1;
	return 0;
}

static int
f_ok(void *arg, char *err, size_t errlen)
{
	return 0;
}

static unsigned
num(const char *s)
{
	return (unsigned)strtoul(s, NULL, 0);
}

int
main(int argc, char *argv[])
{
	struct fake f = { 0 };
	struct ctl_handlers h = {
		.status = f_status, .list = f_list, .health = f_health,
		.set_api_key = f_set_key, .refresh_cert = f_ok,
		.deregister = f_ok, .arg = &f,
	};
	struct ctl_params p = { .listen_fd = -1 };
	int i, activation = 0;
	loop_t *loop;
	ctl_t *ctl;

	log_init("ctl_server", 1, LOG_LVL_DEBUG);
	for (i = 1; i + 1 < argc || (i < argc && strcmp(argv[i], "--activation") == 0); i++) {
		if (strcmp(argv[i], "--activation") == 0)
			activation = 1;
		else if (strcmp(argv[i], "--socket") == 0)
			p.socket_path = argv[++i];
		else if (strcmp(argv[i], "--group") == 0)
			p.group = argv[++i];
		else if (strcmp(argv[i], "--admin-group") == 0)
			p.admin_group = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0)
			p.socket_mode = (mode_t)strtoul(argv[++i], NULL, 8);
		else if (strcmp(argv[i], "--max-clients") == 0)
			p.max_clients = num(argv[++i]);
		else if (strcmp(argv[i], "--rate") == 0)
			p.rate = num(argv[++i]);
		else if (strcmp(argv[i], "--burst") == 0)
			p.burst = num(argv[++i]);
		else if (strcmp(argv[i], "--idle-ms") == 0)
			p.idle_ms = num(argv[++i]);
		else if (strcmp(argv[i], "--key-file") == 0)
			f.key_file = argv[++i];
		else {
			fprintf(stderr, "ctl_server: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (i != argc) {
		fprintf(stderr, "ctl_server: bad arguments\n");
		return 2;
	}
	if (activation && (p.listen_fd = ctl_activation_fd()) < 0) {
		fprintf(stderr, "ctl_server: no socket passed\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((loop = loop_new()) == NULL || (ctl = ctl_new(loop, &p, &h)) == NULL)
		return 1;
	g_loop = loop;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	loop_run(loop);
	ctl_free(ctl);
	loop_free(loop);
	printf("bye\n");
	return 0;
}
