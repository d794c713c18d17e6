/* mint.c — test-only token forging on OpenSSL, independent of lib/jws.c's signer. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "mint.h"
#include "pot/token.h"
#include "pot/util.h"

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "mint: %s failed at %s:%d\n", #x, \
	__FILE__, __LINE__); abort(); } } while (0)

static char *
b64(const void *p, size_t n)
{
	char *s;

	CHECK(pot_b64url_encode(p, n, &s) == 0);
	return s;
}

static unsigned char *
sign_key(EVP_PKEY *key, const char *in, size_t *len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig;
	size_t n = 0;

	CHECK(md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1);
	CHECK(EVP_DigestSign(md, NULL, &n, (const unsigned char *)in, strlen(in)) == 1);
	CHECK((sig = malloc(n)) != NULL);
	CHECK(EVP_DigestSign(md, sig, &n, (const unsigned char *)in, strlen(in)) == 1);
	EVP_MD_CTX_free(md);
	if (EVP_PKEY_is_a(key, "EC")) {		/* DER -> R || S */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		const BIGNUM *r, *s;
		unsigned char *raw = malloc(64);

		CHECK(es != NULL && raw != NULL);
		ECDSA_SIG_get0(es, &r, &s);
		CHECK(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32);
		ECDSA_SIG_free(es);
		free(sig);
		sig = raw;
		n = 64;
	}
	*len = n;
	return sig;
}

char *
mint_raw(const char *header, const char *payload, enum mint_sig how, EVP_PKEY *key,
	 const void *hmac_key, size_t hmac_len)
{
	char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
	char *in, *s = NULL, *out;
	unsigned char *sig, mac[32];
	unsigned maclen = 0;
	size_t n;

	CHECK(asprintf(&in, "%s.%s", h, p) > 0);
	if (how == MINT_SIG_KEY) {
		sig = sign_key(key, in, &n);
		s = b64(sig, n);
		free(sig);
	} else if (how == MINT_SIG_HMAC) {
		CHECK(HMAC(EVP_sha256(), hmac_key, (int)hmac_len, (unsigned char *)in, strlen(in),
			   mac, &maclen) != NULL);
		s = b64(mac, maclen);
	}
	CHECK(asprintf(&out, "%s.%s", in, s != NULL ? s : "") > 0);
	free(h);
	free(p);
	free(in);
	free(s);
	return out;
}

EVP_PKEY *
mint_key(enum pot_alg alg)
{
	EVP_PKEY *k;

	CHECK(pot_key_generate(alg, &k) == 0);
	return k;
}

char *
mint_kid(EVP_PKEY *key)
{
	char *kid;

	CHECK(pot_jwk_thumbprint(key, &kid) == 0);
	return kid;
}

void
mint_write_file(const char *path, const char *text, int mode)
{
	char tmp[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, (mode_t)mode) == 0);
	CHECK(close(fd) == 0);
	CHECK(rename(tmp, path) == 0);
}

void
mint_write_jwks(const char *path, EVP_PKEY *const *keys, size_t n)
{
	json_t *arr = json_array(), *jwk;
	char *text;
	size_t i;

	for (i = 0; i < n; i++) {
		CHECK(pot_jwk_public(keys[i], &jwk) == 0);
		json_array_append_new(arr, jwk);
	}
	jwk = json_pack("{s:o}", "keys", arr);
	CHECK((text = json_dumps(jwk, JSON_INDENT(1))) != NULL);
	mint_write_file(path, text, 0644);
	free(text);
	json_decref(jwk);
}

void
mint_write_pem(const char *path, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	CHECK(b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL));
	n = BIO_get_mem_data(b, &p);
	CHECK((s = strndup(p, (size_t)n)) != NULL);
	mint_write_file(path, s, 0600);
	free(s);
	BIO_free(b);
}

char *
mint_public_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	CHECK(b != NULL && PEM_write_bio_PUBKEY(b, key));
	n = BIO_get_mem_data(b, &p);
	CHECK((s = strndup(p, (size_t)n)) != NULL);
	BIO_free(b);
	return s;
}

char *
mint_at(EVP_PKEY *key, const char *iss, const char *aud, const char *sub, const char *scope,
	long exp_in)
{
	char *kid = mint_kid(key), *hdr, *pl, *tok;
	long long now = (long long)time(NULL);

	CHECK(asprintf(&hdr, "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
		       EVP_PKEY_is_a(key, "EC") ? "ES256" : "RS256", kid) > 0);
	CHECK(asprintf(&pl, "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,"
		       "\"iat\":%lld,\"jti\":\"test-jti\",\"client_id\":\"test-client\","
		       "\"scope\":\"%s\"}", iss, sub, aud, now + exp_in, now, scope) > 0);
	tok = mint_raw(hdr, pl, MINT_SIG_KEY, key, NULL, 0);
	free(kid);
	free(hdr);
	free(pl);
	return tok;
}
