/* auth.c — the module's core: get the token, verify it, decide, remember, log. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_pot.h"
#include "pot/err.h"
#include "pot/keys.h"
#include "pot/token.h"
#include "pot/util.h"

/*
 * Parsed keys live for the life of the process (the module is linked -z nodelete),
 * re-read when a file changes, so a login costs one stat per trusted issuer.
 */
static pthread_mutex_t keyring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pot_keyring *keyring;

static void
result_free(struct pot_result *res)
{
	if (res == NULL)
		return;
	free(res->user);
	free(res->sub);
	free(res->scope);
	free(res->client_id);
	free(res->jti);
	free(res);
}

static void
result_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	result_free(data);
}

static int
result_save(pam_handle_t *pamh, const char *user, const struct pot_claims *c,
	    const struct pot_result **saved)
{
	struct pot_result *res = calloc(1, sizeof(*res));

	if (res == NULL || (res->user = strdup(user)) == NULL ||
	    (res->sub = strdup(c->user)) == NULL || (res->scope = strdup(c->scope)) == NULL ||
	    (c->client_id != NULL && (res->client_id = strdup(c->client_id)) == NULL) ||
	    (c->jti != NULL && (res->jti = strdup(c->jti)) == NULL)) {
		result_free(res);
		return PAM_BUF_ERR;
	}
	res->exp = c->exp;
	if (pam_set_data(pamh, POT_DATA_RESULT, res, result_cleanup) != PAM_SUCCESS) {
		result_free(res);
		return PAM_BUF_ERR;
	}
	*saved = res;
	return PAM_SUCCESS;
}

static int
env_put(pam_handle_t *pamh, const char *name, const char *value)
{
	char *kv = NULL;
	int rc;

	if (asprintf(&kv, "%s=%s", name, value != NULL ? value : "") < 0)
		return PAM_BUF_ERR;
	rc = pam_putenv(pamh, kv);
	free(kv);
	return rc;
}

/* POT_SUBJECT, POT_SCOPE, POT_CLIENT_ID, POT_EXPIRES into the PAM environment. */
static int
env_export(pam_handle_t *pamh, const struct pot_result *res)
{
	char exp[24];
	int rc;

	snprintf(exp, sizeof(exp), "%lld", res->exp);
	if ((rc = env_put(pamh, "POT_SUBJECT", res->sub)) != PAM_SUCCESS ||
	    (rc = env_put(pamh, "POT_SCOPE", res->scope)) != PAM_SUCCESS ||
	    (rc = env_put(pamh, "POT_CLIENT_ID", res->client_id)) != PAM_SUCCESS ||
	    (rc = env_put(pamh, "POT_EXPIRES", exp)) != PAM_SUCCESS)
		return rc;
	return PAM_SUCCESS;
}

static bool
is_sudo(pam_handle_t *pamh)
{
	const void *service = NULL;

	(void)pam_get_item(pamh, PAM_SERVICE, &service);
	return (service != NULL && strncmp(service, "sudo", 4) == 0) ||
	       strcmp(program_invocation_short_name, "sudo") == 0;
}

/* The token: PAM_AUTHTOK (use_first_pass, try_first_pass) or asked for. */
static int
token_get(pam_handle_t *pamh, const struct pot_opts *o, char **tok)
{
	const void *item = NULL;
	char *resp = NULL;
	int rc;

	*tok = NULL;
	if (o->use_first_pass || o->try_first_pass) {
		if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != NULL)
			return (*tok = strdup(item)) != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
		if (o->use_first_pass)
			return PAM_AUTH_ERR;
	}
	rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", o->prompt);
	if (rc != PAM_SUCCESS || resp == NULL) {
		if (rc == PAM_CONV_ERR && is_sudo(pamh))
			pam_error(pamh, "no token read: token too long for sudo (%d bytes max)? "
				  "use a refresh token or `pot askpass`", POT_SUDO_MAX);
		pot_secret_free(resp);
		return rc != PAM_SUCCESS ? rc : PAM_CONV_ERR;
	}
	(void)pam_set_item(pamh, PAM_AUTHTOK, resp);	/* for later modules' use_first_pass */
	*tok = resp;
	return PAM_SUCCESS;
}

static int
keyring_sync(pam_handle_t *pamh, const struct pot_conf *c)
{
	const char **issuers = NULL, **paths = NULL;
	char why[512];
	size_t i;
	int r = POT_ERR_ALLOC;

	if ((keyring == NULL && (keyring = pot_keyring_new()) == NULL) ||
	    (issuers = calloc(c->ntrust + 1, sizeof(*issuers))) == NULL ||
	    (paths = calloc(c->ntrust + 1, sizeof(*paths))) == NULL)
		goto out;
	issuers[0] = c->issuer;
	paths[0] = c->jwks;
	for (i = 0; i < c->ntrust; i++) {
		issuers[i + 1] = c->trust[i].issuer;
		paths[i + 1] = c->trust[i].jwks;
	}
	r = pot_keyring_sync(keyring, issuers, paths, c->ntrust + 1, why, sizeof(why));
	if (r == POT_ERR_ALLOC)
		goto out;
	if (r != POT_OK)		/* that issuer's keys are gone: its tokens fail closed */
		pam_syslog(pamh, LOG_ERR, "trusted keys: %s", why);
	r = POT_OK;
out:
	free(issuers);
	free(paths);
	return r;
}

static int
token_verify(pam_handle_t *pamh, const struct pot_opts *o, const char *tok,
	     struct pot_claims *claims)
{
	struct pot_verify_opts vo = {
		.audience = o->conf.audience,
		.user_claim = o->conf.user_claim,
		.leeway = o->conf.leeway,
		.now = time(NULL),
	};
	int r;

	pthread_mutex_lock(&keyring_lock);
	if ((r = keyring_sync(pamh, &o->conf)) == POT_OK)
		r = pot_jwt_verify(keyring, tok, strlen(tok), &vo, claims);
	pthread_mutex_unlock(&keyring_lock);
	return r;
}

static int
pot_err_to_pam(int r)
{
	switch (r) {
	case POT_OK:			return PAM_SUCCESS;
	case POT_ERR_ALLOC:		return PAM_BUF_ERR;
	case POT_ERR_SCOPE:		return PAM_PERM_DENIED;
	case POT_ERR_UNAVAILABLE:	return PAM_AUTHINFO_UNAVAIL;
	case POT_ERR_CONFIG:		return PAM_SERVICE_ERR;
	}
	return PAM_AUTH_ERR;
}

/*
 * A refresh token is potd's to check, over its socket. Failures ask the application for
 * a delay (pam_fail_delay): online guesses stay slow whatever potd's own limits.
 */
static int
refresh_check(pam_handle_t *pamh, const struct pot_opts *o, const char *user, const char *tok,
	      struct pot_claims *claims)
{
	const char *why = NULL;
	char reason[400];
	int r, rc;

	if (o->no_refresh) {
		pot_log_decision(pamh, "auth", PAM_AUTH_ERR, "refresh token refused (no_refresh)",
				 user, NULL, NULL);
		return PAM_AUTH_ERR;
	}
	r = pot_refresh_check(pamh, o, user, tok, claims, &why);
	if (r == POT_OK)
		return PAM_SUCCESS;
	rc = r == POT_ERR_UNAVAILABLE ? PAM_AUTHINFO_UNAVAIL : r == POT_ERR_ALLOC ? PAM_BUF_ERR :
	     PAM_AUTH_ERR;
	if (rc == PAM_AUTH_ERR)
		(void)pam_fail_delay(pamh, 1000000);
	snprintf(reason, sizeof(reason), "refresh token: %s", why);
	pot_log_decision(pamh, "auth", rc, reason, user, NULL, NULL);
	return rc;
}

/* A verified token: the user it names, then the scopes this service needs. */
static int
claims_decide(pam_handle_t *pamh, const struct pot_opts *o, const char *user,
	      const struct pot_claims *c)
{
	char missing[256], reason[300];
	int rc;

	if (strcmp(c->user, user) != 0) {
		pot_log_decision(pamh, "auth", PAM_AUTH_ERR, pot_strerror(POT_ERR_USER), user,
				 c->jti, c->client_id);
		return PAM_AUTH_ERR;
	}
	/*
	 * A client credentials token names the client itself as its subject (RFC 9068 §2.2):
	 * a service called like a local account must not log in as that account.
	 */
	if (c->client_id != NULL && strcmp(c->client_id, c->user) == 0) {
		pot_log_decision(pamh, "auth", PAM_AUTH_ERR,
				 "a client's own token (sub = client_id), not a user's", user,
				 c->jti, c->client_id);
		return PAM_AUTH_ERR;
	}
	rc = pot_scopes_check(pamh, o->scope, user, c->scope, missing, sizeof(missing));
	if (rc == PAM_SUCCESS || rc == PAM_PERM_DENIED) {
		const struct pot_result *res = NULL;
		int r = result_save(pamh, user, c, &res);

		/*
		 * Export at auth too: sshd authenticates in a child and copies only its PAM
		 * environment back, so the session step never sees the saved result.
		 */
		if (r == PAM_SUCCESS && rc == PAM_SUCCESS)
			r = env_export(pamh, res);
		if (r != PAM_SUCCESS)
			rc = r;
	}
	if (rc == PAM_PERM_DENIED)	/* the holder knows its scopes: say which one is missing */
		pam_error(pamh, "pam_pot: the token lacks scope \"%s\"", missing);
	snprintf(reason, sizeof(reason), rc == PAM_PERM_DENIED ? "missing scope %s" : "%s",
		 rc == PAM_PERM_DENIED ? missing : rc == PAM_SUCCESS ? "ok" : "error");
	pot_log_decision(pamh, "auth", rc, reason, user, c->jti, c->client_id);
	return rc;
}

/* getpwnam_r with a buffer grown on ERANGE; *pw NULL when there is no such user. */
static int
user_lookup(const char *user, struct passwd *pwbuf, char **mem, struct passwd **pw)
{
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 4096;
	char *b;
	int e;

	*pw = NULL;
	for (;;) {
		if (size > 1024 * 1024 || (b = realloc(*mem, size)) == NULL)
			return PAM_BUF_ERR;
		*mem = b;
		e = getpwnam_r(user, pwbuf, b, size, pw);
		if (e != ERANGE)
			break;
		size *= 2;
	}
	if (e != 0 && e != ENOENT && e != ESRCH && e != EBADF && e != EPERM)
		return PAM_SYSTEM_ERR;		/* NSS failed: not a reason to say "unknown" */
	return PAM_SUCCESS;
}

int
pot_auth_run(pam_handle_t *pamh, const struct pot_opts *o)
{
	struct pot_claims claims = { 0 };
	struct passwd pwbuf, *pw = NULL;
	char *pwmem = NULL;
	const char *user = NULL;
	char *tok = NULL;
	int rc, r;

	if ((rc = pam_get_user(pamh, &user, NULL)) != PAM_SUCCESS || user == NULL || *user == '\0') {
		pot_log_decision(pamh, "auth", PAM_USER_UNKNOWN, "no user name", user, NULL, NULL);
		return rc == PAM_SUCCESS ? PAM_USER_UNKNOWN : rc;
	}
	/*
	 * Not pam_modutil_getpwnam: it stores every answer in the handle under a new name,
	 * so a program authenticating many times on one handle (a screen locker) pays more
	 * for each login than for the last.
	 */
	if ((rc = user_lookup(user, &pwbuf, &pwmem, &pw)) != PAM_SUCCESS) {
		pot_log_decision(pamh, "auth", rc, "user lookup failed", user, NULL, NULL);
		return rc;
	}
	if (pw != NULL && pw->pw_uid == 0 && !o->allow_root) {
		rc = PAM_PERM_DENIED;
		pot_log_decision(pamh, "auth", rc, "root not allowed (no allow_root)", user, NULL, NULL);
		goto out;
	}
	if ((rc = token_get(pamh, o, &tok)) != PAM_SUCCESS) {
		pot_log_decision(pamh, "auth", rc, "no token from the conversation", user, NULL, NULL);
		goto out;
	}
	if (pw == NULL) {		/* asked first, so that unknown names cost the same */
		rc = PAM_USER_UNKNOWN;
		pot_log_decision(pamh, "auth", rc, "unknown user", user, NULL, NULL);
		goto out;
	}
	if (pot_skip_prefix(tok, POT_RT_PREFIX) != NULL) {
		if ((rc = refresh_check(pamh, o, user, tok, &claims)) == PAM_SUCCESS)
			rc = claims_decide(pamh, o, user, &claims);
		goto out;
	}
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "got a %zu-byte answer for %s", strlen(tok), user);
	if ((r = token_verify(pamh, o, tok, &claims)) != POT_OK) {
		rc = pot_err_to_pam(r);
		pot_log_decision(pamh, "auth", rc, pot_strerror(r), user, NULL, NULL);
		goto out;
	}
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "verified kid=%s iss=%s exp=%lld scope=\"%s\"",
			   claims.kid, claims.iss, claims.exp, claims.scope);
	rc = claims_decide(pamh, o, user, &claims);
out:
	pot_claims_free(&claims);
	pot_secret_free(tok);
	free(pwmem);
	return rc;
}

int
pot_acct_run(pam_handle_t *pamh, const struct pot_opts *o)
{
	const struct pot_result *res = NULL;
	const void *data = NULL;
	const char *user = NULL;
	char missing[256], reason[300];
	int rc;

	if (pam_get_data(pamh, POT_DATA_RESULT, &data) != PAM_SUCCESS || data == NULL)
		return PAM_IGNORE;		/* no token seen in this handle */
	res = data;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    strcmp(user, res->user) != 0) {
		pot_log_decision(pamh, "account", PAM_PERM_DENIED, "user changed since auth", user,
				 res->jti, res->client_id);
		return PAM_PERM_DENIED;
	}
	rc = pot_scopes_check(pamh, o->scope, user, res->scope, missing, sizeof(missing));
	snprintf(reason, sizeof(reason), rc == PAM_PERM_DENIED ? "missing scope %s" : "%s",
		 rc == PAM_PERM_DENIED ? missing : rc == PAM_SUCCESS ? "ok" : "error");
	pot_log_decision(pamh, "account", rc, reason, user, res->jti, res->client_id);
	return rc;
}

int
pot_session_open(pam_handle_t *pamh, const struct pot_opts *o)
{
	const void *data = NULL;

	(void)o;
	if (pam_get_data(pamh, POT_DATA_RESULT, &data) != PAM_SUCCESS || data == NULL)
		return PAM_IGNORE;
	return env_export(pamh, data);
}
