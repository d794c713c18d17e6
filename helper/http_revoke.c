/*
 * http_revoke.c — POST /auth/v2/revoke (RFC 7009). A refresh token is revoked with its
 * whole grant. Access tokens are self-contained and short-lived: unsupported_token_type.
 * An unknown or already revoked token answers 200; another client's token is refused
 * with 400 invalid_grant (§2.1 leaves the error to us) and stays valid.
 */
#include "config.h"

#include <string.h>
#include <syslog.h>

#include "potd.h"
#include "pot/err.h"
#include "pot/secret.h"

static bool
looks_like_jwt(const char *t)
{
	const char *d1 = strchr(t, '.');

	return strncmp(t, "eyJ", 3) == 0 && d1 != NULL && strchr(d1 + 1, '.') != NULL;
}

enum MHD_Result
potd_revoke(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	const char *token = potd_form(r, "token");
	unsigned char id[POT_ID_LEN];
	struct pot_client cl;
	struct pot_rt rt;
	enum potd_auth a;
	bool basic;
	int rc;

	(void)method;
	if ((a = potd_client_auth(r, c, true, &cl, &basic)) != POTD_AUTH_OK)
		return potd_reply_auth_error(c, a, basic);
	if (token == NULL)
		return potd_reply_error(c, 400, "invalid_request", "token is required");
	if (looks_like_jwt(token))
		return potd_reply_error(c, 400, "unsupported_token_type",
					"access tokens are short-lived and cannot be revoked");
	if (!pot_secret_well_formed(token, POT_RT_PREFIX) ||
	    pot_secret_id(pot_keystore_pepper(r->d->ks), token, id) != POT_OK)
		return potd_reply_json(c, 200, json_object());
	if ((rc = pot_store_rt_get(r->d->store, id, &rt)) == POT_ERR_NOT_FOUND)
		return potd_reply_json(c, 200, json_object());
	if (rc != POT_OK)
		return potd_reply_error(c, 503, "temporarily_unavailable", NULL);
	if (strcmp(rt.client_id, cl.id) != 0)
		return potd_reply_error(c, 400, "invalid_grant", "the token was issued to another client");
	if (rt.state != POT_RT_REVOKED) {
		if (pot_store_rt_revoke(r->d->store, id) != POT_OK)
			return potd_reply_error(c, 503, "temporarily_unavailable", NULL);
		potd_metrics_count(r->d->metrics, POTD_TOKENS_REVOKED);
		syslog(LOG_INFO, "revoke: client=%s user=%s grant=%s revoked", cl.id, rt.user, rt.grant);
	}
	return potd_reply_json(c, 200, json_object());
}
