/*
 * http_fuzz.c: libFuzzer harness for the health listener's request parser
 * (daemon/health.c, health_parse_request), the only code that reads bytes
 * from HTTP clients.
 *
 * Input: the bytes a client sends, any length (the parser looks at no more
 * than HEALTH_MAX_REQUEST of them, as the server's buffer holds no more).
 *
 * Invariants:
 *   - no read outside the buffer (an exact-size copy; ASan);
 *   - the answer is one of 0, OK, 400, 405, 431, 505, and never 0 once
 *     HEALTH_MAX_REQUEST bytes are in;
 *   - the server feeds the parser a growing buffer, so the answer for any
 *     prefix is either 0 ("need more") or the answer for the whole input:
 *     an early error never turns into something else, and OK stays OK
 *     with the same consumed count;
 *   - OK means: consumed ends just after an LF, the path starts with '/',
 *     holds only visible ASCII and no '?', and the method really was GET or
 *     HEAD as req.head says.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
parse(const uint8_t *data, size_t len, struct health_request *req)
{
	char *copy = malloc(len ? len : 1);
	int r;

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	r = health_parse_request(copy, len, req);
	free(copy);
	return r;
}

static void
check_ok(const uint8_t *data, size_t size, const struct health_request *req)
{
	size_t i, n = strlen(req->path);

	if (req->consumed == 0 || req->consumed > size ||
	    req->consumed > HEALTH_MAX_REQUEST || data[req->consumed - 1] != '\n')
		abort();
	if (req->path_too_long ? n != 0 : (n == 0 || req->path[0] != '/'))
		abort();
	for (i = 0; i < n; i++)
		if (req->path[i] < 0x21 || req->path[i] > 0x7e || req->path[i] == '?')
			abort();
	if (req->head ? memcmp(data, "HEAD ", 5) != 0 :
	    memcmp(data, "GET ", 4) != 0)
		abort();
}

static void
check_prefix(const uint8_t *data, size_t k, int full,
    const struct health_request *freq)
{
	struct health_request req;
	int r = parse(data, k, &req);

	if (r == 0)
		return;
	if (r != full)
		abort();
	if (r == HEALTH_PARSE_OK && (req.consumed != freq->consumed ||
	    req.head != freq->head || strcmp(req.path, freq->path) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct health_request req;
	size_t i, lim = size < HEALTH_MAX_REQUEST ? size : HEALTH_MAX_REQUEST;
	int r, lines = 0;

	r = parse(data, size, &req);
	if (r != 0 && r != HEALTH_PARSE_OK && r != 400 && r != 405 &&
	    r != 431 && r != 505)
		abort();
	if (r == 0 && size >= HEALTH_MAX_REQUEST)
		abort();
	if (r == HEALTH_PARSE_OK)
		check_ok(data, size, &req);

	/* Prefixes around every line end (the parser's decision points),
	 * plus a few others; bounded so that big inputs stay fast. */
	check_prefix(data, 0, r, &req);
	check_prefix(data, lim / 2, r, &req);
	if (lim > 0)
		check_prefix(data, lim - 1, r, &req);
	for (i = 0; i < lim && lines < 64; i++) {
		if (data[i] != '\n')
			continue;
		lines++;
		check_prefix(data, i, r, &req);
		check_prefix(data, i + 1, r, &req);
		if (i + 2 <= lim)
			check_prefix(data, i + 2, r, &req);
	}
	return 0;
}
