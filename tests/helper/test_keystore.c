/* test_keystore.c — potd's keys/: pepper, signing keys and their life cycle, jwks.json. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/cmocka_pre.h"
#include "../common/tmpdir.h"
#include "../../helper/files.h"
#include "pot/err.h"
#include "pot/keys.h"
#include "pot/keystore.h"
#include "pot/token.h"
#include "pot/util.h"

#include <openssl/pem.h>

#define T0		1700000000LL
#define ISS		"http://127.0.0.1:8740"

struct fx {
	char root[TMPDIR_LEN];
	char state[256];
	char keys[256];
	char jwks[256];
	char err[512];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (tmpdir_make(f->root, "ks") != 0)
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state", f->root);
	snprintf(f->keys, sizeof(f->keys), "%s/state/keys", f->root);
	snprintf(f->jwks, sizeof(f->jwks), "%s/state/jwks.json", f->root);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tmpdir_remove(f->root);
	free(f);
	return 0;
}

static char *
kpath(struct fx *f, const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", f->keys, name);
	return buf;
}

static char *
pem_of(struct fx *f, const char *kid)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s.pem", f->keys, kid);
	return buf;
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static char *
slurp(const char *path, size_t *len)
{
	char *buf;
	size_t n;
	FILE *fp;

	assert_non_null(fp = fopen(path, "rb"));
	assert_non_null(buf = malloc(1024 * 1024));
	n = fread(buf, 1, 1024 * 1024 - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	if (len != NULL)
		*len = n;
	return buf;
}

static void
spit(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static struct pot_keystore *
ks_create(struct fx *f, int64_t now)
{
	struct pot_keystore *ks;
	int r;

	if ((r = pot_keystore_open(f->state, true, now, &ks, f->err, sizeof(f->err))) != POT_OK)
		pot_fail_msg("open: %s: %s", pot_strerror(r), f->err);
	return ks;
}

/* Opening refused with POT_ERR_IO and an error that names `what`. */
static void
assert_refused(struct fx *f, bool create, const char *what)
{
	struct pot_keystore *ks = NULL;

	f->err[0] = '\0';
	assert_int_equal(pot_keystore_open(f->state, create, T0, &ks, f->err, sizeof(f->err)),
			 POT_ERR_IO);
	assert_null(ks);
	if (strstr(f->err, what) == NULL)
		pot_fail_msg("error \"%s\" does not name %s", f->err, what);
}

static const char *
signer_kid(struct pot_keystore *ks, int64_t now)
{
	EVP_PKEY *k;
	const char *kid;

	if (pot_keystore_signer(ks, now, &k, &kid) != POT_OK)
		return NULL;
	assert_non_null(k);
	return kid;
}

static bool
jwks_has(struct pot_keystore *ks, int64_t now, const char *kid)
{
	json_t *set = pot_keystore_jwks(ks, now), *jwk;
	bool found = false;
	size_t i;

	assert_non_null(set);
	json_array_foreach(json_object_get(set, "keys"), i, jwk)
		if (strcmp(json_string_value(json_object_get(jwk, "kid")), kid) == 0)
			found = true;
	json_decref(set);
	return found;
}

static size_t
jwks_count(struct pot_keystore *ks, int64_t now)
{
	json_t *set = pot_keystore_jwks(ks, now);
	size_t n;

	assert_non_null(set);
	n = json_array_size(json_object_get(set, "keys"));
	json_decref(set);
	return n;
}

/* --- creation and reopening -------------------------------------------------------- */

static void
test_create_from_nothing(void **state)
{
	struct fx *f = *state;
	const struct pot_keyinfo *ki;
	struct pot_keystore *ks;
	char *thumb, *text;
	const char *kid;
	struct stat st;
	EVP_PKEY *k;
	mode_t old;

	old = umask(077);		/* the modes must not depend on the umask */
	ks = ks_create(f, T0);
	umask(old);
	assert_int_equal(mode_of(f->state), 0755);
	assert_int_equal(mode_of(f->keys), 0700);
	assert_int_equal(mode_of(kpath(f, "pepper")), 0600);
	assert_int_equal(lstat(kpath(f, "pepper"), &st), 0);
	assert_int_equal(st.st_size, POT_PEPPER_LEN);
	assert_int_equal(mode_of(kpath(f, "keys.json")), 0600);

	assert_int_equal(pot_keystore_count(ks), 1);
	assert_non_null(ki = pot_keystore_info(ks, 0));
	assert_null(pot_keystore_info(ks, 1));
	assert_int_equal(ki->alg, POT_ALG_ES256);
	assert_int_equal(ki->created, T0);
	assert_int_equal(ki->activate_at, T0);	/* first start signs at once */
	assert_int_equal(ki->retired_at, 0);
	assert_int_equal(ki->drop_at, 0);
	assert_int_equal(mode_of(pem_of(f, ki->kid)), 0600);

	assert_int_equal(pot_keystore_signer(ks, T0, &k, &kid), POT_OK);
	assert_string_equal(kid, ki->kid);
	assert_int_equal(pot_jwk_thumbprint(k, &thumb), POT_OK);
	assert_string_equal(thumb, kid);
	free(thumb);

	text = slurp(kpath(f, "keys.json"), NULL);
	assert_non_null(strstr(text, ki->kid));
	assert_non_null(strstr(text, "\"ES256\""));
	free(text);

	umask(077);
	assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0, f->err, sizeof(f->err)), POT_OK);
	umask(old);
	assert_int_equal(mode_of(f->jwks), 0644);
	pot_keystore_free(ks);
}

static void
test_open_nocreate_creates_nothing(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = NULL;

	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)),
			 POT_ERR_NOT_FOUND);
	assert_null(ks);
	assert_false(exists(f->state));
	assert_int_equal(mkdir(f->state, 0755), 0);
	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)),
			 POT_ERR_NOT_FOUND);
	assert_false(exists(f->keys));
	assert_int_equal(mkdir(f->keys, 0700), 0);
	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)),
			 POT_ERR_NOT_FOUND);		/* no pepper */
	assert_false(exists(kpath(f, "pepper")));
	assert_false(exists(kpath(f, "keys.json")));
}

static void
test_reopen_same(void **state)
{
	struct fx *f = *state;
	unsigned char pepper[POT_PEPPER_LEN];
	struct pot_keystore *ks, *ks2;
	EVP_PKEY *k1, *k2;
	const char *kid1, *kid2;
	char kid[48];

	ks = ks_create(f, T0);
	memcpy(pepper, pot_keystore_pepper(ks), sizeof(pepper));
	assert_int_equal(pot_keystore_signer(ks, T0, &k1, &kid1), POT_OK);

	/* `pot key list`: never creates, same pepper and keys */
	assert_int_equal(pot_keystore_open(f->state, false, T0 + 5, &ks2, f->err, sizeof(f->err)),
			 POT_OK);
	assert_memory_equal(pot_keystore_pepper(ks2), pepper, sizeof(pepper));
	assert_int_equal(pot_keystore_count(ks2), 1);
	assert_int_equal(pot_keystore_signer(ks2, T0, &k2, &kid2), POT_OK);
	assert_string_equal(kid1, kid2);
	assert_int_equal(EVP_PKEY_eq(k1, k2), 1);
	pot_keystore_free(ks2);

	/* potd restarting: no second key, no new pepper */
	ks2 = ks_create(f, T0 + 100);
	assert_memory_equal(pot_keystore_pepper(ks2), pepper, sizeof(pepper));
	assert_int_equal(pot_keystore_count(ks2), 1);
	assert_string_equal(pot_keystore_info(ks2, 0)->kid, kid1);
	assert_int_equal(pot_keystore_info(ks2, 0)->created, T0);
	pot_keystore_free(ks2);

	/* a second key survives reopening with its times */
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0 + 10, 600, kid), POT_OK);
	pot_keystore_free(ks);
	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_count(ks), 2);
	assert_string_equal(pot_keystore_info(ks, 1)->kid, kid);
	assert_int_equal(pot_keystore_info(ks, 1)->created, T0 + 10);
	assert_int_equal(pot_keystore_info(ks, 1)->activate_at, T0 + 610);
	assert_memory_equal(pot_keystore_pepper(ks), pepper, sizeof(pepper));
	pot_keystore_free(ks);
}

static void
test_peppers_differ(void **state)
{
	struct fx *f = *state;
	unsigned char pepper[POT_PEPPER_LEN];
	struct pot_keystore *ks;

	ks = ks_create(f, T0);
	memcpy(pepper, pot_keystore_pepper(ks), sizeof(pepper));
	pot_keystore_free(ks);
	/* a lost pepper is never silently replaced while keys (hence stored secrets) exist */
	assert_int_equal(unlink(kpath(f, "pepper")), 0);
	assert_refused(f, true, kpath(f, "pepper"));
	/* starting over (no keys.json, no keys) makes a fresh random one */
	assert_int_equal(unlink(kpath(f, "keys.json")), 0);
	{
		char cmd[PATH_MAX + 32], *slash;

		snprintf(cmd, sizeof(cmd), "rm -f -- '%s", kpath(f, "x"));
		slash = strrchr(cmd, '/');
		strcpy(slash, "'/*.pem");
		assert_int_equal(system(cmd), 0);
	}
	ks = ks_create(f, T0);
	assert_memory_not_equal(pot_keystore_pepper(ks), pepper, sizeof(pepper));
	pot_keystore_free(ks);
}

/* --- the life cycle ---------------------------------------------------------------- */

static void
test_signer_is_first_key(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	EVP_PKEY *k;
	const char *kid;

	assert_string_equal(signer_kid(ks, T0), pot_keystore_info(ks, 0)->kid);
	assert_string_equal(signer_kid(ks, T0 + 86400), pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_signer(ks, T0 - 1, &k, &kid), POT_ERR_NOT_FOUND);
	assert_null(k);
	assert_null(kid);
	pot_keystore_free(ks);
}

static void
test_new_key_delayed(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char first[48], kid[48];

	strcpy(first, pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0 + 100, 600, kid), POT_OK);
	assert_int_equal(strlen(kid), 43);
	assert_string_not_equal(kid, first);
	assert_int_equal(mode_of(pem_of(f, kid)), 0600);
	assert_int_equal(pot_keystore_count(ks), 2);

	/* published at once ... */
	assert_true(jwks_has(ks, T0 + 100, kid));
	assert_true(jwks_has(ks, T0 + 100, first));
	/* ... signing only after the delay */
	assert_string_equal(signer_kid(ks, T0 + 100), first);
	assert_string_equal(signer_kid(ks, T0 + 699), first);
	assert_string_equal(signer_kid(ks, T0 + 700), kid);
	assert_string_equal(signer_kid(ks, T0 + 9999), kid);
	pot_keystore_free(ks);
}

static void
test_new_key_now(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48], kid2[48];

	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0 + 50, 0, kid), POT_OK);
	assert_string_equal(signer_kid(ks, T0 + 50), kid);
	assert_string_equal(signer_kid(ks, T0 + 49), pot_keystore_info(ks, 0)->kid);
	/* made in the same second: the newer key wins */
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0 + 50, 0, kid2), POT_OK);
	assert_string_equal(signer_kid(ks, T0 + 50), kid2);
	pot_keystore_free(ks);
}

static void
test_new_key_bad_args(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48] = "x";

	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_UNKNOWN, T0, 0, kid), POT_ERR_ALG);
	assert_string_equal(kid, "");
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0, -1, kid), POT_ERR_BAD_REQUEST);
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0, INT64_MAX, kid),
			 POT_ERR_BAD_REQUEST);
	assert_int_equal(pot_keystore_count(ks), 1);
	pot_keystore_free(ks);
}

static void
test_retire_and_prune(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	const struct pot_keyinfo *ki;
	char first[48], kid[48], *text;

	strcpy(first, pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0 + 10, 0, kid), POT_OK);
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 20, 630), POT_OK);
	ki = pot_keystore_info(ks, 0);
	assert_string_equal(ki->kid, first);
	assert_int_equal(ki->retired_at, T0 + 20);
	assert_int_equal(ki->drop_at, T0 + 650);

	/* no longer signs, even at times before it was retired */
	assert_string_equal(signer_kid(ks, T0 + 20), kid);
	assert_null(signer_kid(ks, T0 + 5));
	/* still verifies tokens until drop_at */
	assert_true(jwks_has(ks, T0 + 649, first));
	assert_false(jwks_has(ks, T0 + 650, first));
	assert_true(jwks_has(ks, T0 + 650, kid));

	assert_int_equal(pot_keystore_prune(ks, T0 + 649), POT_OK);
	assert_int_equal(pot_keystore_count(ks), 2);
	assert_true(exists(pem_of(f, first)));
	assert_int_equal(pot_keystore_prune(ks, T0 + 650), POT_OK);
	assert_int_equal(pot_keystore_count(ks), 1);
	assert_string_equal(pot_keystore_info(ks, 0)->kid, kid);
	assert_false(exists(pem_of(f, first)));
	text = slurp(kpath(f, "keys.json"), NULL);
	assert_null(strstr(text, first));
	free(text);
	assert_int_equal(jwks_count(ks, T0 + 650), 1);
	pot_keystore_free(ks);

	/* what prune left opens cleanly */
	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_count(ks), 1);
	pot_keystore_free(ks);
}

static void
test_retire_last_refused(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char first[48], kid[48];

	strcpy(first, pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 1, 630), POT_ERR_DENIED);
	assert_int_equal(pot_keystore_info(ks, 0)->retired_at, 0);
	assert_string_equal(signer_kid(ks, T0 + 1), first);

	/* a pending key counts: it will sign */
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0 + 2, 600, kid), POT_OK);
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 3, 630), POT_OK);
	assert_int_equal(pot_keystore_retire(ks, kid, T0 + 4, 630), POT_ERR_DENIED);
	assert_int_equal(pot_keystore_info(ks, 1)->retired_at, 0);
	assert_string_equal(signer_kid(ks, T0 + 602), kid);
	pot_keystore_free(ks);
}

static void
test_retire_unknown(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);

	assert_int_equal(pot_keystore_retire(ks, "Y0TqJTDaOqgAyrwFVM0XhXdhBimjxiEwcYjPyoj9WHo", T0 + 1,
					     630), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_keystore_retire(ks, "../../etc/passwd", T0 + 1, 630), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_keystore_retire(ks, "", T0 + 1, 630), POT_ERR_NOT_FOUND);
	assert_int_equal(pot_keystore_info(ks, 0)->retired_at, 0);
	pot_keystore_free(ks);
}

static void
test_retire_twice(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char first[48], kid[48];

	strcpy(first, pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0, 0, kid), POT_OK);
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 10, 100), POT_OK);
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 50, 900), POT_OK);
	assert_int_equal(pot_keystore_info(ks, 0)->retired_at, T0 + 10);
	assert_int_equal(pot_keystore_info(ks, 0)->drop_at, T0 + 110);
	assert_int_equal(pot_keystore_retire(ks, first, 0, 100), POT_ERR_BAD_REQUEST);
	pot_keystore_free(ks);
}

/* A change that cannot be written leaves keys/ and the keystore as they were. */
static void
test_change_not_writable(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks;
	char first[48], kid[48], *before, *after;

	if (geteuid() == 0)
		skip();			/* root writes anyway */
	ks = ks_create(f, T0);
	strcpy(first, pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0, 0, kid), POT_OK);
	before = slurp(kpath(f, "keys.json"), NULL);
	assert_int_equal(chmod(f->keys, 0500), 0);
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0, 0, kid), POT_ERR_IO);
	assert_string_equal(kid, "");
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 1, 60), POT_ERR_IO);
	assert_int_equal(pot_keystore_info(ks, 0)->retired_at, 0);
	assert_int_equal(chmod(f->keys, 0700), 0);
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 1, 60), POT_OK);
	assert_int_equal(chmod(f->keys, 0500), 0);
	assert_int_equal(pot_keystore_prune(ks, T0 + 61), POT_ERR_IO);
	assert_int_equal(pot_keystore_count(ks), 2);
	assert_int_equal(chmod(f->keys, 0700), 0);
	after = slurp(kpath(f, "keys.json"), NULL);
	assert_string_not_equal(before, after);		/* only the retirement */
	free(before);
	free(after);
	pot_keystore_free(ks);
	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_count(ks), 2);
	assert_int_equal(pot_keystore_info(ks, 0)->retired_at, T0 + 1);
	assert_int_equal(pot_keystore_prune(ks, T0 + 61), POT_OK);
	assert_int_equal(pot_keystore_count(ks), 1);
	pot_keystore_free(ks);
}

/* Changes made by another process: seen after reload, never lost by a later change. */
static void
test_reload_and_concurrent_change(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *potd = ks_create(f, T0), *cli;
	const unsigned char *pepper = pot_keystore_pepper(potd);
	unsigned char copy[POT_PEPPER_LEN];
	char kid[48], kid2[48];

	assert_int_equal(pot_keystore_open(f->state, false, T0, &cli, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_new_key(cli, POT_ALG_ES256, T0 + 1, 0, kid), POT_OK);
	assert_int_equal(pot_keystore_count(potd), 1);
	assert_int_equal(pot_keystore_reload(potd, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_count(potd), 2);
	assert_string_equal(signer_kid(potd, T0 + 1), kid);

	/* cli makes another key; potd, not reloaded, makes one too: both kept */
	assert_int_equal(pot_keystore_new_key(cli, POT_ALG_ES256, T0 + 2, 600, kid2), POT_OK);
	assert_int_equal(pot_keystore_new_key(potd, POT_ALG_ES256, T0 + 3, 600, kid), POT_OK);
	assert_int_equal(pot_keystore_count(potd), 4);
	assert_int_equal(pot_keystore_reload(cli, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_count(cli), 4);
	assert_string_equal(pot_keystore_info(cli, 2)->kid, kid2);
	assert_string_equal(pot_keystore_info(cli, 3)->kid, kid);

	/* a failed reload keeps the keys it had */
	assert_int_equal(chmod(pem_of(f, kid), 0644), 0);
	assert_int_equal(pot_keystore_reload(potd, f->err, sizeof(f->err)), POT_ERR_IO);
	assert_non_null(strstr(f->err, kid));
	assert_int_equal(pot_keystore_count(potd), 4);
	assert_non_null(signer_kid(potd, T0 + 1));
	/* the pepper stays where it was (potd reads it without its keys lock) */
	assert_ptr_equal(pot_keystore_pepper(potd), pepper);
	memcpy(copy, pepper, sizeof(copy));
	assert_int_equal(chmod(pem_of(f, kid), 0600), 0);
	assert_int_equal(pot_keystore_reload(potd, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_prune(potd, T0), POT_OK);
	assert_ptr_equal(pot_keystore_pepper(potd), pepper);
	assert_memory_equal(pepper, copy, sizeof(copy));
	pot_keystore_free(cli);
	pot_keystore_free(potd);
}

static void subst(char *out, size_t len, const char *pattern, const char *kid);

/* --- refused files: each names the culprit ------------------------------------------ */

static void
test_refuse_keys_dir_group_readable(void **state)
{
	struct fx *f = *state;

	pot_keystore_free(ks_create(f, T0));
	assert_int_equal(chmod(f->keys, 0750), 0);
	assert_refused(f, true, f->keys);
	assert_refused(f, false, f->keys);
	assert_int_equal(mode_of(f->keys), 0750);	/* not "fixed" behind the admin's back */
}

static void
test_refuse_existing_keys_dir_open_at_start(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdir(f->state, 0755), 0);
	assert_int_equal(mkdir(f->keys, 0700), 0);
	assert_int_equal(chmod(f->keys, 0705), 0);
	assert_refused(f, true, f->keys);
	assert_false(exists(kpath(f, "pepper")));
}

static void
test_refuse_keys_dir_symlink(void **state)
{
	struct fx *f = *state;
	char elsewhere[PATH_MAX];

	pot_keystore_free(ks_create(f, T0));
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", f->root);
	assert_int_equal(rename(f->keys, elsewhere), 0);
	assert_int_equal(symlink(elsewhere, f->keys), 0);
	assert_refused(f, false, f->keys);
	assert_non_null(strstr(f->err, "symbolic link"));
	assert_refused(f, true, f->keys);
}

static void
test_refuse_state_dir_writable(void **state)
{
	struct fx *f = *state;

	pot_keystore_free(ks_create(f, T0));
	assert_int_equal(chmod(f->state, 0777), 0);
	assert_refused(f, false, f->state);
	assert_refused(f, true, f->state);
	assert_int_equal(mode_of(f->state), 0777);
}

static void
test_refuse_pem_group_readable(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48];

	strcpy(kid, pot_keystore_info(ks, 0)->kid);
	pot_keystore_free(ks);
	assert_int_equal(chmod(pem_of(f, kid), 0640), 0);
	assert_refused(f, false, pem_of(f, kid));
	assert_refused(f, true, pem_of(f, kid));
}

static void
test_refuse_pem_thumbprint_not_kid(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	EVP_PKEY *other;
	char kid[48];
	BIO *bio;
	char *data;
	long len;

	strcpy(kid, pot_keystore_info(ks, 0)->kid);
	pot_keystore_free(ks);
	assert_int_equal(pot_key_generate(POT_ALG_ES256, &other), POT_OK);
	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_true(PEM_write_bio_PrivateKey(bio, other, NULL, NULL, 0, NULL, NULL));
	len = BIO_get_mem_data(bio, &data);
	spit(pem_of(f, kid), data, (size_t)len, 0600);
	BIO_free(bio);
	EVP_PKEY_free(other);
	assert_refused(f, false, pem_of(f, kid));
	assert_non_null(strstr(f->err, "thumbprint"));
	assert_refused(f, true, pem_of(f, kid));
}

static void
test_refuse_pem_missing(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48];

	strcpy(kid, pot_keystore_info(ks, 0)->kid);
	pot_keystore_free(ks);
	assert_int_equal(unlink(pem_of(f, kid)), 0);
	assert_refused(f, false, pem_of(f, kid));
	assert_refused(f, true, pem_of(f, kid));	/* not silently replaced */
	assert_false(exists(pem_of(f, kid)));
}

static void
test_refuse_pem_not_listed(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48], *list;
	size_t len;

	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_ES256, T0, 600, kid), POT_OK);
	pot_keystore_free(ks);
	list = slurp(kpath(f, "keys.json"), &len);
	assert_int_equal(rename(pem_of(f, kid), kpath(f, "stray.pem")), 0);
	assert_refused(f, false, pem_of(f, kid));	/* listed, missing */
	assert_int_equal(rename(kpath(f, "stray.pem"), pem_of(f, kid)), 0);
	{
		json_t *arr = json_loads(list, 0, NULL);
		char *text;

		assert_non_null(arr);
		/* keys.json as it was before `pot key new` finished */
		assert_int_equal(json_array_remove(arr, 1), 0);
		text = json_dumps(arr, 0);
		spit(kpath(f, "keys.json"), text, strlen(text), 0600);
		free(text);
		json_decref(arr);
	}
	assert_refused(f, false, pem_of(f, kid));	/* present, not listed */
	assert_non_null(strstr(f->err, "not listed"));
	assert_refused(f, true, pem_of(f, kid));
	free(list);
}

static void
test_refuse_pepper_wrong_size(void **state)
{
	struct fx *f = *state;
	unsigned char junk[POT_PEPPER_LEN + 1] = { 1 };
	struct stat st;

	pot_keystore_free(ks_create(f, T0));
	spit(kpath(f, "pepper"), junk, POT_PEPPER_LEN - 1, 0600);
	assert_refused(f, false, kpath(f, "pepper"));
	assert_refused(f, true, kpath(f, "pepper"));	/* never regenerated */
	assert_int_equal(lstat(kpath(f, "pepper"), &st), 0);
	assert_int_equal(st.st_size, POT_PEPPER_LEN - 1);
	spit(kpath(f, "pepper"), junk, POT_PEPPER_LEN + 1, 0600);
	assert_refused(f, false, kpath(f, "pepper"));
	spit(kpath(f, "pepper"), junk, 0, 0600);
	assert_refused(f, true, kpath(f, "pepper"));
}

static void
test_refuse_pepper_group_readable(void **state)
{
	struct fx *f = *state;

	pot_keystore_free(ks_create(f, T0));
	assert_int_equal(chmod(kpath(f, "pepper"), 0640), 0);
	assert_refused(f, false, kpath(f, "pepper"));
}

static void
test_refuse_bad_list(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	static const char *bad[] = {
		"{}",
		"[1]",
		"[{\"kid\":\"@\",\"alg\":\"ES256\",\"created\":1,\"activate_at\":1,\"retired_at\":0,"
		"\"drop_at\":0,\"extra\":1}]",
		"[{\"kid\":\"@\",\"alg\":\"HS256\",\"created\":1,\"activate_at\":1,\"retired_at\":0,"
		"\"drop_at\":0}]",
		"[{\"kid\":\"@\",\"alg\":\"RS256\",\"created\":1,\"activate_at\":1,\"retired_at\":0,"
		"\"drop_at\":0}]",
		"[{\"kid\":\"@\",\"alg\":\"ES256\",\"created\":1,\"activate_at\":-1,\"retired_at\":0,"
		"\"drop_at\":0}]",
		"[{\"kid\":\"@\",\"alg\":\"ES256\",\"created\":1,\"activate_at\":1,\"retired_at\":0,"
		"\"drop_at\":5}]",
		"[{\"kid\":\"@\",\"alg\":\"ES256\",\"created\":1,\"activate_at\":1,\"retired_at\":0,"
		"\"drop_at\":0},{\"kid\":\"@\",\"alg\":\"ES256\",\"created\":1,\"activate_at\":1,"
		"\"retired_at\":0,\"drop_at\":0}]",
		"[{\"kid\":\"@\",\"kid\":\"x\",\"alg\":\"ES256\",\"created\":1,\"activate_at\":1,"
		"\"retired_at\":0,\"drop_at\":0}]",
	};
	char kid[48], text[1024];
	size_t i;

	strcpy(kid, pot_keystore_info(ks, 0)->kid);
	pot_keystore_free(ks);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		subst(text, sizeof(text), bad[i], kid);
		spit(kpath(f, "keys.json"), text, strlen(text), 0600);
		assert_refused(f, false, "keys.json");
	}
	/* and a writable one */
	snprintf(text, sizeof(text), "[{\"kid\":\"%s\",\"alg\":\"ES256\",\"created\":1,"
		 "\"activate_at\":1,\"retired_at\":0,\"drop_at\":0}]", kid);
	spit(kpath(f, "keys.json"), text, strlen(text), 0600);
	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)), POT_OK);
	pot_keystore_free(ks);
	assert_int_equal(chmod(kpath(f, "keys.json"), 0620), 0);
	assert_refused(f, false, "keys.json");
}

/* pattern with every @ replaced by kid */
static void
subst(char *out, size_t len, const char *pattern, const char *kid)
{
	size_t o = 0, kl = strlen(kid);

	for (; *pattern != '\0'; pattern++) {
		assert_true(o + kl + 1 < len);
		if (*pattern == '@') {
			memcpy(out + o, kid, kl);
			o += kl;
		} else
			out[o++] = *pattern;
	}
	out[o] = '\0';
}

/* --- jwks.json and tokens ---------------------------------------------------------- */

static char *
sign(EVP_PKEY *k, int64_t now)
{
	struct pot_at_params p = {
		.iss = ISS, .sub = "alice", .aud = "pot", .client_id = "cli", .scope = "sudo",
		.iat = now, .exp = now + 600,
	};
	char *tok;

	assert_int_equal(pot_at_sign(k, &p, &tok), POT_OK);
	return tok;
}

static int
verify(struct fx *f, const char *tok, int64_t now, char **kid)
{
	struct pot_verify_opts o = { .audience = "pot", .user_claim = "sub", .leeway = 30,
				     .now = (time_t)now };
	const char *iss[] = { ISS }, *path[] = { f->jwks };
	struct pot_keyring *kr;
	struct pot_claims c;
	int r;

	assert_non_null(kr = pot_keyring_new());
	assert_int_equal(pot_keyring_sync(kr, iss, path, 1, f->err, sizeof(f->err)), POT_OK);
	memset(&c, 0, sizeof(c));
	if ((r = pot_jwt_verify(kr, tok, strlen(tok), &o, &c)) == POT_OK && kid != NULL)
		*kid = strdup(c.kid);
	pot_claims_free(&c);
	pot_keyring_free(kr);
	return r;
}

static void
test_write_jwks_loads_and_verifies(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	struct pot_jwks *j;
	char first[48], kid[48], *text, *got, *tok_old, *tok_new;
	EVP_PKEY *k;
	const char *skid;
	size_t len;

	strcpy(first, pot_keystore_info(ks, 0)->kid);
	assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0, f->err, sizeof(f->err)), POT_OK);
	text = slurp(f->jwks, &len);
	assert_true(len > 0 && text[len - 1] == '\n');
	assert_null(strstr(text, "\"d\""));		/* no private parts */
	free(text);
	assert_int_equal(pot_jwks_load(f->jwks, ISS, &j, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(j->nkeys, 1);
	assert_string_equal(j->keys[0].kid, first);
	pot_jwks_free(j);

	/* the signer's token verifies against the file */
	assert_int_equal(pot_keystore_signer(ks, T0, &k, &skid), POT_OK);
	tok_old = sign(k, T0);
	assert_int_equal(verify(f, tok_old, T0, &got), POT_OK);
	assert_string_equal(got, first);
	free(got);

	/* a pending key is published before it signs; once it signs, its tokens verify */
	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_RS256, T0 + 1, 600, kid), POT_OK);
	assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0 + 1, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(mode_of(f->jwks), 0644);
	assert_int_equal(pot_jwks_load(f->jwks, ISS, &j, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(j->nkeys, 2);
	pot_jwks_free(j);
	assert_int_equal(pot_keystore_signer(ks, T0 + 601, &k, &skid), POT_OK);
	assert_string_equal(skid, kid);
	tok_new = sign(k, T0 + 601);
	assert_int_equal(verify(f, tok_new, T0 + 601, &got), POT_OK);
	assert_string_equal(got, kid);
	free(got);

	/* retired, then dropped: its tokens stop verifying once jwks.json is rewritten */
	assert_int_equal(pot_keystore_retire(ks, first, T0 + 601, 630), POT_OK);
	assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0 + 602, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(verify(f, tok_old, T0 + 300, NULL), POT_OK);
	assert_int_equal(pot_keystore_prune(ks, T0 + 1231), POT_OK);
	assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0 + 1231, f->err, sizeof(f->err)),
			 POT_OK);
	assert_int_equal(verify(f, tok_old, T0 + 300, NULL), POT_ERR_UNKNOWN_KEY);
	assert_int_equal(verify(f, tok_new, T0 + 601, NULL), POT_OK);

	free(tok_old);
	free(tok_new);
	pot_keystore_free(ks);
}

static void
test_write_jwks_leaves_no_temp(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char bad[PATH_MAX];
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0, f->err, sizeof(f->err)), POT_OK);
	/* a path in a missing directory fails cleanly */
	snprintf(bad, sizeof(bad), "%s/nope/jwks.json", f->root);
	assert_int_equal(pot_keystore_write_jwks(ks, bad, T0, f->err, sizeof(f->err)), POT_ERR_IO);
	assert_non_null(strstr(f->err, bad));
	pot_keystore_free(ks);
	/* the state dir holds keys/ and jwks.json only; keys/ holds no temporary file */
	{
		char cmd[PATH_MAX * 2];

		snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s' | tr '\\n' ' ')\" = 'jwks.json keys '",
			 f->state);
		assert_int_equal(system(cmd), 0);
		snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep -v -e '^pepper$' -e "
			 "'^keys.json$' -e '\\.pem$')\"", f->keys);
		assert_int_equal(system(cmd), 0);
	}
}

static void
test_rs256(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48], *text;
	EVP_PKEY *k;
	const char *skid;

	assert_int_equal(pot_keystore_new_key(ks, POT_ALG_RS256, T0 + 1, 0, kid), POT_OK);
	assert_int_equal(pot_keystore_info(ks, 1)->alg, POT_ALG_RS256);
	assert_int_equal(pot_keystore_signer(ks, T0 + 1, &k, &skid), POT_OK);
	assert_string_equal(skid, kid);
	assert_int_equal(pot_key_alg(k), POT_ALG_RS256);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	assert_int_equal(mode_of(pem_of(f, kid)), 0600);
	pot_keystore_free(ks);

	assert_int_equal(pot_keystore_open(f->state, false, T0, &ks, f->err, sizeof(f->err)), POT_OK);
	assert_int_equal(pot_keystore_info(ks, 1)->alg, POT_ALG_RS256);
	assert_string_equal(signer_kid(ks, T0 + 1), kid);
	assert_int_equal(pot_keystore_write_jwks(ks, f->jwks, T0, f->err, sizeof(f->err)), POT_OK);
	text = slurp(f->jwks, NULL);
	assert_non_null(strstr(text, "\"RS256\""));
	assert_non_null(strstr(text, "\"RSA\""));
	free(text);
	pot_keystore_free(ks);
}

/* keys.json saying RS256 for an EC key (or the reverse) is refused. */
static void
test_refuse_alg_mismatch(void **state)
{
	struct fx *f = *state;
	struct pot_keystore *ks = ks_create(f, T0);
	char kid[48], text[512];

	strcpy(kid, pot_keystore_info(ks, 0)->kid);
	pot_keystore_free(ks);
	snprintf(text, sizeof(text), "[{\"kid\":\"%s\",\"alg\":\"RS256\",\"created\":1,"
		 "\"activate_at\":1,\"retired_at\":0,\"drop_at\":0}]", kid);
	spit(kpath(f, "keys.json"), text, strlen(text), 0600);
	assert_refused(f, false, pem_of(f, kid));
}

static void
slurp_equal(int dirfd, const char *name, const char *want, mode_t mode)
{
	char buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	assert_int_not_equal(fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW), -1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/* files.h: the one atomic writer of keys/, jwks.json and pot's tokens.json. */
static void
test_file_write_atomic(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX * 2];
	mode_t old = umask(077);
	int dirfd;

	assert_int_not_equal(dirfd = open(f->root, O_RDONLY | O_DIRECTORY), -1);
	/* the mode is the one asked for, whatever the umask */
	assert_int_equal(pot_file_write_atomic(dirfd, f->root, "a", "one", 3, 0644, true, f->err,
					       sizeof(f->err)), POT_OK);
	slurp_equal(dirfd, "a", "one", 0644);
	assert_int_equal(pot_file_write_atomic(dirfd, f->root, "a", "two", 3, 0600, true, f->err,
					       sizeof(f->err)), POT_OK);
	slurp_equal(dirfd, "a", "two", 0600);
	/* without replace an existing file stays as it was: POT_ERR_DENIED, naming it */
	assert_int_equal(pot_file_write_atomic(dirfd, f->root, "a", "three", 5, 0600, false, f->err,
					       sizeof(f->err)), POT_ERR_DENIED);
	assert_non_null(strstr(f->err, "/a: File exists"));
	slurp_equal(dirfd, "a", "two", 0600);
	assert_int_equal(pot_file_write_atomic(dirfd, f->root, "b", "", 0, 0600, false, f->err,
					       sizeof(f->err)), POT_OK);
	slurp_equal(dirfd, "b", "", 0600);
	/* a symbolic link in its place is replaced, never followed */
	assert_int_equal(symlinkat("b", dirfd, "c"), 0);
	assert_int_equal(pot_file_write_atomic(dirfd, f->root, "c", "four", 4, 0600, true, f->err,
					       sizeof(f->err)), POT_OK);
	slurp_equal(dirfd, "c", "four", 0600);
	slurp_equal(dirfd, "b", "", 0600);
	close(dirfd);
	/* no temporary file is left, whether the write was refused or done */
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s' | tr '\\n' ' ')\" = 'a b c '", f->root);
	assert_int_equal(system(cmd), 0);
	/* a directory where nothing can be made (even by root): the error names the file */
	assert_int_not_equal(dirfd = open("/proc", O_RDONLY | O_DIRECTORY), -1);
	assert_int_equal(pot_file_write_atomic(dirfd, "/proc", "x", "", 0, 0600, true, f->err,
					       sizeof(f->err)), POT_ERR_IO);
	assert_non_null(strstr(f->err, "/proc/x: cannot create a temporary file"));
	close(dirfd);
	umask(old);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_from_nothing),
		T(test_open_nocreate_creates_nothing),
		T(test_reopen_same),
		T(test_peppers_differ),
		T(test_signer_is_first_key),
		T(test_new_key_delayed),
		T(test_new_key_now),
		T(test_new_key_bad_args),
		T(test_retire_and_prune),
		T(test_retire_last_refused),
		T(test_retire_unknown),
		T(test_retire_twice),
		T(test_reload_and_concurrent_change),
		T(test_change_not_writable),
		T(test_refuse_keys_dir_group_readable),
		T(test_refuse_existing_keys_dir_open_at_start),
		T(test_refuse_keys_dir_symlink),
		T(test_refuse_state_dir_writable),
		T(test_refuse_pem_group_readable),
		T(test_refuse_pem_thumbprint_not_kid),
		T(test_refuse_pem_missing),
		T(test_refuse_pem_not_listed),
		T(test_refuse_pepper_wrong_size),
		T(test_refuse_pepper_group_readable),
		T(test_refuse_bad_list),
		T(test_refuse_alg_mismatch),
		T(test_write_jwks_loads_and_verifies),
		T(test_write_jwks_leaves_no_temp),
		T(test_rs256),
		T(test_file_write_atomic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
