/*
 * http_authorize.c — GET/POST /auth/v2/authorize: the authorization code flow.
 *
 * GET checks the request and shows the login form. POST step=login checks the user's
 * password through the PAM service `login_service` (potd's users are the system's),
 * then either redirects with a code (first-party clients) or shows the consent page;
 * POST step=consent redirects with a code (allow) or access_denied (deny).
 * No server sessions: the request travels in a hidden field MACed with a key derived
 * from the pepper, with an issue time; a consent form's nonce is spent in the store, so
 * a replayed or tampered form is refused. Errors about the client or the redirect URI
 * are shown on a page and never redirected (RFC 6749 §4.1.2.1). RFC 9207 `iss` is in
 * every redirect.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <security/pam_appl.h>

#include "potd.h"
#include "pot/err.h"
#include "pot/secret.h"
#include "pot/util.h"

#define LOGIN_FORM_TTL		600	/* seconds a login form stays usable */
#define CONSENT_FORM_TTL	300

struct authz {
	struct pot_client client;
	char client_id[POT_NAME_MAX];
	char redirect_uri[POT_URI_MAX];
	char scope[POT_SCOPE_MAX];	/* requested, within the client's registration */
	char state[512];
	char challenge[POT_CHALLENGE_MAX];
};

/* --- small text helpers ------------------------------------------------------------ */

static void
buf_add(char **b, size_t *len, const char *s)
{
	size_t n = strlen(s);
	char *nb;

	if (*b == NULL)
		return;
	if ((nb = realloc(*b, *len + n + 1)) == NULL) {
		free(*b);
		*b = NULL;
		return;
	}
	memcpy(nb + *len, s, n + 1);
	*b = nb;
	*len += n;
}

static void
buf_html(char **b, size_t *len, const char *s)
{
	char one[2] = { 0 };

	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': buf_add(b, len, "&amp;"); break;
		case '<': buf_add(b, len, "&lt;"); break;
		case '>': buf_add(b, len, "&gt;"); break;
		case '"': buf_add(b, len, "&quot;"); break;
		case '\'': buf_add(b, len, "&#39;"); break;
		default: one[0] = *s; buf_add(b, len, one);
		}
	}
}

static void
buf_urlenc(char **b, size_t *len, const char *s)
{
	char enc[4];

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			enc[0] = (char)ch;
			enc[1] = '\0';
		} else
			snprintf(enc, sizeof(enc), "%%%02X", ch);
		buf_add(b, len, enc);
	}
}

/* --- pages ---------------------------------------------------------------------------- */

/*
 * The CSP source of a redirect URI for form-action: a form posted to /authorize is
 * answered with a redirect to the client, and browsers hold that redirect to the page's
 * form-action too (Chromium blocks it under a bare 'self'). "scheme://host[:port]", or
 * "scheme:" for a private-use scheme (RFC 8252 §7.1); "" when the URI has any character a
 * source expression may not hold (the redirect URI was checked against the client's
 * registration before any page shows it; this keeps the header well-formed regardless).
 */
static void
csp_origin(const char *uri, char *out, size_t outlen)
{
	const char *p = uri, *host;
	size_t n;

	out[0] = '\0';
	if (uri == NULL || !isalpha((unsigned char)*p))
		return;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p != ':')
		return;
	if (strncmp(p, "://", 3) != 0) {
		n = (size_t)(p + 1 - uri);
		if (n < outlen) {
			memcpy(out, uri, n);
			out[n] = '\0';
		}
		return;
	}
	host = p + 3;
	for (p = host; *p != '\0' && *p != '/' && *p != '?' && *p != '#'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]", *p) == NULL)
			return;
	n = (size_t)(p - uri);
	if (p == host || n >= outlen)
		return;
	memcpy(out, uri, n);
	out[n] = '\0';
}

/* An HTML page; form_to, when set, is the redirect URI the page's form may lead to. */
static enum MHD_Result
page(struct MHD_Connection *c, unsigned status, const char *body, const char *form_to)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char origin[POT_URI_MAX], csp[POT_URI_MAX + 160];

	if (body == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	/*
	 * Every 401 names a challenge (RFC 9110 §15.5.2): the form on the page. Not Basic,
	 * which would make browsers ask for a password in a dialog of their own.
	 */
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Form realm=\"" POTD_REALM "\"");
	csp_origin(form_to, origin, sizeof(origin));
	snprintf(csp, sizeof(csp), "default-src 'none'; style-src 'unsafe-inline'; "
		 "form-action 'self'%s%s; frame-ancestors 'none'", origin[0] != '\0' ? " " : "", origin);
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static const char page_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>%TITLE%</title>\n<style>\n"
	"body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;"
	"line-height:1.5;color:#1a1a1a;background:#fff}\n"
	"label{display:block;margin-top:1rem;font-weight:600}\n"
	"input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;"
	"box-sizing:border-box;border:1px solid #555;border-radius:4px}\n"
	"button{margin-top:1.5rem;margin-right:.5rem;padding:.6rem 1.2rem;font-size:1rem;"
	"border-radius:4px;border:1px solid #1a4d8f;background:#1a4d8f;color:#fff;cursor:pointer}\n"
	"button.secondary{background:#fff;color:#1a4d8f}\n"
	"button:focus,input:focus{outline:3px solid #f5a623;outline-offset:2px}\n"
	".error{color:#a30000;font-weight:600}\nul{padding-left:1.2rem}\n"
	"</style>\n</head>\n<body>\n<main>\n";

static char *
page_start(const char *title, size_t *len)
{
	const char *at = strstr(page_head, "%TITLE%");
	char *b = strndup(page_head, (size_t)(at - page_head));

	*len = b != NULL ? strlen(b) : 0;
	buf_html(&b, len, title);
	buf_add(&b, len, at + strlen("%TITLE%"));
	buf_add(&b, len, "<h1>");
	buf_html(&b, len, title);
	buf_add(&b, len, "</h1>\n");
	return b;
}

static enum MHD_Result
error_page(struct MHD_Connection *c, unsigned status, const char *message)
{
	size_t len;
	char *b = page_start("Sign-in request refused", &len);
	enum MHD_Result ret;

	buf_add(&b, &len, "<p class=\"error\" role=\"alert\">");
	buf_html(&b, &len, message);
	buf_add(&b, &len, "</p>\n<p>The application that sent you here is misconfigured or the "
		"link is damaged. Nothing was shared with it.</p>\n</main>\n</body>\n</html>\n");
	ret = page(c, status, b, NULL);
	free(b);
	return ret;
}

static void
hidden(char **b, size_t *len, const char *name, const char *value)
{
	buf_add(b, len, "<input type=\"hidden\" name=\"");
	buf_html(b, len, name);
	buf_add(b, len, "\" value=\"");
	buf_html(b, len, value);
	buf_add(b, len, "\">\n");
}

static enum MHD_Result
login_page(struct MHD_Connection *c, unsigned status, const struct authz *a, const char *req,
	   const char *mac, const char *user, const char *error)
{
	size_t len;
	char *b = page_start("Sign in", &len);
	enum MHD_Result ret;

	buf_add(&b, &len, "<p>Sign in with your account on this system to continue to <strong>");
	buf_html(&b, &len, a->client_id);
	buf_add(&b, &len, "</strong>.</p>\n");
	if (error != NULL) {
		buf_add(&b, &len, "<p class=\"error\" role=\"alert\" id=\"err\">");
		buf_html(&b, &len, error);
		buf_add(&b, &len, "</p>\n");
	}
	buf_add(&b, &len, "<form method=\"post\" action=\"/auth/v2/authorize\">\n");
	hidden(&b, &len, "step", "login");
	hidden(&b, &len, "req", req);
	hidden(&b, &len, "mac", mac);
	buf_add(&b, &len, "<label for=\"username\">User name</label>\n"
		"<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
		"autocapitalize=\"none\" spellcheck=\"false\" required autofocus");
	if (error != NULL)
		buf_add(&b, &len, " aria-describedby=\"err\"");
	if (user != NULL) {
		buf_add(&b, &len, " value=\"");
		buf_html(&b, &len, user);
		buf_add(&b, &len, "\"");
	}
	buf_add(&b, &len, ">\n<label for=\"password\">Password</label>\n"
		"<input type=\"password\" id=\"password\" name=\"password\" "
		"autocomplete=\"current-password\" required>\n"
		"<button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body>\n</html>\n");
	ret = page(c, status, b, a->redirect_uri);
	free(b);
	return ret;
}

static enum MHD_Result
consent_page(struct MHD_Connection *c, const struct authz *a, const char *user,
	     const char *granted, const char *req, const char *mac)
{
	size_t len;
	char *b = page_start("Allow access?", &len), *scopes = strdup(granted), *sp, *tok;
	enum MHD_Result ret;

	buf_add(&b, &len, "<p>Signed in as <strong>");
	buf_html(&b, &len, user);
	buf_add(&b, &len, "</strong>.</p>\n<p><strong>");
	buf_html(&b, &len, a->client_id);
	buf_add(&b, &len, "</strong> asks for access to your account with these scopes:</p>\n<ul>\n");
	for (tok = strtok_r(scopes, " ", &sp); tok != NULL; tok = strtok_r(NULL, " ", &sp)) {
		buf_add(&b, &len, "<li>");
		buf_html(&b, &len, tok);
		buf_add(&b, &len, "</li>\n");
	}
	if (granted[0] == '\0')
		buf_add(&b, &len, "<li>(no scopes)</li>\n");
	buf_add(&b, &len, "</ul>\n<p>You will be sent back to <code>");
	buf_html(&b, &len, a->redirect_uri);
	buf_add(&b, &len, "</code>.</p>\n<form method=\"post\" action=\"/auth/v2/authorize\">\n");
	hidden(&b, &len, "step", "consent");
	hidden(&b, &len, "req", req);
	hidden(&b, &len, "mac", mac);
	buf_add(&b, &len, "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
		"<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\n"
		"</form>\n</main>\n</body>\n</html>\n");
	free(scopes);
	ret = page(c, 200, b, a->redirect_uri);
	free(b);
	return ret;
}

/* --- redirects ---------------------------------------------------------------------- */

/* 303 to the registered redirect URI with the given parameters, state and iss. */
static enum MHD_Result
redirect(struct MHD_Connection *c, struct potd *d, const struct authz *a, const char *k1,
	 const char *v1, const char *k2, const char *v2)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = 0;
	char *loc = strdup(a->redirect_uri);

	len = loc != NULL ? strlen(loc) : 0;
	buf_add(&loc, &len, strchr(a->redirect_uri, '?') != NULL ? "&" : "?");
	buf_add(&loc, &len, k1);
	buf_add(&loc, &len, "=");
	buf_urlenc(&loc, &len, v1);
	if (k2 != NULL && v2 != NULL) {
		buf_add(&loc, &len, "&");
		buf_add(&loc, &len, k2);
		buf_add(&loc, &len, "=");
		buf_urlenc(&loc, &len, v2);
	}
	if (a->state[0] != '\0') {
		buf_add(&loc, &len, "&state=");
		buf_urlenc(&loc, &len, a->state);
	}
	buf_add(&loc, &len, "&iss=");
	buf_urlenc(&loc, &len, d->conf->issuer);
	if (loc == NULL || (resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)) == NULL) {
		pot_secret_free(loc);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, resp);
	MHD_destroy_response(resp);
	pot_secret_free(loc);		/* holds the code */
	return ret;
}

static enum MHD_Result
redirect_error(struct MHD_Connection *c, struct potd *d, const struct authz *a, const char *error,
	       const char *desc)
{
	return redirect(c, d, a, "error", error, "error_description", desc);
}

/* --- request checks ---------------------------------------------------------------- */

/* http://127.0.0.1:PORT/path or http://[::1]:PORT/path: the host part and the rest. */
static bool
loopback_split(const char *uri, const char **rest, size_t *hostlen)
{
	const char *h, *p;

	if ((h = pot_skip_prefix(uri, "http://127.0.0.1")) == NULL &&
	    (h = pot_skip_prefix(uri, "http://[::1]")) == NULL)
		return false;
	*hostlen = (size_t)(h - uri);
	if (*h == ':') {
		for (p = h + 1; *p >= '0' && *p <= '9'; p++)
			;
		if (p == h + 1)
			return false;
		h = p;
	}
	*rest = h;
	return *h == '\0' || *h == '/' || *h == '?';
}

/* Exact match; public clients may use any port on a loopback URI (RFC 8252 §7.3). */
static bool
redirect_ok(const struct pot_client *cl, const char *uri)
{
	const char *p = cl->redirect_uris, *e, *rest_a, *rest_b;
	size_t n, ha, hb;

	for (; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = strchrnul(p, '\n');
		n = (size_t)(e - p);
		if (n == 0)
			continue;
		if (strlen(uri) == n && memcmp(uri, p, n) == 0)
			return true;
		if (!cl->confidential && loopback_split(uri, &rest_a, &ha)) {
			char reg[POT_URI_MAX];

			if (n >= sizeof(reg))
				continue;
			memcpy(reg, p, n);
			reg[n] = '\0';
			if (loopback_split(reg, &rest_b, &hb) && ha == hb &&
			    memcmp(uri, reg, ha) == 0 && strcmp(rest_a, rest_b) == 0)
				return true;
		}
	}
	return false;
}

static bool
copy(char *dst, size_t size, const char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return true;
	}
	if (strlen(src) >= size)
		return false;
	strcpy(dst, src);
	return true;
}

/*
 * The parameters of an authorization request. Client and redirect problems return an
 * error page (non-zero *page_status); the others are redirected errors (*error set).
 */
static int
authz_check(struct potd *d, const char *client_id, const char *redirect_uri,
	    const char *response_type, const char *scope, const char *state, const char *challenge,
	    const char *method, struct authz *a, unsigned *page_status, const char **error,
	    const char **why)
{
	int rc;

	memset(a, 0, sizeof(*a));
	*page_status = 0;
	*error = *why = NULL;
	if (client_id == NULL || !copy(a->client_id, sizeof(a->client_id), client_id)) {
		*page_status = 400;
		*why = "The request names no valid client.";
		return -1;
	}
	if ((rc = pot_store_client_get(d->store, client_id, &a->client)) != POT_OK) {
		*page_status = rc == POT_ERR_NOT_FOUND ? 400 : 503;
		*why = rc == POT_ERR_NOT_FOUND ? "Unknown client." : "The service is unavailable.";
		return -1;
	}
	if (redirect_uri == NULL || !copy(a->redirect_uri, sizeof(a->redirect_uri), redirect_uri) ||
	    !redirect_ok(&a->client, redirect_uri)) {
		*page_status = 400;
		*why = "The redirect URI is not registered for this client.";
		return -1;
	}
	/* from here on, errors go back to the client */
	if (!copy(a->state, sizeof(a->state), state)) {
		*error = "invalid_request";
		*why = "state is too long";
		return -1;
	}
	if (response_type == NULL || strcmp(response_type, "code") != 0) {
		*error = "unsupported_response_type";
		*why = "only response_type=code";
		return -1;
	}
	if ((a->client.grants & POT_GRANT_CODE) == 0) {
		*error = "unauthorized_client";
		*why = "the client may not use the authorization code flow";
		return -1;
	}
	if (challenge == NULL || method == NULL || strcmp(method, "S256") != 0 ||
	    strlen(challenge) != 43 || !copy(a->challenge, sizeof(a->challenge), challenge)) {
		*error = "invalid_request";
		*why = "PKCE with code_challenge_method=S256 is required";
		return -1;
	}
	if (scope == NULL)
		scope = a->client.scope;
	if (!copy(a->scope, sizeof(a->scope), scope) || !potd_scope_subset(scope, a->client.scope)) {
		*error = "invalid_scope";
		*why = "a scope beyond the client's registration";
		return -1;
	}
	return 0;
}

/* --- the signed hidden state ---------------------------------------------------------- */

static int
form_mac(const struct potd *d, const char *kind, const char *req, char **out)
{
	unsigned char mac[32];
	unsigned int len = sizeof(mac);
	char *msg = NULL;
	int r;

	*out = NULL;
	if (asprintf(&msg, "%s|%s", kind, req) < 0)
		return POT_ERR_ALLOC;
	if (HMAC(EVP_sha256(), d->form_key, sizeof(d->form_key), (unsigned char *)msg, strlen(msg),
		 mac, &len) == NULL) {
		free(msg);
		return POT_ERR_CRYPTO;
	}
	free(msg);
	r = pot_b64url_encode(mac, sizeof(mac), out);
	pot_wipe(mac, sizeof(mac));
	return r;
}

/* Encodes a (with extra members) as the req field and its MAC. */
static int
form_seal(const struct potd *d, const char *kind, const struct authz *a, json_t *extra,
	  char **req, char **mac)
{
	unsigned char nonce[16];
	char *text = NULL, *n64 = NULL;
	json_t *j;
	int r = POT_ERR_ALLOC;

	*req = *mac = NULL;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 || pot_b64url_encode(nonce, sizeof(nonce), &n64) != 0) {
		json_decref(extra);
		return POT_ERR_CRYPTO;
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "client_id", a->client_id,
		      "redirect_uri", a->redirect_uri, "scope", a->scope, "state", a->state,
		      "code_challenge", a->challenge, "iat", (json_int_t)potd_now(), "nonce", n64);
	if (j != NULL && extra != NULL)
		json_object_update(j, extra);
	json_decref(extra);
	if (j != NULL && (text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) != NULL &&
	    (r = pot_b64url_encode(text, strlen(text), req)) == POT_OK)
		r = form_mac(d, kind, *req, mac);
	json_decref(j);
	free(text);
	free(n64);
	return r;
}

/* Checks the MAC and age of a sealed form; *out gets its JSON. */
static int
form_open(struct potd *d, const char *kind, const char *req, const char *mac, int64_t ttl,
	  json_t **out)
{
	unsigned char *raw = NULL;
	char *want = NULL;
	size_t rawlen;
	json_t *j = NULL;
	int64_t iat;
	int r = POT_ERR_DENIED;

	*out = NULL;
	if (req == NULL || mac == NULL || form_mac(d, kind, req, &want) != POT_OK)
		return POT_ERR_DENIED;
	if (strlen(mac) != strlen(want) || CRYPTO_memcmp(mac, want, strlen(want)) != 0)
		goto out;
	if (pot_b64url_decode(req, strlen(req), &raw, &rawlen) != POT_OK ||
	    (j = json_loadb((char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		goto out;
	iat = json_integer_value(json_object_get(j, "iat"));
	if (iat > potd_now() + 5 || potd_now() - iat > ttl) {
		r = POT_ERR_EXPIRED;
		goto out;
	}
	*out = j;
	j = NULL;
	r = POT_OK;
out:
	json_decref(j);
	free(raw);
	free(want);
	return r;
}

static const char *
jstr(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

/*
 * The request sealed in a POSTed form of kind ("login" or "consent"): its MAC and age
 * checked, then its client and redirect checked again (the client may have been removed
 * since). 0 with the form's JSON in *j (the caller's to json_decref) and the request in
 * *a; else -1 with the error page's status and text.
 */
static int
form_reopen(struct potd_req *r, const char *kind, int64_t ttl, json_t **j, struct authz *a,
	    unsigned *page_status, const char **why)
{
	const char *error;

	if (form_open(r->d, kind, potd_form(r, "req"), potd_form(r, "mac"), ttl, j) != POT_OK) {
		*page_status = 400;
		*why = strcmp(kind, "login") == 0 ?
		       "This sign-in form was changed or is too old. Start again from the application." :
		       "This consent form was changed or is too old. Start again from the application.";
		return -1;
	}
	if (authz_check(r->d, jstr(*j, "client_id"), jstr(*j, "redirect_uri"), "code",
			jstr(*j, "scope"), jstr(*j, "state"), jstr(*j, "code_challenge"), "S256", a,
			page_status, &error, why) != 0) {
		json_decref(*j);
		*j = NULL;
		if (*page_status == 0)
			*page_status = 400;
		return -1;
	}
	return 0;
}

/* --- PAM ------------------------------------------------------------------------------ */

struct pam_answers {
	const char *user;
	const char *password;
};

static int
pam_conv_answer(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_answers *ans = data;
	struct pam_response *r;
	int i;

	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		const char *v = msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ? ans->password :
				msg[i]->msg_style == PAM_PROMPT_ECHO_ON ? ans->user : NULL;

		if (v != NULL && (r[i].resp = strdup(v)) == NULL)
			goto fail;
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++)
		pot_secret_free(r[i].resp);
	free(r);
	return PAM_BUF_ERR;
}

/*
 * The user's password through login_service: auth and account. *canon receives PAM_USER
 * as the stack left it (modules may canonicalise the name): that is who signed in.
 */
static int
pam_login(struct potd *d, const char *user, const char *password, const char *rhost,
	  char *canon, size_t canonlen)
{
	struct pam_answers ans = { user, password };
	struct pam_conv conv = { pam_conv_answer, &ans };
	pam_handle_t *ph = NULL;
	const void *item = NULL;
	int rc;

	if ((rc = pam_start(d->conf->login_service, user, &conv, &ph)) != PAM_SUCCESS)
		return rc;
	if (rhost != NULL)
		pam_set_item(ph, PAM_RHOST, rhost);
	if ((rc = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK)) == PAM_SUCCESS)
		rc = pam_acct_mgmt(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS &&
	    (pam_get_item(ph, PAM_USER, &item) != PAM_SUCCESS || item == NULL ||
	     !copy(canon, canonlen, item) || canon[0] == '\0'))
		rc = PAM_USER_UNKNOWN;
	pam_end(ph, rc);
	return rc;
}

static const char *
peer_ip(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	buf[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)len);
	return buf[0] != '\0' ? buf : "-";
}

/* A user name as logs and tokens may carry it: printable, no space, not too long. */
static bool
user_name_ok(const char *u)
{
	size_t n = strlen(u), i;

	if (n == 0 || n >= POT_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (u[i] <= 0x20 || u[i] >= 0x7f || u[i] == '"' || u[i] == '\\')
			return false;
	return true;
}

/* --- issuing the code ----------------------------------------------------------------- */

static enum MHD_Result
issue_code(struct MHD_Connection *c, struct potd *d, const struct authz *a, const char *user,
	   const char *scope, int64_t auth_time)
{
	char code[POT_SECRET_LEN + 1], grant[POT_SECRET_LEN + 1];
	struct pot_code rec;
	enum MHD_Result ret;

	memset(&rec, 0, sizeof(rec));
	if (pot_secret_generate(POT_CODE_PREFIX, code) != POT_OK ||
	    pot_secret_generate("pot_gr_", grant) != POT_OK ||
	    pot_secret_id(pot_keystore_pepper(d->ks), code, rec.id) != POT_OK ||
	    !copy(rec.user, sizeof(rec.user), user) || !copy(rec.scope, sizeof(rec.scope), scope))
		return redirect_error(c, d, a, "server_error", "cannot make a code");
	strcpy(rec.client_id, a->client_id);
	strcpy(rec.redirect_uri, a->redirect_uri);
	strcpy(rec.challenge, a->challenge);
	/* the grant id only names a family: 16 characters of it are plenty and stay short in jti */
	snprintf(rec.grant, sizeof(rec.grant), "g%.16s", grant + 7);
	rec.expires = potd_now() + (int64_t)d->conf->code_ttl;
	rec.auth_time = auth_time;
	if (pot_store_code_put(d->store, &rec) != POT_OK) {
		syslog(LOG_ERR, "authorize: cannot store a code: %s", pot_store_strerror(d->store));
		return redirect_error(c, d, a, "temporarily_unavailable", "try again");
	}
	syslog(LOG_INFO, "authorize: code for user=%s client=%s scope=\"%s\"", user, a->client_id, scope);
	ret = redirect(c, d, a, "code", code, NULL, NULL);
	pot_wipe(code, sizeof(code));
	return ret;
}

/* --- the three steps ------------------------------------------------------------------- */

static enum MHD_Result
step_show(struct potd_req *r, struct MHD_Connection *c)
{
	const char *error, *why;
	char *req = NULL, *mac = NULL;
	struct authz a;
	unsigned status;
	enum MHD_Result ret;

	if (potd_query_has_dup(c))
		return error_page(c, 400, "A parameter of the request is repeated.");
	if (authz_check(r->d, potd_query(c, "client_id", NULL), potd_query(c, "redirect_uri", NULL),
			potd_query(c, "response_type", NULL), potd_query(c, "scope", NULL),
			potd_query(c, "state", NULL), potd_query(c, "code_challenge", NULL),
			potd_query(c, "code_challenge_method", NULL), &a, &status, &error, &why) != 0)
		return status != 0 ? error_page(c, status, why) : redirect_error(c, r->d, &a, error, why);
	if (form_seal(r->d, "login", &a, NULL, &req, &mac) != POT_OK)
		return error_page(c, 500, "Internal error.");
	ret = login_page(c, 200, &a, req, mac, NULL, NULL);
	free(req);
	free(mac);
	return ret;
}

static enum MHD_Result
step_login(struct potd_req *r, struct MHD_Connection *c)
{
	const char *user = potd_form(r, "username"), *password = potd_form(r, "password"), *why;
	char granted[POT_SCOPE_MAX], ip[64], key[POT_NAME_MAX + 80], *req = NULL, *mac = NULL;
	char canon[POT_NAME_MAX];
	struct potd *d = r->d;
	struct authz a;
	unsigned status, wait;
	enum MHD_Result ret;
	json_t *j = NULL;
	int rc;

	if (form_reopen(r, "login", LOGIN_FORM_TTL, &j, &a, &status, &why) != 0)
		return error_page(c, status, why);
	json_decref(j);
	if (form_seal(d, "login", &a, NULL, &req, &mac) != POT_OK)
		return error_page(c, 500, "Internal error.");
	if (user == NULL || password == NULL) {
		ret = login_page(c, 400, &a, req, mac, user, "Enter your user name and password.");
		goto out;
	}
	/* online guessing: per user and per address, failures make the next tries wait */
	snprintf(key, sizeof(key), "login:%s", user);
	wait = potd_throttle_check(d->throttle, key, potd_now());
	snprintf(key, sizeof(key), "ip:%s", peer_ip(c, ip, sizeof(ip)));
	if (wait == 0)
		wait = potd_throttle_check(d->throttle, key, potd_now());
	if (wait != 0) {
		ret = login_page(c, 429, &a, req, mac, user,
				 "Too many failed sign-ins. Wait a minute and try again.");
		goto out;
	}
	/* a name no account can have fails like a wrong password, without asking PAM */
	rc = user_name_ok(user) ? pam_login(d, user, password, ip, canon, sizeof(canon)) : PAM_USER_UNKNOWN;
	if (rc != PAM_SUCCESS) {
		char safe[POT_NAME_MAX];

		syslog(LOG_NOTICE, "authorize: sign-in failed for user=%s from %s: %s",
		       pot_log_safe(user, safe, sizeof(safe)), ip, pam_strerror(NULL, rc));
		potd_throttle_fail(d->throttle, key, potd_now());
		snprintf(key, sizeof(key), "login:%s", user);
		potd_throttle_fail(d->throttle, key, potd_now());
		ret = login_page(c, 401, &a, req, mac, user, "Sign-in failed: wrong user name or password.");
		goto out;
	}
	snprintf(key, sizeof(key), "login:%s", user);
	potd_throttle_ok(d->throttle, key);
	snprintf(key, sizeof(key), "ip:%s", ip);
	potd_throttle_ok(d->throttle, key);
	user = canon;
	if (potd_scope_policy(d->conf, user, a.scope, granted, sizeof(granted)) != POT_OK) {
		ret = redirect_error(c, d, &a, "invalid_scope", "too many scopes");
		goto out;
	}
	if (a.client.first_party) {
		ret = issue_code(c, d, &a, user, granted, potd_now());
		goto out;
	}
	free(req);
	free(mac);
	if (form_seal(d, "consent", &a, json_pack("{s:s, s:s, s:I}", "user", user, "granted", granted,
						  "auth_time", (json_int_t)potd_now()), &req, &mac) != POT_OK) {
		req = mac = NULL;
		ret = error_page(c, 500, "Internal error.");
		goto out;
	}
	ret = consent_page(c, &a, user, granted, req, mac);
out:
	free(req);
	free(mac);
	return ret;
}

static enum MHD_Result
step_consent(struct potd_req *r, struct MHD_Connection *c)
{
	const char *decision = potd_form(r, "decision"), *why, *nonce;
	struct potd *d = r->d;
	unsigned char id[POT_ID_LEN];
	char user[POT_NAME_MAX], granted[POT_SCOPE_MAX];
	struct authz a;
	unsigned status;
	int64_t auth_time;
	json_t *j = NULL;
	int rc;

	if (form_reopen(r, "consent", CONSENT_FORM_TTL, &j, &a, &status, &why) != 0)
		return error_page(c, status, why);
	nonce = jstr(j, "nonce");
	auth_time = json_integer_value(json_object_get(j, "auth_time"));
	if (nonce == NULL || !copy(user, sizeof(user), jstr(j, "user")) || user[0] == '\0' ||
	    !copy(granted, sizeof(granted), jstr(j, "granted")) ||
	    pot_secret_id(pot_keystore_pepper(d->ks), nonce, id) != POT_OK) {
		json_decref(j);
		return error_page(c, 400, "This consent form is damaged.");
	}
	json_decref(j);
	/* one answer per consent form: the nonce is spent until the form would expire anyway */
	rc = pot_store_nonce_use(d->store, id, potd_now() + CONSENT_FORM_TTL + 60);
	if (rc == POT_ERR_EXISTS)
		return error_page(c, 400, "This consent form was already answered.");
	if (rc != POT_OK)
		return error_page(c, 503, "The service is unavailable. Try again.");
	if (decision == NULL || strcmp(decision, "allow") != 0) {
		syslog(LOG_INFO, "authorize: user=%s denied client=%s", user, a.client_id);
		return redirect_error(c, d, &a, "access_denied", "the user denied the request");
	}
	return issue_code(c, d, &a, user, granted, auth_time);
}

enum MHD_Result
potd_authorize(struct potd_req *r, struct MHD_Connection *c, const char *method)
{
	const char *step;

	if (strcmp(method, "POST") != 0)
		return step_show(r, c);
	if (potd_query(c, "client_secret", NULL) != NULL)
		return error_page(c, 400, "Credentials do not belong in the URL.");
	step = potd_form(r, "step");
	if (step != NULL && strcmp(step, "login") == 0)
		return step_login(r, c);
	if (step != NULL && strcmp(step, "consent") == 0)
		return step_consent(r, c);
	return error_page(c, 400, "Unknown form.");
}
