/* jws.c — compact JWS (RFC 7515) verification and signing of JWT access tokens. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

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

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t
b64url_len(size_t len)
{
	return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

/* Unpadded base64url of in into out (b64url_len(len) bytes, no NUL); returns that length. */
static size_t
b64url_put(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url_chars[(v >> 18) & 63];
		out[o++] = b64url_chars[(v >> 12) & 63];
		out[o++] = b64url_chars[(v >> 6) & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (len - i == 1) {
		out[o++] = b64url_chars[in[i] >> 2];
		out[o++] = b64url_chars[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[o++] = b64url_chars[in[i] >> 2];
		out[o++] = b64url_chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = b64url_chars[(in[i + 1] & 15) << 2];
	}
	return o;
}

/* One DER INTEGER of an ECDSA-Sig-Value, left-padded into 32 bytes. */
static bool
der_int32(const unsigned char **p, const unsigned char *end, unsigned char out[32])
{
	const unsigned char *q = *p;
	size_t n;

	if (end - q < 2 || q[0] != 0x02 || q[1] == 0 || q[1] > 33 || (size_t)(end - q - 2) < q[1])
		return false;
	n = q[1];
	q += 2;
	if (n > 1 && q[0] == 0 && (q[1] & 0x80) == 0)
		return false;			/* not minimal */
	if ((q[0] & 0x80) != 0)
		return false;			/* negative */
	if (n == 33) {
		if (q[0] != 0)
			return false;
		q++;
		n--;
	}
	memset(out, 0, 32 - n);
	memcpy(out + 32 - n, q, n);
	*p = q + n;
	return true;
}

/* RFC 7518 §3.4: DER ECDSA-Sig-Value { r, s } to R || S (the lengths are short forms). */
static int
es256_der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	const unsigned char *p = der, *end = der + len;

	if (len < 8 || p[0] != 0x30 || p[1] != len - 2)
		return POT_ERR_CRYPTO;
	p += 2;
	if (!der_int32(&p, end, raw) || !der_int32(&p, end, raw + 32) || p != end)
		return POT_ERR_CRYPTO;
	return POT_OK;
}

/*
 * What signing needs per key, kept per thread (signing runs in every HTTP thread at
 * once): the algorithm, a SHA-256 context and a signing context initialised once and
 * used for every token (EVP_DigestSignInit fetched the algorithms and set the key up
 * for each one), and the base64url header for this kid and typ. The entry holds a
 * reference on the key, so no other key can take its address while it is cached; a
 * different key, kid or typ replaces it. The keystore still decides which key signs.
 * Freed when the thread exits.
 */
struct sign_cache {
	EVP_PKEY *pkey;			/* referenced */
	enum pot_alg alg;
	EVP_MD_CTX *md;			/* SHA-256 of the signing input */
	EVP_PKEY_CTX *pctx;		/* EVP_PKEY_sign_init'ed with pkey, SHA-256 */
	unsigned char *sig;		/* room for a DER/RSA signature */
	size_t sigmax;
	char *kid, *typ, *h64;		/* h64: base64url of {"alg","typ","kid"} */
	size_t h64len;
};

static pthread_key_t sign_key;
static pthread_once_t sign_once = PTHREAD_ONCE_INIT;
static bool sign_key_ok;
static EVP_MD *sign_sha256;	/* fetched once; lives as long as the process */

static void
sign_cache_clear(struct sign_cache *c)
{
	EVP_MD_CTX_free(c->md);
	EVP_PKEY_CTX_free(c->pctx);
	EVP_PKEY_free(c->pkey);
	OPENSSL_free(c->sig);
	free(c->kid);
	free(c->typ);
	free(c->h64);
	memset(c, 0, sizeof(*c));
}

static void
sign_cache_free(void *p)
{
	if (p == NULL)
		return;
	sign_cache_clear(p);
	free(p);
}

static void
sign_init_once(void)
{
	sign_key_ok = (sign_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL &&
		      pthread_key_create(&sign_key, sign_cache_free) == 0;
}

static int
sign_cache_key(struct sign_cache *c, EVP_PKEY *pkey)
{
	sign_cache_clear(c);
	if ((c->alg = pot_key_alg(pkey)) == POT_ALG_UNKNOWN)
		return POT_ERR_ALG;
	if (EVP_PKEY_up_ref(pkey) != 1)
		return POT_ERR_CRYPTO;
	c->pkey = pkey;
	c->sigmax = (size_t)EVP_PKEY_get_size(pkey);
	if (c->sigmax == 0 || (c->sig = OPENSSL_malloc(c->sigmax)) == NULL ||
	    (c->md = EVP_MD_CTX_new()) == NULL ||
	    (c->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_sign_init(c->pctx) != 1 ||
	    (c->alg == POT_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(c->pctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_PKEY_CTX_set_signature_md(c->pctx, sign_sha256) != 1) {
		ERR_clear_error();
		sign_cache_clear(c);
		return POT_ERR_CRYPTO;
	}
	return POT_OK;
}

static int
sign_cache_header(struct sign_cache *c, const char *kid, const char *typ)
{
	json_t *hdr = NULL;
	char *json = NULL;
	int r = POT_ERR_ALLOC;

	free(c->kid);
	free(c->typ);
	free(c->h64);
	c->kid = c->typ = c->h64 = NULL;
	if ((hdr = json_pack("{s:s, s:s, s:s}", "alg", pot_alg_name(c->alg), "typ", typ,
			     "kid", kid)) == NULL ||
	    (json = json_dumps(hdr, JSON_COMPACT)) == NULL ||
	    (r = pot_b64url_encode(json, strlen(json), &c->h64)) != POT_OK)
		goto out;
	if ((c->kid = strdup(kid)) == NULL || (c->typ = strdup(typ)) == NULL) {
		r = POT_ERR_ALLOC;
		goto out;
	}
	c->h64len = strlen(c->h64);
	r = POT_OK;
out:
	if (r != POT_OK) {
		free(c->kid);
		free(c->typ);
		free(c->h64);
		c->kid = c->typ = c->h64 = NULL;
	}
	json_decref(hdr);
	free(json);
	return r;
}

/* The calling thread's signer for pkey, kid and typ. */
static int
sign_cache_get(EVP_PKEY *pkey, const char *kid, const char *typ, struct sign_cache **out)
{
	struct sign_cache *c;
	int r;

	*out = NULL;
	if (pthread_once(&sign_once, sign_init_once) != 0 || !sign_key_ok)
		return POT_ERR_ALLOC;
	if ((c = pthread_getspecific(sign_key)) == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return POT_ERR_ALLOC;
		if (pthread_setspecific(sign_key, c) != 0) {
			free(c);
			return POT_ERR_ALLOC;
		}
	}
	if (c->pkey != pkey && (r = sign_cache_key(c, pkey)) != POT_OK)
		return r;
	if ((c->kid == NULL || strcmp(c->kid, kid) != 0 || strcmp(c->typ, typ) != 0) &&
	    (r = sign_cache_header(c, kid, typ)) != POT_OK)
		return r;
	*out = c;
	return POT_OK;
}

/*
 * The signature over input, raw: R || S in es (ES256), or the RSA signature in c->sig.
 * *sig points at it.
 */
static int
sign_input(struct sign_cache *c, const char *input, size_t len, unsigned char es[64],
	   const unsigned char **sig, size_t *siglen)
{
	unsigned char digest[32];
	unsigned int dlen = 0;
	size_t derlen = c->sigmax;
	int r = POT_ERR_CRYPTO;

	/* the digest, then a signature over it: one context each, kept, no copies */
	if (EVP_DigestInit_ex2(c->md, sign_sha256, NULL) != 1 ||
	    EVP_DigestUpdate(c->md, input, len) != 1 ||
	    EVP_DigestFinal_ex(c->md, digest, &dlen) != 1 || dlen != sizeof(digest) ||
	    EVP_PKEY_sign(c->pctx, c->sig, &derlen, digest, sizeof(digest)) != 1)
		goto out;
	if (c->alg == POT_ALG_ES256) {
		if ((r = es256_der_to_raw(c->sig, derlen, es)) != POT_OK)
			goto out;
		*sig = es;
		*siglen = 64;
	} else {
		*sig = c->sig;
		*siglen = derlen;
	}
	r = POT_OK;
out:
	ERR_clear_error();
	return r;
}

int
pot_jws_sign(EVP_PKEY *pkey, const char *kid, const char *typ, const char *payload, char **out)
{
	struct sign_cache *c;
	const unsigned char *sig;
	unsigned char es[64];
	size_t plen = strlen(payload), inlen, siglen, o;
	char *tok;
	int r;

	*out = NULL;
	if ((r = sign_cache_get(pkey, kid, typ, &c)) != POT_OK)
		return r;
	inlen = c->h64len + 1 + b64url_len(plen);
	if ((tok = malloc(inlen + 1 + b64url_len(c->sigmax > 64 ? c->sigmax : 64) + 1)) == NULL)
		return POT_ERR_ALLOC;
	memcpy(tok, c->h64, c->h64len);
	tok[c->h64len] = '.';
	b64url_put((const unsigned char *)payload, plen, tok + c->h64len + 1);
	if ((r = sign_input(c, tok, inlen, es, &sig, &siglen)) != POT_OK) {
		free(tok);
		return r;
	}
	o = inlen;
	tok[o++] = '.';
	o += b64url_put(sig, siglen, tok + o);
	tok[o] = '\0';
	*out = tok;
	return POT_OK;
}

/* A small JSON text builder: strings escaped as jansson does, invalid UTF-8 refused. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool fail;
};

static void
jb_put(struct jbuf *b, const char *s, size_t n)
{
	char *np;
	size_t cap;

	if (b->fail)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap * 2 > b->len + n + 1 ? b->cap * 2 : b->len + n + 1;
		if (cap > POT_TOKEN_MAX || (np = realloc(b->p, cap)) == NULL) {
			b->fail = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong, no surrogate), or 0. */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static void
jb_str(struct jbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;
	char esc[8];
	size_t n;

	jb_put(b, "\"", 1);
	while (*p != '\0') {
		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (*p >= 0x80) {
			if ((n = utf8_seq(p)) == 0) {
				b->fail = true;
				return;
			}
			p += n;
			continue;
		}
		jb_put(b, (const char *)run, (size_t)(p - run));
		switch (*p) {
		case '"':	jb_put(b, "\\\"", 2); break;
		case '\\':	jb_put(b, "\\\\", 2); break;
		case '\b':	jb_put(b, "\\b", 2); break;
		case '\f':	jb_put(b, "\\f", 2); break;
		case '\n':	jb_put(b, "\\n", 2); break;
		case '\r':	jb_put(b, "\\r", 2); break;
		case '\t':	jb_put(b, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04X", *p);
			jb_put(b, esc, 6);
		}
		run = ++p;
	}
	jb_put(b, (const char *)run, (size_t)(p - run));
	jb_put(b, "\"", 1);
}

/* ,"name":"value" (the first member without the comma) */
static void
jb_member_str(struct jbuf *b, const char *name, const char *v)
{
	jb_put(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
	jb_put(b, name, strlen(name));
	jb_put(b, "\":", 2);
	jb_str(b, v);
}

static void
jb_member_int(struct jbuf *b, const char *name, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);

	jb_put(b, ",\"", 2);
	jb_put(b, name, strlen(name));
	jb_put(b, "\":", 2);
	jb_put(b, num, (size_t)n);
}

int
pot_json_escape(const char *s, char **out)
{
	struct jbuf b = { NULL, 0, 0, false };

	*out = NULL;
	jb_str(&b, s);
	if (b.fail) {
		free(b.p);
		return POT_ERR_BAD_REQUEST;
	}
	*out = b.p;
	return POT_OK;
}

/*
 * The claims of an access token, in the order jansson would write them from
 * {iss, sub, aud, exp, iat, jti, client_id, scope[, auth_time]}, compact.
 */
static int
at_payload(const struct pot_at_params *p, const char *jti, char **out)
{
	struct jbuf b = { NULL, 0, 0, false };

	*out = NULL;
	jb_put(&b, "{", 1);
	jb_member_str(&b, "iss", p->iss);
	jb_member_str(&b, "sub", p->sub);
	jb_member_str(&b, "aud", p->aud);
	jb_member_int(&b, "exp", p->exp);
	jb_member_int(&b, "iat", p->iat);
	jb_member_str(&b, "jti", jti);
	jb_member_str(&b, "client_id", p->client_id);
	jb_member_str(&b, "scope", p->scope != NULL ? p->scope : "");
	if (p->auth_time != 0)
		jb_member_int(&b, "auth_time", p->auth_time);
	jb_put(&b, "}", 1);
	if (b.fail) {
		free(b.p);
		return POT_ERR_ALLOC;		/* what json_pack's failure gave */
	}
	*out = b.p;
	return POT_OK;
}

int
pot_at_sign(EVP_PKEY *pkey, const struct pot_at_params *p, char **out)
{
	unsigned char rnd[16];
	char *kid = NULL, *payload = NULL, jbuf[96], *jti = jbuf;
	size_t gl = p->grant != NULL ? strlen(p->grant) : 0, o = 0;
	int r;

	*out = NULL;
	if (p->iss == NULL || p->sub == NULL || p->aud == NULL || p->client_id == NULL)
		return POT_ERR_ALLOC;		/* what json_pack's failure gave */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return POT_ERR_CRYPTO;
	/* jti: 128 random bits, after "<grant>." when the token belongs to a grant */
	if (gl + 1 + b64url_len(sizeof(rnd)) + 1 > sizeof(jbuf) &&
	    (jti = malloc(gl + 1 + b64url_len(sizeof(rnd)) + 1)) == NULL)
		return POT_ERR_ALLOC;
	if (p->grant != NULL) {
		memcpy(jti, p->grant, gl);
		jti[gl] = '.';
		o = gl + 1;
	}
	o += b64url_put(rnd, sizeof(rnd), jti + o);
	jti[o] = '\0';
	if (p->kid == NULL && (r = pot_jwk_thumbprint(pkey, &kid)) != POT_OK)
		goto out;		/* the signer knows it: a thumbprint per token costs */
	if ((r = at_payload(p, jti, &payload)) != POT_OK)
		goto out;
	r = pot_jws_sign(pkey, p->kid != NULL ? p->kid : kid, "at+jwt", payload, out);
out:
	if (jti != jbuf)
		free(jti);
	free(kid);
	free(payload);
	return r;
}
