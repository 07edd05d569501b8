/*
 * ngrokctl: talks to ngrokd over its control socket (see control.h for the
 * protocol).  Exit codes: 0 ok, 1 the daemon refused or the command failed
 * (also: health says not ready), 2 usage, connection or protocol error.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "control/check.h"
#include "control/control.h"
#include "daemon/log.h"

#ifndef NGROKD_VERSION
#define NGROKD_VERSION "unknown"
#endif

#define EXIT_FAILED	1
#define EXIT_USAGE	2

struct opts {
	const char	*socket;
	int		 socket_set;	/* --socket or NGROKD_SOCKET given */
	const char	*config;	/* --config (check only) */
	int		 json;
	int		 timeout_s;
	const char	*cmd;
	char		**args;
	int		 nargs;
};

static const struct {
	const char *name;
	int min, max;
} commands[] = {
	{ "status", 0, 0 }, { "list", 0, 0 }, { "health", 0, 0 },
	{ "version", 0, 0 }, { "set-api-key", 0, 1 }, { "refresh-cert", 0, 0 },
	{ "deregister", 0, 0 }, { "check", 0, 1 },
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ngrokctl [--socket PATH] [--config FILE] [--json] [--timeout SECS]\n"
"                COMMAND [ARGS]\n"
"\n"
"commands:\n"
"  status             registration, ingress, API health, data path, uptime\n"
"  list               bound endpoints and their traffic (a table)\n"
"  health             liveness and readiness (exit 1 when not ready)\n"
"  version            ngrokctl's and ngrokd's versions\n"
"  set-api-key [-]    read the ngrok API key from stdin (or a prompt) and\n"
"                     start provisioning; a key given as an argument works\n"
"                     but lands in shell history\n"
"  refresh-cert       renew the client certificate now\n"
"  deregister         remove this machine's operator from ngrok\n"
"  check [HOST]       self-test as root: daemon and API, client certificate,\n"
"                     TLS to the ingress, a ConnRequest per endpoint (or for\n"
"                     HOST only); one ok/FAILED line per step\n"
"\n"
"options:\n"
"  --socket PATH      control socket (default $NGROKD_SOCKET or %s)\n"
"  --config FILE      the daemon's configuration, for check (default\n"
"                     " CTL_CHECK_DEFAULT_CONFIG ")\n"
"  --json             print the daemon's raw JSON reply\n"
"  --timeout SECS     give up after SECS seconds (default 10; for check:\n"
"                     per step)\n"
"  -h, --help         this text\n"
"\n"
"exit status: 0 ok, 1 command failed or refused, 2 usage or connection error\n",
	    CTL_DEFAULT_SOCKET);
}

static void
wipe(void *p, size_t n)
{
	static void *(*const volatile w)(void *, int, size_t) = memset;

	if (p != NULL)
		w(p, 0, n);
}

static int
parse_opts(int argc, char *argv[], struct opts *o)
{
	int i;
	size_t k;

	o->socket = getenv("NGROKD_SOCKET");
	o->socket_set = o->socket != NULL && *o->socket != '\0';
	if (!o->socket_set)
		o->socket = CTL_DEFAULT_SOCKET;
	o->timeout_s = 10;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(argv[i], "--json") == 0) {
			o->json = 1;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			o->socket = argv[++i];
			o->socket_set = 1;
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			o->socket = argv[i] + 9;
			o->socket_set = 1;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			o->config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			o->config = argv[i] + 9;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			o->timeout_s = atoi(argv[++i]);
			if (o->timeout_s <= 0 || o->timeout_s > 3600) {
				fprintf(stderr, "ngrokctl: --timeout: 1..3600\n");
				return -1;
			}
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "ngrokctl: unknown option %s\n", argv[i]);
			return -1;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "ngrokctl: no command given\n");
		return -1;
	}
	o->cmd = argv[i];
	o->args = argv + i + 1;
	o->nargs = argc - i - 1;
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k].name, o->cmd) != 0)
			continue;
		if (o->nargs < commands[k].min || o->nargs > commands[k].max) {
			fprintf(stderr, "ngrokctl: %s: wrong number of "
			    "arguments\n", o->cmd);
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "ngrokctl: unknown command \"%s\"\n", o->cmd);
	return -1;
}

/* ---- the API key -------------------------------------------------------- */

static int
read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n == len - 1 && buf[n - 1] != '\n')
		return -2;	/* longer than any key */
	while (n > 0 && strchr("\r\n \t", buf[n - 1]) != NULL)
		buf[--n] = '\0';
	return 0;
}

/* Prompts on the terminal with echo off. */
static int
prompt_key(char *buf, size_t len)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int r, echo_off = 0;

	if (tty == NULL)
		return read_line(stdin, buf, len);
	fputs("ngrok API key: ", tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	r = read_line(tty, buf, len);
	if (echo_off)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	return r;
}

static int
get_key(struct opts *o, char *buf, size_t len)
{
	int r;

	if (o->nargs == 1 && strcmp(o->args[0], "-") != 0) {
		fprintf(stderr, "ngrokctl: warning: a key on the command line "
		    "is kept in shell history and visible in ps; prefer "
		    "\"ngrokctl set-api-key\" (prompt) or piping it in\n");
		if (strlen(o->args[0]) >= len)
			return -2;
		strcpy(buf, o->args[0]);
		wipe(o->args[0], strlen(o->args[0]));
		return 0;
	}
	if (o->nargs == 0 && isatty(STDIN_FILENO))
		r = prompt_key(buf, len);
	else
		r = read_line(stdin, buf, len);
	return r;
}

/* ---- the connection ----------------------------------------------------- */

static void
explain_connect(const char *path, int err)
{
	struct stat st;
	struct group *gr;

	if (err == ENOENT || err == ECONNREFUSED) {
		fprintf(stderr, "ngrokctl: %s: %s (is ngrokd running?)\n",
		    path, strerror(err));
	} else if (err == EACCES || err == EPERM) {
		if (stat(path, &st) == 0 && st.st_gid != 0 &&
		    (gr = getgrgid(st.st_gid)) != NULL)
			fprintf(stderr, "ngrokctl: %s: permission denied (you "
			    "are not in group %s)\n", path, gr->gr_name);
		else
			fprintf(stderr, "ngrokctl: %s: permission denied "
			    "(only root may use it)\n", path);
	} else if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT) {
		fprintf(stderr, "ngrokctl: %s: timed out waiting for ngrokd\n",
		    path);
	} else {
		fprintf(stderr, "ngrokctl: %s: %s\n", path, strerror(err));
	}
}

static int
connect_to(const char *path, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ngrokctl: %s: path too long\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1) {
		fprintf(stderr, "ngrokctl: socket: %s\n", strerror(errno));
		return -1;
	}
	/* Bounds connect (full backlog), send and every recv. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		err = errno;
		close(fd);
		explain_connect(path, err);
		return -1;
	}
	return fd;
}

/* Sends the request; returns the parsed reply or NULL (message printed). */
static cJSON *
roundtrip(const struct opts *o, const char *key, char **raw)
{
	cJSON *req = cJSON_CreateObject(), *args, *reply = NULL;
	char *s = NULL, *line = NULL;
	char why[160];
	int fd = -1, i, r, err;

	*raw = NULL;
	if (req == NULL || cJSON_AddStringToObject(req, "command", o->cmd) == NULL ||
	    (args = cJSON_AddArrayToObject(req, "args")) == NULL)
		goto oom;
	if (key != NULL)
		cJSON_AddItemToArray(args, cJSON_CreateString(key));
	else
		for (i = 0; i < o->nargs; i++)
			cJSON_AddItemToArray(args, cJSON_CreateString(o->args[i]));
	if ((s = cJSON_PrintUnformatted(req)) == NULL)
		goto oom;
	if ((fd = connect_to(o->socket, o->timeout_s)) < 0)
		goto out;
	{
		size_t n = strlen(s);
		char *msg = malloc(n + 2);

		if (msg == NULL)
			goto oom;
		memcpy(msg, s, n);
		msg[n] = '\n';
		r = ctl_client_send(fd, msg, n + 1);
		wipe(msg, n + 1);
		free(msg);
	}
	if (r != 0) {
		explain_connect(o->socket, -r);
		goto out;
	}
	if ((line = ctl_client_recv_line(fd, why, sizeof(why), &err)) == NULL) {
		if (err != 0)
			explain_connect(o->socket, err);
		else
			fprintf(stderr, "ngrokctl: %s: %s\n", o->socket, why);
		goto out;
	}
	reply = cJSON_Parse(line);
	if (reply == NULL || !cJSON_IsObject(reply) ||
	    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(reply, "success"))) {
		fprintf(stderr, "ngrokctl: %s: malformed reply from ngrokd\n",
		    o->socket);
		cJSON_Delete(reply);
		reply = NULL;
		free(line);
		line = NULL;
	}
	*raw = line;
	goto out;
oom:
	fprintf(stderr, "ngrokctl: out of memory\n");
out:
	if (s != NULL) {
		wipe(s, strlen(s));
		free(s);
	}
	if (req != NULL && key != NULL) {
		cJSON *k = cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(req, "args"), 0);

		if (k != NULL && k->valuestring != NULL)
			wipe(k->valuestring, strlen(k->valuestring));
	}
	cJSON_Delete(req);
	if (fd >= 0)
		close(fd);
	return reply;
}

/* ---- output ------------------------------------------------------------- */

static void
print_value(const cJSON *v)
{
	char *s;

	if (cJSON_IsString(v))
		printf("%s", v->valuestring);
	else if (cJSON_IsBool(v))
		printf("%s", cJSON_IsTrue(v) ? "yes" : "no");
	else if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble)
		printf("%lld", (long long)v->valuedouble);
	else if ((s = cJSON_PrintUnformatted(v)) != NULL) {
		printf("%s", s);
		free(s);
	}
}

static void
print_uptime(double secs)
{
	long long s = (long long)secs;

	if (s >= 86400)
		printf("%lldd ", s / 86400);
	if (s >= 3600)
		printf("%lldh ", s / 3600 % 24);
	if (s >= 60)
		printf("%lldm ", s / 60 % 60);
	printf("%llds", s % 60);
}

static void
print_fields(const cJSON *data)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, data) {
		if (v->string == NULL)
			continue;
		printf("%-18s ", v->string);
		if (strcmp(v->string, "uptime_s") == 0 && cJSON_IsNumber(v))
			print_uptime(v->valuedouble);
		else
			print_value(v);
		printf("\n");
	}
}

static const char *const cols[] = {
	"id", "hostname", "address", "port", "proto", "streams_active",
	"streams_total", "bytes_in", "bytes_out", "errors", "url",
};
static const char *const heads[] = {
	"ID", "HOST", "ADDRESS", "PORT", "PROTO", "ACTIVE", "TOTAL", "IN",
	"OUT", "ERRORS", "URL",
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static int
cell(const cJSON *ep, size_t col, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ep, cols[col]);

	if (cJSON_IsString(v))
		snprintf(buf, len, "%s", v->valuestring);
	else if (cJSON_IsNumber(v))
		snprintf(buf, len, "%.0f", v->valuedouble);
	else if (cJSON_IsBool(v))
		snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return (int)strlen(buf);
}

static void
print_table(const cJSON *data)
{
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(data, "endpoints"), *ep;
	int w[NCOLS];
	char buf[256];
	size_t c;

	if (!cJSON_IsArray(eps) || cJSON_GetArraySize(eps) == 0) {
		printf("no endpoints\n");
		return;
	}
	for (c = 0; c < NCOLS; c++)
		w[c] = (int)strlen(heads[c]);
	cJSON_ArrayForEach(ep, eps)
		for (c = 0; c < NCOLS; c++) {
			int n = cell(ep, c, buf, sizeof(buf));

			if (n > w[c])
				w[c] = n;
		}
	for (c = 0; c < NCOLS; c++)
		printf("%-*s%s", c + 1 < NCOLS ? w[c] : 0, heads[c],
		    c + 1 < NCOLS ? "  " : "\n");
	cJSON_ArrayForEach(ep, eps)
		for (c = 0; c < NCOLS; c++) {
			cell(ep, c, buf, sizeof(buf));
			printf("%-*s%s", c + 1 < NCOLS ? w[c] : 0, buf,
			    c + 1 < NCOLS ? "  " : "\n");
		}
}

static int
print_human(const char *cmd, const cJSON *data)
{
	const cJSON *v;

	if (strcmp(cmd, "status") == 0) {
		print_fields(data);
	} else if (strcmp(cmd, "list") == 0) {
		print_table(data);
	} else if (strcmp(cmd, "health") == 0) {
		print_fields(data);
		v = cJSON_GetObjectItemCaseSensitive(data, "ready");
		return cJSON_IsTrue(v) ? 0 : EXIT_FAILED;
	} else if (strcmp(cmd, "version") == 0) {
		printf("ngrokctl %s\nngrokd   ", NGROKD_VERSION);
		print_value(cJSON_GetObjectItemCaseSensitive(data, "version"));
		printf(" (protocol ");
		print_value(cJSON_GetObjectItemCaseSensitive(data, "protocol"));
		printf(")\n");
	} else if (strcmp(cmd, "set-api-key") == 0) {
		printf("API key saved; provisioning started\n");
	} else if (strcmp(cmd, "refresh-cert") == 0) {
		printf("certificate renewal started\n");
	} else if (strcmp(cmd, "deregister") == 0) {
		printf("deregistered\n");
	}
	return 0;
}

static int
report(const struct opts *o, cJSON *reply, const char *raw)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "success"));
	int r;

	if (o->json) {
		printf("%s\n", raw);
		r = ok ? 0 : EXIT_FAILED;
		if (ok && strcmp(o->cmd, "health") == 0) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(reply, "data");

			r = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d,
			    "ready")) ? 0 : EXIT_FAILED;
		}
		return r;
	}
	if (!ok) {
		fprintf(stderr, "ngrokctl: %s: %s\n", o->cmd,
		    cJSON_IsString(err) ? err->valuestring : "failed");
		return EXIT_FAILED;
	}
	return print_human(o->cmd, cJSON_GetObjectItemCaseSensitive(reply, "data"));
}

/* The socket: --socket, else NGROKD_SOCKET, else the config's. */
static int
run_check(const struct opts *o)
{
	struct ctl_check_opts co = {
		.socket = o->socket_set ? o->socket : NULL,
		.config = o->config,
		.only = o->nargs == 1 ? o->args[0] : NULL,
		.timeout_s = o->timeout_s,
	};

	if (o->json) {
		fprintf(stderr, "ngrokctl: check: --json is not supported\n");
		return EXIT_USAGE;
	}
	/* config_load warns through the log (a key file others can read). */
	log_init("ngrokctl", 1, LOG_LVL_WARN);
	return ctl_check_run(&co, stdout) == 0 ? 0 : EXIT_FAILED;
}

int
main(int argc, char *argv[])
{
	struct opts o = { 0 };
	char key[CTL_MAX_KEY + 2];
	char *raw = NULL;
	cJSON *reply;
	int r, have_key = 0;

	if (parse_opts(argc, argv, &o) != 0) {
		fprintf(stderr, "run \"ngrokctl --help\" for usage\n");
		return EXIT_USAGE;
	}
	if (strcmp(o.cmd, "check") == 0)
		return run_check(&o);
	if (strcmp(o.cmd, "set-api-key") == 0) {
		if ((r = get_key(&o, key, sizeof(key))) != 0 || key[0] == '\0') {
			fprintf(stderr, "ngrokctl: set-api-key: %s\n",
			    r == -2 ? "key too long" : "no key given");
			wipe(key, sizeof(key));
			return EXIT_USAGE;
		}
		have_key = 1;
	}
	reply = roundtrip(&o, have_key ? key : NULL, &raw);
	wipe(key, sizeof(key));
	if (reply == NULL)
		return EXIT_USAGE;
	r = report(&o, reply, raw);
	cJSON_Delete(reply);
	free(raw);
	return r;
}
