/*
 * state_fuzz.c: libFuzzer harness for the discovery state file loader
 * (discovery/disc_state.c).  The input is written to <tmpdir>/state.json
 * and loaded with disc_state_load, as at start-up; there is no from-buffer
 * loader, so the file path (disc_read_file included) is what runs.
 *
 * Invariants: loading never fails on bad content (0, the file set aside as
 * state.json.bad with its bytes intact when it is unusable); the operator
 * strings are printable tokens within their limits; every restored address
 * lies in the range; and what was loaded survives render -> load unchanged
 * (active map as a set, release queue in order, the fresh watermark, the
 * names under wildcards, each under its wildcard with an active address).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

#define FIRST		0x0a6b0002u	/* 10.107.0.2 */
#define LAST_WIDE	0x0a6bfffeu	/* 10.107.255.254 */
#define LAST_NARROW	0x0a6b0005u	/* four addresses: exhaustion */
#define MAX_SNAP	4096
#define WILD_LIMIT	3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's only state: where its files go (removed at exit). */
static char dir[64], path[96], bad[104];

struct ent {
	char		*host;
	uint32_t	 addr;
	int		 active;
};

struct snap {
	struct ent	 v[MAX_SNAP];
	size_t		 n;
	int		 overflow;
};

static void
cleanup(void)
{
	unlink(path);
	unlink(bad);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/state_fuzz.XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	atexit(cleanup);
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

static void
put(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

static void
take(const char *host, uint32_t addr, int active, void *arg)
{
	struct snap *s = arg;

	if (s->n == MAX_SNAP) {
		s->overflow = 1;
		return;
	}
	if ((s->v[s->n].host = strdup(host)) == NULL)
		abort();
	s->v[s->n].addr = addr;
	s->v[s->n].active = active;
	s->n++;
}

static int
cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->active != y->active)
		return x->active ? -1 : 1;	/* actives first, as foreach */
	if (!x->active)
		return 0;			/* queue order is kept: stable */
	return strcmp(x->host, y->host);
}

/* Active entries sorted by host; released ones in queue order (the sort
 * leaves them alone: foreach lists them last and cmp says equal). */
static void
snapshot(const disc_alloc_t *a, struct snap *s, uint32_t last)
{
	size_t i, nact = 0;

	s->n = 0;
	s->overflow = 0;
	disc_alloc_foreach(a, take, s);
	for (i = 0; i < s->n; i++) {
		if (s->v[i].addr < FIRST || s->v[i].addr > last ||
		    !disc_valid_hostname(s->v[i].host))
			abort();
		nact += s->v[i].active != 0;
		if (i > 0 && s->v[i].active && !s->v[i - 1].active)
			abort();
	}
	if (!s->overflow && nact != disc_alloc_count(a))
		abort();
	for (i = 1; i < nact; i++)	/* insertion sort keeps it simple */
		for (size_t j = i; j > 0 &&
		    cmp_ent(&s->v[j - 1], &s->v[j]) > 0; j--) {
			struct ent t = s->v[j];

			s->v[j] = s->v[j - 1];
			s->v[j - 1] = t;
		}
}

static void
snap_free(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].host);
	s->n = 0;
}

static void
check_token(const char *s, size_t max)
{
	const char *p;

	if (s == NULL)
		return;
	if (s[0] == '\0' || strlen(s) > max)
		abort();
	for (p = s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			abort();
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The names under wildcards as one string, "name wildcard addr\n" each. */
struct wtext {
	char		 buf[WILD_LIMIT * 64 * 520];
	size_t		 len;
	const disc_alloc_t *a;
};

static void
wild_one(const char *name, const char *wildcard, uint32_t addr, void *arg)
{
	struct wtext *t = arg;
	uint32_t x;

	if (!disc_wild_covers(wildcard, name) ||
	    disc_alloc_lookup(t->a, name, &x) != 0 || x != addr)
		abort();
	t->len += (size_t)snprintf(t->buf + t->len, sizeof(t->buf) - t->len,
	    "%s %s %u\n", name, wildcard, addr);
	if (t->len >= sizeof(t->buf))
		t->len = sizeof(t->buf) - 1;
}

static void
wild_text(const disc_wild_t *w, const disc_alloc_t *a, struct wtext *t)
{
	t->len = 0;
	t->buf[0] = '\0';
	t->a = a;
	disc_wild_foreach(w, wild_one, t);
}

/* Saves what was loaded and loads it again: the same state must come back. */
static void
roundtrip(const struct disc_state *st, const disc_alloc_t *a,
    const disc_wild_t *w, uint32_t last)
{
	static struct snap s1, s2;
	static struct wtext t1, t2;
	struct disc_state st2;
	disc_alloc_t *b;
	disc_wild_t *w2;
	char *txt;
	size_t i;
	int aside;

	if ((txt = disc_state_render(st, a, w)) == NULL)
		return;		/* out of memory */
	put((const uint8_t *)txt, strlen(txt));
	free(txt);
	if ((b = disc_alloc_new(FIRST, last)) == NULL ||
	    (w2 = disc_wild_new(WILD_LIMIT)) == NULL)
		abort();
	if (disc_state_load(path, &st2, b, w2, &aside) != 0 || aside)
		abort();
	wild_text(w, a, &t1);
	wild_text(w2, b, &t2);
	if (disc_wild_count(w) != disc_wild_count(w2) || strcmp(t1.buf, t2.buf))
		abort();
	if (!same_str(st->operator_id, st2.operator_id) ||
	    !same_str(st->ingress_endpoint, st2.ingress_endpoint) ||
	    !same_str(st->api_url, st2.api_url) ||
	    disc_alloc_next_fresh(a) != disc_alloc_next_fresh(b) ||
	    disc_alloc_count(a) != disc_alloc_count(b))
		abort();
	snapshot(a, &s1, last);
	snapshot(b, &s2, last);
	if (s1.n != s2.n)
		abort();
	for (i = 0; i < s1.n; i++)
		if (strcmp(s1.v[i].host, s2.v[i].host) != 0 ||
		    s1.v[i].addr != s2.v[i].addr ||
		    s1.v[i].active != s2.v[i].active)
			abort();
	snap_free(&s1);
	snap_free(&s2);
	disc_state_clear(&st2);
	disc_alloc_free(b);
	disc_wild_free(w2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t last = size & 1 ? LAST_NARROW : LAST_WIDE, nf;
	struct disc_state st;
	struct stat sb;
	disc_alloc_t *a;
	disc_wild_t *w;
	int r, aside = -1;

	if ((a = disc_alloc_new(FIRST, last)) == NULL ||
	    (w = disc_wild_new(WILD_LIMIT)) == NULL)
		abort();
	put(data, size);
	r = disc_state_load(path, &st, a, w, &aside);
	if (r == -ENOMEM)
		goto out;
	if (r != 0 || (aside != 0 && aside != 1))
		abort();
	if (aside) {
		/* Set aside whole, for a person to look at; nothing loaded. */
		if (stat(path, &sb) == 0 || stat(bad, &sb) != 0 ||
		    (size_t)sb.st_size != size || st.operator_id != NULL ||
		    disc_alloc_count(a) != 0 || disc_wild_count(w) != 0)
			abort();
		unlink(bad);
		goto out;
	}
	check_token(st.operator_id, DISC_MAX_ID);
	check_token(st.ingress_endpoint, 300);
	check_token(st.api_url, DISC_MAX_URL);
	nf = disc_alloc_next_fresh(a);
	if (nf != 0 && (nf < FIRST || nf > last))
		abort();
	roundtrip(&st, a, w, last);
	disc_state_clear(&st);
out:
	disc_alloc_free(a);
	disc_wild_free(w);
	unlink(path);
	return 0;
}
