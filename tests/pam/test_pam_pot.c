/*
 * test_pam_pot.c — pam_pot through libpam under pam_wrapper and nss_wrapper: every row of
 * DESIGN.md's PAM results table and every refusal as its own case. The service files
 * and users come from tests/run-test.sh (POT_RUN); nothing under /etc is read.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* cmocka 1.1.5 as Debian builds it does not export print_error, which fail_msg uses. */
#define pot_fail_msg(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fail(); } while (0)
#include <libpamtest.h>
#include <security/pam_appl.h>

#include "../common/mint.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"

#define ISS	"https://pot.test"
#define PLAT	"https://platform.test"
/* pam_marker.so, stacked after pam_pot, answers this when pam_pot returned PAM_IGNORE */
#define IGNORED	PAM_NO_MODULE_DATA

static const char *run_dir;
static EVP_PKEY *k_es, *k_rs, *k_plat, *k_other;
static char path_conf[512], path_jwks[512], path_plat[512];

static void
write_conf(const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "# pam_pot test configuration\n"
		 "issuer = " ISS "\n"
		 "audience = pot\n"
		 "jwks = %s\n"
		 "trust = " PLAT " %s\n"
		 "socket = %s/no-potd.sock\n"
		 "socket_timeout = 1\n"
		 "leeway = 30\n%s",
		 path_jwks, path_plat, run_dir, extra != NULL ? extra : "");
	mint_write_file(path_conf, text, 0644);
}

static void
write_keys(void)
{
	EVP_PKEY *pot_keys[] = { k_es, k_rs };

	mint_write_jwks(path_jwks, pot_keys, 2);
	mint_write_jwks(path_plat, &k_plat, 1);
}

static int
group_setup(void **state)
{
	char p[512];

	(void)state;
	if ((run_dir = getenv("POT_RUN")) == NULL) {
		fprintf(stderr, "POT_RUN is not set: run me through tests/run-test.sh\n");
		return -1;
	}
	snprintf(path_conf, sizeof(path_conf), "%s/pot.conf", run_dir);
	snprintf(path_jwks, sizeof(path_jwks), "%s/jwks.json", run_dir);
	snprintf(path_plat, sizeof(path_plat), "%s/platform.json", run_dir);
	k_es = mint_key(POT_ALG_ES256);
	k_rs = mint_key(POT_ALG_RS256);
	k_plat = mint_key(POT_ALG_ES256);
	k_other = mint_key(POT_ALG_ES256);
	write_keys();
	write_conf(NULL);
	snprintf(p, sizeof(p), "%s/bad.conf", run_dir);
	mint_write_file(p, "issuer = " ISS "\nfrobnicate = yes\n", 0644);
	snprintf(p, sizeof(p), "%s/es.pem", run_dir);
	mint_write_pem(p, k_es);
	snprintf(p, sizeof(p), "%s/rs.pem", run_dir);
	mint_write_pem(p, k_rs);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(k_es);
	EVP_PKEY_free(k_rs);
	EVP_PKEY_free(k_plat);
	EVP_PKEY_free(k_other);
	return 0;
}

/* --- token makers ------------------------------------------------------------------- */

static char *
header(EVP_PKEY *key, const char *typ)
{
	char *kid = mint_kid(key), *h;

	assert_true(asprintf(&h, "{\"alg\":\"%s\",\"typ\":\"%s\",\"kid\":\"%s\"}",
			     EVP_PKEY_is_a(key, "EC") ? "ES256" : "RS256", typ, kid) > 0);
	free(kid);
	return h;
}

/* Claims for `sub` with `scope`, exp now+exp_in, iss; `extra` spliced in (",\"k\":v"). */
static char *
payload(const char *iss, const char *sub, const char *scope, long exp_in, const char *extra)
{
	long long now = (long long)time(NULL);
	char *p;

	assert_true(asprintf(&p, "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"pot\",\"exp\":%lld,"
			     "\"iat\":%lld,\"jti\":\"jti-1\",\"client_id\":\"cli-1\","
			     "\"scope\":\"%s\"%s}", iss, sub, now + exp_in, now, scope,
			     extra != NULL ? extra : "") > 0);
	return p;
}

/* Signs hdr.payload with key, taking ownership of both strings. */
static char *
sign(EVP_PKEY *key, char *hdr, char *pl)
{
	char *t = mint_raw(hdr, pl, MINT_SIG_KEY, key, NULL, 0);

	free(hdr);
	free(pl);
	return t;
}

static char *
good_token(EVP_PKEY *key, const char *sub, const char *scope)
{
	return sign(key, header(key, "at+jwt"), payload(ISS, sub, scope, 600, NULL));
}

/* --- running PAM ---------------------------------------------------------------------- */

/* auth, then (unless acct == -1) account in the same handle. */
static void
expect(const char *service, const char *user, const char *token, int auth, int acct)
{
	const char *answers[] = { token, NULL };
	struct pamtest_conv_data conv = { .in_echo_off = answers };
	struct pam_testcase both[] = {
		pam_test(PAMTEST_AUTHENTICATE, auth),
		pam_test(PAMTEST_ACCOUNT, acct),
	};
	struct pam_testcase one[] = { pam_test(PAMTEST_AUTHENTICATE, auth) };
	enum pamtest_err e;

	if (acct == -1)
		e = run_pamtest(service, user, &conv, one, NULL);
	else
		e = run_pamtest(service, user, &conv, both, NULL);
	if (e != PAMTEST_ERR_OK) {
		const struct pam_testcase *f = acct == -1 ? pamtest_failed_case(one) :
					       pamtest_failed_case(both);

		if (f != NULL)
			pot_fail_msg("%s: op %d returned %d (%s), expected %d", service, f->pam_operation,
				 f->op_rv, pam_strerror(NULL, f->op_rv), f->expected_rv);
		pot_fail_msg("%s: %s", service, pamtest_strerror(e));
	}
}

/* Takes ownership of token. */
static void
expect_free(const char *service, const char *user, char *token, int auth, int acct)
{
	expect(service, user, token, auth, acct);
	free(token);
}

/* --- the PAM results table ---------------------------------------------------------- */

static void
test_good_es256(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", good_token(k_es, "alice", "login ssh"), PAM_SUCCESS,
		    PAM_SUCCESS);
}

static void
test_good_rs256(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", good_token(k_rs, "alice", "login"), PAM_SUCCESS,
		    PAM_SUCCESS);
}

static void
test_missing_scope(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", good_token(k_es, "alice", "ssh sudo"), PAM_PERM_DENIED,
		    PAM_PERM_DENIED);
}

static void
test_scope_prefix_is_not_scope(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", good_token(k_es, "alice", "logins xlogin log"),
		    PAM_PERM_DENIED, PAM_PERM_DENIED);
}

static void
test_account_without_token(void **state)
{
	struct pam_testcase t[] = { pam_test(PAMTEST_ACCOUNT, IGNORED) };
	struct pamtest_conv_data conv = { 0 };

	(void)state;
	assert_int_equal(run_pamtest("pot_login", "alice", &conv, t, NULL), PAMTEST_ERR_OK);
}

static void
test_bad_token_account_ignores(void **state)
{
	(void)state;
	expect("pot_login", "alice", "not-a-token", PAM_AUTH_ERR, IGNORED);
}

static void
test_other_user(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", good_token(k_es, "bob", "login"), PAM_AUTH_ERR, IGNORED);
}

/* a client credentials token: sub is the client, here named like a local account */
static void
test_client_credentials_token(void **state)
{
	long long now = (long long)time(NULL);
	char *pl;

	(void)state;
	assert_true(asprintf(&pl, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\","
			     "\"exp\":%lld,\"client_id\":\"alice\",\"scope\":\"login\"}", now + 600) > 0);
	expect_free("pot_login", "alice", sign(k_es, header(k_es, "at+jwt"), pl), PAM_AUTH_ERR, IGNORED);
}

static void
test_unknown_user(void **state)
{
	(void)state;
	expect_free("pot_login", "mallory", good_token(k_es, "mallory", "login"), PAM_USER_UNKNOWN, -1);
}

static void
test_refresh_token_unavailable(void **state)
{
	(void)state;
	expect("pot_login", "alice", "pot_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	       PAM_AUTHINFO_UNAVAIL, IGNORED);
}

static void
test_no_refresh(void **state)
{
	(void)state;
	expect("pot_norefresh", "alice", "pot_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	       PAM_AUTH_ERR, -1);
}

static void
test_service_errors(void **state)
{
	static const char *const services[] = {
		"pot_badarg", "pot_badval", "pot_badscope", "pot_badconf",
	};
	char *tok = good_token(k_es, "alice", "login");
	struct pamtest_conv_data conv = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		struct pam_testcase t[] = { pam_test(PAMTEST_ACCOUNT, PAM_SERVICE_ERR) };

		expect(services[i], "alice", tok, PAM_SERVICE_ERR, -1);
		assert_int_equal(run_pamtest(services[i], "alice", &conv, t, NULL), PAMTEST_ERR_OK);
	}
	expect("pot_noconf", "alice", tok, PAM_SERVICE_ERR, -1);
	free(tok);
}

static void
test_password_ignored(void **state)
{
	struct pam_testcase t[] = { pam_test(PAMTEST_CHAUTHTOK, IGNORED) };
	struct pamtest_conv_data conv = { 0 };

	(void)state;
	assert_int_equal(run_pamtest("pot_login", "alice", &conv, t, NULL), PAMTEST_ERR_OK);
}

static void
test_session_env(void **state)
{
	char *tok = good_token(k_es, "alice", "login extra");
	const char *answers[] = { tok, NULL };
	struct pamtest_conv_data conv = { .in_echo_off = answers };
	struct pam_testcase t[] = {
		pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
		pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
		pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
		pam_test(PAMTEST_GETENVLIST, 0),
		pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS),
	};
	char **env;
	int seen = 0;

	(void)state;
	assert_int_equal(run_pamtest("pot_login", "alice", &conv, t, NULL), PAMTEST_ERR_OK);
	for (env = t[3].case_out.envlist; env != NULL && *env != NULL; env++) {
		if (strcmp(*env, "POT_SUBJECT=alice") == 0 || strcmp(*env, "POT_SCOPE=login extra") == 0 ||
		    strcmp(*env, "POT_CLIENT_ID=cli-1") == 0 || strncmp(*env, "POT_EXPIRES=", 12) == 0)
			seen++;
	}
	assert_int_equal(seen, 4);
	pamtest_free_env(t[3].case_out.envlist);
	free(tok);
}

/* sshd authenticates in a child and keeps only its PAM environment: auth exports too */
static void
test_auth_exports_env(void **state)
{
	char *tok = good_token(k_es, "alice", "login");
	const char *answers[] = { tok, NULL };
	struct pamtest_conv_data conv = { .in_echo_off = answers };
	struct pam_testcase t[] = {
		pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
		pam_test(PAMTEST_GETENVLIST, 0),
	};
	char **env;
	int seen = 0;

	(void)state;
	assert_int_equal(run_pamtest("pot_login", "alice", &conv, t, NULL), PAMTEST_ERR_OK);
	for (env = t[1].case_out.envlist; env != NULL && *env != NULL; env++)
		if (strcmp(*env, "POT_SUBJECT=alice") == 0 || strcmp(*env, "POT_SCOPE=login") == 0)
			seen++;
	assert_int_equal(seen, 2);
	pamtest_free_env(t[1].case_out.envlist);
	free(tok);
}

static void
test_session_without_token(void **state)
{
	struct pam_testcase t[] = { pam_test(PAMTEST_OPEN_SESSION, IGNORED) };
	struct pamtest_conv_data conv = { 0 };

	(void)state;
	assert_int_equal(run_pamtest("pot_login", "alice", &conv, t, NULL), PAMTEST_ERR_OK);
}

/* --- options -------------------------------------------------------------------------- */

static void
test_default_scope_is_service(void **state)
{
	(void)state;
	expect_free("pot_default", "alice", good_token(k_es, "alice", "login"), PAM_PERM_DENIED, -1);
	expect_free("pot_default", "alice", good_token(k_es, "alice", "pot_default"), PAM_SUCCESS,
		    PAM_SUCCESS);
}

static void
test_scope_templates(void **state)
{
	char host[256], *dot, scope[400];

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	if ((dot = strchr(host, '.')) != NULL)
		*dot = '\0';
	snprintf(scope, sizeof(scope), "host-%s user-alice pot_tmpl", host);
	expect_free("pot_tmpl", "alice", good_token(k_es, "alice", scope), PAM_SUCCESS, PAM_SUCCESS);
	snprintf(scope, sizeof(scope), "host-%s user-bob pot_tmpl", host);
	expect_free("pot_tmpl", "alice", good_token(k_es, "alice", scope), PAM_PERM_DENIED, -1);
	expect_free("pot_tmpl", "alice", good_token(k_es, "alice", "user-alice pot_tmpl"),
		    PAM_PERM_DENIED, -1);
}

static void
test_account_line_scopes(void **state)
{
	(void)state;
	/* auth needs login, account needs login and admin */
	expect_free("pot_acctscope", "alice", good_token(k_es, "alice", "login"), PAM_SUCCESS,
		    PAM_PERM_DENIED);
	expect_free("pot_acctscope", "alice", good_token(k_es, "alice", "login admin"), PAM_SUCCESS,
		    PAM_SUCCESS);
}

static void
test_root(void **state)
{
	(void)state;
	expect_free("pot_noroot", "root", good_token(k_es, "root", "login"), PAM_PERM_DENIED, -1);
	expect_free("pot_root", "root", good_token(k_es, "root", "login"), PAM_SUCCESS, PAM_SUCCESS);
}

static void
test_use_first_pass(void **state)
{
	struct pamtest_conv_data conv = { 0 };
	struct pam_testcase t[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR) };

	(void)state;
	/* nothing stacked before us, so there is no PAM_AUTHTOK: refuse, do not prompt */
	assert_int_equal(run_pamtest("pot_usefirst", "alice", &conv, t, NULL), PAMTEST_ERR_OK);
	/* try_first_pass prompts when there is none */
	expect_free("pot_tryfirst", "alice", good_token(k_es, "alice", "login"), PAM_SUCCESS, -1);
}

static void
test_argument_overrides_config(void **state)
{
	long long now = (long long)time(NULL);
	char *pl;

	(void)state;
	/* pot.conf says audience = pot; the argument audience=other-aud wins */
	expect_free("pot_argover", "alice", good_token(k_es, "alice", "login"), PAM_AUTH_ERR, -1);
	assert_true(asprintf(&pl, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"other-aud\","
			     "\"exp\":%lld,\"scope\":\"login\"}", now + 600) > 0);
	expect_free("pot_argover", "alice", sign(k_es, header(k_es, "at+jwt"), pl), PAM_SUCCESS, -1);
}

/* --- refusals, each its own case ---------------------------------------------------- */

static void
test_alg_none(void **state)
{
	char *kid = mint_kid(k_es), *h, *pl = payload(ISS, "alice", "login", 600, NULL), *t;

	(void)state;
	assert_true(asprintf(&h, "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid) > 0);
	t = mint_raw(h, pl, MINT_SIG_NONE, NULL, NULL, 0);
	expect_free("pot_login", "alice", t, PAM_AUTH_ERR, IGNORED);
	free(h);
	free(pl);
	free(kid);
}

static void
test_hs256_keyed_with_pem(void **state)
{
	char *kid = mint_kid(k_es), *pem = mint_public_pem(k_es), *h, *pl, *t;

	(void)state;
	assert_true(asprintf(&h, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid) > 0);
	pl = payload(ISS, "alice", "login", 600, NULL);
	t = mint_raw(h, pl, MINT_SIG_HMAC, NULL, pem, strlen(pem));
	expect_free("pot_login", "alice", t, PAM_AUTH_ERR, IGNORED);
	free(h);
	free(pl);
	free(pem);
	free(kid);
}

static void
test_unknown_kid(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", good_token(k_other, "alice", "login"), PAM_AUTH_ERR, -1);
}

static void
test_kid_path_traversal(void **state)
{
	char *pl = payload(ISS, "alice", "login", 600, NULL);
	char *t = mint_raw("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"../../../../etc/passwd\"}",
			   pl, MINT_SIG_KEY, k_es, NULL, 0);

	(void)state;
	expect_free("pot_login", "alice", t, PAM_AUTH_ERR, -1);
	free(pl);
}

static void
test_payload_changed(void **state)
{
	char *t = good_token(k_es, "alice", "login");
	char *forged = payload(ISS, "alice", "login sudo", 600, NULL), *p64, *d1, *d2, *out;

	(void)state;
	assert_int_equal(pot_b64url_encode(forged, strlen(forged), &p64), 0);
	d1 = strchr(t, '.');
	d2 = strchr(d1 + 1, '.');
	*d1 = '\0';
	assert_true(asprintf(&out, "%s.%s%s", t, p64, d2) > 0);
	expect_free("pot_login", "alice", out, PAM_AUTH_ERR, -1);
	free(t);
	free(forged);
	free(p64);
}

static void
test_signature_of_another_key(void **state)
{
	/* the header names a trusted key; k_other signed it */
	char *h = header(k_es, "at+jwt"), *pl = payload(ISS, "alice", "login", 600, NULL);
	char *t = mint_raw(h, pl, MINT_SIG_KEY, k_other, NULL, 0);

	(void)state;
	expect_free("pot_login", "alice", t, PAM_AUTH_ERR, -1);
	free(h);
	free(pl);
}

static void
test_alg_not_the_keys(void **state)
{
	char *kid = mint_kid(k_es), *h;

	(void)state;
	/* RS256 claimed for an EC key, signed with the RSA key */
	assert_true(asprintf(&h, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid) > 0);
	expect_free("pot_login", "alice", sign(k_rs, h, payload(ISS, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
	free(kid);
}

static void
test_expired_beyond_leeway(void **state)
{
	(void)state;
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"), payload(ISS, "alice", "login", -60, NULL)),
		    PAM_AUTH_ERR, -1);
}

static void
test_expired_within_leeway(void **state)
{
	(void)state;
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"), payload(ISS, "alice", "login", -10, NULL)),
		    PAM_SUCCESS, -1);
}

static void
test_nbf_in_future(void **state)
{
	char extra[64];

	(void)state;
	snprintf(extra, sizeof(extra), ",\"nbf\":%lld", (long long)time(NULL) + 120);
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"), payload(ISS, "alice", "login", 600, extra)),
		    PAM_AUTH_ERR, -1);
	snprintf(extra, sizeof(extra), ",\"nbf\":%lld", (long long)time(NULL) + 10);
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"), payload(ISS, "alice", "login", 600, extra)),
		    PAM_SUCCESS, -1);
}

static void
test_iat_in_future(void **state)
{
	long long now = (long long)time(NULL);
	char *pl;

	(void)state;
	assert_true(asprintf(&pl, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\","
			     "\"exp\":%lld,\"iat\":%lld,\"scope\":\"login\"}", now + 600, now + 120) > 0);
	expect_free("pot_login", "alice", sign(k_es, header(k_es, "at+jwt"), pl), PAM_AUTH_ERR, -1);
}

static void
test_no_exp(void **state)
{
	char *pl = strdup("{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"pot\",\"scope\":\"login\"}");

	(void)state;
	expect_free("pot_login", "alice", sign(k_es, header(k_es, "at+jwt"), pl), PAM_AUTH_ERR, -1);
}

static char *
aud_token(const char *aud_json)
{
	long long now = (long long)time(NULL);
	char *pl;

	assert_true(asprintf(&pl, "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":%s,\"exp\":%lld,"
			     "\"scope\":\"login\"}", aud_json, now + 600) > 0);
	return sign(k_es, header(k_es, "at+jwt"), pl);
}

static void
test_wrong_audience(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", aud_token("\"other\""), PAM_AUTH_ERR, -1);
	expect_free("pot_login", "alice", aud_token("[\"a\",\"b\"]"), PAM_AUTH_ERR, -1);
	expect_free("pot_login", "alice", aud_token("null"), PAM_AUTH_ERR, -1);
}

static void
test_audience_array(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", aud_token("[\"other\",\"pot\"]"), PAM_SUCCESS, -1);
}

static void
test_untrusted_issuer(void **state)
{
	(void)state;
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"),
			 payload("https://evil.test", "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
}

static void
test_trusted_issuer_own_key(void **state)
{
	(void)state;
	expect_free("pot_login", "alice",
		    sign(k_plat, header(k_plat, "at+jwt"), payload(PLAT, "alice", "login", 600, NULL)),
		    PAM_SUCCESS, PAM_SUCCESS);
}

static void
test_issuer_with_other_issuers_key(void **state)
{
	(void)state;
	/* the platform's claim signed with pot's key, and the other way round */
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"), payload(PLAT, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
	expect_free("pot_login", "alice",
		    sign(k_plat, header(k_plat, "at+jwt"), payload(ISS, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
}

static void
test_duplicate_claims(void **state)
{
	(void)state;
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "at+jwt"),
			 payload(ISS, "bob", "login", 600, ",\"sub\":\"alice\"")),
		    PAM_AUTH_ERR, -1);
}

static void
test_duplicate_header(void **state)
{
	char *kid = mint_kid(k_es), *h;

	(void)state;
	assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"alg\":\"none\"}",
			     kid) > 0);
	expect_free("pot_login", "alice", sign(k_es, h, payload(ISS, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
	free(kid);
}

static void
test_whitespace_in_signature(void **state)
{
	static const char *const ws[] = { " ", "\n", "\t", "=" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
		char *t = good_token(k_es, "alice", "login"), *sig = strrchr(t, '.') + 1, *out;

		assert_true(asprintf(&out, "%.*s%s%s", (int)(sig - t + 10), t, ws[i], sig + 10) > 0);
		expect_free("pot_login", "alice", out, PAM_AUTH_ERR, -1);
		free(t);
	}
}

static void
test_padding_in_segment(void **state)
{
	char *t = good_token(k_es, "alice", "login"), *out;

	(void)state;
	assert_true(asprintf(&out, "%s==", t) > 0);
	expect_free("pot_login", "alice", out, PAM_AUTH_ERR, -1);
	free(t);
}

static void
test_crit_header(void **state)
{
	char *kid = mint_kid(k_es), *h;

	(void)state;
	assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\","
			     "\"crit\":[\"exp\"]}", kid) > 0);
	expect_free("pot_login", "alice", sign(k_es, h, payload(ISS, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
	free(kid);
}

static void
test_typ(void **state)
{
	char *kid = mint_kid(k_es), *h;

	(void)state;
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "dpop+jwt"), payload(ISS, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
	expect_free("pot_login", "alice",
		    sign(k_es, header(k_es, "JWT"), payload(ISS, "alice", "login", 600, NULL)),
		    PAM_SUCCESS, -1);
	assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid) > 0);
	expect_free("pot_login", "alice", sign(k_es, h, payload(ISS, "alice", "login", 600, NULL)),
		    PAM_AUTH_ERR, -1);
	free(kid);
}

static void
test_junk_100k(void **state)
{
	char *junk = malloc(100 * 1024 + 1);

	(void)state;
	assert_non_null(junk);
	memset(junk, 'A', 100 * 1024);
	junk[100 * 1024] = '\0';
	junk[5000] = '.';
	junk[9000] = '.';
	expect_free("pot_login", "alice", junk, PAM_AUTH_ERR, IGNORED);
}

static void
test_empty_token(void **state)
{
	(void)state;
	expect("pot_login", "alice", "", PAM_AUTH_ERR, IGNORED);
	expect("pot_login", "alice", "..", PAM_AUTH_ERR, -1);
}

/* --- files ----------------------------------------------------------------------------- */

static void
test_jwks_reloaded_on_change(void **state)
{
	EVP_PKEY *fresh = mint_key(POT_ALG_ES256);
	EVP_PKEY *keys[] = { fresh };
	char *old_tok = good_token(k_es, "alice", "login"), *new_tok = good_token(fresh, "alice", "login");

	(void)state;
	expect("pot_login", "alice", old_tok, PAM_SUCCESS, -1);
	expect("pot_login", "alice", new_tok, PAM_AUTH_ERR, -1);
	mint_write_jwks(path_jwks, keys, 1);	/* replaced atomically: new inode */
	expect("pot_login", "alice", new_tok, PAM_SUCCESS, -1);
	expect("pot_login", "alice", old_tok, PAM_AUTH_ERR, -1);
	write_keys();
	expect("pot_login", "alice", old_tok, PAM_SUCCESS, -1);
	free(old_tok);
	free(new_tok);
	EVP_PKEY_free(fresh);
}

static void
test_jwks_unsafe_mode(void **state)
{
	char *tok = good_token(k_es, "alice", "login");

	(void)state;
	assert_int_equal(chmod(path_jwks, 0664), 0);
	expect("pot_login", "alice", tok, PAM_AUTH_ERR, -1);
	assert_int_equal(chmod(path_jwks, 0644), 0);
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	free(tok);
}

static void
test_jwks_corrupt_fails_closed(void **state)
{
	char *tok = good_token(k_es, "alice", "login");

	(void)state;
	mint_write_file(path_jwks, "{\"keys\":[{\"kty\":\"EC\",", 0644);
	expect("pot_login", "alice", tok, PAM_AUTH_ERR, -1);
	write_keys();
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	free(tok);
}

/* Truncated in place (same inode), cut in half, deleted: refused each time, and logins
 * come back as soon as the file is good again. */
static void
test_jwks_truncated_or_missing_fails_closed(void **state)
{
	char *tok = good_token(k_es, "alice", "login");
	struct stat st;

	(void)state;
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	assert_int_equal(truncate(path_jwks, 0), 0);
	expect("pot_login", "alice", tok, PAM_AUTH_ERR, -1);
	write_keys();
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	assert_int_equal(stat(path_jwks, &st), 0);
	assert_int_equal(truncate(path_jwks, st.st_size / 2), 0);
	expect("pot_login", "alice", tok, PAM_AUTH_ERR, -1);
	write_keys();
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	assert_int_equal(unlink(path_jwks), 0);
	expect("pot_login", "alice", tok, PAM_AUTH_ERR, -1);
	write_keys();
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	free(tok);
}

static void
test_config_unsafe(void **state)
{
	char *tok = good_token(k_es, "alice", "login"), link[600];

	(void)state;
	assert_int_equal(chmod(path_conf, 0666), 0);
	expect("pot_login", "alice", tok, PAM_SERVICE_ERR, -1);
	assert_int_equal(chmod(path_conf, 0644), 0);
	/* a symbolic link in place of the file */
	snprintf(link, sizeof(link), "%s.real", path_conf);
	assert_int_equal(rename(path_conf, link), 0);
	assert_int_equal(symlink(link, path_conf), 0);
	expect("pot_login", "alice", tok, PAM_SERVICE_ERR, -1);
	assert_int_equal(unlink(path_conf), 0);
	assert_int_equal(rename(link, path_conf), 0);
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	free(tok);
}

static void
test_bad_config_value(void **state)
{
	char *tok = good_token(k_es, "alice", "login");

	(void)state;
	write_conf("leeway = 9999\n");
	expect("pot_login", "alice", tok, PAM_SERVICE_ERR, -1);
	write_conf("leeway\n");
	expect("pot_login", "alice", tok, PAM_SERVICE_ERR, -1);
	write_conf(NULL);
	expect("pot_login", "alice", tok, PAM_SUCCESS, -1);
	free(tok);
}

/* --- sudo's 511-byte limit ---------------------------------------------------------- */

struct sudo_conv {
	const char *answer;
	char error[512];
};

/* Behaves like sudo's converse(): an answer of 512 bytes or more fails the conversation. */
static int
sudo_like_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct sudo_conv *sc = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_ERROR_MSG) {
			snprintf(sc->error, sizeof(sc->error), "%s", msg[i]->msg);
		} else if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
			if (strlen(sc->answer) >= 512) {
				free(r);
				return PAM_CONV_ERR;
			}
			r[i].resp = strdup(sc->answer);
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void
test_sudo_long_token(void **state)
{
	char *rs = good_token(k_rs, "alice", "sudo"), *es = good_token(k_es, "alice", "sudo");
	struct sudo_conv sc = { .answer = rs };
	struct pam_testcase t[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_CONV_ERR) };
	struct pam_testcase ok[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS) };

	(void)state;
	assert_true(strlen(rs) > 511);
	assert_true(strlen(es) < 512);
	assert_int_equal(_pamtest_conv("sudo-test", "alice", sudo_like_conv, &sc, t, 1, NULL),
			 PAMTEST_ERR_OK);
	assert_non_null(strstr(sc.error, "token too long for sudo (511 bytes max)"));
	sc.answer = es;
	sc.error[0] = '\0';
	assert_int_equal(_pamtest_conv("sudo-test", "alice", sudo_like_conv, &sc, ok, 1, NULL),
			 PAMTEST_ERR_OK);
	assert_string_equal(sc.error, "");
	free(rs);
	free(es);
}

static void
test_missing_scope_tells_user(void **state)
{
	char *tok = good_token(k_es, "alice", "ssh");
	struct sudo_conv sc = { .answer = tok };
	struct pam_testcase t[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_PERM_DENIED) };

	(void)state;
	assert_int_equal(_pamtest_conv("pot_login", "alice", sudo_like_conv, &sc, t, 1, NULL),
			 PAMTEST_ERR_OK);
	assert_string_equal(sc.error, "pam_pot: the token lacks scope \"login\"");
	free(tok);
}

/* --- tokens minted by PyJWT, an implementation we did not write ---------------------- */

static char *
pyjwt_token(const char *pem, EVP_PKEY *key, const char *alg, const char *typ, const char *scope)
{
	char cmd[2048], buf[4096], *kid = mint_kid(key);
	FILE *p;
	size_t n;

	/* python runs without the wrappers: no pam_wrapper directory of its own to race for */
	snprintf(cmd, sizeof(cmd), "env -u LD_PRELOAD -u PAM_WRAPPER '%s' '%s/tests/interop/pyjwt_mint.py' --key '%s/%s' --kid '%s' "
		 "--alg %s --typ %s --iss " ISS " --aud pot --sub alice --scope '%s' --exp-in 600",
		 PYTHON3, TOP_SRCDIR, run_dir, pem, kid, alg, typ, scope);
	free(kid);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, p);
	assert_int_equal(pclose(p), 0);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	assert_true(n > 100);
	return strdup(buf);
}

static void
test_pyjwt_tokens(void **state)
{
	(void)state;
	expect_free("pot_login", "alice", pyjwt_token("es.pem", k_es, "ES256", "at+jwt", "login"),
		    PAM_SUCCESS, PAM_SUCCESS);
	expect_free("pot_login", "alice", pyjwt_token("rs.pem", k_rs, "RS256", "JWT", "login"),
		    PAM_SUCCESS, PAM_SUCCESS);
	expect_free("pot_login", "alice", pyjwt_token("es.pem", k_es, "ES256", "at+jwt", "ssh"),
		    PAM_PERM_DENIED, PAM_PERM_DENIED);
}

/* --- tokens minted by lib/'s own signer (pot_at_sign, as potd will) ------------------ */

static void
test_own_signer(void **state)
{
	struct pot_at_params p = {
		.iss = ISS, .sub = "alice", .aud = "pot", .client_id = "c", .scope = "login",
		.iat = (long long)time(NULL), .exp = (long long)time(NULL) + 600,
	};
	char *t;

	(void)state;
	assert_int_equal(pot_at_sign(k_es, &p, &t), 0);
	assert_true(strlen(t) < 512);
	expect_free("pot_login", "alice", t, PAM_SUCCESS, PAM_SUCCESS);
	assert_int_equal(pot_at_sign(k_rs, &p, &t), 0);
	expect_free("pot_login", "alice", t, PAM_SUCCESS, PAM_SUCCESS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_es256),
		cmocka_unit_test(test_good_rs256),
		cmocka_unit_test(test_missing_scope),
		cmocka_unit_test(test_scope_prefix_is_not_scope),
		cmocka_unit_test(test_account_without_token),
		cmocka_unit_test(test_bad_token_account_ignores),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_client_credentials_token),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_refresh_token_unavailable),
		cmocka_unit_test(test_no_refresh),
		cmocka_unit_test(test_service_errors),
		cmocka_unit_test(test_password_ignored),
		cmocka_unit_test(test_session_env),
		cmocka_unit_test(test_auth_exports_env),
		cmocka_unit_test(test_session_without_token),
		cmocka_unit_test(test_missing_scope_tells_user),
		cmocka_unit_test(test_default_scope_is_service),
		cmocka_unit_test(test_scope_templates),
		cmocka_unit_test(test_account_line_scopes),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_use_first_pass),
		cmocka_unit_test(test_argument_overrides_config),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_hs256_keyed_with_pem),
		cmocka_unit_test(test_unknown_kid),
		cmocka_unit_test(test_kid_path_traversal),
		cmocka_unit_test(test_payload_changed),
		cmocka_unit_test(test_signature_of_another_key),
		cmocka_unit_test(test_alg_not_the_keys),
		cmocka_unit_test(test_expired_beyond_leeway),
		cmocka_unit_test(test_expired_within_leeway),
		cmocka_unit_test(test_nbf_in_future),
		cmocka_unit_test(test_iat_in_future),
		cmocka_unit_test(test_no_exp),
		cmocka_unit_test(test_wrong_audience),
		cmocka_unit_test(test_audience_array),
		cmocka_unit_test(test_untrusted_issuer),
		cmocka_unit_test(test_trusted_issuer_own_key),
		cmocka_unit_test(test_issuer_with_other_issuers_key),
		cmocka_unit_test(test_duplicate_claims),
		cmocka_unit_test(test_duplicate_header),
		cmocka_unit_test(test_whitespace_in_signature),
		cmocka_unit_test(test_padding_in_segment),
		cmocka_unit_test(test_crit_header),
		cmocka_unit_test(test_typ),
		cmocka_unit_test(test_junk_100k),
		cmocka_unit_test(test_empty_token),
		cmocka_unit_test(test_jwks_reloaded_on_change),
		cmocka_unit_test(test_jwks_unsafe_mode),
		cmocka_unit_test(test_jwks_corrupt_fails_closed),
		cmocka_unit_test(test_jwks_truncated_or_missing_fails_closed),
		cmocka_unit_test(test_config_unsafe),
		cmocka_unit_test(test_bad_config_value),
		cmocka_unit_test(test_sudo_long_token),
		cmocka_unit_test(test_pyjwt_tokens),
		cmocka_unit_test(test_own_signer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
