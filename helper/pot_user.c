/*
 * pot_user.c — the user commands: `pot login`, `pot token`, `pot askpass`, `pot logout`,
 * `pot status`.
 *
 * login is the authorization code flow of a native app (RFC 8252): the server's RFC 8414
 * metadata, PKCE S256, a random state, the browser sent to the authorization endpoint
 * with redirect_uri http://127.0.0.1:PORT/callback, where pot_http.c's receiver waits; the
 * code is exchanged as the public client `pot` (no secret).
 *
 * Tokens live in $XDG_CONFIG_HOME/pot/ (default ~/.config/pot/, made 0700). tokens.json
 * (0600) holds server, client_id, token_endpoint, revocation_endpoint, access_token,
 * expires_at, refresh_token, scope and sub. It is replaced atomically: a temporary file
 * made with O_EXCL|O_NOFOLLOW in the same directory, fsync, rename, fsync of the
 * directory. Every read-refresh-write holds an flock on tokens.lock beside it, so that
 * concurrent `pot token` calls refresh once and none loses a rotated refresh token. The
 * holder may remove the lock file (logout): a locker checks that the file it locked is
 * still the one at the path, else it locks the new one.
 *
 * Secrets (code, verifier, tokens) are wiped: OpenSSL's and jansson's allocations go
 * through allocators that wipe on free, ours through pot_secret_free and pot_wipe. Only
 * `pot token` and `pot askpass` print a secret: the access token, on stdout.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "files.h"
#include "pot_user.h"
#include "pot/err.h"
#include "pot/token.h"
#include "pot/util.h"

#define TOKENS_FILE	"tokens.json"
#define TOKENS_TMP	"." TOKENS_FILE POT_FILE_TMP_INFIX	/* files.h */
#define LOCK_FILE	"tokens.lock"
#define TOKENS_MAX	(64 * 1024)
#define LOCK_WAIT_MS	((2 * POT_HTTP_TIMEOUT + 10) * 1000)	/* longer than a holder's refresh */
#define MIN_LEFT	10	/* seconds: an access token still worth printing when refresh fails */
#define CALLBACK_PATH	"/callback"
#define WELL_KNOWN	"/.well-known/oauth-authorization-server"

/* --- messages and the process --------------------------------------------------------- */


static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* free() that wipes first: tokens pass through OpenSSL's and jansson's buffers. */
static void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void *
ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void *
ossl_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	(void)file;
	(void)line;
	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	if ((q = malloc(n)) == NULL)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static void
ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	wipe_free(p);
}

static mode_t user_umask = 022;		/* the user's, for the browser */

static void
user_init(void)
{
	/* refused once OpenSSL allocated: nothing in pot does before a user command */
	(void)CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
	json_set_alloc_funcs(malloc, wipe_free);
	signal(SIGPIPE, SIG_IGN);
	user_umask = umask(077);
}

static const char *
fmt_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "%lld", (long long)t);
	return buf;
}

static const char *
fmt_left(int64_t s, char buf[32])
{
	if (s >= 3600)
		snprintf(buf, 32, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, 32, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
	return buf;
}

static int
print_json(json_t *j)
{
	int r = j != NULL ? json_dumpf(j, stdout, JSON_INDENT(2)) : -1;

	json_decref(j);
	if (r != 0) {
		pot_warnmsg("out of memory");
		return 1;
	}
	putchar('\n');
	return 0;
}

/* stdout flushed: 0, or 1 after a message. */
static int
out_done(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		pot_warnmsg("cannot write the output: %s", strerror(errno));
		return 1;
	}
	return rc;
}

static int
not_logged_in(void)
{
	pot_warnmsg("not logged in: run `pot login`");
	return 1;
}

/* --- the token directory -------------------------------------------------------------- */

struct store {
	char dir[PATH_MAX];
	int dirfd;
	int lockfd;
};

/* $XDG_CONFIG_HOME (when absolute) or ~/.config, and its pot/ below. */
static int
store_paths(struct store *s, char *base, size_t baselen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if (xdg != NULL && xdg[0] == '/') {
		n = snprintf(base, baselen, "%s", xdg);
	} else {
		if (home == NULL || home[0] != '/')
			home = (pw = getpwuid(getuid())) != NULL ? pw->pw_dir : NULL;
		if (home == NULL || home[0] != '/') {
			pot_warnmsg("cannot tell where your configuration goes: set HOME or XDG_CONFIG_HOME");
			return -1;
		}
		n = snprintf(base, baselen, "%s/.config", home);
	}
	if (n < 0 || (size_t)n >= baselen ||
	    (n = snprintf(s->dir, sizeof(s->dir), "%s/pot", base)) < 0 ||
	    (size_t)n >= sizeof(s->dir)) {
		pot_warnmsg("%s: path too long", base);
		return -1;
	}
	return 0;
}

/*
 * Opens the token directory (creating it and its parent, 0700, when create): 0; 1 when
 * it or tokens.json does not exist (and !create): not logged in; -1 after a message. It
 * must be a directory of ours, not a symbolic link, not writable by group or others.
 */
static int
store_open(struct store *s, bool create)
{
	char base[PATH_MAX];
	struct stat st;
	int e;

	s->dirfd = s->lockfd = -1;
	if (store_paths(s, base, sizeof(base)) != 0)
		return -1;
	if (create && ((mkdir(base, 0700) != 0 && errno != EEXIST) ||
		       (mkdir(s->dir, 0700) != 0 && errno != EEXIST))) {
		pot_warnmsg("cannot make %s: %s", s->dir, strerror(errno));
		return -1;
	}
	if ((s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && !create)
			return 1;
		e = errno;
		pot_warnmsg("%s: %s", s->dir, lstat(s->dir, &st) == 0 && S_ISLNK(st.st_mode) ?
			"a symbolic link: refused (it holds your tokens)" : strerror(e));
		return -1;
	}
	if (fstat(s->dirfd, &st) != 0 || st.st_uid != getuid() || (st.st_mode & 022) != 0) {
		pot_warnmsg("%s: not yours, or writable by group or others: refused (it holds your "
			"tokens; chmod 700 it)", s->dir);
		close(s->dirfd);
		s->dirfd = -1;
		return -1;
	}
	if (!create && fstatat(s->dirfd, TOKENS_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0 &&
	    errno == ENOENT) {
		close(s->dirfd);
		s->dirfd = -1;
		return 1;
	}
	return 0;
}

static void
store_close(struct store *s)
{
	if (s->lockfd != -1)
		close(s->lockfd);		/* releases the lock */
	if (s->dirfd != -1)
		close(s->dirfd);
	s->lockfd = s->dirfd = -1;
}

/* flock(how) on tokens.lock, waiting at most LOCK_WAIT_MS. 0, or -1 after a message. */
static int
store_lock(struct store *s, int how)
{
	int64_t deadline = pot_mono_ms() + LOCK_WAIT_MS;
	struct stat held, now;
	int fd;

	for (;;) {
		fd = openat(s->dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			    0600);
		if (fd == -1) {
			pot_warnmsg("%s/%s: %s", s->dir, LOCK_FILE, strerror(errno));
			return -1;
		}
		while (flock(fd, how | LOCK_NB) != 0) {
			if ((errno != EWOULDBLOCK && errno != EINTR) || pot_mono_ms() > deadline) {
				pot_warnmsg("cannot lock %s/%s: %s", s->dir, LOCK_FILE,
					errno == EWOULDBLOCK ? "another pot holds it too long" :
					strerror(errno));
				close(fd);
				return -1;
			}
			nap_ms(10 + (long)(pot_mono_ms() % 20));
		}
		/* the holder before us may have removed it (logout): then lock the new one */
		if (fstat(fd, &held) == 0 && S_ISREG(held.st_mode) &&
		    fstatat(s->dirfd, LOCK_FILE, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
			s->lockfd = fd;
			return 0;
		}
		close(fd);
	}
}

/* Removes temporary files a crash left behind; only under the exclusive lock. */
static void
store_sweep(struct store *s)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if ((fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, TOKENS_TMP, strlen(TOKENS_TMP)) == 0)
			(void)unlinkat(s->dirfd, e->d_name, 0);
	closedir(d);
}

/* --- tokens.json ---------------------------------------------------------------------- */

struct tokens {
	char *server;
	char *client_id;
	char *token_endpoint;
	char *revocation_endpoint;	/* NULL: the server has none */
	char *access_token;		/* secret */
	char *refresh_token;		/* secret; NULL: the client gets none */
	char *scope;
	char *sub;
	int64_t expires_at;
};

static void
tokens_clear(struct tokens *t)
{
	free(t->server);
	free(t->client_id);
	free(t->token_endpoint);
	free(t->revocation_endpoint);
	pot_secret_free(t->access_token);
	pot_secret_free(t->refresh_token);
	free(t->scope);
	free(t->sub);
	memset(t, 0, sizeof(*t));
}

/* *dst = a copy of src (NULL stays NULL); the old value wiped. */
static int
set_str(char **dst, const char *src)
{
	char *c = NULL;

	if (src != NULL && (c = strdup(src)) == NULL)
		return POT_ERR_ALLOC;
	pot_secret_free(*dst);
	*dst = c;
	return POT_OK;
}

static json_t *
tokens_json(const struct tokens *t)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "server", t->server,
			      "client_id", t->client_id, "token_endpoint", t->token_endpoint,
			      "access_token", t->access_token, "expires_at", (json_int_t)t->expires_at,
			      "scope", t->scope, "sub", t->sub);

	if (j != NULL && t->revocation_endpoint != NULL &&
	    json_object_set_new(j, "revocation_endpoint", json_string(t->revocation_endpoint)) != 0)
		goto fail;
	if (j != NULL && t->refresh_token != NULL &&
	    json_object_set_new(j, "refresh_token", json_string(t->refresh_token)) != 0)
		goto fail;
	return j;
fail:
	json_decref(j);
	return NULL;
}

static int
tokens_from_json(json_t *j, struct tokens *t)
{
	const char *server, *client_id, *token_ep, *revoke_ep = NULL, *at, *rt = NULL, *scope, *sub;
	json_int_t exp;

	if (json_unpack(j, "{s:s, s:s, s:s, s?s, s:s, s:I, s?s, s:s, s:s}", "server", &server,
			"client_id", &client_id, "token_endpoint", &token_ep,
			"revocation_endpoint", &revoke_ep, "access_token", &at, "expires_at", &exp,
			"refresh_token", &rt, "scope", &scope, "sub", &sub) != 0)
		return POT_ERR_MALFORMED;
	t->expires_at = (int64_t)exp;
	if (set_str(&t->server, server) != POT_OK || set_str(&t->client_id, client_id) != POT_OK ||
	    set_str(&t->token_endpoint, token_ep) != POT_OK ||
	    set_str(&t->revocation_endpoint, revoke_ep) != POT_OK ||
	    set_str(&t->access_token, at) != POT_OK || set_str(&t->refresh_token, rt) != POT_OK ||
	    set_str(&t->scope, scope) != POT_OK || set_str(&t->sub, sub) != POT_OK)
		return POT_ERR_ALLOC;
	return POT_OK;
}

#define TR_STRICT	1	/* refuse a file others could read or write */
#define TR_QUIET	2	/* no messages */
#define TR_WARN(...)	do { if ((flags & TR_QUIET) == 0) pot_warnmsg(__VA_ARGS__); } while (0)

/*
 * Reads tokens.json: POT_OK, POT_ERR_NOT_FOUND (no file), or another error after a
 * message. Without TR_STRICT a file open to others is read too: logout revokes what it
 * holds.
 */
static int
tokens_read(struct store *s, int flags, struct tokens *t)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	json_t *j = NULL;
	ssize_t n;
	int fd, r = POT_ERR_IO;

	if ((fd = openat(s->dirfd, TOKENS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			return POT_ERR_NOT_FOUND;
		TR_WARN("%s/%s: %s", s->dir, TOKENS_FILE, strerror(errno));
		return POT_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TOKENS_MAX) {
		TR_WARN("%s/%s: not a regular file, or too large", s->dir, TOKENS_FILE);
		goto out;
	}
	if ((flags & TR_STRICT) != 0 && (st.st_uid != getuid() || (st.st_mode & 077) != 0)) {
		TR_WARN("%s/%s: not yours, or open to others (mode %04o): your tokens may be "
			"exposed; run `pot logout`, then `pot login`", s->dir, TOKENS_FILE,
			(unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = POT_ERR_ALLOC;
		TR_WARN("out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size &&
	       ((n = read(fd, buf + len, (size_t)st.st_size - len)) > 0 || (n == -1 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    (r = tokens_from_json(j, t)) != POT_OK) {
		TR_WARN("%s/%s: %s", s->dir, TOKENS_FILE, r == POT_ERR_ALLOC ? "out of memory" :
			"damaged (`pot logout` deletes it)");
		r = r == POT_ERR_ALLOC ? r : POT_ERR_MALFORMED;
		goto out;
	}
	r = POT_OK;
out:
	json_decref(j);
	if (buf != NULL)
		pot_wipe(buf, len);
	free(buf);
	close(fd);
	return r;
}

/* Replaces tokens.json atomically; the caller holds the exclusive lock. 0, or -1 after a message. */
static int
tokens_write(struct store *s, const struct tokens *t)
{
	json_t *j = tokens_json(t);
	char *text = j != NULL ? json_dumps(j, JSON_INDENT(2)) : NULL, *nl = NULL, err[PATH_MAX + 128];
	size_t len;
	int r = -1;

	json_decref(j);
	if (text == NULL || (nl = malloc((len = strlen(text)) + 2)) == NULL) {
		pot_warnmsg("out of memory");
		goto out;
	}
	memcpy(nl, text, len);
	memcpy(nl + len, "\n", 2);
	store_sweep(s);
	if (pot_file_write_atomic(s->dirfd, s->dir, TOKENS_FILE, nl, len + 1, 0600, true, err,
				  sizeof(err)) != POT_OK) {
		pot_warnmsg("cannot write %s", err);
		goto out;
	}
	r = 0;
out:
	pot_secret_free(text);
	pot_secret_free(nl);
	return r;
}

/* --- the server's replies ------------------------------------------------------------- */

/* A token we will store and print: 1..POT_TOKEN_MAX printable characters, no space. */
static bool
token_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= POT_TOKEN_MAX || s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

/* The claims of a JWT access token, unverified: only shown (sub, scope, exp). */
static json_t *
jwt_claims(const char *at)
{
	const char *p1 = strchr(at, '.'), *p2 = p1 != NULL ? strchr(p1 + 1, '.') : NULL;
	unsigned char *raw = NULL;
	size_t rawlen;
	json_t *j = NULL;

	if (p2 != NULL && pot_b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), &raw, &rawlen) == POT_OK)
		j = json_loadb((char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The members of a token response (RFC 6749 §5.1) that pot relies on. */
static int
reply_check(const json_t *rep, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(rep, "token_type"));
	const json_t *ein = json_object_get(rep, "expires_in"), *rt = json_object_get(rep, "refresh_token");
	const json_t *scope = json_object_get(rep, "scope");

	if (!token_ok(json_string_value(json_object_get(rep, "access_token"))))
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "the reply has no usable access_token");
	if (type == NULL || strcasecmp(type, "Bearer") != 0)
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "the reply's token_type is not Bearer");
	if (ein != NULL && (!json_is_integer(ein) || json_integer_value(ein) <= 0 ||
			    json_integer_value(ein) > (json_int_t)10 * 366 * 86400))
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "the reply's expires_in is not valid");
	if ((rt != NULL && !token_ok(json_string_value(rt))) || (scope != NULL && !json_is_string(scope)))
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "the reply's refresh_token or scope "
				"is not valid");
	return POT_OK;
}

/*
 * A token response into t, which keeps what the response leaves out (the refresh token
 * of a refresh that does not rotate). The server was authenticated by TLS or is on
 * loopback; the access token is only read here (for sub, and scope and exp when the
 * response omits them), never trusted: pam_pot verifies it.
 */
static int
tokens_update(struct tokens *t, json_t *rep, char *err, size_t errlen)
{
	const char *at = json_string_value(json_object_get(rep, "access_token"));
	const json_t *ein = json_object_get(rep, "expires_in"), *rt = json_object_get(rep, "refresh_token");
	const json_t *scope = json_object_get(rep, "scope"), *sub, *exp;
	json_t *claims;
	int r;

	if ((r = reply_check(rep, err, errlen)) != POT_OK)
		return r;
	claims = jwt_claims(at);
	if (scope == NULL)
		scope = json_object_get(claims, "scope");
	sub = json_object_get(claims, "sub");
	exp = json_object_get(claims, "exp");
	t->expires_at = ein != NULL ? (int64_t)time(NULL) + (int64_t)json_integer_value(ein) :
			json_is_integer(exp) ? (int64_t)json_integer_value(exp) : (int64_t)time(NULL);
	if ((r = set_str(&t->access_token, at)) == POT_OK && rt != NULL)
		r = set_str(&t->refresh_token, json_string_value(rt));
	if (r == POT_OK && (json_is_string(scope) || t->scope == NULL))
		r = set_str(&t->scope, json_is_string(scope) ? json_string_value(scope) : "");
	if (r == POT_OK && (json_is_string(sub) || t->sub == NULL))
		r = set_str(&t->sub, json_is_string(sub) ? json_string_value(sub) : "");
	json_decref(claims);
	return r == POT_OK ? POT_OK : pot_fail(r, err, errlen, "out of memory");
}

/* What a refused request means to the user, from the status (and the error when known). */
static const char *
refusal(unsigned status, const json_t *body)
{
	const char *e = json_string_value(json_object_get(body, "error"));

	if (e != NULL && strcmp(e, "invalid_grant") == 0)
		return "invalid_grant";
	if (e != NULL && strcmp(e, "invalid_client") == 0)
		return "invalid_client: the client is unknown to the server";
	if (e != NULL && strcmp(e, "unauthorized_client") == 0)
		return "unauthorized_client: the client may not use this grant";
	if (e != NULL && strcmp(e, "invalid_scope") == 0)
		return "invalid_scope";
	if (status == 401)
		return "HTTP 401: the client is unknown to the server";
	return status == 400 ? "HTTP 400" : "refused";
}

/* --- shared by the commands ----------------------------------------------------------- */

static json_t *
status_json(const struct tokens *t, int64_t now)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:b}", "server", t->server,
			 "client_id", t->client_id, "sub", t->sub, "scope", t->scope,
			 "expires_at", (json_int_t)t->expires_at, "access_token_valid",
			 t->expires_at > now, "refresh_token", t->refresh_token != NULL);
}

/*
 * Revokes t's refresh token (RFC 7009, as a public client). POT_OK, or an error with
 * the reason in err.
 */
static int
rt_revoke(const struct tokens *t, char *err, size_t errlen)
{
	char *form = NULL;
	json_t *body = NULL;
	unsigned status;
	int r;

	if (t->revocation_endpoint == NULL)
		return pot_fail(POT_ERR_NOT_FOUND, err, errlen, "%s has no revocation endpoint",
				t->server);
	if (pot_form_add(&form, "token", t->refresh_token) != POT_OK ||
	    pot_form_add(&form, "token_type_hint", "refresh_token") != POT_OK ||
	    pot_form_add(&form, "client_id", t->client_id) != POT_OK)
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	else
		r = pot_http_json(t->revocation_endpoint, form, &status, &body, err, errlen);
	if (r == POT_ERR_DENIED)
		pot_fail(r, err, errlen, "%s refused (%s)", t->revocation_endpoint,
			 refusal(status, body));
	json_decref(body);
	pot_secret_free(form);
	return r;
}

/* --- pot token / pot askpass ---------------------------------------------------------- */

/*
 * Exchanges t's refresh token for new tokens and stores them. POT_OK; POT_ERR_DENIED
 * (the refresh token is dead: log in again); another error (retry later); err says why.
 * *saved false: the new tokens could not be stored (said on stderr).
 */
static int
refresh(struct store *s, struct tokens *t, bool *saved, char *err, size_t errlen)
{
	char *form = NULL;
	json_t *body = NULL;
	unsigned status;
	int r;

	*saved = false;
	if (t->refresh_token == NULL)
		return pot_fail(POT_ERR_DENIED, err, errlen, "the access token expired and there is "
				"no refresh token: run `pot login`");
	if (pot_form_add(&form, "grant_type", "refresh_token") != POT_OK ||
	    pot_form_add(&form, "refresh_token", t->refresh_token) != POT_OK ||
	    pot_form_add(&form, "client_id", t->client_id) != POT_OK)
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	else
		r = pot_http_json(t->token_endpoint, form, &status, &body, err, errlen);
	pot_secret_free(form);
	if (r == POT_ERR_DENIED)
		pot_fail(r, err, errlen, "%s refused the refresh token (%s): it expired, was "
			 "revoked or was replaced; run `pot login`", t->server, refusal(status, body));
	else if (r == POT_OK && (r = tokens_update(t, body, err, errlen)) == POT_OK)
		*saved = tokens_write(s, t) == 0;
	json_decref(body);
	return r;
}

static int
print_token(const struct pot_user_args *a, const struct tokens *t, bool askpass)
{
	if (a->json && !askpass)
		return print_json(json_pack("{s:s, s:s, s:I, s:s}", "access_token", t->access_token,
					    "token_type", "Bearer", "expires_at",
					    (json_int_t)t->expires_at, "scope", t->scope));
	printf("%s\n", t->access_token);
	return 0;
}

/*
 * Refreshes t when its access token has POT_USER_REFRESH_SKEW seconds or less left: 0
 * when t then holds one worth printing, else 1 after a message. When the server cannot
 * be reached, an access token still good for MIN_LEFT seconds is worth printing.
 */
static int
token_fresh(struct store *s, struct tokens *t, bool askpass)
{
	int64_t left = t->expires_at - (int64_t)time(NULL);
	char err[768];
	bool saved;
	int r;

	if (left > POT_USER_REFRESH_SKEW)
		return 0;
	if ((r = refresh(s, t, &saved, err, sizeof(err))) == POT_ERR_DENIED) {
		pot_warnmsg("%s", err);
		return 1;
	}
	if (r != POT_OK && left < MIN_LEFT) {
		pot_warnmsg("cannot refresh the access token: %s", err);
		return 1;
	}
	if (r != POT_OK && !askpass)		/* askpass: stderr stays quiet while it works */
		pot_warnmsg("cannot refresh the access token: %s; the current one is good for %llds "
			"more", err, (long long)left);
	if (r == POT_OK && !saved)
		pot_warnmsg("the new tokens could not be stored: when this access token expires, "
			"`pot token` may need `pot login`");
	return 0;
}

int
pot_user_token(const struct pot_user_args *a, bool askpass)
{
	const char *hint = getenv("SSH_ASKPASS_PROMPT");
	struct tokens t = { 0 };
	struct store s;
	int r, rc = 1;

	user_init();
	/* ssh-agent asks askpass to confirm a key's use: a token is no "yes" */
	if (askpass && hint != NULL && strcmp(hint, "none") == 0)
		return 0;
	if (askpass && hint != NULL && strcmp(hint, "confirm") == 0) {
		pot_warnmsg("askpass answers password prompts only, not confirmations");
		return 1;
	}
	if ((r = store_open(&s, false)) != 0)
		return r == 1 ? not_logged_in() : 1;
	/* held from the read to the write: concurrent calls refresh once, and in turn */
	if (store_lock(&s, LOCK_EX) != 0 || (r = tokens_read(&s, TR_STRICT, &t)) != POT_OK) {
		if (s.lockfd != -1 && r == POT_ERR_NOT_FOUND)
			rc = not_logged_in();
		goto out;
	}
	if (token_fresh(&s, &t, askpass) != 0)
		goto out;
	store_close(&s);
	rc = out_done(print_token(a, &t, askpass));
out:
	store_close(&s);
	tokens_clear(&t);
	return rc;
}

/* --- pot status ----------------------------------------------------------------------- */

int
pot_user_status(const struct pot_user_args *a)
{
	struct tokens t = { 0 };
	int64_t now = (int64_t)time(NULL);
	char b1[32], b2[32];
	struct store s;
	int r, rc = 1;

	user_init();
	if ((r = store_open(&s, false)) != 0)
		return r == 1 ? not_logged_in() : 1;
	if (store_lock(&s, LOCK_SH) != 0 || (r = tokens_read(&s, TR_STRICT, &t)) != POT_OK) {
		if (s.lockfd != -1 && r == POT_ERR_NOT_FOUND)
			rc = not_logged_in();
		goto out;
	}
	store_close(&s);
	if (a->json) {
		rc = out_done(print_json(status_json(&t, now)));
		goto out;
	}
	printf("server:         %s\nclient:         %s\nuser:           %s\nscope:          %s\n",
	       t.server, t.client_id, t.sub[0] != '\0' ? t.sub : "(unknown)",
	       t.scope[0] != '\0' ? t.scope : "(none)");
	if (t.expires_at > now)
		printf("access token:   valid until %s (%s left)\n", fmt_time(t.expires_at, b1),
		       fmt_left(t.expires_at - now, b2));
	else
		printf("access token:   expired at %s (%s)\n", fmt_time(t.expires_at, b1),
		       t.refresh_token != NULL ? "`pot token` gets a new one" : "run `pot login`");
	printf("refresh token:  %s\n", t.refresh_token != NULL ? "present" : "none");
	rc = out_done(0);
out:
	store_close(&s);
	tokens_clear(&t);
	return rc;
}

/* --- pot logout ----------------------------------------------------------------------- */

static int
store_remove(struct store *s)
{
	int r = 0;

	store_sweep(s);
	if (unlinkat(s->dirfd, TOKENS_FILE, 0) != 0 && errno != ENOENT) {
		pot_warnmsg("cannot delete %s/%s: %s", s->dir, TOKENS_FILE, strerror(errno));
		r = -1;
	}
	/* lockers check that the file they locked is still there */
	if (unlinkat(s->dirfd, LOCK_FILE, 0) != 0 && errno != ENOENT)
		r = -1;
	(void)fsync(s->dirfd);
	return r;
}

static int
logout_print(const struct pot_user_args *a, const char *server, bool revoked, bool deleted)
{
	if (a->json)
		return print_json(json_pack("{s:s?, s:b, s:b}", "server", server, "revoked", revoked,
					    "deleted", deleted));
	if (!deleted)
		return printf("not logged in\n") < 0;
	if (revoked)
		return printf("Logged out of %s: the refresh token is revoked, the local tokens are "
			      "deleted.\n", server) < 0;
	return printf("Logged out%s%s: the local tokens are deleted.\n", server != NULL ? " of " : "",
		      server != NULL ? server : "") < 0;
}

int
pot_user_logout(const struct pot_user_args *a)
{
	struct tokens t = { 0 };
	char err[768] = "";
	struct store s;
	bool revoked = false;
	int r, rc = 1;

	user_init();
	if ((r = store_open(&s, false)) != 0)
		return r == 1 ? out_done(logout_print(a, NULL, false, false)) : 1;
	if (store_lock(&s, LOCK_EX) != 0)
		goto out;
	if ((r = tokens_read(&s, 0, &t)) == POT_ERR_NOT_FOUND) {
		rc = store_remove(&s) == 0 ? logout_print(a, NULL, false, false) : 1;
		rc = out_done(rc);
		goto out;
	}
	if (r != POT_OK)
		pot_warnmsg("deleting the local tokens without revoking anything");
	else if (t.refresh_token != NULL && !(revoked = rt_revoke(&t, err, sizeof(err)) == POT_OK))
		pot_warnmsg("could not revoke the refresh token: %s. It stays valid until it expires "
			"or an administrator revokes it (pot tokens revoke --user %s)", err,
			t.sub[0] != '\0' ? t.sub : "USER");
	if (store_remove(&s) == 0)
		rc = out_done(logout_print(a, t.server, revoked, true));
out:
	store_close(&s);
	tokens_clear(&t);
	return rc;
}

/* --- pot login ------------------------------------------------------------------------ */

struct login {
	const struct pot_user_args *a;
	char *server;			/* the issuer */
	json_t *meta;			/* its RFC 8414 metadata */
	const char *authz_ep, *token_ep, *revoke_ep;
	bool iss_required;
	char *verifier, *challenge, *state;
	char redirect_uri[64];
	pid_t browser;
};

static void
login_free(struct login *l)
{
	free(l->server);
	json_decref(l->meta);
	pot_secret_free(l->verifier);
	free(l->challenge);
	pot_secret_free(l->state);
}

/* RFC 8414 §3.1: the well-known path goes between the host and the issuer's path. */
static char *
metadata_url(const char *issuer)
{
	const char *host = strstr(issuer, "://") + 3, *path = host + strcspn(host, "/");
	char *url = NULL;

	if (asprintf(&url, "%.*s%s%s", (int)(path - issuer), issuer, WELL_KNOWN, path) < 0)
		return NULL;
	return url;
}

static const char *
endpoint(const json_t *meta, const char *name, bool required, char *err, size_t errlen)
{
	const json_t *v = json_object_get(meta, name);
	const char *s = json_string_value(v);

	if (v == NULL && !required)
		return NULL;
	if (s == NULL) {
		pot_fail(POT_ERR_MALFORMED, err, errlen, "the server's metadata has no %s", name);
		return NULL;
	}
	if (pot_url_check(s, err, errlen) != POT_OK)
		return NULL;
	return s;
}

static bool
has_string(const json_t *arr, const char *want)
{
	const json_t *e;
	size_t i;

	json_array_foreach(arr, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
			return true;
	return false;
}

/* The server's metadata: its issuer must be the server we asked (RFC 8414 §3.3). */
static int
discover(struct login *l, char *err, size_t errlen)
{
	const json_t *pkce;
	char *url = metadata_url(l->server), why[512];
	unsigned status;
	int r;

	if (url == NULL)
		return pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	r = pot_http_json(url, NULL, &status, &l->meta, why, sizeof(why));
	free(url);
	if (r != POT_OK)
		return pot_fail(r, err, errlen, "cannot read the metadata of %s: %s", l->server, why);
	if (!json_is_string(json_object_get(l->meta, "issuer")) ||
	    strcmp(json_string_value(json_object_get(l->meta, "issuer")), l->server) != 0)
		return pot_fail(POT_ERR_ISSUER, err, errlen, "the metadata at %s names another "
				"issuer: is --server exactly the issuer?", l->server);
	pkce = json_object_get(l->meta, "code_challenge_methods_supported");
	if (pkce != NULL && !has_string(pkce, "S256"))
		return pot_fail(POT_ERR_MALFORMED, err, errlen, "%s does not support PKCE S256",
				l->server);
	if ((l->authz_ep = endpoint(l->meta, "authorization_endpoint", true, err, errlen)) == NULL ||
	    (l->token_ep = endpoint(l->meta, "token_endpoint", true, err, errlen)) == NULL)
		return POT_ERR_MALFORMED;
	l->revoke_ep = endpoint(l->meta, "revocation_endpoint", false, err, errlen);
	if (l->revoke_ep == NULL && json_object_get(l->meta, "revocation_endpoint") != NULL)
		return POT_ERR_MALFORMED;
	l->iss_required = json_is_true(json_object_get(l->meta,
						       "authorization_response_iss_parameter_supported"));
	return POT_OK;
}

static int
random_b64(size_t nbytes, char **out)
{
	unsigned char rnd[32];
	int r;

	*out = NULL;
	if (nbytes > sizeof(rnd) || RAND_bytes(rnd, (int)nbytes) != 1)
		return POT_ERR_CRYPTO;
	r = pot_b64url_encode(rnd, nbytes, out);
	pot_wipe(rnd, sizeof(rnd));
	return r;
}

/* PKCE (RFC 7636): a 256-bit verifier and its S256 challenge; a 256-bit state. */
static int
login_secrets(struct login *l)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	int r;

	if ((r = random_b64(32, &l->verifier)) != POT_OK || (r = random_b64(32, &l->state)) != POT_OK)
		return r;
	SHA256((const unsigned char *)l->verifier, strlen(l->verifier), md);
	return pot_b64url_encode(md, sizeof(md), &l->challenge);
}

static char *
authz_url(const struct login *l)
{
	const struct pot_user_args *a = l->a;
	char *url = NULL;

	if (asprintf(&url, "%s%s", l->authz_ep, strchr(l->authz_ep, '?') != NULL ? "&" : "?") < 0)
		return NULL;
	if (pot_form_add(&url, "response_type", "code") != POT_OK ||
	    pot_form_add(&url, "client_id", a->client_id) != POT_OK ||
	    pot_form_add(&url, "redirect_uri", l->redirect_uri) != POT_OK ||
	    pot_form_add(&url, "code_challenge", l->challenge) != POT_OK ||
	    pot_form_add(&url, "code_challenge_method", "S256") != POT_OK ||
	    pot_form_add(&url, "state", l->state) != POT_OK ||
	    (a->scope != NULL && pot_form_add(&url, "scope", a->scope) != POT_OK)) {
		free(url);
		return NULL;
	}
	return url;
}

/* xdg-open, when there is a display: its pid, 0 (none tried) or -1. */
static pid_t
browser_open(const char *url)
{
	const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
	pid_t pid;
	int fd;

	if ((x == NULL || x[0] == '\0') && (w == NULL || w[0] == '\0'))
		return 0;
	if ((pid = fork()) != 0)
		return pid;
	signal(SIGPIPE, SIG_DFL);		/* as the user's programs expect them */
	umask(user_umask);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execlp("xdg-open", "xdg-open", url, (char *)NULL);
	_exit(127);
}

/* While waiting: says so once when xdg-open failed. */
static void
browser_tick(void *arg)
{
	struct login *l = arg;
	int st;

	if (l->browser <= 0 || waitpid(l->browser, &st, WNOHANG) != l->browser)
		return;
	l->browser = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		pot_warnmsg("could not open a browser (xdg-open failed): open the address above in one");
}

static void
login_prompt(struct login *l, const char *url, unsigned port)
{
	const struct pot_user_args *a = l->a;

	l->browser = a->no_browser ? 0 : browser_open(url);
	if (l->browser > 0)
		fprintf(stderr, "Opening a browser to sign in at %s. If none opens, open this "
			"address in a browser on this machine:\n\n    %s\n\n", l->server, url);
	else
		fprintf(stderr, "To sign in at %s, open this address in a browser on this "
			"machine:\n\n    %s\n\n", l->server, url);
	if (getenv("SSH_CONNECTION") != NULL)
		fprintf(stderr, "(Over SSH, the browser must reach this host's 127.0.0.1:%u: "
			"ssh -L %u:127.0.0.1:%u ...)\n", port, port, port);
	fprintf(stderr, "Waiting for the sign-in (%d minutes at most)...\n", POT_LOGIN_TIMEOUT / 60);
	fflush(stderr);
}

/* The authorization code, from the browser's trip. */
static int
login_code(struct login *l, char **code, char *err, size_t errlen)
{
	struct pot_redirect *rd = NULL;
	struct pot_redirect_want want = { CALLBACK_PATH, NULL, NULL, false };
	char *url = NULL;
	unsigned port;
	int r;

	*code = NULL;
	if ((r = login_secrets(l)) != POT_OK)
		return pot_fail(r, err, errlen, "cannot make the PKCE verifier");
	if ((r = pot_redirect_open(&rd, &port, err, errlen)) != POT_OK)
		return r;
	snprintf(l->redirect_uri, sizeof(l->redirect_uri), "http://127.0.0.1:%u%s", port,
		 CALLBACK_PATH);
	if ((url = authz_url(l)) == NULL) {
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
		goto out;
	}
	login_prompt(l, url, port);
	want.state = l->state;
	want.issuer = l->server;
	want.iss_required = l->iss_required;
	r = pot_redirect_wait(rd, &want, POT_LOGIN_TIMEOUT, browser_tick, l, code, err, errlen);
out:
	free(url);
	pot_redirect_close(rd);
	return r;
}

/* The code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.5). */
static int
login_exchange(struct login *l, const char *code, struct tokens *t, char *err, size_t errlen)
{
	const struct pot_user_args *a = l->a;
	char *form = NULL;
	json_t *body = NULL;
	unsigned status;
	int r;

	if (pot_form_add(&form, "grant_type", "authorization_code") != POT_OK ||
	    pot_form_add(&form, "code", code) != POT_OK ||
	    pot_form_add(&form, "redirect_uri", l->redirect_uri) != POT_OK ||
	    pot_form_add(&form, "code_verifier", l->verifier) != POT_OK ||
	    pot_form_add(&form, "client_id", a->client_id) != POT_OK)
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	else
		r = pot_http_json(l->token_ep, form, &status, &body, err, errlen);
	pot_secret_free(form);
	if (r == POT_ERR_DENIED)
		pot_fail(r, err, errlen, "%s refused the authorization code (%s)", l->token_ep,
			 refusal(status, body));
	if (r == POT_OK &&
	    (set_str(&t->server, l->server) != POT_OK || set_str(&t->client_id, a->client_id) != POT_OK ||
	     set_str(&t->token_endpoint, l->token_ep) != POT_OK ||
	     set_str(&t->revocation_endpoint, l->revoke_ep) != POT_OK))
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "out of memory");
	if (r == POT_OK)
		r = tokens_update(t, body, err, errlen);
	json_decref(body);
	return r;
}

/* Stores the new tokens; a refresh token they replace is revoked, quietly. */
static int
login_save(struct store *s, const struct tokens *t)
{
	struct tokens old = { 0 };
	char err[512];
	int r = -1;

	if (store_lock(s, LOCK_EX) != 0)
		return -1;
	if (tokens_read(s, TR_QUIET, &old) != POT_OK)
		tokens_clear(&old);
	if (tokens_write(s, t) == 0) {
		r = 0;
		if (old.refresh_token != NULL &&
		    (t->refresh_token == NULL || strcmp(old.refresh_token, t->refresh_token) != 0))
			(void)rt_revoke(&old, err, sizeof(err));
	}
	tokens_clear(&old);
	return r;
}

int
pot_user_login(const struct pot_user_args *a)
{
	struct pot_user_args args = *a;
	struct login l = { .a = &args };
	struct tokens t = { 0 };
	struct store s = { .dirfd = -1, .lockfd = -1 };
	char err[768], *code = NULL;
	size_t n;
	int rc = 1;

	user_init();
	if (args.client_id == NULL)
		args.client_id = POT_USER_CLIENT_ID;
	if (args.server == NULL || (l.server = strdup(args.server)) == NULL) {
		pot_warnmsg("out of memory");
		return 1;
	}
	for (n = strlen(l.server); n > 0 && l.server[n - 1] == '/'; n--)
		l.server[n - 1] = '\0';		/* an issuer has no trailing slash */
	if (pot_url_check(l.server, err, sizeof(err)) != POT_OK ||
	    discover(&l, err, sizeof(err)) != POT_OK) {
		pot_warnmsg("%s", err);
		goto out;
	}
	if (store_open(&s, true) != 0)		/* before the browser: a bad directory fails now */
		goto out;
	if (login_code(&l, &code, err, sizeof(err)) != POT_OK ||
	    login_exchange(&l, code, &t, err, sizeof(err)) != POT_OK) {
		pot_warnmsg("%s", err);
		goto out;
	}
	if (login_save(&s, &t) != 0)
		goto out;
	store_close(&s);
	if (args.json)
		rc = out_done(print_json(status_json(&t, (int64_t)time(NULL))));
	else
		rc = out_done(printf("Signed in to %s as %s (scope: %s).\n", t.server,
				     t.sub[0] != '\0' ? t.sub : "(unknown)",
				     t.scope[0] != '\0' ? t.scope : "none") < 0);
out:
	store_close(&s);
	pot_secret_free(code);
	tokens_clear(&t);
	login_free(&l);
	return rc;
}
