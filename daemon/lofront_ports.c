/*
 * lofront_ports.c: the network listen port of each endpoint (see the rule
 * in lofront_priv.h), persisted in <state_dir>/listen_ports.json:
 *
 *   {"version": 1, "ports": {"alpha.example:443": 9080, ...}}
 *
 * The file is small (at most LF_PORTS_MAX entries) and written only when an
 * endpoint gets a new port, so the write happens on the loop thread.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon/fdio.h"
#include "daemon/log.h"
#include "daemon/lofront_priv.h"

#define PORTS_VERSION	1
#define NPORTS		65536

struct pent {
	char		*key;		/* "host:port", host lower-cased */
	uint16_t	 port;
	uint64_t	 round;		/* last round that asked for it */
};

struct lf_ports {
	char		*path;
	uint16_t	 start_port;
	const struct cfg_override *ov;	/* borrowed from the owner's copy */
	size_t		 nov;
	struct pent	*e;
	size_t		 n, cap;
	int32_t		*idx;		/* open addressing into e, -1: empty */
	size_t		 nidx;		/* power of two, > 2 * n */
	uint8_t		 taken[NPORTS / 8];	/* ports of entries */
	uint8_t		 pinned[NPORTS / 8];	/* ports of overrides */
	uint64_t	 round;
	int		 dirty;
};

static int
bit(const uint8_t *map, uint16_t p)
{
	return map[p / 8] & (1u << (p % 8));
}

static void
bit_set(uint8_t *map, uint16_t p, int on)
{
	if (on)
		map[p / 8] |= (uint8_t)(1u << (p % 8));
	else
		map[p / 8] &= (uint8_t)~(1u << (p % 8));
}

static size_t
hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

/* Rebuilds the index and the taken map from e[] (after growth or pruning). */
static int
reindex(lf_ports_t *pm)
{
	size_t n = 64, i, j;
	int32_t *idx;

	while (n <= pm->n * 2)
		n *= 2;
	if ((idx = malloc(n * sizeof(*idx))) == NULL)
		return -ENOMEM;
	memset(idx, 0xff, n * sizeof(*idx));
	memset(pm->taken, 0, sizeof(pm->taken));
	for (i = 0; i < pm->n; i++) {
		for (j = hash_str(pm->e[i].key) & (n - 1); idx[j] != -1; j = (j + 1) & (n - 1))
			;
		idx[j] = (int32_t)i;
		bit_set(pm->taken, pm->e[i].port, 1);
	}
	free(pm->idx);
	pm->idx = idx;
	pm->nidx = n;
	return 0;
}

static struct pent *
find(const lf_ports_t *pm, const char *key)
{
	size_t j;

	if (pm->nidx == 0)
		return NULL;
	for (j = hash_str(key) & (pm->nidx - 1); pm->idx[j] != -1;
	    j = (j + 1) & (pm->nidx - 1))
		if (strcmp(pm->e[pm->idx[j]].key, key) == 0)
			return &pm->e[pm->idx[j]];
	return NULL;
}

/* Takes ownership of key. */
static struct pent *
add(lf_ports_t *pm, char *key, uint16_t port)
{
	struct pent *e;
	size_t j;

	if (pm->n == pm->cap) {
		size_t cap = pm->cap ? pm->cap * 2 : 16;

		if ((e = realloc(pm->e, cap * sizeof(*e))) == NULL)
			goto nomem;
		pm->e = e;
		pm->cap = cap;
	}
	e = &pm->e[pm->n++];
	e->key = key;
	e->port = port;
	e->round = pm->round;
	if (pm->n * 2 >= pm->nidx) {
		if (reindex(pm) != 0) {
			pm->n--;
			goto nomem;
		}
	} else {
		for (j = hash_str(key) & (pm->nidx - 1); pm->idx[j] != -1;
		    j = (j + 1) & (pm->nidx - 1))
			;
		pm->idx[j] = (int32_t)(pm->n - 1);
		bit_set(pm->taken, port, 1);
	}
	return e;
nomem:
	free(key);
	return NULL;
}

static char *
make_key(const char *host, uint16_t port)
{
	size_t len = strlen(host), i;
	char *k;

	if (len > 253 || (k = malloc(len + 8)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		k[i] = (char)tolower((unsigned char)host[i]);
	snprintf(k + len, 8, ":%u", port);
	return k;
}

/* --- the file ------------------------------------------------------------ */

static void
set_aside(const char *path, const char *why)
{
	char bad[4200];

	snprintf(bad, sizeof(bad), "%s.bad", path);
	log_warnx("lofront: %s: %s; moved to %s, listen ports are allocated "
	    "afresh", path, why, bad);
	if (rename(path, bad) != 0)
		log_warn("lofront: rename %s", path);
}

static int
read_all(const char *path, char **out, size_t *outlen)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > LF_PORTS_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size &&
	    (n = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	*out = buf;
	*outlen = off;
out:
	close(fd);
	return r;
}

/* One "key": port member; a bad one is skipped with a log line. */
static int
load_entry(lf_ports_t *pm, const cJSON *it)
{
	const char *k = it->string, *colon;
	char *key;
	size_t i, len;

	if (k == NULL || (len = strlen(k)) == 0 || len > LF_PORTS_KEY_MAX ||
	    (colon = strrchr(k, ':')) == NULL || colon == k ||
	    !cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 65535 ||
	    it->valuedouble != (double)(int)it->valuedouble)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!isgraph((unsigned char)k[i]))
			return -EINVAL;
	if (find(pm, k) != NULL || bit(pm->taken, (uint16_t)it->valueint))
		return -EEXIST;
	if ((key = strdup(k)) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
	return add(pm, key, (uint16_t)it->valueint) != NULL ? 0 : -ENOMEM;
}

static int
load(lf_ports_t *pm)
{
	const cJSON *ports, *v, *it;
	cJSON *root = NULL;
	char *buf = NULL;
	size_t len = 0, skipped = 0;
	int r;

	if ((r = read_all(pm->path, &buf, &len)) == -ENOENT)
		return 0;
	if (r != 0) {
		set_aside(pm->path, strerror(-r));
		return 0;
	}
	root = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (root == NULL || !cJSON_IsObject(root) ||
	    !cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(root, "version")) ||
	    v->valueint != PORTS_VERSION ||
	    !cJSON_IsObject(ports = cJSON_GetObjectItemCaseSensitive(root, "ports"))) {
		cJSON_Delete(root);
		set_aside(pm->path, "not a version 1 listen port map");
		return 0;
	}
	r = 0;
	cJSON_ArrayForEach(it, ports) {
		if (pm->n >= LF_PORTS_MAX) {
			skipped++;
			continue;
		}
		if ((r = load_entry(pm, it)) == -ENOMEM)
			break;
		if (r != 0)
			skipped++;
		r = 0;
	}
	cJSON_Delete(root);
	if (skipped > 0)
		log_warnx("lofront: %s: %zu bad or duplicate entries skipped",
		    pm->path, skipped);
	return r;
}

static int
sync_dir(const char *path)
{
	char dir[4096], *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	*slash = '\0';
	if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	fsync(fd);
	close(fd);
	return 0;
}

static int
save(lf_ports_t *pm)
{
	cJSON *root, *ports;
	char tmp[4200], *text = NULL;
	size_t i;
	int fd = -1, r = -ENOMEM;

	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(root, "version", PORTS_VERSION) == NULL ||
	    (ports = cJSON_AddObjectToObject(root, "ports")) == NULL)
		goto out;
	for (i = 0; i < pm->n; i++)
		if (cJSON_AddNumberToObject(ports, pm->e[i].key, pm->e[i].port) == NULL)
			goto out;
	if ((text = cJSON_Print(root)) == NULL)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.tmp", pm->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		r = -errno;
		goto out;
	}
	if ((r = fd_write_all(fd, text, strlen(text))) != 0 ||
	    (r = fd_write_all(fd, "\n", 1)) != 0)
		goto out;
	if (fsync(fd) != 0) {
		r = -errno;
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, pm->path) != 0) {
		r = -errno;
		goto out;
	}
	sync_dir(pm->path);
	r = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(text);
	cJSON_Delete(root);
	return r;
}

/* --- public -------------------------------------------------------------- */

lf_ports_t *
lf_ports_new(const char *state_dir, uint16_t start_port,
    const struct cfg_override *ov, size_t nov)
{
	lf_ports_t *pm;
	size_t i, len = strlen(state_dir) + sizeof(LF_PORTS_FILE) + 2;

	if ((pm = calloc(1, sizeof(*pm))) == NULL ||
	    (pm->path = malloc(len)) == NULL)
		goto nomem;
	snprintf(pm->path, len, "%s/%s", state_dir, LF_PORTS_FILE);
	pm->start_port = start_port ? start_port : 1;
	pm->ov = ov;
	pm->nov = nov;
	for (i = 0; i < nov; i++)
		bit_set(pm->pinned, ov[i].port, 1);
	if (reindex(pm) != 0 || load(pm) != 0)
		goto nomem;
	return pm;
nomem:
	lf_ports_free(pm);
	errno = ENOMEM;
	return NULL;
}

void
lf_ports_free(lf_ports_t *pm)
{
	size_t i;

	if (pm == NULL)
		return;
	for (i = 0; i < pm->n; i++)
		free(pm->e[i].key);
	free(pm->e);
	free(pm->idx);
	free(pm->path);
	free(pm);
}

void
lf_ports_begin(lf_ports_t *pm)
{
	pm->round++;
}

static int
alloc_port(const lf_ports_t *pm, uint16_t *port)
{
	uint32_t p;

	for (p = pm->start_port; p < NPORTS; p++)
		if (!bit(pm->taken, (uint16_t)p) && !bit(pm->pinned, (uint16_t)p)) {
			*port = (uint16_t)p;
			return 0;
		}
	return -ERANGE;
}

int
lf_ports_get(lf_ports_t *pm, const char *host, uint16_t ep_port, int primary,
    uint16_t *port)
{
	struct pent *e;
	char *key;
	size_t i;
	int r;

	if ((key = make_key(host, ep_port)) == NULL)
		return -ENOMEM;
	e = find(pm, key);
	if (e != NULL)
		e->round = pm->round;
	for (i = 0; primary && i < pm->nov; i++)
		if (strcasecmp(pm->ov[i].host, host) == 0) {
			*port = pm->ov[i].port;
			free(key);
			return 0;
		}
	/* A port pinned since it was handed out moves to a fresh one. */
	if (e != NULL && !bit(pm->pinned, e->port)) {
		*port = e->port;
		free(key);
		return 0;
	}
	if ((r = alloc_port(pm, port)) != 0) {
		free(key);
		return r;
	}
	pm->dirty = 1;
	if (e != NULL) {
		bit_set(pm->taken, e->port, 0);
		e->port = *port;
		bit_set(pm->taken, *port, 1);
		free(key);
		return 0;
	}
	return add(pm, key, *port) != NULL ? 0 : -ENOMEM;
}

int
lf_ports_end(lf_ports_t *pm)
{
	size_t i, j;
	int r;

	if (pm->n > LF_PORTS_MAX) {
		for (i = j = 0; i < pm->n; i++) {
			if (pm->e[i].round == pm->round)
				pm->e[j++] = pm->e[i];
			else
				free(pm->e[i].key);
		}
		pm->n = j;
		pm->dirty = 1;
		if ((r = reindex(pm)) != 0)
			return r;
	}
	if (!pm->dirty)
		return 0;
	if ((r = save(pm)) != 0) {
		log_warnx("lofront: writing %s: %s (retried at the next change)",
		    pm->path, strerror(-r));
		return r;
	}
	pm->dirty = 0;
	return 0;
}

size_t
lf_ports_count(const lf_ports_t *pm)
{
	return pm->n;
}
