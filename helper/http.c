/* http.c — potd's HTTP layer: routes, request bodies, replies, client authentication. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "form.h"
#include "potd.h"
#include "pot/err.h"
#include "pot/secret.h"
#include "pot/util.h"

enum { M_GET = 1, M_POST = 2 };

static const struct route {
	const char *path;
	unsigned methods;
	potd_handler handler;
} routes[] = {
	{ "/.well-known/oauth-authorization-server", M_GET, potd_metadata },
	{ "/auth/v2/jwks", M_GET, potd_jwks },
	{ "/auth/v2/authorize", M_GET | M_POST, potd_authorize },
	{ "/auth/v2/token", M_POST, potd_token },
	{ "/auth/v2/revoke", M_POST, potd_revoke },
	{ "/auth/v2/introspect", M_POST, potd_introspect },
	{ "/healthz", M_GET, potd_healthz },
	{ "/metrics", M_GET, potd_metrics_page },
};
#define NROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

const char *
potd_route_name(int endpoint)
{
	return endpoint >= 0 && endpoint < NROUTES ? routes[endpoint].path : "other";
}

int64_t
potd_now(void)
{
	return (int64_t)time(NULL);
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- request state: created on the first callback, freed when completed -------------- */

static unsigned long inflight;	/* requests begun and not completed: what SIGTERM waits for */

unsigned long
potd_http_inflight(void)
{
	return __atomic_load_n(&inflight, __ATOMIC_RELAXED);
}

static struct potd_req *
req_new(struct potd *d)
{
	struct potd_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->d = d;
	r->endpoint = -1;
	r->start_ns = mono_ns();
	return r;
}

static void
req_free(struct potd_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	for (i = 0; i < r->nform; i++) {
		free(r->form[i].name);
		pot_secret_free(r->form[i].value);	/* codes, secrets, tokens, passwords */
	}
	pot_wipe(r, sizeof(*r));
	free(r);
}

static struct potd_param *
form_find(struct potd_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nform; i++)
		if (strcmp(r->form[i].name, name) == 0)
			return &r->form[i];
	return NULL;
}

/* MHD's post processor hands a value in pieces; off == 0 starts a new one. */
static enum MHD_Result
form_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
	  const char *content_type, const char *encoding, const char *data, uint64_t off,
	  size_t size)
{
	struct potd_req *r = cls;
	struct potd_param *p;
	char *v;
	size_t have;

	(void)kind;
	(void)content_type;
	(void)encoding;
	if (filename != NULL) {			/* no uploads here */
		r->form_bad = true;
		return MHD_NO;
	}
	p = form_find(r, key);
	if (off == 0) {
		if (p != NULL || r->nform == POTD_PARAMS_MAX) {
			r->form_bad = true;	/* repeated parameter (RFC 6749 §3.2) */
			return MHD_NO;
		}
		p = &r->form[r->nform];
		if ((p->name = strdup(key)) == NULL || (p->value = strdup("")) == NULL) {
			free(p->name);
			p->name = NULL;
			return MHD_NO;
		}
		r->nform++;
	}
	if (p == NULL || size == 0)
		return MHD_YES;
	have = strlen(p->value);
	if ((v = malloc(have + size + 1)) == NULL)
		return MHD_NO;
	memcpy(v, p->value, have);
	memcpy(v + have, data, size);
	v[have + size] = '\0';
	if (memchr(data, '\0', size) != NULL)
		r->form_bad = true;
	pot_secret_free(p->value);
	p->value = v;
	return MHD_YES;
}

const char *
potd_form(const struct potd_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nform; i++)
		if (strcmp(r->form[i].name, name) == 0)
			return r->form[i].value[0] != '\0' ? r->form[i].value : NULL;
	return NULL;
}

struct query_find {
	const char *name;
	const char *value;
	unsigned seen;
	bool dup_any;
	char *names[POTD_PARAMS_MAX];
	size_t n;
};

static enum MHD_Result
query_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_find *q = cls;
	size_t i;

	(void)kind;
	if (q->name != NULL && strcmp(key, q->name) == 0) {
		q->seen++;
		q->value = value;
	}
	for (i = 0; i < q->n; i++)
		if (strcmp(q->names[i], key) == 0)
			q->dup_any = true;
	if (q->n < POTD_PARAMS_MAX)
		q->names[q->n++] = (char *)(uintptr_t)key;
	return MHD_YES;
}

const char *
potd_query(struct MHD_Connection *c, const char *name, bool *dup)
{
	struct query_find q = { .name = name };

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_iter, &q);
	if (dup != NULL)
		*dup = q.seen > 1;
	return q.value != NULL && *q.value != '\0' ? q.value : NULL;
}

bool
potd_query_has_dup(struct MHD_Connection *c)
{
	struct query_find q = { .name = NULL };

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_iter, &q);
	return q.dup_any;
}

/* --- replies ---------------------------------------------------------------------------- */

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body, size_t len,
      const char *cache_control, const char *www_auth)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
	if (strcmp(cache_control, "no-store") == 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (www_auth != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www_auth);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
potd_reply_text(struct MHD_Connection *c, unsigned status, const char *type, const char *text,
		const char *cache_control)
{
	return reply(c, status, type, text, strlen(text), cache_control, NULL);
}

enum MHD_Result
potd_reply_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	ret = reply(c, status, "application/json", text, strlen(text), "no-store", NULL);
	pot_secret_free(text);		/* may hold tokens */
	return ret;
}

static enum MHD_Result
reply_error(struct MHD_Connection *c, unsigned status, const char *error, const char *desc,
	    const char *www_auth)
{
	json_t *j = json_pack("{s:s}", "error", error);
	char *text;
	enum MHD_Result ret;

	if (j != NULL && desc != NULL)
		json_object_set_new(j, "error_description", json_string(desc));
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return MHD_NO;
	}
	json_decref(j);
	ret = reply(c, status, "application/json", text, strlen(text), "no-store", www_auth);
	free(text);
	return ret;
}

enum MHD_Result
potd_reply_error(struct MHD_Connection *c, unsigned status, const char *error, const char *desc)
{
	return reply_error(c, status, error, desc,
			   status == 401 ? "Basic realm=\"" POTD_REALM "\"" : NULL);
}

/* --- client authentication ---------------------------------------------------------- */

enum potd_auth
potd_client_auth(struct potd_req *r, struct MHD_Connection *c, bool allow_public,
		 struct pot_client *out, bool *basic)
{
	const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *body_id = potd_form(r, "client_id"), *body_secret = potd_form(r, "client_secret");
	char *b_id = NULL, *b_secret = NULL, throttle_key[POT_NAME_MAX + 8];
	const char *id, *secret;
	unsigned char want[POT_ID_LEN];
	enum potd_auth a = POTD_AUTH_FAILED;
	int rc;

	memset(out, 0, sizeof(*out));
	*basic = hdr != NULL;
	if (potd_query(c, "client_secret", NULL) != NULL || potd_query(c, "client_id", NULL) != NULL)
		return POTD_AUTH_BAD_REQUEST;		/* never in the URI (§2.3.1) */
	if (hdr != NULL) {
		if (body_secret != NULL || potd_basic_credentials(hdr, &b_id, &b_secret) != POT_OK)
			return POTD_AUTH_BAD_REQUEST;	/* one method only (§2.3) */
		if (body_id != NULL && strcmp(body_id, b_id) != 0) {
			a = POTD_AUTH_BAD_REQUEST;
			goto out;
		}
	}
	id = b_id != NULL ? b_id : body_id;
	secret = b_secret != NULL ? b_secret : body_secret;
	if (id == NULL || *id == '\0' || strlen(id) >= POT_NAME_MAX)
		goto out;		/* Basic with an empty user-id: no client, not a store failure */
	snprintf(throttle_key, sizeof(throttle_key), "client:%s", id);
	if (potd_throttle_check(r->d->throttle, throttle_key, potd_now()) != 0) {
		a = POTD_AUTH_THROTTLED;
		goto out;
	}
	if ((rc = pot_store_client_get(r->d->store, id, out)) != POT_OK) {
		a = rc == POT_ERR_NOT_FOUND ? POTD_AUTH_FAILED : POTD_AUTH_STORE;
		goto fail;
	}
	if (!out->confidential) {
		a = secret == NULL && allow_public ? POTD_AUTH_OK : POTD_AUTH_FAILED;
		goto fail;
	}
	if (secret == NULL || !pot_secret_well_formed(secret, POT_CS_PREFIX) ||
	    pot_secret_id(pot_keystore_pepper(r->d->ks), secret, want) != POT_OK ||
	    CRYPTO_memcmp(want, out->secret, sizeof(want)) != 0)
		goto fail;
	a = POTD_AUTH_OK;
fail:
	if (a == POTD_AUTH_FAILED) {
		potd_throttle_fail(r->d->throttle, throttle_key, potd_now());
		char safe[POT_NAME_MAX];

		syslog(LOG_NOTICE, "client authentication failed for client_id=%s",
		       pot_log_safe(id, safe, sizeof(safe)));
	}
	else if (a == POTD_AUTH_OK && out->confidential)
		potd_throttle_ok(r->d->throttle, throttle_key);
out:
	if (a != POTD_AUTH_OK)
		memset(out, 0, sizeof(*out));
	pot_wipe(want, sizeof(want));
	free(b_id);
	pot_secret_free(b_secret);
	return a;
}

enum MHD_Result
potd_reply_auth_error(struct MHD_Connection *c, enum potd_auth a, bool basic)
{
	(void)basic;
	switch (a) {
	case POTD_AUTH_BAD_REQUEST:
		return potd_reply_error(c, 400, "invalid_request",
					"client credentials must be sent once, by one method, never in the URI");
	case POTD_AUTH_THROTTLED:
		return reply_error(c, 401, "invalid_client", "too many failed attempts; retry later",
				   "Basic realm=\"" POTD_REALM "\"");
	case POTD_AUTH_STORE:
		return potd_reply_error(c, 503, "temporarily_unavailable", NULL);
	default:
		return potd_reply_error(c, 401, "invalid_client", "client authentication failed");
	}
}

/* --- the MHD callbacks ---------------------------------------------------------------- */

static int
route_find(const char *url)
{
	int i;

	for (i = 0; i < NROUTES; i++)
		if (strcmp(routes[i].path, url) == 0)
			return i;
	return -1;
}

enum MHD_Result
potd_http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
		 const char *version, const char *upload, size_t *upload_len, void **req_cls)
{
	struct potd_req *r = *req_cls;
	unsigned m;

	(void)version;
	if (r == NULL) {
		if ((r = req_new(cls)) == NULL)
			return MHD_NO;
		__atomic_fetch_add(&inflight, 1, __ATOMIC_RELAXED);
		*req_cls = r;
		r->endpoint = route_find(url);
		return MHD_YES;
	}
	if (*upload_len != 0) {
		r->body_len += *upload_len;
		if (r->body_len > POTD_BODY_MAX)
			r->too_big = true;
		else if (!r->form_bad) {
			if (r->pp == NULL && (r->pp = MHD_create_post_processor(c, 4096, form_iter, r)) == NULL)
				r->form_bad = true;	/* not application/x-www-form-urlencoded */
			else if (MHD_post_process(r->pp, upload, *upload_len) != MHD_YES)
				r->form_bad = true;
		}
		*upload_len = 0;
		return MHD_YES;
	}
	if (r->endpoint < 0)
		return potd_reply_error(c, 404, "not_found", NULL);
	m = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? M_GET :
	    strcmp(method, "POST") == 0 ? M_POST : 0;
	if ((routes[r->endpoint].methods & m) == 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					routes[r->endpoint].methods == M_POST ? "POST" :
					routes[r->endpoint].methods == M_GET ? "GET, HEAD" : "GET, HEAD, POST");
		ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (r->too_big)
		return potd_reply_error(c, 413, "invalid_request", "request body too large");
	if (m == M_POST && r->form_bad)
		return potd_reply_error(c, 400, "invalid_request",
					"the body must be application/x-www-form-urlencoded, each parameter once");
	return routes[r->endpoint].handler(r, c, method);
}

void
potd_http_completed(void *cls, struct MHD_Connection *c, void **req_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct potd_req *r = *req_cls;
	const union MHD_ConnectionInfo *ci;
	unsigned status = 0;

	(void)cls;
	(void)toe;
	if (r == NULL)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
	if (ci != NULL)
		status = ci->http_status;
	potd_metrics_request(r->d->metrics, r->endpoint, status, mono_ns() - r->start_ns);
	req_free(r);
	*req_cls = NULL;
	__atomic_fetch_sub(&inflight, 1, __ATOMIC_RELAXED);
}
