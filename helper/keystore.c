/*
 * keystore.c — potd's keys under state_dir/keys: the pepper and the signing keys.
 *
 * keys/ (0700) holds `pepper` (32 raw bytes), one PKCS#8 PEM per signing key named
 * `<kid>.pem`, and `keys.json`, the life cycle of every key. All files 0600, each
 * written atomically (temporary file, fsync, rename, fsync of the directory).
 *
 * Several processes share keys/ (potd, and `pot key ...` run while potd serves): every
 * change takes an exclusive flock(2) on keys/, re-reads it, changes it and writes it
 * back, so no change is lost; every read takes a shared lock, so no reader sees a PEM
 * whose keys.json entry is still being written. A change writes a new PEM before its
 * entry and removes an entry before its PEM: a crash can only leave a stray .pem,
 * which the next open refuses, naming it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "files.h"
#include "pot/err.h"
#include "pot/keys.h"
#include "pot/keystore.h"
#include "pot/util.h"

#define KS_DIR		"keys"
#define KS_PEPPER	"pepper"
#define KS_LIST		"keys.json"
#define KS_PEM_SUFFIX	".pem"
#define KS_KID_LEN	43		/* base64url of a SHA-256 thumbprint */
#define KS_KEYS_MAX	POT_JWKS_MAX_KEYS	/* each is published in the JWKS */
#define KS_LIST_MAX	(1024 * 1024)
#define KS_ERRLEN	512

struct ks_key {
	struct pot_keyinfo info;
	EVP_PKEY *pkey;
};

/* What keys/ holds; read and replaced as a whole. */
struct ks_state {
	unsigned char pepper[POT_PEPPER_LEN];
	struct ks_key *keys;
	size_t nkeys;
};

struct pot_keystore {
	char *state_dir;
	char *dir;		/* state_dir/keys */
	struct ks_state st;
};

static void
state_clear(struct ks_state *s)
{
	size_t i;

	for (i = 0; i < s->nkeys; i++)
		EVP_PKEY_free(s->keys[i].pkey);
	free(s->keys);
	pot_wipe(s, sizeof(*s));
	s->keys = NULL;
	s->nkeys = 0;
}

/* dir/name into buf. */
static int
path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? POT_ERR_TOO_LONG : POT_OK;
}

static bool
kid_ok(const char *kid)
{
	size_t i;

	if (strlen(kid) != KS_KID_LEN)
		return false;
	for (i = 0; i < KS_KID_LEN; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			   kid[i]) == NULL)
			return false;
	return true;
}

/* --- files: atomic replacement ----------------------------------------------------- */

static int
dir_fsync(const char *dir, char *err, size_t errlen)
{
	int fd, r = POT_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(fd) == -1)
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: fsync: %s", dir, strerror(errno));
	if (fd != -1)
		close(fd);
	return r;
}

/* The directory path is in ("." or "/" included). */
static void
parent_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* path written atomically (files.h), in the directory it names. */
static int
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool replace,
		  char *err, size_t errlen)
{
	const char *base = strrchr(path, '/');
	char dir[PATH_MAX];
	int dirfd, r;

	parent_of(path, dir, sizeof(dir));
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return pot_fail(POT_ERR_IO, err, errlen, "%s: %s", path, strerror(errno));
	r = pot_file_write_atomic(dirfd, dir, base != NULL ? base + 1 : path, data, len, mode,
				  replace, err, errlen);
	close(dirfd);
	return r;
}

/* --- keys/ itself ------------------------------------------------------------------ */

/*
 * Opens keys/ (never through a symbolic link), refuses it when group or others have any
 * access, and locks it (LOCK_SH to read, LOCK_EX to change).
 */
static int
dir_lock(const char *dir, int op, int *fd, char *err, size_t errlen)
{
	struct stat st;
	int e, r;

	if ((*fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		e = errno;
		if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
			return pot_fail(POT_ERR_IO, err, errlen, "%s: is a symbolic link", dir);
		return pot_fail(e == ENOENT ? POT_ERR_NOT_FOUND : POT_ERR_IO, err, errlen, "%s: %s",
				dir, strerror(e));
	}
	if (fstat(*fd, &st) == -1) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: %s", dir, strerror(errno));
		goto bad;
	}
	if ((st.st_mode & 077) != 0) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: open to group or others (mode %04o), "
			     "must be 0700", dir, (unsigned)(st.st_mode & 07777));
		goto bad;
	}
	while (flock(*fd, op) == -1) {
		if (errno != EINTR) {
			r = pot_fail(POT_ERR_IO, err, errlen, "%s: lock: %s", dir, strerror(errno));
			goto bad;
		}
	}
	return POT_OK;
bad:
	close(*fd);
	*fd = -1;
	return r;
}

static void
dir_unlock(int fd)
{
	if (fd != -1)
		close(fd);		/* drops the flock */
}

/* state_dir: a directory nobody but its owner may change (it holds keys/ and jwks.json). */
static int
state_dir_check(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return pot_fail(errno == ENOENT ? POT_ERR_NOT_FOUND : POT_ERR_IO, err, errlen,
				"%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pot_fail(POT_ERR_IO, err, errlen, "%s: not a directory", path);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return pot_fail(POT_ERR_IO, err, errlen, "%s: writable by group or others (mode %04o)",
				path, (unsigned)(st.st_mode & 07777));
	return POT_OK;
}

/*
 * mkdir with exactly mode (not narrowed by the umask), made durable; an existing one is
 * left as it is (its mode is judged, never changed).
 */
static int
dir_make(const char *path, mode_t mode, char *err, size_t errlen)
{
	char parent[PATH_MAX];
	int fd, r = POT_OK;

	if (mkdir(path, mode) == -1)
		return errno == EEXIST ? POT_OK :
		       pot_fail(POT_ERR_IO, err, errlen, "%s: mkdir: %s", path, strerror(errno));
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fchmod(fd, mode) == -1)
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: chmod: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	if (r == POT_OK) {
		parent_of(path, parent, sizeof(parent));
		r = dir_fsync(parent, err, errlen);
	}
	return r;
}

/* --- the pepper -------------------------------------------------------------------- */

static int
pepper_read(const char *dir, unsigned char pepper[POT_PEPPER_LEN], char *err, size_t errlen)
{
	char path[PATH_MAX], *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	if ((r = path_join(path, sizeof(path), dir, KS_PEPPER)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	if ((r = pot_file_read(path, POT_OWNER_ANY, 4096, &buf, &len, &st, err, errlen)) != POT_OK)
		goto out;
	if ((st.st_mode & 077) != 0) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: readable by group or others (mode %04o)",
			     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (len != POT_PEPPER_LEN) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: %zu bytes, not %d", path, len,
			     POT_PEPPER_LEN);
		goto out;
	}
	memcpy(pepper, buf, POT_PEPPER_LEN);
	r = POT_OK;
out:
	pot_wipe(buf, len);
	free(buf);
	return r;
}

/* Makes the pepper unless one exists: it hashes every stored secret, so it never changes. */
static int
pepper_create(const char *dir, char *err, size_t errlen)
{
	unsigned char pepper[POT_PEPPER_LEN];
	char path[PATH_MAX];
	struct stat st;
	int r;

	if ((r = path_join(path, sizeof(path), dir, KS_PEPPER)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	if (lstat(path, &st) == 0 || errno != ENOENT)
		return POT_OK;		/* pepper_read judges it */
	/*
	 * Keys without a pepper: it was lost, and with it every stored secret. Making a new
	 * one would silently turn every refresh token and client secret into garbage.
	 */
	if ((r = path_join(path, sizeof(path), dir, KS_LIST)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	if (lstat(path, &st) == 0)
		return pot_fail(POT_ERR_IO, err, errlen, "%s/" KS_PEPPER " is missing but keys exist: "
				"restore it from a backup (a new one would invalidate every stored "
				"secret), or remove %s to start over", dir, dir);
	if ((r = path_join(path, sizeof(path), dir, KS_PEPPER)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	if (RAND_bytes(pepper, sizeof(pepper)) != 1)
		return pot_fail(POT_ERR_CRYPTO, err, errlen, "no random bytes for the pepper");
	r = file_write_atomic(path, pepper, sizeof(pepper), 0600, false, err, errlen);
	pot_wipe(pepper, sizeof(pepper));
	return r == POT_ERR_DENIED ? POT_OK : r;	/* another process made it first */
}

/* --- keys.json --------------------------------------------------------------------- */

static int
list_entry(json_t *e, size_t i, const char *path, struct ks_key *k, char *err, size_t errlen)
{
	json_int_t created, activate_at, retired_at, drop_at;
	const char *kid, *alg;
	json_error_t jerr;

	if (json_unpack_ex(e, &jerr, 0, "{s:s, s:s, s:I, s:I, s:I, s:I !}", "kid", &kid, "alg", &alg,
			   "created", &created, "activate_at", &activate_at, "retired_at", &retired_at,
			   "drop_at", &drop_at) != 0)
		return pot_fail(POT_ERR_IO, err, errlen, "%s: entry #%zu: %s", path, i, jerr.text);
	if (!kid_ok(kid))
		return pot_fail(POT_ERR_IO, err, errlen, "%s: entry #%zu: kid is not a thumbprint",
				path, i);
	if ((k->info.alg = pot_alg_from_name(alg)) == POT_ALG_UNKNOWN)
		return pot_fail(POT_ERR_IO, err, errlen, "%s: key %s: unknown alg", path, kid);
	if (created < 0 || activate_at < 0 || retired_at < 0 || drop_at < 0 ||
	    (retired_at == 0 && drop_at != 0))
		return pot_fail(POT_ERR_IO, err, errlen, "%s: key %s: bad times", path, kid);
	memcpy(k->info.kid, kid, KS_KID_LEN + 1);
	k->info.created = created;
	k->info.activate_at = activate_at;
	k->info.retired_at = retired_at;
	k->info.drop_at = drop_at;
	return POT_OK;
}

/* Reads keys.json; a missing one is an empty list when missing_ok. */
static int
list_read(const char *dir, bool missing_ok, struct ks_state *s, char *err, size_t errlen)
{
	char path[PATH_MAX], *buf = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	struct stat st;
	size_t i, j, len, n;
	int r;

	if ((r = path_join(path, sizeof(path), dir, KS_LIST)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	r = pot_file_read(path, POT_OWNER_ANY, KS_LIST_MAX, &buf, &len, &st, err, errlen);
	if (r == POT_ERR_NOT_FOUND && missing_ok)
		return POT_OK;
	if (r != POT_OK)
		return r;
	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: not JSON (line %d: %s)", path, jerr.line,
			     jerr.text);
		goto out;
	}
	if (!json_is_array(root) || (n = json_array_size(root)) > KS_KEYS_MAX) {
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: not an array of at most %d keys", path,
			     KS_KEYS_MAX);
		goto out;
	}
	if (n != 0 && (s->keys = calloc(n, sizeof(*s->keys))) == NULL) {
		r = POT_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = list_entry(json_array_get(root, i), i, path, &s->keys[i], err, errlen)) != 0)
			goto out;
		s->nkeys++;
		for (j = 0; j < i; j++)
			if (strcmp(s->keys[j].info.kid, s->keys[i].info.kid) == 0) {
				r = pot_fail(POT_ERR_IO, err, errlen, "%s: key %s listed twice", path,
					     s->keys[i].info.kid);
				goto out;
			}
	}
	r = POT_OK;
out:
	json_decref(root);
	free(buf);
	return r;
}

static int
list_write(const char *dir, const struct ks_key *keys, size_t n, char *err, size_t errlen)
{
	char path[PATH_MAX], *text = NULL, *nl = NULL;
	json_t *root = NULL, *e;
	size_t i;
	int r = POT_ERR_ALLOC;

	if ((r = path_join(path, sizeof(path), dir, KS_LIST)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	r = POT_ERR_ALLOC;
	if ((root = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		const struct pot_keyinfo *k = &keys[i].info;

		if ((e = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "kid", k->kid, "alg",
				   pot_alg_name(k->alg), "created", (json_int_t)k->created,
				   "activate_at", (json_int_t)k->activate_at, "retired_at",
				   (json_int_t)k->retired_at, "drop_at", (json_int_t)k->drop_at)) == NULL ||
		    json_array_append_new(root, e) != 0)
			goto out;
	}
	if ((text = json_dumps(root, JSON_INDENT(2))) == NULL || asprintf(&nl, "%s\n", text) < 0) {
		nl = NULL;
		goto out;
	}
	r = file_write_atomic(path, nl, strlen(nl), 0600, true, err, errlen);
out:
	json_decref(root);
	free(text);
	free(nl);
	return r;
}

/* --- PEM files --------------------------------------------------------------------- */

static int
pem_path(char *buf, size_t len, const char *dir, const char *kid)
{
	int n = snprintf(buf, len, "%s/%s" KS_PEM_SUFFIX, dir, kid);

	return n < 0 || (size_t)n >= len ? POT_ERR_TOO_LONG : POT_OK;
}

/* Loads every listed key: mode 0600 or stricter, its alg, its thumbprint equal to its kid. */
static int
pems_load(const char *dir, struct ks_state *s, char *err, size_t errlen)
{
	char path[PATH_MAX], *kid = NULL;
	struct ks_key *k;
	size_t i;
	int r;

	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if ((r = pem_path(path, sizeof(path), dir, k->info.kid)) != POT_OK)
			return pot_fail(r, err, errlen, "%s: path too long", dir);
		r = pot_key_load_pem(path, &k->pkey, err, errlen);
		if (r == POT_ERR_NOT_FOUND)
			return pot_fail(POT_ERR_IO, err, errlen, "%s: missing, yet listed in "
					KS_LIST, path);
		if (r != POT_OK)
			return r;
		if (pot_key_alg(k->pkey) != k->info.alg)
			return pot_fail(POT_ERR_IO, err, errlen, "%s: not an %s key as " KS_LIST
					" says", path, pot_alg_name(k->info.alg));
		if ((r = pot_jwk_thumbprint(k->pkey, &kid)) != POT_OK)
			return pot_fail(r, err, errlen, "%s: no thumbprint: %s", path, pot_strerror(r));
		r = strcmp(kid, k->info.kid) == 0 ? POT_OK :
		    pot_fail(POT_ERR_IO, err, errlen, "%s: key's thumbprint is %s, not its kid", path,
			     kid);
		free(kid);
		kid = NULL;
		if (r != POT_OK)
			return r;
	}
	return POT_OK;
}

/* Every <name>.pem in keys/ must be listed (a stray one: an interrupted `pot key new`?). */
static int
pems_all_listed(const char *dir, const struct ks_state *s, char *err, size_t errlen)
{
	const size_t sl = sizeof(KS_PEM_SUFFIX) - 1;
	struct dirent *de;
	size_t i, len;
	DIR *d;
	int r = POT_OK;

	if ((d = opendir(dir)) == NULL)
		return pot_fail(POT_ERR_IO, err, errlen, "%s: %s", dir, strerror(errno));
	while (r == POT_OK && (errno = 0, de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < sl || strcmp(de->d_name + len - sl, KS_PEM_SUFFIX) != 0)
			continue;		/* ., .., temporary files, pepper, keys.json */
		for (i = 0; i < s->nkeys; i++)
			if (len - sl == KS_KID_LEN &&
			    strncmp(de->d_name, s->keys[i].info.kid, KS_KID_LEN) == 0)
				break;
		if (i == s->nkeys)
			r = pot_fail(POT_ERR_IO, err, errlen, "%s/%s: not listed in " KS_LIST
				     " (left by an interrupted change? remove it)", dir, de->d_name);
	}
	if (r == POT_OK && errno != 0)
		r = pot_fail(POT_ERR_IO, err, errlen, "%s: %s", dir, strerror(errno));
	closedir(d);
	return r;
}

static int
pem_write(const char *dir, const char *kid, EVP_PKEY *pkey, char *err, size_t errlen)
{
	char path[PATH_MAX];
	BIO *bio = NULL;
	char *data;
	long len;
	int r;

	if ((r = pem_path(path, sizeof(path), dir, kid)) != POT_OK)
		return pot_fail(r, err, errlen, "%s: path too long", dir);
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||		/* wiped when freed */
	    !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		r = pot_fail(POT_ERR_CRYPTO, err, errlen, "%s: cannot encode the key", path);
		goto out;
	}
	r = file_write_atomic(path, data, (size_t)len, 0600, false, err, errlen);
out:
	ERR_clear_error();
	BIO_free(bio);
	return r;
}

/* --- the whole of keys/ ------------------------------------------------------------ */

/* Reads keys/ (locked by the caller) into *s; nothing changes on disk. */
static int
state_read(const char *dir, bool list_missing_ok, struct ks_state *s, char *err, size_t errlen)
{
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = pepper_read(dir, s->pepper, err, errlen)) != POT_OK ||
	    (r = list_read(dir, list_missing_ok, s, err, errlen)) != POT_OK ||
	    (r = pems_load(dir, s, err, errlen)) != POT_OK ||
	    (r = pems_all_listed(dir, s, err, errlen)) != POT_OK)
		state_clear(s);
	return r;
}

/* A fresh key and its kid; made before keys/ is locked (an RSA key takes a while). */
static int
key_make(enum pot_alg alg, EVP_PKEY **out, char kid[48], char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	char *thumb = NULL;
	int r;

	*out = NULL;
	kid[0] = '\0';
	if ((r = pot_key_generate(alg, &pkey)) != POT_OK) {
		pot_fail(r, err, errlen, "cannot make an %s key: %s", pot_alg_name(alg),
			 pot_strerror(r));
		goto out;
	}
	if ((r = pot_jwk_thumbprint(pkey, &thumb)) != POT_OK || !kid_ok(thumb)) {
		r = pot_fail(r != POT_OK ? r : POT_ERR_CRYPTO, err, errlen,
			     "no thumbprint for the new key");
		goto out;
	}
	memcpy(kid, thumb, KS_KID_LEN + 1);
	*out = pkey;
	pkey = NULL;			/* transferred */
out:
	EVP_PKEY_free(pkey);
	free(thumb);
	return r;
}

/*
 * Adds pkey (kid, alg) to s and to keys/, locked exclusively by the caller: PEM, then
 * entry. s takes a reference of its own.
 */
static int
state_add_key(const char *dir, struct ks_state *s, EVP_PKEY *pkey, const char *kid,
	      enum pot_alg alg, int64_t now, int64_t delay, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct ks_key *keys, *k;
	size_t i;
	int r;

	if (s->nkeys >= KS_KEYS_MAX)
		return pot_fail(POT_ERR_DENIED, err, errlen, "%s: already %d keys", dir, KS_KEYS_MAX);
	for (i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].info.kid, kid) == 0)
			return pot_fail(POT_ERR_DENIED, err, errlen, "key %s exists", kid);
	if ((keys = realloc(s->keys, (s->nkeys + 1) * sizeof(*keys))) == NULL)
		return POT_ERR_ALLOC;
	s->keys = keys;
	if ((r = pem_write(dir, kid, pkey, err, errlen)) != POT_OK)
		return r;
	k = &s->keys[s->nkeys];
	memset(k, 0, sizeof(*k));
	memcpy(k->info.kid, kid, KS_KID_LEN + 1);
	k->info.alg = alg;
	k->info.created = now;
	k->info.activate_at = now + delay;
	if (!EVP_PKEY_up_ref(pkey))
		r = pot_fail(POT_ERR_CRYPTO, err, errlen, "cannot reference the new key");
	else if ((r = list_write(dir, s->keys, s->nkeys + 1, err, errlen)) != POT_OK)
		EVP_PKEY_free(pkey);	/* the reference just taken */
	if (r != POT_OK) {
		if (pem_path(path, sizeof(path), dir, kid) == POT_OK)
			unlink(path);	/* not listed: no trace left */
		return r;
	}
	k->pkey = pkey;
	s->nkeys++;
	return POT_OK;
}

/*
 * ks takes s. The pepper's bytes are rewritten only when they differ (they never should):
 * pot_keystore_pepper()'s pointer stays valid and its content stable across reloads, so
 * that a reader without potd's lock never sees it half-wiped.
 */
static void
ks_replace_state(struct pot_keystore *ks, struct ks_state *s)
{
	size_t i;

	for (i = 0; i < ks->st.nkeys; i++)
		EVP_PKEY_free(ks->st.keys[i].pkey);
	free(ks->st.keys);
	ks->st.keys = s->keys;		/* transferred */
	ks->st.nkeys = s->nkeys;
	s->keys = NULL;
	s->nkeys = 0;
	if (CRYPTO_memcmp(ks->st.pepper, s->pepper, POT_PEPPER_LEN) != 0)
		memcpy(ks->st.pepper, s->pepper, POT_PEPPER_LEN);
	pot_wipe(s->pepper, POT_PEPPER_LEN);
}

/* --- the API ----------------------------------------------------------------------- */

int
pot_keystore_open(const char *state_dir, bool create, int64_t now, struct pot_keystore **out,
		  char *err, size_t errlen)
{
	struct pot_keystore *ks = NULL;
	EVP_PKEY *pkey = NULL;
	struct ks_state s;
	char kid[48];
	int fd = -1, r;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	if (now < 0)
		return pot_fail(POT_ERR_BAD_REQUEST, err, errlen, "negative time");
	if ((ks = calloc(1, sizeof(*ks))) == NULL || (ks->state_dir = strdup(state_dir)) == NULL ||
	    asprintf(&ks->dir, "%s/" KS_DIR, state_dir) < 0) {
		if (ks != NULL)
			ks->dir = NULL;
		r = POT_ERR_ALLOC;
		goto out;
	}
	if (create && ((r = dir_make(state_dir, 0755, err, errlen)) != POT_OK ||
		       (r = state_dir_check(state_dir, err, errlen)) != POT_OK ||
		       (r = dir_make(ks->dir, 0700, err, errlen)) != POT_OK))
		goto out;
	if (!create && (r = state_dir_check(state_dir, err, errlen)) != POT_OK)
		goto out;
	if ((r = dir_lock(ks->dir, create ? LOCK_EX : LOCK_SH, &fd, err, errlen)) != POT_OK)
		goto out;
	if (create && (r = pepper_create(ks->dir, err, errlen)) != POT_OK)
		goto out;
	if ((r = state_read(ks->dir, create, &s, err, errlen)) != POT_OK)
		goto out;
	if (create && s.nkeys == 0 &&
	    ((r = key_make(POT_ALG_ES256, &pkey, kid, err, errlen)) != POT_OK ||
	     (r = state_add_key(ks->dir, &s, pkey, kid, POT_ALG_ES256, now, 0, err, errlen)) != 0))
		goto out;
	ks_replace_state(ks, &s);
	*out = ks;
	ks = NULL;			/* transferred */
	r = POT_OK;
out:
	dir_unlock(fd);
	state_clear(&s);
	EVP_PKEY_free(pkey);
	pot_keystore_free(ks);
	return r;
}

void
pot_keystore_free(struct pot_keystore *ks)
{
	if (ks == NULL)
		return;
	state_clear(&ks->st);
	free(ks->state_dir);
	free(ks->dir);
	free(ks);
}

int
pot_keystore_reload(struct pot_keystore *ks, char *err, size_t errlen)
{
	struct ks_state s;
	int fd = -1, r;

	memset(&s, 0, sizeof(s));
	if ((r = state_dir_check(ks->state_dir, err, errlen)) == POT_OK &&
	    (r = dir_lock(ks->dir, LOCK_SH, &fd, err, errlen)) == POT_OK &&
	    (r = state_read(ks->dir, false, &s, err, errlen)) == POT_OK)
		ks_replace_state(ks, &s);	/* on failure the old keys stay */
	dir_unlock(fd);
	state_clear(&s);
	return r;
}

const unsigned char *
pot_keystore_pepper(const struct pot_keystore *ks)
{
	return ks->st.pepper;
}

int
pot_keystore_signer(const struct pot_keystore *ks, int64_t now, EVP_PKEY **key, const char **kid)
{
	const struct ks_key *best = NULL, *k;
	size_t i;

	*key = NULL;
	*kid = NULL;
	for (i = 0; i < ks->st.nkeys; i++) {
		k = &ks->st.keys[i];
		if (k->info.retired_at != 0 || k->info.activate_at > now)
			continue;
		if (best == NULL || k->info.activate_at >= best->info.activate_at)
			best = k;	/* ties: the one listed last, i.e. made last */
	}
	if (best == NULL)
		return POT_ERR_NOT_FOUND;
	*key = best->pkey;
	*kid = best->info.kid;
	return POT_OK;
}

/*
 * Runs a change on a fresh read of keys/ under the exclusive lock, so that a change made
 * meanwhile by another process is kept; ks then holds what keys/ holds.
 */
struct ks_change {
	enum { KS_NEW, KS_RETIRE, KS_PRUNE } op;
	enum pot_alg alg;
	EVP_PKEY *pkey;		/* the new key */
	int64_t now, arg;	/* delay or keep */
	const char *kid;
};

static int
change_retire(const char *dir, struct ks_state *s, const struct ks_change *c, char *err,
	      size_t errlen)
{
	struct ks_key *target = NULL;
	size_t i, signers = 0;
	int r;

	for (i = 0; i < s->nkeys; i++) {
		if (strcmp(s->keys[i].info.kid, c->kid) == 0)
			target = &s->keys[i];
		if (s->keys[i].info.retired_at == 0)
			signers++;	/* active or pending */
	}
	if (target == NULL)
		return pot_fail(POT_ERR_NOT_FOUND, err, errlen, "no key %s", c->kid);
	if (target->info.retired_at != 0)
		return POT_OK;		/* retired already: keep the first times */
	if (signers <= 1)
		return pot_fail(POT_ERR_DENIED, err, errlen, "%s is the last key that can sign",
				c->kid);
	target->info.retired_at = c->now;
	target->info.drop_at = c->now + c->arg;
	if ((r = list_write(dir, s->keys, s->nkeys, err, errlen)) != POT_OK)
		target->info.retired_at = target->info.drop_at = 0;	/* as on disk */
	return r;
}

static int
change_prune(const char *dir, struct ks_state *s, int64_t now, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct ks_key *kept = NULL;
	size_t i, nkept = 0;
	int r = POT_OK;

	if (s->nkeys != 0 && (kept = calloc(s->nkeys, sizeof(*kept))) == NULL)
		return POT_ERR_ALLOC;
	for (i = 0; i < s->nkeys; i++)
		if (s->keys[i].info.drop_at == 0 || s->keys[i].info.drop_at > now)
			kept[nkept++] = s->keys[i];
	if (nkept == s->nkeys ||
	    (r = list_write(dir, kept, nkept, err, errlen)) != POT_OK)
		goto out;			/* nothing to drop, or s as on disk */
	for (i = 0; i < s->nkeys; i++) {
		if (s->keys[i].info.drop_at == 0 || s->keys[i].info.drop_at > now)
			continue;
		if (pem_path(path, sizeof(path), dir, s->keys[i].info.kid) == POT_OK &&
		    unlink(path) == -1 && errno != ENOENT && r == POT_OK)
			r = pot_fail(POT_ERR_IO, err, errlen, "%s: %s", path, strerror(errno));
		EVP_PKEY_free(s->keys[i].pkey);
	}
	free(s->keys);
	s->keys = kept;			/* transferred */
	s->nkeys = nkept;
	kept = NULL;
	if (r == POT_OK)
		r = dir_fsync(dir, err, errlen);
out:
	free(kept);
	return r;
}

static int
ks_change(struct pot_keystore *ks, const struct ks_change *c, char *err, size_t errlen)
{
	struct ks_state s;
	int fd = -1, r;

	memset(&s, 0, sizeof(s));
	if ((r = state_dir_check(ks->state_dir, err, errlen)) != POT_OK ||
	    (r = dir_lock(ks->dir, LOCK_EX, &fd, err, errlen)) != POT_OK ||
	    (r = state_read(ks->dir, false, &s, err, errlen)) != POT_OK)
		goto out;
	switch (c->op) {
	case KS_NEW:
		r = state_add_key(ks->dir, &s, c->pkey, c->kid, c->alg, c->now, c->arg, err, errlen);
		break;
	case KS_RETIRE:
		r = change_retire(ks->dir, &s, c, err, errlen);
		break;
	case KS_PRUNE:
		r = change_prune(ks->dir, &s, c->now, err, errlen);
		break;
	}
	/*
	 * s is what keys/ holds now, whether the change was made or refused (a failed write
	 * leaves the file as it was, and s as it was read).
	 */
	ks_replace_state(ks, &s);
out:
	dir_unlock(fd);
	state_clear(&s);
	return r;
}

int
pot_keystore_new_key(struct pot_keystore *ks, enum pot_alg alg, int64_t now, int64_t delay,
		     char kid[48])
{
	struct ks_change c = { .op = KS_NEW, .alg = alg, .now = now, .arg = delay };
	char err[KS_ERRLEN], made[48];
	EVP_PKEY *pkey = NULL;
	int r;

	kid[0] = '\0';
	if (alg != POT_ALG_ES256 && alg != POT_ALG_RS256)
		return POT_ERR_ALG;
	if (now < 0 || delay < 0 || delay > INT64_MAX - now)
		return POT_ERR_BAD_REQUEST;
	if ((r = key_make(alg, &pkey, made, err, sizeof(err))) != POT_OK)
		return r;
	c.pkey = pkey;
	c.kid = made;
	if ((r = ks_change(ks, &c, err, sizeof(err))) == POT_OK)
		memcpy(kid, made, sizeof(made));
	EVP_PKEY_free(pkey);
	return r;
}

int
pot_keystore_retire(struct pot_keystore *ks, const char *kid, int64_t now, int64_t keep)
{
	struct ks_change c = { .op = KS_RETIRE, .kid = kid, .now = now, .arg = keep };
	char err[KS_ERRLEN];

	if (now <= 0 || keep < 0 || keep > INT64_MAX - now)	/* retired_at 0 means "not retired" */
		return POT_ERR_BAD_REQUEST;
	if (!kid_ok(kid))
		return POT_ERR_NOT_FOUND;
	return ks_change(ks, &c, err, sizeof(err));
}

int
pot_keystore_prune(struct pot_keystore *ks, int64_t now)
{
	struct ks_change c = { .op = KS_PRUNE, .now = now };
	char err[KS_ERRLEN];

	return ks_change(ks, &c, err, sizeof(err));
}

size_t
pot_keystore_count(const struct pot_keystore *ks)
{
	return ks->st.nkeys;
}

const struct pot_keyinfo *
pot_keystore_info(const struct pot_keystore *ks, size_t i)
{
	return i < ks->st.nkeys ? &ks->st.keys[i].info : NULL;
}

json_t *
pot_keystore_jwks(const struct pot_keystore *ks, int64_t now)
{
	json_t *root = NULL, *keys, *jwk;
	const struct ks_key *k;
	size_t i;

	if ((root = json_object()) == NULL || (keys = json_array()) == NULL ||
	    json_object_set_new(root, "keys", keys) != 0)
		goto bad;
	for (i = 0; i < ks->st.nkeys; i++) {
		k = &ks->st.keys[i];
		if (k->info.drop_at != 0 && k->info.drop_at <= now)
			continue;	/* pending and retired keys are published until dropped */
		if (pot_jwk_public(k->pkey, &jwk) != POT_OK || json_array_append_new(keys, jwk) != 0)
			goto bad;
	}
	return root;
bad:
	json_decref(root);
	return NULL;
}

int
pot_keystore_write_jwks(const struct pot_keystore *ks, const char *path, int64_t now, char *err,
			size_t errlen)
{
	char *text = NULL, *nl = NULL;
	json_t *set;
	int r = POT_ERR_ALLOC;

	if ((set = pot_keystore_jwks(ks, now)) == NULL ||
	    (text = json_dumps(set, JSON_INDENT(2))) == NULL || asprintf(&nl, "%s\n", text) < 0) {
		nl = NULL;
		r = pot_fail(POT_ERR_ALLOC, err, errlen, "%s: out of memory", path);
		goto out;
	}
	r = file_write_atomic(path, nl, strlen(nl), 0644, true, err, errlen);
out:
	json_decref(set);
	free(text);
	free(nl);
	return r;
}
