/*
 * disc_prov.c: the client key and CSR for provisioning, with wolfCrypt.
 * ngrok signs a CSR whose subject is empty (it fills the identity from the
 * operator), so the request carries only the ECDSA P-384 public key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include "discovery/disc_priv.h"

#define DER_MAX		4096
#define PEM_MAX		8192

static void
wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

static char *
to_pem(const unsigned char *der, int derlen, int type)
{
	unsigned char *pem;
	int n;

	if ((pem = malloc(PEM_MAX + 1)) == NULL)
		return NULL;
	if ((n = wc_DerToPem(der, (word32)derlen, pem, PEM_MAX, type)) <= 0) {
		free(pem);
		return NULL;
	}
	pem[n] = '\0';
	return (char *)pem;
}

static int
make_csr(ecc_key *key, WC_RNG *rng, char **csr_pem)
{
	unsigned char der[DER_MAX];
	Cert req;
	int n;

	if (wc_InitCert(&req) != 0)
		return -EINVAL;
	req.version = 0;
	req.sigType = CTC_SHA384wECDSA;
	/* wc_InitCert leaves the subject empty: an empty CommonName. */
	if ((n = wc_MakeCertReq_ex(&req, der, sizeof(der), ECC_TYPE, key)) <= 0)
		return -EINVAL;
	if ((n = wc_SignCert_ex(req.bodySz, req.sigType, der, sizeof(der),
	    ECC_TYPE, key, rng)) <= 0)
		return -EINVAL;
	if ((*csr_pem = to_pem(der, n, CERTREQ_TYPE)) == NULL)
		return -ENOMEM;
	return 0;
}

int
disc_prov_make_csr(char **key_pem, char **csr_pem)
{
	unsigned char der[DER_MAX];
	ecc_key key;
	WC_RNG rng;
	int n, r = -EINVAL, have_key = 0;

	*key_pem = *csr_pem = NULL;
	if (wc_InitRng(&rng) != 0)
		return -EIO;
	if (wc_ecc_init(&key) != 0)
		goto out;
	have_key = 1;
	if (wc_ecc_make_key_ex(&rng, 48, &key, ECC_SECP384R1) != 0)
		goto out;
	if ((n = wc_EccKeyToDer(&key, der, sizeof(der))) <= 0)
		goto out;
	r = -ENOMEM;
	if ((*key_pem = to_pem(der, n, ECC_PRIVATEKEY_TYPE)) == NULL)
		goto out;
	if ((r = make_csr(&key, &rng, csr_pem)) != 0)
		goto out;
	r = 0;
out:
	wipe(der, sizeof(der));
	if (r != 0 && *key_pem != NULL) {
		wipe(*key_pem, strlen(*key_pem));
		free(*key_pem);
		*key_pem = NULL;
	}
	if (have_key)
		wc_ecc_free(&key);
	wc_FreeRng(&rng);
	return r;
}

int
disc_prov_cert_not_after(const char *pem, size_t len, long long *t)
{
	struct DecodedCert dc;
	const byte *date;
	unsigned char *der;
	struct tm tm;
	byte fmt;
	int n, dlen, r = -EINVAL;

	if (len > 65536)
		return -EINVAL;
	if ((der = malloc(len + 1)) == NULL)
		return -ENOMEM;
	n = wc_CertPemToDer((const unsigned char *)pem, (int)len, der,
	    (int)len, CERT_TYPE);
	if (n <= 0) {
		free(der);
		return -EINVAL;
	}
	wc_InitDecodedCert(&dc, der, (word32)n, NULL);
	memset(&tm, 0, sizeof(tm));
	if (wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) == 0 &&
	    dc.afterDate != NULL &&
	    wc_GetDateInfo(dc.afterDate, dc.afterDateLen, &date, &fmt,
	    &dlen) == 0 &&
	    wc_GetDateAsCalendarTime(date, dlen, fmt, &tm) == 0) {
		*t = (long long)timegm(&tm);
		r = 0;
	}
	wc_FreeDecodedCert(&dc);
	free(der);
	return r;
}
