/*
 * test_libjwt.c — interoperability with an implementation we did not write: Debian 12's
 * libjwt 1.10.2 (<jwt.h>, OpenSSL backend, base64 from the system libb64).
 *
 * Tokens libjwt makes must verify in pot_jwt_verify, tokens our signer makes must verify
 * in libjwt, and where the two disagree the test pins down what libjwt 1.10.2 actually
 * does, so that a libjwt upgrade that changes it is noticed. What it does (observed here,
 * and read in its jwt.c):
 *
 *  - jwt_encode_str() deletes any typ header and writes typ "JWT" (jwt_write_head), so
 *    libjwt cannot make an RFC 9068 at+jwt token.
 *  - jwt_decode() refuses a typ other than "JWT" (compared with strcasecmp, so "jwt" is
 *    fine) with EINVAL: at+jwt tokens cannot be read. It does NOT demand typ: a token
 *    without one is accepted.
 *  - The algorithm comes from the token's header: an HS256 token whose HMAC key is the
 *    public-key PEM verifies with that PEM as the "key" (RFC 8725 §3.1).
 *  - base64url decoding skips characters outside the alphabet: spaces, newlines and
 *    '=' padding inside a signature are ignored and the token verifies.
 *  - No claim is checked: an expired token decodes without error. Without a key,
 *    jwt_decode() checks no signature at all.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/pem.h>

#include "pot/err.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"
#include "../common/mint.h"

#define ISS	"https://issuer.example"
#define AUD	"pot"
#define USER	"alice"
#define SCOPE	"ssh sudo"

struct fixture {
	char dir[64];
	char jwks[128];
	EVP_PKEY *keys[2];		/* ES256, RS256 */
	char *kids[2];
	struct pot_keyring *kr;
};

static int
group_setup(void **state)
{
	static const char *const issuers[] = { ISS };
	struct fixture *f = calloc(1, sizeof(*f));
	const char *paths[1];
	char err[256];
	size_t i;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/pot-libjwt-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->jwks, sizeof(f->jwks), "%s/jwks.json", f->dir);
	f->keys[0] = mint_key(POT_ALG_ES256);
	f->keys[1] = mint_key(POT_ALG_RS256);
	for (i = 0; i < 2; i++)
		f->kids[i] = mint_kid(f->keys[i]);
	mint_write_jwks(f->jwks, f->keys, 2);
	paths[0] = f->jwks;
	assert_non_null(f->kr = pot_keyring_new());
	if (pot_keyring_sync(f->kr, issuers, paths, 1, err, sizeof(err)) != POT_OK)
		fail_msg("keyring: %s", err);
	*state = f;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	pot_keyring_free(f->kr);
	for (i = 0; i < 2; i++) {
		EVP_PKEY_free(f->keys[i]);
		free(f->kids[i]);
	}
	unlink(f->jwks);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* --- helpers ---------------------------------------------------------------------- */

static char *
private_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	assert_non_null(s = strndup(p, (size_t)n));
	BIO_free(b);
	return s;
}

/* The claims every test token carries; exp relative to now. */
static char *
payload_json(long exp_in)
{
	long long now = (long long)time(NULL);
	char *s;

	assert_true(asprintf(&s, "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,"
			     "\"iat\":%lld,\"scope\":\"%s\"}", ISS, USER, AUD, now + exp_in, now,
			     SCOPE) > 0);
	return s;
}

/* A token made by libjwt; typ, when given, is set before encoding. */
static char *
libjwt_mint(EVP_PKEY *key, const char *kid, const char *typ, long exp_in)
{
	jwt_alg_t alg = pot_key_alg(key) == POT_ALG_ES256 ? JWT_ALG_ES256 : JWT_ALG_RS256;
	long now = (long)time(NULL);
	char *pem = private_pem(key), *tok;
	jwt_t *j = NULL;

	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grant(j, "iss", ISS), 0);
	assert_int_equal(jwt_add_grant(j, "sub", USER), 0);
	assert_int_equal(jwt_add_grant(j, "aud", AUD), 0);
	assert_int_equal(jwt_add_grant_int(j, "exp", now + exp_in), 0);
	assert_int_equal(jwt_add_grant_int(j, "iat", now), 0);
	assert_int_equal(jwt_add_grant(j, "scope", SCOPE), 0);
	assert_int_equal(jwt_add_header(j, "kid", kid), 0);
	if (typ != NULL)
		assert_int_equal(jwt_add_header(j, "typ", typ), 0);
	assert_int_equal(jwt_set_alg(j, alg, (const unsigned char *)pem, (int)strlen(pem)), 0);
	assert_non_null(tok = jwt_encode_str(j));
	jwt_free(j);
	pot_secret_free(pem);
	return tok;
}

/* jwt_decode with the public key PEM; *out is NULL on failure. */
static int
libjwt_verify(const char *tok, EVP_PKEY *key, jwt_t **out)
{
	char *pem = mint_public_pem(key);
	int r;

	r = jwt_decode(out, tok, (const unsigned char *)pem, (int)strlen(pem));
	free(pem);
	return r;
}

static int
pot_verify(const struct fixture *f, const char *tok, struct pot_claims *c)
{
	struct pot_verify_opts o = {
		.audience = AUD, .user_claim = "sub", .leeway = 30, .now = time(NULL),
	};

	return pot_jwt_verify(f->kr, tok, strlen(tok), &o, c);
}

/* The typ header of a compact JWS, decoded by us; free(). */
static char *
header_typ(const char *tok)
{
	const char *dot = strchr(tok, '.');
	unsigned char *raw;
	json_t *hdr;
	size_t n;
	char *typ;

	assert_non_null(dot);
	assert_int_equal(pot_b64url_decode(tok, (size_t)(dot - tok), &raw, &n), POT_OK);
	assert_non_null(hdr = json_loadb((const char *)raw, n, 0, NULL));
	assert_non_null(json_string_value(json_object_get(hdr, "typ")));
	assert_non_null(typ = strdup(json_string_value(json_object_get(hdr, "typ"))));
	json_decref(hdr);
	free(raw);
	return typ;
}

/* --- libjwt signs, we verify ------------------------------------------------------ */

static void
check_libjwt_token_verifies(const struct fixture *f, size_t i)
{
	struct pot_claims c;
	char *tok = libjwt_mint(f->keys[i], f->kids[i], NULL, 300), *typ;

	assert_string_equal(typ = header_typ(tok), "JWT");
	assert_int_equal(pot_verify(f, tok, &c), POT_OK);
	assert_string_equal(c.user, USER);
	assert_string_equal(c.scope, SCOPE);
	assert_string_equal(c.iss, ISS);
	assert_string_equal(c.kid, f->kids[i]);
	pot_claims_free(&c);
	free(typ);
	free(tok);
}

static void
test_libjwt_es256_verifies(void **state)
{
	check_libjwt_token_verifies(*state, 0);
}

static void
test_libjwt_rs256_verifies(void **state)
{
	check_libjwt_token_verifies(*state, 1);
}

/* jwt_encode_str overwrites the typ we set: libjwt 1.10.2 cannot make at+jwt. */
static void
test_libjwt_forces_typ_jwt(void **state)
{
	struct fixture *f = *state;
	struct pot_claims c;
	char *tok = libjwt_mint(f->keys[0], f->kids[0], "at+jwt", 300), *typ;

	assert_string_equal(typ = header_typ(tok), "JWT");
	assert_int_equal(pot_verify(f, tok, &c), POT_OK);
	pot_claims_free(&c);
	free(typ);
	free(tok);
}

/* libjwt checks no claims: an expired token decodes; we refuse it. */
static void
test_libjwt_checks_no_claims(void **state)
{
	struct fixture *f = *state;
	struct pot_claims c;
	char *tok = libjwt_mint(f->keys[0], f->kids[0], NULL, -3600);
	jwt_t *j = NULL;

	assert_int_equal(libjwt_verify(tok, f->keys[0], &j), 0);
	assert_string_equal(jwt_get_grant(j, "sub"), USER);
	jwt_free(j);
	assert_int_equal(pot_verify(f, tok, &c), POT_ERR_EXPIRED);
	free(tok);
}

/* --- we sign, libjwt verifies ----------------------------------------------------- */

static void
check_our_token_in_libjwt(const struct fixture *f, size_t i)
{
	char *payload = payload_json(300), *tok = NULL;
	jwt_t *j = NULL;

	assert_int_equal(pot_jws_sign(f->keys[i], f->kids[i], "JWT", payload, &tok), POT_OK);
	assert_int_equal(libjwt_verify(tok, f->keys[i], &j), 0);
	assert_int_equal(jwt_get_alg(j), i == 0 ? JWT_ALG_ES256 : JWT_ALG_RS256);
	assert_string_equal(jwt_get_header(j, "kid"), f->kids[i]);
	assert_string_equal(jwt_get_grant(j, "sub"), USER);
	assert_string_equal(jwt_get_grant(j, "iss"), ISS);
	assert_string_equal(jwt_get_grant(j, "scope"), SCOPE);
	jwt_free(j);
	free(tok);
	free(payload);
}

static void
test_ours_es256_verifies_in_libjwt(void **state)
{
	check_our_token_in_libjwt(*state, 0);
}

static void
test_ours_rs256_verifies_in_libjwt(void **state)
{
	check_our_token_in_libjwt(*state, 1);
}

/*
 * RFC 9068 tokens (typ at+jwt), as pot_at_sign makes them, are refused by libjwt's
 * jwt_decode with EINVAL although the signature is good: jwt_verify_head accepts only
 * a missing typ or one equal to "JWT" ignoring case. So libjwt does not "demand" typ JWT:
 * a token with no typ at all decodes, one we refuse (POT_ERR_HEADER).
 */
static void
test_typ_handling(void **state)
{
	struct fixture *f = *state;
	struct pot_at_params p = { .iss = ISS, .sub = USER, .aud = AUD, .client_id = "c",
				   .scope = SCOPE };
	char *tok = NULL, *hdr, *payload = payload_json(300);
	struct pot_claims c;
	jwt_t *j = NULL;

	p.iat = (long long)time(NULL);
	p.exp = p.iat + 300;
	assert_int_equal(pot_at_sign(f->keys[0], &p, &tok), POT_OK);
	assert_int_equal(pot_verify(f, tok, &c), POT_OK);
	pot_claims_free(&c);
	assert_int_equal(libjwt_verify(tok, f->keys[0], &j), EINVAL);
	assert_null(j);
	free(tok);

	assert_true(asprintf(&hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", f->kids[0]) > 0);
	tok = mint_raw(hdr, payload, MINT_SIG_KEY, f->keys[0], NULL, 0);
	assert_int_equal(libjwt_verify(tok, f->keys[0], &j), 0);
	jwt_free(j);
	assert_int_equal(pot_verify(f, tok, &c), POT_ERR_HEADER);
	free(tok);
	free(hdr);

	assert_true(asprintf(&hdr, "{\"alg\":\"ES256\",\"typ\":\"jwt\",\"kid\":\"%s\"}",
			     f->kids[0]) > 0);
	tok = mint_raw(hdr, payload, MINT_SIG_KEY, f->keys[0], NULL, 0);
	assert_int_equal(libjwt_verify(tok, f->keys[0], &j), 0);
	jwt_free(j);
	free(tok);
	free(hdr);
	free(payload);
}

/* --- RFC 8725 §3.1: the algorithm must come from the key, not the token ----------- */

static void
check_hs256_confusion(const struct fixture *f, size_t i)
{
	char *pem = mint_public_pem(f->keys[i]), *hdr, *tok, *payload = payload_json(300);
	struct pot_claims c;
	jwt_t *j = NULL;

	assert_true(asprintf(&hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
			     f->kids[i]) > 0);
	tok = mint_raw(hdr, payload, MINT_SIG_HMAC, NULL, pem, strlen(pem));
	/* libjwt: the forged token verifies with the public key it was "signed" with. */
	assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)pem, (int)strlen(pem)), 0);
	assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
	assert_string_equal(jwt_get_grant(j, "sub"), USER);
	jwt_free(j);
	assert_int_equal(pot_verify(f, tok, &c), POT_ERR_ALG);
	free(tok);
	free(hdr);
	free(payload);
	free(pem);
}

static void
test_hs256_with_public_pem(void **state)
{
	check_hs256_confusion(*state, 0);
	check_hs256_confusion(*state, 1);
}

/* --- base64url laxity ------------------------------------------------------------- */

/* tok with ins inserted at offset at; free(). */
static char *
str_insert(const char *tok, size_t at, const char *ins)
{
	char *s;

	assert_true(asprintf(&s, "%.*s%s%s", (int)at, tok, ins, tok + at) > 0);
	return s;
}

/*
 * libjwt decodes with libb64, which skips every character outside the alphabet: a
 * signature with spaces, newlines or '=' padding in it still verifies. RFC 7515 §2
 * forbids all of them; we refuse them as malformed.
 */
static void
test_b64url_laxity(void **state)
{
	static const char *const junk[] = { " ", "\n", " \n", "=" };
	struct fixture *f = *state;
	char *tok = libjwt_mint(f->keys[0], f->kids[0], NULL, 300), *bad;
	size_t i, mid = (size_t)(strrchr(tok, '.') - tok) + 20;
	struct pot_claims c;
	jwt_t *j = NULL;

	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		bad = str_insert(tok, junk[i][0] == '=' ? strlen(tok) : mid, junk[i]);
		assert_int_equal(libjwt_verify(bad, f->keys[0], &j), 0);
		jwt_free(j);
		j = NULL;
		assert_int_equal(pot_verify(f, bad, &c), POT_ERR_MALFORMED);
		free(bad);
	}
	free(tok);
}

/* Without a key, jwt_decode checks no signature: it must never be used to verify. */
static void
test_libjwt_decode_without_key(void **state)
{
	struct fixture *f = *state;
	char *tok = libjwt_mint(f->keys[0], f->kids[0], NULL, 300);
	struct pot_claims c;
	jwt_t *j = NULL;

	tok[strlen(tok) - 5] = tok[strlen(tok) - 5] == 'A' ? 'B' : 'A';
	assert_int_equal(jwt_decode(&j, tok, NULL, 0), 0);
	jwt_free(j);
	assert_int_equal(pot_verify(f, tok, &c), POT_ERR_SIGNATURE);
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libjwt_es256_verifies),
		cmocka_unit_test(test_libjwt_rs256_verifies),
		cmocka_unit_test(test_libjwt_forces_typ_jwt),
		cmocka_unit_test(test_libjwt_checks_no_claims),
		cmocka_unit_test(test_ours_es256_verifies_in_libjwt),
		cmocka_unit_test(test_ours_rs256_verifies_in_libjwt),
		cmocka_unit_test(test_typ_handling),
		cmocka_unit_test(test_hs256_with_public_pem),
		cmocka_unit_test(test_b64url_laxity),
		cmocka_unit_test(test_libjwt_decode_without_key),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
