/*
 * provision_fuzz.c: libFuzzer harness for the kubernetes_operators replies
 * (discovery/disc_op.c) as discovery reads them while provisioning: the
 * POST/PATCH/GET-one reply (disc_op_parse), a page of GET
 * /kubernetes_operators searched for our metadata (disc_op_find), the
 * certificate's notAfter (disc_prov_cert_not_after, wolfCrypt's PEM and
 * X.509 parsers) and the error body (disc_parse_error).
 *
 * Invariants: an accepted operator has an id that is safe in a URL path and
 * a log line, and every string is within its limit; a found operator
 * carries the metadata searched for; a next page is never empty or longer
 * than DISC_MAX_URL; nothing is left allocated on any path.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "discovery/disc_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_op(const struct disc_op *op)
{
	if (op->id == NULL || !disc_valid_id(op->id) ||
	    (op->metadata != NULL && strlen(op->metadata) > 4096) ||
	    (op->cert_pem != NULL && strlen(op->cert_pem) > 65536) ||
	    (op->ingress_endpoint != NULL &&
	    strlen(op->ingress_endpoint) > 300))
		abort();
}

static void
check_cert(const struct disc_op *op)
{
	long long t = 0;
	int r;

	if (op->cert_pem == NULL)
		return;
	r = disc_prov_cert_not_after(op->cert_pem, strlen(op->cert_pem), &t);
	if (r != 0 && r != -EINVAL && r != -ENOMEM)
		abort();
}

static void
check_empty(const struct disc_op *op)
{
	if (op->id != NULL || op->metadata != NULL || op->cert_pem != NULL ||
	    op->ingress_endpoint != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const metas[] = {
		"m", "{\"hostname\":\"h\",\"ngrokd\":1}", "",
	};
	struct disc_op op;
	char msg[512], *next, *body;
	size_t i;
	int r;

	log_set_level(LOG_LVL_ERROR);
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);

	r = disc_op_parse(body, size, &op);
	if (r == 0) {
		check_op(&op);
		check_cert(&op);
		disc_op_clear(&op);
	} else if (r != -EINVAL && r != -ENOMEM)
		abort();
	check_empty(&op);

	for (i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
		r = disc_op_find(body, size, metas[i], &op, &next);
		if (r == 0) {
			check_op(&op);
			if (next != NULL || op.metadata == NULL ||
			    strcmp(op.metadata, metas[i]) != 0)
				abort();
			disc_op_clear(&op);
		} else if (r == -ENOENT) {
			check_empty(&op);
			if (next != NULL && (next[0] == '\0' ||
			    strlen(next) > DISC_MAX_URL))
				abort();
			free(next);
		} else if (r == -EINVAL || r == -ENOMEM) {
			check_empty(&op);
			if (next != NULL)
				abort();
		} else
			abort();
	}
	if (disc_parse_error(body, size, msg, sizeof(msg)) == 0 &&
	    memchr(msg, '\0', sizeof(msg)) == NULL)
		abort();
	free(body);
	return 0;
}
