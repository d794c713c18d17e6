/* http_meta.c — RFC 8414 metadata, the JWK Set, liveness and metrics. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "potd.h"
#include "pot/err.h"

static json_t *
endpoint(const struct potd *d, const char *path)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s", d->conf->issuer, path);
	return json_string(buf);
}

enum MHD_Result
potd_metadata(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	const struct potd *d = r->d;
	json_t *scopes = json_array(), *m;
	size_t i;

	(void)method;
	for (i = 0; scopes != NULL && i < d->conf->nscopes; i++)
		json_array_append_new(scopes, json_string(d->conf->scopes[i].scope));
	m = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:[s], s:[s], s:[s,s,s], s:[s,s,s],"
		      " s:[s,s,s], s:[s,s], s:[s], s:b, s:o}",
		      "issuer", d->conf->issuer,
		      "authorization_endpoint", endpoint(d, "/auth/v2/authorize"),
		      "token_endpoint", endpoint(d, "/auth/v2/token"),
		      "jwks_uri", endpoint(d, "/auth/v2/jwks"),
		      "revocation_endpoint", endpoint(d, "/auth/v2/revoke"),
		      "introspection_endpoint", endpoint(d, "/auth/v2/introspect"),
		      "response_types_supported", "code",
		      "response_modes_supported", "query",
		      "grant_types_supported", "authorization_code", "refresh_token", "client_credentials",
		      "token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "none",
		      /* a public client revokes its own tokens with its client_id alone (RFC 7009 §2.1) */
		      "revocation_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "none",
		      "introspection_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post",
		      "code_challenge_methods_supported", "S256",
		      "authorization_response_iss_parameter_supported", 1,
		      "scopes_supported", scopes);
	if (m == NULL)
		return MHD_NO;
	json_object_set_new(m, "access_token_signing_alg_values_supported", json_pack("[s,s]", "ES256", "RS256"));
	return potd_reply_json(c, 200, m);
}

enum MHD_Result
potd_jwks(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	struct potd *d = r->d;
	char *text, cache[64];
	unsigned long age = d->conf->key_activation_delay / 2;
	enum MHD_Result ret;
	json_t *j;

	(void)method;
	pthread_rwlock_rdlock(&d->ks_lock);
	j = pot_keystore_jwks(d->ks, potd_now());
	pthread_rwlock_unlock(&d->ks_lock);
	/* caches must see a new key before it signs: keep max-age under the activation delay */
	snprintf(cache, sizeof(cache), "public, max-age=%lu", age > 3600 ? 3600 : age);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return potd_reply_error(c, 500, "server_error", NULL);
	}
	json_decref(j);
	ret = potd_reply_text(c, 200, "application/jwk-set+json", text, cache);
	free(text);
	return ret;
}

enum MHD_Result
potd_healthz(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	struct pot_store_stats st;
	EVP_PKEY *key;
	const char *kid;
	int ok;

	(void)method;
	pthread_rwlock_rdlock(&r->d->ks_lock);
	ok = pot_keystore_signer(r->d->ks, potd_now(), &key, &kid) == POT_OK;
	pthread_rwlock_unlock(&r->d->ks_lock);
	if (!ok)
		return potd_reply_text(c, 503, "text/plain", "no signing key\n", "no-store");
	if (pot_store_stats(r->d->store, &st) != POT_OK)
		return potd_reply_text(c, 503, "text/plain", "store unavailable\n", "no-store");
	return potd_reply_text(c, 200, "text/plain", "ok\n", "no-store");
}

enum MHD_Result
potd_metrics_page(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	struct pot_store_stats st;
	enum MHD_Result ret;
	char *text;
	int have = pot_store_stats(r->d->store, &st) == POT_OK;

	(void)method;
	if ((text = potd_metrics_render(r->d->metrics, have ? &st : NULL)) == NULL)
		return MHD_NO;
	ret = potd_reply_text(c, 200, "text/plain; version=0.0.4", text, "no-store");
	free(text);
	return ret;
}
