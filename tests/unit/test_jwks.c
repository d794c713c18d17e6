/* test_jwks.c — JWK Set parsing, RFC 7638 thumbprints, the keyring of trusted issuers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_pre.h"
#include "../common/mint.h"
#include "pot/err.h"
#include "pot/keys.h"
#include "pot/util.h"

#include <openssl/bn.h>
#include <openssl/rsa.h>

/* RFC 7638 §3.1's example key and its thumbprint. */
#define RFC7638_N "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_KID "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

static int
parse(const char *text, struct pot_jwks **out, char *err, size_t errlen)
{
	return pot_jwks_parse(text, strlen(text), "https://iss", out, err, errlen);
}

static void
test_rfc7638_vector(void **state)
{
	struct pot_jwks *j;
	char err[256], *kid;

	(void)state;
	assert_int_equal(parse("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
			       "\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}]}", &j, err, sizeof(err)),
			 POT_OK);
	assert_int_equal(j->nkeys, 1);
	assert_int_equal(j->keys[0].alg, POT_ALG_RS256);
	assert_string_equal(j->keys[0].kid, "2011-04-29");
	assert_string_equal(j->keys[0].issuer, "https://iss");
	assert_int_equal(pot_jwk_thumbprint(j->keys[0].pkey, &kid), POT_OK);
	assert_string_equal(kid, RFC7638_KID);
	free(kid);
	pot_jwks_free(j);
}

static void
test_roundtrip_public_jwk(void **state)
{
	enum pot_alg algs[] = { POT_ALG_ES256, POT_ALG_RS256 };
	struct pot_jwks *j;
	char err[256], *text, *kid;
	json_t *jwk, *set;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY *k = mint_key(algs[i]);

		assert_int_equal(pot_jwk_public(k, &jwk), POT_OK);
		assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
		set = json_pack("{s:[O]}", "keys", jwk);
		text = json_dumps(set, 0);
		json_decref(set);
		assert_int_equal(parse(text, &j, err, sizeof(err)), POT_OK);
		assert_int_equal(j->keys[0].alg, algs[i]);
		assert_int_equal(EVP_PKEY_eq(j->keys[0].pkey, k), 1);
		kid = mint_kid(k);
		assert_string_equal(j->keys[0].kid, kid);
		assert_int_equal(strlen(kid), 43);
		free(kid);
		free(text);
		json_decref(jwk);
		pot_jwks_free(j);
		EVP_PKEY_free(k);
	}
}

static char *
ec_jwk_with(const char *replace_member, const char *value)
{
	EVP_PKEY *k = mint_key(POT_ALG_ES256);
	json_t *jwk;
	char *text;

	assert_int_equal(pot_jwk_public(k, &jwk), POT_OK);
	if (value == NULL)
		json_object_del(jwk, replace_member);
	else
		json_object_set_new(jwk, replace_member, json_string(value));
	jwk = json_pack("{s:[o]}", "keys", jwk);
	text = json_dumps(jwk, 0);
	json_decref(jwk);
	EVP_PKEY_free(k);
	return text;
}

static void
test_refusals(void **state)
{
	static const struct { const char *member, *value, *why; } cases[] = {
		{ "kid", NULL, "no kid" },
		{ "kid", "", "no kid" },
		{ "crv", "P-384", "P-256" },
		{ "kty", "OKP", "kty" },
		{ "alg", "RS256", "does not fit" },
		{ "use", "enc", "use is not sig" },
		{ "x", "AAAA", "32-byte" },
		{ "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "valid P-256 point" },
		{ "y", "not base64!", "32-byte" },
		{ "d", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "private parts" },
	};
	struct pot_jwks *j;
	char err[256], *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = ec_jwk_with(cases[i].member, cases[i].value);
		assert_int_not_equal(parse(text, &j, err, sizeof(err)), POT_OK);
		assert_null(j);
		if (strstr(err, cases[i].why) == NULL)
			pot_fail_msg("case %zu: `%s` lacks `%s`", i, err, cases[i].why);
		free(text);
	}
}

/* A JWK Set with one RSA key whose modulus is the given bytes. */
static char *
rsa_jwks(const unsigned char *n, size_t len)
{
	char *b64 = NULL, *text;

	assert_int_equal(pot_b64url_encode(n, len, &b64), 0);
	assert_true(asprintf(&text, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\","
			     "\"e\":\"AQAB\"}]}", b64) > 0);
	free(b64);
	return text;
}

static void
test_rsa_too_small(void **state)
{
	EVP_PKEY *k = EVP_RSA_gen(1024);
	struct pot_jwks *j;
	char err[256], *text;
	unsigned char buf[256];
	BIGNUM *bn = NULL;
	int len;

	(void)state;
	assert_non_null(k);
	assert_true(EVP_PKEY_get_bn_param(k, "n", &bn));
	len = BN_bn2bin(bn, buf);
	text = rsa_jwks(buf, (size_t)len);
	assert_int_equal(parse(text, &j, err, sizeof(err)), POT_ERR_MALFORMED);
	assert_non_null(strstr(err, "has 1024 bits, not 2048 to 8192"));
	free(text);
	BN_free(bn);
	EVP_PKEY_free(k);
}

/* The size is counted in bits, not bytes: 256 bytes whose top bit is clear are 2047 bits. */
static void
test_rsa_bits_exact(void **state)
{
	unsigned char n[256];
	struct pot_jwks *j;
	char err[256], *text;

	(void)state;
	memset(n, 0xa5, sizeof(n));
	n[0] = 0x7f;
	text = rsa_jwks(n, sizeof(n));
	assert_int_equal(parse(text, &j, err, sizeof(err)), POT_ERR_MALFORMED);
	assert_non_null(strstr(err, "has 2047 bits"));
	free(text);
}

/* A modulus above 8192 bits is refused before OpenSSL spends a primality test on it. */
static void
test_rsa_too_big(void **state)
{
	static unsigned char n[8192 / 8 + 1];
	struct pot_jwks *j;
	char err[256], *text;

	(void)state;
	memset(n, 0xa5, sizeof(n));
	n[0] = 0x01;			/* 8193 bits */
	text = rsa_jwks(n, sizeof(n));
	assert_int_equal(parse(text, &j, err, sizeof(err)), POT_ERR_MALFORMED);
	assert_null(j);
	assert_non_null(strstr(err, "has 8193 bits, not 2048 to 8192"));
	free(text);
	/* 8192 bits pass the size check and reach OpenSSL's (this n is not a valid modulus) */
	text = rsa_jwks(n + 1, sizeof(n) - 1);
	assert_int_equal(parse(text, &j, err, sizeof(err)), POT_ERR_MALFORMED);
	assert_null(strstr(err, "bits"));
	assert_non_null(strstr(err, "rejected by OpenSSL"));
	free(text);
}

/* No more keys than potd's keystore can hold, each of which costs a key check. */
static void
test_too_many_keys(void **state)
{
	EVP_PKEY *k = mint_key(POT_ALG_ES256);
	struct pot_jwks *j;
	char err[256], *text;
	json_t *jwk, *keys = json_array(), *set;
	size_t i;

	(void)state;
	assert_int_equal(pot_jwk_public(k, &jwk), POT_OK);
	for (i = 0; i < POT_JWKS_MAX_KEYS; i++)
		json_array_append(keys, jwk);
	set = json_pack("{s:O}", "keys", keys);
	text = json_dumps(set, 0);
	assert_int_equal(parse(text, &j, err, sizeof(err)), POT_OK);
	assert_int_equal(j->nkeys, POT_JWKS_MAX_KEYS);
	pot_jwks_free(j);
	free(text);
	json_decref(set);
	json_array_append(keys, jwk);
	set = json_pack("{s:O}", "keys", keys);
	text = json_dumps(set, 0);
	assert_int_equal(parse(text, &j, err, sizeof(err)), POT_ERR_MALFORMED);
	assert_null(j);
	assert_non_null(strstr(err, "257 keys, more than 256"));
	free(text);
	json_decref(set);
	json_decref(keys);
	json_decref(jwk);
	EVP_PKEY_free(k);
}

static void
test_not_a_jwks(void **state)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[1]}", "{\"keys\":[],\"keys\":[]}",
		"{\"keys\":[]} trailing",
	};
	struct pot_jwks *j;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &j, err, sizeof(err)) == POT_OK)
			pot_fail_msg("accepted `%s`", bad[i]);
	assert_int_equal(parse("{\"keys\":[]}", &j, err, sizeof(err)), POT_OK);
	assert_int_equal(j->nkeys, 0);
	pot_jwks_free(j);
}

static void
test_keyring(void **state)
{
	char dir[] = "/tmp/pot-kr-XXXXXX", a[600], b[600], err[512];
	EVP_PKEY *ka = mint_key(POT_ALG_ES256), *kb = mint_key(POT_ALG_RS256), *kc = mint_key(POT_ALG_ES256);
	const char *iss[] = { "https://a", "https://b" }, *paths[] = { a, b };
	struct pot_keyring *kr = pot_keyring_new();
	char *kid_a = mint_kid(ka), *kid_b = mint_kid(kb), *kid_c = mint_kid(kc);
	const struct pot_key *k;
	size_t pos = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.json", dir);
	snprintf(b, sizeof(b), "%s/b.json", dir);
	mint_write_jwks(a, &ka, 1);
	mint_write_jwks(b, &kb, 1);
	assert_int_equal(pot_keyring_sync(kr, iss, paths, 2, err, sizeof(err)), POT_OK);
	assert_non_null(k = pot_keyring_find(kr, kid_a, &pos));
	assert_string_equal(k->issuer, "https://a");		/* each key vouches for its own issuer */
	assert_null(pot_keyring_find(kr, kid_a, &pos));
	pos = 0;
	assert_non_null(k = pot_keyring_find(kr, kid_b, &pos));
	assert_string_equal(k->issuer, "https://b");
	pos = 0;
	assert_null(pot_keyring_find(kr, kid_c, &pos));
	/* a changed file is re-read */
	mint_write_jwks(a, &kc, 1);
	assert_int_equal(pot_keyring_sync(kr, iss, paths, 2, err, sizeof(err)), POT_OK);
	pos = 0;
	assert_non_null(pot_keyring_find(kr, kid_c, &pos));
	pos = 0;
	assert_null(pot_keyring_find(kr, kid_a, &pos));
	/* a broken file drops its issuer's keys, not the others' */
	mint_write_file(a, "{\"keys\":", 0644);
	assert_int_not_equal(pot_keyring_sync(kr, iss, paths, 2, err, sizeof(err)), POT_OK);
	assert_non_null(strstr(err, a));
	pos = 0;
	assert_null(pot_keyring_find(kr, kid_c, &pos));
	pos = 0;
	assert_non_null(pot_keyring_find(kr, kid_b, &pos));
	/* and it recovers */
	mint_write_jwks(a, &ka, 1);
	assert_int_equal(pot_keyring_sync(kr, iss, paths, 2, err, sizeof(err)), POT_OK);
	pos = 0;
	assert_non_null(pot_keyring_find(kr, kid_a, &pos));
	/* an issuer no longer configured is forgotten */
	assert_int_equal(pot_keyring_sync(kr, iss + 1, paths + 1, 1, err, sizeof(err)), POT_OK);
	pos = 0;
	assert_null(pot_keyring_find(kr, kid_a, &pos));
	unlink(a);
	unlink(b);
	rmdir(dir);
	pot_keyring_free(kr);
	pot_keyring_free(NULL);
	free(kid_a);
	free(kid_b);
	free(kid_c);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(kc);
}

static void
test_private_key_file(void **state)
{
	char dir[] = "/tmp/pot-pem-XXXXXX", p[600], err[512];
	EVP_PKEY *k = mint_key(POT_ALG_ES256), *got;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/key.pem", dir);
	mint_write_pem(p, k);
	assert_int_equal(pot_key_load_pem(p, &got, err, sizeof(err)), POT_OK);
	assert_int_equal(EVP_PKEY_eq(got, k), 1);
	EVP_PKEY_free(got);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(pot_key_load_pem(p, &got, err, sizeof(err)), POT_ERR_IO);
	assert_non_null(strstr(err, "readable by group or others"));
	unlink(p);
	rmdir(dir);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7638_vector),
		cmocka_unit_test(test_roundtrip_public_jwk),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_rsa_too_small),
		cmocka_unit_test(test_rsa_bits_exact),
		cmocka_unit_test(test_rsa_too_big),
		cmocka_unit_test(test_too_many_keys),
		cmocka_unit_test(test_not_a_jwks),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_private_key_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
