/*
 * hosts_fuzz.c: libFuzzer harness for the hosts-file block rewriter
 * (discovery/disc_hosts.c, disc_hosts_render: the transformation
 * disc_hosts_update applies to /etc/hosts).
 *
 * Input: one control byte (a mask choosing which of eight endpoint entries
 * to publish: valid, wildcard, duplicate, upper case and invalid names),
 * then the existing hosts file, any bytes.
 *
 * Invariants, checked against an independent reading of the file:
 *   - a BEGIN line without an END line is refused, nothing produced;
 *   - every byte outside the managed block survives byte for byte: the
 *     output is exactly prefix + the expected block + suffix;
 *   - rendering the output again with the same entries changes nothing;
 *   - removing the block (no entries) from the output or from the input
 *     gives the file without its block, and the file itself when it had
 *     none.
 * Only the first block is ngrokd's: with no entries the output may still
 * hold a second block (or a stray BEGIN line) that the next update sees.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/disc_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Same host, same address: the allocator gives one address per host. */
static const struct disc_hosts_ent table[8] = {
	{ "zeta.example", 0x0a6b0003 },
	{ "*.wild.example", 0x0a6b0005 },
	{ "alpha.example", 0x0a6b0004 },
	{ "zeta.example", 0x0a6b0003 },
	{ "evil\nhost.example", 0x0a6b0006 },
	{ "a-b.c-d.example", 0xc0a80101 },
	{ "", 0x0a6b0007 },
	{ "x", 0 },
};

struct blk {
	size_t	start, end;	/* [start, end) goes; the rest stays */
	int	found, unterminated, leading;
};

static int
line_is(const char *s, size_t len, const char *marker)
{
	size_t m = strlen(marker);

	if (len > 0 && s[len - 1] == '\r')
		len--;
	return len == m && memcmp(s, marker, m) == 0;
}

/* The oracle: first BEGIN line, first END line after it. */
static void
locate(const char *in, size_t len, struct blk *b)
{
	size_t pos = 0, eol;
	const char *nl;

	memset(b, 0, sizeof(*b));
	for (; pos < len; pos = nl ? eol + 1 : len) {
		nl = memchr(in + pos, '\n', len - pos);
		eol = nl ? (size_t)(nl - in) : len;
		if (!b->found) {
			if (line_is(in + pos, eol - pos, DISC_HOSTS_BEGIN)) {
				b->found = 1;
				b->start = pos;
			}
			continue;
		}
		if (!line_is(in + pos, eol - pos, DISC_HOSTS_END))
			continue;
		b->end = nl ? eol + 1 : len;
		/* At EOF without a newline the block owns the one before. */
		if (nl == NULL && b->start > 0 && in[b->start - 1] == '\n') {
			b->start--;
			b->leading = 1;
		}
		return;
	}
	if (b->found)
		b->unterminated = 1;
	else {
		b->start = b->end = len;
		b->leading = len > 0 && in[len - 1] != '\n';
	}
}

static int
valid_host(const char *h)
{
	return h[0] != '*' && disc_valid_hostname(h);
}

static int
cmp_host(const void *a, const void *b)
{
	return strcmp(((const struct disc_hosts_ent *)a)->host,
	    ((const struct disc_hosts_ent *)b)->host);
}

/* The block as it must appear, with the newline that goes with it. */
static size_t
expect_block(char *out, size_t cap, const struct disc_hosts_ent *ents,
    size_t n, int leading)
{
	struct disc_hosts_ent v[8];
	size_t i, len = 0;
	uint32_t a;

	memcpy(v, ents, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_host);
	len += (size_t)snprintf(out + len, cap - len, "%s%s\n",
	    leading ? "\n" : "", DISC_HOSTS_BEGIN);
	for (i = 0; i < n; i++) {
		if (!valid_host(v[i].host) ||
		    (i > 0 && strcmp(v[i].host, v[i - 1].host) == 0))
			continue;
		a = v[i].addr;
		len += (size_t)snprintf(out + len, cap - len, "%u.%u.%u.%u %s\n",
		    a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff,
		    v[i].host);
	}
	len += (size_t)snprintf(out + len, cap - len, "%s%s", DISC_HOSTS_END,
	    leading ? "" : "\n");
	if (len >= cap)
		abort();
	return len;
}

/* Renders, or checks the refusal the oracle predicts (NULL then): a BEGIN
 * line with no END after it is never touched.  That holds for a removal
 * too: a stray BEGIN line after the managed block is left alone, and the
 * file is refused from then on. */
static char *
render(const char *in, size_t len, const struct disc_hosts_ent *ents,
    size_t n, size_t *outlen)
{
	char err[256], *out = NULL;
	struct blk b;
	int r;

	locate(in, len, &b);
	err[0] = '\0';
	r = disc_hosts_render(in, len, ents, n, &out, outlen, err, sizeof(err));
	if (b.unterminated) {
		if (r == 0 || out != NULL || err[0] == '\0' ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return NULL;
	}
	if (r != 0 || out == NULL || out[*outlen] != '\0')
		abort();
	return out;
}

static int
same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct disc_hosts_ent ents[8];
	char exp[1024], *in, *out1, *out2, *out0, *again;
	size_t n = 0, i, len, l1, l2, l0, la, el, tail;
	struct blk b;

	if (size == 0)
		return 0;
	for (i = 0; i < 8; i++)
		if (data[0] & (1u << i))
			ents[n++] = table[i];
	len = size - 1;
	/* An exact-size copy: a read past the end is caught. */
	if ((in = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(in, data + 1, len);
	locate(in, len, &b);

	if (b.unterminated) {
		(void)render(in, len, ents, n, &l1);
		free(in);
		return 0;
	}
	tail = len - b.end;

	/* With entries: prefix + block + suffix, byte for byte. */
	out1 = render(in, len, ents, n, &l1);
	if (n > 0) {
		el = expect_block(exp, sizeof(exp), ents, n, b.leading);
		if (l1 != b.start + el + tail ||
		    memcmp(out1, in, b.start) != 0 ||
		    memcmp(out1 + b.start, exp, el) != 0 ||
		    memcmp(out1 + b.start + el, in + b.end, tail) != 0)
			abort();
	} else if (l1 != b.start + tail || memcmp(out1, in, b.start) != 0 ||
	    memcmp(out1 + b.start, in + b.end, tail) != 0)
		abort();

	/* Removing the block gives the file back without it, the same
	 * whether it was just written or was the input's own. */
	out0 = render(in, len, NULL, 0, &l0);
	if (out0 == NULL || (!b.found && !same(out0, l0, in, len)))
		abort();
	again = out2 = NULL;
	if (n > 0) {
		/* Idempotent: the daemon rewrites only when something
		 * changed.  (With no entries the output has no block of ours;
		 * a second block further down would be the next one found.) */
		again = render(out1, l1, ents, n, &la);
		out2 = render(out1, l1, NULL, 0, &l2);
		if (again == NULL || out2 == NULL ||
		    !same(again, la, out1, l1) || !same(out0, l0, out2, l2))
			abort();
	}

	free(again);
	free(out0);
	free(out1);
	free(out2);
	free(in);
	return 0;
}
