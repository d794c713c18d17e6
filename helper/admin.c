/*
 * admin.c — the administration operations behind `pot client|key|tokens|purge`, run by
 * potd for its admin socket and by `pot` itself while potd is down.
 *
 * Each op accepts only its own members (an unknown or mistyped one is a usage error),
 * does one thing through the store or the keystore, and answers a JSON object with no
 * secret material but one: client_add's client_secret, which exists in clear only in
 * that reply (the store keeps its HMAC under the pepper). Replies are freed with
 * pot_admin_reply_free(), which wipes it.
 *
 *   client_add {name, scope, redirect_uris?:[], public?, first_party?, introspect?,
 *               no_rotate?, grants?:[]}	-> {client_id, client_secret (confidential only)}
 *   client_list {}			-> {clients:[{client_id, public, first_party, introspect,
 *					     rotate, grants[], scope, redirect_uris[], created}]}
 *   client_remove {client_id}		-> {client_id}
 *   key_new {alg?:"ES256"|"RS256", now?}	-> {kid, alg, activate_at}
 *   key_list {}			-> {keys:[{kid, alg, created, activate_at, retired_at,
 *					     drop_at, signing, state}]}
 *   key_retire {kid}			-> {kid, retired_at, drop_at}
 *   tokens_list {user?}		-> {tokens:[{id, user, client_id, scope, grant, state,
 *					     created, last_used, expires, abs_expires}]}
 *   tokens_revoke {id}			-> {id}  (64 hex digits, or a unique prefix of 8 or more)
 *   tokens_revoke_user {user}		-> {user, revoked}
 *   purge {}				-> {removed}
 * Every reply has "ok"; a failure has "error" and, for bad input, "usage": true.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "admin.h"
#include "pot/err.h"
#include "pot/secret.h"
#include "pot/util.h"

#define PURGE_BATCH		1000
#define REVOKE_PREFIX_MIN	8
#define HEX_ID_LEN		(2 * POT_ID_LEN)

/* --- replies ------------------------------------------------------------------------ */

static json_t *
reply_verror(bool usage, const char *fmt, va_list ap)
{
	char msg[512];
	json_t *rep;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if ((rep = json_pack("{s:b, s:s}", "ok", 0, "error", msg)) == NULL)
		return NULL;
	if (usage && json_object_set_new(rep, "usage", json_true()) != 0) {
		json_decref(rep);
		return NULL;
	}
	return rep;
}

json_t *
pot_admin_error(bool usage, const char *fmt, ...)
{
	va_list ap;
	json_t *rep;

	va_start(ap, fmt);
	rep = reply_verror(usage, fmt, ap);
	va_end(ap);
	return rep;
}

#define usage_error(...)	pot_admin_error(true, __VA_ARGS__)
#define fail(...)		pot_admin_error(false, __VA_ARGS__)

static json_t *
reply_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

/* Sets key on rep, or frees rep: the reply, or NULL (out of memory). */
static json_t *
reply_set(json_t *rep, const char *key, json_t *v)
{
	if (rep == NULL || v == NULL || json_object_set_new(rep, key, v) != 0) {
		json_decref(v);
		pot_admin_reply_free(rep);
		return NULL;
	}
	return rep;
}

/* The library's text for a failure of the store, which is never a secret. */
static json_t *
store_error(struct pot_admin *a, int r, const char *what)
{
	if (r == POT_ERR_STORE || r == POT_ERR_ALLOC)
		return fail("%s: %s", what, pot_store_strerror(a->store));
	return fail("%s: %s", what, pot_strerror(r));
}

void
pot_admin_reply_free(json_t *rep)
{
	json_t *v;
	char *p;

	if (rep == NULL)
		return;
	if ((v = json_object_get(rep, "client_secret")) != NULL && json_is_string(v)) {
		p = (char *)(uintptr_t)json_string_value(v);	/* jansson's own copy */
		pot_wipe(p, json_string_length(v));
	}
	json_decref(rep);
}

/* --- members of a request ------------------------------------------------------------- */

static bool
word_in(const char *list, const char *w)
{
	size_t n = strlen(w);
	const char *p = list;

	while ((p = strstr(p, w)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static json_t *
members_check(json_t *req, const char *op, const char *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(req, key, v) {
		if (strcmp(key, "op") != 0 && !word_in(allowed, key))
			return usage_error("%s: unknown member `%.64s`", op, key);
	}
	return NULL;
}

/* *out: the string member key, or NULL when absent or null. Error: a usage reply. */
static json_t *
get_string(json_t *req, const char *key, bool required, const char **out)
{
	json_t *v = json_object_get(req, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return required ? usage_error("`%s` is required", key) : NULL;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return usage_error("`%s` must be a string", key);
	*out = json_string_value(v);
	return NULL;
}

static json_t *
get_bool(json_t *req, const char *key, bool *out)
{
	json_t *v = json_object_get(req, key);

	*out = false;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_boolean(v))
		return usage_error("`%s` must be true or false", key);
	*out = json_is_true(v);
	return NULL;
}

/* *out: the array member key (borrowed), or NULL when absent. */
static json_t *
get_strings(json_t *req, const char *key, json_t **out)
{
	json_t *v = json_object_get(req, key), *e;
	size_t i;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_array(v))
		return usage_error("`%s` must be an array of strings", key);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
			return usage_error("`%s` must be an array of strings", key);
	}
	*out = v;
	return NULL;
}

/* --- locks ------------------------------------------------------------------------- */

static void
ks_read(struct pot_admin *a)
{
	if (a->ks_lock != NULL)
		pthread_rwlock_rdlock(a->ks_lock);
}

static void
ks_write(struct pot_admin *a)
{
	if (a->ks_lock != NULL)
		pthread_rwlock_wrlock(a->ks_lock);
}

static void
ks_unlock(struct pot_admin *a)
{
	if (a->ks_lock != NULL)
		pthread_rwlock_unlock(a->ks_lock);
}

static int64_t
admin_now(void)
{
	return (int64_t)time(NULL);
}

/* --- what a client may be ----------------------------------------------------------- */

/* [A-Za-z0-9._-]{1,64} */
static bool
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n < POT_NAME_MAX &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool
scope_char(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static bool
scope_has(const char *scope, const char *tok, size_t n)
{
	const char *p = scope, *end;

	while (*p != '\0') {
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) == n && memcmp(p, tok, n) == 0)
			return true;
		p = *end == ' ' ? end + 1 : end;
	}
	return false;
}

/* Space-separated scope tokens, each once, into out (single spaces). */
static json_t *
scope_parse(const char *in, char *out, size_t outlen)
{
	const char *p = in, *tok;
	size_t o = 0, n;

	out[0] = '\0';
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (tok = p; *p != '\0' && *p != ' '; p++) {
			if (!scope_char((unsigned char)*p))
				return usage_error("scope: character 0x%02x is not allowed in a scope "
						   "token (RFC 6749 section 3.3)", (unsigned char)*p);
		}
		n = (size_t)(p - tok);
		if (scope_has(out, tok, n))
			continue;
		if (o + (o != 0) + n >= outlen)
			return usage_error("scope: longer than %zu bytes", outlen - 1);
		if (o != 0)
			out[o++] = ' ';
		memcpy(out + o, tok, n);
		o += n;
		out[o] = '\0';
	}
	return o == 0 ? usage_error("scope: at least one scope is required") : NULL;
}

/* The host of an http(s) authority is loopback: 127.0.0.1, [::1] or localhost. */
static bool
host_loopback(const char *host, size_t n)
{
	return (n == 9 && memcmp(host, "127.0.0.1", 9) == 0) ||
	    (n == 5 && memcmp(host, "[::1]", 5) == 0) ||
	    (n == 9 && strncasecmp(host, "localhost", 9) == 0);
}

/* Splits //host[:port] after an http(s) scheme; false when malformed. */
static bool
authority_split(const char *rest, const char **host, size_t *hostlen)
{
	const char *auth, *end, *colon;
	size_t n;

	if ((auth = pot_skip_prefix(rest, "//")) == NULL)
		return false;
	n = strcspn(auth, "/?");
	if (n == 0 || memchr(auth, '@', n) != NULL)
		return false;			/* no host, or userinfo */
	end = auth + n;
	if (auth[0] == '[') {
		if ((colon = memchr(auth, ']', n)) == NULL)
			return false;
		colon++;
	} else if ((colon = memchr(auth, ':', n)) == NULL)
		colon = end;
	*host = auth;
	*hostlen = (size_t)(colon - auth);
	if (colon == end)
		return *hostlen != 0;
	if (*colon != ':' || colon + 1 == end)
		return false;
	return strspn(colon + 1, "0123456789") == (size_t)(end - colon - 1);
}

/*
 * An absolute URI without fragment (RFC 6749 §3.1.2); http only for a loopback host
 * (RFC 9700 §2.6, RFC 8252 §7.3); no scheme that runs code or reads files.
 */
static json_t *
redirect_check(const char *u)
{
	static const char *const banned[] = { "javascript", "data", "vbscript", "file" };
	const char *host;
	size_t n = strlen(u), slen, hostlen, i;

	if (n == 0 || n >= POT_URI_MAX)
		return usage_error("redirect URI: 1 to %d bytes", POT_URI_MAX - 1);
	for (i = 0; i < n; i++) {
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return usage_error("redirect URI %.200s: spaces, control and non-ASCII "
					   "characters must be percent-encoded", u);
	}
	slen = strspn(u, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.");
	if (slen == 0 || u[slen] != ':' || !((u[0] | 0x20) >= 'a' && (u[0] | 0x20) <= 'z'))
		return usage_error("redirect URI %.200s: not an absolute URI (no scheme)", u);
	if (strchr(u, '#') != NULL)
		return usage_error("redirect URI %.200s: must not have a fragment", u);
	for (i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
		if (strlen(banned[i]) == slen && strncasecmp(u, banned[i], slen) == 0)
			return usage_error("redirect URI %.200s: scheme %s is not allowed", u, banned[i]);
	}
	if ((slen == 4 && strncasecmp(u, "http", 4) == 0) ||
	    (slen == 5 && strncasecmp(u, "https", 5) == 0)) {
		if (!authority_split(u + slen + 1, &host, &hostlen))
			return usage_error("redirect URI %.200s: expected %.*s://host[:port]/path",
					   u, (int)slen, u);
		if (slen == 4 && !host_loopback(host, hostlen))
			return usage_error("redirect URI %.200s: http is allowed only for loopback "
					   "(127.0.0.1, [::1], localhost); use https", u);
	}
	return NULL;
}

/* Whether s is one of the lines of lines. */
static bool
lines_have(const char *lines, const char *s)
{
	size_t n = strlen(s), len;

	while (*lines != '\0') {
		len = strcspn(lines, "\n");
		if (len == n && memcmp(lines, s, n) == 0)
			return true;
		lines += len + (lines[len] == '\n');
	}
	return false;
}

/* Checks each URI and joins them, one per line, into out. */
static json_t *
redirects_parse(json_t *uris, char *out, size_t outlen)
{
	const char *u;
	size_t i, o = 0, n;
	json_t *e, *bad;

	out[0] = '\0';
	json_array_foreach(uris, i, e) {
		u = json_string_value(e);
		if ((bad = redirect_check(u)) != NULL)
			return bad;
		if (lines_have(out, u))
			return usage_error("redirect URI %.200s: given twice", u);
		n = strlen(u);
		if (o + (o != 0) + n >= outlen)
			return usage_error("redirect URIs: more than %zu bytes in all", outlen - 1);
		if (o != 0)
			out[o++] = '\n';
		memcpy(out + o, u, n);
		o += n;
		out[o] = '\0';
	}
	return NULL;
}

static const struct {
	const char *name;
	unsigned bit;
} grant_names[] = {
	{ "authorization_code", POT_GRANT_CODE },
	{ "refresh_token", POT_GRANT_REFRESH },
	{ "client_credentials", POT_GRANT_CLIENT_CREDENTIALS },
};
#define NGRANTS (sizeof(grant_names) / sizeof(grant_names[0]))

static json_t *
grants_parse(json_t *names, bool public, unsigned *out)
{
	const char *g;
	json_t *e;
	size_t i, j;

	if (names == NULL) {
		*out = POT_GRANT_CODE | POT_GRANT_REFRESH | (public ? 0 : POT_GRANT_CLIENT_CREDENTIALS);
		return NULL;
	}
	*out = 0;
	json_array_foreach(names, i, e) {
		g = json_string_value(e);
		for (j = 0; j < NGRANTS && strcmp(g, grant_names[j].name) != 0; j++)
			;
		if (j == NGRANTS)
			return usage_error("unknown grant `%.64s` (authorization_code, refresh_token, "
					   "client_credentials)", g);
		*out |= grant_names[j].bit;
	}
	return *out == 0 ? usage_error("at least one grant is required") : NULL;
}

static json_t *
grants_json(unsigned bits)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < NGRANTS; i++) {
		if ((bits & grant_names[i].bit) != 0 &&
		    json_array_append_new(arr, json_string(grant_names[i].name)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

/* What a client may not be: the rules that tie its type, grants and URIs together. */
static json_t *
client_rules(const struct pot_client *c)
{
	if (!c->confidential && (c->grants & POT_GRANT_CLIENT_CREDENTIALS) != 0)
		return usage_error("a public client cannot use client_credentials: it has no secret");
	if (!c->confidential && c->introspect)
		return usage_error("a public client cannot call /introspect: it has no secret");
	if ((c->grants & POT_GRANT_CODE) != 0 && c->redirect_uris[0] == '\0')
		return usage_error("authorization_code needs at least one redirect URI");
	return NULL;
}

/* Fills c from a client_add request; NULL, or the usage error. */
static json_t *
client_parse(json_t *req, struct pot_client *c)
{
	const char *name, *scope;
	bool public, no_rotate;
	json_t *bad, *uris, *grants;

	memset(c, 0, sizeof(*c));
	if ((bad = get_string(req, "name", true, &name)) != NULL ||
	    (bad = get_string(req, "scope", true, &scope)) != NULL ||
	    (bad = get_strings(req, "redirect_uris", &uris)) != NULL ||
	    (bad = get_strings(req, "grants", &grants)) != NULL ||
	    (bad = get_bool(req, "public", &public)) != NULL ||
	    (bad = get_bool(req, "first_party", &c->first_party)) != NULL ||
	    (bad = get_bool(req, "introspect", &c->introspect)) != NULL ||
	    (bad = get_bool(req, "no_rotate", &no_rotate)) != NULL)
		return bad;
	if (!name_ok(name))
		return usage_error("client name `%.80s`: 1 to %d characters of A-Z a-z 0-9 . _ -",
				   name, POT_NAME_MAX - 1);
	memcpy(c->id, name, strlen(name) + 1);
	c->confidential = !public;
	c->rotate = public && !no_rotate;	/* confidential clients keep their RT */
	if ((bad = scope_parse(scope, c->scope, sizeof(c->scope))) != NULL ||
	    (uris != NULL && (bad = redirects_parse(uris, c->redirect_uris,
						     sizeof(c->redirect_uris))) != NULL) ||
	    (bad = grants_parse(grants, public, &c->grants)) != NULL)
		return bad;
	return client_rules(c);
}

/* --- client ops ---------------------------------------------------------------------- */

/* A new client secret: *secret for the reply, its HMAC under the pepper into c. */
static int
client_secret_new(struct pot_admin *a, struct pot_client *c, char secret[POT_SECRET_LEN + 1])
{
	int r;

	if ((r = pot_secret_generate(POT_CS_PREFIX, secret)) != POT_OK)
		return r;
	ks_read(a);
	r = pot_secret_id(pot_keystore_pepper(a->ks), secret, c->secret);
	ks_unlock(a);
	return r;
}

static json_t *
op_client_add(struct pot_admin *a, json_t *req)
{
	char secret[POT_SECRET_LEN + 1] = "";
	struct pot_client c;
	json_t *rep;
	int r;

	if ((rep = client_parse(req, &c)) != NULL)
		goto out;
	c.created = admin_now();
	if (c.confidential && (r = client_secret_new(a, &c, secret)) != POT_OK) {
		rep = fail("cannot make a client secret: %s", pot_strerror(r));
		goto out;
	}
	if ((r = pot_store_client_put(a->store, &c, true)) == POT_ERR_EXISTS) {
		rep = fail("client %s exists", c.id);
		goto out;
	}
	if (r != POT_OK) {
		rep = store_error(a, r, "cannot store the client");
		goto out;
	}
	rep = reply_set(reply_ok(), "client_id", json_string(c.id));
	if (c.confidential)
		rep = reply_set(rep, "client_secret", json_string(secret));
out:
	pot_wipe(secret, sizeof(secret));
	pot_wipe(&c, sizeof(c));
	return rep;
}

/* "a\nb" -> ["a", "b"] */
static json_t *
lines_json(const char *s)
{
	json_t *arr = json_array();
	size_t n;

	while (arr != NULL && *s != '\0') {
		n = strcspn(s, "\n");
		if (json_array_append_new(arr, json_stringn(s, n)) != 0) {
			json_decref(arr);
			return NULL;
		}
		s += n + (s[n] == '\n');
	}
	return arr;
}

static int
client_list_cb(const struct pot_client *c, void *arg)
{
	json_t *arr = arg, *o;

	o = json_pack("{s:s, s:b, s:b, s:b, s:b, s:o*, s:s, s:o*, s:I}",
		      "client_id", c->id, "public", !c->confidential, "first_party", c->first_party,
		      "introspect", c->introspect, "rotate", c->rotate,
		      "grants", grants_json(c->grants), "scope", c->scope,
		      "redirect_uris", lines_json(c->redirect_uris), "created", (json_int_t)c->created);
	if (o == NULL || json_object_size(o) != 9 || json_array_append_new(arr, o) != 0) {
		json_decref(o);
		return POT_ERR_ALLOC;
	}
	return 0;
}

static json_t *
op_client_list(struct pot_admin *a, json_t *req)
{
	json_t *arr = json_array();
	int r;

	(void)req;
	if (arr == NULL)
		return NULL;
	if ((r = pot_store_client_list(a->store, client_list_cb, arr)) != POT_OK) {
		json_decref(arr);
		return store_error(a, r, "cannot list the clients");
	}
	return reply_set(reply_ok(), "clients", arr);
}

static json_t *
op_client_remove(struct pot_admin *a, json_t *req)
{
	const char *id;
	json_t *bad;
	int r;

	if ((bad = get_string(req, "client_id", true, &id)) != NULL)
		return bad;
	if (!name_ok(id))
		return fail("no client %.80s", id);
	if ((r = pot_store_client_del(a->store, id)) == POT_ERR_NOT_FOUND)
		return fail("no client %s", id);
	if (r != POT_OK)
		return store_error(a, r, "cannot remove the client");
	return reply_set(reply_ok(), "client_id", json_string(id));
}

/* --- key ops ------------------------------------------------------------------------- */

/* After a change: potd republishes; `pot` alone prunes and writes the JWKS itself. */
static int
keys_publish(struct pot_admin *a, int64_t now, char *err, size_t errlen)
{
	int r;

	if (a->keys_changed != NULL) {
		a->keys_changed(a->arg);
		return POT_OK;
	}
	ks_write(a);
	(void)pot_keystore_prune(a->ks, now);
	r = pot_keystore_write_jwks(a->ks, a->conf->jwks, now, err, errlen);
	ks_unlock(a);
	return r;
}

static json_t *
op_key_new(struct pot_admin *a, json_t *req)
{
	const char *name;
	char kid[48], err[512];
	int64_t now = admin_now(), delay;
	enum pot_alg alg = POT_ALG_ES256;
	json_t *bad;
	bool at_once;
	int r;

	if ((bad = get_string(req, "alg", false, &name)) != NULL ||
	    (bad = get_bool(req, "now", &at_once)) != NULL)
		return bad;
	if (name != NULL && (alg = pot_alg_from_name(name)) != POT_ALG_ES256 && alg != POT_ALG_RS256)
		return usage_error("alg %.32s: ES256 or RS256", name);
	delay = at_once ? 0 : (int64_t)a->conf->key_activation_delay;
	ks_write(a);
	r = pot_keystore_new_key(a->ks, alg, now, delay, kid);
	ks_unlock(a);
	if (r != POT_OK)
		return fail("cannot make a %s key: %s", pot_alg_name(alg), pot_strerror(r));
	if ((r = keys_publish(a, now, err, sizeof(err))) != POT_OK)
		return fail("key %s made, but the JWKS was not written: %s", kid, err);
	return json_pack("{s:b, s:s, s:s, s:I}", "ok", 1, "kid", kid, "alg", pot_alg_name(alg),
			 "activate_at", (json_int_t)(now + delay));
}

static const char *
key_state(const struct pot_keyinfo *k, const char *signer, int64_t now)
{
	if (k->retired_at != 0)
		return "retired";
	if (k->activate_at > now)
		return "pending";
	return signer != NULL && strcmp(signer, k->kid) == 0 ? "signing" : "active";
}

static json_t *
key_json(const struct pot_keyinfo *k, const char *signer, int64_t now)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:s}", "kid", k->kid,
			 "alg", pot_alg_name(k->alg), "created", (json_int_t)k->created,
			 "activate_at", (json_int_t)k->activate_at,
			 "retired_at", (json_int_t)k->retired_at, "drop_at", (json_int_t)k->drop_at,
			 "signing", signer != NULL && strcmp(signer, k->kid) == 0,
			 "state", key_state(k, signer, now));
}

static json_t *
op_key_list(struct pot_admin *a, json_t *req)
{
	const char *signer = NULL;
	int64_t now = admin_now();
	json_t *arr = json_array();
	EVP_PKEY *pkey;
	size_t i;

	(void)req;
	if (arr == NULL)
		return NULL;
	ks_read(a);
	if (pot_keystore_signer(a->ks, now, &pkey, &signer) != POT_OK)
		signer = NULL;
	for (i = 0; i < pot_keystore_count(a->ks); i++) {
		if (json_array_append_new(arr, key_json(pot_keystore_info(a->ks, i), signer, now)) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	ks_unlock(a);
	return reply_set(reply_ok(), "keys", arr);
}

/*
 * Why kid may not retire now, or NULL. Besides the last key that can sign at all (the
 * keystore refuses it too), the one key signing now while the others are still pending:
 * potd could not issue tokens until one of them activates.
 */
static const char *
key_retire_refusal(struct pot_admin *a, const char *kid, int64_t now)
{
	const struct pot_keyinfo *k;
	bool target_signs = false, other_signs = false, other_pending = false;
	size_t i;

	for (i = 0; i < pot_keystore_count(a->ks); i++) {
		k = pot_keystore_info(a->ks, i);
		if (k->retired_at != 0)
			continue;
		if (strcmp(k->kid, kid) == 0)
			target_signs = k->activate_at <= now;
		else if (k->activate_at <= now)
			other_signs = true;
		else
			other_pending = true;
	}
	if (!target_signs || other_signs)
		return NULL;
	return other_pending ? "is the only key signing now: retire it once a pending key "
			       "activates, or make one with `pot key new --now` first" :
	       "is the last key that can sign: make another with `pot key new` first";
}

static const struct pot_keyinfo *
key_find(struct pot_admin *a, const char *kid)
{
	size_t i;

	for (i = 0; i < pot_keystore_count(a->ks); i++) {
		if (strcmp(pot_keystore_info(a->ks, i)->kid, kid) == 0)
			return pot_keystore_info(a->ks, i);
	}
	return NULL;
}

static json_t *
op_key_retire(struct pot_admin *a, json_t *req)
{
	int64_t now = admin_now(), keep = (int64_t)(a->conf->access_ttl + a->conf->leeway);
	const struct pot_keyinfo *k;
	const char *kid, *why;
	json_t *rep = NULL;
	char err[512];
	int r;

	if ((rep = get_string(req, "kid", true, &kid)) != NULL)
		return rep;
	ks_write(a);
	if (key_find(a, kid) == NULL)
		rep = fail("no key %.64s", kid);
	else if ((why = key_retire_refusal(a, kid, now)) != NULL)
		rep = fail("%s %s", kid, why);
	else if ((r = pot_keystore_retire(a->ks, kid, now, keep)) == POT_ERR_DENIED)
		rep = fail("%s is the last key that can sign", kid);
	else if (r == POT_ERR_NOT_FOUND)
		rep = fail("no key %.64s", kid);
	else if (r != POT_OK)
		rep = fail("cannot retire %s: %s", kid, pot_strerror(r));
	else if ((k = key_find(a, kid)) != NULL)
		rep = json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "kid", kid,
				"retired_at", (json_int_t)k->retired_at, "drop_at", (json_int_t)k->drop_at);
	else
		rep = reply_set(reply_ok(), "kid", json_string(kid));
	ks_unlock(a);
	if (rep != NULL && json_is_true(json_object_get(rep, "ok")) &&
	    keys_publish(a, now, err, sizeof(err)) != POT_OK) {
		pot_admin_reply_free(rep);
		rep = fail("%s retired, but the JWKS was not written: %s", kid, err);
	}
	return rep;
}

/* --- refresh tokens ------------------------------------------------------------------ */

static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *
rt_state_name(int state)
{
	switch (state) {
	case POT_RT_ACTIVE:	return "active";
	case POT_RT_ROTATED:	return "rotated";
	case POT_RT_REVOKED:	return "revoked";
	}
	return "unknown";
}

static int
tokens_list_cb(const struct pot_rt *rt, void *arg)
{
	char hex[HEX_ID_LEN + 1];
	json_t *arr = arg, *o;

	hex_encode(rt->id, sizeof(rt->id), hex);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", hex,
		      "user", rt->user, "client_id", rt->client_id, "scope", rt->scope,
		      "grant", rt->grant, "state", rt_state_name(rt->state),
		      "created", (json_int_t)rt->created, "last_used", (json_int_t)rt->last_used,
		      "expires", (json_int_t)rt->expires, "abs_expires", (json_int_t)rt->abs_expires);
	if (o == NULL || json_array_append_new(arr, o) != 0)
		return POT_ERR_ALLOC;
	return 0;
}

static json_t *
op_tokens_list(struct pot_admin *a, json_t *req)
{
	const char *user;
	json_t *arr, *bad;
	int r;

	if ((bad = get_string(req, "user", false, &user)) != NULL)
		return bad;
	if (user != NULL && (*user == '\0' || strlen(user) >= POT_NAME_MAX))
		return usage_error("user: 1 to %d bytes", POT_NAME_MAX - 1);
	if ((arr = json_array()) == NULL)
		return NULL;
	if ((r = pot_store_rt_list(a->store, user, tokens_list_cb, arr)) != POT_OK) {
		json_decref(arr);
		return store_error(a, r, "cannot list the refresh tokens");
	}
	return reply_set(reply_ok(), "tokens", arr);
}

struct prefix_match {
	const char *prefix;		/* lowercase hex */
	size_t len;
	size_t matches;
	unsigned char id[POT_ID_LEN];
};

static int
prefix_cb(const struct pot_rt *rt, void *arg)
{
	struct prefix_match *m = arg;
	char hex[HEX_ID_LEN + 1];

	hex_encode(rt->id, sizeof(rt->id), hex);
	if (strncmp(hex, m->prefix, m->len) == 0 && m->matches++ == 0)
		memcpy(m->id, rt->id, sizeof(m->id));
	return 0;
}

/* The record id that a full hex id or a unique prefix names; NULL or the error. */
static json_t *
token_resolve(struct pot_admin *a, const char *arg, unsigned char id[POT_ID_LEN])
{
	char lower[HEX_ID_LEN + 1];
	struct prefix_match m = { .prefix = lower };
	size_t n = strlen(arg), i;
	int r;

	if (n < REVOKE_PREFIX_MIN || n > HEX_ID_LEN)
		return usage_error("token id: %d hex digits, or a prefix of at least %d",
				   HEX_ID_LEN, REVOKE_PREFIX_MIN);
	for (i = 0; i < n; i++) {
		if (hex_digit(arg[i]) < 0)
			return usage_error("token id %.64s: not hexadecimal", arg);
		lower[i] = (char)(arg[i] | 0x20);
	}
	lower[n] = '\0';
	if (n == HEX_ID_LEN) {
		for (i = 0; i < POT_ID_LEN; i++)
			id[i] = (unsigned char)(hex_digit(lower[2 * i]) << 4 | hex_digit(lower[2 * i + 1]));
		return NULL;
	}
	m.len = n;
	if ((r = pot_store_rt_list(a->store, NULL, prefix_cb, &m)) != POT_OK)
		return store_error(a, r, "cannot list the refresh tokens");
	if (m.matches == 0)
		return fail("no refresh token %s", lower);
	if (m.matches > 1)
		return fail("%zu refresh tokens start with %s: give more digits", m.matches, lower);
	memcpy(id, m.id, POT_ID_LEN);
	return NULL;
}

static json_t *
op_tokens_revoke(struct pot_admin *a, json_t *req)
{
	unsigned char id[POT_ID_LEN];
	char hex[HEX_ID_LEN + 1];
	const char *arg;
	json_t *bad;
	int r;

	if ((bad = get_string(req, "id", true, &arg)) != NULL ||
	    (bad = token_resolve(a, arg, id)) != NULL)
		return bad;
	hex_encode(id, sizeof(id), hex);
	if ((r = pot_store_rt_revoke(a->store, id)) == POT_ERR_NOT_FOUND)
		return fail("no refresh token %s", hex);
	if (r != POT_OK)
		return store_error(a, r, "cannot revoke the refresh token");
	return reply_set(reply_ok(), "id", json_string(hex));
}

static json_t *
op_tokens_revoke_user(struct pot_admin *a, json_t *req)
{
	const char *user;
	json_t *bad;
	size_t n = 0;
	int r;

	if ((bad = get_string(req, "user", true, &user)) != NULL)
		return bad;
	if (*user == '\0' || strlen(user) >= POT_NAME_MAX)
		return usage_error("user: 1 to %d bytes", POT_NAME_MAX - 1);
	if ((r = pot_store_revoke_user(a->store, user, &n)) != POT_OK)
		return store_error(a, r, "cannot revoke the refresh tokens");
	return json_pack("{s:b, s:s, s:I}", "ok", 1, "user", user, "revoked", (json_int_t)n);
}

static json_t *
op_purge(struct pot_admin *a, json_t *req)
{
	int64_t now = admin_now();
	size_t n, total = 0;
	int r;

	(void)req;
	do {
		if ((r = pot_store_purge(a->store, now, PURGE_BATCH, &n)) != POT_OK)
			return store_error(a, r, "purge");
		total += n;
	} while (n != 0);
	return json_pack("{s:b, s:I}", "ok", 1, "removed", (json_int_t)total);
}

/* --- dispatch ------------------------------------------------------------------------ */

static const struct admin_op {
	const char *name;
	const char *members;		/* besides "op" */
	json_t *(*run)(struct pot_admin *, json_t *);
} ops[] = {
	{ "client_add", "name redirect_uris scope public first_party grants introspect no_rotate",
	  op_client_add },
	{ "client_list", "", op_client_list },
	{ "client_remove", "client_id", op_client_remove },
	{ "key_new", "alg now", op_key_new },
	{ "key_list", "", op_key_list },
	{ "key_retire", "kid", op_key_retire },
	{ "tokens_list", "user", op_tokens_list },
	{ "tokens_revoke", "id", op_tokens_revoke },
	{ "tokens_revoke_user", "user", op_tokens_revoke_user },
	{ "purge", "", op_purge },
};

json_t *
pot_admin_run(struct pot_admin *a, json_t *req)
{
	const char *op;
	json_t *bad;
	size_t i;

	if (!json_is_object(req))
		return usage_error("a request is a JSON object");
	if ((bad = get_string(req, "op", true, &op)) != NULL)
		return bad;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name) != 0)
			continue;
		if ((bad = members_check(req, op, ops[i].members)) != NULL)
			return bad;
		return ops[i].run(a, req);
	}
	return usage_error("unknown op `%.64s`", op);
}

/* --- the audit line ---------------------------------------------------------------- */

/* s for a log line: at most max bytes, anything but printable ASCII as `?`. */
static const char *
log_safe(const char *s, char *buf, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < max; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* Appends ` key=value` for each string or integer member named (never a secret). */
static void
log_members(char *buf, size_t len, const json_t *o, const char *const *keys)
{
	char safe[101];
	size_t used;
	json_t *v;

	for (; *keys != NULL; keys++) {
		if ((v = json_object_get(o, *keys)) == NULL || (used = strlen(buf)) >= len - 1)
			continue;
		if (json_is_string(v))
			snprintf(buf + used, len - used, " %s=%s", *keys,
				 log_safe(json_string_value(v), safe, sizeof(safe)));
		else if (json_is_integer(v))
			snprintf(buf + used, len - used, " %s=%lld", *keys,
				 (long long)json_integer_value(v));
	}
}

void
pot_admin_log(const json_t *req, const json_t *rep, unsigned long uid, long pid)
{
	/* what the request names, then what the reply adds (a new kid, a full token id, counts) */
	static const char *const req_keys[] = { "name", "client_id", "kid", "alg", "user", NULL };
	static const char *const rep_keys[] = { "kid", "id", "revoked", "removed", NULL };
	const json_t *op = json_object_get(req, "op"), *err = json_object_get(rep, "error");
	char what[768] = "", opname[33], why[301];

	log_safe(json_is_string(op) ? json_string_value(op) : "?", opname, sizeof(opname));
	log_members(what, sizeof(what), req, req_keys);
	if (json_is_true(json_object_get(rep, "ok"))) {
		if (json_object_get(req, "kid") == NULL)
			log_members(what, sizeof(what), rep, rep_keys);
		syslog(LOG_NOTICE, "admin: op=%s%s uid=%lu pid=%ld: ok", opname, what, uid, pid);
		return;
	}
	log_members(what, sizeof(what), req, (const char *const[]){ "id", NULL });
	log_safe(json_is_string(err) ? json_string_value(err) : "failed", why, sizeof(why));
	syslog(LOG_WARNING, "admin: op=%s%s uid=%lu pid=%ld: failed: %s", opname, what, uid, pid, why);
}
