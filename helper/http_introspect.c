/*
 * http_introspect.c — POST /auth/v2/introspect (RFC 7662). Only confidential clients
 * registered with --introspect may ask (401 without authentication, 403 without the
 * permission). Anything not active answers exactly {"active":false}; a store that cannot
 * answer (a full disk, say) is a 503, never a claim that the token is inactive.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "potd.h"
#include "pot/err.h"
#include "pot/secret.h"
#include "pot/token.h"

static enum MHD_Result
inactive(struct MHD_Connection *c)
{
	return potd_reply_json(c, 200, json_pack("{s:b}", "active", 0));
}

static enum MHD_Result
store_failed(struct potd_req *r, struct MHD_Connection *c)
{
	syslog(LOG_ERR, "introspect: %s", pot_store_strerror(r->d->store));
	return potd_reply_error(c, 503, "temporarily_unavailable", "the token store is unavailable");
}

/* Is the grant named by the jti prefix ("<grant>.<random>") revoked? 1 yes (or unknown:
 * purged), 0 no, -1 the store failed. */
static int
grant_revoked(struct potd *d, const char *jti)
{
	char grant[POT_NAME_MAX];
	struct pot_grant g;
	const char *dot;
	int rc;

	if (jti == NULL || (dot = strchr(jti, '.')) == NULL || (size_t)(dot - jti) >= sizeof(grant))
		return 0;			/* client credentials: no grant */
	memcpy(grant, jti, (size_t)(dot - jti));
	grant[dot - jti] = '\0';
	if ((rc = pot_store_grant_get(d->store, grant, &g)) == POT_ERR_NOT_FOUND)
		return 1;
	return rc != POT_OK ? -1 : g.revoked;
}

static enum MHD_Result
introspect_rt(struct potd_req *r, struct MHD_Connection *c, const char *token)
{
	unsigned char id[POT_ID_LEN];
	struct pot_grant g;
	struct pot_rt rt;
	int64_t now = potd_now();

	int rc;

	if (!pot_secret_well_formed(token, POT_RT_PREFIX) ||
	    pot_secret_id(pot_keystore_pepper(r->d->ks), token, id) != POT_OK)
		return inactive(c);
	if ((rc = pot_store_rt_get(r->d->store, id, &rt)) != POT_OK)
		return rc == POT_ERR_NOT_FOUND ? inactive(c) : store_failed(r, c);
	if (rt.state != POT_RT_ACTIVE || now >= rt.expires || now >= rt.abs_expires)
		return inactive(c);
	if ((rc = pot_store_grant_get(r->d->store, rt.grant, &g)) != POT_OK)
		return rc == POT_ERR_NOT_FOUND ? inactive(c) : store_failed(r, c);
	if (g.revoked)
		return inactive(c);
	/* an RT is meant for potd's token endpoint: its audience is the issuer, never `audience` */
	return potd_reply_json(c, 200, json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}",
				"active", 1, "scope", rt.scope, "client_id", rt.client_id,
				"sub", rt.user, "exp", (json_int_t)rt.expires,
				"iat", (json_int_t)rt.created, "iss", r->d->conf->issuer,
				"aud", r->d->conf->issuer, "token_type", "refresh_token"));
}

static enum MHD_Result
introspect_at(struct potd_req *r, struct MHD_Connection *c, const char *token)
{
	struct pot_verify_opts o = { .audience = r->d->conf->audience, .user_claim = "sub",
				     .leeway = 0, .now = (time_t)potd_now() };
	struct pot_claims cl;
	enum MHD_Result ret;
	int rc;

	pthread_mutex_lock(&r->d->keyring_lock);
	rc = pot_keyring_sync(r->d->keyring, (const char *const *)&r->d->conf->issuer,
			      (const char *const *)&r->d->conf->jwks, 1, NULL, 0);
	if (rc == POT_OK)
		rc = pot_jwt_verify(r->d->keyring, token, strlen(token), &o, &cl);
	pthread_mutex_unlock(&r->d->keyring_lock);
	if (rc != POT_OK)
		return inactive(c);
	if ((rc = grant_revoked(r->d, cl.jti)) != 0) {
		pot_claims_free(&cl);
		return rc > 0 ? inactive(c) : store_failed(r, c);
	}
	ret = potd_reply_json(c, 200, json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}",
				"active", 1, "scope", cl.scope, "client_id", cl.client_id ? cl.client_id : "",
				"sub", cl.user, "exp", (json_int_t)cl.exp, "iat", (json_int_t)cl.iat,
				"iss", cl.iss, "aud", r->d->conf->audience, "token_type", "Bearer"));
	pot_claims_free(&cl);
	return ret;
}

enum MHD_Result
potd_introspect(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	const char *token = potd_form(r, "token");
	struct pot_client cl;
	enum potd_auth a;
	bool basic;

	(void)method;
	if ((a = potd_client_auth(r, c, false, &cl, &basic)) != POTD_AUTH_OK)
		return potd_reply_auth_error(c, a, basic);
	if (!cl.introspect)
		return potd_reply_error(c, 403, "access_denied", "this client may not introspect");
	if (token == NULL)
		return potd_reply_error(c, 400, "invalid_request", "token is required");
	if (strncmp(token, POT_RT_PREFIX, strlen(POT_RT_PREFIX)) == 0)
		return introspect_rt(r, c, token);
	return introspect_at(r, c, token);
}
