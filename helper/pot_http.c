/*
 * pot_http.c — the HTTP of the user commands.
 *
 * The client is OpenSSL 3's own (OSSL_HTTP_open, _set1_request, _exchange) over a
 * connection made here: OpenSSL's connect retries a refused connection until its timeout,
 * and `pot token` must fail at once when potd is down. One request per connection, no
 * proxy, no redirects, JSON replies only, POT_HTTP_TIMEOUT for everything. https://
 * verifies the server's certificate against the system's trust store (SSL_CERT_FILE and
 * SSL_CERT_DIR apply) and its host name or IP address; http:// is refused unless the host
 * is a loopback address, so no secret crosses a network in clear. OpenSSL 3.0 hands back
 * no body for a 4xx reply, only the status (in its error queue): callers go by the
 * status; an OpenSSL that returns the body is handled too.
 *
 * The receiver is a libmicrohttpd daemon on 127.0.0.1 and a port the kernel picks, run
 * from the calling thread (no threads of its own): RFC 8252 §7.3. It takes one GET to the
 * redirect path, checks state (constant time) and iss (RFC 9207), answers the browser a
 * small page and hands the code to the caller. Other paths get 404 (browsers ask for
 * /favicon.ico), other methods 405.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pot_user.h"
#include "pot/err.h"
#include "pot/util.h"

#define CODE_MAX	1024		/* longer is no code of potd's */

/* --- URLs ----------------------------------------------------------------------------- */

struct url {
	int tls;
	char *host;		/* as OpenSSL parsed it: an IPv6 address in [] */
	char *port;
	char *path;		/* with the query (malloc) */
	char name[256];		/* the host for TLS checks: without [] */
};

static void
url_free(struct url *u)
{
	OPENSSL_free(u->host);
	OPENSSL_free(u->port);
	free(u->path);
	memset(u, 0, sizeof(*u));
}

static bool
is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

static bool
is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int
url_parse(const char *url, struct url *u, char *err, size_t errlen)
{
	char *user = NULL, *path = NULL, *query = NULL, *frag = NULL;
	size_t n;
	int r = POT_ERR_BAD_REQUEST;

	memset(u, 0, sizeof(*u));
	if (pot_skip_prefix(url, "https://") == NULL && pot_skip_prefix(url, "http://") == NULL)
		return pot_fail(r, err, errlen, "%s: not an http:// or https:// URL", url);
	if (strpbrk(url, " \t\r\n") != NULL ||
	    !OSSL_HTTP_parse_url(url, &u->tls, &user, &u->host, &u->port, NULL, &path, &query,
				 &frag)) {
		ERR_clear_error();
		return pot_fail(r, err, errlen, "%s: not a valid URL", url);
	}
	n = strlen(u->host);
	if (n >= 2 && u->host[0] == '[' && u->host[n - 1] == ']')
		snprintf(u->name, sizeof(u->name), "%.*s", (int)(n - 2), u->host + 1);
	else
		snprintf(u->name, sizeof(u->name), "%s", u->host);
	if (user[0] != '\0' || frag[0] != '\0')
		pot_fail(r, err, errlen, "%s: a user name or a fragment has no place in it", url);
	else if (u->name[0] == '\0' || strlen(u->host) >= sizeof(u->name))
		pot_fail(r, err, errlen, "%s: no valid host name", url);
	else if (!u->tls && !is_loopback(u->name))
		pot_fail(r, err, errlen, "%s: plain http only to a loopback address (127.0.0.1, "
			 "[::1]): use https", url);
	else if (asprintf(&u->path, "%s%s%s", path, query[0] != '\0' ? "?" : "", query) < 0) {
		u->path = NULL;
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	} else
		r = POT_OK;
	OPENSSL_free(user);
	OPENSSL_free(path);
	OPENSSL_free(query);
	OPENSSL_free(frag);
	if (r != POT_OK)
		url_free(u);
	return r;
}

int
pot_url_check(const char *url, char *err, size_t errlen)
{
	struct url u;
	int r = url_parse(url, &u, err, errlen);

	url_free(&u);
	return r;
}

/* --- the connection ------------------------------------------------------------------- */

static int
wait_fd(int fd, short events, time_t max_time)
{
	struct pollfd p = { .fd = fd, .events = events };
	time_t left;
	int n;

	do {
		if ((left = max_time - time(NULL)) <= 0)
			return 0;
		n = poll(&p, 1, (int)(left > POT_HTTP_TIMEOUT ? POT_HTTP_TIMEOUT : left) * 1000);
	} while (n == -1 && errno == EINTR);
	return n > 0;
}

/*
 * A TCP connection to the URL's host, non-blocking, tried once per address: OpenSSL's
 * own connect retries a refused connection until its timeout, and a `pot token` while
 * potd is down must fail at once. -1 after err.
 */
static int
tcp_connect(const struct url *u, time_t max_time, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	socklen_t elen;
	int fd = -1, e = ETIMEDOUT, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(u->name, u->port, &hints, &res)) != 0) {
		pot_fail(POT_ERR_UNAVAILABLE, err, errlen, "cannot resolve %s: %s", u->name,
			 gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		if (e == EINPROGRESS && wait_fd(fd, POLLOUT, max_time)) {
			elen = sizeof(e);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 && e == 0)
				break;
		} else if (e == EINPROGRESS)
			e = ETIMEDOUT;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		pot_fail(POT_ERR_UNAVAILABLE, err, errlen, "cannot connect to %s port %s: %s", u->name,
			 u->port, strerror(e));
	return fd;
}

/* The certificate must name the host: SNI and a name check, or an IP address check. */
static bool
tls_peer(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *vpm = SSL_get0_param(ssl);

	if (is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(vpm, name) == 1;
	X509_VERIFY_PARAM_set_hostflags(vpm, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
}

static SSL_CTX *
tls_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	/* the system's trust store; SSL_CERT_FILE and SSL_CERT_DIR override it */
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* TLS over bio (pushed on it), the handshake done and the server verified. */
static int
tls_start(SSL_CTX *ctx, const struct url *u, time_t max_time, BIO **bio, char *err,
	  size_t errlen)
{
	BIO *sbio = BIO_new_ssl(ctx, 1);
	SSL *ssl = NULL;
	long v;

	if (sbio == NULL || BIO_get_ssl(sbio, &ssl) <= 0 || ssl == NULL || !tls_peer(ssl, u->name)) {
		BIO_free(sbio);
		return pot_fail(POT_ERR_CRYPTO, err, errlen, "cannot set up TLS");
	}
	*bio = BIO_push(sbio, *bio);
	while (BIO_do_handshake(*bio) <= 0) {
		if (BIO_should_retry(*bio) && BIO_wait(*bio, max_time, 100) > 0)
			continue;
		if ((v = SSL_get_verify_result(ssl)) != X509_V_OK)
			return pot_fail(POT_ERR_UNAVAILABLE, err, errlen, "https://%s:%s: the server's "
					"certificate is not trusted: %s", u->host, u->port,
					X509_verify_cert_error_string(v));
		return pot_fail(POT_ERR_UNAVAILABLE, err, errlen, "https://%s:%s: the TLS handshake "
				"failed: %s", u->host, u->port,
				ERR_reason_error_string(ERR_peek_last_error()) != NULL ?
				ERR_reason_error_string(ERR_peek_last_error()) : "timed out");
	}
	return POT_OK;
}

/* A connection to u, with TLS for https: *bio. */
static int
conn_open(const struct url *u, SSL_CTX *ctx, time_t max_time, BIO **bio, char *err,
	  size_t errlen)
{
	int fd;

	*bio = NULL;
	if ((fd = tcp_connect(u, max_time, err, errlen)) == -1)
		return POT_ERR_UNAVAILABLE;
	if ((*bio = BIO_new_socket(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		return pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	}
	return u->tls ? tls_start(ctx, u, max_time, bio, err, errlen) : POT_OK;
}

/* --- the client ----------------------------------------------------------------------- */

/*
 * Empties OpenSSL's error queue into err. Returns the HTTP status OpenSSL 3.0 leaves
 * there for an error reply ("code=400, reason=Bad Request"), or 0.
 */
static unsigned
ossl_failure(const char *url, char *err, size_t errlen)
{
	const char *data, *reason, *p;
	char first[160] = "";
	unsigned long e;
	unsigned status = 0;
	int flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (ERR_GET_LIB(e) == ERR_LIB_HTTP && ERR_GET_REASON(e) == HTTP_R_RECEIVED_ERROR &&
		    (flags & ERR_TXT_STRING) != 0 && (p = strstr(data, "code=")) != NULL)
			status = (unsigned)strtoul(p + 5, NULL, 10);
		else if (first[0] == '\0' && (reason = ERR_reason_error_string(e)) != NULL)
			snprintf(first, sizeof(first), "%s", reason);
	}
	if (status != 0)
		snprintf(err, errlen, "%s answered HTTP %u", url, status);
	else
		snprintf(err, errlen, "%s: %s", url, first[0] != '\0' ? first : "the exchange failed");
	return status;
}

/* Reads the reply (at most POT_HTTP_BODY_MAX) from the stream OpenSSL returned. */
static int
read_body(OSSL_HTTP_REQ_CTX *rctx, BIO *resp, time_t max_time, char **out, size_t *outlen)
{
	size_t want = OSSL_HTTP_REQ_CTX_get_resp_len(rctx), len = 0;
	char *buf = malloc(POT_HTTP_BODY_MAX + 1);
	int n;

	*out = NULL;
	*outlen = 0;
	if (buf == NULL)
		return POT_ERR_ALLOC;
	while (len < POT_HTTP_BODY_MAX && (want == 0 || len < want)) {
		n = BIO_read(resp, buf + len, (int)(POT_HTTP_BODY_MAX - len));
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (!BIO_should_retry(resp) || BIO_wait(resp, max_time, 100) <= 0)
			break;
	}
	if ((want != 0 && len != want) || (want == 0 && len == POT_HTTP_BODY_MAX)) {
		pot_wipe(buf, POT_HTTP_BODY_MAX + 1);
		free(buf);
		return POT_ERR_MALFORMED;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return POT_OK;
}

static int
parse_reply(const char *url, char *buf, size_t len, unsigned *status, json_t **body, char *err,
	    size_t errlen)
{
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);

	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "%s: the reply is not a JSON object",
				url);
	}
	*body = j;
	if (json_is_string(json_object_get(j, "error"))) {
		/* an OpenSSL that returns the body of error replies, without their status */
		*status = 400;
		return pot_fail(POT_ERR_DENIED, err, errlen, "%s answered an error", url);
	}
	*status = 200;
	return POT_OK;
}

/* One exchange over the connection bio: the reply into *body. */
static int
exchange(const struct url *u, const char *url, BIO *bio, const char *form, time_t max_time,
	 unsigned *status, json_t **body, char *err, size_t errlen)
{
	OSSL_HTTP_REQ_CTX *rctx;
	BIO *req = NULL, *resp = NULL;
	time_t left;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (form != NULL && (req = BIO_new_mem_buf(form, (int)strlen(form))) == NULL)
		return pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	/* bio given for both ways: OpenSSL neither connects nor frees it */
	left = max_time - time(NULL);
	rctx = OSSL_HTTP_open(u->host, u->port, NULL, NULL, 0, bio, bio, NULL, NULL, 0,
			      left > 0 ? (int)left : 1);
	if (rctx == NULL || !OSSL_HTTP_set1_request(rctx, u->path, NULL,
			form != NULL ? "application/x-www-form-urlencoded" : NULL, req,
			"application/json", 0, POT_HTTP_BODY_MAX, -1, 0) ||
	    (resp = OSSL_HTTP_exchange(rctx, NULL)) == NULL) {
		*status = ossl_failure(url, err, errlen);
		r = *status >= 400 && *status < 500 ? POT_ERR_DENIED : POT_ERR_UNAVAILABLE;
	} else if ((r = read_body(rctx, resp, max_time, &buf, &len)) != POT_OK)
		r = pot_fail(r == POT_ERR_ALLOC ? r : POT_ERR_UNAVAILABLE, err, errlen,
			     "%s: the reply was cut short or too long", url);
	else
		r = parse_reply(url, buf, len, status, body, err, errlen);
	BIO_free(resp);			/* OSSL_HTTP_exchange took a reference for us */
	(void)OSSL_HTTP_close(rctx, r == POT_OK);
	BIO_free(req);
	if (buf != NULL)
		pot_wipe(buf, len);
	free(buf);
	return r;
}

int
pot_http_json(const char *url, const char *form, unsigned *status, json_t **body, char *err,
	      size_t errlen)
{
	time_t max_time = time(NULL) + POT_HTTP_TIMEOUT;
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	struct url u;
	int r;

	*status = 0;
	*body = NULL;
	ERR_clear_error();
	if ((r = url_parse(url, &u, err, errlen)) != POT_OK)
		return r;
	if (u.tls && (ctx = tls_ctx()) == NULL)
		r = pot_fail(POT_ERR_CRYPTO, err, errlen, "cannot set up TLS");
	else if ((r = conn_open(&u, ctx, max_time, &bio, err, errlen)) == POT_OK)
		r = exchange(&u, url, bio, form, max_time, status, body, err, errlen);
	if (bio != NULL && u.tls)
		(void)BIO_ssl_shutdown(bio);
	BIO_free_all(bio);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	url_free(&u);
	return r;
}

/* --- forms ---------------------------------------------------------------------------- */

static char *
pct_encode(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	return p;
}

int
pot_form_add(char **buf, const char *name, const char *value)
{
	size_t old = *buf != NULL ? strlen(*buf) : 0;
	char *nb = malloc(old + 1 + 3 * strlen(name) + 1 + 3 * strlen(value) + 1), *p;

	if (nb == NULL)
		return POT_ERR_ALLOC;
	if (old > 0)
		memcpy(nb, *buf, old);
	p = nb + old;
	if (old > 0 && nb[old - 1] != '?' && nb[old - 1] != '&')
		*p++ = '&';
	p = pct_encode(p, name);
	*p++ = '=';
	p = pct_encode(p, value);
	*p = '\0';
	pot_secret_free(*buf);		/* forms carry codes and refresh tokens */
	*buf = nb;
	return POT_OK;
}

/* --- the loopback receiver ------------------------------------------------------------ */

struct pot_redirect {
	struct MHD_Daemon *d;
	const struct pot_redirect_want *want;
	bool decided;		/* the one response came */
	bool finished;		/* and the browser got its page (or went away) */
	int64_t decided_at;
	int result;
	char *code;
	char err[512];
};

enum { P_CODE, P_STATE, P_ISS, P_ERROR, P_ERROR_DESC, P_MAX };

static const char *const param_names[P_MAX] = {
	"code", "state", "iss", "error", "error_description"
};

struct params {
	const char *v[P_MAX];
	unsigned n[P_MAX];
};

static enum MHD_Result
count_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct params *p = cls;
	size_t i;

	(void)kind;
	for (i = 0; i < P_MAX; i++) {
		if (key != NULL && strcmp(key, param_names[i]) == 0) {
			p->n[i]++;
			p->v[i] = value != NULL ? value : "";
		}
	}
	return MHD_YES;
}

/* s for a terminal: printable ASCII, anything else '?', truncated to fit. */
static const char *
printable(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < len; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static void
refuse(struct pot_redirect *r, int result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
refuse(struct pot_redirect *r, int result, const char *fmt, ...)
{
	va_list ap;

	r->result = result;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

/* The authorization response: RFC 6749 §4.1.2, RFC 9207. */
static void
decide(struct pot_redirect *r, struct MHD_Connection *c)
{
	const struct pot_redirect_want *w = r->want;
	struct params p;
	char b1[256], b2[256];
	size_t i;

	memset(&p, 0, sizeof(p));
	r->decided = true;
	r->decided_at = pot_mono_ms();
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_param, &p);
	for (i = 0; i < P_MAX; i++)
		if (p.n[i] > 1)
			return refuse(r, POT_ERR_BAD_REQUEST, "the sign-in response repeats `%s`",
				      param_names[i]);
	if (p.v[P_STATE] == NULL || !pot_ct_streq(p.v[P_STATE], w->state))
		return refuse(r, POT_ERR_BAD_REQUEST, "the sign-in response does not belong to this "
			      "login (its state differs): a stale browser tab, or a forged response");
	if (p.v[P_ISS] != NULL ? strcmp(p.v[P_ISS], w->issuer) != 0 : w->iss_required)
		return refuse(r, POT_ERR_BAD_REQUEST, "the sign-in response comes from issuer \"%s\", "
			      "not %s (RFC 9207)", printable(p.v[P_ISS] != NULL ? p.v[P_ISS] : "",
							       b1, 120), w->issuer);
	if (p.v[P_ERROR] != NULL)
		return refuse(r, POT_ERR_DENIED, "the server refused the sign-in: %s%s%s%s",
			      printable(p.v[P_ERROR], b1, 64),
			      p.v[P_ERROR_DESC] != NULL ? " (" : "",
			      p.v[P_ERROR_DESC] != NULL ? printable(p.v[P_ERROR_DESC], b2, 200) : "",
			      p.v[P_ERROR_DESC] != NULL ? ")" : "");
	if (p.v[P_CODE] == NULL || p.v[P_CODE][0] == '\0' || strlen(p.v[P_CODE]) > CODE_MAX)
		return refuse(r, POT_ERR_BAD_REQUEST, "the sign-in response carries no code");
	if ((r->code = strdup(p.v[P_CODE])) == NULL)
		return refuse(r, POT_ERR_ALLOC, "out of memory");
	r->result = POT_OK;
}

static enum MHD_Result
page(struct MHD_Connection *c, unsigned status, const char *title, const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char body[1024];

	snprintf(body, sizeof(body),
		 "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		 "<title>%s</title>\n</head>\n<body style=\"font-family:system-ui,sans-serif;"
		 "max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5\">\n<main>\n"
		 "<h1>%s</h1>\n<p>%s</p>\n</main>\n</body>\n</html>\n", title, title, text);
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_len, void **req_cls)
{
	struct pot_redirect *r = cls;

	(void)version;
	(void)upload;
	(void)upload_len;
	if (r->want == NULL || strcmp(url, r->want->path) != 0)
		return page(c, MHD_HTTP_NOT_FOUND, "Not found", "Nothing here.");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return page(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed", "Only GET.");
	if (r->decided)
		return page(c, MHD_HTTP_CONFLICT, "Already done",
			    "This sign-in is already over. You can close this window.");
	decide(r, c);
	*req_cls = r;			/* on_completed: this page went out */
	if (r->result == POT_OK)
		return page(c, MHD_HTTP_OK, "Signed in",
			    "pot has your sign-in. You can close this window and return to the "
			    "terminal.");
	return page(c, MHD_HTTP_BAD_REQUEST, "Sign-in failed",
		    "pot could not use this sign-in; the terminal says why. You can close this "
		    "window.");
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct pot_redirect *r = cls;

	(void)c;
	(void)toe;
	if (*req_cls == r)
		r->finished = true;
}

int
pot_redirect_open(struct pot_redirect **out, unsigned *port, char *err, size_t errlen)
{
	struct sockaddr_in sin;
	const union MHD_DaemonInfo *info;
	struct pot_redirect *r;

	*out = NULL;
	*port = 0;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;			/* the kernel picks a free port */
	r->d = MHD_start_daemon(MHD_NO_FLAG, 0, NULL, NULL, on_request, r,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_END);
	if (r->d == NULL || (info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT)) == NULL ||
	    info->port == 0) {
		pot_redirect_close(r);
		return pot_fail(POT_ERR_IO, err, errlen, "cannot listen on 127.0.0.1 for the "
				"browser's answer");
	}
	*port = info->port;
	*out = r;
	return POT_OK;
}

int
pot_redirect_wait(struct pot_redirect *r, const struct pot_redirect_want *want, int timeout_s,
		  void (*tick)(void *), void *arg, char **code, char *err, size_t errlen)
{
	int64_t deadline = pot_mono_ms() + (int64_t)timeout_s * 1000, left;

	*code = NULL;
	r->want = want;
	while (!r->finished) {
		/* once decided, the browser has a few seconds to take its page */
		left = (r->decided ? r->decided_at + 5000 : deadline) - pot_mono_ms();
		if (left <= 0)
			break;
		if (MHD_run_wait(r->d, (int32_t)(left > 250 ? 250 : left)) != MHD_YES)
			return pot_fail(POT_ERR_IO, err, errlen, "the loopback listener failed");
		if (tick != NULL)
			tick(arg);
	}
	if (!r->decided)
		return pot_fail(POT_ERR_EXPIRED, err, errlen, "no sign-in came back within %d "
				"minutes", timeout_s / 60);
	if (r->result != POT_OK)
		return pot_fail(r->result, err, errlen, "%s", r->err);
	*code = r->code;
	r->code = NULL;			/* transferred */
	return POT_OK;
}

void
pot_redirect_close(struct pot_redirect *r)
{
	if (r == NULL)
		return;
	if (r->d != NULL)
		MHD_stop_daemon(r->d);
	pot_secret_free(r->code);
	free(r);
}
