/* jws.c — compact JWS (RFC 7515) verification and signing of JWT access tokens. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "pot/err.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"

/* A JSON object from a base64url segment, strictly: no duplicate keys, nothing after. */
static int
segment_json(const char *seg, size_t len, json_t **out)
{
	unsigned char *raw;
	json_error_t jerr;
	size_t rawlen;
	int r;

	*out = NULL;
	if (len == 0)
		return POT_ERR_MALFORMED;
	if ((r = pot_b64url_decode(seg, len, &raw, &rawlen)) != POT_OK)
		return r;
	*out = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (*out != NULL && json_is_object(*out))
		return POT_OK;
	json_decref(*out);
	*out = NULL;
	return POT_ERR_MALFORMED;
}

/* RFC 7518 §3.4: ES256 signatures are R || S, 32 bytes each; OpenSSL wants DER. */
static int
es256_raw_to_der(const unsigned char *sig, size_t len, unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int n, rc = POT_ERR_SIGNATURE;

	*der = NULL;
	if (len != 64)
		return POT_ERR_SIGNATURE;
	if ((es = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + 32, 32, NULL)) == NULL || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;			/* transferred */
	if ((n = i2d_ECDSA_SIG(es, der)) <= 0)
		goto out;
	*derlen = (size_t)n;
	rc = POT_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}

static int
es256_der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	int ok;

	if ((es = d2i_ECDSA_SIG(NULL, &der, (long)len)) == NULL)
		return POT_ERR_CRYPTO;
	ECDSA_SIG_get0(es, &r, &s);
	ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(es);
	return ok ? POT_OK : POT_ERR_CRYPTO;
}

static int
signature_verify(const struct pot_key *k, const char *input, size_t inlen,
		 const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	size_t derlen = siglen;
	EVP_MD_CTX *md = NULL;
	int r = POT_ERR_SIGNATURE;

	if (k->alg == POT_ALG_ES256) {
		if ((r = es256_raw_to_der(sig, siglen, &der, &derlen)) != POT_OK)
			return r;
		sig = der;
	} else if (siglen != (size_t)EVP_PKEY_get_size(k->pkey))
		return POT_ERR_SIGNATURE;
	if ((md = EVP_MD_CTX_new()) == NULL) {
		r = POT_ERR_ALLOC;
		goto out;
	}
	if (k->verify != NULL) {		/* initialised once, when the JWK Set was read */
		if (EVP_MD_CTX_copy_ex(md, k->verify) != 1) {
			r = POT_ERR_CRYPTO;
			goto out;
		}
	} else if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) != 1) {
		r = POT_ERR_CRYPTO;
		goto out;
	}
	r = EVP_DigestVerify(md, sig, derlen, (const unsigned char *)input, inlen) == 1 ?
	    POT_OK : POT_ERR_SIGNATURE;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return r;
}

/* The header alone decides nothing but which key to try; the key decides the algorithm. */
static int
header_check(json_t *hdr, enum pot_alg *alg, const char **kid)
{
	const char *a = json_string_value(json_object_get(hdr, "alg"));
	const char *typ = json_string_value(json_object_get(hdr, "typ"));

	*kid = json_string_value(json_object_get(hdr, "kid"));
	if (a == NULL)
		return POT_ERR_MALFORMED;
	if ((*alg = pot_alg_from_name(a)) == POT_ALG_UNKNOWN)
		return POT_ERR_ALG;		/* none, HS256, PS256, ... */
	if (json_object_get(hdr, "crit") != NULL)
		return POT_ERR_HEADER;		/* we understand no extension (RFC 7515 §4.1.11) */
	if (typ == NULL || (strcasecmp(typ, "at+jwt") != 0 &&
			    strcasecmp(typ, "application/at+jwt") != 0 && strcmp(typ, "JWT") != 0))
		return POT_ERR_HEADER;
	if (*kid == NULL || **kid == '\0')
		return POT_ERR_UNKNOWN_KEY;
	return POT_OK;
}

/* Tries every trusted key with this kid; the first that verifies wins. */
static int
signature_check(const struct pot_keyring *kr, const char *kid, enum pot_alg alg,
		const char *input, size_t inlen, const char *sig64, size_t sig64len,
		const struct pot_key **used)
{
	const struct pot_key *k;
	unsigned char *sig = NULL;
	size_t siglen, pos = 0;
	int r = POT_ERR_UNKNOWN_KEY;

	*used = NULL;
	if (sig64len == 0 || pot_b64url_decode(sig64, sig64len, &sig, &siglen) != POT_OK)
		return POT_ERR_MALFORMED;
	while ((k = pot_keyring_find(kr, kid, &pos)) != NULL) {
		if (k->alg != alg) {
			if (r == POT_ERR_UNKNOWN_KEY)
				r = POT_ERR_ALG;
			continue;
		}
		if ((r = signature_verify(k, input, inlen, sig, siglen)) == POT_OK) {
			*used = k;
			break;
		}
	}
	free(sig);
	return r;
}

/* A NumericDate (RFC 7519 §2): a JSON number, integer or not. */
static int
claim_time(json_t *payload, const char *name, bool required, long long *out)
{
	json_t *v = json_object_get(payload, name);
	double d;

	*out = 0;
	if (v == NULL)
		return required ? POT_ERR_CLAIMS : POT_OK;
	if (!json_is_number(v))
		return POT_ERR_CLAIMS;
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > 253402300799.0)	/* year 9999 */
		return POT_ERR_CLAIMS;
	*out = (long long)d;
	return POT_OK;
}

/* An optional string claim, copied; wrong type is an error. */
static int
claim_str(json_t *payload, const char *name, bool required, char **out)
{
	json_t *v = json_object_get(payload, name);

	*out = NULL;
	if (v == NULL)
		return required ? POT_ERR_CLAIMS : POT_OK;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return POT_ERR_CLAIMS;
	return (*out = strdup(json_string_value(v))) != NULL ? POT_OK : POT_ERR_ALLOC;
}

static bool
audience_ok(json_t *aud, const char *want)
{
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return false;
	for (i = 0; i < json_array_size(aud); i++)
		if (json_is_string(json_array_get(aud, i)) &&
		    strcmp(json_string_value(json_array_get(aud, i)), want) == 0)
			return true;
	return false;
}

static int
claims_check(json_t *p, const struct pot_key *k, const struct pot_verify_opts *o,
	     struct pot_claims *c)
{
	long long now = (long long)o->now, leeway = (long long)o->leeway, nbf;
	int r;

	if ((r = claim_str(p, "iss", true, &c->iss)) != POT_OK)
		return r == POT_ERR_CLAIMS ? POT_ERR_ISSUER : r;
	if (strcmp(c->iss, k->issuer) != 0)
		return POT_ERR_ISSUER;		/* a key vouches for its own issuer only */
	if (!audience_ok(json_object_get(p, "aud"), o->audience))
		return POT_ERR_AUDIENCE;
	if ((r = claim_time(p, "exp", true, &c->exp)) != POT_OK ||
	    (r = claim_time(p, "nbf", false, &nbf)) != POT_OK ||
	    (r = claim_time(p, "iat", false, &c->iat)) != POT_OK)
		return r;
	if (now >= c->exp + leeway)
		return POT_ERR_EXPIRED;
	if (nbf > now + leeway || c->iat > now + leeway)
		return POT_ERR_NOT_YET;
	if ((r = claim_str(p, o->user_claim, true, &c->user)) != POT_OK ||
	    (r = claim_str(p, "scope", false, &c->scope)) != POT_OK ||
	    (r = claim_str(p, "jti", false, &c->jti)) != POT_OK ||
	    (r = claim_str(p, "client_id", false, &c->client_id)) != POT_OK)
		return r;
	if (c->scope == NULL && (c->scope = strdup("")) == NULL)
		return POT_ERR_ALLOC;
	return POT_OK;
}

int
pot_jwt_verify(const struct pot_keyring *kr, const char *token, size_t len,
	       const struct pot_verify_opts *o, struct pot_claims *out)
{
	const char *d1, *d2, *kid;
	const struct pot_key *key;
	json_t *hdr = NULL, *payload = NULL;
	enum pot_alg alg;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > POT_TOKEN_MAX)
		return POT_ERR_TOO_LONG;
	if ((d1 = memchr(token, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		return POT_ERR_MALFORMED;
	if ((r = segment_json(token, (size_t)(d1 - token), &hdr)) != POT_OK ||
	    (r = header_check(hdr, &alg, &kid)) != POT_OK)
		goto out;
	if ((r = signature_check(kr, kid, alg, token, (size_t)(d2 - token), d2 + 1,
				 len - (size_t)(d2 + 1 - token), &key)) != POT_OK)
		goto out;
	if ((r = segment_json(d1 + 1, (size_t)(d2 - d1 - 1), &payload)) != POT_OK)
		goto out;
	if ((out->kid = strdup(key->kid)) == NULL) {
		r = POT_ERR_ALLOC;
		goto out;
	}
	r = claims_check(payload, key, o, out);
out:
	if (r != POT_OK)
		pot_claims_free(out);
	json_decref(hdr);
	json_decref(payload);
	return r;
}

void
pot_claims_free(struct pot_claims *c)
{
	if (c == NULL)
		return;
	free(c->iss);
	free(c->user);
	free(c->scope);
	free(c->jti);
	free(c->client_id);
	free(c->kid);
	memset(c, 0, sizeof(*c));
}

bool
pot_scope_has(const char *scopes, const char *want, size_t wantlen)
{
	const char *p = scopes, *e;

	if (wantlen == 0)
		return false;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		e = strchrnul(p, ' ');
		if ((size_t)(e - p) == wantlen && memcmp(p, want, wantlen) == 0)
			return true;
		p = e;
	}
	return false;
}

/* --- signing --------------------------------------------------------------------- */

static int
sign_input(EVP_PKEY *pkey, const char *input, size_t len, unsigned char **sig, size_t *siglen)
{
	unsigned char *der = NULL, raw[64];
	EVP_MD_CTX *md = NULL;
	size_t derlen = 0;
	int r = POT_ERR_CRYPTO;

	*sig = NULL;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &derlen, (const unsigned char *)input, len) != 1 ||
	    (der = OPENSSL_malloc(derlen)) == NULL ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, len) != 1)
		goto out;
	if (pot_key_alg(pkey) == POT_ALG_ES256) {
		if ((r = es256_der_to_raw(der, derlen, raw)) != POT_OK)
			goto out;
		memcpy(der, raw, sizeof(raw));
		derlen = sizeof(raw);
	}
	*sig = der;
	*siglen = derlen;
	der = NULL;			/* transferred */
	r = POT_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return r;
}

int
pot_jws_sign(EVP_PKEY *pkey, const char *kid, const char *typ, const char *payload, char **out)
{
	char *hdr_json = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
	unsigned char *sig = NULL;
	enum pot_alg alg = pot_key_alg(pkey);
	json_t *hdr = NULL;
	size_t siglen;
	int r = POT_ERR_ALLOC;

	*out = NULL;
	if (alg == POT_ALG_UNKNOWN)
		return POT_ERR_ALG;
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", pot_alg_name(alg), "typ", typ, "kid", kid)) == NULL ||
	    (hdr_json = json_dumps(hdr, JSON_COMPACT)) == NULL)
		goto out;
	if ((r = pot_b64url_encode(hdr_json, strlen(hdr_json), &h64)) != POT_OK ||
	    (r = pot_b64url_encode(payload, strlen(payload), &p64)) != POT_OK)
		goto out;
	if (asprintf(&input, "%s.%s", h64, p64) < 0) {
		input = NULL;
		r = POT_ERR_ALLOC;
		goto out;
	}
	if ((r = sign_input(pkey, input, strlen(input), &sig, &siglen)) != POT_OK ||
	    (r = pot_b64url_encode(sig, siglen, &s64)) != POT_OK)
		goto out;
	if (asprintf(out, "%s.%s", input, s64) < 0) {
		*out = NULL;
		r = POT_ERR_ALLOC;
		goto out;
	}
	r = POT_OK;
out:
	json_decref(hdr);
	free(hdr_json);
	free(h64);
	free(p64);
	free(s64);
	free(input);
	OPENSSL_free(sig);
	return r;
}

int
pot_at_sign(EVP_PKEY *pkey, const struct pot_at_params *p, char **out)
{
	unsigned char rnd[16];
	char *kid = NULL, *jti = NULL, *payload = NULL, *rnd64 = NULL;
	json_t *claims = NULL;
	int r;

	*out = NULL;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return POT_ERR_CRYPTO;
	if (p->kid != NULL)		/* the signer knows it: a thumbprint per token costs */
		r = (kid = strdup(p->kid)) != NULL ? POT_OK : POT_ERR_ALLOC;
	else
		r = pot_jwk_thumbprint(pkey, &kid);
	if (r != POT_OK || (r = pot_b64url_encode(rnd, sizeof(rnd), &rnd64)) != POT_OK)
		goto out;
	if (p->grant == NULL) {
		jti = rnd64;
		rnd64 = NULL;			/* transferred */
	} else if (asprintf(&jti, "%s.%s", p->grant, rnd64) < 0) {
		jti = NULL;
		r = POT_ERR_ALLOC;
		goto out;
	}
	r = POT_ERR_ALLOC;
	if ((claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", p->iss,
				"sub", p->sub, "aud", p->aud, "exp", (json_int_t)p->exp,
				"iat", (json_int_t)p->iat, "jti", jti, "client_id", p->client_id,
				"scope", p->scope ? p->scope : "")) == NULL)
		goto out;
	if (p->auth_time != 0 &&
	    json_object_set_new(claims, "auth_time", json_integer((json_int_t)p->auth_time)) != 0)
		goto out;
	if ((payload = json_dumps(claims, JSON_COMPACT)) == NULL)
		goto out;
	r = pot_jws_sign(pkey, kid, "at+jwt", payload, out);
out:
	json_decref(claims);
	free(kid);
	free(jti);
	free(rnd64);
	free(payload);
	return r;
}
