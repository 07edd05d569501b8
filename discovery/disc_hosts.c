/*
 * disc_hosts.c: the ngrokd block of the hosts file.
 *
 * ngrokd owns the lines from "# BEGIN ngrokd managed block" to
 * "# END ngrokd managed block" and no other byte.  When the file does not
 * end in a newline, the block is appended as "\n<block>" with no newline
 * after the END line: that leading newline belongs to the block, so removing
 * the block gives back the file exactly as it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

struct buf {
	char	*p;
	size_t	 len, cap;
};

static int
buf_add(struct buf *b, const char *s, size_t n)
{
	char *p;
	size_t ncap;

	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((p = realloc(b->p, ncap)) == NULL)
			return -ENOMEM;
		b->p = p;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Where the block is: [start, end) of in, the start of its BEGIN line, and
 * whether it owns the newline before BEGIN (form "\n<block>" at EOF). */
struct region {
	size_t	start, end;
	int	found, leading_nl;
};

static int
is_line(const char *s, size_t len, const char *marker)
{
	size_t m = strlen(marker);

	if (len > 0 && s[len - 1] == '\r')
		len--;
	return len == m && memcmp(s, marker, m) == 0;
}

static int
find_block(const char *in, size_t len, struct region *rg, char *err,
    size_t errlen)
{
	size_t pos = 0, eol, line = 1, begin_line = 0;
	const char *nl;

	memset(rg, 0, sizeof(*rg));
	while (pos < len) {
		nl = memchr(in + pos, '\n', len - pos);
		eol = nl ? (size_t)(nl - in) : len;
		if (!rg->found && is_line(in + pos, eol - pos, DISC_HOSTS_BEGIN)) {
			rg->found = 1;
			rg->start = pos;
			begin_line = line;
		} else if (rg->found && is_line(in + pos, eol - pos,
		    DISC_HOSTS_END)) {
			rg->end = nl ? eol + 1 : len;
			if (nl == NULL && rg->start > 0 && in[rg->start - 1] == '\n') {
				rg->start--;
				rg->leading_nl = 1;
			}
			return 0;
		}
		pos = nl ? eol + 1 : len;
		line++;
	}
	if (rg->found) {
		snprintf(err, errlen, "line %zu has \"%s\" but no \"%s\" follows;"
		    " not touching the file", begin_line, DISC_HOSTS_BEGIN,
		    DISC_HOSTS_END);
		return -EINVAL;
	}
	return 0;
}

static int
cmp_ent(const void *a, const void *b)
{
	const struct disc_hosts_ent *x = a, *y = b;

	return strcmp(x->host, y->host);
}

/* BEGIN, the sorted lines, END; no newline after END. */
static int
render_block(struct buf *b, const struct disc_hosts_ent *ents, size_t n)
{
	struct disc_hosts_ent *v;
	struct in_addr ia;
	char line[INET_ADDRSTRLEN + DISC_MAX_HOST + 4], a[INET_ADDRSTRLEN];
	size_t i;
	int r = -ENOMEM, len;

	if ((v = malloc((n ? n : 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	memcpy(v, ents, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_ent);
	if (buf_add(b, DISC_HOSTS_BEGIN "\n", strlen(DISC_HOSTS_BEGIN) + 1) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		/* A hosts file cannot express a wildcard; a host is listed
		 * once even when several endpoints (ports) share it. */
		if (v[i].host[0] == '*' || (i > 0 && strcmp(v[i].host,
		    v[i - 1].host) == 0) || !disc_valid_hostname(v[i].host))
			continue;
		ia.s_addr = htonl(v[i].addr);
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		len = snprintf(line, sizeof(line), "%s %s\n", a, v[i].host);
		if (len < 0 || (size_t)len >= sizeof(line) ||
		    buf_add(b, line, (size_t)len) != 0)
			goto out;
	}
	if (buf_add(b, DISC_HOSTS_END, strlen(DISC_HOSTS_END)) != 0)
		goto out;
	r = 0;
out:
	free(v);
	return r;
}

int
disc_hosts_render(const char *in, size_t inlen,
    const struct disc_hosts_ent *ents, size_t n, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct buf b = { NULL, 0, 0 };
	struct region rg;
	size_t tail;
	int r, leading;

	*out = NULL;
	if ((r = find_block(in, inlen, &rg, err, errlen)) != 0)
		return r;
	if (!rg.found)
		rg.start = rg.end = inlen;
	leading = rg.found ? rg.leading_nl :
	    inlen > 0 && in[inlen - 1] != '\n';
	tail = inlen - rg.end;
	r = -ENOMEM;
	if (buf_add(&b, in, rg.start) != 0)
		goto fail;
	if (n > 0) {
		if ((leading && buf_add(&b, "\n", 1) != 0) ||
		    render_block(&b, ents, n) != 0 ||
		    (!leading && buf_add(&b, "\n", 1) != 0))
			goto fail;
	}
	if (buf_add(&b, in + rg.end, tail) != 0)
		goto fail;
	if (b.p == NULL && buf_add(&b, "", 0) != 0)
		goto fail;
	*out = b.p;
	*outlen = b.len;
	return 0;
fail:
	snprintf(err, errlen, "out of memory");
	free(b.p);
	return r;
}

int
disc_hosts_update(const char *path, const struct disc_hosts_ent *ents,
    size_t n, char *err, size_t errlen)
{
	char real[PATH_MAX], *in = NULL, *out = NULL;
	const char *target = path;
	size_t inlen = 0, outlen;
	int r;

	/* /etc/hosts may be a symlink: replace the file it names, not the
	 * link. */
	if (realpath(path, real) != NULL)
		target = real;
	r = disc_read_file(target, DISC_MAX_HOSTS_FILE, &in, &inlen);
	if (r == -ENOENT) {
		if (n == 0)
			return 0;
		log_warnx("disc: hosts file %s was missing; creating it", path);
		r = 0;
	}
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", path, r == -EISDIR ?
		    "is a directory" : r == -EFBIG ? "larger than 16 MiB" :
		    strerror(-r));
		return r;
	}
	if ((r = disc_hosts_render(in ? in : "", inlen, ents, n, &out, &outlen,
	    err, errlen)) != 0)
		goto out;
	if (in != NULL && outlen == inlen && memcmp(in, out, inlen) == 0)
		goto out;
	if ((r = disc_write_atomic(target, out, outlen, 0644, 1)) != 0)
		snprintf(err, errlen, "%s: replacing: %s", path, strerror(-r));
out:
	free(in);
	free(out);
	return r;
}
