/* test_jws.c — pot_jwt_verify: each refusal with its exact reason; the signer round trip. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_pre.h"
#include "../common/mint.h"
#include "pot/err.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"

/* table-driven cases use format strings from tables */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#define ISS "https://pot.test"

static EVP_PKEY *k_es, *k_rs, *k_other;
static char *kid_es, *kid_rs;
static struct pot_keyring *kr;
static char dir[] = "/tmp/pot-jws-XXXXXX", path[600];
static long long now;

static int
setup(void **state)
{
	EVP_PKEY *keys[2];
	const char *iss = ISS, *p = path;
	char err[256];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	keys[0] = k_es = mint_key(POT_ALG_ES256);
	keys[1] = k_rs = mint_key(POT_ALG_RS256);
	k_other = mint_key(POT_ALG_ES256);
	kid_es = mint_kid(k_es);
	kid_rs = mint_kid(k_rs);
	snprintf(path, sizeof(path), "%s/jwks.json", dir);
	mint_write_jwks(path, keys, 2);
	kr = pot_keyring_new();
	now = (long long)time(NULL);
	return pot_keyring_sync(kr, &iss, &p, 1, err, sizeof(err));
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	pot_keyring_free(kr);
	EVP_PKEY_free(k_es);
	EVP_PKEY_free(k_rs);
	EVP_PKEY_free(k_other);
	free(kid_es);
	free(kid_rs);
	return 0;
}

static int
verify(const char *tok, struct pot_claims *c)
{
	struct pot_verify_opts o = { .audience = "pot", .user_claim = "sub", .leeway = 30,
				     .now = (time_t)now };

	return pot_jwt_verify(kr, tok, strlen(tok), &o, c);
}

/* Verifies hdr.payload signed by key and returns the result code. */
static int
check(const char *hdr, const char *payload, EVP_PKEY *key)
{
	struct pot_claims c;
	char *t = mint_raw(hdr, payload, MINT_SIG_KEY, key, NULL, 0);
	int r = verify(t, &c);

	pot_claims_free(&c);
	free(t);
	return r;
}

static char *
hdr_es(const char *extra)
{
	char *h;

	assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"%s}", kid_es,
			     extra) > 0);
	return h;
}

static char *
claims(const char *fmt_extra)
{
	char *p;

	assert_true(asprintf(&p, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld,"
			     "\"scope\":\"a b\"%s}", now + 600, fmt_extra) > 0);
	return p;
}

static void
test_good_claims(void **state)
{
	char *h = hdr_es(""), *p = claims(",\"jti\":\"j1\",\"client_id\":\"c1\",\"iat\":1");
	char *t = mint_raw(h, p, MINT_SIG_KEY, k_es, NULL, 0);
	struct pot_claims c;

	(void)state;
	assert_int_equal(verify(t, &c), POT_OK);
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.iss, ISS);
	assert_string_equal(c.scope, "a b");
	assert_string_equal(c.jti, "j1");
	assert_string_equal(c.client_id, "c1");
	assert_string_equal(c.kid, kid_es);
	assert_int_equal(c.exp, now + 600);
	pot_claims_free(&c);
	pot_claims_free(NULL);
	free(t);
	free(h);
	free(p);
}

static void
test_header_refusals(void **state)
{
	static const struct { const char *fmt; int want; } cases[] = {
		{ "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", POT_ERR_ALG },
		{ "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", POT_ERR_ALG },
		{ "{\"alg\":\"PS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", POT_ERR_ALG },
		{ "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", POT_ERR_ALG },
		{ "{\"alg\":\"ES256\",\"typ\":\"dpop+jwt\",\"kid\":\"%s\"}", POT_ERR_HEADER },
		{ "{\"alg\":\"ES256\",\"kid\":\"%s\"}", POT_ERR_HEADER },
		{ "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"crit\":[\"b64\"]}", POT_ERR_HEADER },
		{ "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"x%s\"}", POT_ERR_UNKNOWN_KEY },
		{ "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", POT_ERR_UNKNOWN_KEY },
		{ "{\"typ\":\"at+jwt\",\"kid\":\"%s\"}", POT_ERR_MALFORMED },
		{ "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", POT_ERR_MALFORMED },
		{ "[\"%s\"]", POT_ERR_MALFORMED },
	};
	char *h, *p = claims("");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		assert_true(asprintf(&h, cases[i].fmt, kid_es) > 0);
		if ((r = check(h, p, k_es)) != cases[i].want)
			pot_fail_msg("case %zu (%s): %s, want %s", i, h, pot_strerror(r),
				     pot_strerror(cases[i].want));
		free(h);
	}
	free(p);
}

static void
test_claim_refusals(void **state)
{
	static const struct { const char *payload; int want; } cases[] = {
		{ "{\"iss\":\"https://evil\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_ISSUER },
		{ "{\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_ISSUER },
		{ "{\"iss\":1,\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_ISSUER },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"other\",\"exp\":%lld}", POT_ERR_AUDIENCE },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"exp\":%lld}", POT_ERR_AUDIENCE },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":[\"a\",1],\"exp\":%lld}", POT_ERR_AUDIENCE },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\"}", POT_ERR_CLAIMS },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":\"%lld\"}", POT_ERR_CLAIMS },
		{ "{\"iss\":\"" ISS "\",\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_CLAIMS },
		{ "{\"iss\":\"" ISS "\",\"sub\":7,\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_CLAIMS },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld,\"scope\":[\"a\"]}", POT_ERR_CLAIMS },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"al\\u0000ice\",\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_MALFORMED },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"bob\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld}", POT_ERR_MALFORMED },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld} ", POT_OK },
		{ "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\",\"exp\":%lld}x", POT_ERR_MALFORMED },
	};
	char *h = hdr_es(""), *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		assert_true(asprintf(&p, cases[i].payload, now + 600) > 0);
		if ((r = check(h, p, k_es)) != cases[i].want)
			pot_fail_msg("case %zu (%s): %s, want %s", i, p, pot_strerror(r),
				     pot_strerror(cases[i].want));
		free(p);
	}
	free(h);
}

static void
test_times(void **state)
{
	static const struct { const char *fmt; long long a, b; int want; } cases[] = {
		{ ",\"exp\":%lld", -31, 0, POT_ERR_EXPIRED },
		{ ",\"exp\":%lld", -30, 0, POT_ERR_EXPIRED },	/* exp + leeway must be ahead */
		{ ",\"exp\":%lld", -29, 0, POT_OK },
		{ ",\"exp\":%lld,\"nbf\":%lld", 600, 31, POT_ERR_NOT_YET },
		{ ",\"exp\":%lld,\"nbf\":%lld", 600, 30, POT_OK },
		{ ",\"exp\":%lld,\"iat\":%lld", 600, 31, POT_ERR_NOT_YET },
		{ ",\"exp\":%lld,\"iat\":%lld", 600, -100, POT_OK },
		{ ",\"exp\":%lld.5", 600, 0, POT_OK },		/* NumericDate may have a fraction */
		{ ",\"exp\":-%lld", 0, 0, POT_ERR_CLAIMS },
	};
	char *h = hdr_es(""), *p, tail[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		snprintf(tail, sizeof(tail), cases[i].fmt, now + cases[i].a, now + cases[i].b);
		assert_true(asprintf(&p, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\"%s}", tail) > 0);
		if ((r = check(h, p, k_es)) != cases[i].want)
			pot_fail_msg("case %zu (%s): %s, want %s", i, p, pot_strerror(r),
				     pot_strerror(cases[i].want));
		free(p);
	}
	free(h);
}

static void
test_signature_refusals(void **state)
{
	char *h = hdr_es(""), *p = claims(""), *t, *bad;
	struct pot_claims c;
	size_t n;

	(void)state;
	/* another key's signature under our kid */
	assert_int_equal(check(h, p, k_other), POT_ERR_SIGNATURE);
	t = mint_raw(h, p, MINT_SIG_KEY, k_es, NULL, 0);
	n = strlen(t);
	/* one bit of the signature flipped */
	bad = strdup(t);
	bad[n - 5] = bad[n - 5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(bad, &c), POT_ERR_SIGNATURE);
	free(bad);
	/* truncated signature (ES256 needs exactly 64 bytes) */
	{
		const char *sig = strrchr(t, '.') + 1;
		unsigned char *raw;
		char *s63;
		size_t rawlen;

		assert_int_equal(pot_b64url_decode(sig, strlen(sig), &raw, &rawlen), POT_OK);
		assert_int_equal(rawlen, 64);
		assert_int_equal(pot_b64url_encode(raw, 63, &s63), POT_OK);
		assert_true(asprintf(&bad, "%.*s%s", (int)(sig - t), t, s63) > 0);
		assert_int_equal(verify(bad, &c), POT_ERR_SIGNATURE);
		free(bad);
		free(s63);
		free(raw);
	}
	/* no signature, extra segment, missing segment */
	bad = strndup(t, (size_t)(strrchr(t, '.') - t + 1));
	assert_int_equal(verify(bad, &c), POT_ERR_MALFORMED);
	free(bad);
	assert_true(asprintf(&bad, "%s.x", t) > 0);
	assert_int_equal(verify(bad, &c), POT_ERR_MALFORMED);
	free(bad);
	bad = strndup(t, (size_t)(strrchr(t, '.') - t));
	assert_int_equal(verify(bad, &c), POT_ERR_MALFORMED);
	free(bad);
	/* whitespace anywhere */
	assert_true(asprintf(&bad, "%.*s %s", (int)(n - 10), t, t + n - 10) > 0);
	assert_int_equal(verify(bad, &c), POT_ERR_MALFORMED);
	free(bad);
	/* HS256 keyed with the public key's PEM */
	{
		char *pem = mint_public_pem(k_es), *hh;

		assert_true(asprintf(&hh, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid_es) > 0);
		bad = mint_raw(hh, p, MINT_SIG_HMAC, NULL, pem, strlen(pem));
		assert_int_equal(verify(bad, &c), POT_ERR_ALG);
		free(bad);
		free(hh);
		free(pem);
	}
	/* too long */
	bad = calloc(1, POT_TOKEN_MAX + 2);
	memset(bad, 'A', POT_TOKEN_MAX + 1);
	assert_int_equal(verify(bad, &c), POT_ERR_TOO_LONG);
	free(bad);
	free(t);
	free(h);
	free(p);
}

static void
test_sign_roundtrip(void **state)
{
	struct pot_at_params prm = { .iss = ISS, .sub = "alice", .aud = "pot", .client_id = "c",
				     .scope = "ssh sudo", .iat = now, .exp = now + 600,
				     .auth_time = now - 5 };
	struct pot_claims c;
	char *t;

	(void)state;
	assert_int_equal(pot_at_sign(k_es, &prm, &t), POT_OK);
	assert_true(strlen(t) < 512);		/* fits sudo and libpam */
	assert_int_equal(verify(t, &c), POT_OK);
	assert_string_equal(c.scope, "ssh sudo");
	assert_int_equal(strlen(c.jti), 22);
	pot_claims_free(&c);
	free(t);
	assert_int_equal(pot_at_sign(k_rs, &prm, &t), POT_OK);
	assert_true(strlen(t) > 511);		/* RS256 does not fit sudo */
	assert_int_equal(verify(t, &c), POT_OK);
	pot_claims_free(&c);
	free(t);
	assert_int_equal(pot_at_sign(k_other, &prm, &t), POT_OK);
	assert_int_equal(verify(t, &c), POT_ERR_UNKNOWN_KEY);
	free(t);
}

static void
test_scope_has(void **state)
{
	(void)state;
	assert_true(pot_scope_has("ssh sudo", "sudo", 4));
	assert_true(pot_scope_has("  ssh   sudo ", "ssh", 3));
	assert_false(pot_scope_has("ssh sudoers", "sudo", 4));
	assert_false(pot_scope_has("xsudo", "sudo", 4));
	assert_false(pot_scope_has("", "sudo", 4));
	assert_false(pot_scope_has("sudo", "", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_claims),
		cmocka_unit_test(test_header_refusals),
		cmocka_unit_test(test_claim_refusals),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_signature_refusals),
		cmocka_unit_test(test_sign_roundtrip),
		cmocka_unit_test(test_scope_has),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
