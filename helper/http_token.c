/*
 * http_token.c — POST /auth/v2/token: authorization_code (PKCE S256 for every client),
 * refresh_token (sliding expiry; rotation per client with a 60 s idempotent grace; reuse
 * revokes the grant) and client_credentials (confidential clients; writes nothing).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "potd.h"
#include "pot/err.h"
#include "pot/secret.h"
#include "pot/token.h"
#include "pot/util.h"

#define REFRESH_GRACE	60

static enum MHD_Result
store_failed(struct potd_req *r, struct MHD_Connection *c, const char *what)
{
	syslog(LOG_ERR, "token: %s: %s", what, pot_store_strerror(r->d->store));
	return potd_reply_error(c, 503, "temporarily_unavailable", "the token store is unavailable");
}

static enum MHD_Result
invalid_grant(struct MHD_Connection *c, const char *why)
{
	return potd_reply_error(c, 400, "invalid_grant", why);
}

/* RFC 7636 §4.1: 43-128 characters of [A-Za-z0-9-._~]. */
static bool
verifier_ok(const char *v)
{
	size_t n = strlen(v), i;

	if (n < 43 || n > 128)
		return false;
	for (i = 0; i < n; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= '0' && v[i] <= '9') || strchr("-._~", v[i]) != NULL))
			return false;
	return true;
}

static bool
pkce_matches(const char *verifier, const char *challenge)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *got = NULL;
	bool ok;

	SHA256((const unsigned char *)verifier, strlen(verifier), md);
	if (pot_b64url_encode(md, sizeof(md), &got) != POT_OK)
		return false;
	ok = strlen(challenge) == strlen(got) && CRYPTO_memcmp(got, challenge, strlen(got)) == 0;
	free(got);
	return ok;
}

/* A fresh refresh token record for user/client in grant; the caller keeps the secret. */
static int
rt_new(struct potd *d, const char *token, const char *user, const char *client_id,
       const char *scope, const char *grant, int64_t auth_time, struct pot_rt *rt)
{
	int64_t now = potd_now();

	memset(rt, 0, sizeof(*rt));
	if (strlen(user) >= sizeof(rt->user) || strlen(client_id) >= sizeof(rt->client_id) ||
	    strlen(scope) >= sizeof(rt->scope) || strlen(grant) >= sizeof(rt->grant))
		return POT_ERR_TOO_LONG;
	strcpy(rt->user, user);
	strcpy(rt->client_id, client_id);
	strcpy(rt->scope, scope);
	strcpy(rt->grant, grant);
	rt->created = rt->last_used = now;
	rt->abs_expires = now + (int64_t)d->conf->refresh_max;
	rt->expires = now + (int64_t)d->conf->refresh_ttl;
	if (rt->expires > rt->abs_expires)
		rt->expires = rt->abs_expires;
	rt->auth_time = auth_time;
	rt->state = POT_RT_ACTIVE;
	return pot_secret_id(pot_keystore_pepper(d->ks), token, rt->id);
}

static enum MHD_Result
grant_code(struct potd_req *r, struct MHD_Connection *c, const struct pot_client *cl)
{
	const char *code = potd_form(r, "code"), *redirect = potd_form(r, "redirect_uri");
	const char *verifier = potd_form(r, "code_verifier");
	char rt_token[POT_SECRET_LEN + 1] = "", *at = NULL;
	struct pot_code rec;
	struct pot_rt rt;
	unsigned char id[POT_ID_LEN];
	bool want_rt = (cl->grants & POT_GRANT_REFRESH) != 0;
	int64_t expires_in;
	enum MHD_Result ret;
	int rc;

	if (code == NULL || redirect == NULL)
		return potd_reply_error(c, 400, "invalid_request", "code and redirect_uri are required");
	if (!pot_secret_well_formed(code, POT_CODE_PREFIX))
		return invalid_grant(c, "unknown code");
	if (pot_secret_id(pot_keystore_pepper(r->d->ks), code, id) != POT_OK)
		return potd_reply_error(c, 500, "server_error", NULL);
	if ((rc = pot_store_code_get(r->d->store, id, &rec)) == POT_ERR_NOT_FOUND)
		return invalid_grant(c, "unknown code");
	if (rc != POT_OK)
		return store_failed(r, c, "code lookup");
	if (strcmp(rec.client_id, cl->id) != 0)
		return invalid_grant(c, "the code was issued to another client");
	if (strcmp(rec.redirect_uri, redirect) != 0)
		return invalid_grant(c, "redirect_uri differs from the authorization request");
	if (verifier == NULL || !verifier_ok(verifier) || !pkce_matches(verifier, rec.challenge))
		return invalid_grant(c, "PKCE verification failed");
	if (want_rt && (pot_secret_generate(POT_RT_PREFIX, rt_token) != POT_OK ||
			rt_new(r->d, rt_token, rec.user, rec.client_id, rec.scope, rec.grant,
			       rec.auth_time, &rt) != POT_OK))
		return potd_reply_error(c, 500, "server_error", NULL);
	rc = pot_store_code_redeem(r->d->store, id, potd_now(), want_rt ? &rt : NULL, &rec);
	if (rc == POT_ERR_REPLAY) {
		potd_metrics_count(r->d->metrics, POTD_REUSE_DETECTED);
		syslog(LOG_WARNING, "token: authorization code reused by client %s for user %s: "
		       "grant %s revoked", cl->id, rec.user, rec.grant);
		ret = invalid_grant(c, "the code was already used; what it issued is revoked");
		goto out;
	}
	if (rc == POT_ERR_NOT_FOUND || rc == POT_ERR_EXPIRED || rc == POT_ERR_DENIED) {
		ret = invalid_grant(c, rc == POT_ERR_EXPIRED ? "the code expired" : "unknown code");
		goto out;
	}
	if (rc != POT_OK) {
		ret = store_failed(r, c, "code redemption");
		goto out;
	}
	if (potd_issue_at(r->d, rec.user, cl->id, rec.scope, rec.auth_time, rec.grant, &at,
			  &expires_in) != POT_OK) {
		ret = potd_reply_error(c, 500, "server_error", "cannot sign");
		goto out;
	}
	potd_metrics_count(r->d->metrics, POTD_TOKENS_ISSUED);
	syslog(LOG_INFO, "token: authorization_code client=%s user=%s scope=\"%s\" grant=%s",
	       cl->id, rec.user, rec.scope, rec.grant);
	ret = potd_reply_tokens(c, at, expires_in, rec.scope, want_rt ? rt_token : NULL);
out:
	pot_secret_free(at);
	pot_wipe(rt_token, sizeof(rt_token));
	return ret;
}

static enum MHD_Result
grant_refresh(struct potd_req *r, struct MHD_Connection *c, const struct pot_client *cl)
{
	const char *token = potd_form(r, "refresh_token"), *scope = potd_form(r, "scope");
	struct pot_refresh_policy pol = { .now = potd_now(), .ttl = (int64_t)r->d->conf->refresh_ttl,
					  .grace = REFRESH_GRACE, .rotate = cl->rotate };
	char next_token[POT_SECRET_LEN + 1] = "", granted[POT_SCOPE_MAX], *at = NULL;
	const unsigned char *pepper = pot_keystore_pepper(r->d->ks);
	enum pot_refresh_outcome outcome;
	struct pot_rt cur, next;
	unsigned char id[POT_ID_LEN];
	int64_t expires_in;
	enum MHD_Result ret;
	int rc;

	if (token == NULL)
		return potd_reply_error(c, 400, "invalid_request", "refresh_token is required");
	if (!pot_secret_well_formed(token, POT_RT_PREFIX) || pot_secret_id(pepper, token, id) != POT_OK)
		return invalid_grant(c, "unknown refresh token");
	/*
	 * A narrower scope is checked before anything is written; without one, the refresh
	 * transaction checks the rest itself (client, state, expiry): one transaction, not two.
	 */
	if (scope != NULL) {
		if ((rc = pot_store_rt_get(r->d->store, id, &cur)) == POT_ERR_NOT_FOUND)
			return invalid_grant(c, "unknown refresh token");
		if (rc != POT_OK)
			return store_failed(r, c, "refresh token lookup");
		if (strcmp(cur.client_id, cl->id) != 0)
			return invalid_grant(c, "the refresh token was issued to another client");
		if (!potd_scope_subset(scope, cur.scope))
			return potd_reply_error(c, 400, "invalid_scope",
						"a refresh may only narrow the scope");
	}
	/* the successor is derived, so a lost response can be answered again within the grace */
	memset(&next, 0, sizeof(next));
	if (pot_secret_derive(pepper, "rt-successor", token, POT_RT_PREFIX, next_token) != POT_OK ||
	    pot_secret_id(pepper, next_token, next.id) != POT_OK)
		return potd_reply_error(c, 500, "server_error", NULL);
	rc = pot_store_rt_refresh(r->d->store, id, cl->id, &pol, &next, &cur, &outcome);
	if (rc == POT_ERR_REPLAY) {
		potd_metrics_count(r->d->metrics, POTD_REUSE_DETECTED);
		syslog(LOG_WARNING, "token: superseded refresh token reused by client %s for user %s: "
		       "grant %s revoked", cl->id, cur.user, cur.grant);
		ret = invalid_grant(c, "the refresh token was superseded; its grant is revoked");
		goto out;
	}
	if (rc == POT_ERR_NOT_FOUND) {
		ret = invalid_grant(c, "unknown refresh token");
		goto out;
	}
	if (rc == POT_ERR_DENIED && strcmp(cur.client_id, cl->id) != 0) {
		ret = invalid_grant(c, "the refresh token was issued to another client");
		goto out;
	}
	if (rc == POT_ERR_DENIED || rc == POT_ERR_EXPIRED) {
		ret = invalid_grant(c, rc == POT_ERR_EXPIRED ? "the refresh token expired" :
				    "the refresh token is revoked or unknown");
		goto out;
	}
	if (rc != POT_OK) {
		ret = store_failed(r, c, "refresh");
		goto out;
	}
	/* the scope.NAME rules as they are now: a user taken out of one is granted it no more */
	if (potd_scope_policy(r->d->conf, cur.user, scope != NULL ? scope : cur.scope, granted,
			      sizeof(granted)) != POT_OK) {
		ret = potd_reply_error(c, 500, "server_error", NULL);
		goto out;
	}
	if (potd_issue_at(r->d, cur.user, cl->id, granted, cur.auth_time, cur.grant, &at,
			  &expires_in) != POT_OK) {
		ret = potd_reply_error(c, 500, "server_error", "cannot sign");
		goto out;
	}
	potd_metrics_count(r->d->metrics, POTD_TOKENS_REFRESHED);
	syslog(LOG_DEBUG, "token: refresh_token client=%s user=%s grant=%s %s", cl->id, cur.user,
	       cur.grant, outcome == POT_REFRESH_SLID ? "slid" :
	       outcome == POT_REFRESH_ROTATED ? "rotated" : "re-answered within grace");
	ret = potd_reply_tokens(c, at, expires_in, granted,
				outcome == POT_REFRESH_SLID ? token : next_token);
out:
	pot_secret_free(at);
	pot_wipe(next_token, sizeof(next_token));
	return ret;
}

static enum MHD_Result
grant_client_credentials(struct potd_req *r, struct MHD_Connection *c, const struct pot_client *cl)
{
	const char *scope = potd_form(r, "scope");
	int64_t expires_in;
	enum MHD_Result ret;
	char *at = NULL;

	if (!cl->confidential)
		return potd_reply_error(c, 400, "unauthorized_client",
					"client_credentials needs a confidential client");
	if (scope != NULL && !potd_scope_subset(scope, cl->scope))
		return potd_reply_error(c, 400, "invalid_scope", "beyond the client's registered scope");
	if (scope == NULL)
		scope = cl->scope;
	if (potd_issue_at(r->d, cl->id, cl->id, scope, 0, NULL, &at, &expires_in) != POT_OK)
		return potd_reply_error(c, 500, "server_error", "cannot sign");
	potd_metrics_count(r->d->metrics, POTD_TOKENS_ISSUED);
	syslog(LOG_DEBUG, "token: client_credentials client=%s scope=\"%s\"", cl->id, scope);
	ret = potd_reply_tokens(c, at, expires_in, scope, NULL);	/* no RT (§4.4.3) */
	pot_secret_free(at);
	return ret;
}

enum MHD_Result
potd_token(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	const char *gt;
	struct pot_client cl;
	enum potd_auth a;
	unsigned need;
	bool basic;

	(void)method;
	if ((a = potd_client_auth(r, c, true, &cl, &basic)) != POTD_AUTH_OK)
		return potd_reply_auth_error(c, a, basic);
	if ((gt = potd_form(r, "grant_type")) == NULL)
		return potd_reply_error(c, 400, "invalid_request", "grant_type is required");
	if (strcmp(gt, "authorization_code") == 0)
		need = POT_GRANT_CODE;
	else if (strcmp(gt, "refresh_token") == 0)
		need = POT_GRANT_REFRESH;
	else if (strcmp(gt, "client_credentials") == 0)
		need = POT_GRANT_CLIENT_CREDENTIALS;
	else
		return potd_reply_error(c, 400, "unsupported_grant_type", NULL);
	if ((cl.grants & need) == 0)
		return potd_reply_error(c, 400, "unauthorized_client",
					"this grant type is not allowed for the client");
	if (need == POT_GRANT_CODE)
		return grant_code(r, c, &cl);
	if (need == POT_GRANT_REFRESH)
		return grant_refresh(r, c, &cl);
	return grant_client_credentials(r, c, &cl);
}
