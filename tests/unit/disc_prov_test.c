/* disc_prov_test.c: key + CSR (checked with OpenSSL), operator JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "discovery/disc_priv.h"

static void
test_csr(void **state)
{
	char *key = NULL, *csr = NULL, name[64];
	X509_REQ *req;
	EVP_PKEY *pk;
	BIO *b;

	assert_int_equal(disc_prov_make_csr(&key, &csr), 0);
	assert_non_null(strstr(key, "-----BEGIN EC PRIVATE KEY-----"));
	b = BIO_new_mem_buf(csr, -1);
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(req);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
	pk = X509_REQ_get_pubkey(req);
	assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
	assert_true(EVP_PKEY_get_group_name(pk, name, sizeof(name), NULL));
	assert_string_equal(name, "secp384r1");
	assert_int_equal(X509_REQ_verify(req, pk), 1);
	EVP_PKEY_free(pk);
	X509_REQ_free(req);
	/* The private key matches the CSR. */
	b = BIO_new_mem_buf(key, -1);
	pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(pk);
	EVP_PKEY_free(pk);
	free(key);
	free(csr);
}

static void
test_create_body(void **state)
{
	char *sel[] = { "true", "endpoint.metadata.x == 'y'" };
	struct disc_op_req q = { "ngrokd", "{\"host\":\"h\"}", NULL, sel, 2,
	    "-----BEGIN CERTIFICATE REQUEST-----\n" };
	cJSON *j, *bind;
	char *txt;

	txt = disc_op_create_body(&q);
	assert_non_null(txt);
	j = cJSON_Parse(txt);
	assert_string_equal(cJSON_GetObjectItem(j, "metadata")->valuestring,
	    "{\"host\":\"h\"}");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j,
	    "enabled_features"), 0)->valuestring, "bindings");
	bind = cJSON_GetObjectItem(j, "binding");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(bind,
	    "endpoint_selectors")), 2);
	assert_non_null(cJSON_GetObjectItem(bind, "csr"));
	assert_null(cJSON_GetObjectItem(j, "region"));
	cJSON_Delete(j);
	free(txt);
	q.n_selectors = 0;		/* default ["true"] */
	txt = disc_op_create_body(&q);
	assert_non_null(strstr(txt, "\"endpoint_selectors\":[\"true\"]"));
	free(txt);
}

static void
test_operator_replies(void **state)
{
	struct disc_op op;
	char *next;
	const char *one = "{\"id\":\"k8sop_1\",\"metadata\":\"m\",\"binding\":"
	    "{\"cert\":{\"cert\":\"PEM\"},\"ingress_endpoint\":\"i.example:443\"}}";
	const char *list = "{\"operators\":[{\"id\":\"k8sop_0\",\"metadata\":\"x\"},"
	    "{\"id\":\"k8sop_2\",\"metadata\":\"m\"}],\"next_page_uri\":null}";
	const char *list2 = "{\"operators\":[{\"id\":\"k8sop_0\",\"metadata\":\"x\"}],"
	    "\"next_page_uri\":\"https://api/k?before_id=k8sop_0\"}";

	assert_int_equal(disc_op_parse(one, strlen(one), &op), 0);
	assert_string_equal(op.id, "k8sop_1");
	assert_string_equal(op.cert_pem, "PEM");
	assert_string_equal(op.ingress_endpoint, "i.example:443");
	disc_op_clear(&op);
	assert_int_equal(disc_op_parse("{\"id\":\"../x\"}", 13, &op), -EINVAL);
	assert_int_equal(disc_op_parse("{\"id\":5}", 8, &op), -EINVAL);
	assert_int_equal(disc_op_parse("nope", 4, &op), -EINVAL);
	assert_int_equal(disc_op_find(list, strlen(list), "m", &op, &next), 0);
	assert_string_equal(op.id, "k8sop_2");
	disc_op_clear(&op);
	assert_int_equal(disc_op_find(list2, strlen(list2), "m", &op, &next),
	    -ENOENT);
	assert_string_equal(next, "https://api/k?before_id=k8sop_0");
	free(next);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_create_body),
		cmocka_unit_test(test_operator_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
