/* potd.h — potd's private interface: daemon state, the HTTP layer, endpoints, metrics. */
#ifndef POTD_H
#define POTD_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include "pot/conf.h"
#include "pot/keys.h"
#include "pot/keystore.h"
#include "pot/store.h"

#define POTD_BODY_MAX		(16 * 1024)	/* no OAuth request body needs more */
#define POTD_PARAMS_MAX		32
#define POTD_REALM		"potd"

struct potd_metrics;
struct potd_throttle;

struct potd {
	/*
	 * Never changed in place: SIGHUP loads a new one and swaps the pointer; old ones
	 * stay allocated until exit, so a request may finish with the one it started with.
	 */
	struct pot_conf *conf;
	const char *config_path;
	struct pot_store *store;
	struct pot_keystore *ks;	/* guarded by ks_lock: `pot key` changes it */
	pthread_rwlock_t ks_lock;
	struct potd_metrics *metrics;
	struct potd_throttle *throttle;
	unsigned char form_key[32];	/* MACs the authorize form's hidden state */
	struct pot_keyring *keyring;	/* our own JWKS file, as pam_pot reads it (introspection) */
	pthread_mutex_t keyring_lock;
};

/* --- requests -------------------------------------------------------------------- */

struct potd_param {
	char *name;
	char *value;
};

struct potd_req {
	struct potd *d;
	struct MHD_PostProcessor *pp;
	struct potd_param form[POTD_PARAMS_MAX];
	size_t nform;
	size_t body_len;
	bool form_bad;		/* duplicate, too many, or an unsupported content type */
	bool too_big;
	int64_t start_ns;
	int endpoint;		/* index into the route table, for metrics */
};

/* A parameter of the form body, or NULL; an empty value counts as absent (RFC 6749 §3.2). */
const char *potd_form(const struct potd_req *r, const char *name);
/* A query-string argument, NULL if absent or empty; *dup set when repeated. */
const char *potd_query(struct MHD_Connection *c, const char *name, bool *dup);
bool potd_query_has_dup(struct MHD_Connection *c);

/* --- replies (all set Cache-Control: no-store and Pragma: no-cache) ---------------- */

enum MHD_Result potd_reply_json(struct MHD_Connection *c, unsigned status, json_t *body);
/* RFC 6749 §5.2 error; 401 gets WWW-Authenticate (Basic when basic is true, else Bearer-less Basic). */
enum MHD_Result potd_reply_error(struct MHD_Connection *c, unsigned status, const char *error,
				 const char *description);
enum MHD_Result potd_reply_text(struct MHD_Connection *c, unsigned status, const char *type,
				const char *text, const char *cache_control);

/* --- client authentication (RFC 6749 §2.3) ----------------------------------------- */

enum potd_auth {
	POTD_AUTH_OK = 0,
	POTD_AUTH_BAD_REQUEST,		/* two methods, credentials in the query, malformed */
	POTD_AUTH_FAILED,		/* unknown client or wrong secret: 401 invalid_client */
	POTD_AUTH_THROTTLED,		/* too many failures for this client */
	POTD_AUTH_STORE,		/* the store failed: 503 */
};

/*
 * Authenticates the client of a token/revoke/introspect request: HTTP Basic or
 * client_id + client_secret in the body, or a public client's client_id alone (when
 * allow_public). *basic tells which was used (for the WWW-Authenticate header).
 */
enum potd_auth potd_client_auth(struct potd_req *r, struct MHD_Connection *c, bool allow_public,
				 struct pot_client *out, bool *basic);
enum MHD_Result potd_reply_auth_error(struct MHD_Connection *c, enum potd_auth a, bool basic);

/* --- endpoints (one file each) ---------------------------------------------------- */

typedef enum MHD_Result (*potd_handler)(struct potd_req *r, struct MHD_Connection *c,
					const char *method);
enum MHD_Result potd_metadata(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_jwks(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_healthz(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_metrics_page(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_token(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_revoke(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_introspect(struct potd_req *r, struct MHD_Connection *c, const char *method);
enum MHD_Result potd_authorize(struct potd_req *r, struct MHD_Connection *c, const char *method);

/* http.c: the MHD access handler and completion callback */
enum MHD_Result potd_http_access(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_len, void **req_cls);
void potd_http_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe);
/* Requests begun and not yet completed (idle keep-alive connections are not counted). */
unsigned long potd_http_inflight(void);

/* --- shared helpers ------------------------------------------------------------------ */

int64_t potd_now(void);
/* Signs an access token with the current key; *out is freed by the caller. */
int potd_issue_at(struct potd *d, const char *sub, const char *client_id, const char *scope,
		  int64_t auth_time, const char *grant, char **out, int64_t *expires_in);
/* RFC 6749 §5.1 success: the access token, and the refresh token when not NULL. */
enum MHD_Result potd_reply_tokens(struct MHD_Connection *c, const char *at, int64_t expires_in,
				  const char *scope, const char *rt);
/* Is every scope of `want` in `allowed` (space-separated)? */
bool potd_scope_subset(const char *want, const char *allowed);
/* The scopes of want that user may be granted by the scope.NAME policy, into out. */
int potd_scope_policy(const struct pot_conf *conf, const char *user, const char *want,
		      char *out, size_t outlen);

/* sock.c: refresh-token checks for pam_pot on the UNIX socket */
int potd_sock_open(const char *path, uid_t owner, gid_t group);
int potd_sock_start(struct potd *d, int fd);
void potd_sock_stop(void);

/* metrics.c */
struct potd_metrics *potd_metrics_new(void);
void potd_metrics_free(struct potd_metrics *m);
void potd_metrics_request(struct potd_metrics *m, int endpoint, unsigned status, int64_t ns);
enum potd_counter {
	POTD_TOKENS_ISSUED, POTD_TOKENS_REFRESHED, POTD_TOKENS_REVOKED, POTD_REUSE_DETECTED,
	POTD_COUNTER_MAX
};
void potd_metrics_count(struct potd_metrics *m, enum potd_counter which);
char *potd_metrics_render(struct potd_metrics *m, const struct pot_store_stats *st);
const char *potd_route_name(int endpoint);

/* throttle.c: failures per key (client id, user) slow the next attempts */
struct potd_throttle *potd_throttle_new(void);
void potd_throttle_free(struct potd_throttle *t);
/* 0 when allowed now, else the seconds to wait. */
unsigned potd_throttle_check(struct potd_throttle *t, const char *key, int64_t now);
void potd_throttle_fail(struct potd_throttle *t, const char *key, int64_t now);
void potd_throttle_ok(struct potd_throttle *t, const char *key);

#endif
