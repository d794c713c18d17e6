/*
 * pot_user.h — the user half of `pot`: login, token, askpass, logout, status (pot_user.c),
 * and the HTTP they need (pot_http.c): a client for potd's endpoints on OpenSSL's own
 * HTTP client, and the RFC 8252 loopback receiver (libmicrohttpd) that takes the
 * authorization response from the browser.
 */
#ifndef POT_USER_H
#define POT_USER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define POT_USER_CLIENT_ID	"pot"		/* the first-party public client of DESIGN.md */
#define POT_ASKPASS_NAME	"pot-askpass"	/* pot run under this name is `pot askpass` */
#define POT_USER_REFRESH_SKEW	60		/* refresh when the access token has less left */
#define POT_LOGIN_TIMEOUT	300		/* seconds the browser has to come back */
#define POT_HTTP_TIMEOUT	30		/* seconds for one HTTP exchange */
#define POT_HTTP_BODY_MAX	(64 * 1024)	/* no reply of potd needs more */

/* What the command line of a user command says (pot.c parses it). */
struct pot_user_args {
	bool json;
	const char *server;	/* login: --server, else pot.conf's issuer (pot.c fills it in) */
	const char *client_id;	/* login: --client-id, NULL: POT_USER_CLIENT_ID */
	const char *scope;	/* login: --scope, NULL: none sent (the client's registered scope) */
	bool no_browser;	/* login */
};

/* Each returns the exit status: 0 ok, 1 failure (after a `pot: ...` message). */
int pot_user_login(const struct pot_user_args *a);
int pot_user_token(const struct pot_user_args *a, bool askpass);
int pot_user_logout(const struct pot_user_args *a);
int pot_user_status(const struct pot_user_args *a);

/* --- pot_http.c: the client ----------------------------------------------------------- */

/*
 * A URL pot may send a secret to: https://HOST[:PORT][/PATH], or http:// only to a
 * loopback address (127.0.0.0/8, [::1]); no user info, no fragment. POT_OK, or
 * POT_ERR_BAD_REQUEST with the reason in err.
 */
int pot_url_check(const char *url, char *err, size_t errlen);

/*
 * GET url (form NULL) or POST the application/x-www-form-urlencoded form to it; the
 * reply must be a JSON object, read into *body. TLS verifies the server's certificate
 * and name against the system's trust store. *status is the HTTP status (0 when there
 * was none). Returns POT_OK (200), POT_ERR_DENIED (the server answered 4xx: *body holds
 * its RFC 6749 error object when OpenSSL returned one, else NULL), POT_ERR_UNAVAILABLE
 * (no answer, TLS failure, 5xx), POT_ERR_MALFORMED (not a JSON object), with err set.
 */
int pot_http_json(const char *url, const char *form, unsigned *status, json_t **body,
		  char *err, size_t errlen);

/* Appends name=value, percent-encoded, to the form or query in *buf (&-separated). */
int pot_form_add(char **buf, const char *name, const char *value);

/* --- pot_http.c: the loopback redirect receiver --------------------------------------- */

struct pot_redirect;

struct pot_redirect_want {
	const char *path;	/* "/callback" */
	const char *state;	/* compared in constant time */
	const char *issuer;	/* RFC 9207: iss must be this when present */
	bool iss_required;	/* the server's metadata promises iss */
};

/* Listens on 127.0.0.1, on a port the kernel picks: *port. */
int pot_redirect_open(struct pot_redirect **out, unsigned *port, char *err, size_t errlen);

/*
 * Serves until one GET to want->path arrives or timeout_s seconds pass, calling tick
 * (when not NULL) about four times a second. POT_OK: *code is the authorization code
 * (free with pot_secret_free). Otherwise err says why: POT_ERR_EXPIRED (timed out),
 * POT_ERR_DENIED (error=... from the server), POT_ERR_BAD_REQUEST (state or iss wrong,
 * no code, a parameter repeated).
 */
int pot_redirect_wait(struct pot_redirect *r, const struct pot_redirect_want *want,
		      int timeout_s, void (*tick)(void *), void *arg, char **code, char *err,
		      size_t errlen);
void pot_redirect_close(struct pot_redirect *r);

/* "pot: message" on standard error (pot.c). */
void pot_warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
