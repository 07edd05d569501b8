/*
 * disc_op.c: kubernetes_operators request bodies and replies (cJSON).
 * The certificate and the ingress endpoint are always taken from the same
 * operator object.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "discovery/disc_priv.h"

#define MAX_CERT	65536
#define MAX_META	4096

void
disc_op_clear(struct disc_op *op)
{
	free(op->id);
	free(op->metadata);
	free(op->cert_pem);
	free(op->ingress_endpoint);
	memset(op, 0, sizeof(*op));
}

int
disc_valid_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return 0;
	return n > 0 && n <= DISC_MAX_ID;
}

char *
disc_op_create_body(const struct disc_op_req *q)
{
	cJSON *root, *bind, *sel;
	char *txt = NULL;
	size_t i;

	if ((root = cJSON_CreateObject()) == NULL)
		return NULL;
	if (!cJSON_AddStringToObject(root, "description", q->description) ||
	    !cJSON_AddStringToObject(root, "metadata", q->metadata) ||
	    (q->region && !cJSON_AddStringToObject(root, "region", q->region)) ||
	    (sel = cJSON_AddArrayToObject(root, "enabled_features")) == NULL ||
	    !cJSON_AddItemToArray(sel, cJSON_CreateString("bindings")) ||
	    (bind = cJSON_AddObjectToObject(root, "binding")) == NULL ||
	    (sel = cJSON_AddArrayToObject(bind, "endpoint_selectors")) == NULL)
		goto out;
	for (i = 0; i < q->n_selectors; i++)
		if (!cJSON_AddItemToArray(sel, cJSON_CreateString(q->selectors[i])))
			goto out;
	if (q->n_selectors == 0 &&
	    !cJSON_AddItemToArray(sel, cJSON_CreateString("true")))
		goto out;
	if (!cJSON_AddStringToObject(bind, "csr", q->csr_pem))
		goto out;
	txt = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return txt;
}

char *
disc_op_patch_body(const char *csr_pem)
{
	cJSON *root, *bind;
	char *txt = NULL;

	if ((root = cJSON_CreateObject()) != NULL &&
	    (bind = cJSON_AddObjectToObject(root, "binding")) != NULL &&
	    cJSON_AddStringToObject(bind, "csr", csr_pem) != NULL)
		txt = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return txt;
}

static int
dup_str(const cJSON *o, const char *name, size_t max, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > max)
		return -EINVAL;
	return (*out = strdup(v->valuestring)) == NULL ? -ENOMEM : 0;
}

static int
from_object(const cJSON *o, struct disc_op *op)
{
	const cJSON *bind, *cert;
	int r;

	memset(op, 0, sizeof(*op));
	if (!cJSON_IsObject(o))
		return -EINVAL;
	bind = cJSON_GetObjectItemCaseSensitive(o, "binding");
	cert = cJSON_IsObject(bind) ?
	    cJSON_GetObjectItemCaseSensitive(bind, "cert") : NULL;
	if ((r = dup_str(o, "id", DISC_MAX_ID, &op->id)) != 0 ||
	    (r = dup_str(o, "metadata", MAX_META, &op->metadata)) != 0 ||
	    (cJSON_IsObject(bind) && (r = dup_str(bind, "ingress_endpoint", 300,
	    &op->ingress_endpoint)) != 0) ||
	    (cJSON_IsObject(cert) && (r = dup_str(cert, "cert", MAX_CERT,
	    &op->cert_pem)) != 0))
		goto fail;
	if (op->id == NULL || !disc_valid_id(op->id)) {
		r = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	disc_op_clear(op);
	return r;
}

int
disc_op_parse(const char *body, size_t len, struct disc_op *op)
{
	cJSON *root;
	int r;

	memset(op, 0, sizeof(*op));
	if (len > DISC_MAX_BODY || (root = cJSON_ParseWithLength(body, len)) == NULL)
		return -EINVAL;
	r = from_object(root, op);
	cJSON_Delete(root);
	return r;
}

int
disc_op_find(const char *body, size_t len, const char *metadata,
    struct disc_op *op, char **next)
{
	const cJSON *ops, *o, *nv, *m;
	cJSON *root;
	int r = -ENOENT;

	memset(op, 0, sizeof(*op));
	*next = NULL;
	if (len > DISC_MAX_BODY || (root = cJSON_ParseWithLength(body, len)) == NULL)
		return -EINVAL;
	ops = cJSON_GetObjectItemCaseSensitive(root, "operators");
	if (!cJSON_IsArray(ops)) {
		r = -EINVAL;
		goto out;
	}
	cJSON_ArrayForEach(o, ops) {
		m = cJSON_IsObject(o) ?
		    cJSON_GetObjectItemCaseSensitive(o, "metadata") : NULL;
		if (cJSON_IsString(m) && strcmp(m->valuestring, metadata) == 0 &&
		    from_object(o, op) == 0) {
			r = 0;
			goto out;
		}
	}
	nv = cJSON_GetObjectItemCaseSensitive(root, "next_page_uri");
	if (cJSON_IsString(nv) && nv->valuestring[0] != '\0' &&
	    strlen(nv->valuestring) <= DISC_MAX_URL &&
	    (*next = strdup(nv->valuestring)) == NULL)
		r = -ENOMEM;
out:
	cJSON_Delete(root);
	return r;
}
