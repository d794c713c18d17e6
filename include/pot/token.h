/* pot/token.h — JWS verification and signing, RFC 9068 access tokens. */
#ifndef POT_TOKEN_H
#define POT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>

#include "pot/keys.h"
#include "pot/secret.h"

#define POT_TOKEN_MAX		16384	/* longer input is not a token we issue or accept */

struct pot_verify_opts {
	const char *audience;
	const char *user_claim;		/* "sub" by default */
	unsigned long leeway;
	time_t now;
};

/* What a verified token says; strings are NULL when the claim is absent. */
struct pot_claims {
	char *iss;
	char *user;		/* the user_claim */
	char *scope;		/* space-separated; "" when absent */
	char *jti;
	char *client_id;
	char *kid;
	long long exp;
	long long iat;		/* 0 when absent */
};

/*
 * Verifies a compact JWS access token against the keyring: algorithm from the key,
 * typ at+jwt or JWT, no crit, strict base64url and JSON, iss = key's issuer, aud,
 * exp, nbf, iat. On success fills *out (free with pot_claims_free).
 */
int pot_jwt_verify(const struct pot_keyring *kr, const char *token, size_t len,
		   const struct pot_verify_opts *o, struct pot_claims *out);
void pot_claims_free(struct pot_claims *c);

/* Is `want` one of the space-separated scopes? */
bool pot_scope_has(const char *scopes, const char *want, size_t wantlen);

/*
 * Signs header {"alg","typ","kid"} + payload (a JSON text) as a compact JWS. The
 * algorithm comes from the key. Thread-safe: each thread keeps its own signing context
 * and header for the last key, kid and typ it used (holding a reference on the key).
 */
int pot_jws_sign(EVP_PKEY *pkey, const char *kid, const char *typ, const char *payload,
		 char **out);

struct pot_at_params {
	const char *iss;
	const char *sub;
	const char *aud;
	const char *client_id;
	const char *scope;
	long long iat;
	long long exp;
	long long auth_time;	/* 0: none */
	const char *grant;	/* when set, jti = "<grant>.<random>": introspection finds the family */
	const char *kid;	/* the key's RFC 7638 thumbprint if known; computed when NULL */
};

/*
 * An RFC 9068 access token (typ at+jwt, kid = thumbprint, random jti). Strings must be
 * UTF-8 (POT_ERR_ALLOC otherwise, as with jansson before).
 */
int pot_at_sign(EVP_PKEY *pkey, const struct pot_at_params *p, char **out);

/*
 * s as a JSON string literal, quotes included, escaped as jansson writes it; *out is
 * freed with free(). POT_ERR_BAD_REQUEST when s is not valid UTF-8.
 */
int pot_json_escape(const char *s, char **out);

#endif
