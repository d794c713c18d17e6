/* mint.h — test-only token forging: any header, any payload, any (or no) signature. */
#ifndef POT_TEST_MINT_H
#define POT_TEST_MINT_H

#include <stddef.h>
#include <openssl/evp.h>

#include "pot/keys.h"

enum mint_sig {
	MINT_SIG_KEY,		/* ES256/RS256 by the key's type */
	MINT_SIG_NONE,		/* empty signature segment */
	MINT_SIG_HMAC,		/* HS256 keyed with hmac_key */
};

/* base64url(header).base64url(payload).signature; aborts on failure; free(). */
char *mint_raw(const char *header, const char *payload, enum mint_sig how, EVP_PKEY *key,
	       const void *hmac_key, size_t hmac_len);

/* A fresh key; aborts on failure. */
EVP_PKEY *mint_key(enum pot_alg alg);
/* Its RFC 7638 kid; free(). */
char *mint_kid(EVP_PKEY *key);
/* Writes a JWK Set of the public keys (mode 0644). */
void mint_write_jwks(const char *path, EVP_PKEY *const *keys, size_t n);
/* Writes the private key as PEM (mode 0600). */
void mint_write_pem(const char *path, EVP_PKEY *key);
/* The public key as SubjectPublicKeyInfo PEM; free(). */
char *mint_public_pem(EVP_PKEY *key);
/* A standard access token: typ at+jwt, now-relative exp; free(). */
char *mint_at(EVP_PKEY *key, const char *iss, const char *aud, const char *sub,
	      const char *scope, long exp_in);
/* Writes a file with mode. */
void mint_write_file(const char *path, const char *text, int mode);

#endif
