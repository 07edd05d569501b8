/*
 * ctl_server_test: the control server on a real loop and real Unix sockets
 * in a temporary directory, with fake handlers.  Every misbehaving client is
 * followed by a check that a well-behaved client still gets status in
 * under 100 ms.  Authorization runs clients in forked children that drop to
 * uid 65534 with chosen groups (needs root; skipped otherwise).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "control/control.h"
#include "daemon/log.h"
#include "daemon/loop.h"

#define FAST_MS	100

struct fx {
	char		 dir[64];
	char		 path[128];
	loop_t		*loop;
	ctl_t		*ctl;
	struct ctl_params p;
	int		 good;		/* a well-behaved client */
	char		 last_key[600];
	int		 key_calls;
};

static int
h_status(void *arg, cJSON *d, char *err, size_t errlen)
{
	cJSON_AddStringToObject(d, "operator_id", "k8sop_test");
	cJSON_AddBoolToObject(d, "registered", 1);
	return 0;
}

static int
h_list(void *arg, cJSON *d, char *err, size_t errlen)
{
	cJSON *a = cJSON_AddArrayToObject(d, "endpoints");
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "id", "ep_1");
	cJSON_AddItemToArray(a, e);
	return 0;
}

static int
h_health(void *arg, cJSON *d, char *err, size_t errlen)
{
	snprintf(err, errlen, "health check broke");
	return -EIO;
}

static int
h_set_key(void *arg, const char *key, char *err, size_t errlen)
{
	struct fx *f = arg;

	snprintf(f->last_key, sizeof(f->last_key), "%s", key);
	f->key_calls++;
	return 0;
}

static int
h_ok(void *arg, char *err, size_t errlen)
{
	return 0;
}

/* ---- client helpers ----------------------------------------------------- */

static int
cli_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void
cli_send(int fd, const void *buf, size_t n)
{
	assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Pumps the loop until fd has a full line (returned, malloc'd), EOF
 * (returns "EOF") or the deadline (returns "TIMEOUT"). */
static char *
cli_reply(struct fx *f, int fd, uint64_t limit_ms)
{
	static char buf[1 << 17];
	uint64_t end = loop_clock_ms() + limit_ms;
	size_t len = 0;
	ssize_t n;
	char *nl;

	for (;;) {
		n = recv(fd, buf + len, 1, 0);	/* byte by byte: stop at \n */
		if (n == 1) {
			if (buf[len] == '\n') {
				buf[len] = '\0';
				return strdup(buf);
			}
			if (++len == sizeof(buf) - 1)
				break;
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return strdup(len ? "PARTIAL-EOF" : "EOF");
		if (loop_clock_ms() >= end)
			break;
		loop_once(f->loop, 5);
	}
	(void)nl;
	return strdup("TIMEOUT");
}

static cJSON *
cli_json(struct fx *f, int fd)
{
	char *s = cli_reply(f, fd, 2000);
	cJSON *j = cJSON_Parse(s);

	if (j == NULL)
		fail_msg("not a JSON reply: %.200s (fd %d)", s, fd);
	free(s);
	return j;
}

static const char *
jerr(cJSON *j)
{
	cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	return cJSON_IsString(e) ? e->valuestring : "";
}

static int
jok(cJSON *j)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "success"));
}

/* The well-behaved client: status in under FAST_MS. */
static void
good_status(struct fx *f)
{
	static const char req[] = "{\"command\":\"status\",\"args\":[]}\n";
	uint64_t t0 = loop_clock_ms();
	cJSON *j;
	char *s;

	cli_send(f->good, req, sizeof(req) - 1);
	s = cli_reply(f, f->good, FAST_MS);
	if ((j = cJSON_Parse(s)) == NULL)
		fail_msg("good client: %s after %llu ms", s,
		    (unsigned long long)(loop_clock_ms() - t0));
	free(s);
	assert_true(jok(j));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "protocol")->valueint, 1);
	assert_true(loop_clock_ms() - t0 < FAST_MS);
	cJSON_Delete(j);
}

/* ---- fixture ------------------------------------------------------------ */

static struct fx *
fx_new(struct ctl_params *p)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ctl_handlers h = {
		.status = h_status, .list = h_list, .health = h_health,
		.set_api_key = h_set_key, .refresh_cert = h_ok,
		.deregister = NULL,
	};

	assert_non_null(f);
	h.arg = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ctltest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	chmod(f->dir, 0755);	/* the dropped-privilege children traverse it */
	snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
	f->p = *p;
	f->p.socket_path = f->path;
	if (f->p.listen_fd == 0)
		f->p.listen_fd = -1;
	assert_non_null(f->loop = loop_new());
	f->ctl = ctl_new(f->loop, &f->p, &h);
	assert_non_null(f->ctl);
	f->good = cli_connect(f->path);
	assert_true(f->good >= 0);
	loop_once(f->loop, 10);
	good_status(f);
	return f;
}

static void
fx_free(struct fx *f)
{
	close(f->good);
	ctl_free(f->ctl);
	/* ctl_free removed the socket file: rmdir fails otherwise. */
	assert_int_equal(rmdir(f->dir), 0);
	loop_free(f->loop);
	free(f);
}

static struct ctl_params
fast_params(void)
{
	struct ctl_params p = {
		.listen_fd = -1, .rate = 100000, .burst = 100000,
		.max_clients = 64, .max_reply = 16384, .idle_ms = 5000,
	};

	return p;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_status_list_version(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f = fx_new(&p);
	static const char req[] =
	    "{\"command\":\"list\"}\n{\"command\":\"version\",\"args\":null}\n"
	    "\n{\"command\":\"health\",\"args\":[]}\r\n"
	    "{\"command\":\"deregister\"}\n";
	cJSON *j;

	/* Several requests in one write: answered in order. */
	cli_send(f->good, req, sizeof(req) - 1);
	j = cli_json(f, f->good);
	assert_true(jok(j));
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "data"), "endpoints"), 0)->child->valuestring,
	    "ep_1");
	cJSON_Delete(j);
	j = cli_json(f, f->good);
	assert_true(jok(j));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    j, "data"), "version")->valuestring, NGROKD_VERSION);
	cJSON_Delete(j);
	j = cli_json(f, f->good);		/* the handler's error passes through */
	assert_false(jok(j));
	assert_string_equal(jerr(j), "health check broke");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "data"));
	cJSON_Delete(j);
	j = cli_json(f, f->good);
	assert_false(jok(j));
	assert_string_equal(jerr(j), "deregister is not supported by this daemon");
	cJSON_Delete(j);
	good_status(f);
	fx_free(f);
}

static const struct bad {
	const char	*req;
	size_t		 len;		/* 0: strlen */
	const char	*error;		/* expected prefix of "error" */
} bads[] = {
	{ "{\"command\":\n", 0, "invalid JSON at byte 10" },
	{ "[\"status\"]\n", 0, "request must be a JSON object" },
	{ "\"status\"\n", 0, "request must be a JSON object" },
	{ "42\n", 0, "request must be a JSON object" },
	{ "{}\n", 0, "missing \"command\"" },
	{ "{\"command\":5}\n", 0, "\"command\" must be a string" },
	{ "{\"command\":null}\n", 0, "\"command\" must be a string" },
	{ "{\"command\":\"status\",\"args\":\"x\"}\n", 0,
	    "\"args\" must be an array of strings" },
	{ "{\"command\":\"status\",\"args\":{}}\n", 0,
	    "\"args\" must be an array of strings" },
	{ "{\"command\":\"status\",\"args\":[\"a\",1]}\n", 0,
	    "\"args\"[1] must be a string" },
	{ "{\"command\":\"status\",\"args\":[\"x\"]}\n", 0,
	    "status takes no arguments" },
	{ "{\"command\":\"set-api-key\"}\n", 0,
	    "set-api-key takes exactly 1 argument, got 0" },
	{ "{\"command\":\"set-api-key\",\"args\":[\"a\",\"b\"]}\n", 0,
	    "set-api-key takes exactly 1 argument, got 2" },
	{ "{\"command\":\"set-api-key\",\"args\":[\"has space\"]}\n", 0,
	    "invalid API key" },
	{ "{\"command\":\"status\",\"args\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}\n", 0,
	    "too many arguments" },
	{ "{\"command\":\"frobnicate\"}\n", 0,
	    "unknown command \"frobnicate\" (commands: status," },
	{ "{\"command\":\"\\u001b[31mred\"}\n", 0, "unknown command (commands:" },
	{ "{\"command\":\"Status\"}\n", 0, "unknown command \"Status\"" },
	{ "{\"command\":\"status\"} {\"command\":\"list\"}\n", 0,
	    "invalid JSON: unexpected data after the object at byte 21" },
	{ "\x01\x02\xff\xfe\x80garbage\n", 0, "invalid JSON at byte 2" },
	{ "{\"command\":\"st\0tus\"}\n", 21, "invalid JSON: NUL byte at byte 14" },
	{ "{\"command\":\"status\",\"args\":[\"\xff\xfe\"]}\n", 0,
	    "status takes no arguments" },
};

static void
test_bad_requests(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f = fx_new(&p);
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		int fd = cli_connect(f->path);
		cJSON *j;

		assert_true(fd >= 0);
		cli_send(fd, b->req, b->len ? b->len : strlen(b->req));
		j = cli_json(f, fd);
		if (jok(j) || strncmp(jerr(j), b->error, strlen(b->error)) != 0)
			fail_msg("bad request %zu: got \"%s\", want \"%s\"", i,
			    jerr(j), b->error);
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "protocol")->valueint, 1);
		cJSON_Delete(j);
		/* The connection stays usable after a bad request. */
		cli_send(fd, "{\"command\":\"version\"}\n", 22);
		j = cli_json(f, fd);
		assert_true(jok(j));
		cJSON_Delete(j);
		close(fd);
		good_status(f);
	}
	fx_free(f);
}

static void
test_deep_nesting_and_long_name(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f = fx_new(&p);
	char *big = malloc(CTL_MAX_REQUEST + 2);
	int fd = cli_connect(f->path);
	cJSON *j;

	/* 60000 nested arrays: cJSON's nesting limit, not our stack. */
	memset(big, '[', 60000);
	big[60000] = '\n';
	cli_send(fd, big, 60001);
	j = cli_json(f, fd);
	assert_false(jok(j));
	assert_string_equal(jerr(j), "invalid JSON at byte 1000");
	cJSON_Delete(j);
	good_status(f);
	/* A 5000-byte command name is not echoed back. */
	memcpy(big, "{\"command\":\"", 12);
	memset(big + 12, 'x', 5000);
	memcpy(big + 5012, "\"}\n", 3);
	cli_send(fd, big, 5015);
	j = cli_json(f, fd);
	assert_string_equal(jerr(j), "unknown command (commands: status, list, "
	    "health, version, set-api-key, refresh-cert, deregister)");
	cJSON_Delete(j);
	/* Exactly CTL_MAX_REQUEST bytes plus the newline is still served. */
	memset(big, ' ', CTL_MAX_REQUEST);
	memcpy(big, "{\"command\":\"version\"}", 21);
	big[CTL_MAX_REQUEST] = '\n';
	cli_send(fd, big, CTL_MAX_REQUEST + 1);
	j = cli_json(f, fd);
	assert_true(jok(j));
	cJSON_Delete(j);
	close(fd);
	free(big);
	good_status(f);
	fx_free(f);
}

static void
test_huge_line(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f = fx_new(&p);
	size_t n = 200000, sent = 0;
	char *big = malloc(n);
	int fd = cli_connect(f->path);
	char *s;
	ssize_t w;

	memset(big, 'a', n);
	/* Send until the server gives up on us (it stops reading). */
	while (sent < n) {
		w = send(fd, big + sent, n - sent, MSG_NOSIGNAL);
		if (w > 0)
			sent += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break;
		loop_once(f->loop, 5);
		if (ctl_nclients(f->ctl) == 1)
			break;
	}
	s = cli_reply(f, fd, 2000);
	assert_string_equal(s, "{\"success\":false,\"protocol\":1,\"error\":"
	    "\"request too long (the limit is 65536 bytes per line)\"}");
	free(s);
	s = cli_reply(f, fd, 2000);
	assert_string_equal(s, "EOF");
	free(s);
	close(fd);
	free(big);
	assert_int_equal(ctl_nclients(f->ctl), 1);
	good_status(f);
	fx_free(f);
}

static void
test_half_lines(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f = fx_new(&p);
	int fd;
	char *s;

	/* Half a request, then a full close: dropped, nothing else happens. */
	fd = cli_connect(f->path);
	cli_send(fd, "{\"command\":\"sta", 15);
	loop_once(f->loop, 10);
	close(fd);
	good_status(f);
	loop_once(f->loop, 10);
	assert_int_equal(ctl_nclients(f->ctl), 1);
	/* Half a request, then shutdown(WR): an answer, then EOF. */
	fd = cli_connect(f->path);
	cli_send(fd, "{\"command\":\"sta", 15);
	shutdown(fd, SHUT_WR);
	s = cli_reply(f, fd, 2000);
	assert_string_equal(s, "{\"success\":false,\"protocol\":1,\"error\":"
	    "\"invalid JSON at byte 12\"}");
	free(s);
	s = cli_reply(f, fd, 2000);
	assert_string_equal(s, "EOF");
	free(s);
	close(fd);
	/* A whole request without its newline (echo -n | nc -U) is served. */
	fd = cli_connect(f->path);
	cli_send(fd, "{\"command\":\"version\"}", 21);
	shutdown(fd, SHUT_WR);
	s = cli_reply(f, fd, 2000);
	assert_non_null(strstr(s, "\"success\":true"));
	free(s);
	close(fd);
	good_status(f);
	fx_free(f);
}

static void
test_client_that_never_reads(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f = fx_new(&p);
	static const char req[] = "{\"command\":\"status\"}\n";
	char burst[sizeof(req) * 100];
	int fd = cli_connect(f->path), i, rounds = 0;
	uint64_t end = loop_clock_ms() + 5000;

	for (i = 0; i < 100; i++)
		memcpy(burst + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	while (ctl_nclients(f->ctl) == 2 && loop_clock_ms() < end) {
		if (send(fd, burst, 100 * (sizeof(req) - 1), MSG_NOSIGNAL) < 0 &&
		    errno != EAGAIN)
			break;
		loop_once(f->loop, 1);
		if (++rounds % 10 == 0)
			good_status(f);
	}
	assert_int_equal(ctl_nclients(f->ctl), 1);	/* dropped */
	good_status(f);
	close(fd);
	fx_free(f);
}

static void
test_thousand_clients(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f;
	struct rlimit rl;
	int fds[1000], i, n_refused = 0, n_held = 0, fd;
	char *s;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2300) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 2300)
		skip();
	f = fx_new(&p);
	for (i = 0; i < 1000; i++) {
		/* The backlog is 128: let the server accept as we go. */
		while ((fds[i] = cli_connect(f->path)) == -EAGAIN)
			loop_once(f->loop, 1);
		assert_true(fds[i] >= 0);
		if (i % 50 == 0)
			loop_once(f->loop, 0);
	}
	for (i = 0; i < 20; i++)
		loop_once(f->loop, 1);
	good_status(f);
	for (i = 0; i < 1000; i++) {
		s = cli_reply(f, fds[i], 0);
		if (strcmp(s, "{\"success\":false,\"protocol\":1,\"error\":"
		    "\"too many clients\"}") == 0)
			n_refused++;
		else if (strcmp(s, "TIMEOUT") == 0)
			n_held++;
		free(s);
	}
	/* 64 slots, one of them the good client's. */
	assert_int_equal(n_held, 63);
	assert_int_equal(n_refused, 1000 - 63);
	assert_int_equal(ctl_nclients(f->ctl), 64);
	fd = cli_connect(f->path);
	s = cli_reply(f, fd, 1000);
	assert_non_null(strstr(s, "too many clients"));
	free(s);
	close(fd);
	for (i = 0; i < 1000; i++)
		close(fds[i]);
	for (i = 0; i < 20; i++)
		loop_once(f->loop, 1);
	assert_int_equal(ctl_nclients(f->ctl), 1);
	good_status(f);
	fx_free(f);
}

static void
test_idle_timeout(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f;
	uint64_t t0;
	int fd, slow;
	char *s;

	p.idle_ms = 300;
	f = fx_new(&p);
	fd = cli_connect(f->path);
	slow = cli_connect(f->path);
	t0 = loop_clock_ms();
	cli_send(slow, "{\"comm", 6);	/* a slowloris never finishes */
	while (loop_clock_ms() - t0 < 200)
		loop_once(f->loop, 10);
	cli_send(slow, "and\":", 5);
	good_status(f);
	s = cli_reply(f, fd, 1000);
	assert_string_equal(s, "EOF");
	free(s);
	s = cli_reply(f, slow, 1000);
	assert_string_equal(s, "EOF");
	free(s);
	assert_true(loop_clock_ms() - t0 >= 300);
	assert_true(loop_clock_ms() - t0 < 900);
	good_status(f);
	close(fd);
	close(slow);
	fx_free(f);
}

static void
test_rate_limit(void **state)
{
	struct ctl_params p = fast_params();
	struct fx *f;
	char buf[30 * 22 + 1] = "";
	int fd, i, ok = 0, limited = 0;
	cJSON *j;

	p.rate = 5;
	p.burst = 5;
	f = fx_new(&p);			/* the good client used one token */
	fd = cli_connect(f->path);
	for (i = 0; i < 10; i++)
		strcat(buf, "{\"command\":\"version\"}\n");
	cli_send(fd, buf, strlen(buf));
	for (i = 0; i < 10; i++) {
		j = cli_json(f, fd);
		if (jok(j))
			ok++;
		else if (strcmp(jerr(j), "rate limited") == 0)
			limited++;
		cJSON_Delete(j);
	}
	assert_int_equal(ok, 4);
	assert_int_equal(limited, 6);
	/* 5/s: one token back after 200 ms. */
	usleep(250000);
	cli_send(fd, buf, 22);
	j = cli_json(f, fd);
	assert_true(jok(j));
	cJSON_Delete(j);
	close(fd);
	fx_free(f);
}

/* ---- the socket file ---------------------------------------------------- */

static void
test_socket_file(void **state)
{
	struct ctl_handlers h = { .status = h_status };
	struct ctl_params p = { .listen_fd = -1, .group = "daemon" };
	char dir[] = "/tmp/ctltest.XXXXXX", path[64];
	struct group *gr = getgrnam("daemon");
	loop_t *l = loop_new();
	ctl_t *c, *c2;
	struct stat st;
	int fd;

	if (gr == NULL || geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	p.socket_path = path;
	/* Group exists: 0660 and that group. */
	assert_non_null(c = ctl_new(l, &p, &h));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, gr->gr_gid);
	/* A live daemon there: refused, file untouched. */
	errno = 0;
	assert_null(c2 = ctl_new(l, &p, &h));
	assert_int_equal(errno, EADDRINUSE);
	assert_int_equal(stat(path, &st), 0);
	ctl_free(c);
	assert_int_equal(stat(path, &st), -1);	/* removed */
	/* A stale socket (nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	close(fd);
	/* Group missing: root-only 0600. */
	p.group = "no-such-group-ngrokd-test";
	assert_non_null(c = ctl_new(l, &p, &h));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_gid, 0);
	ctl_free(c);
	/* Not a socket: refused and left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	errno = 0;
	assert_null(ctl_new(l, &p, &h));
	assert_int_equal(errno, EEXIST);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
	rmdir(dir);
	loop_free(l);
}

/* ---- socket activation (in a child: it owns fd 3 and the environment) --- */

static int
activation_child(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/ctltest.XXXXXX", pid[16];
	int fd, r = 0;

	if (mkdtemp(dir) == NULL)
		return 10;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/a", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 8) != 0 || dup2(fd, 3) != 3)
		return 11;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* Meant for another process: ignored. */
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "1", 1);
	if (ctl_activation_fd() != -1)
		r = 12;
	/* Garbage numbers: ignored. */
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1x", 1);
	if (ctl_activation_fd() != -1)
		r = 13;
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "control", 1);
	if (ctl_activation_fd() != 3)
		r = 14;
	if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") || getenv("LISTEN_FDNAMES"))
		r = 15;
	if (!(fcntl(3, F_GETFL) & O_NONBLOCK) || !(fcntl(3, F_GETFD) & FD_CLOEXEC))
		r = 16;
	/* Not a listening socket: ignored. */
	close(3);
	if (open("/dev/null", O_RDONLY) != 3)
		return 17;
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	if (ctl_activation_fd() != -1)
		r = 18;
	unlink(sa.sun_path);
	rmdir(dir);
	return r;
}

static void
test_activation_env(void **state)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(activation_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- authorization ------------------------------------------------------ */

/* Runs one request as uid 65534 with primary gid `gid` and the given
 * supplementary groups; returns the reply's "error" ("" on success). */
static char *
as_user(struct fx *f, gid_t gid, const gid_t *groups, int ngroups,
    const char *req)
{
	int pfd[2], fd;
	pid_t pid;
	char out[512] = "", *s;
	size_t len = 0;
	ssize_t n;
	uint64_t end = loop_clock_ms() + 3000;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		if (setgroups((size_t)ngroups, groups) != 0 || setgid(gid) != 0 ||
		    setuid(65534) != 0)
			_exit(20);
		if ((fd = cli_connect(f->path)) < 0)
			_exit(21);
		fcntl(fd, F_SETFL, 0);
		n = send(fd, req, strlen(req), 0);
		while (len < sizeof(out) - 1 &&
		    recv(fd, out + len, 1, 0) == 1 && out[len] != '\n')
			len++;
		if (write(pfd[1], out, len) < 0)
			_exit(22);
		_exit(0);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	while (loop_clock_ms() < end) {
		n = read(pfd[0], out + len, sizeof(out) - 1 - len);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		loop_once(f->loop, 5);
	}
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	out[len] = '\0';
	{
		cJSON *j = cJSON_Parse(out);

		if (j == NULL)
			fail_msg("child got no reply: \"%s\"", out);
		s = strdup(jok(j) ? "" : jerr(j));
		cJSON_Delete(j);
	}
	return s;
}

static void
expect_user(struct fx *f, gid_t gid, const gid_t *groups, int n,
    const char *req, const char *want)
{
	char *got = as_user(f, gid, groups, n, req);

	if (strcmp(got, want) != 0)
		fail_msg("%s as uid 65534: got \"%s\", want \"%s\"", req, got,
		    want);
	free(got);
}

static void
test_authorization(void **state)
{
	struct ctl_params p = fast_params();
	struct group *gr;
	gid_t g_rd, g_adm, both[2];
	struct fx *f;
	static const char st[] = "{\"command\":\"status\"}\n";
	static const char key[] = "{\"command\":\"set-api-key\",\"args\":[\"k3y\"]}\n";

	/* getgrnam's result is overwritten by the next call: copy the gid. */
	if (geteuid() != 0 || (gr = getgrnam("daemon")) == NULL)
		skip();
	g_rd = gr->gr_gid;
	if ((gr = getgrnam("adm")) == NULL)
		skip();
	g_adm = gr->gr_gid;
	both[0] = g_rd;
	both[1] = g_adm;
	p.group = "daemon";
	p.admin_group = "adm";
	p.socket_mode = 0666;	/* let outsiders reach the server's own check */
	f = fx_new(&p);
	/* Not in any group: refused, whatever the command. */
	expect_user(f, 65534, NULL, 0, st,
	    "permission denied (uid 65534 is not root or in group daemon)");
	expect_user(f, 65534, NULL, 0, key,
	    "permission denied (uid 65534 is not root or in group daemon)");
	assert_int_equal(f->key_calls, 0);
	/* Read group, supplementary or primary: status yes, key no. */
	expect_user(f, 65534, &g_rd, 1, st, "");
	expect_user(f, g_rd, NULL, 0, st, "");
	expect_user(f, 65534, &g_rd, 1, key,
	    "permission denied (set-api-key needs root or group adm)");
	assert_int_equal(f->key_calls, 0);
	/* Admin group: everything (admin implies read). */
	expect_user(f, 65534, &g_adm, 1, st, "");
	expect_user(f, 65534, both, 2, key, "");
	assert_int_equal(f->key_calls, 1);
	assert_string_equal(f->last_key, "k3y");
	good_status(f);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_list_version),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_deep_nesting_and_long_name),
		cmocka_unit_test(test_huge_line),
		cmocka_unit_test(test_half_lines),
		cmocka_unit_test(test_client_that_never_reads),
		cmocka_unit_test(test_thousand_clients),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_socket_file),
		cmocka_unit_test(test_activation_env),
		cmocka_unit_test(test_authorization),
	};

	log_init("ctl_server_test", 1, getenv("CTL_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
