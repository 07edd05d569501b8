/*
 * ctlreq_fuzz.c: libFuzzer harness for one control request line
 * (control/ctl_cmd.c, ctl_cmd_run: what the control socket runs for every
 * line a client sends), with fake handlers.
 *
 * Input: one control byte (bit 0: the caller may read, bit 1: may
 * administer, bit 2: handlers fail, bit 3: no handlers plugged in, bit 4:
 * the caller is root), then the line (trimmed as ctl_server.c does).
 *
 * Invariants: there is always a reply {"success": bool, "protocol": 1}, a
 * failure carries a non-empty printable "error"; a handler runs only for a
 * caller allowed to run it, and set-api-key only with a well-formed key;
 * the key never comes back in the reply; the line is wiped.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "control/ctl_priv.h"
#include "daemon/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake {
	int	fail;
	int	calls_read, calls_admin;
	char	key[CTL_MAX_KEY + 1];
};

/* Read handlers fail with an empty message (ctl_cmd.c adds strerror);
 * admin ones with a short one, so that no reply text could hold a key. */
static int
fake_result(struct fake *f, char *err, size_t errlen, int msg)
{
	if (!f->fail)
		return 0;
	if (msg && errlen > 4)
		memcpy(err, "nope", 5);
	return -EPERM;
}

static int
fake_data(void *arg, cJSON *data, char *err, size_t errlen)
{
	struct fake *f = arg;

	f->calls_read++;
	if (cJSON_AddStringToObject(data, "mode", "tun") == NULL)
		abort();
	return fake_result(f, err, errlen, 0);
}

static int
fake_key(void *arg, const char *key, char *err, size_t errlen)
{
	struct fake *f = arg;
	size_t n = strlen(key), i;

	f->calls_admin++;
	if (n == 0 || n > CTL_MAX_KEY)
		abort();
	for (i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			abort();
	memcpy(f->key, key, n + 1);
	return fake_result(f, err, errlen, 1);
}

static int
fake_admin(void *arg, char *err, size_t errlen)
{
	struct fake *f = arg;

	f->calls_admin++;
	return fake_result(f, err, errlen, 1);
}

static void
check_printable(const char *s)
{
	if (s == NULL || s[0] == '\0')
		abort();
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			abort();
}

/* No name or string anywhere in the reply holds the key. */
static void
check_no_key(const cJSON *j, const char *key)
{
	const cJSON *it;

	if (j->string != NULL && strstr(j->string, key) != NULL)
		abort();
	if (cJSON_IsString(j) && strstr(j->valuestring, key) != NULL)
		abort();
	for (it = j->child; it != NULL; it = it->next)
		check_no_key(it, key);
}

static void
check_reply(const cJSON *rep)
{
	const cJSON *ok, *proto, *e, *d;

	if (!cJSON_IsObject(rep))
		abort();
	ok = cJSON_GetObjectItemCaseSensitive(rep, "success");
	proto = cJSON_GetObjectItemCaseSensitive(rep, "protocol");
	e = cJSON_GetObjectItemCaseSensitive(rep, "error");
	d = cJSON_GetObjectItemCaseSensitive(rep, "data");
	if (!cJSON_IsBool(ok) || !cJSON_IsNumber(proto) ||
	    proto->valuedouble != CTL_PROTOCOL)
		abort();
	if (cJSON_IsTrue(ok)) {
		if (!cJSON_IsObject(d) || e != NULL)
			abort();
	} else {
		if (!cJSON_IsString(e) || d != NULL)
			abort();
		check_printable(e->valuestring);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_peer peer = { 1000, 1000, 4242, 0, { 0 } };
	struct ctl_caller c = { &peer, 0, 0, "ngrokd", "ngrokd-admin" };
	struct ctl_handlers h = { fake_data, fake_data, fake_data, fake_key,
	    fake_admin, fake_admin, NULL };
	static const struct ctl_handlers none;
	struct fake f;
	char *line;
	size_t len, i;
	cJSON *rep;
	uint8_t flags;

	if (size == 0)
		return 0;
	log_set_level(LOG_LVL_ERROR);
	memset(&f, 0, sizeof(f));
	flags = data[0];
	c.can_admin = (flags & 2) != 0;
	c.can_read = (flags & 1) != 0 || c.can_admin;
	f.fail = (flags & 4) != 0;
	h.arg = &f;
	if (flags & 16)
		peer.uid = peer.gid = 0;
	if (flags & 32)
		c.admin_group = NULL;
	len = size - 1;
	/* The server's trim: trailing CR and spaces; blank lines are skipped. */
	while (len > 0 && (data[len] == '\r' || data[len] == ' '))
		len--;
	if (len == 0)
		return 0;
	if ((line = malloc(len)) == NULL)
		return 0;
	memcpy(line, data + 1, len);

	rep = ctl_cmd_run(flags & 8 ? &none : &h, &c, line, len);
	if (rep == NULL)
		abort();	/* only when out of memory */
	for (i = 0; i < len; i++)
		if (line[i] != '\0')
			abort();	/* it may have held the key */
	check_reply(rep);
	if ((f.calls_read > 0 && !c.can_read) ||
	    (f.calls_admin > 0 && !c.can_admin) ||
	    f.calls_read + f.calls_admin > 1)
		abort();
	/* "protocol" and "success" are names every reply has. */
	if (strlen(f.key) > 8)
		check_no_key(rep, f.key);
	ctl_wipe(f.key, sizeof(f.key));
	cJSON_Delete(rep);
	free(line);
	return 0;
}
