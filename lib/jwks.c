/* jwks.c — RFC 7517 JWK Sets of trusted issuers, RFC 7638 thumbprints, signing keys. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "pot/err.h"
#include "pot/keys.h"
#include "pot/util.h"

const char *
pot_alg_name(enum pot_alg alg)
{
	switch (alg) {
	case POT_ALG_ES256:	return "ES256";
	case POT_ALG_RS256:	return "RS256";
	case POT_ALG_UNKNOWN:	break;
	}
	return "unknown";
}

enum pot_alg
pot_alg_from_name(const char *name)
{
	if (strcmp(name, "ES256") == 0)
		return POT_ALG_ES256;
	if (strcmp(name, "RS256") == 0)
		return POT_ALG_RS256;
	return POT_ALG_UNKNOWN;
}

/* A base64url member decoded strictly; exact length when want != 0. */
static int
jwk_member(json_t *jwk, const char *name, size_t want, unsigned char **out, size_t *len)
{
	const char *s = json_string_value(json_object_get(jwk, name));

	*out = NULL;
	if (s == NULL || pot_b64url_decode(s, strlen(s), out, len) != POT_OK)
		return POT_ERR_MALFORMED;
	if ((want != 0 && *len != want) || *len == 0) {
		free(*out);
		*out = NULL;
		return POT_ERR_MALFORMED;
	}
	return POT_OK;
}

static int
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL;
	int r = POT_ERR_CRYPTO;

	*out = NULL;
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0)
		goto out;
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0 ||
	    (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(check) <= 0) {
		r = POT_ERR_MALFORMED;
		goto out;
	}
	*out = pkey;
	pkey = NULL;			/* transferred */
	r = POT_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return r;
}

static int
jwk_ec_key(json_t *jwk, EVP_PKEY **out, char *err, size_t errlen)
{
	unsigned char *x = NULL, *y = NULL, pub[65];
	OSSL_PARAM_BLD *bld = NULL;
	size_t xl, yl;
	int r;

	if (strcmp(json_string_value(json_object_get(jwk, "crv")) ?: "", "P-256") != 0) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "EC key is not on curve P-256");
		goto out;
	}
	if (jwk_member(jwk, "x", 32, &x, &xl) != POT_OK ||
	    jwk_member(jwk, "y", 32, &y, &yl) != POT_OK) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "EC key x/y are not 32-byte base64url");
		goto out;
	}
	pub[0] = 0x04;			/* uncompressed point */
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	r = POT_ERR_CRYPTO;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
		goto out;
	if ((r = pkey_fromdata("EC", bld, out)) == POT_ERR_MALFORMED)
		pot_fail(r, err, errlen, "EC key is not a valid P-256 point");
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return r;
}

static int
jwk_rsa_key(json_t *jwk, EVP_PKEY **out, char *err, size_t errlen)
{
	unsigned char *n = NULL, *e = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	size_t nl, el, bits;
	unsigned char top;
	int r;

	if (jwk_member(jwk, "n", 0, &n, &nl) != POT_OK || jwk_member(jwk, "e", 0, &e, &el) != POT_OK) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "RSA key n/e are not base64url");
		goto out;
	}
	if (n[0] == 0 || e[0] == 0 || el > 8 || (e[el - 1] & 1) == 0) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "RSA key n/e are not minimal or e is even");
		goto out;
	}
	bits = nl * 8;
	for (top = n[0]; (top & 0x80) == 0; top <<= 1)	/* n[0] != 0: the loop ends */
		bits--;
	if (bits < POT_RSA_MIN_BITS || bits > POT_RSA_MAX_BITS) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "RSA key has %zu bits, not %d to %d",
			     bits, POT_RSA_MIN_BITS, POT_RSA_MAX_BITS);
		goto out;
	}
	r = POT_ERR_CRYPTO;
	if ((bn_n = BN_bin2bn(n, (int)nl, NULL)) == NULL || (bn_e = BN_bin2bn(e, (int)el, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		goto out;
	if ((r = pkey_fromdata("RSA", bld, out)) == POT_ERR_MALFORMED)
		pot_fail(r, err, errlen, "RSA key rejected by OpenSSL");
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return r;
}

/* One JWK: the algorithm is the key type's; `alg`, when given, must agree. */
static int
jwk_parse(json_t *jwk, struct pot_key *k, char *err, size_t errlen)
{
	const char *kty, *kid, *alg, *use;
	enum pot_alg want;
	int r;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(jwk))
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "a key is not a JSON object");
	kty = json_string_value(json_object_get(jwk, "kty"));
	kid = json_string_value(json_object_get(jwk, "kid"));
	alg = json_string_value(json_object_get(jwk, "alg"));
	use = json_string_value(json_object_get(jwk, "use"));
	if (kid == NULL || *kid == '\0')
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "a key has no kid");
	if (json_object_get(jwk, "d") != NULL || json_object_get(jwk, "p") != NULL)
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "key %s holds private parts", kid);
	if (use != NULL && strcmp(use, "sig") != 0)
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "key %s: use is not sig", kid);
	if (kty != NULL && strcmp(kty, "EC") == 0) {
		want = POT_ALG_ES256;
		r = jwk_ec_key(jwk, &k->pkey, err, errlen);
	} else if (kty != NULL && strcmp(kty, "RSA") == 0) {
		want = POT_ALG_RS256;
		r = jwk_rsa_key(jwk, &k->pkey, err, errlen);
	} else
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "key %s: kty is not EC or RSA", kid);
	if (r != POT_OK)
		return r;
	if (alg != NULL && pot_alg_from_name(alg) != want) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "key %s: alg %s does not fit kty %s",
				kid, alg, kty);
	}
	k->alg = want;
	if ((k->verify = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(k->verify, NULL, EVP_sha256(), NULL, k->pkey) != 1) {
		EVP_MD_CTX_free(k->verify);
		k->verify = NULL;
		ERR_clear_error();
	}
	if ((k->kid = strdup(kid)) == NULL) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
		return POT_ERR_ALLOC;
	}
	return POT_OK;
}

int
pot_jwks_parse(const char *text, size_t len, const char *issuer, struct pot_jwks **out,
	       char *err, size_t errlen)
{
	struct pot_jwks *j = NULL;
	json_t *root = NULL, *keys;
	json_error_t jerr;
	char why[200];
	size_t i;
	int r;

	*out = NULL;
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "not JSON (line %d: %s)", jerr.line,
			     jerr.text);
		goto out;
	}
	if (!json_is_array(keys = json_object_get(root, "keys"))) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "no \"keys\" array");
		goto out;
	}
	if (json_array_size(keys) > POT_JWKS_MAX_KEYS) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "%zu keys, more than %d",
			     json_array_size(keys), POT_JWKS_MAX_KEYS);
		goto out;
	}
	r = POT_ERR_ALLOC;
	if ((j = calloc(1, sizeof(*j))) == NULL || (j->issuer = strdup(issuer)) == NULL ||
	    (json_array_size(keys) != 0 &&
	     (j->keys = calloc(json_array_size(keys), sizeof(*j->keys))) == NULL))
		goto out;
	for (i = 0; i < json_array_size(keys); i++) {
		if ((r = jwk_parse(json_array_get(keys, i), &j->keys[i], why, sizeof(why))) != POT_OK) {
			pot_fail(r, err, errlen, "key #%zu: %s", i, why);
			goto out;
		}
		j->keys[i].issuer = j->issuer;
		j->nkeys++;
	}
	*out = j;
	j = NULL;			/* transferred */
	r = POT_OK;
out:
	pot_jwks_free(j);
	json_decref(root);
	return r;
}

int
pot_jwks_load(const char *path, const char *issuer, struct pot_jwks **out, char *err, size_t errlen)
{
	char *buf = NULL, why[256];
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	if ((r = pot_file_read(path, POT_OWNER_ANY, POT_JWKS_MAX, &buf, &len, &st, err, errlen)) != 0)
		return r;
	if ((r = pot_jwks_parse(buf, len, issuer, out, why, sizeof(why))) != POT_OK)
		pot_fail(r, err, errlen, "%s: %s", path, why);
	free(buf);
	return r;
}

void
pot_jwks_free(struct pot_jwks *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->nkeys; i++) {
		free(j->keys[i].kid);
		EVP_MD_CTX_free(j->keys[i].verify);
		EVP_PKEY_free(j->keys[i].pkey);
	}
	free(j->keys);
	free(j->issuer);
	free(j);
}

/* --- the keyring: trusted issuers, each file re-read only when it changes ---------- */

struct keyring_src {
	char *issuer;
	char *path;
	struct pot_jwks *jwks;	/* NULL when the file could not be used */
	struct stat st;		/* of the file as last read; st_ino 0 when never */
};

struct pot_keyring {
	struct keyring_src *src;
	size_t nsrc;
};

struct pot_keyring *
pot_keyring_new(void)
{
	return calloc(1, sizeof(struct pot_keyring));
}

static void
keyring_src_clear(struct keyring_src *s)
{
	free(s->issuer);
	free(s->path);
	pot_jwks_free(s->jwks);
	memset(s, 0, sizeof(*s));
}

void
pot_keyring_free(struct pot_keyring *kr)
{
	size_t i;

	if (kr == NULL)
		return;
	for (i = 0; i < kr->nsrc; i++)
		keyring_src_clear(&kr->src[i]);
	free(kr->src);
	free(kr);
}

/* Brings one source up to date; on failure it holds no keys (fail closed). */
static int
keyring_src_refresh(struct keyring_src *s, char *err, size_t errlen)
{
	struct pot_jwks *j = NULL;
	struct stat st;
	int r;

	if (lstat(s->path, &st) == 0 && s->st.st_ino != 0 && pot_same_file(&st, &s->st))
		return s->jwks != NULL ? POT_OK :
		       pot_fail(POT_ERR_IO, err, errlen, "%s: unusable, unchanged since last read", s->path);
	pot_jwks_free(s->jwks);
	s->jwks = NULL;
	memset(&s->st, 0, sizeof(s->st));
	if ((r = pot_jwks_load(s->path, s->issuer, &j, err, errlen)) != POT_OK)
		return r;
	if (lstat(s->path, &s->st) != 0)
		memset(&s->st, 0, sizeof(s->st));
	s->jwks = j;
	return POT_OK;
}

int
pot_keyring_sync(struct pot_keyring *kr, const char *const *issuers, const char *const *paths,
		 size_t n, char *err, size_t errlen)
{
	struct keyring_src *src;
	char why[512];
	size_t i, k;
	int r, first = POT_OK;

	/* Keep the sources still wanted, in the wanted order; drop the rest. */
	if ((src = calloc(n ? n : 1, sizeof(*src))) == NULL)
		return POT_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		for (k = 0; k < kr->nsrc; k++)
			if (kr->src[k].path != NULL && strcmp(kr->src[k].issuer, issuers[i]) == 0 &&
			    strcmp(kr->src[k].path, paths[i]) == 0)
				break;
		if (k < kr->nsrc) {
			src[i] = kr->src[k];
			memset(&kr->src[k], 0, sizeof(kr->src[k]));
		} else if ((src[i].issuer = strdup(issuers[i])) == NULL ||
			   (src[i].path = strdup(paths[i])) == NULL) {
			first = POT_ERR_ALLOC;
		}
	}
	for (k = 0; k < kr->nsrc; k++)
		keyring_src_clear(&kr->src[k]);
	free(kr->src);
	kr->src = src;
	kr->nsrc = n;
	if (first != POT_OK)
		return first;
	for (i = 0; i < n; i++) {
		r = keyring_src_refresh(&kr->src[i], why, sizeof(why));
		if (r != POT_OK && first == POT_OK) {
			first = r;
			pot_fail(r, err, errlen, "%s", why);
		}
	}
	return first;
}

const struct pot_key *
pot_keyring_find(const struct pot_keyring *kr, const char *kid, size_t *pos)
{
	size_t i, k, at = 0;

	for (i = 0; i < kr->nsrc; i++) {
		const struct pot_jwks *j = kr->src[i].jwks;

		for (k = 0; j != NULL && k < j->nkeys; k++, at++)
			if (at >= *pos && strcmp(j->keys[k].kid, kid) == 0) {
				*pos = at + 1;
				return &j->keys[k];
			}
	}
	*pos = at;
	return NULL;
}

/* --- signing keys and their public form ----------------------------------------- */

int
pot_key_generate(enum pot_alg alg, EVP_PKEY **out)
{
	*out = NULL;
	if (alg == POT_ALG_ES256)
		*out = EVP_EC_gen("P-256");
	else if (alg == POT_ALG_RS256)
		*out = EVP_RSA_gen(2048);
	else
		return POT_ERR_ALG;
	return *out != NULL ? POT_OK : POT_ERR_CRYPTO;
}

enum pot_alg
pot_key_alg(const EVP_PKEY *pkey)
{
	char group[32];
	size_t len;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		return EVP_PKEY_get_bits(pkey) >= POT_RSA_MIN_BITS ? POT_ALG_RS256 : POT_ALG_UNKNOWN;
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) &&
	    strcmp(group, "prime256v1") == 0)
		return POT_ALG_ES256;
	return POT_ALG_UNKNOWN;
}

int
pot_key_load_pem(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	BIO *bio = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = pot_file_read(path, POT_OWNER_ANY, 64 * 1024, &buf, &len, &st, err, errlen)) != 0)
		return r;
	if ((st.st_mode & 077) != 0) {
		r = pot_fail(POT_ERR_IO, err, errlen,
			     "%s: private key readable by group or others (mode %04o): it must be 0600",
			     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		r = pot_fail(POT_ERR_MALFORMED, err, errlen, "%s: not a PEM private key", path);
		goto out;
	}
	if (pot_key_alg(*out) == POT_ALG_UNKNOWN) {
		EVP_PKEY_free(*out);
		*out = NULL;
		r = pot_fail(POT_ERR_ALG, err, errlen, "%s: neither P-256 nor RSA >= 2048", path);
		goto out;
	}
	r = POT_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	if (buf != NULL)
		pot_wipe(buf, len);
	free(buf);
	return r;
}

/* The base64url public members: EC x, y; RSA n, e. */
static int
bn_param_b64(const EVP_PKEY *pkey, const char *name, int pad, char **out)
{
	unsigned char buf[1024];
	BIGNUM *bn = NULL;
	int n, r = POT_ERR_CRYPTO;

	*out = NULL;
	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		goto out;
	if (pad > 0)
		n = BN_bn2binpad(bn, buf, pad);
	else
		n = BN_num_bytes(bn) <= (int)sizeof(buf) ? BN_bn2bin(bn, buf) : -1;
	if (n <= 0)
		goto out;
	r = pot_b64url_encode(buf, (size_t)n, out);
out:
	BN_free(bn);
	return r;
}

static int
jwk_members(const EVP_PKEY *pkey, enum pot_alg *alg, char **a, char **b)
{
	int r;

	*a = *b = NULL;
	switch ((*alg = pot_key_alg(pkey))) {
	case POT_ALG_ES256:
		if ((r = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32, a)) == 0)
			r = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
		break;
	case POT_ALG_RS256:
		if ((r = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, a)) == 0)
			r = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, b);
		break;
	default:
		r = POT_ERR_ALG;
	}
	if (r != POT_OK) {
		free(*a);
		free(*b);
		*a = *b = NULL;
	}
	return r;
}

/* RFC 7638 §3: the required members, lexicographic order, no whitespace. */
static int
thumbprint(enum pot_alg alg, const char *a, const char *b, char **out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *canon = NULL;
	int n;

	*out = NULL;
	if (alg == POT_ALG_ES256)
		n = asprintf(&canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a, b);
	else
		n = asprintf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
	if (n < 0)
		return POT_ERR_ALLOC;
	SHA256((unsigned char *)canon, (size_t)n, md);
	free(canon);
	return pot_b64url_encode(md, sizeof(md), out);
}

int
pot_jwk_thumbprint(const EVP_PKEY *pkey, char **out)
{
	enum pot_alg alg;
	char *a, *b;
	int r;

	*out = NULL;
	if ((r = jwk_members(pkey, &alg, &a, &b)) != POT_OK)
		return r;
	r = thumbprint(alg, a, b, out);
	free(a);
	free(b);
	return r;
}

int
pot_jwk_public(const EVP_PKEY *pkey, json_t **out)
{
	char *a = NULL, *b = NULL, *kid = NULL;
	enum pot_alg alg;
	int r;

	*out = NULL;
	if ((r = jwk_members(pkey, &alg, &a, &b)) != POT_OK || (r = thumbprint(alg, a, b, &kid)) != 0)
		goto out;
	if (alg == POT_ALG_ES256)
		*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
				 "x", a, "y", b, "kid", kid, "alg", "ES256", "use", "sig");
	else
		*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", a, "e", b,
				 "kid", kid, "alg", "RS256", "use", "sig");
	r = *out != NULL ? POT_OK : POT_ERR_ALLOC;
out:
	free(a);
	free(b);
	free(kid);
	return r;
}
