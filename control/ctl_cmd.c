/*
 * ctl_cmd.c: one request line in, one reply object out.  Validation goes
 * from the outside in (bytes, JSON, shape, command, authorization, argument
 * count, argument value) and every refusal says which rule it broke.  The
 * request text never reaches the log: it may hold the API key.
 */
#include <stdio.h>
#include <string.h>

#include "control/control.h"
#include "control/ctl_priv.h"
#include "daemon/log.h"

#ifndef NGROKD_VERSION
#define NGROKD_VERSION "unknown"
#endif

#define MAX_ARGS	4
#define ERRLEN		256

enum cmd_id {
	CMD_STATUS, CMD_LIST, CMD_HEALTH, CMD_VERSION,
	CMD_SET_API_KEY, CMD_REFRESH_CERT, CMD_DEREGISTER,
};

struct cmd {
	const char	*name;
	enum cmd_id	 id;
	int		 nargs;
	int		 privileged;
};

static const struct cmd cmds[] = {
	{ "status",		CMD_STATUS,		0, 0 },
	{ "list",		CMD_LIST,		0, 0 },
	{ "health",		CMD_HEALTH,		0, 0 },
	{ "version",		CMD_VERSION,		0, 0 },
	{ "set-api-key",	CMD_SET_API_KEY,	1, 1 },
	{ "refresh-cert",	CMD_REFRESH_CERT,	0, 1 },
	{ "deregister",		CMD_DEREGISTER,		0, 1 },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

void
ctl_wipe(void *p, size_t n)
{
	/* A volatile function pointer keeps the store from being elided. */
	static void *(*const volatile wipe)(void *, int, size_t) = memset;

	if (p != NULL && n > 0)
		wipe(p, 0, n);
}

static cJSON *
reply_new(int success)
{
	cJSON *r = cJSON_CreateObject();

	if (r == NULL)
		return NULL;
	if (cJSON_AddBoolToObject(r, "success", success) == NULL ||
	    cJSON_AddNumberToObject(r, "protocol", CTL_PROTOCOL) == NULL) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

cJSON *
ctl_reply_error(const char *msg)
{
	cJSON *r = reply_new(0);

	if (r != NULL && cJSON_AddStringToObject(r, "error", msg) == NULL) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* Takes ownership of data. */
static cJSON *
reply_ok(cJSON *data)
{
	cJSON *r = reply_new(1);

	if (r == NULL || data == NULL) {
		cJSON_Delete(r);
		cJSON_Delete(data);
		return NULL;
	}
	cJSON_AddItemToObject(r, "data", data);
	return r;
}

static const struct cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/* Names are echoed back only when short and plain, so that a reply never
 * carries a megabyte or terminal escapes back to the user. */
static int
printable_name(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if (n >= 32 || *s < 0x21 || *s > 0x7e || *s == '"')
			return 0;
	return n > 0;
}

static void
audit(const struct ctl_caller *c, const char *cmd, const char *outcome)
{
	log_info("audit: uid=%u gid=%u pid=%ld command=%s outcome=%s",
	    (unsigned)c->peer->uid, (unsigned)c->peer->gid,
	    (long)c->peer->pid, cmd, outcome);
}

static cJSON *
refuse(const struct ctl_caller *c, const struct cmd *cmd)
{
	char msg[ERRLEN];

	if (!c->can_read)
		snprintf(msg, sizeof(msg), "permission denied (uid %u is not "
		    "root%s%s)", (unsigned)c->peer->uid,
		    c->group ? " or in group " : "", c->group ? c->group : "");
	else
		snprintf(msg, sizeof(msg), "permission denied (%s needs root%s%s)",
		    cmd->name, c->admin_group ? " or group " : "",
		    c->admin_group ? c->admin_group : "");
	audit(c, cmd->name, "refused");
	return ctl_reply_error(msg);
}

/* Parses the envelope; on error fills msg and returns NULL. */
static cJSON *
parse(const char *line, size_t len, char *msg, size_t msglen)
{
	const char *end = NULL;
	cJSON *req;

	if (memchr(line, '\0', len) != NULL) {
		snprintf(msg, msglen, "invalid JSON: NUL byte at byte %zu",
		    (size_t)((const char *)memchr(line, '\0', len) - line));
		return NULL;
	}
	req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (req == NULL) {
		size_t at = end != NULL && end >= line && end <= line + len ?
		    (size_t)(end - line) : 0;
		snprintf(msg, msglen, "invalid JSON at byte %zu", at);
		return NULL;
	}
	while (end < line + len && strchr(" \t\r", *end) != NULL)
		end++;
	if (end != line + len) {
		snprintf(msg, msglen, "invalid JSON: unexpected data after the "
		    "object at byte %zu", (size_t)(end - line));
		cJSON_Delete(req);
		return NULL;
	}
	if (!cJSON_IsObject(req)) {
		snprintf(msg, msglen, "request must be a JSON object, like "
		    "{\"command\": \"status\", \"args\": []}");
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/* Fills args[] (borrowed from req); returns the count or -1 with msg. */
static int
get_args(cJSON *req, const char *args[], char *msg, size_t msglen)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(req, "args"), *it;
	int n = 0;

	if (a == NULL || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a)) {
		snprintf(msg, msglen, "\"args\" must be an array of strings");
		return -1;
	}
	cJSON_ArrayForEach(it, a) {
		if (!cJSON_IsString(it)) {
			snprintf(msg, msglen, "\"args\"[%d] must be a string", n);
			return -1;
		}
		if (n == MAX_ARGS) {
			snprintf(msg, msglen, "too many arguments");
			return -1;
		}
		args[n++] = it->valuestring;
	}
	return n;
}

static int
key_ok(const char *k)
{
	size_t n = 0;

	for (; *k != '\0'; k++, n++)
		if (n >= CTL_MAX_KEY || *k < 0x21 || *k > 0x7e)
			return 0;
	return n > 0;
}

static cJSON *
run_data(int (*fn)(void *, cJSON *, char *, size_t), void *arg,
    const char *name)
{
	char err[ERRLEN] = "";
	cJSON *data = cJSON_CreateObject();
	int r;

	if (data == NULL)
		return NULL;
	if ((r = fn(arg, data, err, sizeof(err))) != 0) {
		cJSON_Delete(data);
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s: %s", name, strerror(-r));
		return ctl_reply_error(err);
	}
	return reply_ok(data);
}

static cJSON *
version_reply(void)
{
	cJSON *data = cJSON_CreateObject();

	if (data == NULL)
		return NULL;
	cJSON_AddStringToObject(data, "version", NGROKD_VERSION);
	cJSON_AddNumberToObject(data, "protocol", CTL_PROTOCOL);
	return reply_ok(data);
}

/* Privileged commands: the result is audited. */
static cJSON *
run_admin(const struct ctl_handlers *h, const struct ctl_caller *c,
    const struct cmd *cmd, const char *arg0)
{
	char err[ERRLEN] = "", outcome[ERRLEN + 16];
	int r;

	switch (cmd->id) {
	case CMD_SET_API_KEY:
		r = h->set_api_key(h->arg, arg0, err, sizeof(err));
		break;
	case CMD_REFRESH_CERT:
		r = h->refresh_cert(h->arg, err, sizeof(err));
		break;
	default:
		r = h->deregister(h->arg, err, sizeof(err));
		break;
	}
	if (r == 0) {
		audit(c, cmd->name, "ok");
		return reply_ok(cJSON_CreateObject());
	}
	if (err[0] == '\0')
		snprintf(err, sizeof(err), "%s: %s", cmd->name, strerror(-r));
	snprintf(outcome, sizeof(outcome), "failed (%s)", err);
	audit(c, cmd->name, outcome);
	return ctl_reply_error(err);
}

static int
has_handler(const struct ctl_handlers *h, enum cmd_id id)
{
	switch (id) {
	case CMD_STATUS:	return h->status != NULL;
	case CMD_LIST:		return h->list != NULL;
	case CMD_HEALTH:	return h->health != NULL;
	case CMD_VERSION:	return 1;
	case CMD_SET_API_KEY:	return h->set_api_key != NULL;
	case CMD_REFRESH_CERT:	return h->refresh_cert != NULL;
	case CMD_DEREGISTER:	return h->deregister != NULL;
	}
	return 0;
}

static cJSON *
dispatch(const struct ctl_handlers *h, const struct ctl_caller *c,
    const struct cmd *cmd, const char *args[], int nargs)
{
	char msg[ERRLEN];

	if (!c->can_read || (cmd->privileged && !c->can_admin))
		return refuse(c, cmd);
	if (nargs != cmd->nargs) {
		if (cmd->nargs == 0)
			snprintf(msg, sizeof(msg), "%s takes no arguments",
			    cmd->name);
		else
			snprintf(msg, sizeof(msg), "%s takes exactly %d "
			    "argument%s, got %d", cmd->name, cmd->nargs,
			    cmd->nargs == 1 ? "" : "s", nargs);
		return ctl_reply_error(msg);
	}
	if (cmd->id == CMD_SET_API_KEY && !key_ok(args[0])) {
		audit(c, cmd->name, "failed (invalid key format)");
		snprintf(msg, sizeof(msg), "invalid API key (expected 1-%d "
		    "printable characters without spaces)", CTL_MAX_KEY);
		return ctl_reply_error(msg);
	}
	if (!has_handler(h, cmd->id)) {
		snprintf(msg, sizeof(msg), "%s is not supported by this daemon",
		    cmd->name);
		return ctl_reply_error(msg);
	}
	switch (cmd->id) {
	case CMD_STATUS:
		return run_data(h->status, h->arg, cmd->name);
	case CMD_LIST:
		return run_data(h->list, h->arg, cmd->name);
	case CMD_HEALTH:
		return run_data(h->health, h->arg, cmd->name);
	case CMD_VERSION:
		return version_reply();
	default:
		return run_admin(h, c, cmd, nargs > 0 ? args[0] : NULL);
	}
}

/* Zeroes every string in the request: one of them may be the key. */
static void
wipe_strings(cJSON *j)
{
	cJSON *it;

	if (cJSON_IsString(j) && j->valuestring != NULL)
		ctl_wipe(j->valuestring, strlen(j->valuestring));
	for (it = j->child; it != NULL; it = it->next)
		wipe_strings(it);
}

static cJSON *
handle(const struct ctl_handlers *h, const struct ctl_caller *c,
    cJSON *req)
{
	cJSON *jc = cJSON_GetObjectItemCaseSensitive(req, "command");
	const char *args[MAX_ARGS];
	const struct cmd *cmd;
	char msg[ERRLEN];
	int nargs;

	if (jc == NULL)
		return ctl_reply_error("missing \"command\"");
	if (!cJSON_IsString(jc) || jc->valuestring == NULL)
		return ctl_reply_error("\"command\" must be a string");
	if ((cmd = cmd_find(jc->valuestring)) == NULL) {
		if (printable_name(jc->valuestring))
			snprintf(msg, sizeof(msg), "unknown command \"%s\"",
			    jc->valuestring);
		else
			snprintf(msg, sizeof(msg), "unknown command");
		strncat(msg, " (commands: status, list, health, version, "
		    "set-api-key, refresh-cert, deregister)",
		    sizeof(msg) - strlen(msg) - 1);
		return ctl_reply_error(msg);
	}
	if ((nargs = get_args(req, args, msg, sizeof(msg))) < 0)
		return ctl_reply_error(msg);
	return dispatch(h, c, cmd, args, nargs);
}

cJSON *
ctl_cmd_run(const struct ctl_handlers *h, const struct ctl_caller *c,
    char *line, size_t len)
{
	char msg[ERRLEN];
	cJSON *req, *reply;

	req = parse(line, len, msg, sizeof(msg));
	ctl_wipe(line, len);
	if (req == NULL)
		return ctl_reply_error(msg);
	reply = handle(h, c, req);
	wipe_strings(req);
	cJSON_Delete(req);
	return reply;
}
